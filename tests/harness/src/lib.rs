//! Test support for lakevault.
//!
//! [`Moto`] starts a moto of its own per test (through [`moto_launcher`], the launcher the demo
//! uses too: a free loopback port, the readiness wait, death with the test process), hands out
//! SDK configs pointing at it and stops it when dropped. No fixed ports, no shared state, no
//! leftover processes. Also: where the workspace's binaries are and how to run one
//! ([`run_step_binary`]), unique bucket names, objects written and read in one call
//! ([`put_object`], [`get_object`]), SNS topics with SQS queues to read notifications from
//! ([`inbox`]), a request counter, and the bad-input corpus runner every step's tests use
//! ([`corpus`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use moto_launcher::{MotoCommand, MotoServer};

pub use binary::{
    StepRun, run_step_binary, run_step_binary_with, run_step_command, spawn_step_binary,
};
pub use moto_launcher::{DEFAULT_ACCOUNT, MotoAccount, REGION, die_with_parent};

mod binary;
pub mod corpus;
pub mod inbox;

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
        .unwrap_or_else(|| MotoCommand::venv_moto_server(&workspace_root()))
}

/// A free TCP port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> u16 {
    moto_launcher::free_port().expect("no free loopback port")
}

/// A running moto server, stopped on drop.
pub struct Moto {
    server: MotoServer,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// The port it listens on.
    pub port: u16,
}

impl Moto {
    /// Starts stock moto (`$MOTO_SERVER`, else the venv's `moto_server`) on a free port and
    /// waits (≤ 30 s) until it answers. Tests of a policy's content use it: it evaluates bucket
    /// policies.
    pub fn start() -> Moto {
        Self::launch(&MotoCommand::moto_server(moto_server_path()))
    }

    /// Starts the local stack's moto (`local/moto/moto_server.py`: bucket-policy evaluation off,
    /// because moto applies conditional Deny statements unconditionally — see that file).
    /// End-to-end tests use it; tests of the policy's content use [`Moto::start`].
    pub fn start_local_stack() -> Moto {
        let root = workspace_root();
        Self::launch(&MotoCommand::local_stack(
            MotoCommand::venv_python(&root),
            &root,
        ))
    }

    /// The local stack's moto with Step Functions executing: the interpreter's Lambda calls go
    /// to `lambda_endpoint` (a local stack that will listen there), Wait states and Retry
    /// intervals scaled by `wait_time_scale` (see `local/moto/moto_server.py`).
    pub fn start_local_stack_with_step_functions(
        lambda_endpoint: &str,
        wait_time_scale: f64,
    ) -> Moto {
        let root = workspace_root();
        Self::launch(
            &MotoCommand::local_stack(MotoCommand::venv_python(&root), &root)
                .with_step_functions(lambda_endpoint, wait_time_scale),
        )
    }

    fn launch(cmd: &MotoCommand) -> Moto {
        // Blocking on purpose: tests call this synchronously, before they do anything else, and
        // from the test's own thread (which the server's PDEATHSIG is tied to).
        let server = MotoServer::start_blocking(cmd)
            .unwrap_or_else(|e| panic!("{e}; or set MOTO_SERVER to a moto_server executable"));
        Moto {
            endpoint: server.endpoint().to_owned(),
            port: server.port(),
            server,
        }
    }

    /// An SDK config for moto's default account. (To act as another account, add the
    /// [`MotoAccount`] interceptor to a client: see [`s3_as_account`].)
    pub fn sdk_config(&self) -> SdkConfig {
        self.server.sdk_config()
    }

    /// An S3 client (path style) for the default account.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        kit::clients::s3(&self.sdk_config())
    }

    /// Environment variables that point a step binary at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        self.server.env()
    }
}

/// An S3 client acting as another account on moto.
pub fn s3_as_account(moto: &Moto, account_id: &str) -> aws_sdk_s3::Client {
    moto_launcher::s3_as_account(&moto.sdk_config(), account_id)
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

/// Every file under `dir`, by its path relative to it (`/`-separated), sorted: a fixture table's
/// objects as they are uploaded.
pub fn files_under(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let p = e.expect("a directory entry").path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(rel) = p.strip_prefix(base) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The names of the buckets `s3`'s account owns.
pub async fn bucket_names(s3: &aws_sdk_s3::Client) -> Vec<String> {
    s3.list_buckets()
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListBuckets: {e:?}"))
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect()
}

/// Writes `body` to `bucket`/`key`; a refusal is a panic naming the key.
pub async fn put_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: impl AsRef<[u8]>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_ref().to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
}

/// The bytes of `bucket`/`key`; a missing object is a panic naming the key.
pub async fn get_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}: the body: {e}"))
        .to_vec()
}
