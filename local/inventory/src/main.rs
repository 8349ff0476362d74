//! `local-inventory`: write an S3 Inventory delivery into a bucket, as S3 would.
//!
//! Endpoints, region and credentials come from the usual AWS variables (`AWS_ENDPOINT_URL`…).
//! The flags are [`local_inventory::cli::Args`]'s.

use std::process::ExitCode;

use clap::Parser;
use local_inventory::cli::Args;

#[tokio::main]
async fn main() -> ExitCode {
    // A bad flag: clap's message on stderr, status 2.
    let delivery = Args::parse().delivery();
    kit::entry::init_tracing(false);
    let conf = match kit::clients::load_sdk_config().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("local-inventory: {e}");
            return ExitCode::from(2);
        }
    };
    let s3 = kit::clients::s3(&conf);
    match local_inventory::deliver(&s3, &delivery).await {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("local-inventory: {e}");
            ExitCode::FAILURE
        }
    }
}
