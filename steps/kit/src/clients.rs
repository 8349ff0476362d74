//! AWS clients, built once per process from one pinned [`BehaviorVersion`].
//!
//! Endpoint overrides come from the standard variables (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`) or, in tests, from the `SdkConfig` itself. When S3 is pointed at
//! something other than AWS, addressing switches to path style (emulators do not serve
//! `<bucket>.127.0.0.1`). S3 Control's endpoint rules put the account id in front of *any* host,
//! custom or not (`123456789012.127.0.0.1:PORT`), so with an override its client uses the
//! configured URL as is; the account id still travels in `x-amz-account-id`.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::endpoint::EndpointFuture;
use aws_smithy_types::endpoint::Endpoint;

/// The SDK behaviour every lakevault client is built with. Bump deliberately, never implicitly.
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// How long a request may take, read once at cold start from the environment. Every client
/// built from [`load_sdk_config`] has them, so a peer that accepts a connection and never answers
/// ends as `Transient` in bounded time instead of hanging until the Lambda timeout (which Step
/// Functions reports without an errorType, so no Retry would match it).
///
/// | variable | default | bounds |
/// | --- | --- | --- |
/// | `LAKEVAULT_CONNECT_TIMEOUT_SECONDS` | 5 | establishing a TCP/TLS connection |
/// | `LAKEVAULT_ATTEMPT_TIMEOUT_SECONDS` | 20 | one attempt, until the response headers |
/// | `LAKEVAULT_OPERATION_TIMEOUT_SECONDS` | 45 | one operation, all its SDK retries included |
///
/// The operation bound is below the shortest function timeout (50 s, await-job and notify);
/// response bodies streamed after the headers (audit-report's result files) are guarded by the
/// SDK's stalled-stream protection instead (a body that delivers nothing for 5 s fails).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// Connect timeout.
    pub connect: Duration,
    /// Per-attempt timeout.
    pub attempt: Duration,
    /// Whole-operation timeout.
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs(20),
            operation: Duration::from_secs(45),
        }
    }
}

/// A timeout variable that is not a positive number of seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is not a number of seconds between 0.1 and 900")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// Its value (at most 64 characters).
    pub value: String,
}

impl Timeouts {
    /// The timeouts from the `LAKEVAULT_*_TIMEOUT_SECONDS` variables, defaults for unset ones.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|v| std::env::var(v).ok())
    }

    /// The timeouts from `lookup` (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let read = |variable: &'static str, default: Duration| match lookup(variable) {
            None => Ok(default),
            Some(v) if v.trim().is_empty() => Ok(default),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| (0.1..=900.0).contains(s))
                .map(Duration::from_secs_f64)
                .ok_or_else(|| ConfigError {
                    variable,
                    value: v.chars().take(64).collect(),
                }),
        };
        let t = Self {
            connect: read("LAKEVAULT_CONNECT_TIMEOUT_SECONDS", d.connect)?,
            attempt: read("LAKEVAULT_ATTEMPT_TIMEOUT_SECONDS", d.attempt)?,
            operation: read("LAKEVAULT_OPERATION_TIMEOUT_SECONDS", d.operation)?,
        };
        Ok(t)
    }

    /// The SDK's form.
    pub fn to_sdk(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// How long a small body read whole may take: the client's operation timeout (the same bound a
/// request has), or the default one.
pub fn body_deadline(t: Option<&TimeoutConfig>) -> Duration {
    t.and_then(TimeoutConfig::operation_timeout)
        .unwrap_or(Timeouts::default().operation)
}

/// The minimum rate a streamed body must keep: 64 KiB per attempt timeout (20 s by default).
pub fn body_min_rate(t: Option<&TimeoutConfig>) -> crate::body::MinRate {
    crate::body::MinRate {
        bytes: crate::body::MinRate::default().bytes,
        window: t
            .and_then(TimeoutConfig::operation_attempt_timeout)
            .unwrap_or(Timeouts::default().attempt),
    }
}

/// Loads the shared SDK configuration from the environment (region, credentials, endpoints)
/// with lakevault's [`Timeouts`].
pub async fn load_sdk_config() -> Result<SdkConfig, ConfigError> {
    let timeouts = Timeouts::from_env()?;
    Ok(aws_config::defaults(behavior_version())
        .timeout_config(timeouts.to_sdk())
        .load()
        .await)
}

/// The endpoint override for a service: `AWS_ENDPOINT_URL_<SERVICE>` first, then the
/// configuration's global endpoint (which `aws-config` fills from `AWS_ENDPOINT_URL`).
/// `service_env` is the upper-snake service id, e.g. `S3_CONTROL`.
pub fn endpoint_override(conf: &SdkConfig, service_env: &str) -> Option<String> {
    if env_flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
        return conf.endpoint_url().map(str::to_owned);
    }
    std::env::var(format!("AWS_ENDPOINT_URL_{service_env}"))
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| conf.endpoint_url().map(str::to_owned))
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// An S3 client; path-style addressing whenever the endpoint is overridden.
pub fn s3(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(conf);
    if let Some(url) = endpoint_override(conf, "S3") {
        b = b.endpoint_url(url).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// An S3 Control client that works against AWS and against a local endpoint alike.
pub fn s3control(conf: &SdkConfig) -> aws_sdk_s3control::Client {
    let mut b = aws_sdk_s3control::config::Builder::from(conf);
    if let Some(url) = endpoint_override(conf, "S3_CONTROL") {
        b = b.endpoint_resolver(FixedEndpoint(url));
    }
    aws_sdk_s3control::Client::from_conf(b.build())
}

/// An SNS client.
pub fn sns(conf: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(conf)
}

/// A Step Functions client (notify reads a failed execution's history with it).
pub fn sfn(conf: &SdkConfig) -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(conf)
}

/// Resolves every S3 Control request to the configured URL, unchanged.
#[derive(Debug, Clone)]
struct FixedEndpoint(String);

impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        _params: &'a aws_sdk_s3control::config::endpoint::Params,
    ) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_default_and_read_from_the_environment() {
        assert_eq!(
            Timeouts::from_lookup(|_| None).unwrap(),
            Timeouts::default()
        );
        let t = Timeouts::from_lookup(|v| {
            (v == "LAKEVAULT_ATTEMPT_TIMEOUT_SECONDS").then(|| "1.5".to_owned())
        })
        .unwrap();
        assert_eq!(t.attempt, Duration::from_millis(1500));
        for bad in ["0", "-1", "soon", "100000"] {
            let e = Timeouts::from_lookup(|v| {
                (v == "LAKEVAULT_CONNECT_TIMEOUT_SECONDS").then(|| bad.to_owned())
            })
            .unwrap_err();
            assert_eq!(e.variable, "LAKEVAULT_CONNECT_TIMEOUT_SECONDS");
        }
    }
}
