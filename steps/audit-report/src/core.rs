//! The audit core: pure, synchronous and streaming, so it runs the same over an S3 body (through
//! a sync bridge) and over a local file (the benchmark).
//!
//! One pass per result file: the bytes flow through an MD5-hashing reader into a CSV reader that
//! reuses one [`csv::ByteRecord`], so memory does not depend on the report's size. Succeeded rows
//! cost a comparison and a counter; only failed rows are decoded and classified.

use std::io::{self, Read, Write};

use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};
use serde::Deserialize;

pub use kit::record::{ClassSummary, FailureClass, Failures};

use crate::rowcap::{MAX_ROW_BYTES, OVERLONG_MARKER, RowCap};

/// Keys kept per failure class: enough to investigate, small enough for a Step Functions payload.
pub const SAMPLE_LIMIT: usize = 10;
/// Distinct error codes counted per class; the rest are folded into [`OTHER_CODES`].
const CODE_LIMIT: usize = 16;
/// The bucket of codes beyond [`CODE_LIMIT`].
const OTHER_CODES: &str = "(other codes)";
/// Longest sample key or message kept, in characters.
const TEXT_LIMIT: usize = 512;
/// Rows that could not be read, kept as samples.
const UNPARSED_SAMPLES: usize = 5;

/// The only signal AWS gives for a copy source over 5 GiB is this message (with `InvalidRequest`/400).
const OVERSIZE_TEXT: &[u8] = b"copy source is larger than the maximum allowable size";

/// The only completion report format S3 Batch Operations writes.
pub const REPORT_FORMAT: &str = "Report_CSV_20180820";

/// Characters left as they are in a Batch Operations manifest key; everything else is
/// percent-encoded (commas included, so a line needs no CSV quoting).
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// A completion report's `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReportManifest {
    /// `Report_CSV_20180820`.
    #[serde(rename = "Format")]
    pub format: String,
    /// When S3 wrote the report (ISO 8601).
    #[serde(rename = "ReportCreationDate", default)]
    pub report_creation_date: Option<String>,
    /// The result files.
    #[serde(rename = "Results")]
    pub results: Vec<ResultFile>,
    /// The documented column order (AWS's own rows do not always follow it).
    #[serde(rename = "ReportSchema", default)]
    pub report_schema: Option<String>,
}

/// One result file listed in a report manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ResultFile {
    /// `succeeded` or `failed`: which tasks the file holds.
    #[serde(rename = "TaskExecutionStatus", default)]
    pub task_execution_status: String,
    /// The bucket (name or ARN) holding the file.
    #[serde(rename = "Bucket")]
    pub bucket: String,
    /// Hex MD5 of the file's bytes.
    #[serde(rename = "MD5Checksum")]
    pub md5_checksum: String,
    /// The file's object key.
    #[serde(rename = "Key")]
    pub key: String,
}

impl ResultFile {
    /// The bucket name, whether the manifest gave a name or an ARN (`None`: neither).
    pub fn bucket_name(&self) -> Option<&str> {
        bucket_name(&self.bucket)
    }
}

/// `arn:<partition>:s3:::name` → `name`; a plain bucket name unchanged; anything else (another
/// service's ARN, an object ARN, a malformed name) → `None`.
pub fn bucket_name(s: &str) -> Option<&str> {
    let name = match s.strip_prefix("arn:") {
        Some(rest) => {
            let (partition, rest) = rest.split_once(':')?;
            kit::validate::Partition::parse(partition)?;
            rest.strip_prefix("s3:::")?
        }
        None => s,
    };
    kit::validate::bucket_name_problem(name)
        .is_none()
        .then_some(name)
}

