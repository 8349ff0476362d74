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
        let role = validate::check_arn("--role-arn", arn, ArnKind::Role)
            .map_err(|e| hint(e, "pass the backup stack's BatchOperationsRoleArn output"))?;
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

/// One onboarding, as given on the command line; every value checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The backup account's S3 Batch Operations role.
    pub role: RoleArn,
    /// Where the inventory goes.
    pub inventory: InventoryTarget,
    /// When set, every call asserts the bucket belongs to this account (`ExpectedBucketOwner`).
    pub expected_owner: Option<String>,
}

impl Request {
    /// Checks and assembles the flags. `inventory_account` defaults to the role's account: the
    /// inventory bucket and the role are both in the backup account.
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
            role,
            inventory: InventoryTarget {
                account_id,
                bucket: inventory_bucket.to_owned(),
                prefix: prefix.to_owned(),
                configuration_id: configuration_id.to_owned(),
            },
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
        assert_eq!(r.inventory.account_id, "222222222222");
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
