//! The plan: the bucket an input asks for (name, region, ARN, every setting), worked out from the
//! input alone, with no call to AWS. Bad input is refused here, before anything is sent.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{BucketVersioningStatus, ObjectOwnership};
use kit::validate::{self, ArnKind, Partition};
use kit::{Day, InvalidInput};

use crate::contract::{
    ABORT_UPLOADS_AFTER_DAYS, ABORT_UPLOADS_RULE_ID, AbortIncompleteUploads, BlockPublicAccess,
    CreateBucketInput, Encryption, MAX_BREAK_GLASS_ROLES, MAX_RETENTION_DAYS, ObjectLock, Settings,
    TAG_DATE, TAG_SOURCE, TAG_TOOL, TOOL,
};
use crate::{naming, policy};

/// The bucket this input asks for, worked out from the input alone.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Bucket name.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Bucket ARN.
    pub arn: String,
    /// Source bucket (as given).
    pub source_bucket: String,
    /// Backup date.
    pub backup_date: Day,
    /// Desired settings.
    pub settings: Settings,
}

/// Works out the bucket, its region and its settings from the input; refuses bad input before
/// anything is sent to AWS. `default_region` is the client's configured region.
pub fn plan(input: &CreateBucketInput, default_region: Option<&str>) -> Result<Plan, InvalidInput> {
    let bucket = naming::snapshot_bucket_name(
        &input.source_bucket,
        input.backup_date,
        input.bucket_prefix.as_deref(),
    )?;
    let region = match input.region.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => {
            validate::check_region("$.region", r)?;
            r.to_owned()
        }
        None => match default_region {
            Some(r) => r.to_owned(),
            None => {
                return Err(InvalidInput::new(
                    "$.region",
                    "no region given and none configured for the step (AWS_REGION); set one",
                ));
            }
        },
    };
    let partition = Partition::of_region(&region);
    let arn = format!("arn:{partition}:s3:::{bucket}");

    let encryption = match input.kms_key_arn.as_deref() {
        Some(k) => {
            check_kms_key_arn(k, &region)?;
            Encryption {
                sse_algorithm: "aws:kms".to_owned(),
                kms_key_arn: Some(k.to_owned()),
                bucket_key_enabled: true,
            }
        }
        None => Encryption {
            sse_algorithm: "AES256".to_owned(),
            kms_key_arn: None,
            bucket_key_enabled: false,
        },
    };

    if let Some(r) = input.retention
        && !(1..=MAX_RETENTION_DAYS).contains(&r.days)
    {
        return Err(InvalidInput::new(
            "$.retention.days",
            format!(
                "{} days is not a usable retention; give 1 to {MAX_RETENTION_DAYS} days",
                r.days
            ),
        ));
    }

    let roles = &input.break_glass_role_arns;
    if roles.is_empty() || roles.len() > MAX_BREAK_GLASS_ROLES {
        return Err(InvalidInput::new(
            "$.break_glass_role_arns",
            format!(
                "{} roles given; give 1 to {MAX_BREAK_GLASS_ROLES} break-glass role ARNs (without one, nobody but the account root could ever manage the bucket)",
                roles.len()
            ),
        ));
    }
    for (i, r) in roles.iter().enumerate() {
        check_role_arn(&format!("$.break_glass_role_arns[{i}]"), r, partition)?;
    }
    // Sorted and deduplicated: the policy must not depend on the order of the input list.
    let mut roles = roles.clone();
    roles.sort();
    roles.dedup();
    let prune_role = match input.prune_role_arn.as_deref() {
        Some(r) => {
            let path = "$.prune_role_arn";
            check_role_arn(path, r, partition)?;
            // A break-glass role is exempt from every denial already; naming it as the prune
            // role too would make the prune statement's exemption the break-glass list, and
            // the policy could no longer tell the two apart on a re-run.
            if roles.iter().any(|b| b == r) {
                return Err(InvalidInput::new(
                    path,
                    format!(
                        "{} is also a break-glass role; give the prune role a role of its own",
                        validate::quote(r)
                    ),
                ));
            }
            Some(r.to_owned())
        }
        None => None,
    };

    let tags = BTreeMap::from([
        (TAG_SOURCE.to_owned(), input.source_bucket.clone()),
        (TAG_DATE.to_owned(), input.backup_date.to_string()),
        (TAG_TOOL.to_owned(), TOOL.to_owned()),
    ]);
    let settings = Settings {
        block_public_access: BlockPublicAccess {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        },
        object_ownership: ObjectOwnership::BucketOwnerEnforced.as_str().to_owned(),
        encryption,
        versioning: BucketVersioningStatus::Enabled.as_str().to_owned(),
        object_lock: ObjectLock {
            enabled: true,
            default_retention: input.retention,
        },
        abort_incomplete_uploads: AbortIncompleteUploads {
            rule_id: ABORT_UPLOADS_RULE_ID.to_owned(),
            days_after_initiation: ABORT_UPLOADS_AFTER_DAYS,
        },
        tags,
        policy: policy::lockdown_policy(&arn, &roles, prune_role.as_deref()),
        break_glass_role_arns: roles,
        prune_role_arn: prune_role,
    };
    Ok(Plan {
        bucket,
        region,
        arn,
        source_bucket: input.source_bucket.clone(),
        backup_date: input.backup_date,
        settings,
    })
}

