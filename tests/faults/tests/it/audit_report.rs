//! audit-report (S3: GetObject of the report's manifest.json through `kit::body::read_capped`,
//! one streamed GetObject per result file, PutObject of the oversize list and of the record).

use aws_sdk_s3::primitives::ByteStream;
use faults::{Fault, FaultEndpoint, Outcome, Proxy, Request, Rule};
use harness::{Moto, unique_bucket};
use md5::{Digest, Md5};
use serde_json::{Value, json};

use crate::matrix::{Case, run_cases};
use crate::support::{Env, Service, renamed, report, run};

const STEP: &str = "audit-report";
const JOB: &str = "f8fb9d89-a3aa-461d-bddc-ea6a1b131955";
/// Rows of the succeeded result file: enough that half of it ends mid-file.
const SUCCEEDED_ROWS: usize = 200;
const OVERSIZE_MSG: &str = "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120";

/// What a finished audit leaves under the job's report prefix.
const REPORT_OBJECTS: [&str; 5] = [
    "lakevault-audit.json",
    "lakevault-oversize.csv",
    "manifest.json",
    "results/0.csv",
    "results/1.csv",
];

fn base(prefix: &str) -> String {
    format!("{prefix}/job-{JOB}")
}

fn is_result_read(r: &Request) -> bool {
    r.method == "GET" && r.path().contains("/results/")
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

/// A completion report as S3 writes it, under `prefix`: a file of succeeded tasks and one of
/// failed ones (an oversize object, a vacuumed one), listed with their MD5s.
async fn write_report(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) {
    let succeeded: String = (0..SUCCEEDED_ROWS)
        .map(|i| {
            format!(
                "lake-prod,tables/events/date%3D2021-03-30/part-{i:05}-c000.snappy.parquet,,succeeded,200,,Successful\n"
            )
        })
        .collect();
    let failed = format!(
        "lake-prod,tables/big/part-00001%2C+huge.parquet,,failed,400,InvalidRequest,\"{OVERSIZE_MSG}\"\n\
         lake-prod,tables/events/date%3D2021-03-01/part-00007-vacuumed.parquet,,failed,404,NoSuchKey,\"The specified key does not exist.\"\n"
    );
    let mut results = Vec::new();
    for (i, (status, csv)) in [("succeeded", succeeded), ("failed", failed)]
        .into_iter()
        .enumerate()
    {
        let key = format!("{}/results/{i}.csv", base(prefix));
        results.push(json!({
            "TaskExecutionStatus": status,
            "Bucket": bucket,
            "MD5Checksum": hex::encode(Md5::digest(csv.as_bytes())),
            "Key": key,
        }));
        put(s3, bucket, &key, csv.into_bytes()).await;
    }
    let manifest = json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2021-04-02T06:12:44.123Z",
        "Results": results,
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    let key = format!("{}/manifest.json", base(prefix));
    put(s3, bucket, &key, manifest.to_string().into_bytes()).await;
}

fn event(bucket: &str, prefix: &str) -> Value {
    let total = SUCCEEDED_ROWS as u64 + 2;
    json!({
        "source_bucket": "lake-prod",
        "backup_date": "2021-03-31",
        "snapshot_bucket": "lake-prod-31-mar-2021",
        "job_id": JOB,
        "report": {"bucket": bucket, "prefix": prefix},
        "job": {"job_id": JOB, "status": "Complete", "total_tasks": total,
                "succeeded_tasks": SUCCEEDED_ROWS, "failed_tasks": 2},
    })
}

/// The keys under a case's report prefix, relative to it, sorted.
async fn objects(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let base = format!("{}/", base(prefix));
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&base)
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(|k| k.trim_start_matches(&base).to_owned())
        .collect();
    keys.sort();
    keys
}

