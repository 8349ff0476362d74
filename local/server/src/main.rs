//! `lakevault-local serve`: the local Lambda endpoint (and S3 Batch Operations) on one port.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use lakevault_local::lambda::{LambdaConfig, LambdaService, router};

const USAGE: &str = "usage: lakevault-local serve [--port N] [--bin-dir DIR] [--timeout-secs N]";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .compact()
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]).await,
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: &[String]) -> ExitCode {
    let mut port = 0u16;
    let mut bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    let mut timeout = Duration::from_secs(300);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next();
        let ok = match (a.as_str(), v) {
            ("--port", Some(v)) => v.parse().map(|p| port = p).is_ok(),
            ("--bin-dir", Some(v)) => {
                bin_dir = PathBuf::from(v);
                true
            }
            ("--timeout-secs", Some(v)) => {
                v.parse().map(|s| timeout = Duration::from_secs(s)).is_ok()
            }
            _ => false,
        };
        if !ok {
            eprintln!("bad argument {a:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(e) => {
            eprintln!("no local address: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lambda = LambdaService::new(LambdaConfig {
        bin_dir,
        // The steps reach S3 Batch Operations on this same server.
        env: vec![("AWS_ENDPOINT_URL_S3_CONTROL".into(), url.clone())],
        timeout,
    });
    let app = router(lambda);
    // First stdout line: scripts and tests read the port from it.
    println!("listening on {url}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    let stop = async {
        tokio::select! { _ = shutdown => {}, _ = term => {} }
    };
    match axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
