//! await-job (S3 Control: one DescribeJob), against the local S3 Batch Operations.

use aws_sdk_s3control::types::JobStatus;
use faults::Request;
use harness::DEFAULT_ACCOUNT;
use serde_json::json;

use crate::batch::Batch;
use crate::matrix::{five_faults, run_cases};
use crate::support::{Service, report, run};

const STEP: &str = "await-job";

fn is_describe_job(r: &Request) -> bool {
    r.method == "GET" && r.path().starts_with("/v20180820/jobs/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn await_job_answers_transient_in_bounded_time_and_a_rerun_reports_the_same_job() {
    let w = Batch::start().await;
    let env = w.env();
    let s = w.snapshot("await").await;
    let submitted = run("submit-job", &env, &s.event).await.output();
    let id = submitted["job_id"].as_str().expect("a job id").to_owned();
    assert_eq!(w.finished(&id).await, JobStatus::Complete);
    let event = json!({"account_id": DEFAULT_ACCOUNT, "job_id": id});
    let clean = run(STEP, &env, &event).await.output();
    assert_eq!(clean["finished"], true, "{clean}");

    let up = &w.batch.url;
    // Its only request finds the server gone.
    let killed = ("killed at once", 0);
    let cases = five_faults(up, ("DescribeJob", is_describe_job), killed, |_| {
        event.clone()
    })
    .await;
    let ran = run_cases(STEP, Service::S3Control, &env, cases).await;
    report(ran.iter().map(|r| &r.cell));

    let again = run(STEP, &env, &event).await.output();
    assert_eq!(again, clean);
}
