//! `local-inventory`: write an S3 Inventory delivery into a bucket, as S3 would.
//!
//! Endpoints, region and credentials come from the usual AWS variables (`AWS_ENDPOINT_URL`…).

use std::process::ExitCode;

use local_inventory::{Delivery, Field, Versions};
use time::OffsetDateTime;

const USAGE: &str = "\
local-inventory: list a source bucket and write an S3 Inventory delivery (CSV) as S3 does.

usage: local-inventory --source-bucket NAME --destination-bucket NAME --configuration-id ID
                       [--prefix PREFIX] [--at TIME] [--fields F1,F2,...]
                       [--versions current|all] [--rows-per-file N]

  --at TIME        scan start time (UTC): 2021-04-02T01:00Z, 2021-04-02T01:00:00Z, RFC 3339,
                   or a bare day 2021-04-02 (00:00). Default: now.
  --fields         optional fields (default Size,LastModifiedDate,ETag,StorageClass; 'none' for none)
  --versions       current (default) or all (adds VersionId, IsLatest, IsDeleteMarker)
  --rows-per-file  start a new data file after N rows (default 250000)

Prints what it wrote as JSON on stdout. AWS_ENDPOINT_URL etc. point it at an emulator.";

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
    let delivery = match parse_args(&args) {
        Ok(Some(d)) => d,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("local-inventory: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let conf = kit::clients::load_sdk_config().await;
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

fn parse_args(args: &[String]) -> Result<Option<Delivery>, String> {
    let mut source = None;
    let mut dest = None;
    let mut config = None;
    let mut prefix = String::new();
    let mut at = None;
    let mut fields = None;
    let mut versions = Versions::Current;
    let mut rows = local_inventory::DEFAULT_ROWS_PER_FILE;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        // Both `--flag value` and `--flag=value`.
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name {
            "--source-bucket" => source = Some(value()?),
            "--destination-bucket" => dest = Some(value()?),
            "--configuration-id" => config = Some(value()?),
            "--prefix" => prefix = value()?,
            "--at" => at = Some(parse_at(&value()?)?),
            "--fields" => {
                let v = value()?;
                fields = Some(if v.eq_ignore_ascii_case("none") {
                    Vec::new()
                } else {
                    Field::parse_list(&v).map_err(|e| e.to_string())?
                });
            }
            "--versions" => versions = value()?.parse()?,
            "--rows-per-file" => {
                let v = value()?;
                rows =
                    v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("--rows-per-file {v:?}: expected a positive number")
                    })?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let need = |v: Option<String>, f: &str| v.ok_or_else(|| format!("{f} is required"));
    let mut d = Delivery::new(
        need(source, "--source-bucket")?,
        need(dest, "--destination-bucket")?,
        prefix,
        need(config, "--configuration-id")?,
        at.unwrap_or_else(OffsetDateTime::now_utc),
    );
    if let Some(f) = fields {
        d.fields = f;
    }
    d.versions = versions;
    d.rows_per_file = rows;
    Ok(Some(d))
}

/// Accepts `2021-04-02T01:00Z`, `2021-04-02T01:00:00Z`, any RFC 3339 time, or `2021-04-02`.
fn parse_at(s: &str) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    if let Ok(t) = time::PrimitiveDateTime::parse(s, minutes) {
        return Ok(t.assume_utc());
    }
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    if let Ok(t) = time::PrimitiveDateTime::parse(s, seconds) {
        return Ok(t.assume_utc());
    }
    let day = format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, day) {
        return Ok(d.midnight().assume_utc());
    }
    Err(format!(
        "--at {s:?}: expected 2021-04-02T01:00Z, an RFC 3339 time, or 2021-04-02"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_formats() {
        let t = parse_at("2021-04-02T01:00Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_617_325_200);
        assert_eq!(parse_at("2021-04-02T01:00:00Z").unwrap(), t);
        assert_eq!(parse_at("2021-04-02T03:00:00+02:00").unwrap(), t);
        assert_eq!(
            parse_at("2021-04-02").unwrap().unix_timestamp(),
            1_617_321_600
        );
        assert!(parse_at("yesterday").is_err());
    }

    #[test]
    fn args() {
        let a: Vec<String> = "--source-bucket s --destination-bucket d --configuration-id c \
                              --prefix inv --at=2021-04-02T01:00Z --fields ETag,Size --versions all \
                              --rows-per-file 10"
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let d = parse_args(&a).unwrap().unwrap();
        assert_eq!(d.fields, vec![Field::Size, Field::ETag]);
        assert_eq!(d.versions, Versions::All);
        assert_eq!(d.rows_per_file, 10);
        assert_eq!(d.manifest_key(), "inv/s/c/2021-04-02T01-00Z/manifest.json");
        assert_eq!(
            d.symlink_key(),
            "inv/s/c/hive/dt=2021-04-02-01-00/symlink.txt"
        );
        assert!(parse_args(&["--source-bucket".to_owned()]).is_err());
        assert!(parse_args(&["--rows-per-file".into(), "0".into()]).is_err());
    }
}
