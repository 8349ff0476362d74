//! The `lakevault` command line (clap) and what each subcommand does.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};
use kit::InvalidInput;
use serde_json::{Value, json};

use crate::error::{CommandError, message_of_cause};
use crate::follow::{Finished, Status};
use crate::listing::Report;
use crate::progress::Reporter;
use crate::prune::PruneRequest;
use crate::request::{
    Named, ReportLocation, RestoreRequest, Settings, SettingsFile, VersionChoice,
};
use crate::{aws, catalog, keep, local, plan, prune, render};

/// lakevault's operator command.
#[derive(Debug, Parser)]
#[command(name = "lakevault", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Restores one version of a Delta table from a snapshot into an empty place: runs the
    /// restore state machine (plan, copy with S3 Batch Operations, verify with the Delta
    /// reader, notify) and follows it. Never writes over anything.
    #[command(
        after_help = "Exit status: 0 restored (or planned, or started with --no-wait); 1 the \
        restore failed or was refused (the step's errorType is printed); 2 usage (a flag or the \
        settings file); 3 Step Functions, S3 or the local stack could not be reached or refused; \
        130 interrupted (on AWS the execution goes on). See tools/lakevault/README.md."
    )]
    Restore(Box<RestoreArgs>),
    /// Lists the snapshots the catalog records (in the report bucket), as `restic snapshots`
    /// does: per source and date the verdict, size, restorable tables, Object Lock and, with a
    /// keep policy, what the policy keeps; the totals and the monthly storage cost.
    #[command(
        after_help = "Exit status: 0 listed; 2 usage (a flag or the settings file); 3 S3 could \
        not be reached or refused. See tools/lakevault/README.md."
    )]
    Snapshots(SnapshotsArgs),
    /// Applies a keep policy, as `restic forget` does: prints the plan (per source the snapshots
    /// kept with the reasons, the ones whose lock lapsed — expiring now — and the ones Object
    /// Lock still holds), then runs the prune state machine with that policy and follows it to
    /// its summary. With --dry-run only the plan. Never changes what a lock protects.
    #[command(
        after_help = "Exit status: 0 planned (--dry-run) or pruned (or started with --no-wait); \
        1 the prune failed (the step's errorType is printed) or was stopped; 2 usage (no policy, \
        neither --dry-run nor a place to run, a flag or the settings file); 3 S3, Step Functions \
        or the local stack could not be reached or refused; 130 interrupted (on AWS the \
        execution goes on). See tools/lakevault/README.md."
    )]
    Forget(ForgetArgs),
}

/// `restore`'s flags.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which_version").args(["version", "as_of_backup_date", "latest_restorable"])))]
#[command(group(ArgGroup::new("runs_on").args(["local", "state_machine_arn"])))]
pub struct RestoreArgs {
    /// The snapshot bucket (`<source>-<dd-mmm-yyyy>`, e.g. lake-prod-31-mar-2021).
    #[arg(long, value_name = "BUCKET")]
    pub snapshot: String,
    /// The table's folder in the snapshot (e.g. tables/events; "" for a table at the bucket root).
    #[arg(long, value_name = "PATH")]
    pub table: String,
    /// Restore this version.
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,
    /// Restore the version the table had at the end of the backup date (the default).
    #[arg(long)]
    pub as_of_backup_date: bool,
    /// Restore the newest version the snapshot can rebuild.
    #[arg(long)]
    pub latest_restorable: bool,
    /// Where the restored table goes: an empty prefix ending with the table's path
    /// (s3://BUCKET/<table>/ or s3://BUCKET/<folder>/<table>/).
    #[arg(long, value_name = "s3://BUCKET/PREFIX/")]
    pub to: String,
    /// Print the plan (version, objects, bytes, what goes where, cost) and change nothing; runs
    /// plan-restore in this process with these credentials.
    #[arg(long, conflicts_with = "no_wait")]
    pub dry_run: bool,
    /// Start the execution, print its ARN and return (AWS only).
    #[arg(long)]
    pub no_wait: bool,
    /// Print one JSON document on stdout instead of text (the progress line stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// A JSON file with the run settings (the restore run input's `settings` object, or a whole
    /// run input); flags override its fields.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// The backup account (12 digits).
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// The Batch Operations role of restores (the stack's RestoreBatchRoleArn output).
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// The report bucket (manifests, plans, job reports).
    #[arg(long, value_name = "BUCKET")]
    pub report_bucket: Option<String>,
    /// The report prefix [default: reports].
    #[arg(long, value_name = "PREFIX")]
    pub report_prefix: Option<String>,
    /// The SNS topic told about the outcome.
    #[arg(long, value_name = "ARN")]
    pub topic_arn: Option<String>,
    /// The copy job's priority [machine's default: 10].
    #[arg(long, value_name = "N")]
    pub priority: Option<u32>,
    /// Seconds between two polls of the copy job [machine's default: 60].
    #[arg(long, value_name = "S")]
    pub poll_seconds: Option<u32>,
    /// Polls before the machine gives up [machine's default: 1440].
    #[arg(long, value_name = "N")]
    pub max_polls: Option<u32>,
    /// Run on the local stack: the URL `lakevault-local up` (or `serve`) prints.
    #[arg(long, value_name = "URL")]
    pub local: Option<String>,
    /// Run on AWS: the restore state machine (the stack's RestoreStateMachineArn output).
    #[arg(long, value_name = "ARN")]
    pub state_machine_arn: Option<String>,
    /// Run a restore again after its execution ended (the execution name gets `-N`).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=999))]
    pub attempt: u32,
    /// The lakevault workspace, for --local (default: found from the current directory).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Seconds between two progress refreshes [default: 5 on AWS, 0.5 locally].
    #[arg(long, value_name = "S")]
    pub refresh_secs: Option<f64>,
}

