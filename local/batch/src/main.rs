//! `local-batch [--port 0] [--max-copy-bytes N] [--max-manifest-bytes N]`: the local S3 Batch
//! Operations service.
//!
//! Copies go to the S3 endpoint of the standard AWS variables (`AWS_ENDPOINT_URL_S3`, else
//! `AWS_ENDPOINT_URL`). The first line on stdout is `listening on http://127.0.0.1:PORT`, so a
//! script can start it on port 0 and read where it is. SIGTERM or ctrl-c stops it.

use std::process::ExitCode;

use clap::Parser;
use local_batch::{BatchConfig, BatchService, serve, shutdown_signal};

/// Serves the S3 Control job API (CreateJob, DescribeJob, ListJobs, UpdateJobStatus,
/// UpdateJobPriority, job tagging) on 127.0.0.1 and runs S3PutObjectCopy jobs against the S3
/// endpoint of AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
#[derive(Debug, Parser)]
#[command(name = "local-batch", version)]
struct Args {
    /// Port on 127.0.0.1 (0: any free one; the first stdout line says which).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Largest copy source in bytes (AWS: 5368709120).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    max_copy_bytes: Option<i64>,
    /// Largest manifest object read, in bytes (default 268435456).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_manifest_bytes: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit 2, as before clap.
    let args = Args::parse();
    kit::entry::init_tracing(false);

    let conf = match kit::clients::load_sdk_config().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("local-batch: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = BatchConfig::from_sdk_config(&conf);
    if let Some(n) = args.max_copy_bytes {
        config.max_copy_bytes = n;
    }
    if let Some(n) = args.max_manifest_bytes {
        config.max_manifest_bytes = n;
    }
    let port = args.port;
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
    let stopped = async {
        shutdown_signal().await;
        tracing::info!("local-batch stopping");
    };
    match serve(listener, state, stopped).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-batch: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Args;

    #[test]
    fn the_flags_of_the_readme_parse_and_bad_values_are_refused() {
        let a = Args::try_parse_from(["local-batch", "--port", "0", "--max-copy-bytes", "100"])
            .unwrap();
        assert_eq!((a.port, a.max_copy_bytes), (0, Some(100)));
        assert_eq!(Args::try_parse_from(["local-batch"]).unwrap().port, 0);
        for bad in [
            &["local-batch", "--port", "65536"][..],
            &["local-batch", "--max-copy-bytes", "0"],
            &["local-batch", "--port"],
            &["local-batch", "--other", "1"],
        ] {
            let e = Args::try_parse_from(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }
}
