//! A row of the matrix: one step against several faults at once, each on its own endpoint.

use faults::{Exchange, Fault, FaultEndpoint, Outcome, Proxy, Request, Rule};
use futures::future::join_all;
use serde_json::Value;

use crate::support::{Cell, Env, Service, run};

/// Where a case's fault lives.
pub(crate) enum Endpoint {
    /// A standalone fault endpoint: no request gets through.
    Standalone(FaultEndpoint),
    /// A proxy in front of the real service.
    Proxy(Proxy),
}

impl Endpoint {
    fn url(&self) -> &str {
        match self {
            Endpoint::Standalone(e) => e.url(),
            Endpoint::Proxy(p) => p.url(),
        }
    }

    fn exchanges(&self) -> Vec<Exchange> {
        match self {
            Endpoint::Standalone(e) => e.exchanges(),
            Endpoint::Proxy(p) => p.exchanges(),
        }
    }
}

impl From<FaultEndpoint> for Endpoint {
    fn from(e: FaultEndpoint) -> Self {
        Endpoint::Standalone(e)
    }
}

impl From<Proxy> for Endpoint {
    fn from(p: Proxy) -> Self {
        Endpoint::Proxy(p)
    }
}

/// One fault for one step: its label, its endpoint, the event it runs.
pub(crate) struct Case {
    pub(crate) label: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) event: Value,
}

impl Case {
    pub(crate) fn new(label: &str, endpoint: impl Into<Endpoint>, event: &Value) -> Case {
        Case {
            label: label.to_owned(),
            endpoint: endpoint.into(),
            event: event.clone(),
        }
    }
}

/// The faults every step meets, each on its own endpoint, `event(i)` the i-th case's event: no
/// answer at all; 503 SlowDown; through a proxy in front of `up`, the answer to the first request
/// `target` matches (`what`, in the labels) cut mid-body, then stalled; and that proxy killed
/// after it has served `served` requests (`killed`, the label).
pub(crate) async fn five_faults(
    up: &str,
    (what, target): (&str, fn(&Request) -> bool),
    (killed, served): (&str, usize),
    event: impl Fn(usize) -> Value,
) -> Vec<Case> {
    vec![
        Case::new(
            "black hole",
            FaultEndpoint::black_hole().await.unwrap(),
            &event(0),
        ),
        Case::new(
            "503 SlowDown",
            FaultEndpoint::slow_down().await.unwrap(),
            &event(1),
        ),
        Case::new(
            &format!("cut body ({what})"),
            Proxy::start(up, Rule::matching(Fault::CutBody, target))
                .await
                .unwrap(),
            &event(2),
        ),
        Case::new(
            &format!("stalled body ({what})"),
            Proxy::start(up, Rule::matching(Fault::StallBody, target))
                .await
                .unwrap(),
            &event(3),
        ),
        Case::new(
            killed,
            Proxy::killed_after(up, served).await.unwrap(),
            &event(4),
        ),
    ]
}

/// What one case left behind: its cell, and every request its endpoint saw.
pub(crate) struct Ran {
    pub(crate) cell: Cell,
    pub(crate) exchanges: Vec<Exchange>,
}

impl Ran {
    /// How many requests got the fault.
    pub(crate) fn faulted(&self) -> usize {
        self.cell.hits.len()
    }
}

/// Runs `step` once per case, all at the same time, with the short timeouts, `service`'s
/// client pointed at the case's endpoint and everything else at `env`'s.
pub(crate) async fn run_cases(
    step: &'static str,
    service: Service,
    env: &Env,
    cases: Vec<Case>,
) -> Vec<Ran> {
    let runs = cases.iter().map(|c| {
        let env = env
            .clone()
            .short_timeouts()
            .with(service.variable(), c.endpoint.url());
        async move { run(step, &env, &c.event).await }
    });
    let runs = join_all(runs).await;
    cases
        .into_iter()
        .zip(runs)
        .map(|(c, run)| {
            let exchanges = c.endpoint.exchanges();
            let hits = exchanges
                .iter()
                .filter(|e| matches!(e.outcome, Outcome::Faulted(_)))
                .map(|e| e.request.clone())
                .collect();
            Ran {
                cell: Cell {
                    fault: c.label,
                    hits,
                    run,
                },
                exchanges,
            }
        })
        .collect()
}
