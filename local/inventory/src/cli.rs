//! The `local-inventory` command line: which delivery to write.

use std::num::NonZeroUsize;

use clap::Parser;
use time::OffsetDateTime;

use crate::{DEFAULT_ROWS_PER_FILE, Delivery, Field, UnknownField, Versions};

/// List a source bucket and write an S3 Inventory delivery (CSV) as S3 does.
///
/// Prints what it wrote as JSON on stdout. AWS_ENDPOINT_URL etc. point it at an emulator.
#[derive(Debug, Clone, Parser)]
#[command(name = "local-inventory", version)]
pub struct Args {
    /// The bucket to list.
    #[arg(long)]
    pub source_bucket: String,
    /// The bucket the delivery is written into.
    #[arg(long)]
    pub destination_bucket: String,
    /// The inventory configuration id.
    #[arg(long)]
    pub configuration_id: String,
    /// The destination prefix of the configuration.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Scan start time (UTC): 2021-04-02T01:00Z, 2021-04-02T01:00:00Z, RFC 3339, or a bare day
    /// 2021-04-02 (00:00). Default: now.
    #[arg(long, value_parser = parse_at)]
    pub at: Option<OffsetDateTime>,
    /// Optional fields, comma-separated (default Size,LastModifiedDate,ETag,StorageClass;
    /// 'none' for none).
    #[arg(long, value_parser = parse_fields)]
    pub fields: Option<FieldList>,
    /// current (default) or all (adds VersionId, IsLatest, IsDeleteMarker).
    #[arg(long, default_value = "current")]
    pub versions: Versions,
    /// Start a new data file after N rows.
    #[arg(long, default_value_t = NonZeroUsize::new(DEFAULT_ROWS_PER_FILE).unwrap_or(NonZeroUsize::MIN))]
    pub rows_per_file: NonZeroUsize,
}

/// The `--fields` list, in S3's column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldList(pub Vec<Field>);

impl Args {
    /// The delivery these arguments ask for (`at` defaults to now).
    pub fn delivery(self) -> Delivery {
        let mut d = Delivery::new(
            self.source_bucket,
            self.destination_bucket,
            self.prefix,
            self.configuration_id,
            self.at.unwrap_or_else(OffsetDateTime::now_utc),
        );
        if let Some(FieldList(f)) = self.fields {
            d.fields = f;
        }
        d.versions = self.versions;
        d.rows_per_file = self.rows_per_file.get();
        d
    }
}

fn parse_fields(s: &str) -> Result<FieldList, UnknownField> {
    if s.eq_ignore_ascii_case("none") {
        Ok(FieldList(Vec::new()))
    } else {
        Field::parse_list(s).map(FieldList)
    }
}

/// A `--at` that is none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected 2021-04-02T01:00Z, an RFC 3339 time, or 2021-04-02")]
pub struct BadTime(pub String);

/// Accepts `2021-04-02T01:00Z`, `2021-04-02T01:00:00Z`, any RFC 3339 time, or `2021-04-02`.
pub fn parse_at(s: &str) -> Result<OffsetDateTime, BadTime> {
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
    Err(BadTime(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_takes_minutes_seconds_rfc3339_or_a_day() {
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

    fn parse(line: &str) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("local-inventory").chain(line.split_whitespace()))
    }

    #[test]
    fn every_flag_parses_into_the_delivery_and_bad_ones_are_refused() {
        let d = parse(
            "--source-bucket s --destination-bucket d --configuration-id c \
             --prefix inv --at=2021-04-02T01:00Z --fields ETag,Size --versions all \
             --rows-per-file 10",
        )
        .unwrap()
        .delivery();
        assert_eq!(d.fields, vec![Field::Size, Field::ETag]);
        assert_eq!(d.versions, Versions::All);
        assert_eq!(d.rows_per_file, 10);
        assert_eq!(d.manifest_key(), "inv/s/c/2021-04-02T01-00Z/manifest.json");
        assert_eq!(
            d.symlink_key(),
            "inv/s/c/hive/dt=2021-04-02-01-00/symlink.txt"
        );
        assert!(parse("--source-bucket").is_err());
        assert!(parse("--rows-per-file 0").is_err());

        let d =
            parse("--source-bucket s --destination-bucket d --configuration-id c --fields none")
                .unwrap()
                .delivery();
        assert!(d.fields.is_empty());
        assert_eq!(d.versions, Versions::Current);
        assert_eq!(d.rows_per_file, DEFAULT_ROWS_PER_FILE);
        let e = parse("--fields Colour").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("Colour"), "{e}");
    }
}
