#![doc = include_str!("../README.md")]

pub mod restore;

use std::collections::HashMap;
use std::fmt::Write as _;

use aws_sdk_sns::types::MessageAttributeValue;
use kit::record::{AuditRecord, FailureClass, Verdict};
use kit::restore::RestoreNotice;
use kit::validate::{self, ArnKind};
use kit::verification::{SnapshotVerdict, Verification};
use kit::{AccessDenied, AwsFailure, Day, InvalidInput, ServiceFailure, Step, Transient};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// SNS subjects must be under 100 characters; ASCII keeps every mail client happy.
pub const SUBJECT_LIMIT: usize = 99;
/// Longest failure cause quoted in a message, in characters (Step Functions causes reach 32 K).
const CAUSE_LIMIT: usize = 8 * 1024;
/// SNS messages are at most 256 KiB with attributes; stay well below.
const MESSAGE_LIMIT: usize = 240 * 1024;

/// A state failure as a Step Functions `Catch` hands it on, plus the state's name — or a child
/// execution's failure, with the execution's ARN (notify then reads the failed state from its
/// history).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Failure {
    /// The state that failed (e.g. `SubmitJob`). Left out with `execution_arn`: notify names
    /// it from the execution's history.
    #[serde(default, alias = "State")]
    pub state: Option<String>,
    /// The error name (the failing step's errorType, or a `States.*` error).
    #[serde(alias = "Error")]
    pub error: String,
    /// The cause: often a JSON string holding the Lambda's `errorMessage`.
    #[serde(default, alias = "Cause")]
    pub cause: Option<String>,
    /// The failed execution (`arn:aws:states:<region>:<account>:execution:<machine>:<name>`):
    /// the backup's per-source child execution, which is redriven after a fix. The message
    /// gives it and its console link.
    #[serde(default, alias = "ExecutionArn")]
    pub execution_arn: Option<String>,
}

/// The notify event: a backup's (exactly one of `audit`, the run got as far as the audit, or
/// `failure`), or with `restore` a restore's (restored, or with `failure` failed).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct NotifyInput {
    /// The SNS topic to publish to (`arn:aws:sns:<region>:<account>:<name>`).
    pub topic_arn: String,
    /// The source bucket the run backed up (with `restore`: the snapshot's source, optional —
    /// a restore can fail before it is known).
    #[serde(default)]
    pub source_bucket: Option<String>,
    /// The backup date (with `restore`: the snapshot's, optional as `source_bucket`; with a
    /// backup's `failure`, optional too: a source without a date fails before it is known, and
    /// notify takes it from the failed execution's history when it can).
    #[serde(default)]
    pub backup_date: Option<Day>,
    /// audit-report's output, when the run reached the audit.
    #[serde(default)]
    pub audit: Option<AuditRecord>,
    /// The failure caught by the state machine, when a state failed.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// verify-snapshot's summary, when the run verified the snapshot's Delta tables (with
    /// `audit` only; optional, so an event without it reads as before).
    #[serde(default)]
    pub verification: Option<Verification>,
    /// A restore's outcome (the restore machine's `NotifyRestored`, or `NotifyRestoreFailed` with
    /// `failure`); not with `audit` or `verification`.
    #[serde(default)]
    pub restore: Option<RestoreNotice>,
}

/// What was published.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NotifyOutput {
    /// The SNS message id.
    pub message_id: String,
    /// The `outcome` attribute: `complete`, `incomplete` or `failed` (a backup), `restored` or
    /// `failed` (a restore).
    pub outcome: String,
    /// The subject sent.
    pub subject: String,
    /// The failed state, for a failure (given, or read from the execution's history); `null`
    /// when it is not known, and for a success.
    pub failed_state: Option<String>,
    /// The backup date the message is about (given, or read from the failed execution's
    /// history); `null` when it is not known, and for a restore without one.
    pub backup_date: Option<Day>,
}

/// notify's errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum NotifyError {
    /// The event breaks the contract (neither or both of `audit` and `failure`, a bad topic ARN,
    /// a restore's notice that misses what its outcome needs).
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The topic does not exist (in this account and region).
    #[error(
        "SNS topic {topic_arn} does not exist{}",
        match (topic_region, client_region) {
            (t, Some(c)) if t != c => format!(
                " in {c}, where notify publishes: the ARN names region {t}; create the topic in \
                 {c} or give the ARN of the topic there"
            ),
            _ => "; create it or fix the topic ARN".to_owned(),
        }
    )]
    TopicNotFound {
        /// The topic ARN published to.
        topic_arn: String,
        /// The region the ARN names.
        topic_region: String,
        /// The region the step's SNS client publishes in, when known.
        client_region: Option<String>,
    },
    /// SNS refused the message for another reason (a disabled KMS key, an invalid parameter).
    #[error("{0}; check the topic's settings")]
    PublishRejected(ServiceFailure),
    /// Throttling, 5xx, timeouts: retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The step's role may not publish to the topic.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// SNS answered with an error this step does not expect.
    #[error("{0}")]
    ServiceError(ServiceFailure),
}

