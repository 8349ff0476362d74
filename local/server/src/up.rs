//! `lakevault-local up`: the demo's world, backed up, left running for commands by hand.
//!
//! Starts moto and the local stack, backs up the demo table (as `make demo` does), creates an
//! empty restore target bucket and a restore settings file, prints the environment to export and
//! the `lakevault restore --local …` commands to try, and keeps everything running until Ctrl-C.

use crate::demo::{DemoError, DemoOptions, DemoWorld, SNAPSHOT, SOURCE, TABLE, shown};

/// The empty bucket `up` creates for restores.
pub const RESTORE_TARGET: &str = "lake-prod-restored";

/// Runs `up` until Ctrl-C (the stack on `port`, 0 for any free one).
pub async fn run(opts: &DemoOptions, port: u16) -> Result<(), DemoError> {
    let world = DemoWorld::start(opts, port).await?;
    world.add_source(SOURCE, &[]).await?;
    let outcome = world.back_up(&[SOURCE], "up").await?;
    match &outcome.output {
        Ok(output) => world.print_backup(output).await?,
        Err(e) => println!("\nThe backup FAILED: {e}"),
    }
    world.print_notifications().await?;
    world.create_bucket(RESTORE_TARGET).await?;
    let settings = world.write_restore_settings().await?;
    let settings = shown(&opts.root, &settings);
    let url = &world.stack.url;
    let exports: Vec<String> = world
        .env()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let table = TABLE.trim_end_matches('/');
    println!(
        "\nThe local stack is up: moto {moto}, Lambda + S3 Batch Operations {url}; \
         s3://{RESTORE_TARGET} is empty.\nIn another shell, from the workspace:\n\n\
         export {exports}\n\n\
         # what a restore would do (reads only):\n\
         target/debug/lakevault restore --local {url} --settings {settings} \\\n    \
         --snapshot {SNAPSHOT} --table {table} --to s3://{RESTORE_TARGET}/{TABLE} --dry-run\n\
         # the restore (the backup date's version), followed until it ends:\n\
         target/debug/lakevault restore --local {url} --settings {settings} \\\n    \
         --snapshot {SNAPSHOT} --table {table} --to s3://{RESTORE_TARGET}/{TABLE}\n\
         # read it back with the deltalake package:\n\
         .venv/bin/python local/fixtures/delta_digest.py s3://{RESTORE_TARGET}/{TABLE} --endpoint {moto}\n\n\
         Ctrl-C stops moto and the local stack.",
        moto = world.moto_endpoint(),
        exports = exports.join(" "),
    );
    local_batch::shutdown_signal().await;
    world.say("stopping moto and the local stack");
    Ok(())
}
