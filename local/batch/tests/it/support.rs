//! Shared by every module: moto and a local-batch per test, buckets, a copy job, polling, the report.

use aws_sdk_s3control::operation::create_job::builders::CreateJobFluentBuilder;
use aws_sdk_s3control::types::{
    JobDescriptor, JobManifestFormat, JobStatus, S3StorageClass, S3Tag,
};
use harness::{DEFAULT_ACCOUNT, Moto, get_object, unique_bucket};
use local_batch::testkit::{self, WrittenManifest};
use local_batch::{BatchConfig, RunningBatch};
use md5::{Digest, Md5};

/// The role [`testkit::copy_job`] passes for the default account.
pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/batch-operations";

pub(crate) struct Env {
    _moto: Moto,
    pub(crate) batch: RunningBatch,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) control: aws_sdk_s3control::Client,
}

pub(crate) async fn setup(tune: impl FnOnce(&mut BatchConfig)) -> Env {
    let moto = Moto::start();
    let s3 = moto.s3();
    let mut config = BatchConfig::new(s3.clone());
    tune(&mut config);
    let batch = local_batch::spawn(config).await.unwrap();
    let control = batch.s3control(&moto.sdk_config());
    Env {
        _moto: moto,
        batch,
        s3,
        control,
    }
}

pub(crate) async fn bucket(s3: &aws_sdk_s3::Client, prefix: &str) -> String {
    let b = unique_bucket(prefix);
    s3.create_bucket().bucket(&b).send().await.unwrap();
    b
}

/// A CSV manifest of `keys` of `bucket`, written into that bucket as `manifest.csv`.
pub(crate) async fn csv_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
) -> WrittenManifest {
    testkit::write_csv_manifest(s3, bucket, "manifest.csv", bucket, keys)
        .await
        .unwrap()
}

/// One object to copy: a source bucket holding `k`, an empty target bucket, and a manifest (in
/// the source) listing `k`.
pub(crate) struct OneObject {
    pub(crate) src: String,
    pub(crate) dst: String,
    pub(crate) manifest: WrittenManifest,
}

pub(crate) async fn one_object(s3: &aws_sdk_s3::Client) -> OneObject {
    let src = bucket(s3, "src").await;
    let dst = bucket(s3, "dst").await;
    put(s3, &src, "k", b"x").await;
    OneObject {
        manifest: csv_manifest(s3, &src, &["k".to_owned()]).await,
        src,
        dst,
    }
}

impl OneObject {
    /// Its [`copy_job`] with `token`, unsent: the source into the target, the report into the
    /// source.
    pub(crate) fn job(
        &self,
        control: &aws_sdk_s3control::Client,
        token: &str,
    ) -> CreateJobFluentBuilder {
        copy_job(
            control,
            token,
            &self.manifest,
            JobManifestFormat::S3BatchOperationsCsv20180820,
            &self.dst,
            &self.src,
        )
    }
}

pub(crate) async fn put(s3: &aws_sdk_s3::Client, b: &str, k: &str, body: &[u8]) {
    s3.put_object()
        .bucket(b)
        .key(k)
        .body(body.to_vec().into())
        .content_type("text/plain")
        .metadata("owner", "lake-team")
        .send()
        .await
        .unwrap();
}

/// [`testkit::copy_job`] of the default account, the report under `reports/`, with what every
/// job here carries: a token, a description, a tag naming the target, its storage class.
pub(crate) fn copy_job(
    control: &aws_sdk_s3control::Client,
    token: &str,
    manifest: &WrittenManifest,
    format: JobManifestFormat,
    target: &str,
    report_bucket: &str,
) -> CreateJobFluentBuilder {
    testkit::copy_job(
        control,
        DEFAULT_ACCOUNT,
        manifest.job_manifest(format, &[]),
        testkit::copy_into(target)
            .storage_class(S3StorageClass::Standard)
            .build(),
        report_bucket,
        "reports",
    )
    .client_request_token(token)
    .description("test job")
    .tags(
        S3Tag::builder()
            .key("snapshot")
            .value(target)
            .build()
            .unwrap(),
    )
}

/// Sends a CreateJob request; returns the new job's id.
pub(crate) async fn submit(request: CreateJobFluentBuilder) -> String {
    request.send().await.unwrap().job_id.unwrap()
}

pub(crate) async fn describe(control: &aws_sdk_s3control::Client, id: &str) -> JobDescriptor {
    testkit::describe_job(control, DEFAULT_ACCOUNT, id)
        .await
        .unwrap()
}

/// Polls until the job reaches `want` (or any terminal status when `want` is None).
pub(crate) async fn wait_for(
    control: &aws_sdk_s3control::Client,
    id: &str,
    want: Option<JobStatus>,
) -> JobDescriptor {
    testkit::wait_for_job(control, DEFAULT_ACCOUNT, id, want)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One report row: (bucket, key, version, status, http, code, message).
pub(crate) type Row = (String, String, String, String, String, String, String);

pub(crate) async fn read_report(s3: &aws_sdk_s3::Client, bucket: &str, id: &str) -> Vec<Row> {
    let manifest_key = format!("reports/job-{id}/manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&get_object(s3, bucket, &manifest_key).await).unwrap();
    assert_eq!(manifest["Format"], "Report_CSV_20180820");
    let mut rows = Vec::new();
    for r in manifest["Results"].as_array().unwrap() {
        let key = r["Key"].as_str().unwrap().to_owned();
        assert!(
            key.starts_with(&format!("reports/job-{id}/results/")),
            "{key}"
        );
        assert!(key.ends_with(".csv"));
        let body = get_object(s3, bucket, &key).await;
        assert_eq!(r["MD5Checksum"], hex::encode(Md5::digest(&body)));
        // Every field is quoted, as AWS writes them.
        assert!(body.starts_with(b"\""));
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(body.as_slice());
        for rec in rdr.deserialize::<Row>() {
            let rec = rec.unwrap();
            assert_eq!(rec.3, r["TaskExecutionStatus"].as_str().unwrap());
            rows.push(rec);
        }
    }
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    rows
}
