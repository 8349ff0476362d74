//! The request: one onboarding as given on the command line, every value checked with
//! [`kit::validate`] before anything is sent to AWS.

use kit::error::InvalidInput;
use kit::validate::{self, ArnKind, Partition};

/// The backup stack's defaults (infra/backup-account.yaml: InventoryPrefix, InventoryConfigurationId).
pub const DEFAULT_PREFIX: &str = "inventory";
/// See [`DEFAULT_PREFIX`].
pub const DEFAULT_CONFIGURATION_ID: &str = "daily";

/// An IAM role ARN, split into the parts the grant needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    /// The whole ARN.
    pub arn: String,
    /// The partition the role (and so the backup account) is in.
    pub partition: Partition,
    /// The account the role is in (the backup account).
    pub account_id: String,
}

impl RoleArn {
    /// Parses `arn:<partition>:iam::<account>:role/[<path>/]<name>` ([`kit::validate`]'s rules).
    pub fn parse(arn: &str) -> Result<Self, InvalidInput> {
        Self::parse_flag("--role-arn", arn, "BatchOperationsRoleArn")
    }

    /// As [`RoleArn::parse`], for the flag `flag` that takes the backup stack's output `output`.
    pub fn parse_flag(flag: &str, arn: &str, output: &str) -> Result<Self, InvalidInput> {
        let role = validate::check_arn(flag, arn, ArnKind::Role)
            .map_err(|e| hint(e, &format!("pass the backup stack's {output} output")))?;
        Ok(Self {
            arn: arn.to_owned(),
            partition: role.partition,
            account_id: role.account.to_owned(),
        })
    }
}

/// `e` with what to pass instead appended to its message.
fn hint(e: InvalidInput, what: &str) -> InvalidInput {
    InvalidInput::new(e.path, format!("{}; {what}", e.message))
}

/// Where the inventory goes: the backup account's inventory bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryTarget {
    /// The account that owns the inventory bucket (the backup account).
    pub account_id: String,
    /// The inventory bucket's name.
    pub bucket: String,
    /// Key prefix of the deliveries (no slash at either end).
    pub prefix: String,
    /// The inventory configuration's id on the source bucket.
    pub configuration_id: String,
}

/// The backup side of a source bucket: the read grant for the batch role, the inventory, and
/// optionally the read grants of the large-copy roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSide {
    /// The backup account's S3 Batch Operations role.
    pub role: RoleArn,
    /// Where the inventory goes.
    pub inventory: InventoryTarget,
    /// The large-copy roles' read grants (`--plan-large-copy-role-arn`); `None`: not asked for.
    pub large_copy: Option<LargeCopyGrant>,
}

/// Who reads a source bucket's objects over 5 GiB, which S3 Batch Operations cannot copy: the
/// backup stack's plan-large-copy and copy-parts roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargeCopyGrant {
    /// The stack's PlanLargeCopyRoleArn: reads the object's metadata and tags.
    pub plan_role: RoleArn,
    /// The stack's CopyPartsRoleArn: reads the object's bytes (the source of UploadPartCopy).
    pub parts_role: RoleArn,
}

impl LargeCopyGrant {
    /// Checks the flags: two role ARNs of one account and partition (one backup stack's).
    pub fn new(plan_role_arn: &str, parts_role_arn: &str) -> Result<Self, InvalidInput> {
        let plan_role = RoleArn::parse_flag(
            "--plan-large-copy-role-arn",
            plan_role_arn,
            "PlanLargeCopyRoleArn",
        )?;
        let parts_role =
            RoleArn::parse_flag("--copy-parts-role-arn", parts_role_arn, "CopyPartsRoleArn")?;
        check_same_stack(
            "--copy-parts-role-arn",
            &parts_role,
            "--plan-large-copy-role-arn",
            &plan_role,
        )?;
        Ok(Self {
            plan_role,
            parts_role,
        })
    }
}

/// `role` (of `flag`) is in the account and partition of `other` (of `other_flag`): the outputs
/// of one backup stack, since a grant to another stack's role would be useless.
fn check_same_stack(
    flag: &str,
    role: &RoleArn,
    other_flag: &str,
    other: &RoleArn,
) -> Result<(), InvalidInput> {
    if role.account_id == other.account_id && role.partition == other.partition {
        return Ok(());
    }
    Err(InvalidInput::new(
        flag,
        format!(
            "{} is not in the account of {other_flag} ({}): pass the outputs of one backup stack",
            validate::quote(&role.arn),
            other.account_id
        ),
    ))
}