/// The flags `snapshots` and `forget` share: where the catalog is, which source, the policy,
/// the prices, the clock.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Only the snapshots of this source bucket (default: every source in the catalog).
    #[arg(long, value_name = "BUCKET")]
    pub source: Option<String>,
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// The report bucket, which holds the catalog (default: the settings file's report.bucket).
    #[arg(long, value_name = "BUCKET")]
    pub report_bucket: Option<String>,
    /// The report prefix [default: the settings file's report.prefix, else reports].
    #[arg(long, value_name = "PREFIX")]
    pub report_prefix: Option<String>,
    /// A JSON file with the run settings (a run input's `settings` object, or the object
    /// itself): its `report`, and keep_daily… from its `keep` or `retention` object. Flags
    /// override its fields.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Keep the last N days' snapshots.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N ISO weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the last N years.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// The price of a storage class in USD per GiB-month, over the built-in us-east-1 list
    /// prices (repeatable), e.g. GLACIER_IR=0.005.
    #[arg(long, value_name = "CLASS=USD")]
    pub price_per_gib_month: Vec<String>,
    /// The moment to judge locks against (RFC 3339) instead of the system clock: for tests.
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<String>,
}

/// `snapshots`' flags.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// The catalog, the policy, the output.
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

/// `forget`'s flags.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("runs_on").args(["local", "state_machine_arn"])))]
pub struct ForgetArgs {
    /// Print the plan and change nothing.
    #[arg(long, conflicts_with = "no_wait")]
    pub dry_run: bool,
    /// Run on the local stack: the URL `lakevault-local up` (or `serve`) prints.
    #[arg(long, value_name = "URL")]
    pub local: Option<String>,
    /// The lakevault workspace, for --local (default: found from the current directory).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Run on AWS: the prune state machine (the stack's PruneStateMachineArn output).
    #[arg(long, value_name = "ARN")]
    pub state_machine_arn: Option<String>,
    /// Start the execution, print its ARN and return (AWS only).
    #[arg(long)]
    pub no_wait: bool,
    /// Prune again on a day a prune of this policy already ran (the execution name gets `-N`).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=999))]
    pub attempt: u32,
    /// Seconds between two progress refreshes [default: 5 on AWS, 0.5 locally].
    #[arg(long, value_name = "S")]
    pub refresh_secs: Option<f64>,
    /// The catalog, the policy, the output.
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

/// What the catalog flags resolve to, checked before any request.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogRequest {
    /// Where the catalog is.
    pub at: catalog::Location,
    /// One source, or all.
    pub source: Option<String>,
    /// The policy, when one is given.
    pub policy: Option<kit::retention::KeepPolicy>,
    /// The price list.
    pub prices: keep::Prices,
    /// The moment locks are judged against.
    pub now: keep::Secs,
}

