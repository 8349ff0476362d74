//! The plan against what is there (every object under the root) and against what Delta's reader
//! makes of it (the version's log segment and live files), by path relative to the root.

use std::collections::BTreeMap;

use plan_restore::{FileKind, PlanRecord};
use verify_snapshot::VersionContents;

/// Differences named in the error (all are counted).
pub const MAX_DIFFERENCES: usize = 10;

/// The differences found, capped for the message.
#[derive(Debug, Default)]
pub(crate) struct Differences {
    list: Vec<String>,
    count: usize,
}

impl Differences {
    pub(crate) fn push(&mut self, d: String) {
        self.count += 1;
        if self.list.len() < MAX_DIFFERENCES {
            self.list.push(d);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn into_parts(self) -> (usize, Vec<String>) {
        (self.count, self.list)
    }
}

fn rel<'a>(root: &str, key: &'a str) -> &'a str {
    key.strip_prefix(root).unwrap_or(key)
}

/// Every planned object is there with its size, and nothing else is.
pub(crate) fn objects(
    plan: &PlanRecord,
    root: &str,
    present: &BTreeMap<String, u64>,
    d: &mut Differences,
) {
    let planned: BTreeMap<&str, u64> = plan
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.size))
        .collect();
    for (path, size) in &planned {
        match present.get(&format!("{root}{path}")) {
            None => d.push(format!("{path} is missing")),
            Some(s) if s != size => d.push(format!("{path} is {s} bytes, the plan says {size}")),
            Some(_) => {}
        }
    }
    for (key, size) in present {
        if !planned.contains_key(rel(root, key)) {
            d.push(format!(
                "{} ({size} bytes) is not in the plan",
                rel(root, key)
            ));
        }
    }
}

/// The reader's view of the version equals the plan, kind by kind.
pub(crate) fn version(plan: &PlanRecord, root: &str, c: &VersionContents, d: &mut Differences) {
    for (kind, got, what) in [
        (FileKind::Log, &c.log, "log file"),
        (FileKind::Data, &c.data, "data file"),
        (
            FileKind::DeletionVector,
            &c.deletion_vectors,
            "deletion vector",
        ),
    ] {
        let want: BTreeMap<&str, u64> = plan
            .files
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| (f.path.as_str(), f.size))
            .collect();
        let got: BTreeMap<&str, u64> = got.iter().map(|(k, s)| (rel(root, k), *s)).collect();
        for (p, s) in &want {
            match got.get(p) {
                None => d.push(format!(
                    "the restored version does not use the planned {what} {p}"
                )),
                Some(g) if g != s => d.push(format!(
                    "the restored version's {what} {p} records {g} bytes, the plan {s}"
                )),
                Some(_) => {}
            }
        }
        for p in got.keys() {
            if !want.contains_key(p) {
                d.push(format!(
                    "the restored version uses the {what} {p}, which is not in the plan"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plan_restore::PlanFile;

    fn plan() -> PlanRecord {
        PlanRecord {
            restore_id: "0123456789abcdef".into(),
            snapshot_bucket: "s-31-mar-2021".into(),
            table: "t/".into(),
            version: 1,
            checkpoint_version: None,
            target_bucket: "r".into(),
            target_prefix: "t/".into(),
            files: vec![
                PlanFile {
                    path: "_delta_log/00000000000000000000.json".into(),
                    size: 10,
                    kind: FileKind::Log,
                },
                PlanFile {
                    path: "a.parquet".into(),
                    size: 100,
                    kind: FileKind::Data,
                },
            ],
        }
    }

    #[test]
    fn missing_resized_and_extra_objects_are_each_named() {
        let present = BTreeMap::from([
            ("t/a.parquet".to_owned(), 99),
            ("t/extra.parquet".to_owned(), 5),
        ]);
        let mut d = Differences::default();
        objects(&plan(), "t/", &present, &mut d);
        let (n, list) = d.into_parts();
        assert_eq!(n, 3, "{list:?}");
        assert!(
            list.iter()
                .any(|l| l.contains("00000000000000000000.json is missing"))
        );
        assert!(list.iter().any(|l| l.contains("a.parquet is 99 bytes")));
        assert!(
            list.iter()
                .any(|l| l.contains("extra.parquet (5 bytes) is not in the plan"))
        );
    }

    #[test]
    fn the_same_objects_make_no_difference_and_the_list_is_capped() {
        let present = BTreeMap::from([
            ("t/_delta_log/00000000000000000000.json".to_owned(), 10),
            ("t/a.parquet".to_owned(), 100),
        ]);
        let mut d = Differences::default();
        objects(&plan(), "t/", &present, &mut d);
        assert!(d.is_empty());
        for i in 0..25 {
            d.push(format!("d{i}"));
        }
        let (n, list) = d.into_parts();
        assert_eq!((n, list.len()), (25, MAX_DIFFERENCES));
    }
}
