//! The grants: the statements this tool owns in a bucket's policy (the read grants of a source
//! bucket, the restore grants of a restore target), and how they are merged into the policy
//! already there (every other statement kept, in its place).

use serde_json::{Value, json};

use crate::report::Change;
use crate::request::{LargeCopyGrant, RestoreGrant, RoleArn};

/// `Sid` of the statement this tool owns in a source bucket's policy. Stable: a re-run finds and
/// compares it; changing it would leave the old grant behind.
pub const STATEMENT_SID: &str = "LakevaultBatchOperationsRead";

/// `Sid` of plan-large-copy's read grant in a source bucket's policy (objects over 5 GiB).
pub const LARGE_COPY_PLAN_SID: &str = "LakevaultLargeCopyPlanRead";
/// `Sid` of copy-parts' read grant in a source bucket's policy (objects over 5 GiB).
pub const LARGE_COPY_PARTS_SID: &str = "LakevaultLargeCopyPartsRead";

/// `Sid` of the restore batch role's write grant in a restore target's policy.
pub const RESTORE_WRITE_SID: &str = "LakevaultRestoreWrite";
/// `Sid` of plan-restore's and verify-restore's listing grant in a restore target's policy.
pub const RESTORE_LIST_SID: &str = "LakevaultRestoreList";
/// `Sid` of verify-restore's read grant in a restore target's policy.
pub const RESTORE_READ_SID: &str = "LakevaultRestoreRead";

/// What an `S3PutObjectCopy` task does with a source object: read it, a given version of it, and
/// the ACL and tags the copy carries along. Read-only, objects only.
pub const SOURCE_READ_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectTagging",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
];

/// What plan-large-copy reads of a source object: its metadata (HeadObject) and tags, of a
/// version when one is named. Less than the batch role: no ACLs.
pub const LARGE_COPY_PLAN_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectTagging",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionTagging",
];

/// What copy-parts reads of a source object: HeadObject and the source side of UploadPartCopy.
pub const LARGE_COPY_PARTS_ACTIONS: &[&str] = &["s3:GetObject", "s3:GetObjectVersion"];

/// What a restore's `S3PutObjectCopy` task does in the target: write the object and its tags
/// (no ACLs: targets have ACLs disabled; no Object Lock).
pub const RESTORE_WRITE_ACTIONS: &[&str] = &["s3:PutObject", "s3:PutObjectTagging"];

/// S3's limit on the size of a bucket policy.
pub const POLICY_MAX_BYTES: usize = 20 * 1024;

/// The statement granting the batch role read access to `bucket`'s objects.
pub fn read_statement(role: &RoleArn, bucket: &str) -> Value {
    json!({
        "Sid": STATEMENT_SID,
        "Effect": "Allow",
        "Principal": {"AWS": role.arn},
        "Action": SOURCE_READ_ACTIONS,
        "Resource": format!("arn:{}:s3:::{bucket}/*", role.partition),
    })
}

/// The two statements of a source bucket with objects over 5 GiB (in this order):
/// plan-large-copy's read grant ([`LARGE_COPY_PLAN_SID`]) and copy-parts' ([`LARGE_COPY_PARTS_SID`]),
/// both on the bucket's objects. complete-large-copy reads nothing of the source: no statement.
pub fn large_copy_statements(grant: &LargeCopyGrant, bucket: &str) -> Vec<Value> {
    let objects = format!("arn:{}:s3:::{bucket}/*", grant.plan_role.partition);
    vec![
        json!({
            "Sid": LARGE_COPY_PLAN_SID,
            "Effect": "Allow",
            "Principal": {"AWS": grant.plan_role.arn},
            "Action": LARGE_COPY_PLAN_ACTIONS,
            "Resource": objects,
        }),
        json!({
            "Sid": LARGE_COPY_PARTS_SID,
            "Effect": "Allow",
            "Principal": {"AWS": grant.parts_role.arn},
            "Action": LARGE_COPY_PARTS_ACTIONS,
            "Resource": objects,
        }),
    ]
}

