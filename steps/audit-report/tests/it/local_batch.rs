//! End to end: a copy job run by the local S3 Batch Operations (`local-batch`) against moto,
//! then its real completion report audited.

use audit_report::{AuditReport, FailureClass, Verdict};
use aws_sdk_s3control::types::{JobManifestFieldName, JobManifestFormat, JobStatus};
use harness::{DEFAULT_ACCOUNT, Moto, unique_bucket};
use kit::Step;
use local_batch::BatchConfig;
use local_batch::testkit::{self, write_csv_manifest};
use serde_json::json;

async fn bucket(s3: &aws_sdk_s3::Client, prefix: &str) -> String {
    let b = unique_bucket(prefix);
    s3.create_bucket().bucket(&b).send().await.unwrap();
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audits_a_report_from_the_local_batch_operations() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let mut config = BatchConfig::new(s3.clone());
    // A small copy limit stands in for 5 GiB, so one small object is "oversize".
    config.max_copy_bytes = 1024;
    let batch = local_batch::spawn(config).await.unwrap();
    let control = batch.s3control(&moto.sdk_config());

    let source = bucket(&s3, "lake-prod").await;
    let snapshot = bucket(&s3, "snapshot").await;
    let reports = bucket(&s3, "reports").await;
    let present = [
        "tables/events/date=2021-03-30/part-00000-a.c000.snappy.parquet",
        "tables/events/_delta_log/00000000000000000007.json",
        "tables/odd/with,comma \"quote\" +plus é.parquet",
    ];
    for k in present {
        s3.put_object()
            .bucket(&source)
            .key(k)
            .body(b"small".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let big = "tables/big/part-00001 huge.parquet";
    s3.put_object()
        .bucket(&source)
        .key(big)
        .body(vec![b'x'; 4096].into())
        .send()
        .await
        .unwrap();
    // Listed in the manifest, gone before the copy: vacuumed.
    let vacuumed = "tables/events/date=2021-03-01/part-00007-vacuumed.parquet";
    let mut keys: Vec<String> = present.iter().map(|k| k.to_string()).collect();
    keys.push(big.into());
    keys.push(vacuumed.into());
    let manifest = write_csv_manifest(&s3, &reports, "manifests/m.csv", &source, &keys)
        .await
        .unwrap();

    let created = testkit::copy_job(
        &control,
        DEFAULT_ACCOUNT,
        manifest.job_manifest(
            JobManifestFormat::S3BatchOperationsCsv20180820,
            &[JobManifestFieldName::Bucket, JobManifestFieldName::Key],
        ),
        testkit::copy_into(&snapshot).build(),
        &reports,
        "batch-reports",
    )
    .client_request_token("audit-e2e")
    .send()
    .await
    .unwrap();
    let job_id = created.job_id().unwrap().to_owned();

    let job = testkit::wait_for_job(&control, DEFAULT_ACCOUNT, &job_id, None)
        .await
        .expect("the job finishes");
    assert_eq!(job.status(), Some(&JobStatus::Complete));
    let p = job.progress_summary().unwrap();

    let step = AuditReport::new(s3.clone());
    let rec = step
        .handle(
            serde_json::from_value(json!({
                "source_bucket": source, "backup_date": "2021-03-31",
                "snapshot_bucket": snapshot, "job_id": job_id,
                "report": {"bucket": reports, "prefix": "batch-reports"},
                "job": {"job_id": job_id, "status": "Complete", "finished": true,
                        "total_tasks": p.total_number_of_tasks(),
                        "succeeded_tasks": p.number_of_tasks_succeeded(),
                        "failed_tasks": p.number_of_tasks_failed()},
            }))
            .unwrap(),
        )
        .await
        .unwrap();

    assert_eq!(rec.verdict, Verdict::Incomplete, "{rec:#?}");
    assert_eq!(
        (
            rec.tasks.total,
            rec.tasks.succeeded,
            rec.tasks.failed,
            rec.tasks.unparsed
        ),
        (5, 3, 2, 0)
    );
    assert!(rec.cross_check.as_ref().unwrap().agrees, "{rec:#?}");
    assert_eq!(
        rec.failure_classes,
        [FailureClass::Oversize, FailureClass::SourceMissing]
    );
    assert_eq!(rec.failures.oversize.sample_keys, [big]);
    assert_eq!(rec.failures.source_missing.sample_keys, [vacuumed]);
    let m = rec.oversize_manifest.as_ref().unwrap();
    let body = harness::get_object(&s3, &m.bucket, &m.key).await;
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!("{source},tables/big/part-00001%20huge.parquet\n")
    );
}