kit::step_error!(NotifyError, service => ServiceError);

/// SNS error codes that mean "this message or topic is refused as configured": fix the topic or
/// its key, not the code.
const PUBLISH_REFUSALS: &[&str] = &[
    "InvalidParameter",
    "InvalidParameterValue",
    "ValidationException",
    "KMSDisabled",
    "KMSInvalidState",
    "KMSNotFound",
    "KMSOptInRequired",
    "KMSAccessDenied",
    "EndpointDisabled",
    "InvalidSecurity",
];

/// A message ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// ASCII, ≤ 99 characters, no line breaks.
    pub subject: String,
    /// Readable text, then the JSON record.
    pub body: String,
    /// `complete`, `incomplete`, `failed` or `restored`.
    pub outcome: &'static str,
    /// The failed state, for a failure.
    pub failed_state: Option<String>,
    /// The message attributes (String values, never empty): `outcome` first, then what
    /// identifies the run (`source_bucket`, `backup_date`, `restore_id`, …), `failed_state`.
    pub attributes: Vec<(&'static str, String)>,
}

/// `1204113` → `1,204,113`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A subject SNS accepts and people can read: printable ASCII only (others become `?`), runs of
/// whitespace collapsed to one space, at most [`SUBJECT_LIMIT`] characters (cut with `...`).
pub fn sanitize_subject(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_whitespace() {
            ' '
        } else if c.is_ascii_graphic() {
            c
        } else {
            '?'
        };
        if c == ' ' && (s.is_empty() || s.ends_with(' ')) {
            continue;
        }
        s.push(c);
    }
    let s = s.trim_end().to_owned();
    // All ASCII now, so byte and character positions agree.
    if s.len() > SUBJECT_LIMIT {
        format!("{}...", s[..SUBJECT_LIMIT - 3].trim_end())
    } else {
        s
    }
}

fn shorten(s: &str, limit: usize) -> String {
    match s.char_indices().nth(limit) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// The readable part of a Step Functions cause: a Lambda error's cause is a JSON string with
/// `errorMessage` (and `errorType`); anything else is shown as it is.
pub fn cause_message(cause: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(cause) {
        Ok(serde_json::Value::Object(m)) => match m.get("errorMessage").and_then(|v| v.as_str()) {
            Some(msg) => msg.to_owned(),
            None => cause.to_owned(),
        },
        _ => cause.to_owned(),
    }
}

fn class_label(c: FailureClass) -> &'static str {
    match c {
        FailureClass::Oversize => "oversize",
        FailureClass::SourceMissing => "source missing",
        FailureClass::AccessDenied => "access denied",
        FailureClass::Transient => "transient",
        FailureClass::Other => "other",
    }
}

/// The subject's ending for a verification: `; 3 Delta tables restorable`, or what is not.
fn verification_subject(v: &Verification) -> String {
    let t = &v.tables;
    let tables = |n: u64| {
        if n == 1 {
            "Delta table"
        } else {
            "Delta tables"
        }
    };
    match v.verdict {
        SnapshotVerdict::AllRestorable => {
            format!("; {} {} restorable", thousands(t.total), tables(t.total))
        }
        // Short: the subject is at most 99 characters, the body has the whole line.
        SnapshotVerdict::Degraded => format!(
            "; DELTA DEGRADED {}/{} restorable",
            thousands(t.restorable),
            thousands(t.total)
        ),
        SnapshotVerdict::NoTables => "; no Delta tables".to_owned(),
    }
}

