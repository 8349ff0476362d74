//! What a job does, validated from its CreateJob request the way CreateJob validates it.

use aws_sdk_s3::primitives::DateTime;

use crate::model::{CreateJobRequest, ObjectMetadata, Tag};
use crate::names::{bucket_of_arn, object_of_arn};

/// A CSV manifest (`Bucket,Key[,VersionId]` rows).
pub(crate) const FORMAT_CSV: &str = "S3BatchOperations_CSV_20180820";
/// An S3 Inventory `manifest.json` (CSV inventories only).
pub(crate) const FORMAT_INVENTORY: &str = "S3InventoryReport_CSV_20161130";
/// The one completion-report format.
const REPORT_FORMAT: &str = "Report_CSV_20180820";

const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "GLACIER",
    "INTELLIGENT_TIERING",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];

/// The manifest's two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ManifestFormat {
    /// [`FORMAT_CSV`].
    Csv,
    /// [`FORMAT_INVENTORY`].
    Inventory,
}

/// What a job does, validated from its CreateJob request.
#[derive(Debug, Clone)]
pub(crate) struct JobSpec {
    pub(crate) manifest_bucket: String,
    pub(crate) manifest_key: String,
    pub(crate) manifest_version: Option<String>,
    /// Without quotes.
    pub(crate) manifest_etag: String,
    pub(crate) format: ManifestFormat,
    /// `Spec.Fields` of a CSV manifest (empty: `Bucket, Key, VersionId`).
    pub(crate) fields: Vec<String>,
    pub(crate) copy: CopySpec,
    pub(crate) report: Option<ReportSpec>,
}

/// The `S3PutObjectCopy` operation.
#[derive(Debug, Clone)]
pub(crate) struct CopySpec {
    pub(crate) target_bucket: String,
    pub(crate) key_prefix: String,
    pub(crate) storage_class: Option<String>,
    pub(crate) replace_metadata: bool,
    pub(crate) metadata: ObjectMetadata,
    pub(crate) tagging: Option<Vec<Tag>>,
    pub(crate) lock_mode: Option<String>,
    pub(crate) retain_until: Option<DateTime>,
    pub(crate) legal_hold: Option<String>,
    pub(crate) kms_key: Option<String>,
    pub(crate) bucket_key: Option<bool>,
    pub(crate) checksum: Option<String>,
}

/// Where the completion report goes (when enabled).
#[derive(Debug, Clone)]
pub(crate) struct ReportSpec {
    pub(crate) bucket: String,
    pub(crate) prefix: String,
    /// `AllTasks` (true) or `FailedTasksOnly`.
    pub(crate) all_tasks: bool,
}

/// Why CreateJob refuses a request (400 `InvalidRequest`, with these messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SpecError {
    /// A `ManifestGenerator` instead of a `Manifest`.
    #[error("ManifestGenerator is not implemented by local-batch; pass a Manifest.")]
    ManifestGenerator,
    /// No `Manifest`.
    #[error("A Manifest is required.")]
    NoManifest,
    /// A manifest format other than the two supported.
    #[error(
        "Manifest format {0:?} is not supported; use S3BatchOperations_CSV_20180820 or S3InventoryReport_CSV_20161130."
    )]
    ManifestFormat(String),
    /// The manifest location is not an S3 object ARN.
    #[error("Manifest ObjectArn {0:?} is not an S3 object ARN (arn:aws:s3:::bucket/key).")]
    ManifestArn(String),
    /// The manifest location has no ETag.
    #[error("The manifest location's ETag is required.")]
    NoManifestEtag,
    /// No `Operation`.
    #[error("An Operation is required.")]
    NoOperation,
    /// An operation other than `S3PutObjectCopy`, or several.
    #[error("local-batch runs S3PutObjectCopy jobs only; the Operation must hold exactly that.")]
    NotACopy,
    /// `TargetResource` is not an S3 bucket ARN.
    #[error("TargetResource {0:?} is not an S3 bucket ARN (arn:aws:s3:::bucket).")]
    TargetResource(String),
    /// An unknown storage class.
    #[error("StorageClass {0:?} is not one of {STORAGE_CLASSES:?}.")]
    StorageClass(String),
    /// `MetadataDirective` neither `COPY` nor `REPLACE`.
    #[error("MetadataDirective {0:?} must be COPY or REPLACE.")]
    MetadataDirective(String),
    /// `ObjectLockMode` neither `GOVERNANCE` nor `COMPLIANCE`.
    #[error("ObjectLockMode {0:?} must be GOVERNANCE or COMPLIANCE.")]
    ObjectLockMode(String),
    /// `ObjectLockRetainUntilDate` is not an ISO 8601 timestamp.
    #[error("ObjectLockRetainUntilDate {0:?} is not an ISO 8601 timestamp.")]
    RetainUntilDate(String),
    /// Only one of `ObjectLockMode` and `ObjectLockRetainUntilDate`.
    #[error("ObjectLockMode and ObjectLockRetainUntilDate must be given together.")]
    LockModeWithoutDate,
    /// No `Report`.
    #[error("A Report is required (it may be disabled).")]
    NoReport,
    /// The report bucket is not an S3 bucket ARN.
    #[error("Report Bucket {0:?} is not an S3 bucket ARN (arn:aws:s3:::bucket).")]
    ReportBucket(String),
    /// A report format other than `Report_CSV_20180820`.
    #[error("Report Format must be Report_CSV_20180820.")]
    ReportFormat,
    /// `ReportScope` neither `AllTasks` nor `FailedTasksOnly`.
    #[error("ReportScope {0:?} must be AllTasks or FailedTasksOnly.")]
    ReportScope(String),
}

