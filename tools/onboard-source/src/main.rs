//! The onboard-source command: parses the flags, onboards each `--bucket`, prints one JSON line
//! per bucket (exit 1 if any failed, 2 for a malformed flag).

use std::process::ExitCode;

use clap::Parser;
use kit::error::StepError;
use onboard_source::{DEFAULT_CONFIGURATION_ID, DEFAULT_PREFIX, Onboarder, Request, RoleArn};

/// Prepares existing source buckets for lakevault: a daily CSV S3 Inventory delivering into the
/// backup account, and read access for its S3 Batch Operations role merged into each bucket's
/// policy (statement Sid LakevaultBatchOperationsRead; every other statement kept).
///
/// Run with credentials of the SOURCE account, in the buckets' region. Idempotent: what already
/// matches is left alone. Prints one JSON line per bucket; exits 1 if any bucket failed.
/// The backup stack's output OnboardSourceCommand holds the flags for your deployment.
#[derive(Debug, Parser)]
#[command(name = "onboard-source", version)]
struct Args {
    /// A source bucket (repeat for several).
    #[arg(long = "bucket", required = true, value_name = "NAME")]
    buckets: Vec<String>,
    /// The backup stack's BatchOperationsRoleArn output.
    #[arg(long, value_name = "ARN")]
    role_arn: String,
    /// The backup stack's InventoryBucketName output.
    #[arg(long, value_name = "NAME", required_unless_present = "print_statement")]
    inventory_bucket: Option<String>,
    /// Account of the inventory bucket [default: the role's account].
    #[arg(long, value_name = "ID")]
    inventory_account: Option<String>,
    /// The backup stack's InventoryPrefix.
    #[arg(long, default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// The backup stack's InventoryConfigurationId.
    #[arg(long, default_value = DEFAULT_CONFIGURATION_ID)]
    id: String,
    /// Refuse buckets not owned by this account (S3 checks it on every call).
    #[arg(long, value_name = "ID")]
    expected_owner: Option<String>,
    /// Read and report what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the policy statement for each bucket and exit (for policies managed elsewhere).
    #[arg(long)]
    print_statement: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    kit::entry::init_tracing(false);
    let args = Args::parse();
    if args.print_statement {
        return match RoleArn::parse(&args.role_arn) {
            Ok(role) => {
                for bucket in &args.buckets {
                    println!("{:#}", onboard_source::read_statement(&role, bucket));
                }
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&e),
        };
    }
    let request = match Request::new(
        &args.role_arn,
        args.inventory_bucket.as_deref().unwrap_or_default(),
        args.inventory_account.as_deref(),
        &args.prefix,
        &args.id,
        args.expected_owner.as_deref(),
    ) {
        Ok(r) => r,
        Err(e) => return usage_error(&e),
    };
    let conf = match kit::clients::load_sdk_config().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("onboard-source: {e}");
            return ExitCode::from(2);
        }
    };
    let onboarder = Onboarder::new(&conf);
    let mut failed = false;
    for bucket in &args.buckets {
        let line = match onboarder.onboard(&request, bucket, args.dry_run).await {
            Ok(report) => serde_json::to_value(report).unwrap_or_default(),
            Err(e) => {
                failed = true;
                serde_json::json!({
                    "bucket": bucket,
                    "errorType": e.error_type(),
                    "errorMessage": e.to_string(),
                })
            }
        };
        println!("{line}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage_error(e: &kit::error::InvalidInput) -> ExitCode {
    eprintln!("onboard-source: {e}");
    ExitCode::from(2)
}
