//! AWS clients, built once per process from one pinned [`BehaviorVersion`].
//!
//! Endpoint overrides come from the standard variables (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`) or, in tests, from the `SdkConfig` itself. When S3 is pointed at
//! something other than AWS, addressing switches to path style (emulators do not serve
//! `<bucket>.127.0.0.1`). S3 Control's endpoint rules put the account id in front of *any* host,
//! custom or not (`123456789012.127.0.0.1:PORT`), so with an override its client uses the
//! configured URL as is; the account id still travels in `x-amz-account-id`.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::endpoint::EndpointFuture;
use aws_smithy_types::endpoint::Endpoint;

/// The SDK behaviour every lakevault client is built with. Bump deliberately, never implicitly.
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// Loads the shared SDK configuration from the environment (region, credentials, endpoints).
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(behavior_version()).load().await
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
