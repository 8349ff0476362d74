//! The re-run rule: which differences between an existing snapshot bucket of this backup and the
//! plan a run may converge, and which are a [`Conflict::Settings`], refused before any write.
//!
//! The lock-down policy is written last, so a bucket that has a policy is **finished**: an earlier
//! run applied every setting and answered success with them. On a finished bucket every
//! difference is a conflict — the same input must give the same result, and a different input
//! must not silently re-configure a snapshot that was reported as made otherwise (on AWS the
//! policy would refuse most of it anyway, as an unexplained `AccessDenied`).
//!
//! On an **unfinished** bucket (no policy: an earlier run stopped half-way, so none answered
//! success), a setting that is *absent* is completed, and a setting that is *present and
//! different* is a conflict: it was made by a run with other input, or by someone else. S3's
//! default encryption (SSE-S3, which S3 gives every new bucket) counts as absent, so that a
//! requested KMS key still finishes a bucket an earlier run created.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::contract::{
    ALL_SETTINGS, Conflict, CreateBucketError, Difference, Encryption, Retention, Setting, Settings,
};
use crate::observe::{Observed, ObservedLock};
use crate::plan::Plan;
use crate::policy::{self, POLICY_ID};
use kit::validate::{self, ArnKind, quote};

/// Refuses a bucket of this backup whose settings conflict with the plan (the rule in this
/// module's docs); `Ok` when every difference may converge.
pub(crate) fn check(plan: &Plan, seen: &Observed) -> Result<(), CreateBucketError> {
    let differences = conflicts(plan, seen);
    if differences.is_empty() {
        return Ok(());
    }
    tracing::warn!(bucket = %plan.bucket, differences = ?differences, "re-run with other settings");
    Err(CreateBucketError::BucketConflict {
        bucket: plan.bucket.clone(),
        reason: Conflict::Settings {
            finished: is_finished(seen),
            differences,
        },
    })
}

/// A bucket with a policy is finished: the policy is the last setting a run writes.
pub fn is_finished(seen: &Observed) -> bool {
    seen.policy.is_some()
}

/// The differences that are conflicts, in the order the settings are applied; empty when the
/// run may converge.
pub fn conflicts(plan: &Plan, seen: &Observed) -> Vec<Difference> {
    let want = &plan.settings;
    let finished = is_finished(seen);
    ALL_SETTINGS
        .into_iter()
        .filter(|s| !seen.matches(*s, want))
        .filter(|s| finished || !is_absent(*s, seen, want))
        .flat_map(|s| describe(s, plan, seen))
        .collect()
}

/// Whether `setting`, which differs from `want`, is not configured at all (so that completing it
/// overrides nothing anyone chose).
fn is_absent(setting: Setting, seen: &Observed, want: &Settings) -> bool {
    match setting {
        Setting::Tags => want
            .tags
            .iter()
            .all(|(k, v)| seen.tags.get(k).is_none_or(|have| have == v)),
        Setting::PublicAccessBlock => seen.public_access_block.is_none(),
        Setting::ObjectOwnership => seen.object_ownership.is_none(),
        Setting::Encryption => match &seen.encryption {
            None => true,
            // S3's default for every new bucket, not a choice: a KMS key may replace it.
            Some(e) => *e == sse_s3() && want.encryption.kms_key_arn.is_some(),
        },
        Setting::Versioning => seen.versioning.is_none(),
        // Object Lock not yet enabled, or enabled without a default retention yet.
        Setting::ObjectLock => seen
            .object_lock
            .as_ref()
            .is_none_or(|l| LockRetention::of(l) == LockRetention::None),
        // A rule of lakevault's id in place matches whatever it says, so a bucket without it
        // lacks it: completed before the policy, a conflict once the policy is in place.
        Setting::Lifecycle => true,
        Setting::Policy => seen.policy.is_none(),
    }
}

/// SSE-S3, as [`Observed`] normalises it.
fn sse_s3() -> Encryption {
    Encryption {
        sse_algorithm: "AES256".to_owned(),
        kms_key_arn: None,
        bucket_key_enabled: false,
    }
}

