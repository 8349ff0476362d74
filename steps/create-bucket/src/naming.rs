//! The snapshot bucket's name: a pure function of the source bucket, the backup day and an
//! optional prefix.
//!
//! Rule (also in the README):
//! 1. The source bucket name must follow S3's current rules
//!    ([`kit::validate::check_source_bucket`], as in every step); legacy us-east-1 names
//!    (uppercase letters, `_`, more than 63 characters) are refused, saying so, and a reserved
//!    prefix or suffix is refused even with a prefix.
//! 2. Start from the source bucket name with only `.` replaced by `-` (dots break
//!    virtual-hosted HTTPS), so that no snapshot name contains a `.`.
//! 3. The natural name is `[<prefix>-]<source>-<dd-mmm-yyyy>`, e.g. `lake-prod-31-mar-2021`.
//! 4. When step 2 changed the source name (so two sources could map to the same text, e.g.
//!    `lake.prod` and `lake-prod`) or the natural name is longer than 63 characters, the first
//!    8 hex digits of SHA-256(source name as given) go before the date, and the source part is
//!    cut so that the whole fits in 63 characters: `[<prefix>-]<source, cut>-<hash8>-<date>`.
//! 5. The result must be a valid bucket name without a `.`, or the input is refused.

use kit::validate::{
    self, BucketNameProblem, MAX_BUCKET_NAME, RESERVED_BUCKET_PREFIXES, bucket_name_problem, quote,
};
use kit::{Day, InvalidInput};
use sha2::{Digest, Sha256};

/// The longest accepted `bucket_prefix`: leaves room for a recognisable part of the source name.
pub const MAX_PREFIX: usize = 30;
/// Hex digits of the source name's SHA-256 used to keep shortened names unique.
const HASH_LEN: usize = 8;

/// Why a string cannot be a snapshot bucket's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotNameProblem {
    /// It is not a bucket name under S3's current rules.
    #[error(transparent)]
    Bucket(#[from] BucketNameProblem),
    /// It holds a `.`: S3 allows it, but dots break virtual-hosted HTTPS requests.
    #[error("contains '.', which breaks virtual-hosted HTTPS")]
    Period,
}

/// Why `name` cannot be a snapshot bucket's name, if it cannot: S3's rules, and no `.`.
pub fn snapshot_name_problem(name: &str) -> Option<SnapshotNameProblem> {
    if let Some(p) = bucket_name_problem(name) {
        return Some(p.into());
    }
    name.contains('.').then_some(SnapshotNameProblem::Period)
}

/// Checks `bucket_prefix`: 1–30 lowercase letters, digits and hyphens, alphanumeric at both ends,
/// not one of S3's reserved prefixes.
fn check_prefix(prefix: &str) -> Result<(), InvalidInput> {
    let bad = |why: String| InvalidInput::new("$.bucket_prefix", why);
    if prefix.len() > MAX_PREFIX {
        return Err(bad(format!(
            "{} is {} characters long; use at most {MAX_PREFIX}",
            quote(prefix),
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
            "{} must be lowercase letters, digits and hyphens, starting and ending with a letter or digit",
            quote(prefix)
        )));
    }
    if let Some(p) = RESERVED_BUCKET_PREFIXES
        .iter()
        .find(|p| format!("{prefix}-").starts_with(**p))
    {
        return Err(bad(format!(
            "{} would start the bucket name with the reserved prefix {p:?}; choose another",
            quote(prefix)
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
    validate::check_source_bucket("$.source_bucket", source)?;
    let head = match prefix.filter(|p| !p.is_empty()) {
        Some(p) => {
            check_prefix(p)?;
            format!("{p}-")
        }
        None => String::new(),
    };
    let normalised = source.replace('.', "-");
    if head.is_empty()
        && let Some(p) = RESERVED_BUCKET_PREFIXES
            .iter()
            .find(|p| normalised.starts_with(**p))
    {
        return Err(InvalidInput::new(
            "$.source_bucket",
            format!(
                "{} would start the snapshot bucket name with the reserved prefix {p:?}; set bucket_prefix",
                quote(source)
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
    match snapshot_name_problem(&name) {
        None => Ok(name),
        Some(why) => Err(InvalidInput::new(
            "$.source_bucket",
            format!(
                "no valid snapshot bucket name can be made from {}: {} {why}",
                quote(source),
                quote(&name)
            ),
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
    fn dotted_names_get_a_hash() {
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
        assert_eq!(snapshot_name_problem(&dotted), None);
    }

    #[test]
    fn legacy_names_are_refused_saying_so() {
        // Uppercase and '_' (once allowed in us-east-1), and a 255-character legacy name.
        for legacy in ["Lake_Prod", "lake_prod", "LAKE-PROD", &"x".repeat(255)] {
            let e = snapshot_bucket_name(legacy, day("2021-03-31"), None).unwrap_err();
            assert_eq!(e.path, "$.source_bucket", "{legacy}");
            assert!(e.message.contains("legacy bucket names"), "{e}");
            assert!(e.message.contains("not supported"), "{e}");
            assert!(e.to_string().len() < 400, "{e}");
        }
        // Not legacy: never a bucket name at all.
        let e = snapshot_bucket_name("lake prod", day("2021-03-31"), None).unwrap_err();
        assert!(!e.message.contains("legacy"), "{e}");
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
        assert_eq!(snapshot_name_problem(&na), None);
        // With the longest prefix, still ≤ 63 and valid.
        let p = "p".repeat(MAX_PREFIX);
        let np = snapshot_bucket_name(&a, d, Some(&p)).unwrap();
        assert!(np.len() <= MAX_BUCKET_NAME, "{np}");
        assert!(np.starts_with(&format!("{p}-aaa")));
        assert_eq!(snapshot_name_problem(&np), None);
        // The longest source name, with the longest prefix.
        let longest = "x".repeat(MAX_BUCKET_NAME);
        assert_eq!(
            snapshot_name_problem(&snapshot_bucket_name(&longest, d, Some(&p)).unwrap()),
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
        // The cut (42 characters: 63 - hash 8 - date 11 - two hyphens) lands right after a
        // hyphen: it is trimmed, not doubled.
        let s = format!("{}-{}", "a".repeat(41), "b".repeat(20));
        let n = snapshot_bucket_name(&s, day("2021-03-31"), None).unwrap();
        assert!(!n.contains("--"), "{n}");
        assert!(n.starts_with(&format!("{}-", "a".repeat(41))), "{n}");
        assert_eq!(snapshot_name_problem(&n), None);
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
        // A reserved prefix is no bucket name under S3's current rules, prefix or not.
        let e = snapshot_bucket_name("xn--lake", d, Some("acme")).unwrap_err();
        assert_eq!(e.path, "$.source_bucket");
        // A source that only becomes reserved once its dots are replaced needs a prefix.
        let e = snapshot_bucket_name("xn-.lake", d, None).unwrap_err();
        assert_eq!(e.path, "$.source_bucket");
        assert!(e.message.contains("set bucket_prefix"), "{e}");
        assert!(snapshot_bucket_name("xn-.lake", d, Some("acme")).is_ok());
    }

    #[test]
    fn snapshot_names_follow_s3s_rules_without_periods() {
        assert_eq!(snapshot_name_problem("lake-prod-31-mar-2021"), None);
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
            assert!(snapshot_name_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(
            snapshot_name_problem("lake.prod"),
            Some(SnapshotNameProblem::Period)
        );
    }
}
