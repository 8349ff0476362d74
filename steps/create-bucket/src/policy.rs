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

/// The two of [`DENIED_BUCKET_ACTIONS`] the prune role is exempt from as well, when there is one:
/// putting a lifecycle expiration (S3 then deletes only what Object Lock allows) and deleting the
/// bucket (S3 refuses a bucket that still holds a version or a delete marker). Nothing else.
pub const PRUNE_ACTIONS: &[&str] = &["s3:DeleteBucket", "s3:PutLifecycleConfiguration"];

/// `Sid` of the statement denying [`PRUNE_ACTIONS`] to all but the break-glass and prune roles
/// (only in a policy with a prune role).
pub const PRUNE_SID: &str = "DenyBucketDeletionAndLifecycle";

/// The lock-down policy of `bucket_arn` (`arn:aws:s3:::name`). `break_glass` must be sorted and
/// deduplicated so that the same input always gives the same document.
///
/// Without `prune_role` the document is exactly the one every bucket made before the prune role
/// existed has (so their re-runs converge). With it, [`PRUNE_ACTIONS`] move out of
/// `DenyBucketTampering` into their own statement, [`PRUNE_SID`], whose exemption lists the
/// break-glass roles and the prune role; every other denial still exempts the break-glass roles
/// only.
pub fn lockdown_policy(
    bucket_arn: &str,
    break_glass: &[String],
    prune_role: Option<&str>,
) -> Value {
    let objects = format!("{bucket_arn}/*");
    let except_break_glass = json!({"ArnNotLike": {"aws:PrincipalArn": break_glass}});
    let tampering: Vec<&str> = match prune_role {
        None => DENIED_BUCKET_ACTIONS.to_vec(),
        Some(_) => DENIED_BUCKET_ACTIONS
            .iter()
            .copied()
            .filter(|a| !PRUNE_ACTIONS.contains(a))
            .collect(),
    };
    let mut statements = vec![
        json!({
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }),
        json!({
            "Sid": "DenyObjectDeletion",
            "Effect": "Deny",
            "Principal": "*",
            "Action": DENIED_OBJECT_ACTIONS,
            "Resource": objects,
            "Condition": except_break_glass
        }),
        json!({
            "Sid": "DenyBucketTampering",
            "Effect": "Deny",
            "Principal": "*",
            "Action": tampering,
            "Resource": bucket_arn,
            "Condition": except_break_glass
        }),
    ];
    if let Some(prune) = prune_role {
        let mut exempt = break_glass.to_vec();
        exempt.push(prune.to_owned());
        exempt.sort();
        exempt.dedup();
        statements.push(json!({
            "Sid": PRUNE_SID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": PRUNE_ACTIONS,
            "Resource": bucket_arn,
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": exempt}}
        }));
    }
    json!({
        "Version": "2012-10-17",
        "Id": POLICY_ID,
        "Statement": statements
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
        let p = lockdown_policy("arn:aws:s3:::snap", &roles(), None);
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

    const PRUNE: &str = "arn:aws:iam::123456789012:role/lakevault-prune";

    /// The policy exactly as create-bucket wrote it before the prune role existed (its code,
    /// verbatim): what every existing snapshot bucket holds.
    fn policy_before_the_prune_role(bucket_arn: &str, break_glass: &[String]) -> Value {
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

    #[test]
    fn without_a_prune_role_the_policy_is_byte_identical_to_before() {
        let two = vec![
            "arn:aws:iam::123456789012:role/a".to_owned(),
            "arn:aws:iam::123456789012:role/b".to_owned(),
        ];
        for roles in [roles(), two] {
            let now = lockdown_policy("arn:aws:s3:::snap", &roles, None);
            let before = policy_before_the_prune_role("arn:aws:s3:::snap", &roles);
            assert_eq!(now.to_string(), before.to_string());
            assert!(!now.to_string().contains(PRUNE_SID));
        }
    }

    /// The statement of `sid`.
    fn statement<'a>(p: &'a Value, sid: &str) -> &'a Value {
        p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid}"))
    }

    fn actions(s: &Value) -> Vec<&str> {
        s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect()
    }

    #[test]
    fn the_prune_role_is_exempt_from_deleting_the_bucket_and_its_lifecycle_only() {
        let p = lockdown_policy("arn:aws:s3:::snap", &roles(), Some(PRUNE));
        let stmts = p["Statement"].as_array().unwrap();
        let sids: Vec<&str> = stmts.iter().map(|s| s["Sid"].as_str().unwrap()).collect();
        assert_eq!(
            sids,
            [
                "DenyInsecureTransport",
                "DenyObjectDeletion",
                "DenyBucketTampering",
                PRUNE_SID
            ]
        );
        // The prune role is named once, in the exemption of the prune statement.
        assert_eq!(p.to_string().matches(PRUNE).count(), 1, "{p}");
        let prune = statement(&p, PRUNE_SID);
        assert_eq!(prune["Effect"], "Deny");
        assert_eq!(prune["Principal"], "*");
        assert_eq!(prune["Resource"], "arn:aws:s3:::snap");
        assert_eq!(
            actions(prune),
            ["s3:DeleteBucket", "s3:PutLifecycleConfiguration"]
        );
        assert_eq!(
            prune["Condition"],
            json!({"ArnNotLike": {"aws:PrincipalArn": [
                "arn:aws:iam::123456789012:role/break-glass",
                PRUNE
            ]}})
        );
        // Every other denial exempts the break-glass roles only: Governance bypass and object
        // deletion included.
        let break_glass_only = json!({"ArnNotLike": {"aws:PrincipalArn": roles()}});
        let objects = statement(&p, "DenyObjectDeletion");
        assert_eq!(objects["Condition"], break_glass_only);
        assert_eq!(actions(objects), DENIED_OBJECT_ACTIONS);
        assert!(actions(objects).contains(&"s3:BypassGovernanceRetention"));
        let tampering = statement(&p, "DenyBucketTampering");
        assert_eq!(tampering["Condition"], break_glass_only);
        let rest: Vec<&str> = DENIED_BUCKET_ACTIONS
            .iter()
            .copied()
            .filter(|a| !PRUNE_ACTIONS.contains(a))
            .collect();
        assert_eq!(actions(tampering), rest);
        for a in [
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:PutBucketObjectLockConfiguration",
            "s3:PutBucketVersioning",
        ] {
            assert!(actions(tampering).contains(&a), "{a}");
        }
        // Together the statements deny exactly what they denied before, each action once.
        let mut all: Vec<&str> = actions(tampering);
        all.extend(actions(prune));
        all.sort_unstable();
        assert_eq!(all, DENIED_BUCKET_ACTIONS);
        // The TLS denial exempts nobody.
        assert!(statement(&p, "DenyInsecureTransport")["Condition"]["ArnNotLike"].is_null());
    }

    #[test]
    fn a_prune_role_changes_the_policy() {
        let without = lockdown_policy("arn:aws:s3:::snap", &roles(), None);
        let with = lockdown_policy("arn:aws:s3:::snap", &roles(), Some(PRUNE));
        let other = lockdown_policy(
            "arn:aws:s3:::snap",
            &roles(),
            Some("arn:aws:iam::123456789012:role/other-prune"),
        );
        assert_ne!(normalise(&without), normalise(&with));
        assert_ne!(normalise(&with), normalise(&other));
    }

    #[test]
    fn normalisation_ignores_aws_reserialisation() {
        let ours = lockdown_policy("arn:aws:s3:::snap", &roles(), None);
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
        let ours = lockdown_policy("arn:aws:s3:::snap", &roles(), None);
        let other = lockdown_policy(
            "arn:aws:s3:::snap",
            &["arn:aws:iam::123456789012:role/other".to_owned()],
            None,
        );
        assert_ne!(normalise(&ours), normalise(&other));
        let mut fewer = ours.clone();
        fewer["Statement"].as_array_mut().unwrap().pop();
        assert_ne!(normalise(&ours), normalise(&fewer));
    }
}
