#![doc = include_str!("../README.md")]

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kit::validate;
use kit::{AccessDenied, AwsFailure, InvalidInput, ServiceFailure, Step, Transient};
use plan_large_copy::layout::{self, SettingError, StartError};
use plan_large_copy::uploads;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// plan-large-copy's output (pass it unchanged), with the previous answer of this step when
/// the state machine loops.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The source bucket.
    pub source_bucket: String,
    /// The object's key, in both buckets.
    pub key: String,
    /// The source version copied (null: the current one).
    #[serde(default)]
    pub version_id: Option<String>,
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// The multipart upload; null only when `already_copied`.
    #[serde(default)]
    pub upload_id: Option<String>,
    /// True when the snapshot holds the copy already: nothing to do.
    #[serde(default)]
    pub already_copied: bool,
    /// The source's size in bytes.
    pub size: u64,
    /// Bytes per part.
    pub part_size: u64,
    /// Number of parts.
    pub parts: u64,
    /// The source's ETag (quotes optional): a part is copied only if the source still has it.
    pub source_etag: String,
    /// This step's previous answer (the loop's cursor). Informative only: the upload's parts
    /// (ListParts) say what is left.
    #[serde(default)]
    pub cursor: Option<Cursor>,
}

/// What the loop carries from one invocation to the next.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Cursor {
    /// The previous invocation's number.
    #[serde(default)]
    pub invocation: u32,
}

/// Where the copy stands after this invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// True when every part is uploaded: go on to complete-large-copy. False: call again.
    pub done: bool,
    /// Parts uploaded so far (with the planned size).
    pub parts_done: u64,
    /// Parts planned.
    pub parts_total: u64,
    /// Bytes in the parts uploaded so far.
    pub bytes_done: u64,
    /// Parts this invocation copied.
    pub copied_now: u64,
    /// This invocation's number (1 for the first; from `cursor`).
    pub invocation: u32,
    /// Milliseconds this invocation took.
    pub elapsed_ms: u64,
}

/// copy-parts' errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum CopyPartsError {
    /// The event breaks the contract; the message names the field.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// Throttling, a 5xx, a dropped connection. Retry: parts already uploaded are not copied
    /// again.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The role may not read the source or upload parts into the snapshot bucket.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered something this step does not expect.
    #[error("{0}")]
    ServiceError(ServiceFailure),
    /// The source is not the object planned any more (another ETag or size, or deleted): the
    /// copy would mix two versions. Abort the upload; the next snapshot copies the new one.
    #[error("s3://{bucket}/{key} changed since the plan ({detail}); abort the upload")]
    SourceChanged {
        /// The source bucket.
        bucket: String,
        /// The key.
        key: String,
        /// What differs.
        detail: String,
    },
    /// The upload does not exist (aborted, completed, or the bucket is gone): plan again.
    #[error(
        "upload {upload_id} of s3://{bucket}/{key} does not exist (aborted or completed); plan the copy again"
    )]
    UploadNotFound {
        /// The snapshot bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The upload id.
        upload_id: String,
    },
}

kit::step_error!(CopyPartsError, service => ServiceError);

/// The variable that bounds the parts copied at once.
pub const PARALLELISM_ENV: &str = "LAKEVAULT_COPY_PARALLELISM";
/// The variable that bounds how long an invocation starts new parts.
pub const BUDGET_ENV: &str = "LAKEVAULT_COPY_BUDGET_SECONDS";

/// Settings read once at cold start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Parts copied at once (`LAKEVAULT_COPY_PARALLELISM`, 1 to 256, default 16).
    pub parallelism: usize,
    /// How long after it starts an invocation still starts new parts
    /// (`LAKEVAULT_COPY_BUDGET_SECONDS`, 0 to 900, default 600); parts in flight then finish.
    /// The first `parallelism` parts start whatever the budget, so every invocation moves on.
    pub budget: Duration,
    /// Parts per ListParts page (1 to 1,000; 1,000 but in tests).
    pub list_page_size: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            parallelism: 16,
            budget: Duration::from_secs(600),
            list_page_size: 1000,
        }
    }
}

