//! AWS's name rules as S3 Control applies them to a request: account ids, role ARNs, S3 ARNs,
//! job tags.
//!
//! These are local-batch's own copies on purpose, not `kit::validate`'s: this service emulates
//! AWS independently of the steps it tests, so a wrong rule in a step cannot be mirrored (and
//! so hidden) here.

use crate::model::Tag;

/// At most this many tags per job.
pub(crate) const MAX_TAGS: usize = 50;

/// Whether `id` is a 12-digit AWS account id.
pub(crate) fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// The account of `arn:<partition>:iam::<account>:role/<name>` (partitions `aws`, `aws-cn`,
/// `aws-us-gov`).
pub(crate) fn role_arn_account(arn: &str) -> Option<&str> {
    let rest = arn
        .strip_prefix("arn:aws:iam::")
        .or_else(|| arn.strip_prefix("arn:aws-cn:iam::"))
        .or_else(|| arn.strip_prefix("arn:aws-us-gov:iam::"))?;
    let (acct, res) = rest.split_once(':')?;
    let ok = is_account_id(acct) && res.strip_prefix("role/").is_some_and(|n| !n.is_empty());
    ok.then_some(acct)
}

/// The bucket of `arn:aws:s3:::bucket`.
pub(crate) fn bucket_of_arn(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:aws:s3:::")
        .filter(|b| !b.is_empty() && !b.contains('/'))
}

/// Bucket and key of `arn:aws:s3:::bucket/key`.
pub(crate) fn object_of_arn(arn: &str) -> Option<(&str, &str)> {
    arn.strip_prefix("arn:aws:s3:::")
        .and_then(|r| r.split_once('/'))
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
}

/// What is wrong with a job's tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TagProblem {
    /// More than [`MAX_TAGS`] tags.
    #[error("A job can have at most 50 tags.")]
    TooMany,
    /// A key that is empty or longer than 128 characters, or a value longer than 256.
    #[error("Tag {key:?}: keys are 1 to 128 characters, values at most 256.")]
    BadLength {
        /// The tag's key.
        key: String,
    },
}

/// Checks job tags as S3 Control does.
pub(crate) fn check_tags(tags: &[Tag]) -> Result<(), TagProblem> {
    if tags.len() > MAX_TAGS {
        return Err(TagProblem::TooMany);
    }
    match tags
        .iter()
        .find(|t| t.key.is_empty() || t.key.len() > 128 || t.value.len() > 256)
    {
        Some(t) => Err(TagProblem::BadLength { key: t.key.clone() }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_iam_role_arns_with_a_twelve_digit_account_name_an_account() {
        assert_eq!(
            role_arn_account("arn:aws:iam::123456789012:role/batch"),
            Some("123456789012")
        );
        for bad in [
            "",
            "arn:aws:iam::123:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert_eq!(role_arn_account(bad), None, "{bad}");
        }
    }

    #[test]
    fn s3_arns_name_a_bucket_or_an_object() {
        assert_eq!(bucket_of_arn("arn:aws:s3:::b"), Some("b"));
        assert_eq!(bucket_of_arn("arn:aws:s3:::b/k"), None);
        assert_eq!(object_of_arn("arn:aws:s3:::b/k/l"), Some(("b", "k/l")));
        assert_eq!(object_of_arn("arn:aws:s3:::b/"), None);
    }

    #[test]
    fn fifty_one_tags_or_an_empty_key_are_refused() {
        let tag = |k: &str| Tag {
            key: k.to_owned(),
            value: String::new(),
        };
        assert_eq!(check_tags(&vec![tag("k"); 50]), Ok(()));
        assert_eq!(check_tags(&vec![tag("k"); 51]), Err(TagProblem::TooMany));
        assert!(matches!(
            check_tags(&[tag("")]),
            Err(TagProblem::BadLength { .. })
        ));
    }
}
