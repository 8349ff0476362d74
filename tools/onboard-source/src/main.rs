//! The onboard-source command: parses the flags, onboards each `--bucket` (a source bucket, a
//! restore target, or both), prints one JSON line per bucket (exit 1 if any failed, 2 for a
//! malformed flag).

use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use kit::error::InvalidInput;
use kit::error::StepError;
use onboard_source::{
    DEFAULT_CONFIGURATION_ID, DEFAULT_PREFIX, LargeCopyGrant, Onboarder, Request, RestoreGrant,
    RoleArn,
};

/// Prepares existing buckets for lakevault, idempotently.
///
/// A source bucket (--role-arn): a daily CSV S3 Inventory delivering into the backup account, and
/// read access for its S3 Batch Operations role merged into the bucket's policy (statement Sid
/// LakevaultBatchOperationsRead) and, with --plan-large-copy-role-arn and --copy-parts-role-arn,
/// for its large-copy roles, which copy objects over 5 GiB (Sids LakevaultLargeCopyPlanRead,
/// LakevaultLargeCopyPartsRead). A restore target (--restore-role-arn with
/// --plan-restore-role-arn and --verify-restore-role-arn): write access for the restore batch
/// role, listing for plan-restore and verify-restore, reading for verify-restore (Sids
/// LakevaultRestoreWrite, LakevaultRestoreList, LakevaultRestoreRead). Every other statement is
/// kept.
///
/// Run with credentials of the bucket's account, in the buckets' region. Idempotent: what already
/// matches is left alone. Prints one JSON line per bucket; exits 1 if any bucket failed.
/// The backup stack's outputs OnboardSourceCommand and OnboardRestoreTargetCommand hold the flags
/// for your deployment.
#[derive(Debug, Parser)]
#[command(name = "onboard-source", version)]
#[command(group(ArgGroup::new("side").args(["role_arn", "restore_role_arn"]).required(true).multiple(true)))]
struct Args {
    /// A bucket (repeat for several).
    #[arg(long = "bucket", required = true, value_name = "NAME")]
    buckets: Vec<String>,
    /// The backup stack's BatchOperationsRoleArn output: onboard a source bucket.
    #[arg(long, value_name = "ARN")]
    role_arn: Option<String>,
    /// The backup stack's InventoryBucketName output (with --role-arn).
    #[arg(long, value_name = "NAME")]
    inventory_bucket: Option<String>,
    /// Account of the inventory bucket [default: the role's account].
    #[arg(long, value_name = "ID", requires = "role_arn")]
    inventory_account: Option<String>,
    /// The backup stack's InventoryPrefix.
    #[arg(long, default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// The backup stack's InventoryConfigurationId.
    #[arg(long, default_value = DEFAULT_CONFIGURATION_ID)]
    id: String,
    /// The backup stack's PlanLargeCopyRoleArn output: let plan-large-copy read the objects over
    /// 5 GiB (with --copy-parts-role-arn and --role-arn).
    #[arg(
        long,
        value_name = "ARN",
        requires_all = ["copy_parts_role_arn", "role_arn"]
    )]
    plan_large_copy_role_arn: Option<String>,
    /// The backup stack's CopyPartsRoleArn output: let copy-parts read them (with
    /// --plan-large-copy-role-arn).
    #[arg(long, value_name = "ARN", requires = "plan_large_copy_role_arn")]
    copy_parts_role_arn: Option<String>,
    /// The backup stack's RestoreBatchRoleArn output: make the bucket a restore target.
    #[arg(
        long,
        value_name = "ARN",
        requires_all = ["plan_restore_role_arn", "verify_restore_role_arn"]
    )]
    restore_role_arn: Option<String>,
    /// The backup stack's PlanRestoreRoleArn output (with --restore-role-arn).
    #[arg(long, value_name = "ARN", requires = "restore_role_arn")]
    plan_restore_role_arn: Option<String>,
    /// The backup stack's VerifyRestoreRoleArn output (with --restore-role-arn).
    #[arg(long, value_name = "ARN", requires = "restore_role_arn")]
    verify_restore_role_arn: Option<String>,
    /// Let restores write (and verify-restore read) only keys under this folder, e.g. restored/
    /// [default: the whole bucket].
    #[arg(long, value_name = "PREFIX", requires = "restore_role_arn")]
    restore_prefix: Option<String>,
    /// Refuse buckets not owned by this account (S3 checks it on every call).
    #[arg(long, value_name = "ID")]
    expected_owner: Option<String>,
    /// Read and report what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the policy statements for each bucket and exit (for policies managed elsewhere).
    #[arg(long)]
    print_statement: bool,
}

