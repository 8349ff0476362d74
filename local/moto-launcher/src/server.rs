//! The moto process: a free port, the readiness wait, and its end.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::MotoCommand;

/// How long moto may take to answer after it started (a cold Python import takes a few seconds
/// on a busy machine).
const READY_WITHIN: Duration = Duration::from_secs(30);
/// Pause between two readiness probes.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Time limit of one probe's connect, write and read.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A port can be taken by someone else between our probe and moto's bind: try this many.
const ATTEMPTS: usize = 5;
/// What the readiness probe asks for: moto's own API, served once the server is up.
const PROBE_REQUEST: &[u8] =
    b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

/// Why moto could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The program or the wrapper script is missing (the venv was never created).
    #[error("{} not found: run `make venv` (`make test` and `make demo` create it)", .path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// No loopback port could be bound to find a free one.
    #[error("no free loopback port: {0}")]
    NoFreePort(#[source] std::io::Error),
    /// The process could not be started.
    #[error("could not start moto ({}): {source}", .program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It exited, or did not answer within the limit, on every port tried.
    #[error("moto did not start within {} s", .limit.as_secs())]
    NotReady {
        /// The per-attempt limit.
        limit: Duration,
    },
}

/// A free TCP port on 127.0.0.1 (bound, then released for a child to take).
pub fn free_port() -> std::io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

/// On Linux, the child gets SIGKILL when the thread that started it ends, even by a signal
/// that skips destructors — so an aborted run leaves no moto (or other helper process) behind.
/// Start children from a thread that lives as long as they should (not a blocking-pool thread,
/// which tokio retires when idle).
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// A running moto, killed when dropped.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    endpoint: String,
    port: u16,
}

impl MotoServer {
    /// Starts `cmd` on a free port and waits (≤ 30 s, with tokio's timer) until it answers.
    ///
    /// The process is started from the calling task's thread (a runtime worker, which lives as
    /// long as the runtime), so [`die_with_parent`] ties it to this program.
    pub async fn start(cmd: &MotoCommand) -> Result<Self, LaunchError> {
        check(cmd)?;
        for _ in 0..ATTEMPTS {
            let mut server = Self::spawn(cmd)?;
            let t0 = Instant::now();
            while t0.elapsed() < READY_WITHIN && !server.has_exited() {
                if answers_async(server.port).await {
                    tracing::debug!(endpoint = %server.endpoint, "moto ready");
                    return Ok(server);
                }
                tokio::time::sleep(PROBE_EVERY).await;
            }
        }
        Err(LaunchError::NotReady {
            limit: READY_WITHIN,
        })
    }

    /// As [`MotoServer::start`], for synchronous callers (the test harness): blocks the calling
    /// thread while it waits. Never call it from async code that has other work to do.
    pub fn start_blocking(cmd: &MotoCommand) -> Result<Self, LaunchError> {
        check(cmd)?;
        for _ in 0..ATTEMPTS {
            let mut server = Self::spawn(cmd)?;
            let t0 = Instant::now();
            while t0.elapsed() < READY_WITHIN && !server.has_exited() {
                if answers_blocking(server.port) {
                    return Ok(server);
                }
                std::thread::sleep(PROBE_EVERY);
            }
        }
        Err(LaunchError::NotReady {
            limit: READY_WITHIN,
        })
    }

    fn spawn(cmd: &MotoCommand) -> Result<Self, LaunchError> {
        let port = free_port().map_err(LaunchError::NoFreePort)?;
        let mut command = Command::new(&cmd.program);
        command
            .args(&cmd.pre_args)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut command);
        let child = command.spawn().map_err(|source| LaunchError::Spawn {
            program: cmd.program.clone(),
            source,
        })?;
        Ok(Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        })
    }

    /// Whether the process has ended (it could not bind the port, or crashed).
    fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// An SDK configuration for its default account ([`crate::sdk_config_for`]).
    pub fn sdk_config(&self) -> SdkConfig {
        crate::sdk_config_for(&self.endpoint)
    }

    /// Environment variables that point a child process at it ([`crate::env_for`]).
    pub fn env(&self) -> Vec<(String, String)> {
        crate::env_for(&self.endpoint)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // SIGKILL, then reap: waiting for a killed child returns at once.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check(cmd: &MotoCommand) -> Result<(), LaunchError> {
    match cmd.required.iter().find(|p| !p.exists()) {
        Some(missing) => Err(LaunchError::NotFound {
            path: missing.clone(),
        }),
        None => Ok(()),
    }
}

/// Whether the first bytes of an HTTP response are a 2xx status line.
fn is_success(head: &[u8]) -> bool {
    head.len() >= 12 && head.starts_with(b"HTTP/1.") && head[9] == b'2'
}

fn answers_blocking(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = s.set_write_timeout(Some(PROBE_TIMEOUT));
    if s.write_all(PROBE_REQUEST).is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    matches!(s.read(&mut head), Ok(n) if is_success(&head[..n]))
}

async fn answers_async(port: u16) -> bool {
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(PROBE_REQUEST).await?;
        let mut head = [0u8; 16];
        let n = s.read(&mut head).await?;
        Ok::<_, std::io::Error>(is_success(&head[..n]))
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, probe).await,
        Ok(Ok(true))
    )
}

#[cfg(test)]
mod tests {
    use super::is_success;

    #[test]
    fn only_a_2xx_status_line_means_ready() {
        assert!(is_success(b"HTTP/1.1 200 OK\r\n"));
        assert!(is_success(b"HTTP/1.0 204 No"));
        assert!(!is_success(b"HTTP/1.1 404 Not"));
        assert!(!is_success(b"HTTP/1.1 2"));
        assert!(!is_success(b"SSH-2.0-OpenSSH_9"));
    }
}
