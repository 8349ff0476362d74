//! Where deliveries live, and what a listing says about them (pure).
//!
//! ```text
//! <prefix>/<source-bucket>/<config-id>/<YYYY-MM-DDTHH-MMZ>/manifest.json
//! <prefix>/<source-bucket>/<config-id>/<YYYY-MM-DDTHH-MMZ>/manifest.checksum
//! <prefix>/<source-bucket>/<config-id>/data/…   hive/…
//! ```
//!
//! Folder names start with digits and `data/`, `hive/` with letters, so under the base prefix
//! every delivery folder sorts before anything else, in time order. That is what lets the step
//! answer with a few requests whatever the history: a `Prefix` of one day, or a `StartAfter`
//! of one day, jumps straight to the right place.

use std::collections::BTreeMap;

use kit::Day;
use time::PrimitiveDateTime;
use time::macros::format_description;

/// `<prefix>/<source>/<config>/` (no prefix part when the prefix is empty).
pub fn base_prefix(prefix: &str, source_bucket: &str, configuration_id: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("{source_bucket}/{configuration_id}/")
    } else {
        format!("{prefix}/{source_bucket}/{configuration_id}/")
    }
}

/// One delivery folder, as seen in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// `2021-04-02T01-00Z`: when the scan started.
    pub stamp: String,
    /// The day of the stamp.
    pub day: Day,
    /// `manifest.json` was listed.
    pub has_manifest: bool,
    /// `manifest.checksum` was listed: the delivery claims to be complete.
    pub has_checksum: bool,
}

impl Folder {
    /// Key of this folder's `manifest.json`.
    pub fn manifest_key(&self, base: &str) -> String {
        format!("{base}{}/manifest.json", self.stamp)
    }

    /// Key of this folder's `manifest.checksum`.
    pub fn checksum_key(&self, base: &str) -> String {
        format!("{base}{}/manifest.checksum", self.stamp)
    }
}

/// The day of a folder stamp (`2021-04-02T01-00Z`), if it is one.
pub fn parse_stamp(stamp: &str) -> Option<Day> {
    let f = format_description!("[year]-[month]-[day]T[hour]-[minute]Z");
    PrimitiveDateTime::parse(stamp, f)
        .ok()
        .map(|t| Day(t.date()))
}

/// The delivery folder a key under `base` belongs to: `(stamp, file name)`.
pub fn split_key<'k>(base: &str, key: &'k str) -> Option<(&'k str, &'k str)> {
    let rest = key.strip_prefix(base)?;
    let (stamp, file) = rest.split_once('/')?;
    parse_stamp(stamp).map(|_| (stamp, file))
}

/// Delivery folders among listed keys, oldest first, and whether a key that is not in a delivery
/// folder (`data/…`, `hive/…`) was seen — i.e. the listing went past every folder.
pub fn folders<'k>(base: &str, keys: impl IntoIterator<Item = &'k str>) -> (Vec<Folder>, bool) {
    let mut by_stamp: BTreeMap<String, Folder> = BTreeMap::new();
    let mut past_folders = false;
    for key in keys {
        let Some((stamp, file)) = split_key(base, key) else {
            past_folders = true;
            continue;
        };
        let Some(day) = parse_stamp(stamp) else {
            continue;
        };
        let f = by_stamp.entry(stamp.to_owned()).or_insert_with(|| Folder {
            stamp: stamp.to_owned(),
            day,
            has_manifest: false,
            has_checksum: false,
        });
        match file {
            "manifest.json" => f.has_manifest = true,
            "manifest.checksum" => f.has_checksum = true,
            _ => {}
        }
    }
    (by_stamp.into_values().collect(), past_folders)
}

/// What the neighbourhood of a missing day looks like, for the `ManifestNotReady` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbours {
    /// The latest day before the target with a complete-looking delivery, within the window.
    pub before: Option<Day>,
    /// The earliest day after the target with a complete-looking delivery.
    pub after: Option<Day>,
    /// How far back the search looked.
    pub window_days: i64,
}

impl Neighbours {
    /// Finds the nearest days around `target` among `folders`.
    pub fn around(target: Day, folders: &[Folder], window_days: i64) -> Self {
        let complete = || folders.iter().filter(|f| f.has_checksum);
        Neighbours {
            before: complete().map(|f| f.day).filter(|d| *d < target).max(),
            after: complete().map(|f| f.day).filter(|d| *d > target).min(),
            window_days,
        }
    }

    /// `nearest complete deliveries: 2021-04-01 (before), none after`.
    pub fn describe(&self) -> String {
        let before = self.before.map_or_else(
            || format!("none in the {} days before", self.window_days),
            |d| format!("{d} (before)"),
        );
        let after = self
            .after
            .map_or_else(|| "none after".to_owned(), |d| format!("{d} (after)"));
        format!("nearest days with a complete delivery: {before}, {after}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    #[test]
    fn base_with_and_without_prefix() {
        assert_eq!(base_prefix("inv/", "src", "daily"), "inv/src/daily/");
        assert_eq!(base_prefix("", "src", "daily"), "src/daily/");
        assert_eq!(base_prefix("/a/b/", "src", "d"), "a/b/src/d/");
    }

    #[test]
    fn folders_from_a_listing() {
        let base = "inv/src/daily/";
        let keys = [
            "inv/src/daily/2021-04-01T01-00Z/manifest.checksum",
            "inv/src/daily/2021-04-01T01-00Z/manifest.json",
            "inv/src/daily/2021-04-02T01-00Z/manifest.json",
            "inv/src/daily/2021-04-02T23-59Z/manifest.json",
            "inv/src/daily/2021-04-02T23-59Z/manifest.checksum",
            "inv/src/daily/data/x.csv.gz",
        ];
        let (f, past) = folders(base, keys);
        assert!(past);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].stamp, "2021-04-01T01-00Z");
        assert!(f[0].has_checksum && f[0].has_manifest);
        assert!(!f[1].has_checksum && f[1].has_manifest);
        assert_eq!(f[2].day, day("2021-04-02"));
        assert_eq!(
            f[2].manifest_key(base),
            "inv/src/daily/2021-04-02T23-59Z/manifest.json"
        );
        let (_, past) = folders(base, keys[..2].iter().copied());
        assert!(!past);
    }

    #[test]
    fn delivery_stamps_parse_to_their_day() {
        assert_eq!(parse_stamp("2021-04-02T01-00Z"), Some(day("2021-04-02")));
        for bad in [
            "2021-04-02",
            "2021-04-02T01:00Z",
            "data",
            "2021-02-30T01-00Z",
        ] {
            assert_eq!(parse_stamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_nearest_existing_days_are_named() {
        let f = |d: &str, c: bool| Folder {
            stamp: format!("{d}T01-00Z"),
            day: day(d),
            has_manifest: true,
            has_checksum: c,
        };
        let list = [
            f("2021-03-30", true),
            f("2021-04-01", true),
            f("2021-04-03", false),
            f("2021-04-05", true),
        ];
        let n = Neighbours::around(day("2021-04-02"), &list, 31);
        assert_eq!(n.before, Some(day("2021-04-01")));
        assert_eq!(n.after, Some(day("2021-04-05")));
        assert_eq!(
            n.describe(),
            "nearest days with a complete delivery: 2021-04-01 (before), 2021-04-05 (after)"
        );
        let n = Neighbours::around(day("2021-03-01"), &[], 31);
        assert_eq!(
            n.describe(),
            "nearest days with a complete delivery: none in the 31 days before, none after"
        );
    }
}
