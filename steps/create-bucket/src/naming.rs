//! The snapshot bucket's name: a pure function of the source bucket, the backup day and an
//! optional prefix.
//!
//! Rule (also in the README):
//! 1. Start from the source bucket name, lowercased, with `.` and `_` replaced by `-` (dots break
//!    virtual-hosted HTTPS; underscores are not allowed in new bucket names).
//! 2. The natural name is `[<prefix>-]<source>-<dd-mmm-yyyy>`, e.g. `lake-prod-31-mar-2021`.
//! 3. When step 1 changed the source name (so two sources could map to the same text, e.g.
//!    `lake.prod` and `lake-prod`) or the natural name is longer than 63 characters, the first
//!    8 hex digits of SHA-256(source name as given) go before the date, and the source part is
//!    cut so that the whole fits in 63 characters: `[<prefix>-]<source, cut>-<hash8>-<date>`.
//! 4. The result must be a valid bucket name, or the input is refused.

use kit::{Day, InvalidInput};
use sha2::{Digest, Sha256};

/// The longest bucket name S3 accepts.
pub const MAX_BUCKET_NAME: usize = 63;
/// The longest accepted `bucket_prefix`: leaves room for a recognisable part of the source name.
pub const MAX_PREFIX: usize = 30;
/// Hex digits of the source name's SHA-256 used to keep shortened names unique.
const HASH_LEN: usize = 8;

/// Name prefixes S3 reserves.
pub const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
/// Name suffixes S3 reserves (access point aliases, Object Lambda, MRAP, directory and table buckets).
pub const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// Why a string is not a valid name for a new general-purpose bucket, if it is not.
pub fn bucket_name_problem(name: &str) -> Option<String> {
    let len = name.len();
    if !(3..=MAX_BUCKET_NAME).contains(&len) {
        return Some(format!(
            "{name:?} has {len} characters; a bucket name needs 3 to {MAX_BUCKET_NAME}"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!(
            "{name:?} contains {c:?}; only lowercase letters, digits and hyphens are allowed"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Some(format!(
            "{name:?} must start and end with a letter or digit"
        ));
    }
    if let Some(p) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(**p)) {
        return Some(format!("{name:?} starts with the reserved prefix {p:?}"));
    }
    if let Some(s) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(**s)) {
        return Some(format!("{name:?} ends with the reserved suffix {s:?}"));
    }
    None
}

/// Checks a source bucket name as S3 has ever allowed them (legacy us-east-1 names may be up to
/// 255 characters and hold uppercase letters and underscores).
fn check_source(source: &str) -> Result<(), InvalidInput> {
    let bad = |why: String| InvalidInput::new("$.source_bucket", why);
    if !(3..=255).contains(&source.len()) {
        return Err(bad(format!(
            "{source:?} is not a bucket name: it needs 3 to 255 characters"
        )));
    }
    if let Some(c) = source
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(bad(format!(
            "{source:?} is not a bucket name: {c:?} is not allowed (letters, digits, '.', '-', '_')"
        )));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(source.chars().next()) || !alnum(source.chars().last()) {
        return Err(bad(format!(
            "{source:?} is not a bucket name: it must start and end with a letter or digit"
        )));
    }
    Ok(())
}

/// Checks `bucket_prefix`: 1–30 lowercase letters, digits and hyphens, alphanumeric at both ends,
/// not one of S3's reserved prefixes.
fn check_prefix(prefix: &str) -> Result<(), InvalidInput> {
    let bad = |why: String| InvalidInput::new("$.bucket_prefix", why);
    if prefix.len() > MAX_PREFIX {
        return Err(bad(format!(
            "{prefix:?} is {} characters long; use at most {MAX_PREFIX}",
            prefix.len()
        )));
    }
    if prefix
        .chars()
        .any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        || !prefix.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !prefix.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(bad(format!(
            "{prefix:?} must be lowercase letters, digits and hyphens, starting and ending with a letter or digit"
        )));
    }
    if let Some(p) = RESERVED_PREFIXES
        .iter()
        .find(|p| format!("{prefix}-").starts_with(**p))
    {
        return Err(bad(format!(
            "{prefix:?} would start the bucket name with the reserved prefix {p:?}; choose another"
        )));
    }
    Ok(())
}

