//! Reading the oversize manifest (pure: bytes in, keys out).
//!
//! audit-report writes `lakevault-oversize.csv` as a Batch Operations CSV manifest: one
//! `Bucket,Key` line per oversize task, `\n`-terminated, no header, the key URL-encoded with
//! everything but letters, digits, `-_.~/` as `%XX` (commas, quotes and spaces included, so no
//! line needs CSV quoting). [`decode_key`] is its inverse, and also reads `+` as a space, as
//! Batch Operations and S3's own reports do (audit-report writes a literal `+` as `%2B`, so the
//! two readings agree on everything it writes).
//!
//! kit has no decoder of its own: audit-report's (`audit_report::core::decode_key`) is lossy
//! (it turns bytes that are not UTF-8 into U+FFFD, fine for a sample in a record), and
//! local-inventory's is local-only. A key that does not decode exactly must stop this step:
//! a key guessed at would copy another object or none.

use std::collections::HashSet;

use plan_large_copy::layout::MAX_KEY_BYTES;

/// Why the manifest cannot be listed: the reason of a `ManifestInvalid`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestProblem {
    /// The manifest's ETag is not the one the audit recorded (S3's 412 to `If-Match`, or
    /// another ETag in the answer).
    #[error(
        "it changed since the audit wrote it (the audit recorded ETag {expected}{}): re-run \
         AuditReport for this job and list its new oversize_manifest",
        .found.as_ref().map(|f| format!(", S3 has {f}")).unwrap_or_default()
    )]
    Changed {
        /// The ETag in the audit record.
        expected: String,
        /// The ETag S3 answered with, when it said.
        found: Option<String>,
    },
    /// The manifest does not exist (deleted, expired by a lifecycle rule, or its bucket gone).
    #[error(
        "it does not exist (deleted or expired since the audit?): re-run AuditReport for this job"
    )]
    Missing,
    /// The manifest is longer than this step reads.
    #[error(
        "it is larger than {limit} bytes, more than this step reads: copy its objects with a \
         Batch Operations job instead"
    )]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// A line is not a `Bucket,Key` line of the source bucket.
    #[error("line {line}: {problem}")]
    Line {
        /// The line's number, from 1.
        line: u64,
        /// What is wrong with it.
        problem: LineProblem,
    },
    /// The manifest's line count is not the audit's.
    #[error(
        "it has {lines} line(s) but the audit recorded {objects} object(s): it is not the \
         manifest the audit wrote; re-run AuditReport for this job"
    )]
    Count {
        /// Lines read.
        lines: u64,
        /// `oversize_manifest.objects`.
        objects: u64,
    },
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// Nothing on it (only the last line may end the file empty).
    #[error("it is empty")]
    Empty,
    /// No comma: no key.
    #[error("it has no key (a line is Bucket,Key)")]
    NoKey,
    /// A third field (a version id): audit-report writes none.
    #[error("it has more than two fields (a line is Bucket,Key; the key's commas are %2C)")]
    ExtraField,
    /// The bucket is not the source bucket.
    #[error("bucket {bucket:?} is not the source bucket {expected:?}")]
    OtherBucket {
        /// The line's bucket (at most 64 characters).
        bucket: String,
        /// The event's source bucket.
        expected: String,
    },
    /// The key does not decode.
    #[error("the key {key:?} {problem}")]
    Key {
        /// The key as written (at most 64 characters).
        key: String,
        /// Why it does not decode.
        problem: KeyProblem,
    },
}

/// Why an encoded key does not decode to an S3 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// Nothing after the comma.
    #[error("is empty")]
    Empty,
    /// A byte that URL encoding never leaves as it is (a space, a quote, a control character,
    /// a byte over 0x7E).
    #[error("holds byte 0x{byte:02X} at {position}, which a URL-encoded key cannot")]
    NotEncoded {
        /// The byte.
        byte: u8,
        /// Its offset in the encoded key, from 0.
        position: usize,
    },
    /// A `%` not followed by two hex digits.
    #[error("has a malformed escape at {position} (% must be followed by two hex digits)")]
    BadEscape {
        /// The `%`'s offset in the encoded key, from 0.
        position: usize,
    },
    /// The decoded bytes are not UTF-8 (S3 keys are).
    #[error("does not decode to UTF-8")]
    NotUtf8,
    /// Decoded, longer than an S3 key.
    #[error("decodes to {bytes} bytes; an S3 key has at most {MAX_KEY_BYTES}")]
    TooLong {
        /// The decoded key's length.
        bytes: usize,
    },
}

/// At most 64 characters of text read from the manifest, for a message.
fn short(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(64).collect()
}

/// An encoded key from the manifest as S3 names it: `%XX` is the byte `XX`, `+` a space, any
/// other visible ASCII character itself but `"` (it would be CSV quoting). Strict: anything
/// else is an error rather than a guess.
pub fn decode_key(encoded: &[u8]) -> Result<String, KeyProblem> {
    if encoded.is_empty() {
        return Err(KeyProblem::Empty);
    }
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while let Some(&b) = encoded.get(i) {
        match b {
            b'%' => {
                let hex = |j: usize| encoded.get(j).and_then(|c| char::from(*c).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(h), Some(l)) => {
                        // Two hex digits: at most 0xFF.
                        out.push(u8::try_from(h * 16 + l).unwrap_or(u8::MAX));
                        i += 3;
                        continue;
                    }
                    _ => return Err(KeyProblem::BadEscape { position: i }),
                }
            }
            b'+' => out.push(b' '),
            b'!'..=b'~' if b != b'"' => out.push(b),
            _ => {
                return Err(KeyProblem::NotEncoded {
                    byte: b,
                    position: i,
                });
            }
        }
        i += 1;
    }
    if out.len() > MAX_KEY_BYTES {
        return Err(KeyProblem::TooLong { bytes: out.len() });
    }
    String::from_utf8(out).map_err(|_| KeyProblem::NotUtf8)
}