/// What is wrong with a completion report: the reason of a `ReportInvalid`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportProblem {
    /// manifest.json does not parse as a completion report manifest.
    #[error("manifest.json is not a completion report manifest: {detail}")]
    NotAManifest {
        /// The parser's complaint.
        detail: String,
    },
    /// manifest.json is larger than any completion report manifest.
    #[error("manifest.json is longer than {limit} bytes: not a completion report manifest")]
    ManifestTooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// A format other than the one S3 Batch Operations writes.
    #[error("manifest.json has Format {format:?}; only {REPORT_FORMAT} is understood")]
    Format {
        /// The manifest's `Format` (at most 64 characters).
        format: String,
    },
    /// A result file entry without a usable bucket or key.
    #[error("Results[{index}] names no bucket or key")]
    ResultUnnamed {
        /// Its index in `Results`.
        index: usize,
    },
    /// A result file entry whose MD5 is not 32 hex digits.
    #[error("Results[{index}] ({key}) has MD5Checksum {md5:?}, not 32 hex digits")]
    ResultChecksum {
        /// Its index in `Results`.
        index: usize,
        /// Its key.
        key: String,
        /// Its `MD5Checksum` (at most 64 characters).
        md5: String,
    },
    /// A result file the manifest lists is not there.
    #[error("the manifest lists this result file but it does not exist")]
    ResultMissing,
    /// A result file's bytes are not the ones the manifest describes.
    #[error("its MD5 is {actual} over {bytes} bytes but the manifest says {expected}")]
    Md5Mismatch {
        /// From the manifest.
        expected: String,
        /// Of the bytes read.
        actual: String,
        /// Bytes read.
        bytes: u64,
    },
}

/// At most 64 characters of a value read from the report, for a message.
fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Parses and checks a report manifest.
pub fn parse_manifest(bytes: &[u8]) -> Result<ReportManifest, ReportProblem> {
    let m: ReportManifest =
        serde_json::from_slice(bytes).map_err(|e| ReportProblem::NotAManifest {
            detail: e.to_string(),
        })?;
    if m.format != REPORT_FORMAT {
        return Err(ReportProblem::Format {
            format: short(&m.format),
        });
    }
    for (i, f) in m.results.iter().enumerate() {
        if f.key.is_empty() || f.bucket_name().is_none() {
            return Err(ReportProblem::ResultUnnamed { index: i });
        }
        if f.md5_checksum.len() != 32 || !f.md5_checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReportProblem::ResultChecksum {
                index: i,
                key: short(&f.key),
                md5: short(&f.md5_checksum),
            });
        }
    }
    Ok(m)
}

/// Classifies one failed task: error code and HTTP status first; the message only for the one
/// case where AWS gives no other signal (the 5 GiB copy-source limit).
pub fn classify(code: Option<&str>, status: Option<u16>, message: &[u8]) -> FailureClass {
    let code = code.unwrap_or("");
    if (code.is_empty() || code == "InvalidRequest")
        && matches!(status, None | Some(400))
        && contains_ignore_ascii_case(message, OVERSIZE_TEXT)
    {
        return FailureClass::Oversize;
    }
    if code == "NoSuchKey"
        || code == "NoSuchVersion"
        || (status == Some(404) && code != "NoSuchBucket")
    {
        return FailureClass::SourceMissing;
    }
    if matches!(
        code,
        "AccessDenied" | "AccessDeniedException" | "AllAccessDisabled" | "Forbidden"
    ) || status == Some(403)
    {
        return FailureClass::AccessDenied;
    }
    if kit::error::is_transient_code(code)
        || matches!(code, "RequestTimeout" | "RequestTimeTooSkewed" | "SlowDown")
        || status == Some(429)
        || status.is_some_and(|s| s >= 500)
    {
        return FailureClass::Transient;
    }
    FailureClass::Other
}

fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Running totals over every result file of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Rows read (tasks).
    pub rows: u64,
    /// Tasks that succeeded.
    pub succeeded: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Rows that are not a task result (too few columns, unknown status).
    pub unparsed: u64,
    /// A few of those rows, shortened.
    pub unparsed_samples: Vec<String>,
    /// Failed tasks by class.
    pub failures: Failures,
    /// Bytes of result files read.
    pub bytes: u64,
    /// The row cap in bytes; 0 means [`MAX_ROW_BYTES`] (tests lower it).
    pub row_limit: usize,
}

impl Tally {
    /// The row cap in force.
    fn max_row_bytes(&self) -> usize {
        if self.row_limit == 0 {
            MAX_ROW_BYTES
        } else {
            self.row_limit
        }
    }
}

/// What one result file held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStats {
    /// Bytes read (all of them: the MD5 covers the whole file).
    pub bytes: u64,
    /// Rows read.
    pub rows: u64,
    /// Hex MD5 of the bytes.
    pub md5: String,
}

