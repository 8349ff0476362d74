//! Standalone fault endpoints: no server behind them, every request gets the same fault.

use std::fmt;
use std::io;

use crate::server::{Behaviour, Running};
use crate::{Exchange, Fault};

/// An endpoint on `127.0.0.1:<free port>` that answers every request with one [`Fault`];
/// stopped when dropped.
///
/// For [`Fault::CutBody`], [`Fault::StallBody`] and [`Fault::TrickleBody`] the answer is a
/// `200` whose headers announce a 16 KiB body (`application/octet-stream`, with an `ETag`), of
/// which 8 KiB are sent at once (cut, stalled) or all of it 4 bytes a second (trickled): what
/// a GetObject reads as the start of an object; any other operation fails reading its body.
pub struct FaultEndpoint {
    running: Running,
}

impl FaultEndpoint {
    /// Starts an endpoint answering every request with `fault`.
    pub async fn start(fault: Fault) -> io::Result<FaultEndpoint> {
        Ok(FaultEndpoint {
            running: Running::start(Behaviour::Always(fault)).await?,
        })
    }

    /// [`Fault::BlackHole`]: accepts, reads the request, never answers.
    pub async fn black_hole() -> io::Result<FaultEndpoint> {
        FaultEndpoint::start(Fault::BlackHole).await
    }

    /// [`Fault::SlowDown`]: `503` with the service's throttling document, every time.
    pub async fn slow_down() -> io::Result<FaultEndpoint> {
        FaultEndpoint::start(Fault::SlowDown).await
    }

    /// [`Fault::CutBody`]: `200`, half the announced body, closed.
    pub async fn cut_body() -> io::Result<FaultEndpoint> {
        FaultEndpoint::start(Fault::CutBody).await
    }

    /// [`Fault::StallBody`]: `200`, half the announced body, then silence.
    pub async fn stalled_body() -> io::Result<FaultEndpoint> {
        FaultEndpoint::start(Fault::StallBody).await
    }

    /// [`Fault::TrickleBody`]: `200`, then the body at 4 bytes a second.
    pub async fn trickled_body() -> io::Result<FaultEndpoint> {
        FaultEndpoint::start(Fault::TrickleBody).await
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_<SERVICE>`.
    pub fn url(&self) -> &str {
        self.running.url()
    }

    /// Every request so far (each one faulted), in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.running.exchanges()
    }
}

impl fmt::Debug for FaultEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultEndpoint")
            .field("url", &self.url())
            .finish()
    }
}