impl Settings {
    /// From the environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|v| std::env::var(v).ok())
    }

    /// From `lookup` (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let d = Self::default();
        let parallelism = layout::integer_setting(
            &lookup,
            PARALLELISM_ENV,
            1..=256,
            d.parallelism as u64,
            "a number of parts from 1 to 256",
        )?;
        Ok(Self {
            parallelism: usize::try_from(parallelism).unwrap_or(d.parallelism),
            budget: layout::seconds_setting(
                &lookup,
                BUDGET_ENV,
                0.0..=900.0,
                d.budget.as_secs_f64(),
                "a number of seconds from 0 to 900",
            )?,
            list_page_size: d.list_page_size,
        })
    }
}

/// The longest an invocation may take, budget plus the last part's operation timeout: Lambda's
/// 900 s cap less 30 s to list, answer and spare.
pub const MAX_INVOCATION: Duration = Duration::from_secs(870);

impl Settings {
    /// Refuses a budget that, with the operation timeout of the part still in flight when it
    /// ends, could outlast [`MAX_INVOCATION`]: the function would be killed without an answer.
    pub fn check_against(&self, t: &kit::clients::Timeouts) -> Result<(), SettingError> {
        if self.budget + t.operation > MAX_INVOCATION {
            return Err(SettingError {
                variable: BUDGET_ENV,
                value: format!(
                    "{} (with LAKEVAULT_OPERATION_TIMEOUT_SECONDS={})",
                    self.budget.as_secs_f64(),
                    t.operation.as_secs_f64()
                ),
                expected: "a budget that, with the operation timeout, stays within 870 seconds",
            });
        }
        Ok(())
    }
}

/// The step: an S3 client and its settings, built once.
#[derive(Debug, Clone)]
pub struct CopyParts {
    s3: aws_sdk_s3::Client,
    settings: Settings,
}

impl CopyParts {
    /// From the environment (region, endpoints, kit's timeouts, the two settings). The budget
    /// and the operation timeout together must end an invocation inside Lambda's 900 s.
    pub async fn from_env() -> Result<Self, StartError> {
        let settings = Settings::from_env()?;
        settings.check_against(&kit::clients::Timeouts::from_env()?)?;
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3(&conf), settings))
    }

    /// With a given client and settings (tests, the benchmark).
    pub fn new(s3: aws_sdk_s3::Client, settings: Settings) -> Self {
        Self { s3, settings }
    }
}

/// Checks the plan's fields before any request; the upload id (none when already copied).
pub fn check_input(input: &Input) -> Result<Option<&str>, InvalidInput> {
    validate::check_source_bucket("$.source_bucket", &input.source_bucket)?;
    layout::check_key("$.key", &input.key)?;
    if let Some(v) = &input.version_id {
        layout::check_version_id("$.version_id", v)?;
    }
    validate::check_bucket("$.snapshot_bucket", &input.snapshot_bucket)?;
    layout::check_etag("$.source_etag", &input.source_etag)?;
    layout::check_layout("$", input.size, input.part_size, input.parts)?;
    match (&input.upload_id, input.already_copied) {
        (Some(id), false) => {
            layout::check_upload_id("$.upload_id", id)?;
            Ok(Some(id))
        }
        (None, true) => Ok(None),
        (None, false) => Err(InvalidInput::new(
            "$.upload_id",
            "is missing; plan-large-copy gives one unless already_copied is true",
        )),
        (Some(_), true) => Err(InvalidInput::new(
            "$.upload_id",
            "is given with already_copied true; pass plan-large-copy's output unchanged",
        )),
    }
}

impl CopyPartsError {
    fn changed(input: &Input, detail: impl Into<String>) -> Self {
        Self::SourceChanged {
            bucket: input.source_bucket.clone(),
            key: input.key.clone(),
            detail: detail.into(),
        }
    }

    fn upload_gone(input: &Input, upload_id: &str) -> Self {
        Self::UploadNotFound {
            bucket: input.snapshot_bucket.clone(),
            key: input.key.clone(),
            upload_id: upload_id.to_owned(),
        }
    }

    /// SourceChanged outranks any other error of the same invocation: it decides what the state
    /// machine does next.
    fn rank(&self) -> u8 {
        match self {
            Self::SourceChanged { .. } => 3,
            Self::UploadNotFound { .. } => 2,
            Self::Transient(_) => 0,
            _ => 1,
        }
    }
}

