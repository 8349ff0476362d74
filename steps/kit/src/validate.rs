//! AWS name rules, once: every step checks bucket names, account ids, regions, ARNs, job ids and
//! key prefixes with these functions, so one input is accepted or refused the same way by all.
//!
//! Each `check_*` function takes the JSON path of the field (`$.report.bucket`) and returns an
//! [`InvalidInput`] whose message quotes at most [`QUOTE_LIMIT`] characters of the offending value
//! (a Catch copies the message into the execution state; a megabyte of echo would overflow Step
//! Functions' 256 KiB state limit).
//!
//! **Legacy bucket names are refused everywhere.** Before March 2018, us-east-1 allowed names with
//! uppercase letters and underscores, up to 255 characters. S3 Batch Operations' manifests and
//! ARNs, and virtual-hosted requests, do not work with them reliably, and no bucket created since
//! has such a name; lakevault supports only buckets named by S3's current rules.
//!
//! The emulators under `local/` keep their own, independent checks on purpose: they stand in for
//! AWS, and sharing this module would make a wrong rule here invisible to the tests.

use std::fmt;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use crate::error::InvalidInput;

/// The most characters of an offending value an error message quotes.
pub const QUOTE_LIMIT: usize = 64;

/// `value` for an error message: Debug-quoted, cut to [`QUOTE_LIMIT`] characters, with its length
/// when cut (`"aaaa…" (1048576 bytes)`).
pub fn quote(value: &str) -> String {
    if value.chars().count() <= QUOTE_LIMIT {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(QUOTE_LIMIT).collect();
        format!("{:?}… ({} bytes)", head, value.len())
    }
}

/// Name prefixes S3 reserves for general purpose buckets.
pub const RESERVED_BUCKET_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
/// Name suffixes S3 reserves (access point aliases, Object Lambda, MRAP, directory and table buckets).
pub const RESERVED_BUCKET_SUFFIXES: &[&str] =
    &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
/// The longest bucket name.
pub const MAX_BUCKET_NAME: usize = 63;

/// Why a string is not a general purpose bucket name under S3's current rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BucketNameProblem {
    /// Not 3 to 63 characters.
    #[error("has {0} characters; a bucket name has 3 to 63")]
    Length(usize),
    /// A character other than a lowercase letter, digit, `.` or `-`.
    #[error("contains {0:?}; only lowercase letters, digits, '.' and '-' are allowed")]
    Character(char),
    /// Starts or ends with something other than a letter or digit.
    #[error("must start and end with a lowercase letter or digit")]
    Ends,
    /// Two adjacent periods.
    #[error("contains \"..\"")]
    AdjacentPeriods,
    /// Formatted as an IPv4 address.
    #[error("is formatted as an IP address")]
    IpAddress,
    /// Starts with a prefix S3 reserves.
    #[error("starts with the reserved prefix {0:?}")]
    ReservedPrefix(&'static str),
    /// Ends with a suffix S3 reserves.
    #[error("ends with the reserved suffix {0:?}")]
    ReservedSuffix(&'static str),
}

/// Why `name` is not a bucket name, if it is not.
pub fn bucket_name_problem(name: &str) -> Option<BucketNameProblem> {
    let len = name.chars().count();
    if !(3..=MAX_BUCKET_NAME).contains(&len) {
        return Some(BucketNameProblem::Length(len));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-')))
    {
        return Some(BucketNameProblem::Character(c));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Some(BucketNameProblem::Ends);
    }
    if name.contains("..") {
        return Some(BucketNameProblem::AdjacentPeriods);
    }
    let octets: Vec<&str> = name.split('.').collect();
    if octets.len() == 4
        && octets
            .iter()
            .all(|o| !o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(BucketNameProblem::IpAddress);
    }
    if let Some(p) = RESERVED_BUCKET_PREFIXES
        .iter()
        .find(|p| name.starts_with(**p))
    {
        return Some(BucketNameProblem::ReservedPrefix(p));
    }
    if let Some(s) = RESERVED_BUCKET_SUFFIXES
        .iter()
        .find(|s| name.ends_with(**s))
    {
        return Some(BucketNameProblem::ReservedSuffix(s));
    }
    None
}

/// Checks a bucket name (not an ARN, not an `s3://` URL) at `path`.
pub fn check_bucket(path: &str, name: &str) -> Result<(), InvalidInput> {
    match bucket_name_problem(name) {
        None => Ok(()),
        Some(p) => {
            let hint = if name.starts_with("arn:") || name.starts_with("s3://") {
                "; give the bucket's name, not an ARN or URL"
            } else {
                ""
            };
            Err(InvalidInput::new(
                path,
                format!("{} is not a bucket name: it {p}{hint}", quote(name)),
            ))
        }
    }
}

/// Checks a source bucket's name at `path`: [`check_bucket`], and when the name is a legacy
/// us-east-1 name (uppercase letters, `_`, up to 255 characters), a message that says so.
pub fn check_source_bucket(path: &str, name: &str) -> Result<(), InvalidInput> {
    let problem = match bucket_name_problem(name) {
        None => return Ok(()),
        Some(p) => p,
    };
    let legacy = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && matches!(
            problem,
            BucketNameProblem::Length(_) | BucketNameProblem::Character(_)
        );
    if legacy {
        Err(InvalidInput::new(
            path,
            format!(
                "{} is not a bucket name: it {problem}; legacy bucket names (uppercase letters, \
                 '_', more than 63 characters: allowed in us-east-1 before March 2018) are not \
                 supported",
                quote(name)
            ),
        ))
    } else {
        check_bucket(path, name)
    }
}

/// Checks a 12-digit AWS account id at `path`.
pub fn check_account_id(path: &str, id: &str) -> Result<(), InvalidInput> {
    if is_account_id(id) {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!("{} is not a 12-digit AWS account id", quote(id)),
        ))
    }
}

