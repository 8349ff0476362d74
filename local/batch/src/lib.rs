#![doc = include_str!("../README.md")]

// Inside, the modules depend one way: `api` (HTTP) → `names`, `spec` (request checks),
// `lifecycle` (jobs, their status, transitions) and `engine` (running a job: `manifest`, `copy`,
// `report`) → `lifecycle`. Nothing depends back on `api`.

mod api;
mod config;
mod engine;
mod lifecycle;
mod model;
mod names;
mod spec;
pub mod testkit;

use std::sync::Arc;

use tokio::net::TcpListener;

pub use api::router;
pub use config::{AWS_MAX_COPY_BYTES, BatchConfig, DEFAULT_MAX_MANIFEST_BYTES};
pub use lifecycle::BatchService;

/// Serves the router on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<BatchService>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGTERM or ctrl-c: how the local services' binaries are stopped.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// A service running in the background; stopped when dropped.
#[derive(Debug)]
pub struct RunningBatch {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Its state (jobs, configuration).
    pub state: Arc<BatchService>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningBatch {
    /// An S3 Control client for this service: `base` (credentials, region) with its endpoint
    /// replaced by the service's URL.
    pub fn s3control(&self, base: &aws_config::SdkConfig) -> aws_sdk_s3control::Client {
        kit::clients::s3control(&base.to_builder().endpoint_url(&self.url).build())
    }
}

impl Drop for RunningBatch {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `127.0.0.1:0` and serves a new service there in the background.
pub async fn spawn(config: BatchConfig) -> std::io::Result<RunningBatch> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = BatchService::new(config);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s = Arc::clone(&state);
    tokio::spawn(async move {
        let stopped = async move {
            let _ = rx.await;
        };
        if let Err(e) = serve(listener, s, stopped).await {
            tracing::error!(error = %e, "local-batch server stopped");
        }
    });
    Ok(RunningBatch {
        url,
        state,
        stop: Some(tx),
    })
}