/// Why a result file could not be audited.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the bytes failed (a dropped connection, a full disk for the oversize list).
    #[error("reading the result file failed: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not the ones the manifest describes.
    #[error(
        "MD5 of the result file is {actual}, the manifest says {expected} ({bytes} bytes read)"
    )]
    Md5Mismatch {
        /// From the manifest.
        expected: String,
        /// Of the bytes read.
        actual: String,
        /// Bytes read.
        bytes: u64,
    },
}

/// A reader that hashes and counts what passes through it.
struct HashingReader<R> {
    inner: R,
    md5: Md5,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl Tally {
    /// Streams one result file into the tally, writes each oversize object as a Batch Operations
    /// manifest line (`bucket,url-encoded-key`) to `oversize`, and checks the file's MD5 at EOF.
    /// On an MD5 mismatch the tally has already counted the file's rows: callers treat the whole
    /// report as invalid.
    pub fn read_result_file<R: Read, W: Write>(
        &mut self,
        reader: R,
        expected_md5: &str,
        oversize: &mut W,
    ) -> Result<FileStats, StreamError> {
        let hashing = HashingReader {
            inner: reader,
            md5: Md5::new(),
            bytes: 0,
        };
        // The row cap sits above the hashing reader: the MD5 still covers every byte.
        let capped = RowCap::new(hashing, self.max_row_bytes());
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            // Rows may have fewer columns than the schema (no message, no version column).
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(capped);
        let mut rec = csv::ByteRecord::new();
        let mut rows = 0u64;
        loop {
            match csv.read_byte_record(&mut rec) {
                Ok(true) => {
                    rows += 1;
                    self.row(&rec, oversize)?;
                }
                Ok(false) => break,
                Err(e) => return Err(StreamError::Io(csv_io_error(e))),
            }
        }
        let mut hashing = csv.into_inner().into_inner();
        // The CSV reader stops at EOF already; draining makes "the MD5 covers every byte" hold
        // by construction rather than by the CSV reader's behaviour.
        io::copy(&mut hashing, &mut io::sink())?;
        let actual = hex::encode(hashing.md5.finalize());
        self.bytes += hashing.bytes;
        if !actual.eq_ignore_ascii_case(expected_md5) {
            return Err(StreamError::Md5Mismatch {
                expected: expected_md5.to_owned(),
                actual,
                bytes: hashing.bytes,
            });
        }
        Ok(FileStats {
            bytes: hashing.bytes,
            rows,
            md5: actual,
        })
    }

    fn row<W: Write>(&mut self, rec: &csv::ByteRecord, oversize: &mut W) -> io::Result<()> {
        self.rows += 1;
        if rec.len() > 1 && rec.get(rec.len() - 1) == Some(OVERLONG_MARKER) {
            self.unparsed += 1;
            if self.unparsed_samples.len() < UNPARSED_SAMPLES {
                let head = String::from_utf8_lossy(rec.get(0).unwrap_or_default()).into_owned();
                self.unparsed_samples.push(shorten(
                    &format!("(a row over {} bytes, cut) {head}", self.max_row_bytes()),
                    TEXT_LIMIT,
                ));
            }
            return Ok(());
        }
        let status = rec.get(3).map(trim);
        match status {
            Some(s) if s.eq_ignore_ascii_case(b"succeeded") => {
                self.succeeded += 1;
                return Ok(());
            }
            Some(s) if s.eq_ignore_ascii_case(b"failed") => {}
            _ => {
                self.unparsed += 1;
                if self.unparsed_samples.len() < UNPARSED_SAMPLES {
                    let fields: Vec<String> = rec
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    self.unparsed_samples
                        .push(shorten(&fields.join(","), TEXT_LIMIT));
                }
                return Ok(());
            }
        }
        self.failed += 1;

        // Column-order caveat: AWS documents ErrorCode, HTTPStatusCode but writes them the other
        // way round in its own examples. A 3-digit number is the status, whichever column it is in.
        let mut code: Option<&str> = None;
        let mut http: Option<u16> = None;
        for f in rec.iter().skip(4).take(2).map(trim) {
            if f.len() == 3 && f.iter().all(u8::is_ascii_digit) {
                http = std::str::from_utf8(f).ok().and_then(|s| s.parse().ok());
            } else if !f.is_empty() {
                code = std::str::from_utf8(f).ok();
            }
        }
        let message = rec.get(6).unwrap_or(b"");
        let class = classify(code, http, message);
        let summary = self.failures.get_mut(class);
        summary.count += 1;

        let code_name = match (code, http) {
            (Some(c), _) => c.to_owned(),
            (None, Some(h)) => format!("HTTP {h}"),
            (None, None) => "(none)".to_owned(),
        };
        if summary.error_codes.contains_key(&code_name) || summary.error_codes.len() < CODE_LIMIT {
            *summary.error_codes.entry(code_name).or_default() += 1;
        } else {
            *summary
                .error_codes
                .entry(OTHER_CODES.to_owned())
                .or_default() += 1;
        }

        let raw_key = rec.get(1).unwrap_or(b"");
        if summary.sample_keys.len() < SAMPLE_LIMIT {
            summary
                .sample_keys
                .push(shorten(&decode_key(raw_key), TEXT_LIMIT));
        }
        if summary.sample_message.is_none() && !message.is_empty() {
            summary.sample_message = Some(shorten(&String::from_utf8_lossy(message), TEXT_LIMIT));
        }
        if class == FailureClass::Oversize {
            let bucket = rec.get(0).map(trim).unwrap_or(b"");
            oversize.write_all(bucket)?;
            oversize.write_all(b",")?;
            write!(oversize, "{}", encode_key(&decode_key(raw_key)))?;
            oversize.write_all(b"\n")?;
        }
        Ok(())
    }
}

fn csv_io_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        // With byte records and flexible rows only I/O can fail; keep any other kind readable.
        other => io::Error::other(format!("{other:?}")),
    }
}