impl CatalogArgs {
    /// The flags over the settings file, checked.
    pub fn resolve(&self) -> Result<CatalogRequest, InvalidInput> {
        if let Some(s) = &self.source {
            kit::validate::check_bucket("--source", s)?;
        }
        let file = match &self.settings {
            Some(p) => keep::CatalogSettings::read(p)?,
            None => keep::CatalogSettings::default(),
        };
        let bucket = self
            .report_bucket
            .clone()
            .or(file.report_bucket)
            .ok_or_else(|| {
                InvalidInput::new(
                    "--report-bucket",
                    "missing: the catalog is in the report bucket (pass --report-bucket or \
                     --settings)",
                )
            })?;
        kit::validate::check_bucket("--report-bucket", &bucket)?;
        let prefix = self
            .report_prefix
            .clone()
            .or(file.report_prefix)
            .unwrap_or_else(|| "reports".to_owned());
        if !prefix.is_empty() {
            kit::validate::check_key_prefix("--report-prefix", &prefix)?;
        }
        let policy = file
            .policy
            .overridden_by(keep::PolicyFields {
                keep_daily: self.keep_daily,
                keep_weekly: self.keep_weekly,
                keep_monthly: self.keep_monthly,
                keep_yearly: self.keep_yearly,
            })
            .policy()?;
        let prices = keep::Prices::with_overrides(&self.price_per_gib_month)?;
        let now = match &self.now {
            Some(t) => keep::parse_rfc3339(t).ok_or_else(|| {
                InvalidInput::new(
                    "--now",
                    format!("{} is not an RFC 3339 date-time", kit::validate::quote(t)),
                )
            })?,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        };
        Ok(CatalogRequest {
            at: catalog::Location { bucket, prefix },
            source: self.source.clone(),
            policy,
            prices,
            now,
        })
    }
}

/// Runs the command; `Ok` is exit 0.
pub async fn run(cli: Cli) -> Result<(), CommandError> {
    match cli.command {
        Command::Restore(a) => restore(*a).await,
        Command::Snapshots(a) => snapshots(a).await,
        Command::Forget(a) => forget(a).await,
    }
}

impl RestoreArgs {
    /// The version asked for.
    pub fn version_choice(&self) -> VersionChoice {
        match (self.version, self.latest_restorable) {
            (Some(v), _) => VersionChoice::Exact(v),
            (None, true) => VersionChoice::Named(Named::LatestRestorable),
            (None, false) => VersionChoice::Named(Named::AsOfBackupDate),
        }
    }

    /// The settings file with the flags over it.
    pub fn settings_file(&self) -> Result<SettingsFile, InvalidInput> {
        let file = match &self.settings {
            Some(p) => SettingsFile::read(p)?,
            None => SettingsFile::default(),
        };
        let report = match (&self.report_bucket, &self.report_prefix, &file.report) {
            (None, None, _) => None,
            (b, p, from_file) => Some(ReportLocation {
                bucket: b
                    .clone()
                    .or_else(|| from_file.as_ref().map(|r| r.bucket.clone()))
                    .unwrap_or_default(),
                prefix: p
                    .clone()
                    .or_else(|| from_file.as_ref().map(|r| r.prefix.clone()))
                    .unwrap_or_else(|| "reports".to_owned()),
            }),
        };
        Ok(file.overridden_by(SettingsFile {
            account_id: self.account_id.clone(),
            role_arn: self.role_arn.clone(),
            report,
            topic_arn: self.topic_arn.clone(),
            priority: self.priority,
            poll_seconds: self.poll_seconds,
            max_polls: self.max_polls,
        }))
    }

    fn refresh(&self, default: Duration) -> Result<Duration, InvalidInput> {
        refresh(self.refresh_secs, default)
    }
}

/// `--refresh-secs`, checked.
fn refresh(secs: Option<f64>, default: Duration) -> Result<Duration, InvalidInput> {
    match secs {
        None => Ok(default),
        Some(s) if (0.05..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(InvalidInput::new(
            "--refresh-secs",
            format!("{s} is not between 0.05 and 3600"),
        )),
    }
}

/// `--root`, or the workspace found from the current directory.
fn workspace_root(root: &Option<PathBuf>) -> Result<PathBuf, CommandError> {
    match root {
        Some(r) => Ok(r.clone()),
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| CommandError::LocalStack(format!("no current directory: {e}")))?;
            Ok(lakevault_local::stack::find_root(&cwd).unwrap_or(cwd))
        }
    }
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

