//! A proxy in front of a real server (moto, the local S3 Batch Operations) that forwards every
//! request except those a [`Rule`] picks, which get a [`Fault`].

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::message::{Request, Response};
use crate::server::{Behaviour, Running};
use crate::{Exchange, Fault, Outcome, wire};

/// Which requests get the fault. Requests are counted in the order they arrive (concurrent
/// requests of one step arrive in any order: pick them by what they are, not by position,
/// unless the step sends them one by one).
#[derive(Clone)]
pub struct Rule {
    fault: Fault,
    select: Select,
    counts: Arc<Mutex<Counts>>,
}

type Matcher = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

#[derive(Clone)]
enum Select {
    /// The `from`-th request that `matches` (1-based) and every later one.
    Matching { from: usize, matches: Matcher },
    /// Every request after the first `forwarded`.
    After { forwarded: usize },
}

#[derive(Debug, Default)]
struct Counts {
    seen: usize,
    matched: usize,
}

impl Rule {
    /// Every request that `matches` gets `fault` (every attempt of it: the SDK's own retries
    /// must not recover from it, or the step would rightly succeed).
    pub fn matching(
        fault: Fault,
        matches: impl Fn(&Request) -> bool + Send + Sync + 'static,
    ) -> Rule {
        Rule::from_nth_matching(fault, 1, matches)
    }

    /// The `n`-th request that `matches` (1-based) and every later one get `fault`; the earlier
    /// ones are forwarded.
    pub fn from_nth_matching(
        fault: Fault,
        n: usize,
        matches: impl Fn(&Request) -> bool + Send + Sync + 'static,
    ) -> Rule {
        Rule {
            fault,
            select: Select::Matching {
                from: n.max(1),
                matches: Arc::new(matches),
            },
            counts: Arc::default(),
        }
    }

    /// The first `forwarded` requests pass, every later one gets `fault`. With
    /// [`Fault::Drop`]: a server that dies mid-run.
    pub fn after(forwarded: usize, fault: Fault) -> Rule {
        Rule {
            fault,
            select: Select::After { forwarded },
            counts: Arc::default(),
        }
    }

    /// The fault for `request`, if it gets one.
    pub(crate) fn decide(&self, request: &Request) -> Option<Fault> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        c.seen += 1;
        let hit = match &self.select {
            Select::After { forwarded } => c.seen > *forwarded,
            Select::Matching { from, matches } => {
                if matches(request) {
                    c.matched += 1;
                    c.matched >= *from
                } else {
                    false
                }
            }
        };
        hit.then_some(self.fault)
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let select = match &self.select {
            Select::Matching { from, .. } => format!("matching requests from the {from}th on"),
            Select::After { forwarded } => format!("every request after the first {forwarded}"),
        };
        f.debug_struct("Rule")
            .field("fault", &self.fault)
            .field("select", &select)
            .finish()
    }
}

/// A proxy on `127.0.0.1:<free port>` in front of `upstream`; stopped when dropped. Requests go
/// on unchanged, `Host` and signatures included: the upstream must not check SigV4 against its
/// own address (moto and the local stack do not check signatures).
pub struct Proxy {
    running: Running,
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`) applying `rule`.
    pub async fn start(upstream: &str, rule: Rule) -> io::Result<Proxy> {
        let upstream = upstream
            .strip_prefix("http://")
            .unwrap_or(upstream)
            .trim_end_matches('/')
            .to_owned();
        if upstream.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the upstream must be http://host:port, not {upstream:?}"),
            ));
        }
        Ok(Proxy {
            running: Running::start(Behaviour::Proxy { upstream, rule }).await?,
        })
    }

    /// A server killed mid-run: the first `forwarded` requests reach `upstream`, then every
    /// connection is closed without an answer.
    pub async fn killed_after(upstream: &str, forwarded: usize) -> io::Result<Proxy> {
        Proxy::start(upstream, Rule::after(forwarded, Fault::Drop)).await
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_<SERVICE>`.
    pub fn url(&self) -> &str {
        self.running.url()
    }

    /// Every request so far and what became of it, in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.running.exchanges()
    }

    /// The requests that got the fault.
    pub fn faulted(&self) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| matches!(e.outcome, Outcome::Faulted(_)))
            .collect()
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy").field("url", &self.url()).finish()
    }
}

/// Sends `request` to `upstream` on a connection of its own and reads the whole answer.
pub(crate) async fn forward(upstream: &str, request: &Request) -> io::Result<Response> {
    let stream = TcpStream::connect(upstream).await?;
    let (rd, mut wr) = stream.into_split();
    wr.write_all(&request.to_upstream_bytes()).await?;
    let mut rd = BufReader::new(rd);
    loop {
        let head = wire::read_head(&mut rd).await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the upstream closed without answering",
            )
        })?;
        let status = head.status()?;
        // Interim answers (100 Continue) precede the real one.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let framing = wire::response_framing(&head, &request.method)?;
        let body = wire::read_body(&mut rd, framing).await?;
        return Ok(Response::from_upstream(head, body, &request.method));
    }
}