/// The restore side of a restore target bucket: who may write restored tables into it, and who
/// may list and read it to plan and verify a restore. All three roles are the backup stack's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreGrant {
    /// The stack's RestoreBatchRoleArn: writes the restored objects.
    pub restore_role: RoleArn,
    /// The stack's PlanRestoreRoleArn: lists the target (is it empty?).
    pub plan_role: RoleArn,
    /// The stack's VerifyRestoreRoleArn: lists and reads the restored table.
    pub verify_role: RoleArn,
    /// Keys the restore may write and verify-restore may read: those starting with this (empty:
    /// the whole bucket; else it ends with `/`).
    pub prefix: String,
}

impl RestoreGrant {
    /// Checks the flags: three role ARNs of one account and partition (one backup stack's), and
    /// the prefix, if any: at most 512 bytes, printable, no `/` at the start, one at the end, and
    /// none of IAM's wildcard and variable characters (`*`, `?`, `$`).
    pub fn new(
        restore_role_arn: &str,
        plan_role_arn: &str,
        verify_role_arn: &str,
        prefix: Option<&str>,
    ) -> Result<Self, InvalidInput> {
        let restore_role = RoleArn::parse_flag(
            "--restore-role-arn",
            restore_role_arn,
            "RestoreBatchRoleArn",
        )?;
        let plan_role = RoleArn::parse_flag(
            "--plan-restore-role-arn",
            plan_role_arn,
            "PlanRestoreRoleArn",
        )?;
        let verify_role = RoleArn::parse_flag(
            "--verify-restore-role-arn",
            verify_role_arn,
            "VerifyRestoreRoleArn",
        )?;
        for (flag, role) in [
            ("--plan-restore-role-arn", &plan_role),
            ("--verify-restore-role-arn", &verify_role),
        ] {
            check_same_stack(flag, role, "--restore-role-arn", &restore_role)?;
        }
        let prefix = prefix.unwrap_or_default();
        validate::check_key_prefix("--restore-prefix", prefix)?;
        if !prefix.is_empty() && (prefix.starts_with('/') || !prefix.ends_with('/')) {
            return Err(InvalidInput::new(
                "--restore-prefix",
                format!(
                    "{}: give a folder such as restored/ (no slash at the start, one at the end)",
                    validate::quote(prefix)
                ),
            ));
        }
        if let Some(c) = prefix.chars().find(|c| matches!(c, '*' | '?' | '$')) {
            return Err(InvalidInput::new(
                "--restore-prefix",
                format!(
                    "{} contains {c:?}, which a policy would read as a wildcard or a variable",
                    validate::quote(prefix)
                ),
            ));
        }
        Ok(Self {
            restore_role,
            plan_role,
            verify_role,
            prefix: prefix.to_owned(),
        })
    }
}

/// One onboarding, as given on the command line; every value checked. At least one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// A source bucket's inventory and read grant (`--role-arn`); `None`: not a source.
    pub source: Option<SourceSide>,
    /// A restore target's grants (`--restore-role-arn`); `None`: not a restore target.
    pub restore: Option<RestoreGrant>,
    /// When set, every call asserts the bucket belongs to this account (`ExpectedBucketOwner`).
    pub expected_owner: Option<String>,
}

impl Request {
    /// A restore target only (no inventory, no read grant): the restore grants.
    pub fn restore_target(
        grant: RestoreGrant,
        expected_owner: Option<&str>,
    ) -> Result<Self, InvalidInput> {
        if let Some(owner) = expected_owner {
            validate::check_account_id("--expected-owner", owner)?;
        }
        Ok(Self {
            source: None,
            restore: Some(grant),
            expected_owner: expected_owner.map(str::to_owned),
        })
    }

    /// The same request, the bucket being a restore target as well.
    #[must_use]
    pub fn with_restore(mut self, grant: RestoreGrant) -> Self {
        self.restore = Some(grant);
        self
    }

    /// The same request, the source bucket granting the large-copy roles read access too. The
    /// roles must be of the batch role's stack (account and partition); a request without a
    /// source side is refused (the grants are a source bucket's).
    pub fn with_large_copy(mut self, grant: LargeCopyGrant) -> Result<Self, InvalidInput> {
        let Some(source) = &mut self.source else {
            return Err(InvalidInput::new(
                "--plan-large-copy-role-arn",
                "a source bucket's grant: give --role-arn too",
            ));
        };
        check_same_stack(
            "--plan-large-copy-role-arn",
            &grant.plan_role,
            "--role-arn",
            &source.role,
        )?;
        source.large_copy = Some(grant);
        Ok(self)
    }