/// True for a 12-digit account id.
pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS partition lakevault can run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// `aws`: the commercial regions.
    Aws,
    /// `aws-cn`: China.
    AwsCn,
    /// `aws-us-gov`: GovCloud (US).
    AwsUsGov,
}

impl Partition {
    /// The partition's name in ARNs.
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// The partition named `s` in an ARN.
    pub fn parse(s: &str) -> Option<Partition> {
        match s {
            "aws" => Some(Partition::Aws),
            "aws-cn" => Some(Partition::AwsCn),
            "aws-us-gov" => Some(Partition::AwsUsGov),
            _ => None,
        }
    }

    /// The partition a (well-formed) region belongs to.
    pub fn of_region(region: &str) -> Partition {
        if region.starts_with("cn-") {
            Partition::AwsCn
        } else if region.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else {
            Partition::Aws
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks that an ARN's `partition` is the one of `region`, where the step runs (`what` names
/// the resource in the message: "the role"). No region, or a malformed one, checks nothing: the
/// SDK reports that itself.
pub fn check_partition_matches(
    path: &str,
    what: &str,
    partition: Partition,
    region: Option<&str>,
) -> Result<(), InvalidInput> {
    let Some(region) = region.filter(|r| is_region(r)) else {
        return Ok(());
    };
    let here = Partition::of_region(region);
    if partition == here {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!(
                "{what} is in partition {partition}, the step runs in {region} ({here}); give one of {here}"
            ),
        ))
    }
}

/// True for a region name such as `us-east-1`, `us-gov-west-1`, `ap-southeast-5`: a two-letter
/// area, lowercase words, then a number, hyphen-separated.
pub fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 5
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 16 && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a region name at `path`.
pub fn check_region(path: &str, region: &str) -> Result<(), InvalidInput> {
    if is_region(region) {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!(
                "{} is not an AWS region name such as \"us-east-1\"",
                quote(region)
            ),
        ))
    }
}

/// The parts of an ARN: `arn:<partition>:<service>:<region>:<account>:<resource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    /// The partition (known to lakevault).
    pub partition: Partition,
    /// The service (`iam`, `sns`, …).
    pub service: &'a str,
    /// The region; empty for global services.
    pub region: &'a str,
    /// The account id; empty for S3 bucket and object ARNs.
    pub account: &'a str,
    /// Everything after the fifth colon.
    pub resource: &'a str,
}

/// What kind of ARN a field expects: decides the service, whether region and account are set,
/// and the resource's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnKind {
    /// `arn:<p>:iam::<account>:role/[<path>/]<name>`.
    Role,
    /// `arn:<p>:sns:<region>:<account>:<topic>`.
    Topic,
    /// `arn:<p>:lambda:<region>:<account>:function:<name>[:<qualifier>]`.
    Function,
    /// `arn:<p>:kms:<region>:<account>:key/<key-id>`.
    KmsKey,
    /// `arn:<p>:s3:::<bucket>/<key>`.
    S3Object,
}

