//! `local-batch [--port 0] [--max-copy-bytes N]`: the local S3 Batch Operations service.
//!
//! Copies go to the S3 endpoint of the standard AWS variables (`AWS_ENDPOINT_URL_S3`, else
//! `AWS_ENDPOINT_URL`). The first line on stdout is `listening on http://127.0.0.1:PORT`, so a
//! script can start it on port 0 and read where it is. SIGTERM or ctrl-c stops it.

use std::process::ExitCode;

use local_batch::{BatchConfig, BatchService, serve};

fn usage() -> ExitCode {
    eprintln!(
        "usage: local-batch [--port PORT] [--max-copy-bytes N]\n\n\
         Serves the S3 Control job API (CreateJob, DescribeJob, ListJobs, UpdateJobStatus,\n\
         UpdateJobPriority, job tagging) on 127.0.0.1 and runs S3PutObjectCopy jobs against the\n\
         S3 endpoint of AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL."
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    use tracing_subscriber::EnvFilter;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .compact()
        .try_init();

    let mut port: u16 = 0;
    let mut max_copy_bytes: Option<i64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        match (a.as_str(), value.as_deref().map(str::parse::<i64>)) {
            ("--port", Some(Ok(p))) if (0..=65535).contains(&p) => port = p as u16,
            ("--max-copy-bytes", Some(Ok(n))) if n > 0 => max_copy_bytes = Some(n),
            _ => return usage(),
        }
    }

    let conf = kit::clients::load_sdk_config().await;
    let mut config = BatchConfig::from_sdk_config(&conf);
    if let Some(n) = max_copy_bytes {
        config.max_copy_bytes = n;
    }
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("local-batch: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(2);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(e) => {
            eprintln!("local-batch: {e}");
            return ExitCode::from(2);
        }
    }
    let state = BatchService::new(config);
    match serve(listener, state, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-batch: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
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
    tracing::info!("local-batch stopping");
}
