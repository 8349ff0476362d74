//! What the three large-copy steps share: the part layout (sizes, count, byte ranges), the
//! `x-amz-copy-source` of a part, the marker the copy carries, the checks on the fields the
//! plan hands on (so copy-parts and complete-large-copy refuse a tampered plan alike), and the
//! settings read from the environment.

use kit::InvalidInput;
use kit::validate;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// A mebibyte.
pub const MIB: u64 = 1 << 20;
/// A gibibyte.
pub const GIB: u64 = 1 << 30;
/// S3's most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;
/// S3's smallest part (all but the last).
pub const MIN_PART_BYTES: u64 = 5 * MIB;
/// S3's largest part.
pub const MAX_PART_BYTES: u64 = 5 * GIB;
/// The part sizes a plan chooses from, smallest first: large parts for speed, and the smallest
/// of them that keeps an object within [`MAX_PARTS`].
pub const PART_SIZES: [u64; 7] = [
    64 * MIB,
    128 * MIB,
    256 * MIB,
    512 * MIB,
    GIB,
    2 * GIB,
    5 * GIB,
];
/// The user metadata key (`x-amz-meta-lakevault-source-etag`) every copy carries: the source's
/// ETag (unquoted) it was copied from. A copy with it and the source's size is this plan's.
pub const SOURCE_ETAG_METADATA: &str = "lakevault-source-etag";
/// The variable that lowers the smallest part size (tests, with moto's
/// `S3_UPLOAD_PART_MIN_SIZE`): bytes, 1 to 5 GiB.
pub const MIN_PART_ENV: &str = "LAKEVAULT_MIN_PART_BYTES";
/// The longest S3 key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The only checksum algorithm a plan asks for (a full-object checksum of the copy).
pub const CHECKSUM_ALGORITHM: &str = "CRC64NVME";
/// The checksum type a plan asks for.
pub const CHECKSUM_TYPE: &str = "FULL_OBJECT";

/// The part size for an object of `size` bytes: `min_part`, or the smallest of [`PART_SIZES`]
/// above it, that needs at most [`MAX_PARTS`] parts. `None` when even 5 GiB parts are too many
/// (an object over 48.8 TiB, beyond S3's object size limit anyway).
pub fn choose_part_size(size: u64, min_part: u64) -> Option<u64> {
    std::iter::once(min_part)
        .chain(PART_SIZES.into_iter().filter(|p| *p > min_part))
        .find(|p| *p > 0 && size.div_ceil(*p) <= MAX_PARTS)
}

/// How many parts of `part_size` make `size` bytes (at least one).
pub fn part_count(size: u64, part_size: u64) -> u64 {
    size.div_ceil(part_size.max(1)).max(1)
}

/// Part `n` (1-based)'s first and last byte, inclusive, as `x-amz-copy-source-range` wants them.
pub fn part_range(size: u64, part_size: u64, n: u64) -> (u64, u64) {
    let first = (n - 1) * part_size;
    let last = (n * part_size).min(size) - 1;
    (first, last)
}

/// Part `n`'s length in bytes.
pub fn part_len(size: u64, part_size: u64, n: u64) -> u64 {
    let (first, last) = part_range(size, part_size, n);
    last - first + 1
}

/// `x-amz-copy-source-range` of part `n`: `bytes=first-last`.
pub fn copy_source_range(size: u64, part_size: u64, n: u64) -> String {
    let (first, last) = part_range(size, part_size, n);
    format!("bytes={first}-{last}")
}

/// What `x-amz-copy-source` may leave as is: RFC 3986's unreserved characters and `/` (the
/// separator of key "folders", which S3 reads either way). Everything else is percent-encoded.
const COPY_SOURCE_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A version id keeps only the unreserved characters.
const VERSION_ID: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `x-amz-copy-source` for a key of `bucket` (and a version): `bucket/<key, URL-encoded>`, with
/// `?versionId=<id>`. The Rust SDK sends the header as given, so the key is encoded here: a
/// space, `+`, `%`, `?`, `#` or a non-ASCII character would otherwise name another object.
pub fn copy_source(bucket: &str, key: &str, version_id: Option<&str>) -> String {
    let mut s = format!("{bucket}/{}", utf8_percent_encode(key, COPY_SOURCE_KEY));
    if let Some(v) = version_id {
        s.push_str("?versionId=");
        s.push_str(&utf8_percent_encode(v, VERSION_ID).to_string());
    }
    s
}