impl ArnKind {
    fn service(self) -> &'static str {
        match self {
            ArnKind::Role => "iam",
            ArnKind::Topic => "sns",
            ArnKind::Function => "lambda",
            ArnKind::KmsKey => "kms",
            ArnKind::S3Object => "s3",
        }
    }

    fn form(self) -> &'static str {
        match self {
            ArnKind::Role => {
                "an IAM role ARN (arn:<partition>:iam::<account>:role/[<path>/]<name>)"
            }
            ArnKind::Topic => "an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)",
            ArnKind::Function => {
                "a Lambda function ARN (arn:<partition>:lambda:<region>:<account>:function:<name>)"
            }
            ArnKind::KmsKey => {
                "a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key-id>; not an alias)"
            }
            ArnKind::S3Object => "an S3 object ARN (arn:<partition>:s3:::<bucket>/<key>)",
        }
    }

    fn regional(self) -> bool {
        matches!(self, ArnKind::Topic | ArnKind::Function | ArnKind::KmsKey)
    }

    fn resource_ok(self, resource: &str) -> bool {
        match self {
            ArnKind::Role => resource.strip_prefix("role/").is_some_and(|rest| {
                let segments: Vec<&str> = rest.split('/').collect();
                rest.len() <= 576
                    && segments.iter().all(|s| {
                        !s.is_empty()
                            && s.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
                    })
                    && segments.last().is_some_and(|n| n.len() <= 64)
            }),
            ArnKind::Topic => {
                let name = resource.strip_suffix(".fifo").unwrap_or(resource);
                (1..=256).contains(&resource.len())
                    && !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }
            ArnKind::Function => resource.strip_prefix("function:").is_some_and(|rest| {
                let mut it = rest.splitn(2, ':');
                let name = it.next().unwrap_or_default();
                let qualifier = it.next();
                (1..=64).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    && qualifier.is_none_or(|q| {
                        (1..=128).contains(&q.len())
                            && q.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$'
                            })
                    })
            }),
            ArnKind::KmsKey => resource.strip_prefix("key/").is_some_and(|id| {
                (1..=64).contains(&id.len())
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }),
            ArnKind::S3Object => resource.split_once('/').is_some_and(|(b, k)| {
                bucket_name_problem(b).is_none() && !k.is_empty() && k.len() <= 1024
            }),
        }
    }
}

/// Parses and checks an ARN of `kind` at `path`: a known partition, the kind's service, a region
/// (for regional services, and in the partition's own regions) or none, a 12-digit account (or
/// none for S3), and the resource's form.
pub fn check_arn<'a>(path: &str, arn: &'a str, kind: ArnKind) -> Result<Arn<'a>, InvalidInput> {
    let bad =
        |why: &str| InvalidInput::new(path, format!("{} is not {}{why}", quote(arn), kind.form()));
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(bad(""));
    };
    if *prefix != "arn" || *service != kind.service() {
        return Err(bad(""));
    }
    let Some(partition) = Partition::parse(partition) else {
        return Err(bad(&format!(
            ": the partition {} is not aws, aws-cn or aws-us-gov",
            quote(partition)
        )));
    };
    if kind.regional() {
        if !is_region(region) {
            return Err(bad(": the region is missing or malformed"));
        }
        if Partition::of_region(region) != partition {
            return Err(bad(&format!(
                ": region {region} is not in partition {partition}"
            )));
        }
    } else if !region.is_empty() {
        return Err(bad(": this kind of ARN has no region"));
    }
    let account_ok = if kind == ArnKind::S3Object {
        account.is_empty()
    } else {
        is_account_id(account)
    };
    if !account_ok {
        return Err(bad(""));
    }
    if kind == ArnKind::KmsKey && resource.starts_with("alias/") {
        return Err(bad(
            ": S3 resolves aliases in the caller's account, give the key's ARN",
        ));
    }
    if !kind.resource_ok(resource) {
        return Err(bad(""));
    }
    Ok(Arn {
        partition,
        service,
        region,
        account,
        resource,
    })
}

/// The longest S3 Batch Operations job id (S3 Control's model: 5 to 36 characters).
pub const MAX_JOB_ID: usize = 36;

/// Checks an S3 Batch Operations job id at `path` (S3 Control: `[a-zA-Z0-9\-_]+`, 5 to 36).
pub fn check_job_id(path: &str, id: &str) -> Result<(), InvalidInput> {
    let ok = (5..=MAX_JOB_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!(
                "{} is not a Batch Operations job id (5 to {MAX_JOB_ID} letters, digits, '-' or '_')",
                quote(id)
            ),
        ))
    }
}

