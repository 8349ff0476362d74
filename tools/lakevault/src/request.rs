//! What a restore asks for, checked before any request: the snapshot, the table, the version, the
//! target (with the target path rule), and the run settings; and the run input, plan-restore's
//! input and the execution name built from them.

use std::path::Path;

use kit::InvalidInput;
use kit::validate::{self, ArnKind, quote};
use plan_restore::paths;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Which version of the table to restore: plan-restore's own type (a number, or a rule).
pub use plan_restore::{Named, VersionChoice};

/// The contract's `version` value: `"as_of_backup_date"`, `"latest_restorable"` or a number.
pub fn version_json(v: VersionChoice) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Where the restored table goes: `s3://bucket/prefix`, the prefix being the restored table's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The target bucket.
    pub bucket: String,
    /// The restored table's root in it (`""` or ending with `/`).
    pub prefix: String,
    /// The folder Batch Operations puts in front of each snapshot key (TargetKeyPrefix), if any.
    pub target_key_prefix: Option<String>,
}

impl Target {
    /// `s3://bucket/prefix`: the restored table's URL.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The table's root in the snapshot, as plan-restore normalises it: `events` → `events/`,
/// `/tables/events` → `tables/events/`; `""` or `/` for a table at the bucket root.
pub fn table_root(table: &str) -> Result<String, InvalidInput> {
    let root = paths::normalise_root("--table", table)?;
    if root == "_delta_log/" || root.ends_with("/_delta_log/") {
        return Err(InvalidInput::new(
            "--table",
            format!(
                "{} names the table's _delta_log folder; give the table's own folder",
                quote(table)
            ),
        ));
    }
    Ok(root)
}

/// Parses `--to s3://BUCKET/PREFIX` for a table whose root in the snapshot is `table_root`.
///
/// S3 Batch Operations can only put a folder in front of each key (TargetKeyPrefix `q` + key `k`
/// → `q/k`), so the restored root `P` must be `Q + table_root` with `Q` empty or ending in `/`;
/// the job's TargetKeyPrefix is `Q` without its trailing `/` (plan-restore's rule, checked here
/// before any request so that the command can say which `--to` values work).
pub fn parse_target(to: &str, table_root: &str) -> Result<Target, InvalidInput> {
    let Some(rest) = to.strip_prefix("s3://") else {
        return Err(InvalidInput::new(
            "--to",
            format!(
                "{} is not an s3:// URL; give s3://BUCKET/{table_root}",
                quote(to)
            ),
        ));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    validate::check_bucket("--to", bucket)?;
    if prefix.starts_with('/') {
        return Err(InvalidInput::new(
            "--to",
            format!("{} has an empty folder name (\"//\")", quote(to)),
        ));
    }
    let prefix = paths::normalise_root("--to", prefix)?;
    let target_key_prefix = paths::target_key_prefix(table_root, &prefix).map_err(|_| {
        let table_shown = if table_root.is_empty() {
            "the bucket root".to_owned()
        } else {
            table_root.to_owned()
        };
        InvalidInput::new(
            "--to",
            format!(
                "{} does not end with the table's path {table_shown}: a restore keeps each \
                 object's path under the table and can only put a folder in front of it (S3 \
                 Batch Operations' TargetKeyPrefix). Use s3://{bucket}/{table_root} or \
                 s3://{bucket}/<folder>/{table_root}",
                quote(to)
            ),
        )
    })?;
    Ok(Target {
        bucket: bucket.to_owned(),
        prefix,
        target_key_prefix,
    })
}

/// Where Batch Operations writes its reports (and plan-restore its manifest and plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportLocation {
    /// Bucket.
    pub bucket: String,
    /// Key prefix (no `/` at either end).
    pub prefix: String,
}

/// The contract's `settings` object, as a file holds it (every field optional here: flags may
/// supply or override each one; [`Settings::complete`] says what is still missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    /// The backup account.
    pub account_id: Option<String>,
    /// The Batch Operations role of restores.
    pub role_arn: Option<String>,
    /// Reports, manifests, plans.
    pub report: Option<ReportLocation>,
    /// Who hears about the outcome.
    pub topic_arn: Option<String>,
    /// Batch Operations job priority.
    pub priority: Option<u32>,
    /// Seconds between two job polls.
    pub poll_seconds: Option<u32>,
    /// Polls before the machine gives up.
    pub max_polls: Option<u32>,
}