/// The three statements of a restore target (in this order): the restore batch role may write
/// objects under the grant's prefix ([`RESTORE_WRITE_SID`]); plan-restore and verify-restore may
/// list the bucket ([`RESTORE_LIST_SID`]: names and sizes, to find the target empty and the
/// restored files present; a listing grant is what makes S3 answer 404 rather than 403 for a
/// missing key, so it covers the whole bucket); verify-restore may read objects under the prefix
/// ([`RESTORE_READ_SID`]). Nothing else: no deletes, no ACLs, no bucket settings.
pub fn restore_statements(grant: &RestoreGrant, bucket: &str) -> Vec<Value> {
    let partition = grant.restore_role.partition;
    let objects = format!("arn:{partition}:s3:::{bucket}/{}*", grant.prefix);
    let mut listers = vec![grant.plan_role.arn.clone()];
    if grant.verify_role.arn != grant.plan_role.arn {
        listers.push(grant.verify_role.arn.clone());
    }
    vec![
        json!({
            "Sid": RESTORE_WRITE_SID,
            "Effect": "Allow",
            "Principal": {"AWS": grant.restore_role.arn},
            "Action": RESTORE_WRITE_ACTIONS,
            "Resource": objects,
        }),
        json!({
            "Sid": RESTORE_LIST_SID,
            "Effect": "Allow",
            "Principal": {"AWS": listers},
            "Action": "s3:ListBucket",
            "Resource": format!("arn:{partition}:s3:::{bucket}"),
        }),
        json!({
            "Sid": RESTORE_READ_SID,
            "Effect": "Allow",
            "Principal": {"AWS": grant.verify_role.arn},
            "Action": "s3:GetObject",
            "Resource": objects,
        }),
    ]
}

/// What merging does to one of our statements.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementChange {
    /// The statement's `Sid`.
    pub sid: String,
    /// `Created` (a new policy), `Added` (appended), `Updated` (replaced in place), `Unchanged`.
    pub change: Change,
    /// The statement it replaces (`Updated` only).
    pub previous: Option<Value>,
}

/// What the bucket policy needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyPlan {
    /// The whole policy to write; `None` when every statement is there as wanted.
    pub policy: Option<Value>,
    /// The policy as a whole: `Created` (the bucket had none), `Unchanged`, `Updated` (a
    /// statement of ours was replaced), else `Added`.
    pub change: Change,
    /// Each of our statements, in the order asked for.
    pub statements: Vec<StatementChange>,
}

impl PolicyPlan {
    /// The policy to write, if any.
    pub fn policy(&self) -> Option<&Value> {
        self.policy.as_ref()
    }

    /// How the report names it.
    pub fn change(&self) -> Change {
        self.change
    }

    /// The statements replaced, in the order asked for.
    pub fn previous(&self) -> Vec<Value> {
        self.statements
            .iter()
            .filter_map(|s| s.previous.clone())
            .collect()
    }
}