    /// A source bucket: checks and assembles the flags. `inventory_account` defaults to the
    /// role's account: the inventory bucket and the role are both in the backup account.
    pub fn new(
        role_arn: &str,
        inventory_bucket: &str,
        inventory_account: Option<&str>,
        prefix: &str,
        configuration_id: &str,
        expected_owner: Option<&str>,
    ) -> Result<Self, InvalidInput> {
        let role = RoleArn::parse(role_arn)?;
        let account_id = inventory_account.unwrap_or(&role.account_id).to_owned();
        validate::check_account_id("--inventory-account", &account_id)?;
        if let Some(owner) = expected_owner {
            validate::check_account_id("--expected-owner", owner)?;
        }
        validate::check_bucket("--inventory-bucket", inventory_bucket)?;
        validate::check_key_prefix("--prefix", prefix)?;
        if prefix.is_empty() || prefix.starts_with('/') || prefix.ends_with('/') {
            return Err(InvalidInput::new(
                "--prefix",
                format!(
                    "{}: give the backup stack's InventoryPrefix, without a slash at either end",
                    validate::quote(prefix)
                ),
            ));
        }
        validate::check_inventory_id("--id", configuration_id)
            .map_err(|e| hint(e, "give the backup stack's InventoryConfigurationId"))?;
        Ok(Self {
            source: Some(SourceSide {
                role,
                inventory: InventoryTarget {
                    account_id,
                    bucket: inventory_bucket.to_owned(),
                    prefix: prefix.to_owned(),
                    configuration_id: configuration_id.to_owned(),
                },
                large_copy: None,
            }),
            restore: None,
            expected_owner: expected_owner.map(str::to_owned),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The backup stack's batch role.
    pub(crate) fn role() -> RoleArn {
        RoleArn::parse("arn:aws:iam::222222222222:role/lakevault-BatchOperationsRole-ABC").unwrap()
    }

    /// The backup stack's restore roles, writing under `prefix`.
    pub(crate) fn restore_grant(prefix: Option<&str>) -> RestoreGrant {
        RestoreGrant::new(
            "arn:aws:iam::222222222222:role/lakevault-RestoreBatchRole-ABC",
            "arn:aws:iam::222222222222:role/lakevault-PlanRestoreRole-ABC",
            "arn:aws:iam::222222222222:role/lakevault-VerifyRestoreRole-ABC",
            prefix,
        )
        .unwrap()
    }

    /// The backup stack's large-copy roles.
    pub(crate) fn large_copy_grant() -> LargeCopyGrant {
        LargeCopyGrant::new(
            "arn:aws:iam::222222222222:role/lakevault-PlanLargeCopyRole-ABC",
            "arn:aws:iam::222222222222:role/lakevault-CopyPartsRole-ABC",
        )
        .unwrap()
    }

    #[test]
    fn large_copy_grants_check_both_flags_and_the_stack() {
        let p = "arn:aws:iam::222222222222:role/plan";
        let c = "arn:aws:iam::222222222222:role/parts";
        let g = LargeCopyGrant::new(p, c).unwrap();
        assert_eq!(g.plan_role.arn, p);
        assert_eq!(g.parts_role.arn, c);
        for (plan, parts, flag) in [
            (
                "arn:aws:iam::222222222222:user/x",
                c,
                "--plan-large-copy-role-arn",
            ),
            (p, "arn:aws:s3:::parts", "--copy-parts-role-arn"),
            (p, "", "--copy-parts-role-arn"),
            (
                p,
                "arn:aws:iam::333333333333:role/parts",
                "--copy-parts-role-arn",
            ),
            (
                p,
                "arn:aws-cn:iam::222222222222:role/parts",
                "--copy-parts-role-arn",
            ),
        ] {
            let e = LargeCopyGrant::new(plan, parts).unwrap_err();
            assert_eq!(e.path, flag, "{e}");
        }
        let e = LargeCopyGrant::new(p, "").unwrap_err();
        assert!(e.message.contains("CopyPartsRoleArn"), "{e}");

        // Beside the batch role: of its stack, and only for a source bucket.
        let source = || {
            Request::new(
                "arn:aws:iam::222222222222:role/batch",
                "inv",
                None,
                "inventory",
                "daily",
                None,
            )
            .unwrap()
        };
        let r = source().with_large_copy(g.clone()).unwrap();
        assert_eq!(r.source.unwrap().large_copy, Some(g.clone()));
        let other = LargeCopyGrant::new(
            "arn:aws:iam::333333333333:role/plan",
            "arn:aws:iam::333333333333:role/parts",
        )
        .unwrap();
        let e = source().with_large_copy(other).unwrap_err();
        assert_eq!(e.path, "--plan-large-copy-role-arn");
        assert!(e.message.contains("one backup stack"), "{e}");
        let target = Request::restore_target(restore_grant(None), None).unwrap();
        assert_eq!(
            target.with_large_copy(g).unwrap_err().path,
            "--plan-large-copy-role-arn"
        );
    }

    #[test]
    fn restore_grants_check_every_flag() {
        let grant = |restore: &str, plan: &str, verify: &str, prefix: Option<&str>| {
            RestoreGrant::new(restore, plan, verify, prefix)
        };
        let r = "arn:aws:iam::222222222222:role/restore";
        let p = "arn:aws:iam::222222222222:role/plan";
        let v = "arn:aws:iam::222222222222:role/verify";
        assert_eq!(grant(r, p, v, None).unwrap().prefix, "");
        assert_eq!(
            grant(r, p, v, Some("restored/")).unwrap().prefix,
            "restored/"
        );
        assert_eq!(grant(r, p, v, Some("")).unwrap().prefix, "");
        for (restore, plan, verify, flag) in [
            (
                "arn:aws:iam::222222222222:user/x",
                p,
                v,
                "--restore-role-arn",
            ),
            (r, "arn:aws:s3:::plan", v, "--plan-restore-role-arn"),
            (r, p, "", "--verify-restore-role-arn"),
            (
                r,
                "arn:aws:iam::333333333333:role/plan",
                v,
                "--plan-restore-role-arn",
            ),
            (
                r,
                p,
                "arn:aws-cn:iam::222222222222:role/verify",
                "--verify-restore-role-arn",
            ),
        ] {
            let e = grant(restore, plan, verify, None).unwrap_err();
            assert_eq!(e.path, flag, "{e}");
        }
        let e = grant(r, p, "arn:aws:iam::333333333333:role/v", None).unwrap_err();
        assert!(e.message.contains("one backup stack"), "{e}");
        for bad in [
            "restored",
            "/restored/",
            "a*/",
            "a?/",
            "${aws:username}/",
            "a\nb/",
        ] {
            let e = grant(r, p, v, Some(bad)).unwrap_err();
            assert_eq!(e.path, "--restore-prefix", "{bad:?}");
        }
    }

    #[test]
    fn role_arns() {
        let r = role();
        assert_eq!(r.partition.as_str(), "aws");
        assert_eq!(r.account_id, "222222222222");
        let cn = RoleArn::parse("arn:aws-cn:iam::222222222222:role/path/x").unwrap();
        assert_eq!(cn.partition.as_str(), "aws-cn");
        for bad in [
            "",
            "arn:aws:iam::2222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:eu-west-1:222222222222:role/x",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::222222222222:role/a b",
        ] {
            let e = RoleArn::parse(bad).unwrap_err();
            assert_eq!(e.path, "--role-arn", "{bad}");
        }
    }

    #[test]
    fn request_checks_every_flag() {
        let ok = |bucket, account, prefix, id, owner| {
            Request::new(
                "arn:aws:iam::222222222222:role/r",
                bucket,
                account,
                prefix,
                id,
                owner,
            )
        };
        let r = ok("inv", None, "inventory", "daily", None).unwrap();
        assert_eq!(r.source.unwrap().inventory.account_id, "222222222222");
        assert_eq!(
            ok("inv", None, "/inventory", "daily", None)
                .unwrap_err()
                .path,
            "--prefix"
        );
        assert_eq!(
            ok("inv", None, "", "daily", None).unwrap_err().path,
            "--prefix"
        );
        assert_eq!(
            ok("inv", None, "inventory", "a b", None).unwrap_err().path,
            "--id"
        );
        assert_eq!(
            ok("inv", Some("12"), "inventory", "daily", None)
                .unwrap_err()
                .path,
            "--inventory-account"
        );
        assert_eq!(
            ok("inv", None, "inventory", "daily", Some("x"))
                .unwrap_err()
                .path,
            "--expected-owner"
        );
        assert_eq!(
            ok("s3://inv", None, "inventory", "daily", None)
                .unwrap_err()
                .path,
            "--inventory-bucket"
        );
        assert_eq!(
            ok("inv", None, "inv\nentory", "daily", None)
                .unwrap_err()
                .path,
            "--prefix"
        );
        assert_eq!(
            ok("inv", None, &"p".repeat(513), "daily", None)
                .unwrap_err()
                .path,
            "--prefix"
        );
    }

    #[test]
    fn a_legacy_source_bucket_is_refused_saying_so() {
        // The rule is kit's (`check_source_bucket`), as every step applies it; asserted here as
        // onboard-source calls it, with its flag as the path.
        use kit::validate::check_source_bucket;
        assert!(check_source_bucket("--bucket", "lake-prod").is_ok());
        assert!(check_source_bucket("--bucket", "lake.prod").is_ok());
        for legacy in ["Lake_Prod", "lake_prod", &"x".repeat(200)] {
            let e = check_source_bucket("--bucket", legacy).unwrap_err();
            assert_eq!(e.path, "--bucket");
            assert!(e.message.contains("legacy bucket names"), "{e}");
            assert!(e.message.contains("not supported"), "{e}");
        }
        for other in ["xn--lake", "192.168.1.2", "lake prod"] {
            let e = check_source_bucket("--bucket", other).unwrap_err();
            assert!(!e.message.contains("legacy"), "{e}");
        }
    }
}
