//! create-bucket (S3: ListBuckets, CreateBucket, the tags, seven setting reads, a put per
//! differing setting with the policy last, the seven reads again).

use faults::{Fault, FaultEndpoint, Proxy, Request, Rule};
use harness::Moto;
use serde_json::{Value, json};

use crate::matrix::{Case, run_cases};
use crate::support::{Env, Service, renamed, report, run};

const STEP: &str = "create-bucket";
const ROLE: &str = "arn:aws:iam::123456789012:role/break-glass";

/// The event of one case: its own `bucket_prefix`, hence its own bucket.
fn event(prefix: &str) -> Value {
    json!({
        "source_bucket": "lake-prod",
        "backup_date": "2021-03-31",
        "bucket_prefix": prefix,
        "retention": {"mode": "GOVERNANCE", "days": 1},
        "break_glass_role_arns": [ROLE],
    })
}

fn bucket(prefix: &str) -> String {
    format!("{prefix}-lake-prod-31-mar-2021")
}

fn is_policy_read(r: &Request) -> bool {
    r.method == "GET" && r.has_query_key("policy")
}

fn is_lock_read(r: &Request) -> bool {
    r.method == "GET" && r.has_query_key("object-lock")
}

/// A result without what depends on the run's history (`created`, `changed`).
fn settled(out: &Value) -> Value {
    let mut out = out.clone();
    if let Value::Object(m) = &mut out {
        m.remove("created");
        m.remove("changed");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_bucket_answers_transient_in_bounded_time_and_a_rerun_finishes_one_bucket() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let env = Env::new(&moto.endpoint);
    let clean = run(STEP, &env, &event("clean")).await.output();
    assert_eq!(clean["created"], true, "{clean}");

    let up = &moto.endpoint;
    // (prefix, label, endpoint, whether the faulted run got as far as creating the bucket)
    let cases = vec![
        (
            "hole",
            Case::new(
                "black hole",
                FaultEndpoint::black_hole().await.unwrap(),
                &event("hole"),
            ),
            false,
        ),
        (
            "slow",
            Case::new(
                "503 SlowDown",
                FaultEndpoint::slow_down().await.unwrap(),
                &event("slow"),
            ),
            false,
        ),
        // Everything applied; the read-back of the policy loses its answer.
        (
            "cut",
            Case::new(
                "cut body (policy read-back)",
                Proxy::start(
                    up,
                    Rule::from_nth_matching(Fault::CutBody, 2, is_policy_read),
                )
                .await
                .unwrap(),
                &event("cut"),
            ),
            true,
        ),
        // Created and tagged; the first read of its settings stalls.
        (
            "stall",
            Case::new(
                "stalled body (lock read)",
                Proxy::start(up, Rule::matching(Fault::StallBody, is_lock_read))
                    .await
                    .unwrap(),
                &event("stall"),
            ),
            true,
        ),
        // ListBuckets and CreateBucket get through: a bare bucket of ours, not yet tagged.
        (
            "killed",
            Case::new(
                "killed after CreateBucket",
                Proxy::killed_after(up, 2).await.unwrap(),
                &event("killed"),
            ),
            true,
        ),
    ];
    let prefixes: Vec<(&str, bool)> = cases.iter().map(|(p, _, made)| (*p, *made)).collect();
    let ran = run_cases(
        STEP,
        Service::S3,
        &env,
        cases.into_iter().map(|(_, c, _)| c).collect(),
    )
    .await;
    report(ran.iter().map(|r| &r.cell));

    // Recovered: each case's bucket ends as the clean one did, and there is one of it.
    for (prefix, made) in prefixes {
        let out = run(STEP, &env, &event(prefix)).await.output();
        assert_eq!(out["created"], !made, "{prefix}: {out}");
        let names = [(bucket(prefix), bucket("clean"))];
        let names: Vec<(&str, &str)> = names
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(renamed(&settled(&out), &names), settled(&clean), "{prefix}");
        let again = run(STEP, &env, &event(prefix)).await.output();
        assert_eq!(
            again["changed"],
            json!([]),
            "{prefix}: a second re-run changes nothing"
        );
    }
    let mut buckets: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    buckets.sort();
    let mut want: Vec<String> = ["clean", "cut", "hole", "killed", "slow", "stall"]
        .iter()
        .map(|p| bucket(p))
        .collect();
    want.sort();
    assert_eq!(buckets, want, "one bucket per case, nothing else");
}
