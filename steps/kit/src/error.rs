//! Errors as API: every failure leaves a step as a stable `errorType`.
//!
//! Step Functions matches `Retry`/`Catch` on the `errorType` a Lambda function reports, so that
//! name is part of the contract. Each step defines one `thiserror` enum whose **variant names are
//! its errorTypes** (derived with `strum`, never a Rust type name), and implements [`StepError`].
//! The shared kinds every step can emit live here: [`InvalidInput`], [`Transient`],
//! [`AccessDenied`].

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

/// errorTypes the entry point itself can emit: `InvalidInput` (the event does not parse),
/// `ConfigurationError` (the step cannot start), `InternalError` (its output does not serialise).
pub const ENTRY_ERROR_TYPES: &[&str] = &["InvalidInput", "ConfigurationError", "InternalError"];

/// A step's error enum: one variant per errorType.
pub trait StepError: StdError + Send + Sync + 'static {
    /// The stable errorType of this value (the variant name).
    fn error_type(&self) -> &'static str;

    /// Every errorType this enum can produce (its variant names).
    fn error_types() -> &'static [&'static str];

    /// The value as the Lambda runtime reports it.
    fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic {
            error_type: self.error_type().to_owned(),
            error_message: self.to_string(),
        }
    }
}

/// Implements [`StepError`] for an error enum that derives `strum::IntoStaticStr` and
/// `strum::VariantNames` (its variant names are its errorTypes). With `service => Variant`, also
/// `From<AwsFailure>`: into the enum's `Transient` and `AccessDenied` variants, and a
/// [`ServiceFailure`] into `Variant`.
#[macro_export]
macro_rules! step_error {
    ($ty:ty) => {
        impl $crate::StepError for $ty {
            fn error_type(&self) -> &'static str {
                self.into()
            }
            fn error_types() -> &'static [&'static str] {
                <Self as $crate::strum::VariantNames>::VARIANTS
            }
        }
    };
    ($ty:ty, service => $variant:ident) => {
        $crate::step_error!($ty);
        impl From<$crate::AwsFailure> for $ty {
            fn from(f: $crate::AwsFailure) -> Self {
                match f {
                    $crate::AwsFailure::Transient(t) => Self::Transient(t),
                    $crate::AwsFailure::AccessDenied(a) => Self::AccessDenied(a),
                    $crate::AwsFailure::Service(s) => Self::$variant(s),
                }
            }
        }
    };
}

