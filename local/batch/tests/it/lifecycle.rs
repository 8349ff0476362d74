//! The statuses a job goes through, as DescribeJob and ListJobs show them.

use std::sync::Arc;

use aws_sdk_s3control::types::JobStatus;
use harness::DEFAULT_ACCOUNT;
use tokio::sync::Semaphore;

use crate::support::{describe, one_object, setup, submit, wait_for};

#[tokio::test]
async fn a_job_steps_through_new_preparing_active_complete() {
    let gate = Arc::new(Semaphore::new(0));
    let g = Arc::clone(&gate);
    let env = setup(move |c| c.phase_gate = Some(g)).await;
    let s3 = &env.s3;
    let one = one_object(s3).await;
    let id = submit(one.job(&env.control, "t")).await;
    assert_eq!(
        describe(&env.control, &id).await.status,
        Some(JobStatus::New)
    );
    let listed = env
        .control
        .list_jobs()
        .account_id(DEFAULT_ACCOUNT)
        .job_statuses(JobStatus::New)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.jobs()[0].job_id(), Some(id.as_str()));
    gate.add_permits(1);
    wait_for(&env.control, &id, Some(JobStatus::Preparing)).await;
    gate.add_permits(1);
    let active = wait_for(&env.control, &id, Some(JobStatus::Active)).await;
    assert_eq!(
        active.progress_summary.unwrap().total_number_of_tasks,
        Some(1)
    );

    env.control
        .update_job_priority()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&id)
        .priority(42)
        .send()
        .await
        .unwrap();
    let tags = env
        .control
        .get_job_tagging()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "snapshot");
    assert_eq!(tags.tags()[0].value(), one.dst);

    gate.add_permits(1);
    let done = wait_for(&env.control, &id, None).await;
    assert_eq!(done.status, Some(JobStatus::Complete));
    assert_eq!(done.priority, 42);
    assert!(env.batch.state.config().phase_gate.is_some());
}

#[tokio::test]
async fn a_job_needing_confirmation_stays_suspended_until_ready() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let one = one_object(s3).await;
    let id = submit(one.job(&env.control, "t").confirmation_required(true)).await;
    wait_for(&env.control, &id, Some(JobStatus::Suspended)).await;
    let out = env
        .control
        .update_job_status()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&id)
        .requested_job_status(aws_sdk_s3control::types::RequestedJobStatus::Ready)
        .status_update_reason("approved")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status, Some(JobStatus::Ready));
    let done = wait_for(&env.control, &id, None).await;
    assert_eq!(done.status, Some(JobStatus::Complete));
    assert_eq!(done.status_update_reason.as_deref(), Some("approved"));
    // A finished job cannot be cancelled.
    let err = env
        .control
        .update_job_status()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&id)
        .requested_job_status(aws_sdk_s3control::types::RequestedJobStatus::Cancelled)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_job_status_exception());
}
