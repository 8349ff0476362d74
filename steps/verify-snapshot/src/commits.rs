//! Commit times, read from the commit JSONs themselves: `commitInfo.inCommitTimestamp` where the
//! table enables in-commit timestamps, else `commitInfo.timestamp`. Never the object's
//! LastModified: the copy into the snapshot resets it (and delta_kernel's own timestamp lookup
//! uses it when in-commit timestamps are off, which is why that path is not used).

use kit::AwsFailure;

use crate::VerifyError;

/// A commit JSON read to date it is at most this large (a commit with hundreds of thousands of
/// actions stays far below it).
pub const MAX_COMMIT_BYTES: u64 = 256 * 1024 * 1024;

/// A commit's time and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitTime {
    /// Epoch milliseconds.
    pub(crate) ms: i64,
    /// `inCommitTimestamp` or `timestamp`.
    pub(crate) source: &'static str,
}

/// The commit time in a commit JSON's text: the first `commitInfo` action's in-commit timestamp,
/// else its `timestamp`. `Err` says why there is none.
pub(crate) fn commit_time(text: &str) -> Result<CommitTime, String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        // Only the commitInfo action is parsed; the (large) add lines are skipped unread.
        if line.is_empty()
            || !line.starts_with("{\"commitInfo\"") && !line.contains("\"commitInfo\"")
        {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {} is not JSON: {e}", n + 1))?;
        let Some(ci) = v.get("commitInfo") else {
            continue;
        };
        if let Some(ms) = ci
            .get("inCommitTimestamp")
            .and_then(serde_json::Value::as_i64)
        {
            return Ok(CommitTime {
                ms,
                source: "inCommitTimestamp",
            });
        }
        if let Some(ms) = ci.get("timestamp").and_then(serde_json::Value::as_i64) {
            return Ok(CommitTime {
                ms,
                source: "timestamp",
            });
        }
        return Err("its commitInfo has neither inCommitTimestamp nor timestamp".to_owned());
    }
    Err("it has no commitInfo action".to_owned())
}

/// Reads and dates one commit. `Ok(Err(reason))`: the commit is there but cannot be dated.
pub(crate) async fn read_commit_time(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Result<CommitTime, String>, VerifyError> {
    let o = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => o,
        Err(e) => {
            return match kit::classify("GetObject", e) {
                AwsFailure::Service(s) if s.is("NoSuchKey") => {
                    Ok(Err("it is not in the snapshot".to_owned()))
                }
                other => Err(other.into()),
            };
        }
    };
    let len = o.content_length();
    // Under the SDK's operation deadline, like every small body a step reads whole.
    let deadline = kit::clients::body_deadline(s3.config().timeout_config());
    let bytes = match kit::body::read_capped(o.body, len, MAX_COMMIT_BYTES, deadline).await {
        Ok(b) => b,
        Err(kit::body::CappedReadError::TooLarge { limit }) => {
            return Ok(Err(format!("it is larger than {limit} bytes")));
        }
        Err(kit::body::CappedReadError::Stream(e)) => {
            return Err(VerifyError::Transient(kit::Transient {
                operation: "GetObject".into(),
                detail: format!("reading s3://{bucket}/{key}: {e}"),
            }));
        }
    };
    Ok(commit_time(&String::from_utf8_lossy(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_commit_timestamp_wins_over_the_writer_clock() {
        let t = commit_time(
            "{\"commitInfo\":{\"timestamp\":5,\"inCommitTimestamp\":7}}\n{\"add\":{}}\n",
        )
        .unwrap();
        assert_eq!(
            t,
            CommitTime {
                ms: 7,
                source: "inCommitTimestamp"
            }
        );
        let t =
            commit_time("{\"add\":{\"path\":\"commitInfo\"}}\n{\"commitInfo\":{\"timestamp\":5}}")
                .unwrap();
        assert_eq!(
            t,
            CommitTime {
                ms: 5,
                source: "timestamp"
            }
        );
        assert!(commit_time("{\"add\":{}}").is_err());
        assert!(commit_time("{\"commitInfo\":{}}").is_err());
    }
}