/// The event did not match the step's contract. `path` is the JSON path of the offending field
/// (`$.inventory.bucket`), `$` for the whole document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input at {path}: {message}")]
pub struct InvalidInput {
    /// JSON path of the offending field.
    pub path: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl InvalidInput {
    /// An invalid field at `path` (a JSON path such as `$.backup_date`).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Reports a serde failure with the path of the field where it happened, in JSON words (no
    /// Rust type names) and with any quoted value cut short.
    pub fn from_serde(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = json_path(&err.path().to_string());
        Self::new(path, readable_serde_message(&err.into_inner().to_string()))
    }
}

/// `$`-rooted JSON path from serde_path_to_error's (`inventory.bucket`, `[0]`, `.`), cut to
/// [`PATH_LIMIT`] characters. serde_path_to_error writes `?` for a place it cannot name.
pub fn json_path(p: &str) -> String {
    let path = if p == "." || p.is_empty() || p == "?" {
        "$".to_owned()
    } else if p.starts_with('[') {
        format!("${p}")
    } else {
        format!("$.{p}")
    };
    json_path_cut(&path)
}

/// The longest JSON path an error names: a deep document or a megabyte key must not make a
/// megabyte message.
pub const PATH_LIMIT: usize = 128;

/// `path` cut to [`PATH_LIMIT`] characters (`…` marks the cut).
pub fn json_path_cut(path: &str) -> String {
    if path.chars().count() <= PATH_LIMIT {
        path.to_owned()
    } else {
        let mut s: String = path.chars().take(PATH_LIMIT).collect();
        s.push('…');
        s
    }
}

/// The longest message an `InvalidInput` built from a serde error carries.
const SERDE_MESSAGE_LIMIT: usize = 400;

/// serde's message for a JSON reader: Rust type names become JSON words (`expected struct
/// Input` → `expected a JSON object`, `expected i64` → `expected an integer`), and every quoted
/// value longer than [`crate::validate::QUOTE_LIMIT`] characters is cut, so a megabyte string in
/// the event does not come back as a megabyte errorMessage.
pub fn readable_serde_message(msg: &str) -> String {
    let cut = cut_quoted(msg);
    let mut out = String::with_capacity(cut.len());
    let mut words = cut.split(' ').peekable();
    let mut prev = "";
    while let Some(w) = words.next() {
        let (word, tail) = split_punct(w);
        let replaced = match (prev, word) {
            ("expected", "struct") | ("expected", "map") => {
                // Drop the struct's name that follows.
                if word == "struct" {
                    words.next();
                }
                Some("a JSON object".to_owned())
            }
            ("expected", "enum") => {
                words.next();
                Some("one of the allowed values".to_owned())
            }
            (
                "expected",
                "i8" | "i16" | "i32" | "i64" | "isize" | "u8" | "u16" | "u32" | "u64" | "usize",
            ) => Some(format!("an integer{}", integer_range(word))),
            ("expected", "f32" | "f64") => Some("a number".to_owned()),
            ("type:", "map") => Some("object".to_owned()),
            ("type:", "sequence") => Some("array".to_owned()),
            ("a", "sequence") => Some("JSON array".to_owned()),
            ("a", "map") => Some("JSON object".to_owned()),
            _ => None,
        };
        if !out.is_empty() {
            out.push(' ');
        }
        match replaced {
            Some(r) => {
                out.push_str(&r);
                out.push_str(tail);
            }
            None => out.push_str(w),
        }
        prev = word;
    }
    let out = out.replace("a borrowed string", "a string").replace(
        "expected string or map",
        "expected one of the allowed names (a string)",
    );
    if out.chars().count() > SERDE_MESSAGE_LIMIT {
        let mut s: String = out.chars().take(SERDE_MESSAGE_LIMIT).collect();
        s.push('…');
        s
    } else {
        out
    }
}

fn integer_range(rust_type: &str) -> &'static str {
    match rust_type {
        "u8" => " from 0 to 255",
        "u16" => " from 0 to 65535",
        "u32" => " from 0 to 4294967295",
        "i32" => " from -2147483648 to 2147483647",
        "u64" | "usize" => " from 0 to 18446744073709551615",
        "i64" => " from -9223372036854775808 to 9223372036854775807",
        _ => "",
    }
}

/// `word,` → (`word`, `,`): trailing punctuation kept apart from the word.
fn split_punct(w: &str) -> (&str, &str) {
    let end = w.trim_end_matches([',', '.', ';', ':']).len();
    // "type:" keeps its colon: it is matched as a word.
    if w.ends_with(':') && w.len() > 1 && &w[..w.len() - 1] == "type" {
        return (w, "");
    }
    (&w[..end], &w[end..])
}

