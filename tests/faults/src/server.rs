//! The listener every fault server runs: `127.0.0.1:0`, one task per connection, keep-alive,
//! and everything stopped (listener closed, held connections dropped) when the handle is.

use std::future::pending;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::message::{Request, Response};
use crate::proxy::Rule;
use crate::{Exchange, Fault, Outcome, wire};

/// What a server does with a request.
pub(crate) enum Behaviour {
    /// Every request gets this fault (a standalone endpoint).
    Always(Fault),
    /// Forward to `upstream` (`host:port`), except where `rule` puts a fault.
    Proxy { upstream: String, rule: Rule },
}

/// What goes back on the connection.
enum Reply {
    /// The whole response; the connection stays open for the next request.
    Respond(Response),
    /// The head and part of the body, then the connection is closed.
    Cut(Response),
    /// The head and part of the body, then nothing: the connection stays open, silent.
    Stall(Response),
    /// The head, then the body byte by byte, slowly; the connection stays open after it.
    Trickle(Response),
    /// Nothing at all; the connection stays open.
    Hold,
    /// The connection is closed without a byte.
    Close,
}

/// A body for [`Fault::CutBody`] and [`Fault::StallBody`] when there is no upstream to
/// provide one: announced whole, half of it sent.
const SYNTHETIC_BODY_BYTES: usize = 16 * 1024;

/// The pace of [`Fault::TrickleBody`]: 4 bytes a second.
const TRICKLE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

struct Shared {
    behaviour: Behaviour,
    log: Mutex<Vec<Exchange>>,
}

/// A server running in the background; stopped when dropped.
pub(crate) struct Running {
    url: String,
    shared: Arc<Shared>,
    // Dropping it tells every task to stop.
    _stop: watch::Sender<()>,
}

impl Running {
    pub(crate) async fn start(behaviour: Behaviour) -> io::Result<Running> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            behaviour,
            log: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = watch::channel(());
        tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(Running {
            url,
            shared,
            _stop: stop,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn exchanges(&self) -> Vec<Exchange> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Resolves once the handle is dropped.
async fn until_stopped(mut stopped: watch::Receiver<()>) {
    while stopped.changed().await.is_ok() {}
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stopped: watch::Receiver<()>) {
    let stop = until_stopped(stopped.clone());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    let stopped = stopped.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = connection(stream, shared) => {}
                            () = until_stopped(stopped) => {}
                        }
                    });
                }
                // Out of file descriptors and the like: let the clients' retries come back.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let Some(head) = wire::read_head(&mut rd).await? else {
            return Ok(());
        };
        if head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            // An interim answer, so that a client waiting for it sends the body we read next.
            wr.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        let framing = wire::request_framing(&head)?;
        let body = wire::read_body(&mut rd, framing).await?;
        let request = Request::new(head, body)?;
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (reply, outcome) = shared.behaviour.reply(&request).await;
        shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Exchange {
                request: request.line(),
                outcome,
            });
        match reply {
            Reply::Respond(response) => {
                wr.write_all(&response.to_bytes(close)).await?;
                if close {
                    return Ok(());
                }
            }
            Reply::Cut(response) => {
                let bytes = response.to_bytes(false);
                wr.write_all(&bytes[..response.cut_point()]).await?;
                wr.flush().await?;
                wr.shutdown().await?;
                return Ok(());
            }
            Reply::Stall(response) => {
                let bytes = response.to_bytes(false);
                wr.write_all(&bytes[..response.cut_point()]).await?;
                wr.flush().await?;
                pending::<()>().await;
            }
            Reply::Trickle(response) => {
                let bytes = response.to_bytes(close);
                let head = bytes.len() - response.body_len();
                wr.write_all(&bytes[..head]).await?;
                for b in &bytes[head..] {
                    wr.flush().await?;
                    tokio::time::sleep(TRICKLE_INTERVAL).await;
                    wr.write_all(std::slice::from_ref(b)).await?;
                }
                wr.flush().await?;
                if close {
                    return Ok(());
                }
            }
            Reply::Hold => pending::<()>().await,
            Reply::Close => return Ok(()),
        }
    }
}

impl Behaviour {
    async fn reply(&self, request: &Request) -> (Reply, Outcome) {
        match self {
            Behaviour::Always(fault) => {
                (fault_reply(*fault, request, None), Outcome::Faulted(*fault))
            }
            Behaviour::Proxy { upstream, rule } => {
                let fault = rule.decide(request);
                match fault {
                    // Nothing reaches the upstream.
                    Some(f @ (Fault::BlackHole | Fault::SlowDown | Fault::Drop)) => {
                        (fault_reply(f, request, None), Outcome::Faulted(f))
                    }
                    // Cut, stalled and trickled answers are the upstream's own: the request
                    // took effect, its answer is what gets lost or delayed.
                    _ => match crate::proxy::forward(upstream, request).await {
                        Ok(response) => match fault {
                            Some(f) => {
                                (fault_reply(f, request, Some(response)), Outcome::Faulted(f))
                            }
                            None => {
                                let status = response.status();
                                (Reply::Respond(response), Outcome::Forwarded(status))
                            }
                        },
                        Err(e) => (Reply::Close, Outcome::UpstreamFailed(e.to_string())),
                    },
                }
            }
        }
    }
}

fn fault_reply(fault: Fault, request: &Request, response: Option<Response>) -> Reply {
    let synthetic = || {
        Response::new(
            200,
            "OK",
            &[
                ("Content-Type", "application/octet-stream"),
                ("ETag", "\"0123456789abcdef0123456789abcdef\""),
                ("x-amz-request-id", "FAULTS0000000000"),
            ],
            vec![b'x'; SYNTHETIC_BODY_BYTES],
            &request.method,
        )
    };
    match fault {
        Fault::BlackHole => Reply::Hold,
        Fault::SlowDown => Reply::Respond(crate::dialect::slow_down(request)),
        Fault::CutBody => Reply::Cut(response.unwrap_or_else(synthetic)),
        Fault::StallBody => Reply::Stall(response.unwrap_or_else(synthetic)),
        Fault::TrickleBody => Reply::Trickle(response.unwrap_or_else(synthetic)),
        Fault::Drop => Reply::Close,
    }
}