/// Builds the message for an audit record, with the snapshot's verification when there is one.
pub fn audit_message(
    src: &str,
    date: Day,
    a: &AuditRecord,
    verification: Option<&Verification>,
) -> Message {
    let head = format!("lakevault: {src} {date}");
    let t = &a.tasks;
    // Objects over 5 GiB are copied after the job, in parts: they count as backed up.
    let copied_in_parts = a.large_copies.as_ref().map_or(0, |l| l.copied);
    let subject = match a.verdict {
        Verdict::Complete => format!(
            "{head} backed up - {} objects, complete",
            thousands(t.succeeded + copied_in_parts)
        ),
        Verdict::Incomplete => {
            let classes: Vec<String> = a
                .failure_classes
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        thousands(a.failures.get(*c).count),
                        class_label(*c)
                    )
                })
                .collect();
            let detail = if classes.is_empty() {
                "counts disagree with the job".to_owned()
            } else {
                classes.join(", ")
            };
            format!(
                "{head} INCOMPLETE - {} of {} objects; {detail}",
                thousands(t.succeeded),
                thousands(t.total)
            )
        }
        Verdict::Failed => format!(
            "{head} FAILED - job {}",
            a.job_status.as_deref().unwrap_or("left no report")
        ),
    };

    let mut b = String::new();
    let _ = writeln!(
        b,
        "lakevault backup of s3://{src} for {date}: {}\n",
        a.verdict.as_str()
    );
    let _ = writeln!(b, "Snapshot bucket: {}", a.snapshot_bucket);
    let _ = writeln!(
        b,
        "Batch Operations job: {} ({})",
        a.job_id,
        a.job_status.as_deref().unwrap_or("status not given")
    );
    let _ = writeln!(
        b,
        "Tasks: {} total, {} succeeded, {} failed",
        thousands(t.total),
        thousands(t.succeeded),
        thousands(t.failed)
    );
    if t.unparsed > 0 {
        let _ = writeln!(b, "Unreadable report rows: {}", thousands(t.unparsed));
    }
    if !a.failure_classes.is_empty() {
        let _ = writeln!(b, "\nFailures by class:");
        for c in &a.failure_classes {
            let s = a.failures.get(*c);
            let _ = write!(b, "  {}: {}", class_label(*c), thousands(s.count));
            if let Some(k) = s.sample_keys.first() {
                let _ = write!(b, " (e.g. {k})");
            }
            b.push('\n');
        }
    }
    match (&a.oversize_manifest, &a.large_copies) {
        (Some(m), Some(l)) => {
            let _ = writeln!(
                b,
                "\nOversize objects (over 5 GiB, copied in parts after the job): {} listed in s3://{}/{}; {} copied, {} not copied{}",
                thousands(m.objects),
                m.bucket,
                m.key,
                thousands(l.copied),
                thousands(l.failed),
                if l.truncated {
                    format!(", {} not listed for copying", thousands(l.not_listed))
                } else {
                    String::new()
                }
            );
        }
        (Some(m), None) => {
            let _ = writeln!(
                b,
                "\nOversize objects (over 5 GiB, need a multipart copy): {} listed in s3://{}/{}",
                thousands(m.objects),
                m.bucket,
                m.key
            );
        }
        (None, _) => {}
    }
    if !a.findings.is_empty() {
        let _ = writeln!(b, "\nFindings:");
        for f in &a.findings {
            let _ = writeln!(b, "  - {f}");
        }
    }
    let _ = writeln!(
        b,
        "\nAudit record: s3://{}/{}",
        a.record.bucket, a.record.key
    );
    let subject = match verification {
        Some(v) => {
            let _ = writeln!(
                b,
                "\nDelta tables: {} ({}; {} other objects)",
                v.summary,
                v.verdict.as_str(),
                thousands(v.non_delta_objects)
            );
            let _ = writeln!(
                b,
                "Tables record: s3://{}/{}",
                v.record.bucket, v.record.key
            );
            format!("{subject}{}", verification_subject(v))
        }
        None => subject,
    };
    let record = serde_json::to_string_pretty(a).unwrap_or_default();
    finish(
        subject,
        b,
        &record,
        a.verdict.as_str(),
        None,
        backup_ids(src, date),
    )
}

/// What the failed execution's history said, when notify read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The state whose failure failed the execution: the failed Task, or the Fail state.
    pub state: Option<String>,
    /// The backup date in that state's input, when it had one.
    pub backup_date: Option<Day>,
    /// Why the history could not be read (not found, no permission, a timeout), when it could
    /// not: the message then says the state is in the history.
    pub unread: Option<String>,
}

/// The Step Functions console page of an execution.
pub fn console_link(execution_arn: &str) -> String {
    let region = execution_arn.split(':').nth(3).unwrap_or_default();
    format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
    )
}

/// Checks an execution ARN: `arn:<partition>:states:<region>:<account>:execution:<machine>:<name>`.
fn check_execution_arn(path: &str, arn: &str) -> Result<(), InvalidInput> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 8
        && parts[0] == "arn"
        && matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov")
        && parts[2] == "states"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "execution"
        && !parts[6].is_empty()
        && !parts[7].is_empty();
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!(
                "{arn:?} is not an execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)"
            ),
        ))
    }
}

/// Builds the message for a failed state (`date` unknown: a source without a date failed
/// before it was located).
pub fn failure_message(src: &str, date: Option<Day>, f: &Failure) -> Message {
    failure_message_with(src, date, f, &History::default())
}