/// Cuts every run between a pair of `"` or `` ` `` longer than the quote limit.
fn cut_quoted(msg: &str) -> String {
    let limit = crate::validate::QUOTE_LIMIT;
    let mut out = String::with_capacity(msg.len().min(4096));
    let mut chars = msg.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' && c != '`' {
            continue;
        }
        let mut run = 0usize;
        let mut cut = false;
        while let Some(&n) = chars.peek() {
            if n == c {
                break;
            }
            chars.next();
            run += 1;
            if run <= limit {
                out.push(n);
            } else if !cut {
                out.push('…');
                cut = true;
            }
        }
        if let Some(close) = chars.next() {
            out.push(close);
        }
        if cut {
            out.push_str(&format!(" ({run} characters)"));
        }
    }
    out
}

/// A failure worth retrying as is: throttling, a 5xx, a timeout, a dropped connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed transiently ({detail}); retry later")]
pub struct Transient {
    /// The AWS operation (or local action) that failed.
    pub operation: String,
    /// Error code or transport failure.
    pub detail: String,
}

/// The caller's credentials may not do this; retrying will not help until IAM changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} was denied ({detail}); check the role's IAM policy and the resource policy")]
pub struct AccessDenied {
    /// The AWS operation that was refused.
    pub operation: String,
    /// Error code and message from AWS.
    pub detail: String,
}

/// An AWS SDK error, sorted by what the caller can do about it.
#[derive(Debug)]
pub enum AwsFailure {
    /// Retry later.
    Transient(Transient),
    /// Fix permissions.
    AccessDenied(AccessDenied),
    /// The service answered with an error the step must interpret (`NoSuchKey`, `BucketAlreadyExists`…).
    Service(ServiceFailure),
}

/// A modelled or unmodelled service error response.
#[derive(Debug, Clone)]
pub struct ServiceFailure {
    /// The AWS operation.
    pub operation: String,
    /// The error code (`NoSuchKey`), when the response had one.
    pub code: Option<String>,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The service's message.
    pub message: String,
}

impl ServiceFailure {
    /// True when the error code is `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {} (HTTP {}): {}",
            self.operation,
            self.code.as_deref().unwrap_or("no error code"),
            self.status
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            self.message
        )
    }
}

impl fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AwsFailure::Transient(e) => e.fmt(f),
            AwsFailure::AccessDenied(e) => e.fmt(f),
            AwsFailure::Service(e) => e.fmt(f),
        }
    }
}

/// Error codes that mean "you may not", whatever the service.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AuthorizationError",
    "AllAccessDisabled",
];

/// Error codes that mean "try again", beyond the SDK's own throttling and transient lists.
const EXTRA_TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "SlowDown",
    "TooManyRequests",
    "TooManyRequestsException",
    "OperationAborted",
    "Throttled",
];

/// Sorts an SDK error by its variant, HTTP status and error code — never by its message text.
pub fn classify<E>(operation: &str, err: SdkError<E, Response>) -> AwsFailure
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let transient = |detail: String| {
        AwsFailure::Transient(Transient {
            operation: operation.to_owned(),
            detail,
        })
    };
    // SDK errors keep the useful part (io error, hyper error) in their source chain.
    let chain = source_chain(&err);
    match err {
        SdkError::TimeoutError(_) => transient(format!("timed out: {chain}")),
        SdkError::DispatchFailure(f) => {
            let kind = if f.is_timeout() {
                "timed out"
            } else if f.is_io() {
                "connection failed"
            } else {
                "could not send the request"
            };
            transient(format!("{kind}: {chain}"))
        }
        SdkError::ResponseError(_) => transient(format!("unreadable response: {chain}")),
        SdkError::ConstructionFailure(_) => AwsFailure::Service(ServiceFailure {
            operation: operation.to_owned(),
            code: None,
            status: None,
            message: format!("request could not be built: {chain}"),
        }),
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let err = se.into_err();
            let code = err.code().map(str::to_owned);
            // Without an AWS error document (a proxy's or load balancer's 503 page), the SDK's
            // own text is only "unhandled error"; say what was actually received instead.
            let message = err.message().map(str::to_owned).unwrap_or_else(|| {
                format!("HTTP {status} without an AWS error code or message in the body")
            });
            let code_ref = code.as_deref().unwrap_or("");
            let detail = format!(
                "{} HTTP {status}: {message}",
                code.as_deref().unwrap_or("-")
            );
            if is_transient_code(code_ref) || status == 429 || status >= 500 {
                transient(detail)
            } else if ACCESS_DENIED_CODES.contains(&code_ref) || (status == 403 && code.is_none()) {
                AwsFailure::AccessDenied(AccessDenied {
                    operation: operation.to_owned(),
                    detail,
                })
            } else {
                AwsFailure::Service(ServiceFailure {
                    operation: operation.to_owned(),
                    code,
                    status: Some(status),
                    message,
                })
            }
        }
        _ => transient(format!("unexpected SDK failure: {chain}")),
    }
}

