//! copy-parts against moto: parallel copies under a time budget, resumed by ListParts (no part
//! copied twice, after a budget or a transient fault), the headers of each UploadPartCopy, a
//! source changed or an upload gone, and the binary.

use std::time::Duration;

use copy_parts::{CopyParts, Settings};
use kit::entry::invoke;
use plan_large_copy::layout;
use serde_json::{Value, json};

use crate::support::{
    KEY, Moto, PART, Recorder, SIZE, buckets, bytes, plan, plan_event, put_source, recorded_s3,
};

/// copy-parts with `parallelism` and a budget; ListParts pages of 2 parts (the pagination is
/// exercised by every listing of more than two parts).
pub(crate) fn copier(s3: &aws_sdk_s3::Client, parallelism: usize, budget: Duration) -> CopyParts {
    CopyParts::new(
        s3.clone(),
        Settings {
            parallelism,
            budget,
            list_page_size: 2,
        },
    )
}

/// A source of 6 parts and its plan.
async fn planned(s3: &aws_sdk_s3::Client, seed: u64) -> Value {
    let (src, snap) = buckets(s3).await;
    put_source(s3, &src, KEY, bytes(SIZE, seed)).await;
    plan(s3, plan_event(&src, KEY, &snap)).await
}

/// The plan with copy-parts' previous answer as its cursor.
fn with_cursor(plan: &Value, cursor: Option<&Value>) -> Value {
    let mut e = plan.clone();
    if let Some(c) = cursor {
        e["cursor"] = c.clone();
    }
    e
}

/// The parts the upload holds.
async fn listed(s3: &aws_sdk_s3::Client, plan: &Value) -> Vec<u64> {
    let parts = plan_large_copy::uploads::list_parts(
        s3,
        plan["snapshot_bucket"].as_str().unwrap(),
        plan["key"].as_str().unwrap(),
        plan["upload_id"].as_str().unwrap(),
        1000,
    )
    .await
    .expect("ListParts")
    .expect("the upload");
    parts.keys().copied().collect()
}

