//! A restore's message: the restore machine's `NotifyRestored` (the table restored and
//! verified) and `NotifyRestoreFailed` (with the caught `failure`).

use std::fmt::Write as _;

use kit::restore::RestoreNotice;
use kit::validate;
use kit::{Day, InvalidInput};

use super::{
    CAUSE_LIMIT, Failure, Message, NotifyInput, cause_message, finish, shorten, thousands,
};

/// `events/` as it is; a table at the bucket's root as `(bucket root)`.
fn table_label(table: &str) -> &str {
    if table.is_empty() {
        "(bucket root)"
    } else {
        table
    }
}

/// What a notice must hold: names that are names, and for a restored table everything the run
/// learnt (a notice of success without its verification is a wiring mistake, not a success).
fn check(r: &RestoreNotice, failed: bool) -> Result<(), InvalidInput> {
    validate::check_bucket("$.restore.snapshot_bucket", &r.snapshot_bucket)?;
    validate::check_bucket("$.restore.target.bucket", &r.target.bucket)?;
    validate::check_key_prefix("$.restore.table", &r.table)?;
    validate::check_key_prefix("$.restore.target.prefix", &r.target.prefix)?;
    if let Some(id) = &r.restore_id
        && (id.len() != 16 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err(InvalidInput::new(
            "$.restore.restore_id",
            format!(
                "{} is not a restore id (16 lowercase hex digits, plan-restore's restore_id)",
                validate::quote(id)
            ),
        ));
    }
    if let Some(job) = &r.job_id {
        validate::check_key_prefix("$.restore.job_id", job)?;
    }
    if let Some(v) = &r.verified {
        validate::check_key_prefix("$.restore.verified.table_url", &v.table_url)?;
        validate::check_key_prefix("$.restore.verified.verdict", &v.verdict)?;
    }
    if failed {
        return Ok(());
    }
    let missing = [
        ("restore_id", r.restore_id.is_none()),
        ("version", r.version.is_none()),
        ("objects", r.objects.is_none()),
        ("bytes", r.bytes.is_none()),
        ("job_id", r.job_id.is_none()),
        ("verified", r.verified.is_none()),
    ];
    match missing.iter().find(|(_, m)| *m) {
        Some((field, _)) => Err(InvalidInput::new(
            format!("$.restore.{field}"),
            "missing: a restored table's notice has the plan, the job and verify-restore's \
             output; give `failure` when the restore failed",
        )),
        None => Ok(()),
    }
}

/// Checks a restore's event and builds its message.
pub(crate) fn message_for(input: &NotifyInput, r: &RestoreNotice) -> Result<Message, InvalidInput> {
    if input.audit.is_some() {
        return Err(InvalidInput::new(
            "$.audit",
            "an audit record goes with a backup's notice, not with `restore`",
        ));
    }
    if input.verification.is_some() {
        return Err(InvalidInput::new(
            "$.verification",
            "a snapshot's verification goes with a backup's notice; a restore's is \
             `restore.verified`",
        ));
    }
    check(r, input.failure.is_some())?;
    Ok(restore_message(
        input.source_bucket.as_deref(),
        input.backup_date,
        r,
        input.failure.as_ref(),
    ))
}