/// The SDK's own throttling/transient lists plus the extra codes S3 and S3 Control use.
pub fn is_transient_code(code: &str) -> bool {
    aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code)
        || aws_runtime::retries::classifiers::TRANSIENT_ERRORS.contains(&code)
        || EXTRA_TRANSIENT_CODES.contains(&code)
}

/// An error and its sources on one line; SDK errors hide the useful part in `source()`.
pub fn source_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectError;

    #[test]
    fn serde_messages_speak_json_and_quote_short() {
        assert_eq!(
            readable_serde_message("invalid type: sequence, expected struct Input"),
            "invalid type: array, expected a JSON object"
        );
        assert_eq!(
            readable_serde_message("invalid type: string \"x\", expected i64"),
            "invalid type: string \"x\", expected an integer from -9223372036854775808 to 9223372036854775807"
        );
        assert_eq!(
            readable_serde_message("invalid type: map, expected a borrowed string"),
            "invalid type: object, expected a string"
        );
        let long = format!(
            "invalid type: string \"{}\", expected u32",
            "a".repeat(1 << 20)
        );
        let m = readable_serde_message(&long);
        assert!(m.len() < 300, "{}", m.len());
        assert!(m.contains("(1048576 characters)"), "{m}");
        assert!(
            m.ends_with("expected an integer from 0 to 4294967295"),
            "{m}"
        );
        assert_eq!(json_path("[0]"), "$[0]");
        assert_eq!(json_path("inventory.bucket"), "$.inventory.bucket");
        assert_eq!(json_path("."), "$");
    }
    use aws_sdk_s3::types::error::NoSuchKey;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(status: u16, code: &str) -> SdkError<GetObjectError, Response> {
        let err =
            GetObjectError::generic(ErrorMetadata::builder().code(code).message("boom").build());
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn throttling_and_5xx_are_transient() {
        for (status, code) in [
            (503, "SlowDown"),
            (400, "Throttling"),
            (500, "Whatever"),
            (429, "X"),
        ] {
            assert!(
                matches!(
                    classify("GetObject", service_error(status, code)),
                    AwsFailure::Transient(_)
                ),
                "{status} {code}"
            );
        }
    }

    #[test]
    fn access_denied_by_code() {
        assert!(matches!(
            classify("GetObject", service_error(403, "AccessDenied")),
            AwsFailure::AccessDenied(_)
        ));
    }

    #[test]
    fn modelled_error_keeps_its_code() {
        // As the deserializer builds it: the modelled variant, with the code in its metadata.
        let err = GetObjectError::NoSuchKey(
            NoSuchKey::builder()
                .message("gone")
                .meta(ErrorMetadata::builder().code("NoSuchKey").build())
                .build(),
        );
        let raw = Response::new(StatusCode::try_from(404).unwrap(), SdkBody::empty());
        match classify("GetObject", SdkError::service_error(err, raw)) {
            AwsFailure::Service(s) => {
                assert!(s.is("NoSuchKey"), "{s:?}");
                assert_eq!(s.status, Some(404));
            }
            other => panic!("expected a service failure, got {other:?}"),
        }
    }

    #[test]
    fn timeouts_are_transient() {
        let err: SdkError<GetObjectError, Response> = SdkError::timeout_error("slow");
        assert!(matches!(
            classify("GetObject", err),
            AwsFailure::Transient(_)
        ));
    }

    #[test]
    fn serde_path_is_reported() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            bucket: String,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            inventory: Inner,
        }
        let v = serde_json::json!({"inventory": {"bucket": 3}});
        let err = serde_path_to_error::deserialize::<_, Outer>(v).unwrap_err();
        let ii = InvalidInput::from_serde(err);
        assert_eq!(ii.path, "$.inventory.bucket");
    }
}