impl JobSpec {
    /// Validates a request the way CreateJob does.
    pub(crate) fn from_request(req: &CreateJobRequest) -> Result<JobSpec, SpecError> {
        if req.manifest_generator.is_some() {
            return Err(SpecError::ManifestGenerator);
        }
        let manifest = req.manifest.as_ref().ok_or(SpecError::NoManifest)?;
        let spec = manifest.spec.clone().unwrap_or_default();
        let format = match spec.format.unwrap_or_default().as_str() {
            FORMAT_CSV => ManifestFormat::Csv,
            FORMAT_INVENTORY => ManifestFormat::Inventory,
            other => return Err(SpecError::ManifestFormat(other.to_owned())),
        };
        let fields: Vec<String> = spec.fields.map(|f| f.member).unwrap_or_default();
        let loc = manifest.location.clone().unwrap_or_default();
        let arn = loc.object_arn.unwrap_or_default();
        let (manifest_bucket, manifest_key) =
            object_of_arn(&arn).ok_or_else(|| SpecError::ManifestArn(arn.clone()))?;
        let manifest_etag = loc
            .etag
            .filter(|e| !e.is_empty())
            .ok_or(SpecError::NoManifestEtag)?;

        let copy = copy_spec(req)?;
        let report = report_spec(req)?;

        Ok(JobSpec {
            manifest_bucket: manifest_bucket.to_owned(),
            manifest_key: manifest_key.to_owned(),
            manifest_version: loc.object_version_id,
            manifest_etag: manifest_etag.trim_matches('"').to_owned(),
            format,
            fields,
            copy,
            report,
        })
    }
}

fn copy_spec(req: &CreateJobRequest) -> Result<CopySpec, SpecError> {
    let op = req.operation.clone().ok_or(SpecError::NoOperation)?;
    let others = [
        op.lambda_invoke.is_some(),
        op.put_acl.is_some(),
        op.put_tagging.is_some(),
        op.delete_tagging.is_some(),
        op.restore.is_some(),
        op.legal_hold.is_some(),
        op.retention.is_some(),
        op.replicate.is_some(),
    ];
    let copy = match op.copy {
        Some(c) if !others.contains(&true) => c,
        _ => return Err(SpecError::NotACopy),
    };
    let target = copy.target_resource.unwrap_or_default();
    let target_bucket = bucket_of_arn(&target)
        .ok_or_else(|| SpecError::TargetResource(target.clone()))?
        .to_owned();
    if let Some(sc) = &copy.storage_class
        && !STORAGE_CLASSES.contains(&sc.as_str())
    {
        return Err(SpecError::StorageClass(sc.clone()));
    }
    let replace_metadata = match copy.metadata_directive.as_deref() {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(other) => return Err(SpecError::MetadataDirective(other.to_owned())),
    };
    if let Some(m) = &copy.object_lock_mode
        && m != "GOVERNANCE"
        && m != "COMPLIANCE"
    {
        return Err(SpecError::ObjectLockMode(m.clone()));
    }
    let retain_until = match &copy.object_lock_retain_until_date {
        None => None,
        Some(d) => Some(
            DateTime::from_str(d, aws_smithy_types::date_time::Format::DateTimeWithOffset)
                .map_err(|_| SpecError::RetainUntilDate(d.clone()))?,
        ),
    };
    if copy.object_lock_mode.is_some() != retain_until.is_some() {
        return Err(SpecError::LockModeWithoutDate);
    }
    Ok(CopySpec {
        target_bucket,
        key_prefix: copy.target_key_prefix.unwrap_or_default(),
        storage_class: copy.storage_class,
        replace_metadata,
        metadata: copy.new_object_metadata.unwrap_or_default(),
        tagging: copy.new_object_tagging.map(|t| t.member),
        lock_mode: copy.object_lock_mode,
        retain_until,
        legal_hold: copy.object_lock_legal_hold_status,
        kms_key: copy.sse_aws_kms_key_id,
        bucket_key: copy.bucket_key_enabled,
        checksum: copy.checksum_algorithm,
    })
}