async fn restore(a: RestoreArgs) -> Result<(), CommandError> {
    let req = RestoreRequest::new(&a.snapshot, &a.table, a.version_choice(), &a.to)?;
    let file = a.settings_file()?;
    if a.dry_run {
        let report = file.report.clone().ok_or_else(|| {
            InvalidInput::new(
                "--report-bucket",
                "missing: a dry run needs the report bucket (pass --report-bucket or --settings)",
            )
        })?;
        let conf = kit::clients::load_sdk_config().await?;
        let planned = plan::dry_run(&conf, &req, &report).await?;
        if a.json {
            print_json(&planned);
        } else {
            println!("dry run: nothing was written\n");
            print!("{}", render::plan_text(&planned));
        }
        return Ok(());
    }
    let runs_on = match (&a.local, &a.state_machine_arn) {
        (Some(url), _) => RunsOn::Local(url.clone()),
        (None, Some(arn)) => RunsOn::Aws(arn.clone()),
        (None, None) => {
            return Err(InvalidInput::new(
                "--local",
                "say where to run: --local URL (the local stack) or --state-machine-arn ARN \
                 (AWS); or --dry-run to only plan",
            )
            .into());
        }
    };
    let settings = Settings::complete(file)?;
    let name = req.execution_name(a.attempt);
    let mut reporter = Reporter::new(false);
    let finished = match &runs_on {
        RunsOn::Local(url) => {
            if a.no_wait {
                return Err(InvalidInput::new(
                    "--no-wait",
                    "the local runner runs inside this command and cannot detach: run without \
                     --no-wait (put the command in the background with `&` if you like)",
                )
                .into());
            }
            let opts = local::LocalOptions {
                url: url.clone(),
                root: workspace_root(&a.root)?,
                refresh: a.refresh(Duration::from_millis(500))?,
            };
            reporter.note(&format!("local execution {name} on {url}"));
            local::run(&req, &settings, &opts, &name, &mut reporter).await?
        }
        RunsOn::Aws(arn) => {
            aws::check_state_machine_arn(arn)?;
            let refresh = a.refresh(Duration::from_secs(5))?;
            let conf = kit::clients::load_sdk_config().await?;
            let sfn = aws_sdk_sfn::Client::new(&conf);
            let started = aws::start(&sfn, arn, &name, &req.run_input(&settings)).await?;
            if a.no_wait {
                if a.json {
                    print_json(
                        &json!({"execution_arn": started.execution_arn, "name": name,
                                       "started": started.new}),
                    );
                } else {
                    println!("{}", started.execution_arn);
                }
                return Ok(());
            }
            if started.new {
                reporter.note(&format!("started {}", started.execution_arn));
            } else {
                reporter.note(&format!(
                    "an execution of this restore exists already: following {} (to run the \
                     restore again once it has ended, pass --attempt {})",
                    started.execution_arn,
                    a.attempt + 1
                ));
            }
            aws::follow(
                &conf,
                &started.execution_arn,
                &settings.account_id,
                refresh,
                &mut reporter,
            )
            .await?
        }
    };
    reporter.finish();
    report(finished, a.json)
}

/// Where an execution (a restore, a prune) runs.
enum RunsOn {
    /// The local stack at this URL.
    Local(String),
    /// The state machine of this ARN.
    Aws(String),
}

/// Prints a finished execution; a failure is the error the command ends with.
fn report(finished: Finished, as_json: bool) -> Result<(), CommandError> {
    let Finished {
        execution,
        status,
        seen,
    } = finished;
    match status {
        Status::Succeeded(output) => {
            if as_json {
                print_json(&json!({
                    "execution": execution,
                    "status": "SUCCEEDED",
                    "plan": seen.plan,
                    "job_id": seen.job_id,
                    "verification": seen.verified,
                    "output": output,
                }));
            } else {
                print!(
                    "{}",
                    render::outcome_text(
                        seen.plan.as_ref(),
                        seen.job_id.as_deref(),
                        seen.verified.as_ref(),
                        &execution
                    )
                );
            }
            Ok(())
        }
        Status::Failed { error, cause } => Err(CommandError::Restore {
            command: "restore",
            error_type: error,
            message: message_of_cause(&cause),
            state: seen.failed_state,
            execution: Some(execution),
        }),
        Status::Stopped(status) => Err(CommandError::Stopped { execution, status }),
    }
}