impl SettingsFile {
    /// Reads a settings file: the contract's `settings` object, or a whole run input holding one
    /// under `settings`.
    pub fn read(path: &Path) -> Result<SettingsFile, InvalidInput> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InvalidInput::new("--settings", format!("cannot read {}: {e}", path.display()))
        })?;
        let mut doc: Value = serde_json::from_str(&text).map_err(|e| {
            InvalidInput::new("--settings", format!("{} is not JSON: {e}", path.display()))
        })?;
        if let Some(inner) = doc.get_mut("settings") {
            doc = inner.take();
        }
        serde_path_to_error::deserialize(doc).map_err(|e| {
            let inner = InvalidInput::from_serde(e);
            InvalidInput::new(
                "--settings",
                format!("{} at {}: {}", path.display(), inner.path, inner.message),
            )
        })
    }

    /// `self` with every field that `other` sets taken from `other`.
    pub fn overridden_by(self, other: SettingsFile) -> SettingsFile {
        SettingsFile {
            account_id: other.account_id.or(self.account_id),
            role_arn: other.role_arn.or(self.role_arn),
            report: other.report.or(self.report),
            topic_arn: other.topic_arn.or(self.topic_arn),
            priority: other.priority.or(self.priority),
            poll_seconds: other.poll_seconds.or(self.poll_seconds),
            max_polls: other.max_polls.or(self.max_polls),
        }
    }
}

/// The run settings, complete and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The backup account (12 digits).
    pub account_id: String,
    /// The Batch Operations role of restores.
    pub role_arn: String,
    /// Reports, manifests, plans.
    pub report: ReportLocation,
    /// Who hears about the outcome.
    pub topic_arn: String,
    /// Job priority (default in the machine: 10).
    pub priority: Option<u32>,
    /// Seconds between two job polls (default in the machine: 60).
    pub poll_seconds: Option<u32>,
    /// Polls before giving up (default in the machine: 1440).
    pub max_polls: Option<u32>,
}

impl Settings {
    /// Every required field present and well-formed.
    pub fn complete(f: SettingsFile) -> Result<Settings, InvalidInput> {
        let missing = |flag: &str, field: &str| {
            InvalidInput::new(
                flag,
                format!("missing: pass {flag} or put \"{field}\" in the --settings file"),
            )
        };
        let account_id = f
            .account_id
            .ok_or_else(|| missing("--account-id", "account_id"))?;
        validate::check_account_id("--account-id", &account_id)?;
        let role_arn = f
            .role_arn
            .ok_or_else(|| missing("--role-arn", "role_arn"))?;
        validate::check_arn("--role-arn", &role_arn, ArnKind::Role)?;
        let report = f
            .report
            .ok_or_else(|| missing("--report-bucket", "report"))?;
        validate::check_bucket("--report-bucket", &report.bucket)?;
        validate::check_key_prefix("--report-prefix", &report.prefix)?;
        if report.prefix.is_empty()
            || report.prefix.starts_with('/')
            || report.prefix.ends_with('/')
        {
            return Err(InvalidInput::new(
                "--report-prefix",
                format!(
                    "{} must be a non-empty prefix without '/' at either end, e.g. reports",
                    quote(&report.prefix)
                ),
            ));
        }
        let topic_arn = f
            .topic_arn
            .ok_or_else(|| missing("--topic-arn", "topic_arn"))?;
        validate::check_arn("--topic-arn", &topic_arn, ArnKind::Topic)?;
        for (flag, v) in [
            ("--poll-seconds", f.poll_seconds),
            ("--max-polls", f.max_polls),
        ] {
            if v == Some(0) {
                return Err(InvalidInput::new(flag, "must be at least 1"));
            }
        }
        Ok(Settings {
            account_id,
            role_arn,
            report,
            topic_arn,
            priority: f.priority,
            poll_seconds: f.poll_seconds,
            max_polls: f.max_polls,
        })
    }