fn report_spec(req: &CreateJobRequest) -> Result<Option<ReportSpec>, SpecError> {
    let report = req.report.clone().ok_or(SpecError::NoReport)?;
    if !report.enabled.unwrap_or(false) {
        return Ok(None);
    }
    let b = report.bucket.unwrap_or_default();
    let bucket = bucket_of_arn(&b)
        .ok_or_else(|| SpecError::ReportBucket(b.clone()))?
        .to_owned();
    if report.format.as_deref() != Some(REPORT_FORMAT) {
        return Err(SpecError::ReportFormat);
    }
    let all_tasks = match report.report_scope.as_deref() {
        None | Some("AllTasks") => true,
        Some("FailedTasksOnly") => false,
        Some(other) => return Err(SpecError::ReportScope(other.to_owned())),
    };
    Ok(Some(ReportSpec {
        bucket,
        prefix: report.prefix.unwrap_or_default(),
        all_tasks,
    }))
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::model::{
        CopyOperation, Manifest, ManifestLocation, ManifestSpec, Operation, Report,
    };

    /// A valid CSV copy job request: manifest `b/m.csv` (ETag `"abc"`), target `t`, no report.
    pub(crate) fn request() -> CreateJobRequest {
        CreateJobRequest {
            manifest: Some(Manifest {
                spec: Some(ManifestSpec {
                    format: Some(FORMAT_CSV.to_owned()),
                    fields: None,
                }),
                location: Some(ManifestLocation {
                    object_arn: Some("arn:aws:s3:::b/m.csv".to_owned()),
                    object_version_id: None,
                    etag: Some("\"abc\"".to_owned()),
                }),
            }),
            operation: Some(Operation {
                copy: Some(CopyOperation {
                    target_resource: Some("arn:aws:s3:::t".to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            report: Some(Report::default()),
            ..Default::default()
        }
    }

    /// The spec of [`request`].
    pub(crate) fn spec() -> JobSpec {
        JobSpec::from_request(&request()).expect("a valid request")
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::request;
    use super::*;
    use crate::model::Report;

    #[test]
    fn a_csv_copy_job_is_understood_with_its_etag_unquoted() {
        let spec = JobSpec::from_request(&request()).unwrap();
        assert_eq!(spec.format, ManifestFormat::Csv);
        assert_eq!(
            (spec.manifest_bucket.as_str(), spec.manifest_key.as_str()),
            ("b", "m.csv")
        );
        assert_eq!(spec.manifest_etag, "abc");
        assert_eq!(spec.copy.target_bucket, "t");
        assert!(spec.report.is_none());
    }

    #[test]
    fn refusals_are_typed() {
        let mut r = request();
        r.manifest.as_mut().unwrap().spec.as_mut().unwrap().format = Some("ORC".to_owned());
        assert!(matches!(
            JobSpec::from_request(&r),
            Err(SpecError::ManifestFormat(f)) if f == "ORC"
        ));

        let mut r = request();
        r.operation.as_mut().unwrap().lambda_invoke = Some(Default::default());
        assert_eq!(JobSpec::from_request(&r).unwrap_err(), SpecError::NotACopy);

        let mut r = request();
        r.operation
            .as_mut()
            .unwrap()
            .copy
            .as_mut()
            .unwrap()
            .object_lock_mode = Some("GOVERNANCE".to_owned());
        assert_eq!(
            JobSpec::from_request(&r).unwrap_err(),
            SpecError::LockModeWithoutDate
        );

        let mut r = request();
        r.report = Some(Report {
            enabled: Some(true),
            bucket: Some("arn:aws:s3:::r".to_owned()),
            format: Some("Report_CSV_20180820".to_owned()),
            report_scope: Some("Some".to_owned()),
            prefix: None,
        });
        assert!(matches!(
            JobSpec::from_request(&r),
            Err(SpecError::ReportScope(s)) if s == "Some"
        ));
    }
}