/// Builds the message of a restore: restored (no `failure`) or failed at a state.
pub fn restore_message(
    src: Option<&str>,
    date: Option<Day>,
    r: &RestoreNotice,
    failure: Option<&Failure>,
) -> Message {
    let table = table_label(&r.table);
    // Before its plan a restore knows neither the snapshot's source nor its date: the subject
    // names the snapshot bucket then.
    let named = match (src, date) {
        (Some(_), Some(_)) => table.to_owned(),
        _ => format!("{}/{}", r.snapshot_bucket, r.table),
    };
    let version = r.version.map(|v| format!(" v{v}")).unwrap_or_default();
    let target = r.target.url();
    let state = failure.and_then(|f| f.state.as_deref().filter(|s| !s.is_empty()));
    let subject = match failure {
        None => format!("lakevault: restored {named}{version} into {target}"),
        Some(_) => format!(
            "lakevault: restore of {named}{version} FAILED at {}",
            state.unwrap_or("an unknown state")
        ),
    };

    let mut b = String::new();
    let id = r.restore_id.as_deref().unwrap_or("(not planned)");
    let _ = match failure {
        None => writeln!(b, "lakevault restore {id}: restored and verified\n"),
        Some(_) => writeln!(
            b,
            "lakevault restore {id}: FAILED at {}\n",
            state.unwrap_or("an unknown state")
        ),
    };
    let _ = match (src, date) {
        (Some(s), Some(d)) => writeln!(
            b,
            "Snapshot: s3://{} (the backup of s3://{s} for {d})",
            r.snapshot_bucket
        ),
        _ => writeln!(b, "Snapshot: s3://{}", r.snapshot_bucket),
    };
    let _ = writeln!(b, "Table: {table}");
    let _ = match r.version {
        Some(v) => writeln!(b, "Version: {v}"),
        None => writeln!(
            b,
            "Version: not chosen (the restore failed before its plan)"
        ),
    };
    let _ = writeln!(b, "Target: {target}");
    match (r.objects, r.bytes) {
        (Some(o), Some(n)) => {
            let _ = writeln!(b, "Objects: {} ({} bytes)", thousands(o), thousands(n));
        }
        (Some(o), None) => {
            let _ = writeln!(b, "Objects: {}", thousands(o));
        }
        _ => {}
    }
    if let Some(j) = &r.job_id {
        let _ = writeln!(b, "Batch Operations job: {j}");
    }
    match &r.verified {
        Some(v) => {
            let objects = v
                .objects
                .map(|o| format!(", {} objects", thousands(o)))
                .unwrap_or_default();
            let _ = writeln!(
                b,
                "Verification: {} - {} at version {}, {} data files{objects} present with their \
                 sizes ({} bytes)",
                v.verdict,
                v.table_url,
                v.version,
                thousands(v.files),
                thousands(v.bytes)
            );
        }
        None => {
            let _ = writeln!(b, "Verification: none");
        }
    }
    let cause = failure.and_then(|f| f.cause.as_deref()).map(cause_message);
    if let Some(f) = failure {
        let _ = writeln!(b, "\nError: {}", f.error);
        if let Some(c) = &cause {
            let _ = writeln!(b, "Cause: {}", shorten(c, CAUSE_LIMIT));
        }
        let _ = writeln!(
            b,
            "\nDo not use {target} until the failure is explained; the run can be redriven once \
             the cause is fixed (the same restore finds its plan and its job again)."
        );
    } else {
        let _ = writeln!(
            b,
            "\nThe table at {target} reads as the snapshot's at that version. Time travel by \
             timestamp on it is off by the restore's date unless the table records in-commit \
             timestamps; by version it is exact."
        );
    }
    let outcome = if failure.is_some() {
        "failed"
    } else {
        "restored"
    };
    let record = serde_json::json!({
        "source_bucket": src,
        "backup_date": date,
        "outcome": outcome,
        "restore": r,
        "failure": failure.map(|f| serde_json::json!({
            "state": state,
            "error": f.error,
            "cause": f.cause.as_deref().map(|c| shorten(c, CAUSE_LIMIT)),
        })),
    });
    let record = serde_json::to_string_pretty(&record).unwrap_or_default();
    let mut ids = Vec::new();
    if let (Some(s), Some(d)) = (src, date) {
        ids.push(("source_bucket", s.to_owned()));
        ids.push(("backup_date", d.to_string()));
    }
    ids.push(("snapshot_bucket", r.snapshot_bucket.clone()));
    if let Some(id) = &r.restore_id {
        ids.push(("restore_id", id.clone()));
    }
    finish(subject, b, &record, outcome, state.map(str::to_owned), ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SUBJECT_LIMIT;

    fn notice(extra: serde_json::Value) -> RestoreNotice {
        let mut v = serde_json::json!({
            "restore_id": "3f2a9c0d1e4b5a67", "snapshot_bucket": "lake-prod-31-mar-2021",
            "table": "events/", "version": 7,
            "target": {"bucket": "lake-prod-restored", "prefix": "events/"},
            "objects": 23, "bytes": 123456, "job_id": "job-1",
            "verified": {"restore_id": "3f2a9c0d1e4b5a67",
                         "table_url": "s3://lake-prod-restored/events/", "version": 7,
                         "files": 20, "objects": 23, "bytes": 123000, "verdict": "restored"}
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    fn failure(state: &str, error: &str) -> Failure {
        Failure {
            state: Some(state.into()),
            error: error.into(),
            cause: Some(format!(
                r#"{{"errorType":"{error}","errorMessage":"version 7 is not restorable: nearest 5 and 9"}}"#
            )),
            execution_arn: None,
        }
    }

    fn date() -> Option<Day> {
        Some("2021-03-31".parse().unwrap())
    }

    #[test]
    fn a_restored_table_names_table_version_and_target() {
        let m = restore_message(
            Some("lake-prod"),
            date(),
            &notice(serde_json::json!({})),
            None,
        );
        assert_eq!(
            m.subject,
            "lakevault: restored events/ v7 into s3://lake-prod-restored/events/"
        );
        assert_eq!(m.outcome, "restored");
        for line in [
            "lakevault restore 3f2a9c0d1e4b5a67: restored and verified",
            "Snapshot: s3://lake-prod-31-mar-2021 (the backup of s3://lake-prod for 2021-03-31)",
            "Table: events/",
            "Version: 7",
            "Target: s3://lake-prod-restored/events/",
            "Objects: 23 (123,456 bytes)",
            "Batch Operations job: job-1",
            "Verification: restored - s3://lake-prod-restored/events/ at version 7, 20 data files, 23 objects present",
        ] {
            assert!(m.body.contains(line), "{line:?} not in\n{}", m.body);
        }
        let (_, record) = m.body.split_once("--- record (JSON) ---\n").unwrap();
        let record: serde_json::Value = serde_json::from_str(record).unwrap();
        assert_eq!(record["restore"]["verified"]["files"], 20);
        assert_eq!(
            m.attributes,
            [
                ("outcome", "restored".to_owned()),
                ("source_bucket", "lake-prod".to_owned()),
                ("backup_date", "2021-03-31".to_owned()),
                ("snapshot_bucket", "lake-prod-31-mar-2021".to_owned()),
                ("restore_id", "3f2a9c0d1e4b5a67".to_owned()),
            ]
        );
    }

    #[test]
    fn a_failed_restore_names_the_state_and_quotes_the_cause() {
        let n = notice(serde_json::json!({"verified": null}));
        let f = failure("VerifyRestore", "RestoreMismatch");
        let m = restore_message(Some("lake-prod"), date(), &n, Some(&f));
        assert_eq!(
            m.subject,
            "lakevault: restore of events/ v7 FAILED at VerifyRestore"
        );
        assert_eq!(m.outcome, "failed");
        assert!(m.body.contains("Error: RestoreMismatch"), "{}", m.body);
        assert!(
            m.body
                .contains("Cause: version 7 is not restorable: nearest 5 and 9"),
            "{}",
            m.body
        );
        assert!(m.body.contains("Verification: none"), "{}", m.body);
        assert_eq!(
            m.attributes.last(),
            Some(&("failed_state", "VerifyRestore".to_owned()))
        );
    }

    #[test]
    fn a_restore_that_failed_before_its_plan_names_the_snapshot() {
        let n = notice(serde_json::json!({
            "restore_id": null, "table": "events", "version": null, "objects": null,
            "bytes": null, "job_id": null, "verified": null,
        }));
        let f = failure("PlanRestore", "VersionNotRestorable");
        let m = restore_message(None, None, &n, Some(&f));
        assert_eq!(
            m.subject,
            "lakevault: restore of lake-prod-31-mar-2021/events FAILED at PlanRestore"
        );
        assert!(
            m.body
                .starts_with("lakevault restore (not planned): FAILED at PlanRestore")
        );
        assert!(m.body.contains("Version: not chosen"), "{}", m.body);
        assert!(!m.body.contains("Objects:"), "{}", m.body);
        // No empty attribute, none of what is not known.
        assert_eq!(
            m.attributes,
            [
                ("outcome", "failed".to_owned()),
                ("snapshot_bucket", "lake-prod-31-mar-2021".to_owned()),
                ("failed_state", "PlanRestore".to_owned()),
            ]
        );
    }

    #[test]
    fn long_names_keep_the_subject_within_the_limit() {
        let n = notice(serde_json::json!({
            "table": format!("{}/", "t".repeat(200)),
            "target": {"bucket": "b".repeat(63), "prefix": format!("{}/", "t".repeat(200))},
        }));
        for f in [None, Some(failure("SubmitRestoreJob", "JobConflict"))] {
            let m = restore_message(Some("lake-prod"), date(), &n, f.as_ref());
            assert!(m.subject.len() <= SUBJECT_LIMIT, "{}", m.subject);
            assert!(m.subject.ends_with("..."), "{}", m.subject);
        }
        let root =
            notice(serde_json::json!({"table": "", "target": {"bucket": "r", "prefix": ""}}));
        let m = restore_message(Some("lake-prod"), date(), &root, None);
        assert_eq!(
            m.subject,
            "lakevault: restored (bucket root) v7 into s3://r/"
        );
    }
}
