//! create-bucket (S3: ListBuckets, CreateBucket, the tags, eight setting reads, a put per
//! differing setting with the policy last, the seven reads again).

use faults::{Fault, FaultEndpoint, Proxy, Request, Rule};
use harness::Moto;
use serde_json::{Value, json};

use crate::matrix::{Case, run_cases};
use crate::support::{Env, Service, renamed, report, run};

const STEP: &str = "create-bucket";
const ROLE: &str = "arn:aws:iam::123456789012:role/break-glass";

/// The event of one case: its own `bucket_prefix`, hence its own bucket, in `region`.
fn event(prefix: &str, region: &str) -> Value {
    json!({
        "source_bucket": "lake-prod",
        "backup_date": "2021-03-31",
        "bucket_prefix": prefix,
        "region": region,
        "retention": {"mode": "GOVERNANCE", "days": 1},
        "break_glass_role_arns": [ROLE],
    })
}

fn bucket(prefix: &str) -> String {
    format!("{prefix}-lake-prod-31-mar-2021")
}

/// One case's bucket: its prefix, its region, whether the faulted run got as far as creating
/// it.
struct Spec {
    prefix: &'static str,
    region: &'static str,
    made: bool,
}

impl Spec {
    fn event(&self) -> Value {
        event(self.prefix, self.region)
    }

    /// The clean run this case must end like: the one in its region.
    fn reference(&self) -> &'static str {
        if self.region == EAST {
            "clean"
        } else {
            "cleanwest"
        }
    }
}

const EAST: &str = "us-east-1";
/// Buckets outside the step's region go through a client of their own (`client_for`).
const WEST: &str = "eu-west-1";

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
    let mut clean = std::collections::BTreeMap::new();
    for (prefix, region) in [("clean", EAST), ("cleanwest", WEST)] {
        let out = run(STEP, &env, &event(prefix, region)).await.output();
        assert_eq!(out["created"], true, "{out}");
        assert_eq!(out["region"], region, "{out}");
        clean.insert(prefix, out);
    }

    let up = &moto.endpoint;
    let spec = |prefix, region, made| Spec {
        prefix,
        region,
        made,
    };
    let specs = [
        spec("hole", EAST, false),
        spec("slow", EAST, false),
        spec("cut", EAST, true),
        spec("stall", EAST, true),
        spec("stallwest", WEST, true),
        spec("killed", EAST, true),
    ];
    let cases = vec![
        Case::new(
            "black hole",
            FaultEndpoint::black_hole().await.unwrap(),
            &specs[0].event(),
        ),
        Case::new(
            "503 SlowDown",
            FaultEndpoint::slow_down().await.unwrap(),
            &specs[1].event(),
        ),
        // Everything applied; the read-back of the policy loses its answer.
        Case::new(
            "cut body (policy read-back)",
            Proxy::start(
                up,
                Rule::from_nth_matching(Fault::CutBody, 2, is_policy_read),
            )
            .await
            .unwrap(),
            &specs[2].event(),
        ),
        // Created; the first read of its settings stalls.
        Case::new(
            "stalled body (lock read)",
            Proxy::start(up, Rule::matching(Fault::StallBody, is_lock_read))
                .await
                .unwrap(),
            &specs[3].event(),
        ),
        Case::new(
            "stalled body (lock read, eu-west-1)",
            Proxy::start(up, Rule::matching(Fault::StallBody, is_lock_read))
                .await
                .unwrap(),
            &specs[4].event(),
        ),
        // ListBuckets and CreateBucket get through: a bare bucket of ours, not yet tagged.
        Case::new(
            "killed after CreateBucket",
            Proxy::killed_after(up, 2).await.unwrap(),
            &specs[5].event(),
        ),
    ];
    let ran = run_cases(STEP, Service::S3, &env, cases).await;
    report(ran.iter().map(|r| &r.cell));

    // Recovered: each case's bucket ends as the clean one of its region did, and there is one
    // of it.
    for s in &specs {
        let out = run(STEP, &env, &s.event()).await.output();
        assert_eq!(out["created"], !s.made, "{}: {out}", s.prefix);
        let (from, to) = (bucket(s.prefix), bucket(s.reference()));
        assert_eq!(
            renamed(&settled(&out), &[(&from, &to)]),
            settled(&clean[s.reference()]),
            "{}",
            s.prefix
        );
        let again = run(STEP, &env, &s.event()).await.output();
        assert_eq!(
            again["changed"],
            json!([]),
            "{}: a second re-run changes nothing",
            s.prefix
        );
    }
    let mut buckets = harness::bucket_names(&s3).await;
    buckets.sort();
    let mut want: Vec<String> = clean
        .keys()
        .copied()
        .chain(specs.iter().map(|s| s.prefix))
        .map(bucket)
        .collect();
    want.sort();
    assert_eq!(buckets, want, "one bucket per case, nothing else");
}