/// A KMS key ARN (kit's rules) in the bucket's own region: S3 cannot use a key of another region
/// for default encryption.
fn check_kms_key_arn(arn: &str, region: &str) -> Result<(), InvalidInput> {
    let path = "$.kms_key_arn";
    let key = validate::check_arn(path, arn, ArnKind::KmsKey)?;
    if key.region != region {
        return Err(InvalidInput::new(
            path,
            format!(
                "the key {} is not in the bucket's region {region}; S3 needs a key in the same region",
                validate::quote(arn)
            ),
        ));
    }
    Ok(())
}

/// A role ARN (kit's rules) in the bucket's partition: a policy naming a role of another
/// partition would exempt nobody.
fn check_role_arn(path: &str, arn: &str, partition: Partition) -> Result<(), InvalidInput> {
    let role = validate::check_arn(path, arn, ArnKind::Role)?;
    if role.partition != partition {
        return Err(InvalidInput::new(
            path,
            format!(
                "{} is in partition {}, the bucket in {partition}",
                validate::quote(arn),
                role.partition
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::contract::{Retention, RetentionMode};

    /// The smallest valid input.
    pub(crate) fn input() -> CreateBucketInput {
        serde_json::from_value(serde_json::json!({
            "source_bucket": "lake-prod",
            "backup_date": "2021-03-31",
            "break_glass_role_arns": ["arn:aws:iam::123456789012:role/break-glass"]
        }))
        .unwrap()
    }

    #[test]
    fn plan_defaults() {
        let p = plan(&input(), Some("us-east-1")).unwrap();
        assert_eq!(p.bucket, "lake-prod-31-mar-2021");
        assert_eq!(p.arn, "arn:aws:s3:::lake-prod-31-mar-2021");
        assert_eq!(p.region, "us-east-1");
        assert_eq!(p.settings.encryption.sse_algorithm, "AES256");
        assert_eq!(p.settings.tags[TAG_DATE], "2021-03-31");
        assert_eq!(p.settings.tags[TAG_TOOL], "lakevault");
    }

    #[test]
    fn plan_is_independent_of_role_order() {
        let mut a = input();
        a.break_glass_role_arns = vec![
            "arn:aws:iam::123456789012:role/b".into(),
            "arn:aws:iam::123456789012:role/a".into(),
            "arn:aws:iam::123456789012:role/a".into(),
        ];
        let mut b = input();
        b.break_glass_role_arns = vec![
            "arn:aws:iam::123456789012:role/a".into(),
            "arn:aws:iam::123456789012:role/b".into(),
        ];
        assert_eq!(
            plan(&a, Some("us-east-1")).unwrap().settings,
            plan(&b, Some("us-east-1")).unwrap().settings
        );
    }

    #[test]
    fn the_prune_role_goes_into_the_policy_and_the_settings() {
        let without = plan(&input(), Some("us-east-1")).unwrap();
        assert_eq!(without.settings.prune_role_arn, None);
        let mut i = input();
        i.prune_role_arn = Some("arn:aws:iam::123456789012:role/lakevault-prune".into());
        let with = plan(&i, Some("us-east-1")).unwrap();
        assert_eq!(
            with.settings.policy,
            policy::lockdown_policy(
                &with.arn,
                &with.settings.break_glass_role_arns,
                i.prune_role_arn.as_deref()
            )
        );
        assert_ne!(with.settings.policy, without.settings.policy);
        // Absent from the output when there is none, so existing outputs stay as they were.
        let out = serde_json::to_value(&without.settings).unwrap();
        assert!(out.get("prune_role_arn").is_none(), "{out}");
        let out = serde_json::to_value(&with.settings).unwrap();
        assert_eq!(
            out["prune_role_arn"],
            "arn:aws:iam::123456789012:role/lakevault-prune"
        );
    }

    #[test]
    fn partitions() {
        let mut i = input();
        i.region = Some("cn-north-1".into());
        i.break_glass_role_arns = vec!["arn:aws-cn:iam::123456789012:role/x".into()];
        assert_eq!(
            plan(&i, None).unwrap().arn,
            "arn:aws-cn:s3:::lake-prod-31-mar-2021"
        );
        i.break_glass_role_arns = vec!["arn:aws:iam::123456789012:role/x".into()];
        assert_eq!(
            plan(&i, None).unwrap_err().path,
            "$.break_glass_role_arns[0]"
        );
    }

    #[test]
    fn validation_paths() {
        type Mutation = Box<dyn Fn(&mut CreateBucketInput)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("$.region", Box::new(|i| i.region = Some("mars".into()))),
            (
                "$.region",
                Box::new(|i| i.region = Some("US-EAST-1".into())),
            ),
            (
                "$.kms_key_arn",
                Box::new(|i| i.kms_key_arn = Some("key".into())),
            ),
            (
                "$.kms_key_arn",
                Box::new(|i| {
                    i.kms_key_arn = Some("arn:aws:kms:us-east-1:123456789012:alias/x".into())
                }),
            ),
            (
                "$.kms_key_arn",
                Box::new(|i| {
                    i.kms_key_arn = Some("arn:aws:kms:eu-west-1:123456789012:key/abc".into())
                }),
            ),
            (
                "$.retention.days",
                Box::new(|i| {
                    i.retention = Some(Retention {
                        mode: RetentionMode::Governance,
                        days: 0,
                    })
                }),
            ),
            (
                "$.retention.days",
                Box::new(|i| {
                    i.retention = Some(Retention {
                        mode: RetentionMode::Compliance,
                        days: 36_501,
                    })
                }),
            ),
            (
                "$.break_glass_role_arns",
                Box::new(|i| i.break_glass_role_arns.clear()),
            ),
            (
                "$.break_glass_role_arns[0]",
                Box::new(|i| {
                    i.break_glass_role_arns = vec!["arn:aws:iam::123456789012:user/bob".into()]
                }),
            ),
            (
                "$.break_glass_role_arns[0]",
                Box::new(|i| {
                    i.break_glass_role_arns = vec!["arn:aws:iam::123456789012:role/*".into()]
                }),
            ),
            (
                "$.break_glass_role_arns[0]",
                Box::new(|i| i.break_glass_role_arns = vec!["arn:aws:iam::1234:role/x".into()]),
            ),
            (
                "$.prune_role_arn",
                Box::new(|i| i.prune_role_arn = Some("lakevault-prune".into())),
            ),
            (
                "$.prune_role_arn",
                Box::new(|i| i.prune_role_arn = Some("arn:aws:iam::123456789012:role/*".into())),
            ),
            (
                "$.prune_role_arn",
                Box::new(|i| {
                    i.prune_role_arn = Some("arn:aws:iam::123456789012:user/prune".into())
                }),
            ),
            (
                "$.prune_role_arn",
                Box::new(|i| i.prune_role_arn = Some("arn:aws-cn:iam::123456789012:role/p".into())),
            ),
            (
                "$.prune_role_arn",
                Box::new(|i| i.prune_role_arn = Some(String::new())),
            ),
            (
                "$.prune_role_arn",
                Box::new(|i| {
                    i.prune_role_arn = Some("arn:aws:iam::123456789012:role/break-glass".into())
                }),
            ),
            (
                "$.bucket_prefix",
                Box::new(|i| i.bucket_prefix = Some("Bad_Prefix".into())),
            ),
            (
                "$.source_bucket",
                Box::new(|i| i.source_bucket = "x".into()),
            ),
        ];
        for (path, mutate) in cases {
            let mut i = input();
            mutate(&mut i);
            let e = plan(&i, Some("us-east-1")).unwrap_err();
            assert_eq!(e.path, path, "{e}");
        }
        let mut ok = input();
        ok.kms_key_arn = Some(
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        );
        ok.break_glass_role_arns = vec![
            "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123".into(),
        ];
        ok.prune_role_arn = Some("arn:aws:iam::210987654321:role/lakevault-prune".into());
        let p = plan(&ok, Some("us-east-1")).unwrap();
        assert_eq!(
            p.settings.prune_role_arn.as_deref(),
            Some("arn:aws:iam::210987654321:role/lakevault-prune")
        );
        assert_eq!(plan(&input(), None).unwrap_err().path, "$.region");
    }
}
