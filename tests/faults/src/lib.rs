#![doc = include_str!("../README.md")]

mod dialect;
mod endpoint;
mod message;
mod proxy;
mod server;
mod wire;

#[cfg(test)]
mod tests;

pub use dialect::Dialect;
pub use endpoint::FaultEndpoint;
pub use message::Request;
pub use proxy::{Proxy, Rule};

/// What a fault server does to a request it was told to fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Reads the request and never answers; the connection stays open (a peer that accepted and
    /// hung). Only the client's attempt and operation timeouts end it.
    BlackHole,
    /// Answers `503 Slow Down` with the throttling error document of the request's service
    /// ([`Dialect`]): S3's bare `<Error><Code>SlowDown</Code>…`, S3 Control's wrapped one, a
    /// query service's (SNS) `<ErrorResponse>` with `Throttling`.
    SlowDown,
    /// Sends the response head, announcing the full `Content-Length` N, and N/2 bytes of the
    /// body, then closes the connection (half the head when the body is empty). Behind a proxy
    /// it is the upstream's own answer: the request took effect, its answer is lost.
    CutBody,
    /// As [`Fault::CutBody`], but then sends nothing more and keeps the connection open.
    StallBody,
    /// Sends the head, then the body one byte every 250 ms: never silent long enough for the
    /// SDK's stalled-stream protection (which wants 1 byte/s over 5 s), never done in time. A
    /// client that waits long enough gets the whole, correct answer.
    TrickleBody,
    /// Closes the connection without answering (a server that died).
    Drop,
}

impl Fault {
    /// A short name for tables: `black hole`, `503 SlowDown`, `cut body`, `stalled body`,
    /// `trickled body`, `dropped`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::BlackHole => "black hole",
            Fault::SlowDown => "503 SlowDown",
            Fault::CutBody => "cut body",
            Fault::StallBody => "stalled body",
            Fault::TrickleBody => "trickled body",
            Fault::Drop => "dropped",
        }
    }
}

/// One request a fault server received, and what it did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// `METHOD target`, e.g. `GET /inventory/…/manifest.json`.
    pub request: String,
    /// What became of it.
    pub outcome: Outcome,
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded; the upstream answered with this status, passed on whole.
    Forwarded(u16),
    /// It got this fault.
    Faulted(Fault),
    /// The upstream could not be reached or answered unreadably; the client's connection was
    /// closed.
    UpstreamFailed(String),
}
