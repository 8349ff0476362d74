//! submit-job (S3 Control: ListJobs, then CreateJob with a deterministic ClientRequestToken),
//! against the local S3 Batch Operations.

use faults::Request;

use crate::batch::Batch;
use crate::matrix::{five_faults, run_cases};
use crate::support::{Service, renamed, report, run};

const STEP: &str = "submit-job";

fn is_create_job(r: &Request) -> bool {
    r.method == "POST" && r.path() == "/v20180820/jobs"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_job_answers_transient_in_bounded_time_and_a_rerun_leaves_one_job() {
    let w = Batch::start().await;
    let env = w.env();
    let clean = w.snapshot("clean").await;
    let out = run(STEP, &env, &clean.event).await.output();
    assert_eq!(out["created"], true, "{out}");
    let clean_job = w
        .job_definition(out["job_id"].as_str().expect("a job id"))
        .await;

    let up = &w.batch.url;
    let mut snapshots = Vec::new();
    for tag in ["hole", "slow", "cut", "stall", "killed"] {
        snapshots.push(w.snapshot(tag).await);
    }
    // Cut and stalled: the job is created, every answer to CreateJob (the SDK's retries too) is
    // lost. Killed: ListJobs gets through, CreateJob never arrives.
    let event = |i: usize| snapshots[i].event.clone();
    let killed = ("killed after ListJobs", 1);
    let cases = five_faults(up, ("CreateJob", is_create_job), killed, event).await;
    // Whether the faulted run got as far as creating the job.
    let made = [false, false, true, true, false];
    let ran = run_cases(STEP, Service::S3Control, &env, cases).await;
    report(ran.iter().map(|r| &r.cell));

    // Recovered: one job per snapshot, the one the faulted run made if it made one, defined as
    // the clean run's is.
    for (s, made) in snapshots.iter().zip(made) {
        let before = w.jobs_of(&s.snapshot).await;
        assert_eq!(
            before.len(),
            usize::from(made),
            "{}: {before:?}",
            s.snapshot
        );
        let out = run(STEP, &env, &s.event).await.output();
        assert_eq!(out["created"], !made, "{}: {out}", s.snapshot);
        let id = out["job_id"].as_str().expect("a job id").to_owned();
        assert_eq!(
            w.jobs_of(&s.snapshot).await,
            std::slice::from_ref(&id),
            "{}",
            s.snapshot
        );
        let job = w.job_definition(&id).await;
        assert_eq!(
            renamed(&job, &s.names_onto(&clean)),
            clean_job,
            "{}",
            s.snapshot
        );
        let again = run(STEP, &env, &s.event).await.output();
        assert_eq!(
            again["job_id"],
            id.as_str(),
            "{}: the same job again",
            s.snapshot
        );
        assert_eq!(again["created"], false, "{}", s.snapshot);
    }
}
