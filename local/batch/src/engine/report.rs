//! The completion report: one CSV per task status under `<prefix>/job-<id>/results/`, then
//! `<prefix>/job-<id>/manifest.json`, as AWS lays it out.

use md5::{Digest, Md5};
use time::OffsetDateTime;

use super::copy::Outcome;
use super::s3::S3Failure;
use crate::lifecycle::timestamp;
use crate::spec::ReportSpec;

/// Why the report could not be written (the job fails with `ReportWriteFailed`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReportError {
    /// A row could not be written as CSV.
    #[error("could not write a report row: {0}")]
    Row(#[source] csv::Error),
    /// The CSV could not be finished.
    #[error("could not finish the report: {0}")]
    Finish(#[source] std::io::Error),
    /// An object of the report could not be put.
    #[error(
        "Writing the report to s3://{bucket}/{key} failed: {} (HTTP {}) {}",
        failure.code,
        failure.status,
        failure.message
    )]
    Put {
        /// Report bucket.
        bucket: String,
        /// The object's key.
        key: String,
        /// How S3 answered.
        failure: S3Failure,
    },
}

/// One report row, in the column order of AWS's own example rows:
/// `bucket, key, versionId, taskStatus, httpStatus, errorCode, resultMessage`.
pub(crate) fn report_row(o: &Outcome) -> [String; 7] {
    [
        o.task.bucket.clone(),
        o.task.key_encoded.clone(),
        o.task.version_id.clone().unwrap_or_default(),
        if o.succeeded { "succeeded" } else { "failed" }.to_owned(),
        o.http_status.to_string(),
        o.error_code.clone(),
        o.message.clone(),
    ]
}

/// The rows as one CSV file, every field quoted.
pub(crate) fn csv_bytes(rows: &[&Outcome]) -> Result<Vec<u8>, ReportError> {
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    for o in rows {
        w.write_record(report_row(o)).map_err(ReportError::Row)?;
    }
    w.into_inner()
        .map_err(|e| ReportError::Finish(e.into_error()))
}

/// Writes `<prefix>/job-<id>/results/<hex>.csv` (one file per task status) and then
/// `<prefix>/job-<id>/manifest.json`, as AWS lays a completion report out.
pub(crate) async fn write(
    s3: &aws_sdk_s3::Client,
    r: &ReportSpec,
    id: &str,
    outcomes: &[Outcome],
) -> Result<(), ReportError> {
    let base = if r.prefix.is_empty() {
        format!("job-{id}")
    } else {
        format!("{}/job-{id}", r.prefix.trim_end_matches('/'))
    };
    let mut results = Vec::new();
    for (status, ok) in [("succeeded", true), ("failed", false)] {
        if ok && !r.all_tasks {
            continue;
        }
        let rows: Vec<&Outcome> = outcomes.iter().filter(|o| o.succeeded == ok).collect();
        if rows.is_empty() {
            continue;
        }
        let body = csv_bytes(&rows)?;
        let md5 = hex::encode(Md5::digest(&body));
        let name = hex::encode(Md5::digest(
            format!("{id}/{status}/{}", uuid::Uuid::new_v4()).as_bytes(),
        ));
        let key = format!("{base}/results/{name}.csv");
        put(s3, &r.bucket, &key, "text/csv", body.into()).await?;
        results.push(serde_json::json!({
            "TaskExecutionStatus": status,
            "Bucket": r.bucket,
            "MD5Checksum": md5,
            "Key": key,
        }));
    }
    let now = OffsetDateTime::now_utc();
    let manifest = serde_json::json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": timestamp(now),
        "Results": results,
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    let key = format!("{base}/manifest.json");
    put(
        s3,
        &r.bucket,
        &key,
        "application/json",
        manifest.to_string().into_bytes().into(),
    )
    .await?;
    tracing::info!(job_id = id, bucket = %r.bucket, %key, "completion report written");
    Ok(())
}

/// Writes one object of the completion report.
async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    body: aws_sdk_s3::primitives::ByteStream,
) -> Result<(), ReportError> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| ReportError::Put {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            failure: S3Failure::of(&e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::manifest::Task;

    #[test]
    fn report_rows_are_quoted_with_status_before_code() {
        let o = Outcome {
            task: Task {
                bucket: "b".into(),
                key_encoded: "k".into(),
                key: "k".into(),
                version_id: None,
            },
            succeeded: false,
            http_status: 400,
            error_code: "InvalidRequest".into(),
            message: "a, \"b\"".into(),
        };
        let out = String::from_utf8(csv_bytes(&[&o]).unwrap()).unwrap();
        assert_eq!(
            out,
            "\"b\",\"k\",\"\",\"failed\",\"400\",\"InvalidRequest\",\"a, \"\"b\"\"\"\n"
        );
    }
}
