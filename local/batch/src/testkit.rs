//! For tests and demos: small manifests — an S3 Inventory CSV delivery (gzip data files and
//! `manifest.json`, as S3 writes them) and a Batch Operations CSV manifest; not an inventory
//! generator: it lists exactly the keys it is given — and copy jobs over them: a CreateJob
//! request ([`copy_job`]), DescribeJob ([`describe_job`]) and waiting for a status
//! ([`wait_for_job`]). The crates whose tests run the local Batch Operations share these.

use std::io::Write;
use std::time::Duration;

use aws_sdk_s3control::operation::create_job::builders::CreateJobFluentBuilder;
use aws_sdk_s3control::types::builders::S3CopyObjectOperationBuilder;
use aws_sdk_s3control::types::{
    JobDescriptor, JobManifest, JobManifestFieldName, JobManifestFormat, JobManifestLocation,
    JobManifestSpec, JobOperation, JobReport, JobReportFormat, JobReportScope, JobStatus,
    S3CopyObjectOperation,
};
use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Inventory key encoding: everything but unreserved characters and `/`.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A key URL-encoded as inventories and Batch Operations manifests write it.
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY).to_string()
}

/// Where a manifest was written: what CreateJob needs.
#[derive(Debug, Clone)]
pub struct WrittenManifest {
    /// Bucket of the manifest object.
    pub bucket: String,
    /// Key of the manifest object.
    pub key: String,
    /// `arn:aws:s3:::bucket/key`
    pub arn: String,
    /// Its ETag, without quotes.
    pub etag: String,
}

impl WrittenManifest {
    /// This manifest as CreateJob takes it: its ARN and ETag, read as `format`; `fields`, the
    /// columns of a CSV manifest (empty: none given, so Batch Operations' default `Bucket, Key,
    /// VersionId`).
    pub fn job_manifest(
        &self,
        format: JobManifestFormat,
        fields: &[JobManifestFieldName],
    ) -> JobManifest {
        let spec = JobManifestSpec::builder()
            .format(format)
            .set_fields((!fields.is_empty()).then(|| fields.to_vec()))
            .build()
            .expect("a manifest spec with its format");
        let location = JobManifestLocation::builder()
            .object_arn(&self.arn)
            .e_tag(&self.etag)
            .build()
            .expect("a manifest location with its ARN and ETag");
        JobManifest::builder().spec(spec).location(location).build()
    }
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<String, aws_sdk_s3::Error> {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await?;
    Ok(out.e_tag().unwrap_or_default().trim_matches('"').to_owned())
}

/// Writes an inventory delivery listing `keys` of `source_bucket` under
/// `<prefix>/<source>/<config>/…` in `dest_bucket`, `rows_per_file` rows per gzip data file
/// (columns `Bucket, Key, Size`; every field quoted; keys URL-encoded).
pub async fn write_inventory(
    s3: &aws_sdk_s3::Client,
    dest_bucket: &str,
    prefix: &str,
    source_bucket: &str,
    keys: &[(String, i64)],
    rows_per_file: usize,
) -> Result<WrittenManifest, aws_sdk_s3::Error> {
    let base = format!("{prefix}/{source_bucket}/daily");
    let mut files = Vec::new();
    for (n, chunk) in keys.chunks(rows_per_file.max(1)).enumerate() {
        let mut csv = String::new();
        for (k, size) in chunk {
            csv.push_str(&format!(
                "\"{source_bucket}\",\"{}\",\"{size}\"\n",
                encode_key(k)
            ));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(csv.as_bytes()).expect("gzip into memory");
        let gz = gz.finish().expect("gzip into memory");
        let key = format!("{base}/data/{n:04}-{}.csv.gz", uuid::Uuid::new_v4());
        let md5 = hex::encode(Md5::digest(&gz));
        let size = gz.len();
        put(s3, dest_bucket, &key, gz).await?;
        files.push(serde_json::json!({"key": key, "size": size, "MD5checksum": md5}));
    }
    let manifest = serde_json::json!({
        "sourceBucket": source_bucket,
        "destinationBucket": format!("arn:aws:s3:::{dest_bucket}"),
        "version": "2016-11-30",
        "creationTimestamp": "1617321600000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size",
        "files": files,
    });
    let key = format!("{base}/2021-04-02T00-00Z/manifest.json");
    let etag = put(s3, dest_bucket, &key, manifest.to_string().into_bytes()).await?;
    Ok(WrittenManifest {
        bucket: dest_bucket.to_owned(),
        arn: format!("arn:aws:s3:::{dest_bucket}/{key}"),
        key,
        etag,
    })
}

/// Writes a `S3BatchOperations_CSV_20180820` manifest (`Bucket,Key` rows, keys URL-encoded).
pub async fn write_csv_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    source_bucket: &str,
    keys: &[String],
) -> Result<WrittenManifest, aws_sdk_s3::Error> {
    let body: String = keys
        .iter()
        .map(|k| format!("{source_bucket},{}\n", encode_key(k)))
        .collect();
    let etag = put(s3, bucket, key, body.into_bytes()).await?;
    Ok(WrittenManifest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        arn: format!("arn:aws:s3:::{bucket}/{key}"),
        etag,
    })
}

