//! Where a restored table goes. S3 Batch Operations' copy keeps each object's key and can only
//! put a folder in front of it (`TargetKeyPrefix` `q` turns key `k` into `q/k`), so a table whose
//! root in the snapshot is `T` can be restored to any root `Q + T`, and nowhere else.

use kit::InvalidInput;
use kit::validate::{self, quote};

/// A table root or target prefix as given: `events`, `events/`, `/events/` → `events/`;
/// `""`, `.`, `/` → `""` (the bucket's root).
pub fn normalise_root(path: &str, raw: &str) -> Result<String, InvalidInput> {
    validate::check_key_prefix(path, raw)?;
    let trimmed = raw.trim_start_matches('/');
    if trimmed.is_empty() || trimmed == "." || trimmed == "./" {
        return Ok(String::new());
    }
    if trimmed.contains("//") {
        return Err(InvalidInput::new(
            path,
            format!("{} has an empty path segment (`//`)", quote(raw)),
        ));
    }
    if trimmed.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(InvalidInput::new(
            path,
            format!(
                "{} has a `.` or `..` segment; S3 keys are not paths: give the prefix as it is",
                quote(raw)
            ),
        ));
    }
    Ok(if trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    })
}

/// The job's `TargetKeyPrefix` that puts the table at `target_root`, or the reason there is
/// none. `table_root` and `target_root` are normalised.
pub fn target_key_prefix(
    table_root: &str,
    target_root: &str,
) -> Result<Option<String>, InvalidInput> {
    let fits = target_root
        .strip_suffix(table_root)
        .filter(|q| q.is_empty() || q.ends_with('/'));
    match fits {
        Some("") => Ok(None),
        Some(q) => Ok(Some(q.trim_end_matches('/').to_owned())),
        None => Err(InvalidInput::new(
            "$.target.prefix",
            format!(
                "the table's root in the snapshot is {}, so its copy can only land at a prefix \
                 that ends with it: S3 Batch Operations keeps each key and can only put a folder \
                 in front of it (TargetKeyPrefix). Use a target prefix of {} or <folder>/{}",
                quote(if table_root.is_empty() {
                    "(the bucket root)"
                } else {
                    table_root
                }),
                quote(if table_root.is_empty() {
                    "(the bucket root)"
                } else {
                    table_root
                }),
                table_root,
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_normalised() {
        for (raw, want) in [
            ("events", "events/"),
            ("events/", "events/"),
            ("/tables/events", "tables/events/"),
            ("", ""),
            (".", ""),
            ("/", ""),
        ] {
            assert_eq!(normalise_root("$.table", raw).unwrap(), want, "{raw:?}");
        }
        for bad in ["a//b", "a/../b", "./a", "a/.", "a\nb"] {
            assert!(normalise_root("$.table", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_target_takes_a_folder_in_front_of_the_table_root() {
        assert_eq!(target_key_prefix("events/", "events/").unwrap(), None);
        assert_eq!(
            target_key_prefix("events/", "restored/v7/events/").unwrap(),
            Some("restored/v7".to_owned())
        );
        assert_eq!(
            target_key_prefix("", "restored/").unwrap(),
            Some("restored".to_owned())
        );
        assert_eq!(target_key_prefix("", "").unwrap(), None);
    }

    #[test]
    fn a_target_that_would_rename_the_table_is_refused_with_the_ones_that_work() {
        for bad in ["other/", "oldevents/", "events/x/", ""] {
            let e = target_key_prefix("events/", bad).unwrap_err();
            assert_eq!(e.path, "$.target.prefix");
            assert!(e.message.contains("<folder>/events/"), "{}", e.message);
        }
    }
}
