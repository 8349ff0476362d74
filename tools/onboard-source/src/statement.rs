//! The read grant: the statement this tool owns in a source bucket's policy, and how it is
//! merged into the policy already there (every other statement kept, in its place).

use serde_json::{Value, json};

use crate::report::Change;
use crate::request::RoleArn;

/// `Sid` of the statement this tool owns in a source bucket's policy. Stable: a re-run finds and
/// compares it; changing it would leave the old grant behind.
pub const STATEMENT_SID: &str = "LakevaultBatchOperationsRead";

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

/// What the bucket policy needs.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyPlan {
    /// The statement is there, as wanted.
    Unchanged,
    /// The bucket has no policy: this one, with only the statement.
    Create(Value),
    /// The statement is appended to the existing statements.
    Add(Value),
    /// A statement with the same `Sid` differs (another role, other actions): replaced in place.
    Update {
        /// The whole new policy.
        policy: Value,
        /// The statement it replaces.
        previous: Value,
    },
}

impl PolicyPlan {
    /// The policy to write, if any.
    pub fn policy(&self) -> Option<&Value> {
        match self {
            Self::Unchanged => None,
            Self::Create(p) | Self::Add(p) | Self::Update { policy: p, .. } => Some(p),
        }
    }

    /// How the report names it.
    pub fn change(&self) -> Change {
        match self {
            Self::Unchanged => Change::Unchanged,
            Self::Create(_) => Change::Created,
            Self::Add(_) => Change::Added,
            Self::Update { .. } => Change::Updated,
        }
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

/// Merges `statement` into the bucket's current policy (`None`: the bucket has none). Every other
/// statement is kept, in its place; a statement with the same `Sid` is replaced, further ones with
/// that `Sid` (a hand-made duplicate) are dropped. `Err` says what makes the policy unmergeable.
pub fn plan_policy(current: Option<&str>, statement: &Value) -> Result<PolicyPlan, PolicyProblem> {
    let Some(text) = current else {
        return Ok(PolicyPlan::Create(json!({
            "Version": "2012-10-17",
            "Statement": [statement],
        })));
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
    let ours: Vec<usize> = statements
        .iter()
        .enumerate()
        .filter(|(_, s)| s.get("Sid").and_then(Value::as_str) == Some(STATEMENT_SID))
        .map(|(i, _)| i)
        .collect();
    let want = kit::policy::normalise_statement(statement);
    let plan = match ours.as_slice() {
        [] => {
            statements.push(statement.clone());
            None
        }
        [only] if kit::policy::normalise_statement(&statements[*only]) == want => {
            return Ok(PolicyPlan::Unchanged);
        }
        [first, rest @ ..] => {
            let previous = std::mem::replace(&mut statements[*first], statement.clone());
            for i in rest.iter().rev() {
                statements.remove(*i);
            }
            Some(previous)
        }
    };
    doc.entry("Version").or_insert_with(|| json!("2012-10-17"));
    doc.insert("Statement".to_owned(), Value::Array(statements));
    Ok(match plan {
        None => PolicyPlan::Add(policy),
        Some(previous) => PolicyPlan::Update { policy, previous },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tests::role;

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
    fn no_policy_creates_one() {
        let s = read_statement(&role(), "lake");
        let PolicyPlan::Create(p) = plan_policy(None, &s).unwrap() else {
            panic!("expected Create");
        };
        assert_eq!(p["Statement"], json!([s]));
        assert_eq!(p["Version"], "2012-10-17");
    }

    #[test]
    fn merge_keeps_every_other_statement_and_their_order() {
        let s = read_statement(&role(), "lake");
        let extra = json!({"Sid": "Other", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/public/*"});
        let current =
            json!({"Version": "2012-10-17", "Id": "mine", "Statement": [other_statement(), extra]});
        let PolicyPlan::Add(p) = plan_policy(Some(&current.to_string()), &s).unwrap() else {
            panic!("expected Add");
        };
        assert_eq!(p["Id"], "mine");
        assert_eq!(p["Statement"], json!([other_statement(), extra, s]));
        // Merging the result again changes nothing.
        assert_eq!(
            plan_policy(Some(&p.to_string()), &s).unwrap(),
            PolicyPlan::Unchanged
        );
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
        let current = json!({"Version": "2012-10-17", "Statement": [stored]});
        assert_eq!(
            plan_policy(Some(&current.to_string()), &s).unwrap(),
            PolicyPlan::Unchanged
        );
    }

    #[test]
    fn a_stale_statement_is_replaced_in_place_and_duplicates_dropped() {
        let s = read_statement(&role(), "lake");
        let old_role = RoleArn::parse("arn:aws:iam::222222222222:role/old").unwrap();
        let stale = read_statement(&old_role, "lake");
        let current = json!({"Statement": [stale, other_statement(), stale]});
        let PolicyPlan::Update { policy, previous } =
            plan_policy(Some(&current.to_string()), &s).unwrap()
        else {
            panic!("expected Update");
        };
        assert_eq!(previous, stale);
        assert_eq!(policy["Statement"], json!([s, other_statement()]));
        assert_eq!(
            policy["Version"], "2012-10-17",
            "a missing Version is added"
        );
    }

    #[test]
    fn a_single_statement_object_is_accepted() {
        let s = read_statement(&role(), "lake");
        let current = json!({"Version": "2012-10-17", "Statement": other_statement()});
        let PolicyPlan::Add(p) = plan_policy(Some(&current.to_string()), &s).unwrap() else {
            panic!("expected Add");
        };
        assert_eq!(p["Statement"], json!([other_statement(), s]));
    }

    #[test]
    fn unmergeable_policies_are_refused() {
        let s = read_statement(&role(), "lake");
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