/// The longest key prefix accepted: leaves room under S3's 1,024-byte key limit for what a step
/// appends (`/job-<id>/results/<uuid>.csv`, dated folders).
pub const MAX_KEY_PREFIX: usize = 512;

/// Checks an S3 key prefix at `path` (may be empty): at most [`MAX_KEY_PREFIX`] bytes, no control
/// characters (a NUL or newline in a key breaks the CSV manifests and reports keys travel in).
pub fn check_key_prefix(path: &str, prefix: &str) -> Result<(), InvalidInput> {
    if prefix.len() > MAX_KEY_PREFIX {
        return Err(InvalidInput::new(
            path,
            format!(
                "{} is {} bytes long; use at most {MAX_KEY_PREFIX}",
                quote(prefix),
                prefix.len()
            ),
        ));
    }
    if let Some(c) = prefix.chars().find(|c| c.is_control()) {
        return Err(InvalidInput::new(
            path,
            format!(
                "{} contains the control character {c:?}; a key prefix has printable characters only",
                quote(prefix)
            ),
        ));
    }
    Ok(())
}

/// Checks an S3 Inventory configuration id at `path`: 1 to 64 letters, digits, `-`, `_`, `.`.
pub fn check_inventory_id(path: &str, id: &str) -> Result<(), InvalidInput> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!(
                "{} is not an inventory configuration id (1 to 64 letters, digits, '-', '_', '.')",
                quote(id)
            ),
        ))
    }
}

/// The Object Lock modes a copy may be locked with.
pub const OBJECT_LOCK_MODES: [&str; 2] = ["GOVERNANCE", "COMPLIANCE"];