/// A manifest read: its keys, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Lines read (one per task the audit counted, duplicates included).
    pub lines: u64,
    /// The distinct keys, in the order of their first line.
    pub keys: Vec<String>,
}

/// Reads a manifest: every line `source_bucket,<URL-encoded key>`, `\n` or `\r\n` ended (the
/// last line's end optional). The first bad line stops it, named by its number.
pub fn parse(body: &[u8], source_bucket: &str) -> Result<Parsed, ManifestProblem> {
    let mut lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    // The final `\n` ends the last line; it does not start an empty one.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut seen = HashSet::with_capacity(lines.len());
    let mut keys = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let number = n as u64 + 1;
        let fail = |problem| ManifestProblem::Line {
            line: number,
            problem,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(fail(LineProblem::Empty));
        }
        let comma = line
            .iter()
            .position(|b| *b == b',')
            .ok_or_else(|| fail(LineProblem::NoKey))?;
        let (bucket, encoded) = (&line[..comma], &line[comma + 1..]);
        if encoded.contains(&b',') {
            return Err(fail(LineProblem::ExtraField));
        }
        if bucket != source_bucket.as_bytes() {
            return Err(fail(LineProblem::OtherBucket {
                bucket: short(bucket),
                expected: source_bucket.to_owned(),
            }));
        }
        let key = decode_key(encoded).map_err(|problem| {
            fail(LineProblem::Key {
                key: short(encoded),
                problem,
            })
        })?;
        if seen.insert(key.clone()) {
            keys.push(key);
        }
    }
    Ok(Parsed {
        lines: lines.len() as u64,
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_exactly() {
        assert_eq!(
            decode_key(b"a%20b+c%2B%25%3D%C3%A9/x.bin").unwrap(),
            "a b c+%=é/x.bin"
        );
        assert_eq!(decode_key(b"%2c%2C").unwrap(), ",,");
        assert_eq!(decode_key(b"k*!=~'").unwrap(), "k*!=~'");
        assert_eq!(decode_key(b"").unwrap_err(), KeyProblem::Empty);
        for (bad, position) in [(&b"%"[..], 0), (b"ab%4", 2), (b"%G1", 0), (b"x%%41", 1)] {
            assert_eq!(
                decode_key(bad).unwrap_err(),
                KeyProblem::BadEscape { position },
                "{bad:?}"
            );
        }
        assert_eq!(
            decode_key(b"a b").unwrap_err(),
            KeyProblem::NotEncoded {
                byte: b' ',
                position: 1
            }
        );
        assert!(matches!(
            decode_key("é".as_bytes()).unwrap_err(),
            KeyProblem::NotEncoded { byte: 0xC3, .. }
        ));
        assert!(matches!(
            decode_key(b"\"k\"").unwrap_err(),
            KeyProblem::NotEncoded { byte: b'"', .. }
        ));
        assert_eq!(decode_key(b"%FF").unwrap_err(), KeyProblem::NotUtf8);
        assert_eq!(decode_key(&[b'k'; 1024]).unwrap().len(), 1024);
        assert_eq!(
            decode_key(&[b'k'; 1025]).unwrap_err(),
            KeyProblem::TooLong { bytes: 1025 }
        );
    }

    #[test]
    fn lines_with_either_ending_and_duplicates() {
        let p = parse(b"src,a\nsrc,b%20c\r\nsrc,a\nsrc,d", "src").unwrap();
        assert_eq!(p.lines, 4);
        assert_eq!(p.keys, ["a", "b c", "d"]);
        let p = parse(b"src,a\r\n", "src").unwrap();
        assert_eq!((p.lines, p.keys.len()), (1, 1));
        assert_eq!(parse(b"", "src").unwrap().lines, 0);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let line = |body: &[u8]| match parse(body, "src") {
            Err(ManifestProblem::Line { line, problem }) => (line, problem),
            other => panic!("{other:?}"),
        };
        assert_eq!(line(b"src,a\n\nsrc,b\n"), (2, LineProblem::Empty));
        assert_eq!(line(b"src,a\n\n"), (2, LineProblem::Empty));
        assert_eq!(line(b"src,a\nsrc\n"), (2, LineProblem::NoKey));
        assert_eq!(line(b"src,a,v1\n"), (1, LineProblem::ExtraField));
        assert_eq!(
            line(b"src,a\nsrc,b\nother,c\n"),
            (
                3,
                LineProblem::OtherBucket {
                    bucket: "other".into(),
                    expected: "src".into()
                }
            )
        );
        // No trimming: the bucket is compared as written.
        assert!(matches!(
            line(b" src,a"),
            (1, LineProblem::OtherBucket { .. })
        ));
        assert!(matches!(
            line(b"src,ok\nsrc,bad%zz"),
            (
                2,
                LineProblem::Key {
                    problem: KeyProblem::BadEscape { position: 3 },
                    ..
                }
            )
        ));
        assert!(matches!(line(b"src,"), (1, LineProblem::Key { .. })));
        let e = parse(b"src,a\nother,b\n", "src").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: bucket \"other\" is not the source bucket \"src\""
        );
    }

    #[test]
    fn messages_cut_what_they_quote() {
        let long = format!("src,{}%zz", "k".repeat(5000));
        let e = parse(long.as_bytes(), "src").unwrap_err();
        assert!(e.to_string().len() < 300, "{e}");
    }
}