/// What differs in `setting` (at least one entry; Object Lock and the policy may give two).
fn describe(setting: Setting, plan: &Plan, seen: &Observed) -> Vec<Difference> {
    let want = &plan.settings;
    let outside = |name: &'static str, existing: String, requested: String| Difference {
        name,
        from_input: false,
        existing,
        requested,
    };
    let chosen = |name: &'static str, existing: String, requested: String| Difference {
        name,
        from_input: true,
        existing,
        requested,
    };
    match setting {
        Setting::Tags => {
            let (mut existing, mut requested) = (Vec::new(), Vec::new());
            for (k, v) in &want.tags {
                let have = seen.tags.get(k);
                if have != Some(v) {
                    existing.push(match have {
                        Some(h) => format!("{k}={}", quote(h)),
                        None => format!("no {k} tag"),
                    });
                    requested.push(format!("{k}={}", quote(v)));
                }
            }
            vec![outside("tags", existing.join(", "), requested.join(", "))]
        }
        Setting::PublicAccessBlock => vec![outside(
            "public_access_block",
            match &seen.public_access_block {
                None => "not configured".to_owned(),
                Some(b) => {
                    let flags = [
                        ("block_public_acls", b.block_public_acls),
                        ("ignore_public_acls", b.ignore_public_acls),
                        ("block_public_policy", b.block_public_policy),
                        ("restrict_public_buckets", b.restrict_public_buckets),
                    ];
                    let off: Vec<&str> = flags
                        .iter()
                        .filter(|(_, on)| !on)
                        .map(|(n, _)| *n)
                        .collect();
                    format!("{} off", off.join(", "))
                }
            },
            "all four on".to_owned(),
        )],
        Setting::ObjectOwnership => vec![outside(
            "object_ownership",
            seen.object_ownership
                .as_deref()
                .map_or_else(|| "not configured".to_owned(), quote),
            quote(&want.object_ownership),
        )],
        Setting::Encryption => {
            let have = seen.encryption.as_ref();
            let same_key = have.is_some_and(|h| {
                h.sse_algorithm == want.encryption.sse_algorithm
                    && h.kms_key_arn == want.encryption.kms_key_arn
            });
            if same_key {
                // Same algorithm and key: only the bucket key differs.
                let bucket_key = |on: bool| format!("bucket key {}", if on { "on" } else { "off" });
                vec![outside(
                    "encryption",
                    bucket_key(have.is_some_and(|h| h.bucket_key_enabled)),
                    bucket_key(want.encryption.bucket_key_enabled),
                )]
            } else {
                vec![chosen(
                    "kms_key_arn",
                    encryption_text(have),
                    encryption_text(Some(&want.encryption)),
                )]
            }
        }
        Setting::Versioning => vec![outside(
            "versioning",
            seen.versioning
                .as_deref()
                .map_or_else(|| "never enabled".to_owned(), quote),
            quote(&want.versioning),
        )],
        Setting::ObjectLock => {
            let mut out = Vec::new();
            let have = seen.object_lock.clone().unwrap_or_default();
            if !have.enabled {
                out.push(outside(
                    "object_lock",
                    "not enabled".to_owned(),
                    "enabled".to_owned(),
                ));
            }
            let have_retention = LockRetention::of(&have);
            let want_retention = LockRetention::from(want.object_lock.default_retention);
            if have_retention != want_retention {
                out.push(chosen(
                    "retention",
                    have_retention.to_string(),
                    want_retention.to_string(),
                ));
            }
            out
        }
        Setting::Lifecycle => {
            let others = seen.lifecycle.as_ref().map_or(0, |l| l.rules.len());
            let rule = &want.abort_incomplete_uploads;
            vec![outside(
                "lifecycle",
                match others {
                    0 => "no lifecycle rule".to_owned(),
                    1 => format!("1 lifecycle rule, not {}", quote(&rule.rule_id)),
                    n => format!("{n} lifecycle rules, none {}", quote(&rule.rule_id)),
                },
                format!(
                    "rule {} (abort incomplete multipart uploads {} days after initiation)",
                    quote(&rule.rule_id),
                    rule.days_after_initiation
                ),
            )]
        }
        Setting::Policy => describe_policy(plan, seen.policy.as_ref()),
    }
}

