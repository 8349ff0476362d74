//! `lakevault-local restore-demo` (`make restore-demo`): the restore drill, printed step by step.
//!
//! Backs up the demo table (and a second source whose version-0 files were deleted before the
//! backup, as a VACUUM would), reads versions 3 and 8 of the source with an independent reader
//! (the `deltalake` package), **deletes the source table**, restores version 3 and the backup
//! date's version into a new bucket with the real `lakevault restore --local`, reads them back
//! with the same reader and compares; then: the same restore again (one job), a non-empty target
//! (`TargetNotEmpty`, nothing written), a vacuumed-out version (`VersionNotRestorable`).

use std::path::Path;

use crate::demo::{ACCOUNT, DemoError, DemoOptions, DemoWorld, SNAPSHOT, SOURCE, TABLE, shown};
use crate::drill::{self, CommandRun};

/// The second source: the demo table with version 0's files deleted before its backup.
pub const VACUUMED: &str = "lake-vacuumed";
/// Its snapshot.
pub const VACUUMED_SNAPSHOT: &str = "lake-vacuumed-31-mar-2021";
/// Where the restores go.
pub const TARGET: &str = "lake-prod-restored";
/// A bucket that already holds something under the table's path.
pub const BUSY: &str = "lake-prod-scratch";

/// One check of the drill.
struct Checks(Vec<(String, bool)>);