impl CopyParts {
    /// The source as planned: same ETag and size (a cheap check before copying anything; each
    /// part's `CopySourceIfMatch` is the guard S3 enforces).
    async fn check_source(&self, input: &Input) -> Result<(), CopyPartsError> {
        let head = self
            .s3
            .head_object()
            .bucket(&input.source_bucket)
            .key(&input.key)
            .set_version_id(input.version_id.clone())
            .send()
            .await
            .map_err(|e| match kit::classify("HeadObject", e) {
                AwsFailure::Service(s) if matches!(s.status, Some(404 | 405)) => {
                    CopyPartsError::changed(input, "it was deleted")
                }
                other => other.into(),
            })?;
        let etag = head.e_tag().map(layout::unquoted).unwrap_or_default();
        let size = head.content_length().and_then(|n| u64::try_from(n).ok());
        if etag != layout::unquoted(&input.source_etag) {
            return Err(CopyPartsError::changed(
                input,
                format!(
                    "ETag {etag}, planned {}",
                    layout::unquoted(&input.source_etag)
                ),
            ));
        }
        if size != Some(input.size) {
            return Err(CopyPartsError::changed(
                input,
                format!("size {size:?}, planned {}", input.size),
            ));
        }
        Ok(())
    }

    /// Copies part `n`; its length.
    async fn copy_part(
        &self,
        input: &Input,
        upload_id: &str,
        n: u64,
    ) -> Result<u64, CopyPartsError> {
        let number = i32::try_from(n).map_err(|_| {
            CopyPartsError::InvalidInput(InvalidInput::new("$.parts", "more than 10,000 parts"))
        })?;
        let out = self
            .s3
            .upload_part_copy()
            .bucket(&input.snapshot_bucket)
            .key(&input.key)
            .upload_id(upload_id)
            .part_number(number)
            .copy_source(layout::copy_source(
                &input.source_bucket,
                &input.key,
                input.version_id.as_deref(),
            ))
            .copy_source_range(layout::copy_source_range(input.size, input.part_size, n))
            .copy_source_if_match(layout::quoted(&input.source_etag))
            .send()
            .await
            .map_err(|e| match kit::classify("UploadPartCopy", e) {
                AwsFailure::Service(s) if s.status == Some(412) || s.is("PreconditionFailed") => {
                    CopyPartsError::changed(input, "its ETag is not the planned one any more")
                }
                AwsFailure::Service(s) if s.is("NoSuchUpload") || s.is("NoSuchBucket") => {
                    CopyPartsError::upload_gone(input, upload_id)
                }
                AwsFailure::Service(s)
                    if s.is("NoSuchKey")
                        || s.is("NoSuchVersion")
                        || (s.status == Some(404) && s.code.is_none()) =>
                {
                    CopyPartsError::changed(input, "it was deleted")
                }
                other => other.into(),
            })?;
        if out.copy_part_result().and_then(|r| r.e_tag()).is_none() {
            return Err(CopyPartsError::ServiceError(ServiceFailure {
                operation: "UploadPartCopy".to_owned(),
                code: None,
                status: Some(200),
                message: format!("part {n} answered without an ETag"),
            }));
        }
        Ok(layout::part_len(input.size, input.part_size, n))
    }
}

impl Step for CopyParts {
    const NAME: &'static str = "copy-parts";
    type Input = Input;
    type Output = Output;
    type Error = CopyPartsError;