/// An `S3PutObjectCopy` operation into `bucket`, for [`copy_job`] (a test sets more on it: a key
/// prefix, a storage class).
pub fn copy_into(bucket: &str) -> S3CopyObjectOperationBuilder {
    S3CopyObjectOperation::builder().target_resource(format!("arn:aws:s3:::{bucket}"))
}

/// A CreateJob request of `account_id`, unsent: `operation` on every object `manifest` lists, a
/// completion report of all tasks under `report_bucket`/`report_prefix`; priority 10, run
/// without confirmation, as the role `batch-operations` of that account, client request token
/// `copy-job`. A test sets on the request what it is about (another token, a confirmation,
/// tags).
pub fn copy_job(
    control: &aws_sdk_s3control::Client,
    account_id: &str,
    manifest: JobManifest,
    operation: S3CopyObjectOperation,
    report_bucket: &str,
    report_prefix: &str,
) -> CreateJobFluentBuilder {
    control
        .create_job()
        .account_id(account_id)
        .client_request_token("copy-job")
        .confirmation_required(false)
        .priority(10)
        .role_arn(format!("arn:aws:iam::{account_id}:role/batch-operations"))
        .operation(
            JobOperation::builder()
                .s3_put_object_copy(operation)
                .build(),
        )
        .manifest(manifest)
        .report(
            JobReport::builder()
                .enabled(true)
                .bucket(format!("arn:aws:s3:::{report_bucket}"))
                .prefix(report_prefix)
                .format(JobReportFormat::ReportCsv20180820)
                .report_scope(JobReportScope::AllTasks)
                .build(),
        )
}

/// A job as DescribeJob shows it.
pub async fn describe_job(
    control: &aws_sdk_s3control::Client,
    account_id: &str,
    job_id: &str,
) -> Result<JobDescriptor, JobWaitError> {
    let out = control
        .describe_job()
        .account_id(account_id)
        .job_id(job_id)
        .send()
        .await
        .map_err(|e| JobWaitError::Describe {
            job_id: job_id.to_owned(),
            source: Box::new(e.into()),
        })?;
    out.job.ok_or_else(|| JobWaitError::NoJob {
        job_id: job_id.to_owned(),
    })
}

/// How long [`wait_for_job`] waits: far more than a test's job takes on the local service.
pub const JOB_WAIT: Duration = Duration::from_secs(30);

/// Polls DescribeJob (every 10 ms, at most [`JOB_WAIT`]) until the job's status is `want`, or,
/// with `None`, until it has ended (`Complete`, `Failed` or `Cancelled`); the job then.
pub async fn wait_for_job(
    control: &aws_sdk_s3control::Client,
    account_id: &str,
    job_id: &str,
    want: Option<JobStatus>,
) -> Result<JobDescriptor, JobWaitError> {
    let deadline = tokio::time::Instant::now() + JOB_WAIT;
    loop {
        let job = describe_job(control, account_id, job_id).await?;
        let reached = match (&want, &job.status) {
            (Some(want), Some(status)) => status == want,
            (None, Some(status)) => matches!(
                status,
                JobStatus::Complete | JobStatus::Failed | JobStatus::Cancelled
            ),
            (_, None) => false,
        };
        if reached {
            return Ok(job);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(JobWaitError::Timeout {
                job_id: job_id.to_owned(),
                want: want.map_or_else(|| "an end".to_owned(), |w| w.as_str().to_owned()),
                last: job.status,
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Why [`describe_job`] or [`wait_for_job`] has no job to give.
#[derive(Debug, thiserror::Error)]
pub enum JobWaitError {
    /// DescribeJob failed.
    #[error("DescribeJob {job_id}: {source}")]
    Describe {
        /// The job asked for.
        job_id: String,
        /// What S3 Control answered.
        #[source]
        source: Box<aws_sdk_s3control::Error>,
    },
    /// DescribeJob answered without a job.
    #[error("DescribeJob {job_id} answered no job")]
    NoJob {
        /// The job asked for.
        job_id: String,
    },
    /// The job did not reach the status in time.
    #[error("job {job_id} did not reach {want} within {JOB_WAIT:?} (last status {last:?})")]
    Timeout {
        /// The job waited for.
        job_id: String,
        /// The status waited for.
        want: String,
        /// Its status at the last poll.
        last: Option<JobStatus>,
    },
}