impl Checks {
    fn check(&mut self, what: impl Into<String>, ok: bool) {
        let what = what.into();
        println!("  {} {what}", if ok { "ok  " } else { "FAIL" });
        self.0.push((what, ok));
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>()
}

fn show_run(run: &CommandRun) {
    print!("{}", indent(run.stderr.trim_end()));
    if !run.stdout.trim().is_empty() {
        println!();
        print!("{}", indent(run.stdout.trim_end()));
    }
    println!(
        "    (exit {})",
        run.code.map_or("signal".to_owned(), |c| c.to_string())
    );
}

/// The `lakevault restore` arguments of the drill: the snapshot, table, target, the local stack
/// and the settings file, then `extra`.
fn restore_args(
    world: &DemoWorld,
    settings: &Path,
    snapshot: &str,
    to: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = [
        "restore",
        "--local",
        &world.stack.url,
        "--settings",
        &shown(&world.opts.root, settings),
        "--snapshot",
        snapshot,
        "--table",
        TABLE.trim_end_matches('/'),
        "--to",
        to,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn command_line(args: &[String]) -> String {
    format!("target/debug/lakevault {}", args.join(" "))
}

/// Runs the drill, printing as it goes.
pub async fn run(opts: &DemoOptions) -> Result<(), DemoError> {
    let world = DemoWorld::start_with(opts, 0, "error").await?;
    let root = &opts.root;
    let env = world.env();
    let mut checks = Checks(Vec::new());

    println!(
        "\n1. Two sources, backed up for {}",
        crate::demo::BACKUP_DATE
    );
    let fixture = root.join("local/fixtures/delta-table");
    let version_0_files = drill::files_added_by(&fixture, TABLE, 0)?;
    world.add_source(SOURCE, &[]).await?;
    world.add_source(VACUUMED, &version_0_files).await?;
    let outcome = world
        .back_up(&[SOURCE, VACUUMED], "restore-drill-backup")
        .await?;
    let output = outcome
        .output
        .map_err(|e| DemoError::DrillFailed(format!("the backup failed: {e}")))?;
    let complete = output["results"]
        .as_array()
        .is_some_and(|r| r.iter().all(|x| x["outcome"] == "complete"));
    checks.check(
        format!("both backups complete (s3://{SNAPSHOT}, s3://{VACUUMED_SNAPSHOT})"),
        complete,
    );

    println!("\n2. The rows of versions 3 and 8 of the source, read by the deltalake package");
    let source_uri = format!("s3://{SOURCE}/{TABLE}");
    let python = &opts.python;
    let moto = world.moto_endpoint().to_owned();
    let before_3 = drill::digest(python, root, &source_uri, Some(3), &moto, &env).await?;
    let before_8 = drill::digest(python, root, &source_uri, Some(8), &moto, &env).await?;
    for d in [&before_3, &before_8] {
        world.say(format!(
            "{source_uri} version {}: {} rows, sha256 {}",
            d.version, d.rows, d.sha256
        ));
    }

    println!("\n3. The source table is lost");
    let deleted = drill::delete_prefix(&world.s3, SOURCE, TABLE).await?;
    let left = drill::keys(&world.s3, SOURCE, TABLE).await?.len();
    world.say(format!(
        "deleted every object under {source_uri}: {deleted} objects, {left} left"
    ));
    checks.check("the source table is gone", deleted > 0 && left == 0);

    let backup_jobs = drill::job_count(&world.sdk, &world.stack.url, ACCOUNT).await?;

    println!("\n4. What a restore of version 3 would do (--dry-run: reads only)");
    world.create_bucket(TARGET).await?;
    world.create_bucket(BUSY).await?;
    let settings = world.write_restore_settings().await?;
    let v3_to = format!("s3://{TARGET}/v3/{TABLE}");
    let args = restore_args(
        &world,
        &settings,
        SNAPSHOT,
        &v3_to,
        &["--version", "3", "--dry-run"],
    );
    println!("  $ {}", command_line(&args));
    let dry = drill::lakevault(&opts.bin_dir, root, &args, &env).await?;
    show_run(&dry);
    let jobs_before = drill::job_count(&world.sdk, &world.stack.url, ACCOUNT).await?;
    checks.check(
        "the dry run planned and wrote nothing",
        dry.code == Some(0)
            && drill::keys(&world.s3, TARGET, "").await?.is_empty()
            && jobs_before == backup_jobs,
    );

    println!("\n5. Restore version 3, and the backup date's version, into s3://{TARGET}");
    let args = restore_args(&world, &settings, SNAPSHOT, &v3_to, &["--version", "3"]);
    println!("  $ {}", command_line(&args));
    let restored_3 = drill::lakevault(&opts.bin_dir, root, &args, &env).await?;
    show_run(&restored_3);
    let dated_to = format!("s3://{TARGET}/{TABLE}");
    let args = restore_args(
        &world,
        &settings,
        SNAPSHOT,
        &dated_to,
        &["--as-of-backup-date"],
    );
    println!("  $ {}", command_line(&args));
    let restored_dated = drill::lakevault(&opts.bin_dir, root, &args, &env).await?;
    show_run(&restored_dated);
    checks.check(
        "both restores succeeded",
        restored_3.code == Some(0) && restored_dated.code == Some(0),
    );

    println!("\n6. The restored tables, read by the deltalake package");
    for (uri, before, run) in [
        (&v3_to, &before_3, &restored_3),
        (&dated_to, &before_8, &restored_dated),
    ] {
        if run.code != Some(0) {
            checks.check(format!("{uri} was restored"), false);
            continue;
        }
        let after = drill::digest(python, root, uri, None, &moto, &env).await?;
        world.say(format!(
            "{uri} latest version {}: {} rows, sha256 {}",
            after.version, after.rows, after.sha256
        ));
        checks.check(
            format!(
                "{uri} is version {} of the lost table: its latest version, the same {} rows",
                before.version, before.rows
            ),
            after.version == before.version
                && after.rows == before.rows
                && after.sha256 == before.sha256,
        );
    }

    println!("\n7. The same restore again: it resumes, no second copy job");
    let jobs = drill::job_count(&world.sdk, &world.stack.url, ACCOUNT).await?;
    let args = restore_args(&world, &settings, SNAPSHOT, &v3_to, &["--version", "3"]);
    println!("  $ {}", command_line(&args));
    let again = drill::lakevault(&opts.bin_dir, root, &args, &env).await?;
    show_run(&again);
    let jobs_after = drill::job_count(&world.sdk, &world.stack.url, ACCOUNT).await?;
    world.say(format!(
        "Batch Operations jobs: {jobs} before, {jobs_after} after"
    ));
    checks.check(
        "the second run succeeded with the same job",
        again.code == Some(0) && jobs_after == jobs && jobs == backup_jobs + 2,
    );

    println!("\n8. A target that is not empty: refused, nothing written");
    world
        .s3
        .put_object()
        .bucket(BUSY)
        .key(format!("{TABLE}notes.txt"))
        .body(b"someone's notes".to_vec().into())
        .send()
        .await
        .map_err(|e| DemoError::Aws(format!("PutObject: {e}")))?;
    let busy_before = drill::keys(&world.s3, BUSY, "").await?;
    let args = restore_args(
        &world,
        &settings,
        SNAPSHOT,
        &format!("s3://{BUSY}/{TABLE}"),
        &[],
    );
    println!("  $ {}", command_line(&args));
    let refused = drill::lakevault(&opts.bin_dir, root, &args, &env).await?;
    show_run(&refused);
    let busy_after = drill::keys(&world.s3, BUSY, "").await?;
    let jobs_now = drill::job_count(&world.sdk, &world.stack.url, ACCOUNT).await?;
    checks.check(
        "TargetNotEmpty, the target unchanged, no job",
        refused.code == Some(1)
            && refused.stderr.contains("TargetNotEmpty")
            && busy_after == busy_before
            && jobs_now == jobs_after,
    );

    println!("\n9. A version whose files were vacuumed before the backup");
    let args = restore_args(
        &world,
        &settings,
        VACUUMED_SNAPSHOT,
        &format!("s3://{TARGET}/vacuumed/{TABLE}"),
        &["--version", "0"],
    );
    println!("  $ {}", command_line(&args));
    let vacuumed = drill::lakevault(&opts.bin_dir, root, &args, &env).await?;
    show_run(&vacuumed);
    checks.check(
        "VersionNotRestorable, naming the nearest restorable version",
        vacuumed.code == Some(1)
            && vacuumed.stderr.contains("VersionNotRestorable")
            && vacuumed.stderr.contains("nearest restorable"),
    );

    println!("\n10. What the operators were told");
    world.print_notifications().await?;

    let failed: Vec<&str> = checks
        .0
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(w, _)| w.as_str())
        .collect();
    println!();
    world.say(format!(
        "restore drill: {} checks, {} failed; stopping moto and the local stack",
        checks.0.len(),
        failed.len()
    ));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(DemoError::DrillFailed(failed.join("; ")))
    }
}
