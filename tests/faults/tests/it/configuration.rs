//! A timeout variable that is not a number stops a step before it does anything.

use faults::FaultEndpoint;
use futures::future::join_all;
use serde_json::json;

use crate::support::{Env, run};

const STEPS: [&str; 6] = [
    "locate-manifest",
    "create-bucket",
    "submit-job",
    "await-job",
    "audit-report",
    "notify",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_timeout_variable_is_a_configuration_error_with_exit_status_2() {
    // Every service at a black hole: a step that sent a request would hang, not fail fast.
    let hole = FaultEndpoint::black_hole().await.unwrap();
    let env = Env::new(hole.url())
        .short_timeouts()
        .with("LAKEVAULT_ATTEMPT_TIMEOUT_SECONDS", "soon");
    let event = json!({});
    let runs = join_all(STEPS.iter().map(|s| run(s, &env, &event))).await;
    for r in &runs {
        let (code, error_type, message) = r.error().unwrap_or_else(|e| panic!("{}: {e}", r.step));
        println!(
            "{:<16} LAKEVAULT_ATTEMPT_TIMEOUT_SECONDS=soon  exit {code:?} {error_type} in {:.2} s",
            r.step,
            r.elapsed.as_secs_f64()
        );
        assert_eq!(code, Some(2), "{}: {message}", r.step);
        assert_eq!(error_type, "ConfigurationError", "{}: {message}", r.step);
        assert!(
            message.contains("LAKEVAULT_ATTEMPT_TIMEOUT_SECONDS") && message.contains("soon"),
            "{}: the message names the variable and its value: {message}",
            r.step
        );
    }
    assert!(hole.exchanges().is_empty(), "no step sent a request");
}