/// moto with a report bucket holding the same report under `reports-<label>` for each label.
async fn world(labels: &[&str]) -> (Moto, aws_sdk_s3::Client, String) {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = unique_bucket("reports");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for p in labels {
        write_report(&s3, &bucket, &format!("reports-{p}")).await;
    }
    (moto, s3, bucket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_report_answers_transient_in_bounded_time_and_a_rerun_writes_one_identical_record() {
    let labels = [
        "hole", "slow", "cutman", "stallman", "cutres", "stallres", "killed",
    ];
    let (moto, s3, bucket) = world(&[&["clean"][..], &labels].concat()).await;
    let env = Env::new(&moto.endpoint);
    let clean = run(STEP, &env, &event(&bucket, "reports-clean"))
        .await
        .output();
    assert_eq!(clean["verdict"], "incomplete", "{clean}");
    assert_eq!(clean["tasks"]["failed"], 2, "{clean}");

    let up = &moto.endpoint;
    let ev = |p: &str| event(&bucket, &format!("reports-{p}"));
    let cases = vec![
        Case::new(
            "black hole",
            FaultEndpoint::black_hole().await.unwrap(),
            &ev("hole"),
        ),
        Case::new(
            "503 SlowDown",
            FaultEndpoint::slow_down().await.unwrap(),
            &ev("slow"),
        ),
        // Its first call is the manifest's GetObject: a standalone endpoint serves it.
        Case::new(
            "cut body (manifest)",
            FaultEndpoint::cut_body().await.unwrap(),
            &ev("cutman"),
        ),
        Case::new(
            "stalled body (manifest)",
            FaultEndpoint::stalled_body().await.unwrap(),
            &ev("stallman"),
        ),
        // The result files are streamed into the audit core on a blocking thread.
        Case::new(
            "cut body (result file)",
            Proxy::start(up, Rule::matching(Fault::CutBody, is_result_read))
                .await
                .unwrap(),
            &ev("cutres"),
        ),
        Case::new(
            "stalled body (result file)",
            Proxy::start(up, Rule::matching(Fault::StallBody, is_result_read))
                .await
                .unwrap(),
            &ev("stallres"),
        ),
        // The manifest, both result files and the oversize list get through; the record's
        // PutObject finds the server gone.
        Case::new(
            "killed before the record",
            Proxy::killed_after(up, 4).await.unwrap(),
            &ev("killed"),
        ),
    ];
    let ran = run_cases(STEP, Service::S3, &env, cases).await;
    report(ran.iter().map(|r| &r.cell));
    let forwarded: Vec<&str> = ran[6]
        .exchanges
        .iter()
        .filter(|e| matches!(e.outcome, Outcome::Forwarded(_)))
        .map(|e| e.request.as_str())
        .collect();
    assert_eq!(forwarded.len(), 4, "{forwarded:?}");
    assert!(
        forwarded
            .last()
            .is_some_and(|r| r.starts_with("PUT ") && r.contains("lakevault-oversize.csv")),
        "the oversize list was written before the server died: {forwarded:?}"
    );

    // Recovered: the same record as the clean run's, once, beside the report.
    for p in labels {
        let prefix = format!("reports-{p}");
        let before = objects(&s3, &bucket, &prefix).await;
        assert!(
            !before.iter().any(|k| k == "lakevault-audit.json"),
            "{p}: no record from a run that failed: {before:?}"
        );
        let out = run(STEP, &env, &event(&bucket, &prefix)).await.output();
        assert_eq!(renamed(&out, &[(&prefix, "reports-clean")]), clean, "{p}");
        assert_eq!(objects(&s3, &bucket, &prefix).await, REPORT_OBJECTS, "{p}");
        let stored = s3
            .get_object()
            .bucket(&bucket)
            .key(format!("{}/lakevault-audit.json", base(&prefix)))
            .send()
            .await
            .unwrap();
        let stored: Value =
            serde_json::from_slice(&stored.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(stored, out, "{p}: the stored record is the answer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_report_answers_a_trickled_report_transient_in_bounded_time() {
    let (moto, _, bucket) = world(&["trickleman", "trickleres"]).await;
    let env = Env::new(&moto.endpoint);
    let cases = vec![
        Case::new(
            "trickled body (manifest)",
            FaultEndpoint::trickled_body().await.unwrap(),
            &event(&bucket, "reports-trickleman"),
        ),
        Case::new(
            "trickled body (result file)",
            Proxy::start(
                &moto.endpoint,
                Rule::matching(Fault::TrickleBody, is_result_read),
            )
            .await
            .unwrap(),
            &event(&bucket, "reports-trickleres"),
        ),
    ];
    let ran = run_cases(STEP, Service::S3, &env, cases).await;
    report(ran.iter().map(|r| &r.cell));
}