/// [`failure_message`], with what the failed execution's history said.
pub fn failure_message_with(src: &str, date: Option<Day>, f: &Failure, h: &History) -> Message {
    let state = f
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(h.state.as_deref());
    let date = date.or(h.backup_date);
    let run = match date {
        Some(d) => format!("{src} {d}"),
        None => src.to_owned(),
    };
    let execution = f.execution_arn.as_deref();
    let subject = match (state, execution) {
        (Some(s), _) => format!("lakevault: {run} FAILED at {s}: {}", f.error),
        // The state is in the execution's history, which could not be read.
        (None, Some(_)) => format!("lakevault: {run} FAILED: {}", f.error),
        (None, None) => format!("lakevault: {run} FAILED at an unknown state: {}", f.error),
    };
    let cause = f.cause.as_deref().map(cause_message);
    let mut b = String::new();
    let of = match date {
        Some(d) => format!("s3://{src} for {d}"),
        None => format!("s3://{src} (backup date not known yet: the newest inventory decides)"),
    };
    let _ = match (state, execution) {
        (Some(s), _) => writeln!(b, "lakevault backup of {of} FAILED at {s}.\n"),
        (None, Some(_)) => writeln!(b, "lakevault backup of {of} FAILED.\n"),
        (None, None) => writeln!(b, "lakevault backup of {of} FAILED at an unknown state.\n"),
    };
    let _ = writeln!(b, "Error: {}", f.error);
    if let Some(c) = &cause {
        let _ = writeln!(b, "Cause: {}", shorten(c, CAUSE_LIMIT));
    }
    match execution {
        Some(arn) => {
            let _ = writeln!(b, "\nExecution: {arn}");
            let _ = writeln!(b, "Console: {}", console_link(arn));
            if state.is_none() {
                let why = h.unread.as_deref().unwrap_or("it names no failed state");
                let _ = writeln!(
                    b,
                    "The failed state is in the execution's history (notify could not read it: {why})."
                );
            }
            let at = state.map(|s| format!(" at {s}")).unwrap_or_default();
            let _ = writeln!(
                b,
                "\nNo snapshot of this source should be trusted until the failure is explained. Once \
                 the cause is fixed, redrive this execution: it resumes{at} with the same input \
                 (console: open the execution, Redrive; or `aws stepfunctions redrive-execution \
                 --execution-arn {arn}`, within 14 days), and its own notification follows."
            );
        }
        None => {
            let _ = writeln!(
                b,
                "\nNo snapshot of this run should be trusted until the failure is explained; the run can \
                 be redriven once the cause is fixed."
            );
        }
    }
    let record = serde_json::json!({
        "source_bucket": src,
        "backup_date": date,
        "outcome": "failed",
        "failure": {
            "state": state,
            "error": f.error,
            "cause": f.cause.as_deref().map(|c| shorten(c, CAUSE_LIMIT)),
            "execution_arn": execution,
        },
    });
    let record = serde_json::to_string_pretty(&record).unwrap_or_default();
    let ids = match date {
        Some(d) => backup_ids(src, d),
        None => vec![("source_bucket", src.to_owned())],
    };
    finish(subject, b, &record, "failed", state.map(str::to_owned), ids)
}

