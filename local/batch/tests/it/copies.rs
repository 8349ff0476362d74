//! Copying: what reaches the target, and the completion report.

use std::collections::HashMap;

use aws_sdk_s3control::types::{
    JobManifestFormat, JobOperation, JobStatus, S3CopyObjectOperation, S3MetadataDirective,
    S3ObjectMetadata, S3StorageClass,
};
use local_batch::testkit::write_inventory;

use crate::support::{
    ROLE, bucket, copy_job, one_object, put, read_report, setup, submit, wait_for,
};

#[tokio::test]
async fn an_inventory_job_copies_every_listed_object_and_reports_the_oversize_and_deleted_ones() {
    let env = setup(|c| c.max_copy_bytes = 100).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let inv = bucket(s3, "inv").await;
    let dst = bucket(s3, "dst").await;
    let rep = bucket(s3, "rep").await;
    let keys = [
        "a.txt",
        "dir/with space+plus.parquet",
        "big.bin",
        "deleted.txt",
        "_delta_log/00000000000000000000.json",
    ];
    for k in keys {
        let body: &[u8] = if k == "big.bin" {
            &[7u8; 200]
        } else {
            b"hello"
        };
        put(s3, &src, k, body).await;
    }
    let listed: Vec<(String, i64)> = keys.iter().map(|k| ((*k).to_owned(), 5)).collect();
    // Two rows per data file: three gzip files.
    let manifest = write_inventory(s3, &inv, "inventory", &src, &listed, 2)
        .await
        .unwrap();
    s3.delete_object()
        .bucket(&src)
        .key("deleted.txt")
        .send()
        .await
        .unwrap();

    let id = submit(copy_job(
        &env.control,
        "token-1",
        &manifest,
        JobManifestFormat::S3InventoryReportCsv20161130,
        &dst,
        &rep,
    ))
    .await;

    let job = wait_for(&env.control, &id, None).await;
    assert_eq!(job.status, Some(JobStatus::Complete));
    let p = job.progress_summary.unwrap();
    assert_eq!(p.total_number_of_tasks, Some(5));
    assert_eq!(p.number_of_tasks_succeeded, Some(3));
    assert_eq!(p.number_of_tasks_failed, Some(2));
    assert_eq!(job.description.as_deref(), Some("test job"));
    assert_eq!(job.role_arn.as_deref(), Some(ROLE));
    assert!(job.termination_date.is_some());
    // The manifest and operation echo back as sent.
    let loc = job.manifest.unwrap().location.unwrap();
    assert_eq!(loc.e_tag, manifest.etag);
    assert!(job.operation.unwrap().s3_put_object_copy.is_some());

    for k in [
        "a.txt",
        "dir/with space+plus.parquet",
        "_delta_log/00000000000000000000.json",
    ] {
        let h = s3.head_object().bucket(&dst).key(k).send().await.unwrap();
        assert_eq!(h.content_type(), Some("text/plain"), "{k}");
        assert_eq!(
            h.metadata()
                .and_then(|m| m.get("owner"))
                .map(String::as_str),
            Some("lake-team"),
            "{k}"
        );
    }
    for k in ["big.bin", "deleted.txt"] {
        assert!(
            s3.head_object().bucket(&dst).key(k).send().await.is_err(),
            "{k}"
        );
    }

    let rows = read_report(s3, &rep, &id).await;
    let enc = local_batch::testkit::encode_key;
    let ok = |k: &str| {
        (
            src.clone(),
            enc(k),
            String::new(),
            "succeeded".to_owned(),
            "200".to_owned(),
            String::new(),
            "Successful".to_owned(),
        )
    };
    let mut want = vec![
        ok("a.txt"),
        ok("dir/with space+plus.parquet"),
        ok("_delta_log/00000000000000000000.json"),
        (
            src.clone(),
            "big.bin".to_owned(),
            String::new(),
            "failed".to_owned(),
            "400".to_owned(),
            "InvalidRequest".to_owned(),
            "The specified copy source is larger than the maximum allowable size for a copy source: 100".to_owned(),
        ),
        (
            src.clone(),
            "deleted.txt".to_owned(),
            String::new(),
            "failed".to_owned(),
            "404".to_owned(),
            "NoSuchKey".to_owned(),
            "The specified key does not exist.".to_owned(),
        ),
    ];
    want.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(rows, want);
}

#[tokio::test]
async fn replaced_metadata_storage_class_and_key_prefix_reach_the_copies() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let one = one_object(s3).await;
    let op = S3CopyObjectOperation::builder()
        .target_resource(format!("arn:aws:s3:::{}", one.dst))
        .target_key_prefix("copied")
        .storage_class(S3StorageClass::GlacierIr)
        .metadata_directive(S3MetadataDirective::Replace)
        .new_object_metadata(
            S3ObjectMetadata::builder()
                .content_type("application/x-test")
                .user_metadata("copied-by", "batch")
                .build(),
        )
        .build();
    let id = submit(
        one.job(&env.control, "t")
            .operation(JobOperation::builder().s3_put_object_copy(op).build()),
    )
    .await;
    assert_eq!(
        wait_for(&env.control, &id, None).await.status,
        Some(JobStatus::Complete)
    );
    let h = s3
        .head_object()
        .bucket(&one.dst)
        .key("copied/k")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_type(), Some("application/x-test"));
    let meta: HashMap<String, String> = h.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("copied-by").map(String::as_str), Some("batch"));
    assert_eq!(h.storage_class().map(|s| s.as_str()), Some("GLACIER_IR"));
}
