//! What the command prints for people: sizes in binary units, the plan of a dry run, the outcome.

use serde_json::Value;

/// `bytes` in binary units with one decimal (`512 B`, `1.5 KiB`, `23.0 MiB`, `4.2 TiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

/// `done/total` bytes in the unit that suits `total` (`0.4/1.2 MiB`, `12.0/40.5 KiB`,
/// `3.0/40.0 GiB`).
pub fn bytes_fraction(done: u64, total: u64) -> String {
    const UNITS: [(&str, f64); 5] = [
        ("KiB", 1024.0),
        ("MiB", 1024.0 * 1024.0),
        ("GiB", 1024.0 * 1024.0 * 1024.0),
        ("TiB", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("PiB", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ];
    let (unit, scale) = UNITS
        .iter()
        .rev()
        .find(|(_, s)| total as f64 >= *s)
        .copied()
        .unwrap_or(UNITS[0]);
    format!(
        "{:.1}/{:.1} {unit}",
        done as f64 / scale,
        total as f64 / scale
    )
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// `s3://bucket/key`.
fn s3_url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// How the version was chosen, in words.
pub fn chosen_by(plan: &Value) -> String {
    match s(plan, "chosen_by") {
        "as_of_backup_date" => {
            format!("the table as of the backup date {}", s(plan, "backup_date"))
        }
        "latest_restorable" => "the newest version the snapshot can restore".to_owned(),
        "" | "version" => "the version asked for".to_owned(),
        other => other.replace('_', " "),
    }
}

/// The plan of a dry run (plan-restore's output), for people.
pub fn plan_text(plan: &Value) -> String {
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        out.push_str(&format!("{label:<15}{text}\n"));
    };
    let snapshot = s(plan, "snapshot_bucket");
    let table = s(plan, "table");
    let version = n(plan, "version");
    let mut from = s3_url(snapshot, table);
    if !s(plan, "source_bucket").is_empty() {
        from.push_str(&format!(
            " (the backup of s3://{} on {})",
            s(plan, "source_bucket"),
            s(plan, "backup_date")
        ));
    }
    line("snapshot", from);
    line("version", format!("{version}: {}", chosen_by(plan)));
    let log = match plan["checkpoint_version"].as_u64() {
        Some(c) if c == version => format!("checkpoint {c}"),
        Some(c) => format!("checkpoint {c} + commits {}..{version}", c + 1),
        None => format!("commits 0..{version}"),
    };
    line("log", log);
    line(
        "objects",
        format!(
            "{} objects, {}: {} data files, {} deletion vectors, {} log objects",
            n(plan, "objects"),
            human_bytes(n(plan, "bytes")),
            n(plan, "data_files"),
            n(plan, "deletion_vectors"),
            n(plan, "log_objects"),
        ),
    );
    let target = &plan["target"];
    let target_bucket = s(target, "bucket");
    let restored = s3_url(target_bucket, s(target, "prefix"));
    line(
        "writes",
        format!("{restored} (the restored table: its latest version will be {version})"),
    );
    let rel = format!("{table}<path>");
    let mapping = match plan["target_key_prefix"].as_str() {
        Some(q) => {
            format!("TargetKeyPrefix {q:?}: s3://{snapshot}/{rel} → s3://{target_bucket}/{q}/{rel}")
        }
        None => format!("no TargetKeyPrefix: s3://{snapshot}/{rel} → s3://{target_bucket}/{rel}"),
    };
    line("", mapping);
    let m = &plan["manifest"];
    if m.is_object() && !s(m, "key").is_empty() {
        line(
            "manifest",
            format!(
                "{} ({})",
                s3_url(s(m, "bucket"), s(m, "key")),
                s(m, "format")
            ),
        );
    }
    let r = &plan["job_report"];
    if r.is_object() {
        line(
            "reports",
            format!("{}/", s3_url(s(r, "bucket"), s(r, "prefix"))),
        );
    }
    if let Some(cost) = plan["estimated_cost_usd"].as_f64() {
        line(
            "cost",
            format!(
                "≈ ${cost:.2} (list price, us-east-1: $0.25 for the Batch Operations job, $1.00 \
                 per million objects, and their COPY requests; storage is billed as usual)"
            ),
        );
    }
    line("restore id", s(plan, "restore_id").to_owned());
    if plan["resumed"] == true {
        line(
            "note",
            "the target already holds exactly this plan's objects: a restore would resume it"
                .into(),
        );
    }
    out
}

/// What a finished restore reports, for people: from the plan, the job and the verification
/// seen on the way (each may be missing when the run ended early).
pub fn outcome_text(
    plan: Option<&Value>,
    job_id: Option<&str>,
    verified: Option<&Value>,
    execution: &str,
) -> String {
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        out.push_str(&format!("{label:<15}{text}\n"));
    };
    if let Some(v) = verified {
        line(
            "restored",
            format!("{} at version {}", s(v, "table_url"), n(v, "version")),
        );
    }
    if let Some(p) = plan {
        if verified.is_none() {
            let t = &p["target"];
            line(
                "restored",
                format!(
                    "{} at version {}",
                    s3_url(s(t, "bucket"), s(t, "prefix")),
                    n(p, "version")
                ),
            );
        }
        line(
            "from",
            format!(
                "{} version {}: {}",
                s3_url(s(p, "snapshot_bucket"), s(p, "table")),
                n(p, "version"),
                chosen_by(p)
            ),
        );
        let by = job_id.map_or(String::new(), |j| format!(" by Batch Operations job {j}"));
        line(
            "copied",
            format!(
                "{} objects, {}{by}",
                n(p, "objects"),
                human_bytes(n(p, "bytes"))
            ),
        );
    }
    if let Some(v) = verified {
        line(
            "verified",
            format!(
                "{} live files, {}: {} (read back with delta_kernel)",
                n(v, "files"),
                human_bytes(n(v, "bytes")),
                s(v, "verdict")
            ),
        );
    }
    line("execution", execution.to_owned());
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(123_456), "120.6 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(bytes_fraction(0, 123_456), "0.0/120.6 KiB");
        assert_eq!(bytes_fraction(1024 * 1024, 2 * 1024 * 1024), "1.0/2.0 MiB");
        assert_eq!(
            bytes_fraction(3 * 1024 * 1024 * 1024, 40 * 1024 * 1024 * 1024),
            "3.0/40.0 GiB"
        );
    }

    fn plan() -> Value {
        json!({"restore_id": "3f2a9c0d1e4b5a67", "snapshot_bucket": "lake-prod-31-mar-2021",
               "source_bucket": "lake-prod", "backup_date": "2021-03-31", "table": "events/",
               "version": 7, "chosen_by": "as_of_backup_date", "checkpoint_version": 5,
               "objects": 23, "bytes": 123456, "log_objects": 3, "data_files": 20,
               "deletion_vectors": 0, "target": {"bucket": "lake-prod-restored", "prefix": "drill/events/"},
               "target_key_prefix": "drill", "manifest": null,
               "plan": {"bucket": "lakevault-reports", "key": "reports/restore-3f2a9c0d1e4b5a67/plan.json"},
               "job_report": {"bucket": "lakevault-reports", "prefix": "reports/restore-3f2a9c0d1e4b5a67"},
               "resumed": false, "dry_run": true, "estimated_cost_usd": 0.250023})
    }

    #[test]
    fn a_plan_says_what_goes_where_and_what_it_costs() {
        let text = plan_text(&plan());
        for part in [
            "s3://lake-prod-31-mar-2021/events/ (the backup of s3://lake-prod on 2021-03-31)",
            "7: the table as of the backup date 2021-03-31",
            "checkpoint 5 + commits 6..7",
            "23 objects, 120.6 KiB: 20 data files, 0 deletion vectors, 3 log objects",
            "s3://lake-prod-restored/drill/events/ (the restored table: its latest version will be 7)",
            "TargetKeyPrefix \"drill\": s3://lake-prod-31-mar-2021/events/<path> → s3://lake-prod-restored/drill/events/<path>",
            "s3://lakevault-reports/reports/restore-3f2a9c0d1e4b5a67/",
            "≈ $0.25",
            "3f2a9c0d1e4b5a67",
        ] {
            assert!(text.contains(part), "{part:?} not in\n{text}");
        }
        let mut p = plan();
        p["checkpoint_version"] = Value::Null;
        p["chosen_by"] = json!("version");
        let text = plan_text(&p);
        assert!(text.contains("commits 0..7"), "{text}");
        assert!(text.contains("7: the version asked for"), "{text}");
    }

    #[test]
    fn an_outcome_names_the_restored_table() {
        let v = json!({"restore_id": "3f2a9c0d1e4b5a67", "table_url": "s3://lake-prod-restored/drill/events/",
                       "version": 7, "files": 20, "bytes": 123000, "verdict": "restored"});
        let text = outcome_text(Some(&plan()), Some("job-1"), Some(&v), "restore-abc");
        assert!(
            text.contains("s3://lake-prod-restored/drill/events/ at version 7"),
            "{text}"
        );
        assert!(text.contains("by Batch Operations job job-1"), "{text}");
        assert!(
            text.contains("20 live files, 120.1 KiB: restored"),
            "{text}"
        );
    }
}