#[tokio::test]
async fn a_spent_budget_copies_one_wave_per_invocation_and_no_part_twice() {
    let moto = Moto::start_local_stack();
    let rec = Recorder::default();
    let s3 = recorded_s3(&moto, &rec);
    let plan = planned(&s3, 11).await;
    let step = copier(&s3, 2, Duration::ZERO);
    let mut answers: Vec<Value> = Vec::new();
    for _ in 0..10 {
        let out = invoke(&step, with_cursor(&plan, answers.last()))
            .await
            .unwrap_or_else(|d| panic!("{}: {}", d.error_type, d.error_message));
        let done = out["done"] == json!(true);
        answers.push(out);
        if done {
            break;
        }
    }
    let progress: Vec<(u64, u64, u64)> = answers
        .iter()
        .map(|a| {
            (
                a["invocation"].as_u64().unwrap(),
                a["parts_done"].as_u64().unwrap(),
                a["copied_now"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(progress, [(1, 2, 2), (2, 4, 2), (3, 6, 2)], "{answers:?}");
    let last = answers.last().unwrap();
    assert_eq!(last["parts_total"], json!(6));
    assert_eq!(last["bytes_done"], json!(SIZE));
    assert_eq!(rec.answered("UploadPartCopy"), 6);
    assert_eq!(rec.parts_sent(), [1, 2, 3, 4, 5, 6], "each part once");
    assert_eq!(listed(&s3, &plan).await, [1, 2, 3, 4, 5, 6]);

    // Done is done: another call lists the parts and copies nothing.
    let again = invoke(&step, with_cursor(&plan, Some(last))).await.unwrap();
    assert_eq!(again["done"], json!(true));
    assert_eq!(again["copied_now"], json!(0));
    assert_eq!(again["invocation"], json!(4));
    assert_eq!(rec.answered("UploadPartCopy"), 6);

    // Each part: the key URL-encoded in x-amz-copy-source (slashes kept), its byte range, and
    // copied only if the source still has the planned ETag.
    let src = plan["source_bucket"].as_str().unwrap();
    let etag = plan["source_etag"].as_str().unwrap();
    for sent in rec.sent("UploadPartCopy") {
        let n: u64 = sent.query("partNumber").unwrap().parse().unwrap();
        assert_eq!(
            sent.header("x-amz-copy-source"),
            Some(
                format!("{src}/events/date%3D2021-03-31/part%200%2B1%20100%25%20%C3%A9.parquet")
                    .as_str()
            )
        );
        assert_eq!(
            sent.header("x-amz-copy-source-range"),
            Some(layout::copy_source_range(SIZE as u64, PART, n).as_str())
        );
        assert_eq!(
            sent.header("x-amz-copy-source-if-match"),
            Some(format!("\"{etag}\"").as_str())
        );
    }
    // ListParts went through its pages (2 parts each) every time.
    assert!(
        rec.sent("ListParts").len() >= 4 + 3,
        "{}",
        rec.sent("ListParts").len()
    );
}

#[tokio::test]
async fn a_transient_fault_mid_way_is_resumed_without_copying_a_part_twice() {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let plan = planned(&s3, 12).await;
    // The network fails from the 4th UploadPartCopy on (every SDK retry too).
    let faulty = Recorder::failing("UploadPartCopy", 4);
    let err = invoke(
        &copier(&recorded_s3(&moto, &faulty), 3, Duration::from_secs(600)),
        plan.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type, "Transient", "{}", err.error_message);
    assert!(
        err.error_message.contains("UploadPartCopy"),
        "{}",
        err.error_message
    );
    assert_eq!(faulty.answered("UploadPartCopy"), 3);
    assert_eq!(listed(&s3, &plan).await, [1, 2, 3]);

    // The retry (Step Functions' Retry on Transient) copies only what is missing.
    let rec = Recorder::default();
    let out = invoke(
        &copier(&recorded_s3(&moto, &rec), 16, Duration::from_secs(600)),
        plan.clone(),
    )
    .await
    .unwrap();
    assert_eq!(out["done"], json!(true));
    assert_eq!(out["copied_now"], json!(3));
    assert_eq!(rec.parts_sent(), [4, 5, 6]);
    assert_eq!(listed(&s3, &plan).await, [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn a_source_changed_or_deleted_since_the_plan_is_source_changed() {
    let moto = Moto::start_local_stack();
    let rec = Recorder::default();
    let s3 = recorded_s3(&moto, &rec);
    let plan = planned(&s3, 13).await;
    let step = copier(&s3, 2, Duration::ZERO);
    let first = invoke(&step, plan.clone()).await.unwrap();
    assert_eq!(first["parts_done"], json!(2));
    let src = plan["source_bucket"].as_str().unwrap();
    put_source(&s3, src, KEY, bytes(SIZE, 14)).await;
    let err = invoke(&step, with_cursor(&plan, Some(&first)))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "SourceChanged", "{}", err.error_message);
    assert!(err.error_message.contains("ETag"), "{}", err.error_message);
    assert_eq!(
        rec.answered("UploadPartCopy"),
        2,
        "nothing copied from the new version"
    );

    s3.delete_object()
        .bucket(src)
        .key(KEY)
        .send()
        .await
        .unwrap();
    let err = invoke(&step, plan.clone()).await.unwrap_err();
    assert_eq!(err.error_type, "SourceChanged", "{}", err.error_message);
    assert!(
        err.error_message.contains("deleted"),
        "{}",
        err.error_message
    );
}

#[tokio::test]
async fn an_upload_gone_is_upload_not_found_and_an_existing_copy_needs_no_request() {
    let moto = Moto::start_local_stack();
    let rec = Recorder::default();
    let s3 = recorded_s3(&moto, &rec);
    let plan = planned(&s3, 15).await;
    s3.abort_multipart_upload()
        .bucket(plan["snapshot_bucket"].as_str().unwrap())
        .key(KEY)
        .upload_id(plan["upload_id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let step = copier(&s3, 16, Duration::from_secs(600));
    let err = invoke(&step, plan.clone()).await.unwrap_err();
    assert_eq!(err.error_type, "UploadNotFound", "{}", err.error_message);

    let mut copied = plan.clone();
    copied["upload_id"] = Value::Null;
    copied["already_copied"] = json!(true);
    let before = rec.sent("HeadObject").len() + rec.sent("ListParts").len();
    let out = invoke(&step, copied).await.unwrap();
    assert_eq!(out["done"], json!(true));
    assert_eq!(out["parts_done"], json!(6));
    assert_eq!(out["bytes_done"], json!(SIZE));
    assert_eq!(
        rec.sent("HeadObject").len() + rec.sent("ListParts").len(),
        before
    );
}

#[tokio::test]
async fn the_binary_copies_with_its_environment() {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let plan = planned(&s3, 16).await;
    let bin = env!("CARGO_BIN_EXE_copy-parts");
    let mut env = moto.env();
    env.push(("LAKEVAULT_COPY_PARALLELISM".into(), "4".into()));
    env.push(("LAKEVAULT_COPY_BUDGET_SECONDS".into(), "0".into()));
    let (code, out) = harness::run_step_binary(bin, &env, plan.to_string()).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        (out["done"].clone(), out["parts_done"].clone()),
        (json!(false), json!(4))
    );
    let (code, out) =
        harness::run_step_binary(bin, &env, with_cursor(&plan, Some(&out)).to_string()).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["done"], json!(true));
    assert_eq!(out["invocation"], json!(2));
    let mut bad = moto.env();
    bad.push(("LAKEVAULT_COPY_PARALLELISM".into(), "0".into()));
    let (code, out) = harness::run_step_binary(bin, &bad, plan.to_string()).await;
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(out["errorType"], json!("ConfigurationError"));
}