/// Checks a copy's Object Lock request, the fields `$.retain_until` (RFC 3339) and
/// `$.object_lock_mode` (GOVERNANCE, the default, or COMPLIANCE): `None` without a retain-until
/// date (a mode alone is refused: it would lock nothing), else the mode and the date. The date
/// must be after `now`: a date in the past would leave the copies unprotected from the start (or
/// be refused by S3 object by object), so the input is refused before any request. `locked`
/// ends the message about a past date: what stays locked until then ("the copies stay locked").
/// submit-job (the Batch Operations copy) and plan-large-copy (the copy in parts) check the same
/// fields with it.
pub fn check_object_lock(
    retain_until: Option<&str>,
    mode: Option<&str>,
    now: DateTime,
    locked: &str,
) -> Result<Option<(String, DateTime)>, InvalidInput> {
    let Some(t) = retain_until else {
        if mode.is_some() {
            return Err(InvalidInput::new(
                "$.object_lock_mode",
                "object_lock_mode needs retain_until",
            ));
        }
        return Ok(None);
    };
    let when = DateTime::from_str(t, Format::DateTimeWithOffset).map_err(|_| {
        InvalidInput::new(
            "$.retain_until",
            format!(
                "{} is not an RFC 3339 timestamp such as 2021-04-30T00:00:00Z",
                quote(t)
            ),
        )
    })?;
    if when.secs() <= now.secs() {
        return Err(InvalidInput::new(
            "$.retain_until",
            format!(
                "{} is not in the future; give the date until which {locked}",
                quote(t)
            ),
        ));
    }
    let mode = mode.unwrap_or(OBJECT_LOCK_MODES[0]);
    if !OBJECT_LOCK_MODES.contains(&mode) {
        return Err(InvalidInput::new(
            "$.object_lock_mode",
            format!("{} must be GOVERNANCE or COMPLIANCE", quote(mode)),
        ));
    }
    Ok(Some((mode.to_owned(), when)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3s_current_rules() {
        for ok in ["lake-prod", "a.b.c", "abc", "backup-reports", "1lake"] {
            assert_eq!(bucket_name_problem(ok), None, "{ok}");
        }
        let cases: &[(&str, BucketNameProblem)] = &[
            ("ab", BucketNameProblem::Length(2)),
            (&"a".repeat(64), BucketNameProblem::Length(64)),
            ("Lake", BucketNameProblem::Character('L')),
            ("lake_prod", BucketNameProblem::Character('_')),
            ("lake\0x", BucketNameProblem::Character('\0')),
            ("-lake", BucketNameProblem::Ends),
            ("lake.", BucketNameProblem::Ends),
            ("lake..prod", BucketNameProblem::AdjacentPeriods),
            ("192.168.5.4", BucketNameProblem::IpAddress),
            ("xn--lake", BucketNameProblem::ReservedPrefix("xn--")),
            ("sthree-lake", BucketNameProblem::ReservedPrefix("sthree-")),
            (
                "lake-s3alias",
                BucketNameProblem::ReservedSuffix("-s3alias"),
            ),
            ("lake--x-s3", BucketNameProblem::ReservedSuffix("--x-s3")),
        ];
        for (name, want) in cases {
            assert_eq!(bucket_name_problem(name).as_ref(), Some(want), "{name}");
        }
    }

    #[test]
    fn an_arn_or_url_for_a_bucket_says_to_give_the_name() {
        let e = check_bucket("$.b", "arn:aws:s3:::lake").unwrap_err();
        assert_eq!(e.path, "$.b");
        assert!(e.message.contains("not an ARN or URL"), "{e}");
    }

    #[test]
    fn legacy_source_names_are_refused_saying_so() {
        for legacy in ["Lake_Prod", "lake_prod", &"a".repeat(100)] {
            let e = check_source_bucket("$.source_bucket", legacy).unwrap_err();
            assert!(e.message.contains("legacy bucket names"), "{e}");
        }
        let e = check_source_bucket("$.source_bucket", "xn--lake").unwrap_err();
        assert!(!e.message.contains("legacy"), "{e}");
        assert!(check_source_bucket("$.source_bucket", "lake.prod").is_ok());
    }

    #[test]
    fn long_values_are_quoted_short() {
        let v = "x".repeat(1 << 20);
        let e = check_bucket("$.b", &v).unwrap_err();
        assert!(e.to_string().len() < 300, "{}", e.to_string().len());
        assert!(e.message.contains("1048576 bytes"));
        let q = quote("é".repeat(100).as_str());
        assert!(q.starts_with("\"éé"));
    }

    #[test]
    fn role_arns_need_iam_a_known_partition_no_region_and_an_account() {
        let ok = check_arn(
            "$.r",
            "arn:aws:iam::111122223333:role/a/b/lakevault-batch",
            ArnKind::Role,
        )
        .unwrap();
        assert_eq!(ok.partition, Partition::Aws);
        assert_eq!(ok.account, "111122223333");
        for bad in [
            "arn:aws:iam::111122223333:user/x",
            "arn:aws:iam:us-east-1:111122223333:role/x",
            "arn:aws-xx:iam::111122223333:role/x",
            "arn:aws:iam::1111:role/x",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/x*",
            "arn:aws:sts::111122223333:role/x",
        ] {
            assert_eq!(
                check_arn("$.r", bad, ArnKind::Role).unwrap_err().path,
                "$.r",
                "{bad}"
            );
        }
    }

    #[test]
    fn topic_arns_need_a_region_of_their_partition() {
        assert!(
            check_arn(
                "$.t",
                "arn:aws:sns:us-east-1:123456789012:lakevault",
                ArnKind::Topic
            )
            .is_ok()
        );
        assert!(
            check_arn(
                "$.t",
                "arn:aws:sns:us-east-1:123456789012:t.fifo",
                ArnKind::Topic
            )
            .is_ok()
        );
        assert!(
            check_arn(
                "$.t",
                "arn:aws-cn:sns:cn-north-1:123456789012:t",
                ArnKind::Topic
            )
            .is_ok()
        );
        for bad in [
            "arn:aws:sns:::backup-reports",
            "arn:aws-cn:sns:us-east-1:123456789012:t",
            "arn:aws:sns:us-east-1:123456789012:",
            "arn:aws:sns:us-east-1:123456789012:a b",
            "arn:aws:s3:::backup-reports",
        ] {
            assert!(check_arn("$.t", bad, ArnKind::Topic).is_err(), "{bad}");
        }
    }

    #[test]
    fn function_kms_and_object_arns() {
        assert!(
            check_arn(
                "$",
                "arn:aws:lambda:eu-west-1:123456789012:function:notify",
                ArnKind::Function
            )
            .is_ok()
        );
        assert!(
            check_arn(
                "$",
                "arn:aws:lambda:eu-west-1:123456789012:function:notify:$LATEST",
                ArnKind::Function
            )
            .is_ok()
        );
        assert!(
            check_arn(
                "$",
                "arn:aws:lambda:eu-west-1:123456789012:notify",
                ArnKind::Function
            )
            .is_err()
        );
        assert!(
            check_arn(
                "$",
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab",
                ArnKind::KmsKey
            )
            .is_ok()
        );
        let alias = check_arn(
            "$",
            "arn:aws:kms:eu-west-1:123456789012:alias/x",
            ArnKind::KmsKey,
        );
        assert!(alias.unwrap_err().message.contains("aliases"));
        assert!(check_arn("$", "arn:aws:s3:::inv/a/manifest.json", ArnKind::S3Object).is_ok());
        assert!(check_arn("$", "arn:aws:s3:::inv/", ArnKind::S3Object).is_err());
        assert!(check_arn("$", "arn:aws:s3:::Inv/k", ArnKind::S3Object).is_err());
        assert!(check_arn("$", "arn:aws:s3:us-east-1::inv/k", ArnKind::S3Object).is_err());
    }

    #[test]
    fn regions_and_partitions() {
        for ok in ["us-east-1", "us-gov-west-1", "ap-southeast-5", "cn-north-1"] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-east-1a",
            "u-east-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
        assert_eq!(Partition::of_region("cn-north-1"), Partition::AwsCn);
        assert_eq!(Partition::of_region("us-gov-west-1"), Partition::AwsUsGov);
        assert_eq!(Partition::of_region("eu-west-1").as_str(), "aws");
    }

    #[test]
    fn an_arn_of_another_partition_than_the_region_is_refused() {
        assert!(
            check_partition_matches("$.r", "the role", Partition::Aws, Some("eu-west-1")).is_ok()
        );
        assert!(check_partition_matches("$.r", "the role", Partition::AwsCn, None).is_ok());
        let e = check_partition_matches("$.r", "the role", Partition::AwsCn, Some("us-east-1"))
            .unwrap_err();
        assert_eq!(e.path, "$.r");
        assert!(e.message.contains("partition aws-cn"), "{e}");
    }

    #[test]
    fn job_ids_are_5_to_36_characters() {
        assert!(check_job_id("$.j", "8d1b3f7e-1c2d-4e5f-9a0b-1c2d3e4f5a6b").is_ok());
        assert!(check_job_id("$.j", "abcd").is_err());
        assert!(check_job_id("$.j", &"a".repeat(37)).is_err());
        assert!(check_job_id("$.j", "a/bcd").is_err());
    }

    #[test]
    fn key_prefixes_and_inventory_ids() {
        assert!(check_key_prefix("$.p", "").is_ok());
        assert!(check_key_prefix("$.p", "reports/lakevault").is_ok());
        assert!(check_key_prefix("$.p", "a\nb").is_err());
        assert!(check_key_prefix("$.p", &"a".repeat(513)).is_err());
        assert!(check_inventory_id("$.i", "daily").is_ok());
        assert!(check_inventory_id("$.i", "").is_err());
        assert!(check_inventory_id("$.i", "a b").is_err());
        assert!(check_account_id("$.a", "111122223333").is_ok());
        assert!(check_account_id("$.a", "11112222333a").is_err());
    }

    #[test]
    fn object_lock_needs_a_future_date_and_a_known_mode() {
        let now = DateTime::from_secs(1_617_000_000);
        let check =
            |t: Option<&str>, m: Option<&str>| check_object_lock(t, m, now, "it stays locked");
        assert_eq!(check(None, None).unwrap(), None);
        let (mode, when) = check(Some("2099-12-31T00:00:00Z"), None).unwrap().unwrap();
        assert_eq!(mode, "GOVERNANCE");
        assert!(when.secs() > now.secs());
        let (mode, _) = check(Some("2099-12-31T00:00:00+02:00"), Some("COMPLIANCE"))
            .unwrap()
            .unwrap();
        assert_eq!(mode, "COMPLIANCE");
        let e = check(None, Some("GOVERNANCE")).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("$.object_lock_mode", "object_lock_mode needs retain_until")
        );
        let e = check(Some("2021-03-29T06:40:00Z"), None).unwrap_err();
        assert_eq!(e.path, "$.retain_until");
        assert_eq!(
            e.message,
            "\"2021-03-29T06:40:00Z\" is not in the future; give the date until which it stays locked"
        );
        let e = check(Some("tomorrow"), None).unwrap_err();
        assert_eq!(e.path, "$.retain_until");
        assert!(e.message.contains("not an RFC 3339 timestamp"), "{e}");
        let e = check(Some("2099-12-31T00:00:00Z"), Some("governance")).unwrap_err();
        assert_eq!(e.path, "$.object_lock_mode");
        assert_eq!(e.message, "\"governance\" must be GOVERNANCE or COMPLIANCE");
    }
}