/// The snapshot bucket name for `source` on `day`, after the rule in this module's docs.
/// `prefix` of `None` or `""` means no prefix.
pub fn snapshot_bucket_name(
    source: &str,
    day: Day,
    prefix: Option<&str>,
) -> Result<String, InvalidInput> {
    check_source(source)?;
    let head = match prefix.filter(|p| !p.is_empty()) {
        Some(p) => {
            check_prefix(p)?;
            format!("{p}-")
        }
        None => String::new(),
    };
    let normalised: String = source
        .to_ascii_lowercase()
        .chars()
        .map(|c| if matches!(c, '.' | '_') { '-' } else { c })
        .collect();
    if head.is_empty()
        && let Some(p) = RESERVED_PREFIXES
            .iter()
            .find(|p| normalised.starts_with(**p))
    {
        return Err(InvalidInput::new(
            "$.source_bucket",
            format!(
                "{source:?} would start the snapshot bucket name with the reserved prefix {p:?}; set bucket_prefix"
            ),
        ));
    }
    let date = day.dd_mmm_yyyy();
    let lossy = normalised != source;
    let natural = format!("{head}{normalised}-{date}");
    let name = if !lossy && natural.len() <= MAX_BUCKET_NAME {
        natural
    } else {
        let hash = hex::encode(Sha256::digest(source.as_bytes()));
        let hash = &hash[..HASH_LEN];
        // head + stem + "-" + hash + "-" + date ≤ 63; MAX_PREFIX keeps `room` ≥ 11.
        let room = MAX_BUCKET_NAME - head.len() - HASH_LEN - date.len() - 2;
        // `normalised` is ASCII, so byte slicing is character slicing.
        let stem = normalised[..normalised.len().min(room)].trim_end_matches('-');
        format!("{head}{stem}-{hash}-{date}")
    };
    match bucket_name_problem(&name) {
        None => Ok(name),
        Some(why) => Err(InvalidInput::new(
            "$.source_bucket",
            format!("no valid snapshot bucket name can be made from {source:?}: {why}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    #[test]
    fn natural_name() {
        assert_eq!(
            snapshot_bucket_name("lake-prod", day("2021-03-31"), None).unwrap(),
            "lake-prod-31-mar-2021"
        );
        assert_eq!(
            snapshot_bucket_name("lake-prod", day("2021-03-31"), Some("acme")).unwrap(),
            "acme-lake-prod-31-mar-2021"
        );
        assert_eq!(
            snapshot_bucket_name("lake-prod", day("2021-03-31"), Some("")).unwrap(),
            "lake-prod-31-mar-2021"
        );
    }

    #[test]
    fn dotted_and_legacy_names_get_a_hash() {
        let dotted = snapshot_bucket_name("lake.prod", day("2021-03-31"), None).unwrap();
        let hyphen = snapshot_bucket_name("lake-prod", day("2021-03-31"), None).unwrap();
        assert!(dotted.starts_with("lake-prod-"), "{dotted}");
        assert!(dotted.ends_with("-31-mar-2021"), "{dotted}");
        assert!(!dotted.contains('.'));
        assert_ne!(
            dotted, hyphen,
            "dotted and hyphenated sources must not collide"
        );
        assert_eq!(dotted.len(), "lake-prod-".len() + 8 + "-31-mar-2021".len());
        let legacy = snapshot_bucket_name("Lake_Prod", day("2021-03-31"), None).unwrap();
        assert!(legacy.starts_with("lake-prod-"), "{legacy}");
        assert_ne!(legacy, dotted);
        assert_eq!(bucket_name_problem(&legacy), None);
    }

    #[test]
    fn long_names_are_shortened_deterministically_and_uniquely() {
        let a = "a".repeat(60);
        let b = format!("{}b", "a".repeat(59));
        let d = day("2024-12-01");
        let na = snapshot_bucket_name(&a, d, None).unwrap();
        let nb = snapshot_bucket_name(&b, d, None).unwrap();
        assert_eq!(na.len(), MAX_BUCKET_NAME);
        assert!(na.ends_with("-01-dec-2024"));
        assert_ne!(na, nb);
        assert_eq!(na, snapshot_bucket_name(&a, d, None).unwrap());
        assert_eq!(bucket_name_problem(&na), None);
        // With the longest prefix, still ≤ 63 and valid.
        let p = "p".repeat(MAX_PREFIX);
        let np = snapshot_bucket_name(&a, d, Some(&p)).unwrap();
        assert!(np.len() <= MAX_BUCKET_NAME, "{np}");
        assert!(np.starts_with(&format!("{p}-aaa")));
        assert_eq!(bucket_name_problem(&np), None);
        // A legacy 255-character name works too.
        let huge = "x".repeat(255);
        assert_eq!(
            bucket_name_problem(&snapshot_bucket_name(&huge, d, None).unwrap()),
            None
        );
    }

    #[test]
    fn exactly_63_is_kept_natural() {
        // 51 + "-31-mar-2021" (12) = 63.
        let s = "s".repeat(51);
        let n = snapshot_bucket_name(&s, day("2021-03-31"), None).unwrap();
        assert_eq!(n, format!("{s}-31-mar-2021"));
        let s = "s".repeat(52);
        let n = snapshot_bucket_name(&s, day("2021-03-31"), None).unwrap();
        assert_eq!(n.len(), 63);
        assert_ne!(n, format!("{s}-31-mar-2021"));
    }

    #[test]
    fn cut_does_not_leave_a_hyphen_run_at_the_cut() {
        // The cut lands right after a hyphen: it is trimmed, not doubled.
        let s = format!("{}-{}", "a".repeat(40), "b".repeat(30));
        let n = snapshot_bucket_name(&s, day("2021-03-31"), None).unwrap();
        assert!(!n.contains("--"), "{n}");
        assert_eq!(bucket_name_problem(&n), None);
    }

    #[test]
    fn bad_sources_and_prefixes() {
        let d = day("2021-03-31");
        for bad in ["", "ab", "-lake", "lake-", "lake prod", "lake/prod", "läke"] {
            let e = snapshot_bucket_name(bad, d, None).unwrap_err();
            assert_eq!(e.path, "$.source_bucket", "{bad}");
        }
        for bad in [
            "Acme",
            "acme-",
            "-acme",
            "ac.me",
            "xn",
            "sthree",
            "amzn-s3-demo",
            &"p".repeat(31),
        ] {
            let r = snapshot_bucket_name("lake-prod", d, Some(bad));
            if bad == "xn" {
                // "xn-" is not "xn--": allowed.
                assert!(r.is_ok(), "{bad}");
                continue;
            }
            assert_eq!(r.unwrap_err().path, "$.bucket_prefix", "{bad}");
        }
        let e = snapshot_bucket_name("xn--lake", d, None).unwrap_err();
        assert_eq!(e.path, "$.source_bucket");
        assert!(snapshot_bucket_name("xn--lake", d, Some("acme")).is_ok());
    }

    #[test]
    fn bucket_name_rules() {
        assert_eq!(bucket_name_problem("lake-prod-31-mar-2021"), None);
        for bad in [
            "ab",
            &"a".repeat(64),
            "Lake",
            "lake.prod",
            "-lake",
            "lake-",
            "xn--lake",
            "sthree-lake",
            "amzn-s3-demo-lake",
            "lake-s3alias",
            "lake--ol-s3",
            "lake--x-s3",
            "lake--table-s3",
        ] {
            assert!(bucket_name_problem(bad).is_some(), "{bad}");
        }
    }
}