/// What differs between the stored policy and the lock-down policy: the break-glass roles (an
/// input field) and/or the document itself (changed outside lakevault).
fn describe_policy(plan: &Plan, stored: Option<&Value>) -> Vec<Difference> {
    let want = &plan.settings;
    let requested = "lakevault's lock-down policy".to_owned();
    let Some(stored) = stored else {
        return vec![Difference {
            name: "policy",
            from_input: false,
            existing: "none".to_owned(),
            requested,
        }];
    };
    let ours = stored.get("Id").and_then(Value::as_str) == Some(POLICY_ID);
    if !ours {
        let existing = match stored {
            Value::Null => "a policy that is not JSON".to_owned(),
            _ => match stored.get("Id").and_then(Value::as_str) {
                Some(id) => format!("a policy with Id {}", quote(id)),
                None => "another policy".to_owned(),
            },
        };
        return vec![Difference {
            name: "policy",
            from_input: false,
            existing,
            requested,
        }];
    }
    let (roles, prune) = exempt_roles(stored);
    let mut out = Vec::new();
    if roles != want.break_glass_role_arns {
        out.push(Difference {
            name: "break_glass_role_arns",
            from_input: true,
            existing: role_list(&roles, &want.break_glass_role_arns),
            requested: role_list(&want.break_glass_role_arns, &roles),
        });
    }
    let prune = prune.first().map(String::as_str);
    if prune != want.prune_role_arn.as_deref() {
        let text = |r: Option<&str>| r.map_or_else(|| "none".to_owned(), quote);
        out.push(Difference {
            name: "prune_role_arn",
            from_input: true,
            existing: text(prune),
            requested: text(want.prune_role_arn.as_deref()),
        });
    }
    // The document those roles make: anything else in the stored one was edited by hand (a
    // second prune role included).
    let rebuilt = policy::lockdown_policy(&plan.arn, &roles, prune);
    if policy::normalise(&rebuilt) != policy::normalise(stored) {
        out.push(Difference {
            name: "policy",
            from_input: false,
            existing: format!("lakevault's lock-down policy (Id {POLICY_ID:?}), edited"),
            requested,
        });
    }
    out
}

/// The roles a lakevault policy exempts (its `ArnNotLike` `aws:PrincipalArn` values), sorted:
/// the break-glass roles, which every exempting statement lists, and the prune roles, which the
/// prune statement ([`policy::PRUNE_SID`]) lists besides them (one, in lakevault's policy).
fn exempt_roles(policy: &Value) -> (Vec<String>, Vec<String>) {
    let statements = match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
        None => vec![],
    };
    let mut everywhere: Option<BTreeSet<String>> = None;
    let mut in_prune = BTreeSet::new();
    for s in statements {
        let roles: BTreeSet<String> = match s.pointer("/Condition/ArnNotLike/aws:PrincipalArn") {
            Some(Value::String(r)) => BTreeSet::from([r.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => continue,
        };
        if s.get("Sid").and_then(Value::as_str) == Some(policy::PRUNE_SID) {
            in_prune.extend(roles.iter().cloned());
        }
        everywhere = Some(match everywhere {
            None => roles,
            Some(e) => e.intersection(&roles).cloned().collect(),
        });
    }
    let break_glass = everywhere.unwrap_or_default();
    let prune = in_prune.difference(&break_glass).cloned().collect();
    (break_glass.into_iter().collect(), prune)
}

/// How many roles a message lists of one side.
const ROLES_SHOWN: usize = 3;

/// `roles` for a message, quoted: those not in `other` first (what differs shows even when the
/// list is cut), at most [`ROLES_SHOWN`], with the count of the rest.
fn role_list(roles: &[String], other: &[String]) -> String {
    let (only, shared): (Vec<&String>, Vec<&String>) =
        roles.iter().partition(|r| !other.contains(r));
    let ordered: Vec<&String> = only.into_iter().chain(shared).collect();
    let mut shown: Vec<String> = ordered.iter().take(ROLES_SHOWN).map(|r| quote(r)).collect();
    if ordered.len() > ROLES_SHOWN {
        shown.push(format!("and {} more", ordered.len() - ROLES_SHOWN));
    }
    format!("[{}]", shown.join(", "))
}

/// Default encryption for a message: the KMS key quoted, or what stands in for it.
fn encryption_text(e: Option<&Encryption>) -> String {
    match e {
        None => "no default encryption".to_owned(),
        Some(e) if e.sse_algorithm == "AES256" => "none (SSE-S3)".to_owned(),
        Some(e) if e.sse_algorithm == "aws:kms" => match &e.kms_key_arn {
            Some(k) => key_text(k),
            None => "none (SSE-KMS with the AWS managed key)".to_owned(),
        },
        Some(e) => format!("none ({} encryption)", quote(&e.sse_algorithm)),
    }
}

/// A KMS key for a message. A key ARN is longer than a quote may be, and what tells two keys
/// apart is at its end: the key id quoted, with its account (the region is the bucket's).
fn key_text(arn: &str) -> String {
    match validate::check_arn("", arn, ArnKind::KmsKey) {
        Ok(key) => format!("{} of account {}", quote(key.resource), key.account),
        Err(_) => quote(arn),
    }
}

/// A default retention as S3 reports it, or as requested.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LockRetention {
    /// No default retention.
    None,
    /// A mode and a period in days.
    Days(Option<String>, i64),
    /// A mode and a period in years (lakevault always sets days).
    Years(Option<String>, i64),
}