/// An ETag without its quotes.
pub fn unquoted(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// An ETag as `If-Match` wants it: quoted.
pub fn quoted(etag: &str) -> String {
    format!("\"{}\"", unquoted(etag))
}

/// Checks an object key at `path`: 1 to 1,024 bytes, no control character (keys travel in XML
/// listings and CSV manifests, where one would not survive).
pub fn check_key(path: &str, key: &str) -> Result<(), InvalidInput> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(InvalidInput::new(
            path,
            format!(
                "{} is {} bytes long; an object key has 1 to {MAX_KEY_BYTES}",
                validate::quote(key),
                key.len()
            ),
        ));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(InvalidInput::new(
            path,
            format!(
                "{} contains the control character {c:?}; large copies take printable keys only",
                validate::quote(key)
            ),
        ));
    }
    Ok(())
}

/// Checks a version id at `path`: 1 to 1,024 printable ASCII characters without spaces.
pub fn check_version_id(path: &str, id: &str) -> Result<(), InvalidInput> {
    check_token(path, id, "a version id", 1024)
}

/// Checks an upload id at `path`: 1 to 1,024 printable ASCII characters without spaces.
pub fn check_upload_id(path: &str, id: &str) -> Result<(), InvalidInput> {
    check_token(path, id, "a multipart upload id", 1024)
}

fn check_token(path: &str, v: &str, what: &str, max: usize) -> Result<(), InvalidInput> {
    let ok = !v.is_empty() && v.len() <= max && v.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!(
                "{} is not {what} (1 to {max} printable ASCII characters, no spaces)",
                validate::quote(v)
            ),
        ))
    }
}

/// Checks an S3 ETag at `path` (quotes optional): 32 hex digits, with `-<parts>` for an object
/// uploaded in parts.
pub fn check_etag(path: &str, etag: &str) -> Result<(), InvalidInput> {
    let e = unquoted(etag);
    let (hash, parts) = match e.split_once('-') {
        Some((h, p)) => (h, Some(p)),
        None => (e, None),
    };
    let ok = hash.len() == 32
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && parts
            .is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!(
                "{} is not an S3 ETag (32 hex digits, with -<parts> for an object uploaded in \
                 parts; quotes optional)",
                validate::quote(etag)
            ),
        ))
    }
}

/// Checks a plan's layout: `size` ≥ 1, `part_size` from 1 byte to 5 GiB, `parts` what they make
/// (≤ 10,000). `prefix` is the JSON path of the object holding them (`$`).
pub fn check_layout(
    prefix: &str,
    size: u64,
    part_size: u64,
    parts: u64,
) -> Result<(), InvalidInput> {
    if size == 0 {
        return Err(InvalidInput::new(
            format!("{prefix}.size"),
            "is 0; an empty object is copied by Batch Operations, not in parts",
        ));
    }
    if part_size == 0 || part_size > MAX_PART_BYTES {
        return Err(InvalidInput::new(
            format!("{prefix}.part_size"),
            format!("{part_size} is not a part size (1 byte to {MAX_PART_BYTES})"),
        ));
    }
    let want = part_count(size, part_size);
    if parts != want || parts > MAX_PARTS {
        return Err(InvalidInput::new(
            format!("{prefix}.parts"),
            format!(
                "{parts} is not the part count of {size} bytes in parts of {part_size} \
                 ({want}, at most {MAX_PARTS}): give plan-large-copy's output unchanged"
            ),
        ));
    }
    Ok(())
}

/// A setting read from the environment that is out of its bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is not {expected}")]
pub struct SettingError {
    /// The variable.
    pub variable: &'static str,
    /// Its value (at most 64 characters).
    pub value: String,
    /// What it should be.
    pub expected: &'static str,
}

/// Why a large-copy step could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A `LAKEVAULT_*_TIMEOUT_SECONDS` variable (kit's clients).
    #[error(transparent)]
    Timeouts(#[from] kit::clients::ConfigError),
    /// One of the step's own settings.
    #[error(transparent)]
    Setting(#[from] SettingError),
}

/// Reads `variable` through `lookup` as an integer in `range`; `default` when unset or blank.
pub fn integer_setting(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
    expected: &'static str,
) -> Result<u64, SettingError> {
    match lookup(variable) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| SettingError {
                variable,
                value: v.chars().take(64).collect(),
                expected,
            }),
    }
}

