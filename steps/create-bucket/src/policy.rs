//! The snapshot bucket's policy, and the comparison that lets a re-run recognise it.
//!
//! Once in place the policy refuses `s3:PutBucketPolicy` to everyone but the break-glass roles,
//! so a re-run must never put it again when it is already right: it compares the stored policy
//! with the desired one as parsed, normalised JSON (AWS re-serialises policies: key order,
//! single-element arrays as strings, `{"AWS": "*"}` for `"*"`).

use serde_json::{Value, json};

/// `Id` of the policy document, so a reader knows where it came from.
pub const POLICY_ID: &str = "lakevault-snapshot-lockdown";

/// Object-level actions refused to everyone but the break-glass roles: deleting data, and
/// shortening Governance-mode retention.
pub const DENIED_OBJECT_ACTIONS: &[&str] = &[
    "s3:BypassGovernanceRetention",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
];

/// Bucket-level actions refused to everyone but the break-glass roles: deleting the bucket,
/// changing or removing this policy, and undoing the rest of the lock-down (lifecycle expiry,
/// Object Lock, versioning, encryption, public access block, object ownership).
pub const DENIED_BUCKET_ACTIONS: &[&str] = &[
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
];

/// The lock-down policy of `bucket_arn` (`arn:aws:s3:::name`). `break_glass` must be sorted and
/// deduplicated so that the same input always gives the same document.
pub fn lockdown_policy(bucket_arn: &str, break_glass: &[String]) -> Value {
    let objects = format!("{bucket_arn}/*");
    let except_break_glass = json!({"ArnNotLike": {"aws:PrincipalArn": break_glass}});
    json!({
        "Version": "2012-10-17",
        "Id": POLICY_ID,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "DenyObjectDeletion",
                "Effect": "Deny",
                "Principal": "*",
                "Action": DENIED_OBJECT_ACTIONS,
                "Resource": objects,
                "Condition": except_break_glass
            },
            {
                "Sid": "DenyBucketTampering",
                "Effect": "Deny",
                "Principal": "*",
                "Action": DENIED_BUCKET_ACTIONS,
                "Resource": bucket_arn,
                "Condition": except_break_glass
            }
        ]
    })
}

pub use kit::policy::normalise;

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Vec<String> {
        vec!["arn:aws:iam::123456789012:role/break-glass".to_owned()]
    }

    #[test]
    fn policy_content() {
        let p = lockdown_policy("arn:aws:s3:::snap", &roles());
        let stmts = p["Statement"].as_array().unwrap();
        assert_eq!(stmts.len(), 3);
        let tls = &stmts[0];
        assert_eq!(tls["Effect"], "Deny");
        assert_eq!(tls["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert_eq!(
            tls["Resource"],
            json!(["arn:aws:s3:::snap", "arn:aws:s3:::snap/*"])
        );
        let objs = &stmts[1];
        assert_eq!(objs["Resource"], "arn:aws:s3:::snap/*");
        assert!(
            objs["Action"]
                .as_array()
                .unwrap()
                .contains(&json!("s3:DeleteObjectVersion"))
        );
        assert_eq!(
            objs["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
            json!(["arn:aws:iam::123456789012:role/break-glass"])
        );
        let bucket = &stmts[2];
        for a in [
            "s3:DeleteBucket",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
        ] {
            assert!(
                bucket["Action"].as_array().unwrap().contains(&json!(a)),
                "{a}"
            );
        }
    }

    #[test]
    fn normalisation_ignores_aws_reserialisation() {
        let ours = lockdown_policy("arn:aws:s3:::snap", &roles());
        // As AWS may hand it back: statements reordered, singletons collapsed, AWS-principal form.
        let mut theirs = ours.clone();
        let stmts = theirs["Statement"].as_array_mut().unwrap();
        stmts.reverse();
        for s in stmts.iter_mut() {
            s["Principal"] = json!({"AWS": "*"});
            if let Some(v) = s.pointer_mut("/Condition/ArnNotLike/aws:PrincipalArn") {
                *v = json!("arn:aws:iam::123456789012:role/break-glass");
            }
        }
        let reparsed: Value = serde_json::from_str(&theirs.to_string()).unwrap();
        assert_eq!(normalise(&reparsed), normalise(&ours));
    }

    #[test]
    fn a_different_policy_differs() {
        let ours = lockdown_policy("arn:aws:s3:::snap", &roles());
        let other = lockdown_policy(
            "arn:aws:s3:::snap",
            &["arn:aws:iam::123456789012:role/other".to_owned()],
        );
        assert_ne!(normalise(&ours), normalise(&other));
        let mut fewer = ours.clone();
        fewer["Statement"].as_array_mut().unwrap().pop();
        assert_ne!(normalise(&ours), normalise(&fewer));
    }
}