fn finish(
    subject: String,
    mut body: String,
    record: &str,
    outcome: &'static str,
    failed_state: Option<String>,
    ids: Vec<(&'static str, String)>,
) -> Message {
    body.push_str("\n--- record (JSON) ---\n");
    body.push_str(record);
    body.push('\n');
    if body.len() > MESSAGE_LIMIT {
        // The record is bounded by construction; this only guards against a future change.
        let mut cut = MESSAGE_LIMIT;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push_str("\n… (truncated; the full audit record is in S3)\n");
    }
    let mut attributes = vec![("outcome", outcome.to_owned())];
    attributes.extend(ids.into_iter().filter(|(_, v)| !v.is_empty()));
    if let Some(s) = &failed_state {
        attributes.push(("failed_state", s.clone()));
    }
    Message {
        subject: sanitize_subject(&subject),
        body,
        outcome,
        failed_state,
        attributes,
    }
}

/// The attributes naming a backup run.
fn backup_ids(src: &str, date: Day) -> Vec<(&'static str, String)> {
    vec![
        ("source_bucket", src.to_owned()),
        ("backup_date", date.to_string()),
    ]
}

/// Checks the event and builds its message.
pub fn message_for(input: &NotifyInput) -> Result<Message, InvalidInput> {
    message_with(input, &History::default())
}

/// Checks the event and builds its message, with what the failed execution's history said.
pub fn message_with(input: &NotifyInput, history: &History) -> Result<Message, InvalidInput> {
    validate::check_arn("$.topic_arn", &input.topic_arn, ArnKind::Topic)?;
    if let Some(arn) = input
        .failure
        .as_ref()
        .and_then(|f| f.execution_arn.as_deref())
    {
        check_execution_arn("$.failure.execution_arn", arn)?;
    }
    if let Some(src) = &input.source_bucket {
        validate::check_source_bucket("$.source_bucket", src)?;
    }
    if let Some(r) = &input.restore {
        return restore::message_for(input, r);
    }
    let src = input.source_bucket.as_deref().ok_or_else(|| {
        InvalidInput::new(
            "$.source_bucket",
            "missing: the source bucket the run backed up (only a restore's notice may leave it out)",
        )
    })?;
    let date = || {
        input.backup_date.ok_or_else(|| {
            InvalidInput::new(
                "$.backup_date",
                "missing: the backup date (only a restore's notice, or a failure, may leave it out)",
            )
        })
    };
    match (&input.audit, &input.failure) {
        (Some(a), None) => Ok(audit_message(src, date()?, a, input.verification.as_ref())),
        (None, Some(_)) if input.verification.is_some() => Err(InvalidInput::new(
            "$.verification",
            "a verification goes with `audit`, not with `failure`: a failed run verified nothing",
        )),
        (None, Some(f)) => Ok(failure_message_with(src, input.backup_date, f, history)),
        (None, None) => Err(InvalidInput::new(
            "$",
            "give either `audit` (audit-report's output) or `failure` (the caught error); got neither",
        )),
        (Some(_), Some(_)) => Err(InvalidInput::new(
            "$",
            "give either `audit` or `failure`, not both: a run either reached its audit or failed",
        )),
    }
}

/// The notify step.
pub struct Notify {
    sns: aws_sdk_sns::Client,
    /// Reads a failed execution's history (the failed state), when configured.
    sfn: Option<aws_sdk_sfn::Client>,
}

/// How long reading a failed execution's history may take: the message goes out without it
/// after that (Publish keeps the rest of the function's 50 s).
const HISTORY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
/// Events read from the end of a failed execution's history (one page).
const HISTORY_EVENTS: i32 = 100;

impl Notify {
    /// Builds the step from the environment (region, credentials, endpoints).
    pub async fn from_env() -> Result<Self, kit::clients::ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        // One attempt per invocation: a Publish whose answer is lost has usually been delivered,
        // so every SDK retry would be one more message. Retries are the state machine's (with
        // backoff), which bounds the duplicates to its attempts.
        let sns = aws_sdk_sns::config::Builder::from(&conf)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        Ok(Self::new(aws_sdk_sns::Client::from_conf(sns)).with_sfn(kit::clients::sfn(&conf)))
    }

    /// Builds the step around an SNS client (tests pass one pointing at moto); without
    /// [`Notify::with_sfn`] it never reads an execution's history.
    pub fn new(sns: aws_sdk_sns::Client) -> Self {
        Self { sns, sfn: None }
    }

    /// Reads failed executions' histories with `sfn`.
    pub fn with_sfn(mut self, sfn: aws_sdk_sfn::Client) -> Self {
        self.sfn = Some(sfn);
        self
    }

    /// The failed state of `execution_arn` (and the backup date in its input), from the last
    /// [`HISTORY_EVENTS`] events of its history; what went wrong when it cannot be read.
    pub async fn read_history(&self, execution_arn: &str) -> History {
        let Some(sfn) = &self.sfn else {
            return History {
                unread: Some("no Step Functions client".to_owned()),
                ..History::default()
            };
        };
        let call = sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .reverse_order(true)
            .max_results(HISTORY_EVENTS)
            .include_execution_data(true)
            .send();
        let unread = |why: String| {
            tracing::warn!(execution_arn, reason = %why, "execution history not read");
            History {
                unread: Some(why),
                ..History::default()
            }
        };
        match tokio::time::timeout(HISTORY_DEADLINE, call).await {
            Err(_) => unread(format!(
                "GetExecutionHistory took over {} s",
                HISTORY_DEADLINE.as_secs()
            )),
            Ok(Err(e)) => unread(match kit::classify("GetExecutionHistory", e) {
                AwsFailure::Service(s) => s.to_string(),
                other => NotifyError::from(other).to_string(),
            }),
            Ok(Ok(out)) => {
                let h = failed_state(out.events());
                if h.state.is_none() {
                    unread(format!(
                        "no failed Task or Fail state in its last {HISTORY_EVENTS} events"
                    ))
                } else {
                    tracing::info!(execution_arn, failed_state = ?h.state, "execution history read");
                    h
                }
            }
        }
    }
}

/// The state whose failure failed an execution, from its events: the Task whose `TaskFailed`
/// (or `TaskTimedOut`) is the newest (its `TaskStateEntered`), or the Fail state entered; with
/// the backup date of that state's input (`backup_date`, else `source.backup_date`). The events
/// are taken newest first by their ids, whatever order they come in (moto ignores
/// `reverseOrder`).
pub fn failed_state(events: &[aws_sdk_sfn::types::HistoryEvent]) -> History {
    use aws_sdk_sfn::types::HistoryEventType as T;
    let mut newest_first: Vec<&aws_sdk_sfn::types::HistoryEvent> = events.iter().collect();
    newest_first.sort_by_key(|e| std::cmp::Reverse(e.id()));
    let mut task_failed = false;
    for e in newest_first {
        let entered = match e.r#type() {
            T::TaskFailed | T::TaskTimedOut => {
                task_failed = true;
                continue;
            }
            T::FailStateEntered => e.state_entered_event_details(),
            T::TaskStateEntered if task_failed => e.state_entered_event_details(),
            _ => continue,
        };
        let Some(d) = entered else { continue };
        let input: serde_json::Value = d
            .input()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or_default();
        let date = [&input["backup_date"], &input["source"]["backup_date"]]
            .into_iter()
            .find_map(|v| serde_json::from_value::<Day>(v.clone()).ok());
        return History {
            state: Some(d.name().to_owned()),
            backup_date: date,
            unread: None,
        };
    }
    History::default()
}