    /// The contract's `settings` object (unset optional fields left to the machine's defaults).
    pub fn to_json(&self) -> Value {
        let mut s = json!({
            "account_id": self.account_id,
            "role_arn": self.role_arn,
            "report": {"bucket": self.report.bucket, "prefix": self.report.prefix},
            "topic_arn": self.topic_arn,
        });
        for (k, v) in [
            ("priority", self.priority),
            ("poll_seconds", self.poll_seconds),
            ("max_polls", self.max_polls),
        ] {
            if let Some(v) = v {
                s[k] = json!(v);
            }
        }
        s
    }
}

/// One restore, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// The snapshot bucket (`lake-prod-31-mar-2021`).
    pub snapshot_bucket: String,
    /// The table as given (`tables/events`), without `/` at either end.
    pub table: String,
    /// Which version.
    pub version: VersionChoice,
    /// Where to.
    pub target: Target,
}

impl RestoreRequest {
    /// Checks the snapshot, table and `--to` together.
    pub fn new(
        snapshot_bucket: &str,
        table: &str,
        version: VersionChoice,
        to: &str,
    ) -> Result<RestoreRequest, InvalidInput> {
        validate::check_bucket("--snapshot", snapshot_bucket)?;
        let root = table_root(table)?;
        let target = parse_target(to, &root)?;
        if target.bucket == snapshot_bucket {
            return Err(InvalidInput::new(
                "--to",
                "a restore never writes into the snapshot bucket: give another bucket",
            ));
        }
        Ok(RestoreRequest {
            snapshot_bucket: snapshot_bucket.to_owned(),
            table: root.trim_end_matches('/').to_owned(),
            version,
            target,
        })
    }

    /// The run input's `restore` object.
    pub fn restore_json(&self) -> Value {
        json!({
            "snapshot_bucket": self.snapshot_bucket,
            "table": self.table,
            "version": version_json(self.version),
            "target": {"bucket": self.target.bucket, "prefix": self.target.prefix},
        })
    }

    /// What `lakevault restore` sends to StartExecution (the contract's run input).
    pub fn run_input(&self, settings: &Settings) -> Value {
        json!({"restore": self.restore_json(), "settings": settings.to_json()})
    }

    /// plan-restore's input for this restore.
    pub fn plan_input(&self, report: &ReportLocation, dry_run: bool) -> Value {
        json!({
            "snapshot_bucket": self.snapshot_bucket,
            "table": self.table,
            "version": version_json(self.version),
            "target": {"bucket": self.target.bucket, "prefix": self.target.prefix},
            "report": {"bucket": report.bucket, "prefix": report.prefix},
            "dry_run": dry_run,
        })
    }

