#![doc = include_str!("../README.md")]

mod account;
mod command;
mod server;

pub use account::{MotoAccount, s3_as_account};
pub use command::MotoCommand;
pub use server::{LaunchError, MotoServer, die_with_parent, free_port};

use aws_config::{Region, SdkConfig};
use aws_types::sdk_config::SharedCredentialsProvider;

/// The account moto uses when a request names none.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The region the local stack and the tests run in.
pub const REGION: &str = "us-east-1";

/// An SDK configuration for moto at `endpoint`: its default account's test credentials,
/// [`REGION`], kit's pinned behaviour version.
pub fn sdk_config_for(endpoint: &str) -> SdkConfig {
    let creds =
        aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "moto-launcher");
    SdkConfig::builder()
        .behavior_version(kit::clients::behavior_version())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build()
}

/// Environment variables that point an AWS SDK program (a step binary) at moto at `endpoint`.
pub fn env_for(endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_REGION".into(), REGION.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}