fn string_attr(v: &str) -> Result<MessageAttributeValue, NotifyError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| NotifyError::InvalidInput(InvalidInput::new("$", e.to_string())))
}

impl Step for Notify {
    const NAME: &'static str = "notify";
    type Input = NotifyInput;
    type Output = NotifyOutput;
    type Error = NotifyError;

    /// A Catch hands the error on as `Error` (and `Cause`); serde names the field by its Rust
    /// spelling, `error`, which the caller never wrote.
    fn explain_input_error(e: InvalidInput) -> InvalidInput {
        if e.path == "$.failure" && e.message.contains("missing field `error`") {
            InvalidInput::new(
                "$.failure.Error",
                "missing: the failure's `Error` (the error name a Catch hands on; `error` is \
                 accepted too)",
            )
        } else {
            e
        }
    }

    async fn handle(&self, input: NotifyInput) -> Result<NotifyOutput, NotifyError> {
        // Checked before anything is read.
        let _ = message_for(&input)?;
        let history = match &input.failure {
            Some(Failure {
                state: None,
                execution_arn: Some(arn),
                ..
            }) if input.restore.is_none() => self.read_history(arn).await,
            _ => History::default(),
        };
        let msg = message_with(&input, &history)?;
        let mut attrs: HashMap<String, MessageAttributeValue> = HashMap::new();
        for (name, value) in &msg.attributes {
            attrs.insert((*name).to_owned(), string_attr(value)?);
        }
        let out = self
            .sns
            .publish()
            .topic_arn(&input.topic_arn)
            .subject(&msg.subject)
            .message(&msg.body)
            .set_message_attributes(Some(attrs))
            .send()
            .await
            .map_err(|e| match kit::classify("Publish", e) {
                AwsFailure::Service(s) if s.is("NotFound") || s.is("NotFoundException") => {
                    NotifyError::TopicNotFound {
                        topic_arn: input.topic_arn.clone(),
                        topic_region: input
                            .topic_arn
                            .split(':')
                            .nth(3)
                            .unwrap_or_default()
                            .to_owned(),
                        client_region: self.sns.config().region().map(|r| r.to_string()),
                    }
                }
                AwsFailure::Service(s) if PUBLISH_REFUSALS.iter().any(|c| s.is(c)) => {
                    NotifyError::PublishRejected(s)
                }
                other => NotifyError::from(other),
            })?;
        let message_id = out.message_id().unwrap_or_default().to_owned();
        tracing::info!(
            topic_arn = %input.topic_arn,
            outcome = msg.outcome,
            message_id = %message_id,
            "notification published"
        );
        Ok(NotifyOutput {
            message_id,
            outcome: msg.outcome.to_owned(),
            subject: msg.subject,
            failed_state: msg.failed_state,
            backup_date: input.backup_date.or(history.backup_date),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::StepError;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_204_113), "1,204,113");
    }

    #[test]
    fn subjects_are_ascii_single_line_and_short() {
        let s = sanitize_subject("lakevault: a — b\n\tc  é");
        assert_eq!(s, "lakevault: a ? b c ?");
        let long = sanitize_subject(&"x".repeat(300));
        assert_eq!(long.len(), SUBJECT_LIMIT);
        assert!(long.ends_with("..."));
    }

    #[test]
    fn failure_subject_and_cause() {
        let f = Failure {
            state: Some("SubmitJob".into()),
            error: "BucketConflict".into(),
            cause: Some(
                r#"{"errorType":"BucketConflict","errorMessage":"bucket x is owned by another account","trace":[]}"#
                    .into(),
            ),
            execution_arn: None,
        };
        let m = failure_message("lake-prod", Some("2021-03-31".parse().unwrap()), &f);
        assert_eq!(
            m.subject,
            "lakevault: lake-prod 2021-03-31 FAILED at SubmitJob: BucketConflict"
        );
        assert!(
            m.body
                .contains("Cause: bucket x is owned by another account")
        );
        assert_eq!(m.outcome, "failed");
        assert_eq!(cause_message("plain text"), "plain text");
    }

    #[test]
    fn catch_output_field_names_are_accepted() {
        let input: NotifyInput = serde_json::from_value(serde_json::json!({
            "topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
            "source_bucket": "lake-prod", "backup_date": "2021-03-31",
            "failure": {"State": "AwaitJob", "Error": "States.Timeout", "Cause": "timed out"},
            "extra": true
        }))
        .unwrap();
        let m = message_for(&input).unwrap();
        assert!(m.subject.ends_with("FAILED at AwaitJob: States.Timeout"));
    }