/// Reads the catalog for a checked request.
async fn read_catalog(req: &CatalogRequest) -> Result<catalog::Catalog, CommandError> {
    let conf = kit::clients::load_sdk_config().await?;
    let s3 = kit::clients::s3(&conf);
    let read = catalog::read(&s3, &req.at, req.source.as_deref()).await?;
    for u in &read.unreadable {
        eprintln!(
            "lakevault: warning: s3://{}/{}: {}; skipped",
            req.at.bucket, u.key, u.why
        );
    }
    Ok(read)
}

async fn snapshots(a: SnapshotsArgs) -> Result<(), CommandError> {
    let req = a.catalog.resolve()?;
    let read = read_catalog(&req).await?;
    let report = Report::new(&req.at, &read, req.policy, req.now, &req.prices)?;
    if a.catalog.json {
        print_json(&report.snapshots_json());
    } else {
        print!("{}", report.snapshots_text());
    }
    Ok(())
}

async fn forget(a: ForgetArgs) -> Result<(), CommandError> {
    let req = a.catalog.resolve()?;
    let policy = req
        .policy
        .ok_or_else(|| keep::policy_error(kit::retention::RetentionError::EmptyPolicy))?;
    if a.dry_run {
        let read = read_catalog(&req).await?;
        let report = Report::new(&req.at, &read, Some(policy), req.now, &req.prices)?;
        if a.catalog.json {
            print_json(&report.forget_json());
        } else {
            print!("{}", report.forget_text());
        }
        return Ok(());
    }
    // Where it runs, checked before any request.
    let runs_on = match (&a.local, &a.state_machine_arn) {
        (Some(url), _) => {
            if a.no_wait {
                return Err(InvalidInput::new(
                    "--no-wait",
                    "the local runner runs inside this command and cannot detach: run without \
                     --no-wait",
                )
                .into());
            }
            RunsOn::Local(url.clone())
        }
        (None, Some(arn)) => {
            aws::check_state_machine_arn(arn)?;
            RunsOn::Aws(arn.clone())
        }
        (None, None) => {
            return Err(InvalidInput::new(
                "--local",
                "say where to prune: --local URL (the local stack) or --state-machine-arn ARN \
                 (AWS: the prune state machine); or --dry-run to only print the plan",
            )
            .into());
        }
    };
    let refresh_every = refresh(
        a.refresh_secs,
        match runs_on {
            RunsOn::Local(_) => Duration::from_millis(500),
            RunsOn::Aws(_) => Duration::from_secs(5),
        },
    )?;
    let prune_req = PruneRequest {
        report: req.at.clone(),
        policy,
        source: req.source.clone(),
    };
    let today = keep::day_of(req.now)
        .ok_or_else(|| InvalidInput::new("--now", "the clock is outside the years 0 to 9999"))?;
    let name = prune_req.execution_name(today, a.attempt);

    // The plan first, as --dry-run prints it: what is being applied.
    let read = read_catalog(&req).await?;
    let report = Report::new(&req.at, &read, Some(policy), req.now, &req.prices)?;
    let mut plan_json = report.forget_json();
    plan_json["dry_run"] = json!(false);
    if !a.catalog.json {
        print!("{}", report.forget_plan_text());
        println!();
    }

    let mut reporter = Reporter::new(false);
    let finished = match &runs_on {
        RunsOn::Local(url) => {
            let opts = local::LocalOptions {
                url: url.clone(),
                root: workspace_root(&a.root)?,
                refresh: refresh_every,
            };
            reporter.note(&format!("local execution {name} on {url}"));
            local::run_prune(&prune_req, &opts, &name, &mut reporter).await?
        }
        RunsOn::Aws(arn) => {
            let conf = kit::clients::load_sdk_config().await?;
            let sfn = aws_sdk_sfn::Client::new(&conf);
            let started = aws::start(&sfn, arn, &name, &prune_req.run_input()).await?;
            if a.no_wait {
                if a.catalog.json {
                    print_json(
                        &json!({"plan": plan_json, "execution_arn": started.execution_arn,
                                       "name": name, "started": started.new}),
                    );
                } else {
                    println!("{}", started.execution_arn);
                }
                return Ok(());
            }
            if started.new {
                reporter.note(&format!("started {}", started.execution_arn));
            } else {
                reporter.note(&format!(
                    "a prune of this policy ran today already: following {} (to prune again, \
                     pass --attempt {})",
                    started.execution_arn,
                    a.attempt + 1
                ));
            }
            // No copy job to look at: the account is not needed.
            aws::follow(
                &conf,
                &started.execution_arn,
                "",
                refresh_every,
                &mut reporter,
            )
            .await?
        }
    };
    reporter.finish();
    let Finished {
        execution,
        status,
        seen,
    } = finished;
    match status {
        Status::Succeeded(output) => {
            let totals = prune::totals(&seen.pruned, &output);
            if a.catalog.json {
                print_json(&json!({
                    "plan": plan_json,
                    "execution": execution,
                    "status": "SUCCEEDED",
                    "summary": totals,
                    "output": output,
                }));
            } else {
                print!("{}", prune::summary_text(&totals, &execution));
            }
            Ok(())
        }
        Status::Failed { error, cause } => Err(CommandError::Restore {
            command: "forget",
            error_type: error,
            message: message_of_cause(&cause),
            state: Some("PruneSnapshots".to_owned()),
            execution: Some(execution),
        }),
        Status::Stopped(status) => Err(CommandError::Stopped { execution, status }),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("lakevault").chain(line.split_whitespace()))
    }

    fn restore_args(line: &str) -> RestoreArgs {
        match parse(line).unwrap().command {
            Command::Restore(a) => *a,
            _ => panic!("not restore"),
        }
    }

    const BASE: &str = "restore --snapshot lake-prod-31-mar-2021 --table events --to s3://lake-prod-restored/events/";

    #[test]
    fn the_version_defaults_to_the_backup_date_and_the_three_ways_exclude_each_other() {
        assert_eq!(
            restore_args(BASE).version_choice(),
            VersionChoice::Named(Named::AsOfBackupDate)
        );
        assert_eq!(
            restore_args(&format!("{BASE} --version 41")).version_choice(),
            VersionChoice::Exact(41)
        );
        assert_eq!(
            restore_args(&format!("{BASE} --latest-restorable")).version_choice(),
            VersionChoice::Named(Named::LatestRestorable)
        );
        for bad in [
            "--version 3 --latest-restorable",
            "--as-of-backup-date --version 3",
            "--version -1",
            "--dry-run --no-wait",
            "--local http://x --state-machine-arn arn",
            "--attempt 0",
        ] {
            let e = parse(&format!("{BASE} {bad}")).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
        for missing in [
            "restore --table events --to s3://a-b/events/",
            "restore --snapshot a-b --to s3://a-b/events/",
            "restore --snapshot a-b --table events",
        ] {
            assert!(parse(missing).is_err(), "{missing}");
        }
    }

    #[test]
    fn flags_override_the_settings_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        std::fs::write(
            &file,
            r#"{"settings": {"account_id": "123456789012", "report": {"bucket": "lakevault-reports", "prefix": "reports"},
                "role_arn": "arn:aws:iam::123456789012:role/r", "topic_arn": "arn:aws:sns:us-east-1:123456789012:t",
                "poll_seconds": 60}}"#,
        )
        .unwrap();
        let a = restore_args(&format!(
            "{BASE} --settings {} --report-prefix restores --poll-seconds 5",
            file.display()
        ));
        let s = Settings::complete(a.settings_file().unwrap()).unwrap();
        assert_eq!(s.report.bucket, "lakevault-reports");
        assert_eq!(s.report.prefix, "restores");
        assert_eq!(s.poll_seconds, Some(5));
        let a = restore_args(&format!("{BASE} --report-bucket rep-bucket"));
        assert_eq!(
            a.settings_file().unwrap().report,
            Some(ReportLocation {
                bucket: "rep-bucket".into(),
                prefix: "reports".into()
            })
        );
        std::fs::write(&file, r#"{"account_id": 1}"#).unwrap();
        let a = restore_args(&format!("{BASE} --settings {}", file.display()));
        assert_eq!(a.settings_file().unwrap_err().path, "--settings");
    }
}
