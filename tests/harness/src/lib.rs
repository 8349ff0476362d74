//! Test support for lakevault.
//!
//! [`Moto`] starts `moto_server` (the project-local venv's, see the Makefile) on a free loopback
//! port, waits until it answers, hands out SDK configs pointing at it and stops it when dropped.
//! Each test gets its own server: no fixed ports, no shared state, no leftover processes.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::sdk_config::SharedCredentialsProvider;

/// The account moto uses when a request names none.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The region tests run in.
pub const REGION: &str = "us-east-1";

/// The workspace root (where `.venv` lives).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).map(PathBuf::from).unwrap_or(here)
}

/// Where the built binaries of this workspace are (`target/debug` for tests).
pub fn target_bin_dir() -> PathBuf {
    // Test executables live in target/<profile>/deps; binaries one level up.
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug"))
}

/// The path of one of the workspace's binaries, e.g. `bin("locate-manifest")`.
pub fn bin(name: &str) -> PathBuf {
    target_bin_dir().join(name)
}

/// The `moto_server` executable: `$MOTO_SERVER`, else the project venv's.
pub fn moto_server_path() -> PathBuf {
    std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"))
}

/// A free TCP port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A running moto server, stopped on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// The port it listens on.
    pub port: u16,
}

impl Moto {
    /// Starts moto on a free port and waits (≤ 30 s) until it answers.
    pub fn start() -> Moto {
        Self::start_cmd(&moto_server_path(), &[])
    }

    /// Starts the local stack's moto (`local/moto/moto_server.py`: bucket-policy evaluation off,
    /// because moto applies conditional Deny statements unconditionally — see that file).
    /// End-to-end tests use it; tests of the policy's content use [`Moto::start`].
    pub fn start_local_stack() -> Moto {
        let python = workspace_root().join(".venv/bin/python");
        let script = workspace_root().join("local/moto/moto_server.py");
        Self::start_cmd(&python, &[script.to_string_lossy().as_ref()])
    }

    fn start_cmd(path: &std::path::Path, pre_args: &[&str]) -> Moto {
        assert!(
            path.exists(),
            "{} not found: run `make venv` (or `make test`, which creates it), or set MOTO_SERVER",
            path.display()
        );
        // A port can be taken between our probe and moto's bind; try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(path);
            cmd.args(pre_args)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            die_with_parent(&mut cmd);
            let child = cmd.spawn().expect("could not start moto_server");
            let mut moto = Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
                port,
            };
            if moto.wait_ready(Duration::from_secs(30)) {
                return moto;
            }
        }
        panic!("moto_server did not become ready");
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if http_get_ok(self.port, "/moto-api/") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// An SDK config for moto's default account. (To act as another account, add the
    /// [`MotoAccount`] interceptor to a client: see [`s3_as_account`].)
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint)
    }

    /// An S3 client (path style) for the default account.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        kit::clients::s3(&self.sdk_config())
    }

    /// Environment variables that point a step binary at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// On Linux, the child gets SIGKILL when the test process dies, even by a signal that skips
/// destructors — so an aborted test run leaves no moto (or other helper process) behind.
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

fn http_get_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1.") && buf[9] == b'2')
}

fn sdk_config_for(endpoint: &str) -> SdkConfig {
    let creds = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "harness");
    SdkConfig::builder()
        .behavior_version(kit::clients::behavior_version())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build()
}

/// Adds `x-moto-account-id` to every request, so the client acts as `account_id` on moto.
#[derive(Debug, Clone)]
pub struct MotoAccount(pub String);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }
    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        ctx.request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// An S3 client acting as another account on moto.
pub fn s3_as_account(moto: &Moto, account_id: &str) -> aws_sdk_s3::Client {
    let conf = moto.sdk_config();
    let s3conf = kit::clients::s3(&conf)
        .config()
        .to_builder()
        .interceptor(MotoAccount(account_id.to_owned()))
        .build();
    aws_sdk_s3::Client::from_conf(s3conf)
}

/// Counts the requests a client sends (after retries: every attempt counts), per operation.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    total: Arc<AtomicUsize>,
}

impl RequestCounter {
    /// Requests sent so far.
    pub fn count(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }
    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.total.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// An S3 client for moto's default account that counts its requests.
pub fn counting_s3(moto: &Moto) -> (aws_sdk_s3::Client, RequestCounter) {
    let counter = RequestCounter::default();
    let base = kit::clients::s3(&moto.sdk_config());
    let conf = base
        .config()
        .to_builder()
        .interceptor(counter.clone())
        .build();
    (aws_sdk_s3::Client::from_conf(conf), counter)
}

/// A bucket name no other test uses: `<prefix>-<pid>-<n>`, lowercase, ≤ 40 characters.
pub fn unique_bucket(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let mut p: String = prefix
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect();
    if p.is_empty() {
        p.push('b');
    }
    format!("{p}-{}-{n}", std::process::id())
}