/// Reads `variable` through `lookup` as seconds in `range`; `default` when unset or blank.
pub fn seconds_setting(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    range: std::ops::RangeInclusive<f64>,
    default: f64,
    expected: &'static str,
) -> Result<std::time::Duration, SettingError> {
    let secs = match lookup(variable) {
        None => default,
        Some(v) if v.trim().is_empty() => default,
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| range.contains(s))
            .ok_or_else(|| SettingError {
                variable,
                value: v.chars().take(64).collect(),
                expected,
            })?,
    };
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_part_size_that_keeps_ten_thousand_parts() {
        let min = PART_SIZES[0];
        assert_eq!(choose_part_size(6 * GIB, min), Some(64 * MIB));
        // 10,000 × 64 MiB = 625 GiB exactly fits; one byte more needs 128 MiB parts.
        assert_eq!(choose_part_size(10_000 * 64 * MIB, min), Some(64 * MIB));
        assert_eq!(
            choose_part_size(10_000 * 64 * MIB + 1, min),
            Some(128 * MIB)
        );
        assert_eq!(choose_part_size(1 << 40, min), Some(128 * MIB)); // 1 TiB: 8,192 parts
        assert_eq!(choose_part_size(5 << 40, min), Some(GIB)); // 5 TiB: 5,120 parts
        assert_eq!(choose_part_size(10_000 * 5 * GIB, min), Some(5 * GIB));
        assert_eq!(choose_part_size(10_000 * 5 * GIB + 1, min), None);
        // A lowered minimum (tests): used while it keeps 10,000 parts, then the ladder.
        assert_eq!(choose_part_size(26 * MIB, 5 * MIB), Some(5 * MIB));
        assert_eq!(choose_part_size(10_001 * MIB, MIB), Some(64 * MIB));
        // A raised one skips the smaller rungs.
        assert_eq!(choose_part_size(6 * GIB, 300 * MIB), Some(300 * MIB));
        assert_eq!(choose_part_size(6 * GIB, 0), Some(64 * MIB));
    }

    #[test]
    fn parts_cover_every_byte_once() {
        for (size, ps) in [
            (26 * MIB, 5 * MIB),
            (10 * MIB, 5 * MIB),
            (1, 5 * MIB),
            (7, 2),
        ] {
            let n = part_count(size, ps);
            let mut next = 0;
            for i in 1..=n {
                let (first, last) = part_range(size, ps, i);
                assert_eq!(first, next, "{size} {ps} part {i}");
                assert!(last >= first && last < size);
                assert_eq!(part_len(size, ps, i), last - first + 1);
                next = last + 1;
            }
            assert_eq!(next, size);
        }
        assert_eq!(
            copy_source_range(26 * MIB, 5 * MIB, 6),
            "bytes=26214400-27262975"
        );
    }

    #[test]
    fn the_copy_source_encodes_the_key_but_keeps_its_slashes() {
        assert_eq!(
            copy_source("lake-prod", "events/date=2021-03-31/part 0+1.parquet", None),
            "lake-prod/events/date%3D2021-03-31/part%200%2B1.parquet"
        );
        assert_eq!(
            copy_source("b", "a%b?c#d/é~_.-", Some("3/L4kqtJl.x")),
            "b/a%25b%3Fc%23d/%C3%A9~_.-?versionId=3%2FL4kqtJl.x"
        );
    }

    #[test]
    fn plan_fields_are_checked() {
        assert!(check_layout("$", 26 * MIB, 5 * MIB, 6).is_ok());
        assert_eq!(
            check_layout("$", 26 * MIB, 5 * MIB, 5).unwrap_err().path,
            "$.parts"
        );
        assert_eq!(check_layout("$", 0, 5 * MIB, 1).unwrap_err().path, "$.size");
        assert_eq!(check_layout("$", 1, 0, 1).unwrap_err().path, "$.part_size");
        assert_eq!(
            check_layout("$", 1, 6 * GIB, 1).unwrap_err().path,
            "$.part_size"
        );
        assert_eq!(
            check_layout("$", 10_001, 1, 10_001).unwrap_err().path,
            "$.parts"
        );
        assert!(check_etag("$.e", "\"d41d8cd98f00b204e9800998ecf8427e-12\"").is_ok());
        assert!(check_etag("$.e", "d41d8cd98f00b204e9800998ecf8427e").is_ok());
        assert!(check_etag("$.e", "").is_err());
        assert!(check_etag("$.e", "d41d8cd98f00b204e9800998ecf8427e-").is_err());
        assert!(check_key("$.k", "a/b c").is_ok());
        assert!(check_key("$.k", "").is_err());
        assert!(check_key("$.k", "a\nb").is_err());
        assert!(check_key("$.k", &"k".repeat(1025)).is_err());
        assert!(check_upload_id("$.u", "2~abc.DEF_-=").is_ok());
        assert!(check_upload_id("$.u", "a b").is_err());
    }

    #[test]
    fn settings_read_with_bounds() {
        let env = |v: &str| (v == "X").then(|| "42".to_owned());
        assert_eq!(integer_setting(&env, "X", 1..=64, 16, "1 to 64"), Ok(42));
        assert_eq!(integer_setting(&env, "Y", 1..=64, 16, "1 to 64"), Ok(16));
        assert!(integer_setting(&env, "X", 1..=8, 16, "1 to 8").is_err());
        let bad = |_: &str| Some("soon".to_owned());
        assert!(seconds_setting(&bad, "Z", 0.0..=900.0, 600.0, "seconds").is_err());
    }
}