/// The restore grant of the flags, if asked for.
fn restore_grant(args: &Args) -> Result<Option<RestoreGrant>, InvalidInput> {
    let Some(restore) = &args.restore_role_arn else {
        return Ok(None);
    };
    // clap makes the two others required with --restore-role-arn.
    RestoreGrant::new(
        restore,
        args.plan_restore_role_arn.as_deref().unwrap_or_default(),
        args.verify_restore_role_arn.as_deref().unwrap_or_default(),
        args.restore_prefix.as_deref(),
    )
    .map(Some)
}

/// The large-copy grant of the flags, if asked for.
fn large_copy_grant(args: &Args) -> Result<Option<LargeCopyGrant>, InvalidInput> {
    let Some(plan) = &args.plan_large_copy_role_arn else {
        return Ok(None);
    };
    // clap makes --copy-parts-role-arn required with --plan-large-copy-role-arn.
    LargeCopyGrant::new(
        plan,
        args.copy_parts_role_arn.as_deref().unwrap_or_default(),
    )
    .map(Some)
}

/// The request of the flags: a source bucket (`--role-arn`, with or without the large-copy
/// grants), a restore target, or both.
fn request(
    args: &Args,
    large_copy: Option<LargeCopyGrant>,
    restore: Option<RestoreGrant>,
) -> Result<Request, InvalidInput> {
    let Some(role_arn) = &args.role_arn else {
        let grant = restore.ok_or_else(|| {
            InvalidInput::new("--role-arn", "give --role-arn, --restore-role-arn or both")
        })?;
        return Request::restore_target(grant, args.expected_owner.as_deref());
    };
    let Some(inventory_bucket) = &args.inventory_bucket else {
        return Err(InvalidInput::new(
            "--inventory-bucket",
            "required with --role-arn: give the backup stack's InventoryBucketName output",
        ));
    };
    let request = Request::new(
        role_arn,
        inventory_bucket,
        args.inventory_account.as_deref(),
        &args.prefix,
        &args.id,
        args.expected_owner.as_deref(),
    )?;
    let request = match large_copy {
        Some(grant) => request.with_large_copy(grant)?,
        None => request,
    };
    Ok(match restore {
        Some(grant) => request.with_restore(grant),
        None => request,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    kit::entry::init_tracing(false);
    let args = Args::parse();
    let restore = match restore_grant(&args) {
        Ok(r) => r,
        Err(e) => return usage_error(&e),
    };
    let large_copy = match large_copy_grant(&args) {
        Ok(g) => g,
        Err(e) => return usage_error(&e),
    };
    if args.print_statement {
        let role = match args.role_arn.as_deref().map(RoleArn::parse).transpose() {
            Ok(r) => r,
            Err(e) => return usage_error(&e),
        };
        for bucket in &args.buckets {
            if let Some(role) = &role {
                println!("{:#}", onboard_source::read_statement(role, bucket));
            }
            if let Some(grant) = &large_copy {
                for statement in onboard_source::large_copy_statements(grant, bucket) {
                    println!("{statement:#}");
                }
            }
            if let Some(grant) = &restore {
                for statement in onboard_source::restore_statements(grant, bucket) {
                    println!("{statement:#}");
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    let request = match request(&args, large_copy, restore) {
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

fn usage_error(e: &InvalidInput) -> ExitCode {
    eprintln!("onboard-source: {e}");
    ExitCode::from(2)
}