impl LockRetention {
    /// The default retention `lock` holds.
    fn of(lock: &ObservedLock) -> Self {
        // moto reports an unset field as 0.
        let days = lock.days.filter(|d| *d != 0);
        let years = lock.years.filter(|y| *y != 0);
        match (days, years) {
            (Some(d), None) => LockRetention::Days(lock.mode.clone(), d.into()),
            (_, Some(y)) => LockRetention::Years(lock.mode.clone(), y.into()),
            (None, None) if lock.mode.is_some() => LockRetention::Days(lock.mode.clone(), 0),
            (None, None) => LockRetention::None,
        }
    }
}

impl From<Option<Retention>> for LockRetention {
    fn from(r: Option<Retention>) -> Self {
        match r {
            None => LockRetention::None,
            Some(r) => LockRetention::Days(Some(r.mode.as_s3().as_str().to_owned()), r.days.into()),
        }
    }
}

impl std::fmt::Display for LockRetention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = |m: &Option<String>| m.clone().unwrap_or_else(|| "(no mode)".to_owned());
        match self {
            LockRetention::None => f.write_str("none"),
            LockRetention::Days(m, d) => f.write_str(&quote(&format!("{}/{d}", mode(m)))),
            LockRetention::Years(m, y) => f.write_str(&quote(&format!("{}/{y} years", mode(m)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{ABORT_UPLOADS_RULE_ID, BlockPublicAccess, RetentionMode};
    use crate::observe::ObservedLifecycle;
    use crate::plan::plan;
    use crate::plan::tests::input;

    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    /// The bucket exactly as `p` wants it, finished (policy in place).
    fn finished(p: &Plan) -> Observed {
        let w = &p.settings;
        Observed {
            public_access_block: Some(w.block_public_access),
            object_ownership: Some(w.object_ownership.clone()),
            encryption: Some(w.encryption.clone()),
            versioning: Some(w.versioning.clone()),
            object_lock: Some(ObservedLock {
                enabled: true,
                mode: w
                    .object_lock
                    .default_retention
                    .map(|r| r.mode.as_s3().as_str().to_owned()),
                days: w
                    .object_lock
                    .default_retention
                    .map(|r| i32::try_from(r.days).unwrap()),
                years: None,
            }),
            lifecycle: Some(lifecycle_with(&[&w.abort_incomplete_uploads.rule_id])),
            tags: w.tags.clone(),
            policy: Some(w.policy.clone()),
        }
    }

    /// A lifecycle configuration of rules with these ids (each aborting uploads after a day).
    fn lifecycle_with(ids: &[&str]) -> ObservedLifecycle {
        use aws_sdk_s3::types::{AbortIncompleteMultipartUpload, ExpirationStatus, LifecycleRule};
        ObservedLifecycle {
            rules: ids
                .iter()
                .map(|id| {
                    LifecycleRule::builder()
                        .id(*id)
                        .status(ExpirationStatus::Enabled)
                        .abort_incomplete_multipart_upload(
                            AbortIncompleteMultipartUpload::builder()
                                .days_after_initiation(1)
                                .build(),
                        )
                        .build()
                        .unwrap()
                })
                .collect(),
            transition_default_minimum_object_size: None,
        }
    }

    #[test]
    fn a_missing_lifecycle_rule_is_completed_before_the_policy_and_a_conflict_after() {
        let p = governance_35();
        let mut seen = finished(&p);
        seen.lifecycle = Some(lifecycle_with(&["expire-logs"]));
        let d = conflicts(&p, &seen);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].name, d[0].from_input), ("lifecycle", false));
        assert_eq!(
            d[0].existing,
            "1 lifecycle rule, not \"lakevault-abort-incomplete-uploads\""
        );
        assert!(d[0].requested.contains("7 days after initiation"), "{d:?}");
        seen.lifecycle = None;
        assert_eq!(conflicts(&p, &seen)[0].existing, "no lifecycle rule");
        // Unfinished: completed, whatever other rules there are.
        seen.policy = None;
        assert!(conflicts(&p, &seen).is_empty());
        assert_eq!(
            seen.differences(&p.settings),
            [Setting::Lifecycle, Setting::Policy]
        );
        // lakevault's rule among others, whatever it says, is in place.
        seen.lifecycle = Some(lifecycle_with(&["expire-logs", ABORT_UPLOADS_RULE_ID]));
        assert_eq!(seen.differences(&p.settings), [Setting::Policy]);
    }

    fn governance_35() -> Plan {
        let mut i = input();
        i.retention = Some(Retention {
            mode: RetentionMode::Governance,
            days: 35,
        });
        plan(&i, Some("us-east-1")).unwrap()
    }

    #[test]
    fn the_same_settings_are_no_conflict() {
        let p = governance_35();
        assert!(conflicts(&p, &finished(&p)).is_empty());
    }

    #[test]
    fn another_retention_on_a_finished_bucket_is_a_conflict_naming_both() {
        let made = governance_35();
        let mut i = input();
        i.retention = Some(Retention {
            mode: RetentionMode::Compliance,
            days: 3650,
        });
        let asked = plan(&i, Some("us-east-1")).unwrap();
        let d = conflicts(&asked, &finished(&made));
        assert_eq!(
            d,
            vec![Difference {
                name: "retention",
                from_input: true,
                existing: "\"GOVERNANCE/35\"".into(),
                requested: "\"COMPLIANCE/3650\"".into(),
            }]
        );
        // Asking for none where the snapshot has one (and the other way round) differs too.
        let none = plan(&input(), Some("us-east-1")).unwrap();
        assert_eq!(conflicts(&none, &finished(&made))[0].requested, "none");
        assert_eq!(conflicts(&made, &finished(&none))[0].existing, "none");
    }

    #[test]
    fn on_a_finished_bucket_an_absent_setting_is_a_conflict_too() {
        let p = governance_35();
        let mut seen = finished(&p);
        seen.object_lock = Some(ObservedLock {
            enabled: true,
            ..Default::default()
        });
        seen.encryption = None;
        let d = conflicts(&p, &seen);
        let names: Vec<&str> = d.iter().map(|d| d.name).collect();
        assert_eq!(names, ["kms_key_arn", "retention"], "{d:?}");
        assert_eq!(d[0].existing, "no default encryption");
    }

    #[test]
    fn on_an_unfinished_bucket_absent_settings_converge_and_present_ones_conflict() {
        let p = governance_35();
        // An earlier run died right after CreateBucket: Object Lock on, nothing else.
        let bare = Observed {
            object_lock: Some(ObservedLock {
                enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(conflicts(&p, &bare).is_empty());
        assert!(!bare.differences(&p.settings).is_empty(), "still to apply");
        // Every setting but the policy in place with other input: conflicts without a policy.
        let mut i = input();
        i.kms_key_arn = Some(KEY.into());
        i.retention = Some(Retention {
            mode: RetentionMode::Compliance,
            days: 7,
        });
        let other = plan(&i, Some("us-east-1")).unwrap();
        let mut half = finished(&other);
        half.policy = None;
        let d = conflicts(&p, &half);
        let names: Vec<&str> = d.iter().map(|d| d.name).collect();
        assert_eq!(names, ["kms_key_arn", "retention"], "{d:?}");
        assert_eq!(
            d[0].existing,
            "\"key/1234abcd-12ab-34cd-56ef-1234567890ab\" of account 123456789012"
        );
        assert_eq!(d[0].requested, "none (SSE-S3)");
        assert_eq!(d[1].existing, "\"COMPLIANCE/7\"");
        // Without a retention there, the requested one is completed: only the key conflicts.
        half.object_lock = Some(ObservedLock {
            enabled: true,
            ..Default::default()
        });
        let names: Vec<&str> = conflicts(&p, &half).iter().map(|d| d.name).collect();
        assert_eq!(names, ["kms_key_arn"]);
    }

    #[test]
    fn s3s_default_encryption_on_an_unfinished_bucket_may_become_the_kms_key() {
        let mut i = input();
        i.kms_key_arn = Some(KEY.into());
        let p = plan(&i, Some("us-east-1")).unwrap();
        let seen = Observed {
            encryption: Some(sse_s3()),
            ..Default::default()
        };
        assert!(conflicts(&p, &seen).is_empty());
        // Not on a finished bucket.
        let mut done = finished(&p);
        done.encryption = Some(sse_s3());
        let d = conflicts(&p, &done);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].name, d[0].existing.as_str()),
            ("kms_key_arn", "none (SSE-S3)")
        );
        // And a key in place is never S3's default.
        let no_key = plan(&input(), Some("us-east-1")).unwrap();
        let mut keyed = finished(&p);
        keyed.policy = None;
        assert_eq!(conflicts(&no_key, &keyed)[0].name, "kms_key_arn");
    }

    #[test]
    fn other_break_glass_roles_are_named_by_what_differs() {
        let mut i = input();
        i.break_glass_role_arns = (1..=5)
            .map(|n| format!("arn:aws:iam::123456789012:role/r{n}"))
            .collect();
        let made = plan(&i, Some("us-east-1")).unwrap();
        i.break_glass_role_arns[4] = "arn:aws:iam::123456789012:role/new".into();
        let asked = plan(&i, Some("us-east-1")).unwrap();
        let d = conflicts(&asked, &finished(&made));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, "break_glass_role_arns");
        assert!(d[0].from_input);
        assert!(
            d[0].existing
                .starts_with("[\"arn:aws:iam::123456789012:role/r5\"")
        );
        assert!(d[0].existing.ends_with("and 2 more]"), "{}", d[0].existing);
        assert!(
            d[0].requested
                .starts_with("[\"arn:aws:iam::123456789012:role/new\"")
        );
    }

    const PRUNE: &str = "arn:aws:iam::123456789012:role/lakevault-prune";

    fn with_prune(role: Option<&str>) -> Plan {
        let mut i = input();
        i.prune_role_arn = role.map(str::to_owned);
        plan(&i, Some("us-east-1")).unwrap()
    }

    #[test]
    fn a_prune_role_in_place_is_the_same_input_and_not_a_break_glass_role() {
        let p = with_prune(Some(PRUNE));
        assert!(conflicts(&p, &finished(&p)).is_empty());
        let (break_glass, prune) = exempt_roles(&p.settings.policy);
        assert_eq!(break_glass, p.settings.break_glass_role_arns);
        assert_eq!(prune, [PRUNE]);
        let (_, none) = exempt_roles(&with_prune(None).settings.policy);
        assert!(none.is_empty());
    }

    #[test]
    fn adding_removing_or_changing_the_prune_role_of_a_finished_bucket_is_a_conflict() {
        let other = "arn:aws:iam::123456789012:role/other-prune";
        for (made, asked, existing, requested) in [
            (None, Some(PRUNE), "none".to_owned(), quote(PRUNE)),
            (Some(PRUNE), None, quote(PRUNE), "none".to_owned()),
            (Some(PRUNE), Some(other), quote(PRUNE), quote(other)),
        ] {
            let d = conflicts(&with_prune(asked), &finished(&with_prune(made)));
            assert_eq!(
                d,
                vec![Difference {
                    name: "prune_role_arn",
                    from_input: true,
                    existing,
                    requested,
                }],
                "{made:?} then {asked:?}"
            );
        }
        // Without a policy yet (an unfinished bucket), the requested one is simply put.
        let mut half = finished(&with_prune(None));
        half.policy = None;
        assert!(conflicts(&with_prune(Some(PRUNE)), &half).is_empty());
    }

    #[test]
    fn the_prune_conflict_says_only_a_break_glass_role_expires_such_a_snapshot() {
        let e = check(&with_prune(Some(PRUNE)), &finished(&with_prune(None))).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains(&format!(
                "prune_role_arn: existing none, requested {}",
                quote(PRUNE)
            )),
            "{m}"
        );
        assert!(
            m.contains(
                "this snapshot was made with prune_role_arn none; re-run with those settings"
            ),
            "{m}"
        );
        assert!(
            m.contains("a snapshot made without one is expired by a break-glass role only"),
            "{m}"
        );
        assert!(m.len() < 1024, "{m}");
    }

    #[test]
    fn a_prune_statement_edited_by_hand_is_named_as_such() {
        let p = with_prune(Some(PRUNE));
        // A second prune role, or the prune role slipped into another statement.
        let mut seen = finished(&p);
        let mut edited = p.settings.policy.clone();
        let stmts = edited["Statement"].as_array_mut().unwrap();
        let prune = stmts
            .iter_mut()
            .find(|s| s["Sid"] == policy::PRUNE_SID)
            .unwrap();
        prune["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
            .as_array_mut()
            .unwrap()
            .push("arn:aws:iam::123456789012:role/zz-second".into());
        seen.policy = Some(edited);
        let names: Vec<&str> = conflicts(&p, &seen).iter().map(|d| d.name).collect();
        assert_eq!(names, ["policy"]);
        let mut edited = p.settings.policy.clone();
        let stmts = edited["Statement"].as_array_mut().unwrap();
        let objects = stmts
            .iter_mut()
            .find(|s| s["Sid"] == "DenyObjectDeletion")
            .unwrap();
        objects["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
            .as_array_mut()
            .unwrap()
            .push(PRUNE.into());
        seen.policy = Some(edited);
        let d = conflicts(&p, &seen);
        assert!(
            d.iter().any(|d| d.name == "policy" && !d.from_input),
            "{d:?}"
        );
    }

    #[test]
    fn a_policy_changed_outside_lakevault_is_named_as_such() {
        let p = governance_35();
        let mut seen = finished(&p);
        let mut edited = p.settings.policy.clone();
        edited["Statement"].as_array_mut().unwrap().pop();
        seen.policy = Some(edited);
        let d = conflicts(&p, &seen);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].name, d[0].from_input), ("policy", false));
        seen.policy = Some(serde_json::json!({"Id": "x".repeat(1000), "Statement": []}));
        let d = conflicts(&p, &seen);
        assert!(d[0].existing.len() < 100, "{}", d[0].existing);
        seen.policy = Some(Value::Null);
        assert_eq!(
            conflicts(&p, &seen)[0].existing,
            "a policy that is not JSON"
        );
    }

    #[test]
    fn settings_every_input_shares_conflict_once_present() {
        let p = governance_35();
        let mut seen = finished(&p);
        seen.policy = None;
        seen.public_access_block = Some(BlockPublicAccess {
            block_public_acls: true,
            ignore_public_acls: false,
            block_public_policy: true,
            restrict_public_buckets: false,
        });
        seen.object_ownership = Some("ObjectWriter".into());
        seen.tags.insert("tool".into(), "other".into());
        let d = conflicts(&p, &seen);
        let names: Vec<&str> = d.iter().map(|d| d.name).collect();
        assert_eq!(
            names,
            ["tags", "public_access_block", "object_ownership"],
            "{d:?}"
        );
        assert!(d.iter().all(|d| !d.from_input));
        assert_eq!(
            d[1].existing,
            "ignore_public_acls, restrict_public_buckets off"
        );
        // A missing lakevault tag is absent: completed.
        seen = finished(&p);
        seen.policy = None;
        seen.tags.remove("tool");
        assert!(conflicts(&p, &seen).is_empty());
    }

    #[test]
    fn the_message_says_what_differs_and_what_to_do() {
        let made = governance_35();
        let mut i = input();
        i.retention = Some(Retention {
            mode: RetentionMode::Compliance,
            days: 3650,
        });
        let asked = plan(&i, Some("us-east-1")).unwrap();
        let e = check(&asked, &finished(&made)).unwrap_err();
        let m = e.to_string();
        assert_eq!(kit::StepError::error_type(&e), "BucketConflict");
        assert!(
            m.contains("retention: existing \"GOVERNANCE/35\", requested \"COMPLIANCE/3650\""),
            "{m}"
        );
        assert!(
            m.contains(
                "this snapshot was made with retention \"GOVERNANCE/35\"; re-run with those settings, or choose another bucket_prefix"
            ),
            "{m}"
        );
        assert!(m.contains("(finished)"), "{m}");
        assert!(m.contains("nothing was changed"), "{m}");
    }
}