/// What makes a bucket's policy one this tool cannot merge its statement into.
#[derive(Debug, thiserror::Error)]
pub enum PolicyProblem {
    /// The policy does not parse as JSON.
    #[error("it is not JSON ({0})")]
    NotJson(#[source] serde_json::Error),
    /// The policy is JSON, but not an object.
    #[error("it is not a JSON object")]
    NotAnObject,
    /// `Statement` is neither a list nor a single statement object.
    #[error("its Statement is neither a list nor an object")]
    StatementNotListOrObject,
    /// The policy has no `Statement`.
    #[error("it has no Statement")]
    NoStatement,
    /// The statement at this index of the list is not an object.
    #[error("statement {0} is not an object")]
    StatementEntryNotObject(usize),
}

fn sid(statement: &Value) -> Option<&str> {
    statement.get("Sid").and_then(Value::as_str)
}

/// Merges `wanted` (statements with distinct `Sid`s) into the bucket's current policy (`None`:
/// the bucket has none). Every other statement is kept, in its place; a statement with the `Sid`
/// of a wanted one is replaced in place, further ones with that `Sid` (a hand-made duplicate) are
/// dropped; a wanted one not there is appended. `Err` says what makes the policy unmergeable.
pub fn plan_policy(current: Option<&str>, wanted: &[Value]) -> Result<PolicyPlan, PolicyProblem> {
    let sid_of = |s: &Value| sid(s).unwrap_or_default().to_owned();
    let Some(text) = current else {
        return Ok(PolicyPlan {
            policy: Some(json!({"Version": "2012-10-17", "Statement": wanted})),
            change: Change::Created,
            statements: wanted
                .iter()
                .map(|s| StatementChange {
                    sid: sid_of(s),
                    change: Change::Created,
                    previous: None,
                })
                .collect(),
        });
    };
    let mut policy: Value = serde_json::from_str(text).map_err(PolicyProblem::NotJson)?;
    let Value::Object(doc) = &mut policy else {
        return Err(PolicyProblem::NotAnObject);
    };
    // IAM accepts a single statement object as well as a list; a list is what we write back.
    let mut statements = match doc.remove("Statement") {
        Some(Value::Array(list)) => list,
        Some(single @ Value::Object(_)) => vec![single],
        Some(_) => return Err(PolicyProblem::StatementNotListOrObject),
        None => return Err(PolicyProblem::NoStatement),
    };
    if let Some(i) = statements.iter().position(|s| !s.is_object()) {
        return Err(PolicyProblem::StatementEntryNotObject(i));
    }
    let existing = statements.len();
    let mut duplicates: Vec<usize> = Vec::new();
    let mut changes = Vec::with_capacity(wanted.len());
    for statement in wanted {
        let name = sid_of(statement);
        let ours: Vec<usize> = (0..existing)
            .filter(|&i| sid(&statements[i]) == Some(name.as_str()))
            .collect();
        let want = kit::policy::normalise_statement(statement);
        let (change, previous) = match ours.as_slice() {
            [] => {
                statements.push(statement.clone());
                (Change::Added, None)
            }
            [only] if kit::policy::normalise_statement(&statements[*only]) == want => {
                (Change::Unchanged, None)
            }
            [first, rest @ ..] => {
                let previous = std::mem::replace(&mut statements[*first], statement.clone());
                duplicates.extend_from_slice(rest);
                // When the statement itself was right, only a duplicate goes.
                let stale = kit::policy::normalise_statement(&previous) != want;
                (Change::Updated, stale.then_some(previous))
            }
        };
        changes.push(StatementChange {
            sid: name,
            change,
            previous,
        });
    }
    if changes.iter().all(|c| c.change == Change::Unchanged) {
        return Ok(PolicyPlan {
            policy: None,
            change: Change::Unchanged,
            statements: changes,
        });
    }
    duplicates.sort_unstable();
    for i in duplicates.iter().rev() {
        statements.remove(*i);
    }
    doc.entry("Version").or_insert_with(|| json!("2012-10-17"));
    doc.insert("Statement".to_owned(), Value::Array(statements));
    let change = if changes.iter().any(|c| c.change == Change::Updated) {
        Change::Updated
    } else {
        Change::Added
    };
    Ok(PolicyPlan {
        policy: Some(policy),
        change,
        statements: changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tests::{large_copy_grant, restore_grant, role};

    fn other_statement() -> Value {
        json!({
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::lake", "arn:aws:s3:::lake/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        })
    }

    fn changes(plan: &PolicyPlan) -> Vec<(&str, Change)> {
        plan.statements
            .iter()
            .map(|s| (s.sid.as_str(), s.change))
            .collect()
    }

    #[test]
    fn statement_content() {
        let s = read_statement(&role(), "lake");
        assert_eq!(s["Sid"], STATEMENT_SID);
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(s["Principal"]["AWS"], role().arn);
        assert_eq!(s["Resource"], "arn:aws:s3:::lake/*");
        assert_eq!(s["Action"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn large_copy_statements_content() {
        let g = large_copy_grant();
        let [plan, parts] = large_copy_statements(&g, "lake").try_into().unwrap();
        assert_eq!(plan["Sid"], LARGE_COPY_PLAN_SID);
        assert_eq!(plan["Principal"]["AWS"], g.plan_role.arn);
        assert_eq!(
            plan["Action"],
            json!([
                "s3:GetObject",
                "s3:GetObjectTagging",
                "s3:GetObjectVersion",
                "s3:GetObjectVersionTagging"
            ])
        );
        assert_eq!(parts["Sid"], LARGE_COPY_PARTS_SID);
        assert_eq!(parts["Principal"]["AWS"], g.parts_role.arn);
        assert_eq!(
            parts["Action"],
            json!(["s3:GetObject", "s3:GetObjectVersion"])
        );
        for s in [&plan, &parts] {
            assert_eq!(s["Effect"], "Allow");
            assert_eq!(s["Resource"], "arn:aws:s3:::lake/*");
            assert!(s.get("Condition").is_none());
        }

        // Merged beside the batch role's grant; a re-merge changes nothing.
        let mut all = vec![read_statement(&role(), "lake")];
        all.extend(large_copy_statements(&g, "lake"));
        let current = json!({"Version": "2012-10-17", "Statement": [other_statement(), all[0]]});
        let plan = plan_policy(Some(&current.to_string()), &all).unwrap();
        assert_eq!(
            changes(&plan),
            [
                (STATEMENT_SID, Change::Unchanged),
                (LARGE_COPY_PLAN_SID, Change::Added),
                (LARGE_COPY_PARTS_SID, Change::Added),
            ]
        );
        let merged = plan.policy().unwrap().to_string();
        let again = plan_policy(Some(&merged), &all).unwrap();
        assert_eq!(again.change, Change::Unchanged);
    }

    #[test]
    fn restore_statements_content() {
        let g = restore_grant(None);
        let [write, list, read] = restore_statements(&g, "lake-restored").try_into().unwrap();
        assert_eq!(write["Sid"], RESTORE_WRITE_SID);
        assert_eq!(write["Principal"]["AWS"], g.restore_role.arn);
        assert_eq!(
            write["Action"],
            json!(["s3:PutObject", "s3:PutObjectTagging"])
        );
        assert_eq!(write["Resource"], "arn:aws:s3:::lake-restored/*");
        assert_eq!(list["Sid"], RESTORE_LIST_SID);
        assert_eq!(
            list["Principal"]["AWS"],
            json!([g.plan_role.arn, g.verify_role.arn])
        );
        assert_eq!(list["Action"], "s3:ListBucket");
        assert_eq!(list["Resource"], "arn:aws:s3:::lake-restored");
        assert_eq!(read["Sid"], RESTORE_READ_SID);
        assert_eq!(read["Principal"]["AWS"], g.verify_role.arn);
        assert_eq!(read["Action"], "s3:GetObject");
        assert_eq!(read["Resource"], "arn:aws:s3:::lake-restored/*");
        for s in [&write, &list, &read] {
            assert_eq!(s["Effect"], "Allow");
        }

        // A prefix narrows the object grants; the listing stays the bucket's.
        let g = restore_grant(Some("restored/"));
        let s = restore_statements(&g, "lake");
        assert_eq!(s[0]["Resource"], "arn:aws:s3:::lake/restored/*");
        assert_eq!(s[1]["Resource"], "arn:aws:s3:::lake");
        assert_eq!(s[2]["Resource"], "arn:aws:s3:::lake/restored/*");
    }

    #[test]
    fn no_policy_creates_one() {
        let s = read_statement(&role(), "lake");
        let plan = plan_policy(None, std::slice::from_ref(&s)).unwrap();
        assert_eq!(plan.change, Change::Created);
        let p = plan.policy().unwrap();
        assert_eq!(p["Statement"], json!([s]));
        assert_eq!(p["Version"], "2012-10-17");
        assert_eq!(changes(&plan), [(STATEMENT_SID, Change::Created)]);
    }

    #[test]
    fn merge_keeps_every_other_statement_and_their_order() {
        let s = read_statement(&role(), "lake");
        let extra = json!({"Sid": "Other", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/public/*"});
        let current =
            json!({"Version": "2012-10-17", "Id": "mine", "Statement": [other_statement(), extra]});
        let plan = plan_policy(Some(&current.to_string()), std::slice::from_ref(&s)).unwrap();
        assert_eq!(plan.change, Change::Added);
        let p = plan.policy().unwrap();
        assert_eq!(p["Id"], "mine");
        assert_eq!(p["Statement"], json!([other_statement(), extra, s]));
        // Merging the result again changes nothing.
        let again = plan_policy(Some(&p.to_string()), std::slice::from_ref(&s)).unwrap();
        assert_eq!(again.change, Change::Unchanged);
        assert_eq!(again.policy(), None);
    }

    #[test]
    fn several_statements_merge_each_by_sid() {
        let read = read_statement(&role(), "lake");
        let restore = restore_statements(&restore_grant(None), "lake");
        let mut all = vec![read.clone()];
        all.extend(restore.iter().cloned());

        // The read grant already there, the restore grants appended after theirs.
        let current = json!({"Version": "2012-10-17", "Statement": [read, other_statement()]});
        let plan = plan_policy(Some(&current.to_string()), &all).unwrap();
        assert_eq!(plan.change, Change::Added);
        assert_eq!(
            changes(&plan),
            [
                (STATEMENT_SID, Change::Unchanged),
                (RESTORE_WRITE_SID, Change::Added),
                (RESTORE_LIST_SID, Change::Added),
                (RESTORE_READ_SID, Change::Added),
            ]
        );
        let merged = plan.policy().unwrap().clone();
        let mut want = vec![read.clone(), other_statement()];
        want.extend(restore.iter().cloned());
        assert_eq!(merged["Statement"], json!(want));

        // Another restore role later: only its write grant is replaced, in place.
        let mut other = restore_grant(None);
        other.restore_role = RoleArn::parse("arn:aws:iam::222222222222:role/new-restore").unwrap();
        let mut again = vec![read.clone()];
        again.extend(restore_statements(&other, "lake"));
        let plan = plan_policy(Some(&merged.to_string()), &again).unwrap();
        assert_eq!(plan.change, Change::Updated);
        assert_eq!(
            changes(&plan),
            [
                (STATEMENT_SID, Change::Unchanged),
                (RESTORE_WRITE_SID, Change::Updated),
                (RESTORE_LIST_SID, Change::Unchanged),
                (RESTORE_READ_SID, Change::Unchanged),
            ]
        );
        assert_eq!(plan.previous(), [restore[0].clone()]);
        let statements = plan.policy().unwrap()["Statement"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(statements.len(), 5);
        assert_eq!(statements[1], other_statement());
        assert_eq!(
            statements[2]["Principal"]["AWS"],
            "arn:aws:iam::222222222222:role/new-restore"
        );

        // Only the restore grants asked for: the read grant is left alone, not dropped.
        let plan = plan_policy(
            Some(&merged.to_string()),
            &restore_statements(&restore_grant(None), "lake"),
        )
        .unwrap();
        assert_eq!(plan.change, Change::Unchanged);
    }

    #[test]
    fn aws_reserialisation_is_unchanged() {
        // AWS may hand back single-element lists as strings and actions in another order.
        let s = read_statement(&role(), "lake");
        let mut stored = s.clone();
        let mut actions: Vec<Value> = stored["Action"].as_array().unwrap().clone();
        actions.reverse();
        stored["Action"] = Value::Array(actions);
        stored["Principal"] = json!({"AWS": [role().arn]});
        let mut restore = restore_statements(&restore_grant(None), "lake");
        let mut listers = restore[1]["Principal"]["AWS"].as_array().unwrap().clone();
        listers.reverse();
        let mut stored_list = restore[1].clone();
        stored_list["Principal"]["AWS"] = Value::Array(listers);
        stored_list["Action"] = json!(["s3:ListBucket"]);
        let current = json!({"Version": "2012-10-17", "Statement": [stored, stored_list, restore[0], restore[2]]});
        restore.insert(0, s);
        let plan = plan_policy(Some(&current.to_string()), &restore).unwrap();
        assert_eq!(plan.change, Change::Unchanged, "{:?}", plan.statements);
    }

    #[test]
    fn a_stale_statement_is_replaced_in_place_and_duplicates_dropped() {
        let s = read_statement(&role(), "lake");
        let old_role = RoleArn::parse("arn:aws:iam::222222222222:role/old").unwrap();
        let stale = read_statement(&old_role, "lake");
        let current = json!({"Statement": [stale, other_statement(), stale]});
        let plan = plan_policy(Some(&current.to_string()), std::slice::from_ref(&s)).unwrap();
        assert_eq!(plan.change, Change::Updated);
        assert_eq!(plan.previous(), [stale]);
        let policy = plan.policy().unwrap();
        assert_eq!(policy["Statement"], json!([s, other_statement()]));
        assert_eq!(
            policy["Version"], "2012-10-17",
            "a missing Version is added"
        );

        // A right statement with a duplicate: the duplicate goes, nothing is "previous".
        let current = json!({"Statement": [s, other_statement(), s]});
        let plan = plan_policy(Some(&current.to_string()), std::slice::from_ref(&s)).unwrap();
        assert_eq!(plan.change, Change::Updated);
        assert!(plan.previous().is_empty());
        assert_eq!(
            plan.policy().unwrap()["Statement"],
            json!([s, other_statement()])
        );
    }

    #[test]
    fn a_single_statement_object_is_accepted() {
        let s = read_statement(&role(), "lake");
        let current = json!({"Version": "2012-10-17", "Statement": other_statement()});
        let plan = plan_policy(Some(&current.to_string()), std::slice::from_ref(&s)).unwrap();
        assert_eq!(plan.change, Change::Added);
        assert_eq!(
            plan.policy().unwrap()["Statement"],
            json!([other_statement(), s])
        );
    }

    #[test]
    fn unmergeable_policies_are_refused() {
        let s = [read_statement(&role(), "lake")];
        for bad in [
            "not json",
            "[1, 2]",
            r#"{"Version": "2012-10-17"}"#,
            r#"{"Statement": "s3:*"}"#,
            r#"{"Statement": [1]}"#,
        ] {
            assert!(plan_policy(Some(bad), &s).is_err(), "{bad}");
        }
        let problem = |p: &str| plan_policy(Some(p), &s).unwrap_err();
        assert!(matches!(problem("not json"), PolicyProblem::NotJson(_)));
        assert!(matches!(problem("[1, 2]"), PolicyProblem::NotAnObject));
        assert!(matches!(
            problem(r#"{"Version": "2012-10-17"}"#),
            PolicyProblem::NoStatement
        ));
        assert!(matches!(
            problem(r#"{"Statement": "s3:*"}"#),
            PolicyProblem::StatementNotListOrObject
        ));
        assert!(matches!(
            problem(r#"{"Statement": [{"Sid": "A"}, 1]}"#),
            PolicyProblem::StatementEntryNotObject(1)
        ));
    }
}