    async fn handle(&self, input: Input) -> Result<Output, CopyPartsError> {
        let started = Instant::now();
        let upload_id = check_input(&input)?;
        let invocation = input
            .cursor
            .as_ref()
            .map_or(0, |c| c.invocation)
            .saturating_add(1);
        let answer = |parts_done: u64, bytes_done: u64, copied_now: u64| Output {
            done: parts_done == input.parts,
            parts_done,
            parts_total: input.parts,
            bytes_done,
            copied_now,
            invocation,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let Some(upload_id) = upload_id else {
            return Ok(answer(input.parts, input.size, 0));
        };
        self.check_source(&input).await?;
        let listed = uploads::list_parts(
            &self.s3,
            &input.snapshot_bucket,
            &input.key,
            upload_id,
            self.settings.list_page_size,
        )
        .await?
        .ok_or_else(|| CopyPartsError::upload_gone(&input, upload_id))?;
        // A part listed with another length than planned is copied again (its number is
        // overwritten). plan-large-copy carries on only uploads whose parts all fit its layout,
        // so this is a defence, not a path.
        let (mut done, mut bytes): (u64, u64) = (0, 0);
        let mut missing = Vec::new();
        for n in 1..=input.parts {
            let len = layout::part_len(input.size, input.part_size, n);
            match listed.get(&n) {
                Some(p) if p.size == len => {
                    done += 1;
                    bytes += len;
                }
                _ => missing.push(n),
            }
        }
        let budget = self.settings.budget;
        let parallelism = self.settings.parallelism.max(1);
        let mut pending = missing.into_iter();
        let mut in_flight = FuturesUnordered::new();
        let (mut issued, mut copied) = (0usize, 0u64);
        let mut failure: Option<CopyPartsError> = None;
        let plan = &input;
        loop {
            while failure.is_none() && in_flight.len() < parallelism {
                // The first wave starts whatever the budget: every invocation makes progress.
                if issued >= parallelism && started.elapsed() >= budget {
                    break;
                }
                let Some(n) = pending.next() else { break };
                in_flight.push(async move { (n, self.copy_part(plan, upload_id, n).await) });
                issued += 1;
            }
            let Some((n, result)) = in_flight.next().await else {
                break;
            };
            match result {
                Ok(len) => {
                    copied += 1;
                    done += 1;
                    bytes += len;
                }
                Err(e) => {
                    tracing::warn!(part = n, error_type = kit::StepError::error_type(&e), error = %e, "part not copied");
                    if failure.as_ref().is_none_or(|f| e.rank() > f.rank()) {
                        failure = Some(e);
                    }
                }
            }
        }
        if let Some(e) = failure {
            tracing::info!(
                parts_done = done,
                copied,
                "stopped on a failure; parts copied stay"
            );
            return Err(e);
        }
        let out = answer(done, bytes, copied);
        tracing::info!(
            key = %input.key,
            upload_id,
            done = out.done,
            parts_done = out.parts_done,
            parts_total = out.parts_total,
            copied_now = copied,
            invocation,
            elapsed_ms = out.elapsed_ms,
            "parts copied"
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Input {
        Input {
            source_bucket: "lake-prod".into(),
            key: "events/big.parquet".into(),
            version_id: None,
            snapshot_bucket: "lake-prod-31-mar-2021".into(),
            upload_id: Some("2~abc".into()),
            already_copied: false,
            size: 26 << 20,
            part_size: 5 << 20,
            parts: 6,
            source_etag: "\"d41d8cd98f00b204e9800998ecf8427e-2\"".into(),
            cursor: None,
        }
    }

    #[test]
    fn the_plan_is_checked() {
        assert_eq!(check_input(&input()).unwrap(), Some("2~abc"));
        let mut i = input();
        i.parts = 5;
        assert_eq!(check_input(&i).unwrap_err().path, "$.parts");
        let mut i = input();
        i.upload_id = None;
        assert_eq!(check_input(&i).unwrap_err().path, "$.upload_id");
        i.already_copied = true;
        assert_eq!(check_input(&i).unwrap(), None);
    }

    #[test]
    fn settings_have_bounds() {
        let s = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(s, Settings::default());
        let s = Settings::from_lookup(|v| (v == PARALLELISM_ENV).then(|| "64".into())).unwrap();
        assert_eq!(s.parallelism, 64);
        for bad in ["0", "257", "many"] {
            let e = Settings::from_lookup(|v| (v == PARALLELISM_ENV).then(|| bad.into()));
            assert!(e.is_err(), "{bad}");
        }
        assert!(Settings::from_lookup(|v| (v == BUDGET_ENV).then(|| "901".into())).is_err());
        let s = Settings::from_lookup(|v| (v == BUDGET_ENV).then(|| "0".into())).unwrap();
        assert_eq!(s.budget, Duration::ZERO);
        let t = kit::clients::Timeouts::default();
        assert!(Settings::default().check_against(&t).is_ok());
        let long = kit::clients::Timeouts {
            operation: Duration::from_secs(300),
            ..t
        };
        assert!(Settings::default().check_against(&long).is_err());
        let s = Settings::from_lookup(|v| (v == BUDGET_ENV).then(|| "540".into())).unwrap();
        assert!(s.check_against(&long).is_ok());
    }
}