fn trim(f: &[u8]) -> &[u8] {
    f.trim_ascii()
}

/// A report key as the object's real name: URL-decoded, `+` as a space (S3 encodes spaces so).
pub fn decode_key(raw: &[u8]) -> String {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8_lossy(&percent_decode(&plus_as_space).collect::<Vec<u8>>()).into_owned()
}

/// A key as a Batch Operations CSV manifest wants it: URL-encoded (commas and spaces included).
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY_ENCODE).to_string()
}

/// At most `limit` characters, cut on a character boundary, with an ellipsis when cut.
pub fn shorten(s: &str, limit: usize) -> String {
    match s.char_indices().nth(limit) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_hex(b: &[u8]) -> String {
        hex::encode(Md5::digest(b))
    }

    fn audit(csv: &str) -> (Tally, String) {
        let mut t = Tally::default();
        let mut out = Vec::new();
        t.read_result_file(csv.as_bytes(), &md5_hex(csv.as_bytes()), &mut out)
            .unwrap();
        (t, String::from_utf8(out).unwrap())
    }

    #[test]
    fn classes_in_both_column_orders() {
        let csv = "\
src,ok.parquet,,succeeded,200,,Successful
src,big.bin,,failed,400,InvalidRequest,\"The specified copy source is larger than the maximum allowable size for a copy source: 5368709120\"
src,gone.parquet,,failed,NoSuchKey,404,\"The specified key does not exist.\"
src,denied,,failed,403,AccessDenied,Access Denied
src,slow,,failed,SlowDown,503,Please reduce your request rate.
src,cold,,failed,InvalidObjectState,403x,archived
src,nomsg,,failed,500
";
        let (t, out) = audit(csv);
        assert_eq!((t.rows, t.succeeded, t.failed, t.unparsed), (7, 1, 6, 0));
        assert_eq!(t.failures.oversize.sample_keys, ["big.bin"]);
        assert_eq!(t.failures.source_missing.sample_keys, ["gone.parquet"]);
        assert_eq!(t.failures.access_denied.sample_keys, ["denied"]);
        assert_eq!(t.failures.transient.sample_keys, ["slow", "nomsg"]);
        assert_eq!(t.failures.other.sample_keys, ["cold"]);
        assert_eq!(t.failures.transient.error_codes["SlowDown"], 1);
        assert_eq!(t.failures.transient.error_codes["HTTP 500"], 1);
        assert_eq!(out, "src,big.bin\n");
    }

    #[test]
    fn odd_keys_are_decoded_and_reencoded() {
        // A quoted key with a comma, an escaped quote and a newline; `+` and %20 are spaces.
        let csv = "src,\"a,b\"\"c\nd+e%20f%2B%C3%A9.parquet\",,failed,InvalidRequest,400,\"copy source is larger than the maximum allowable size, \"\"really\"\"\"\n";
        let (t, out) = audit(csv);
        assert_eq!(t.failures.oversize.sample_keys, ["a,b\"c\nd e f+é.parquet"]);
        assert_eq!(out, "src,a%2Cb%22c%0Ad%20e%20f%2B%C3%A9.parquet\n");
        assert_eq!(decode_key(b"x%2Fy+z"), "x/y z");
    }

    #[test]
    fn short_and_unknown_rows_are_counted_not_fatal() {
        let (t, _) = audit("src,k\nsrc,k,,weird,200\nsrc,k,,failed\n\n");
        assert_eq!((t.rows, t.failed, t.unparsed), (3, 1, 2));
        assert_eq!(t.failures.other.count, 1);
        assert_eq!(t.unparsed_samples.len(), 2);
    }

    #[test]
    fn an_over_long_row_is_unparsed_and_the_next_row_is_read() {
        let body = format!(
            "src,{},,succeeded,200,,ok\nsrc,k2,,failed,404,NoSuchKey,gone\nsrc,k3,,succeeded,200,,ok\n",
            "x".repeat(5000)
        );
        let mut t = Tally {
            row_limit: 1000,
            ..Tally::default()
        };
        let md5 = hex::encode(Md5::digest(body.as_bytes()));
        let stats = t
            .read_result_file(body.as_bytes(), &md5, &mut io::sink())
            .unwrap();
        // The MD5 covers every byte, the cut row included.
        assert_eq!(stats.bytes, body.len() as u64);
        assert_eq!((t.rows, t.succeeded, t.failed, t.unparsed), (3, 1, 1, 1));
        assert_eq!(t.failures.source_missing.count, 1);
        assert!(
            t.unparsed_samples[0].contains("over 1000 bytes"),
            "{:?}",
            t.unparsed_samples
        );
    }

    #[test]
    fn md5_mismatch_is_reported() {
        let mut t = Tally::default();
        let err = t
            .read_result_file(
                &b"src,k,,succeeded,200,,ok\n"[..],
                &"0".repeat(32),
                &mut io::sink(),
            )
            .unwrap_err();
        assert!(
            matches!(err, StreamError::Md5Mismatch { bytes: 25, .. }),
            "{err}"
        );
    }

    #[test]
    fn samples_and_codes_are_bounded() {
        let mut csv = String::new();
        for i in 0..100 {
            csv.push_str(&format!("src,k{i},,failed,Code{i},409,m\n"));
        }
        let (t, _) = audit(&csv);
        let other = &t.failures.other;
        assert_eq!(other.count, 100);
        assert_eq!(other.sample_keys.len(), SAMPLE_LIMIT);
        assert_eq!(other.error_codes.len(), CODE_LIMIT + 1);
        assert_eq!(other.error_codes[OTHER_CODES], 100 - CODE_LIMIT as u64);
    }

    #[test]
    fn manifest_is_checked() {
        let good = br#"{"Format":"Report_CSV_20180820","ReportCreationDate":"2019-04-05T17:48:39.725Z",
            "Results":[{"TaskExecutionStatus":"failed","Bucket":"arn:aws:s3:::reports","MD5Checksum":"83b1c4cbe93fc893f54053697e10fd6e","Key":"p/job-1/results/a.csv"}],
            "ReportSchema":"Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}"#;
        let m = parse_manifest(good).unwrap();
        assert_eq!(m.results[0].bucket_name(), Some("reports"));
        assert!(matches!(
            parse_manifest(b"{"),
            Err(ReportProblem::NotAManifest { .. })
        ));
        let bad_md5 = String::from_utf8_lossy(good).replace("83b1c4cb", "zz");
        assert!(matches!(
            parse_manifest(bad_md5.as_bytes()),
            Err(ReportProblem::ResultChecksum { index: 0, .. })
        ));
        let other_format = String::from_utf8_lossy(good).replace("Report_CSV_20180820", "X");
        assert!(matches!(
            parse_manifest(other_format.as_bytes()),
            Err(ReportProblem::Format { ref format }) if format == "X"
        ));
        let sns =
            String::from_utf8_lossy(good).replace("arn:aws:s3:::reports", "arn:aws:sns:::reports");
        assert!(matches!(
            parse_manifest(sns.as_bytes()),
            Err(ReportProblem::ResultUnnamed { index: 0 })
        ));
    }

    #[test]
    fn shorten_cuts_on_char_boundaries() {
        assert_eq!(shorten("ééé", 2), "éé…");
        assert_eq!(shorten("ab", 2), "ab");
    }
}