    #[test]
    fn objects_copied_in_parts_count_as_backed_up() {
        let empty = serde_json::json!({"count": 0, "sample_keys": [], "error_codes": {}});
        let input: NotifyInput = serde_json::from_value(serde_json::json!({
            "topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
            "source_bucket": "lake-prod", "backup_date": "2021-03-31",
            "audit": {
                "source_bucket": "lake-prod", "backup_date": "2021-03-31",
                "snapshot_bucket": "lake-prod-31-mar-2021", "job_id": "job-1",
                "verdict": "complete", "job_status": "Complete", "report": null,
                "tasks": {"total": 28, "succeeded": 27, "failed": 1, "unparsed": 0},
                "failures": {"oversize": {"count": 1, "sample_keys": ["big.parquet"],
                                          "error_codes": {"InvalidRequest": 1}},
                             "source_missing": empty, "access_denied": empty,
                             "transient": empty, "other": empty},
                "failure_classes": ["oversize"],
                "oversize_manifest": {"bucket": "reports", "key": "r/job-job-1/lakevault-oversize.csv",
                                      "arn": "arn:aws:s3:::reports/r/job-job-1/lakevault-oversize.csv",
                                      "etag": "e", "objects": 1},
                "large_copies": {"covers_oversize": true, "copied": 1, "failed": 0,
                                 "bytes_copied": 6442450944_u64, "missing": 0, "unexpected": 0,
                                 "truncated": false, "not_listed": 0, "entries": [], "more_entries": 0},
                "findings": [],
                "record": {"bucket": "reports", "key": "r/job-job-1/lakevault-audit.json"},
            },
        }))
        .unwrap();
        let m = message_for(&input).unwrap();
        assert_eq!(
            m.subject,
            "lakevault: lake-prod 2021-03-31 backed up - 28 objects, complete"
        );
        assert!(
            m.body.contains("copied in parts after the job): 1 listed in s3://reports/r/job-job-1/lakevault-oversize.csv; 1 copied, 0 not copied"),
            "{}",
            m.body
        );
        assert!(!m.body.contains("need a multipart copy"), "{}", m.body);
    }

