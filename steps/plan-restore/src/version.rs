//! Which version to restore, and whether the snapshot can rebuild it.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use verify_snapshot::{OpenBucket, VersionContents, VersionState};

use crate::PlanRestoreError;

/// The version rules that need no number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Named {
    /// The newest version committed before the end of the snapshot's day (UTC), dated from the
    /// commits' own timestamps.
    AsOfBackupDate,
    /// The newest version the snapshot can rebuild.
    LatestRestorable,
}

/// A version number, or a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum VersionChoice {
    /// This version.
    Exact(u64),
    /// The version a rule picks.
    Named(Named),
}

impl Default for VersionChoice {
    fn default() -> Self {
        Self::Named(Named::AsOfBackupDate)
    }
}

impl<'de> Deserialize<'de> for VersionChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // By hand, for a message that says what is accepted (an untagged enum's says nothing).
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) if n.as_u64().is_some() => {
                Ok(Self::Exact(n.as_u64().unwrap_or_default()))
            }
            serde_json::Value::String(s) if s == "as_of_backup_date" => {
                Ok(Self::Named(Named::AsOfBackupDate))
            }
            serde_json::Value::String(s) if s == "latest_restorable" => {
                Ok(Self::Named(Named::LatestRestorable))
            }
            other => Err(serde::de::Error::custom(format!(
                "{} is not a version: give a version number (0 or more), \"as_of_backup_date\" \
                 or \"latest_restorable\"",
                kit::validate::quote(&other.to_string())
            ))),
        }
    }
}

/// How the restored version was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChosenBy {
    /// Given by number.
    Version,
    /// The backup date's version.
    AsOfBackupDate,
    /// The newest restorable one.
    LatestRestorable,
}

fn nearest_sentence(below: Option<u64>, above: Option<u64>) -> String {
    match (below, above) {
        (None, None) => "No version near it is restorable from this snapshot; try another \
                         snapshot (`lakevault snapshots`)"
            .to_owned(),
        (Some(b), None) => format!("The nearest restorable version is {b}"),
        (None, Some(a)) => format!("The nearest restorable version is {a}"),
        (Some(b), Some(a)) => format!("The nearest restorable versions are {b} and {a}"),
    }
}

/// The version `choice` names, with its contents; `VersionNotRestorable` when the snapshot
/// cannot rebuild it (with the nearest ones that it can).
pub(crate) async fn resolve(
    snapshot: &OpenBucket,
    bucket: &str,
    root: &str,
    choice: &VersionChoice,
) -> Result<(VersionContents, ChosenBy), PlanRestoreError> {
    let refuse =
        |version: String, why: String, nearest: String| PlanRestoreError::VersionNotRestorable {
            bucket: bucket.to_owned(),
            root: root.to_owned(),
            version,
            why,
            nearest,
        };
    let (v, chosen_by) = match choice {
        VersionChoice::Exact(v) => (*v, ChosenBy::Version),
        VersionChoice::Named(rule) => {
            // The same analysis verify-snapshot recorded for this table.
            let report = snapshot.analyse(root).await?;
            let findings = if report.findings.is_empty() {
                String::new()
            } else {
                format!(" ({})", report.findings.join("; "))
            };
            match rule {
                Named::LatestRestorable => match report.restorable_version {
                    Some(v) => (v, ChosenBy::LatestRestorable),
                    None => {
                        return Err(refuse(
                            "latest_restorable".to_owned(),
                            format!("no version of it is complete in the snapshot{findings}"),
                            nearest_sentence(None, None),
                        ));
                    }
                },
                Named::AsOfBackupDate => match &report.as_of_backup_date {
                    Some(a) => (a.version, ChosenBy::AsOfBackupDate),
                    None => {
                        return Err(refuse(
                            "as_of_backup_date".to_owned(),
                            format!(
                                "no commit of it can be dated before the end of the snapshot's day{findings}"
                            ),
                            match report.restorable_version {
                                Some(v) => format!(
                                    "The newest restorable version is {v}: pass it by number"
                                ),
                                None => nearest_sentence(None, None),
                            },
                        ));
                    }
                },
            }
        }
    };
    match snapshot.version(root, v).await? {
        VersionState::Restorable(c) => Ok((c, chosen_by)),
        VersionState::NotRestorable(why) => {
            let (below, above) = snapshot.nearest_restorable(root, v).await?;
            Err(refuse(v.to_string(), why, nearest_sentence(below, above)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_numbers_or_the_two_rules() {
        let p = |s: &str| serde_json::from_str::<VersionChoice>(s);
        assert_eq!(p("41").unwrap(), VersionChoice::Exact(41));
        assert_eq!(
            p("\"latest_restorable\"").unwrap(),
            VersionChoice::Named(Named::LatestRestorable)
        );
        assert_eq!(
            p("\"as_of_backup_date\"").unwrap(),
            VersionChoice::Named(Named::AsOfBackupDate)
        );
        for bad in ["-1", "1.5", "\"latest\"", "\"41\"", "null", "[]"] {
            let e = p(bad).unwrap_err().to_string();
            assert!(e.contains("is not a version"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_nearest_versions_read_as_a_sentence() {
        assert!(nearest_sentence(Some(3), Some(9)).contains("3 and 9"));
        assert!(nearest_sentence(None, None).contains("another snapshot"));
    }
}