    /// The execution's name: `restore-<16 hex of sha256 of the restore object>`, `-<attempt>`
    /// appended from the second attempt on. The same restore asked twice is the same execution
    /// (Step Functions refuses a second one of that name); settings do not change the name.
    pub fn execution_name(&self, attempt: u32) -> String {
        let digest = Sha256::digest(self.restore_json().to_string().as_bytes());
        let hash = hex::encode(&digest[..8]);
        if attempt <= 1 {
            format!("restore-{hash}")
        } else {
            format!("restore-{hash}-{attempt}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_must_end_with_the_table_path() {
        let t = parse_target("s3://lake-prod-restored/events/", "events/").unwrap();
        assert_eq!(
            (t.bucket.as_str(), t.prefix.as_str(), t.target_key_prefix),
            ("lake-prod-restored", "events/", None)
        );
        let t = parse_target("s3://restored/drill/2021/events", "events/").unwrap();
        assert_eq!(t.prefix, "drill/2021/events/");
        assert_eq!(t.target_key_prefix.as_deref(), Some("drill/2021"));
        assert_eq!(t.url(), "s3://restored/drill/2021/events/");
        let t = parse_target("s3://restored/tables/events/", "tables/events/").unwrap();
        assert_eq!(t.target_key_prefix, None);
        let t = parse_target("s3://restored", "").unwrap();
        assert_eq!((t.prefix.as_str(), t.target_key_prefix), ("", None));
        let t = parse_target("s3://restored/copy/", "").unwrap();
        assert_eq!(t.target_key_prefix.as_deref(), Some("copy"));
        for bad in [
            "s3://restored/other/",
            "s3://restored/xevents/",
            "s3://restored/",
            "r/events/",
            "s3://Restored/events/",
            "s3://restored//events/",
        ] {
            let e = parse_target(bad, "events/").unwrap_err();
            assert_eq!(e.path, "--to", "{bad}");
        }
        let e = parse_target("s3://restored/other/", "events/").unwrap_err();
        assert!(
            e.message
                .contains("s3://restored/events/ or s3://restored/<folder>/events/"),
            "{}",
            e.message
        );
    }

    #[test]
    fn table_paths() {
        assert_eq!(table_root("tables/events").unwrap(), "tables/events/");
        assert_eq!(table_root("/events/").unwrap(), "events/");
        assert_eq!(table_root("").unwrap(), "");
        for bad in ["a//b", "../x", "a/./b", "events/_delta_log", "a\nb"] {
            assert!(table_root(bad).is_err(), "{bad:?}");
        }
    }

    fn settings() -> SettingsFile {
        SettingsFile {
            account_id: Some("123456789012".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/lakevault-restore-batch".into()),
            report: Some(ReportLocation {
                bucket: "lakevault-reports".into(),
                prefix: "reports".into(),
            }),
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:lakevault-backups".into()),
            ..SettingsFile::default()
        }
    }

    #[test]
    fn the_run_input_is_the_contracts() {
        let r = RestoreRequest::new(
            "lake-prod-31-mar-2021",
            "events",
            VersionChoice::Named(Named::AsOfBackupDate),
            "s3://lake-prod-restored/events/",
        )
        .unwrap();
        let s = Settings::complete(settings()).unwrap();
        assert_eq!(
            r.run_input(&s),
            json!({"restore": {"snapshot_bucket": "lake-prod-31-mar-2021", "table": "events",
                               "version": "as_of_backup_date",
                               "target": {"bucket": "lake-prod-restored", "prefix": "events/"}},
                   "settings": {"account_id": "123456789012",
                                "role_arn": "arn:aws:iam::123456789012:role/lakevault-restore-batch",
                                "report": {"bucket": "lakevault-reports", "prefix": "reports"},
                                "topic_arn": "arn:aws:sns:us-east-1:123456789012:lakevault-backups"}})
        );
        let mut with = settings();
        with.poll_seconds = Some(5);
        assert_eq!(
            Settings::complete(with).unwrap().to_json()["poll_seconds"],
            5
        );
        let name = r.execution_name(1);
        assert!(name.starts_with("restore-") && name.len() == 24, "{name}");
        assert_eq!(name, r.execution_name(0));
        assert_eq!(r.execution_name(2), format!("{name}-2"));
        let other = RestoreRequest::new(
            "lake-prod-31-mar-2021",
            "events",
            VersionChoice::Exact(3),
            "s3://lake-prod-restored/events/",
        )
        .unwrap();
        assert_ne!(other.execution_name(1), name);
        assert_eq!(other.plan_input(&s.report, true)["version"], 3);
        assert_eq!(other.plan_input(&s.report, true)["dry_run"], true);
    }

    #[test]
    fn missing_and_malformed_settings_name_their_flag() {
        let mut f = settings();
        f.topic_arn = None;
        assert_eq!(Settings::complete(f).unwrap_err().path, "--topic-arn");
        let mut f = settings();
        f.account_id = Some("12".into());
        assert_eq!(Settings::complete(f).unwrap_err().path, "--account-id");
        let mut f = settings();
        f.report = Some(ReportLocation {
            bucket: "b-b".into(),
            prefix: "/x".into(),
        });
        assert_eq!(Settings::complete(f).unwrap_err().path, "--report-prefix");
        let flags = SettingsFile {
            account_id: Some("210987654321".into()),
            ..SettingsFile::default()
        };
        assert_eq!(
            settings().overridden_by(flags).account_id.as_deref(),
            Some("210987654321")
        );
    }
}