    fn notify_input(extra: serde_json::Value) -> NotifyInput {
        let empty = serde_json::json!({"count": 0, "sample_keys": [], "error_codes": {}});
        let mut v = serde_json::json!({
            "topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
            "source_bucket": "lake-prod", "backup_date": "2021-03-31",
            "audit": {
                "source_bucket": "lake-prod", "backup_date": "2021-03-31",
                "snapshot_bucket": "lake-prod-31-mar-2021", "job_id": "job-1",
                "verdict": "complete", "job_status": "Complete", "report": null,
                "tasks": {"total": 27, "succeeded": 27, "failed": 0, "unparsed": 0},
                "failures": {"oversize": empty, "source_missing": empty, "access_denied": empty,
                             "transient": empty, "other": empty},
                "failure_classes": [], "findings": [],
                "record": {"bucket": "reports", "key": "r/job-job-1/lakevault-audit.json"},
            },
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    fn verification(verdict: &str, total: u64, restorable: u64) -> serde_json::Value {
        serde_json::json!({"verification": {
            "snapshot_bucket": "lake-prod-31-mar-2021", "backup_date": "2021-03-31",
            "verdict": verdict,
            "tables": {"total": total, "restorable": restorable, "degraded": total - restorable, "unrestorable": 0},
            "non_delta_objects": 4,
            "summary": format!("{restorable} of {total} Delta tables restorable as of 2021-03-31"),
            "record": {"bucket": "reports", "key": "r/job-job-1/lakevault-tables.json"},
        }})
    }

    #[test]
    fn the_subject_and_body_say_which_delta_tables_restore() {
        let m = message_for(&notify_input(serde_json::json!({}))).unwrap();
        assert_eq!(
            m.subject,
            "lakevault: lake-prod 2021-03-31 backed up - 27 objects, complete"
        );
        let m = message_for(&notify_input(verification("all_restorable", 3, 3))).unwrap();
        assert_eq!(
            m.subject,
            "lakevault: lake-prod 2021-03-31 backed up - 27 objects, complete; 3 Delta tables restorable"
        );
        assert!(
            m.body.contains("Delta tables: 3 of 3 Delta tables restorable as of 2021-03-31 (all_restorable; 4 other objects)"),
            "{}",
            m.body
        );
        assert!(
            m.body
                .contains("Tables record: s3://reports/r/job-job-1/lakevault-tables.json")
        );
        let m = message_for(&notify_input(verification("degraded", 3, 1))).unwrap();
        assert!(
            m.subject
                .ends_with("complete; DELTA DEGRADED 1/3 restorable"),
            "{}",
            m.subject
        );
        // The outcome attribute stays the audit's.
        assert_eq!(m.outcome, "complete");
    }

    #[test]
    fn a_verification_with_a_failure_is_invalid() {
        let mut input = notify_input(verification("all_restorable", 1, 1));
        input.audit = None;
        input.failure = Some(Failure {
            state: Some("AuditReport".into()),
            error: "ReportInvalid".into(),
            cause: None,
            execution_arn: None,
        });
        assert_eq!(message_for(&input).unwrap_err().path, "$.verification");
    }

    #[test]
    fn neither_or_both_is_invalid() {
        let mut input: NotifyInput = serde_json::from_value(serde_json::json!({
            "topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
            "source_bucket": "lake-prod", "backup_date": "2021-03-31"
        }))
        .unwrap();
        assert_eq!(message_for(&input).unwrap_err().path, "$");
        input.topic_arn = "t".into();
        assert_eq!(message_for(&input).unwrap_err().path, "$.topic_arn");
    }

    #[tokio::test]
    async fn a_failure_without_error_names_the_catch_field() {
        let step = Notify::new(aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::Config::builder()
                .behavior_version(kit::clients::behavior_version())
                .region(aws_sdk_sns::config::Region::new("us-east-1"))
                .build(),
        ));
        let event = serde_json::json!({
            "topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
            "source_bucket": "lake-prod", "backup_date": "2021-03-31",
            "failure": {"Cause": "boom"},
        });
        let d = kit::entry::invoke(&step, event).await.unwrap_err();
        assert_eq!(d.error_type, "InvalidInput");
        assert!(
            d.error_message.contains("$.failure.Error"),
            "{}",
            d.error_message
        );
        assert!(!d.error_message.contains("`error`,"), "{}", d.error_message);
    }

    fn event(id: i64, t: &str, entered: Option<(&str, &str)>) -> aws_sdk_sfn::types::HistoryEvent {
        let mut b = aws_sdk_sfn::types::HistoryEvent::builder()
            .id(id)
            .r#type(aws_sdk_sfn::types::HistoryEventType::from(t))
            .timestamp(aws_sdk_sfn::primitives::DateTime::from_secs(id));
        if let Some((name, input)) = entered {
            b = b.state_entered_event_details(
                aws_sdk_sfn::types::StateEnteredEventDetails::builder()
                    .name(name)
                    .input(input)
                    .build()
                    .unwrap(),
            );
        }
        b.build().unwrap()
    }

    #[test]
    fn the_failed_state_is_the_last_failed_tasks_or_the_fail_states() {
        let dated = r#"{"source": {"source_bucket": "lake-prod", "backup_date": null}, "backup_date": "2021-03-31"}"#;
        let mut events = vec![
            event(1, "ExecutionStarted", None),
            event(
                2,
                "TaskStateEntered",
                Some((
                    "LocateManifest",
                    r#"{"source": {"backup_date": "2021-03-30"}}"#,
                )),
            ),
            event(3, "TaskSucceeded", None),
            event(4, "TaskStateExited", None),
            event(5, "PassStateEntered", Some(("RememberBackupDate", "{}"))),
            event(6, "TaskStateEntered", Some(("CreateBucket", dated))),
            event(7, "TaskScheduled", None),
            event(8, "TaskFailed", None),
            event(9, "TaskScheduled", None),
            event(10, "TaskFailed", None),
            event(11, "ExecutionFailed", None),
        ];
        let want = History {
            state: Some("CreateBucket".into()),
            backup_date: Some("2021-03-31".parse().unwrap()),
            unread: None,
        };
        // Nothing failed (yet): no state.
        assert_eq!(failed_state(&events[..7]), History::default());
        // Oldest first (moto) or newest first (AWS with reverseOrder): the same answer.
        assert_eq!(failed_state(&events), want);
        events.reverse();
        assert_eq!(failed_state(&events), want);
        // A Fail state; the date from the source when the input has no backup_date.
        let fail = [
            event(1, "ExecutionStarted", None),
            event(
                2,
                "FailStateEntered",
                Some((
                    "JobPollingExhausted",
                    r#"{"source": {"backup_date": "2021-03-30"}}"#,
                )),
            ),
            event(3, "ExecutionFailed", None),
        ];
        assert_eq!(
            failed_state(&fail).state.as_deref(),
            Some("JobPollingExhausted")
        );
        assert_eq!(
            failed_state(&fail)
                .backup_date
                .map(|d| d.to_string())
                .as_deref(),
            Some("2021-03-30")
        );
        assert_eq!(
            console_link(
                "arn:aws:states:eu-west-1:123456789012:execution:lakevault-backup-source:ab"
            ),
            "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:lakevault-backup-source:ab"
        );
    }

    #[test]
    fn error_types_are_variant_names() {
        assert_eq!(
            NotifyError::error_types(),
            [
                "InvalidInput",
                "TopicNotFound",
                "PublishRejected",
                "Transient",
                "AccessDenied",
                "ServiceError"
            ]
        );
    }
}
