//! Acting as another account on moto: one request header.

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Adds `x-moto-account-id` to every request, so the client acts as account `.0` on moto
/// (moto keeps every account's resources apart, and answers a request without the header as
/// [`crate::DEFAULT_ACCOUNT`]).
#[derive(Debug, Clone)]
pub struct MotoAccount(pub String);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        ctx.request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// An S3 client (kit's: path style when the endpoint is overridden) built from `conf`, acting
/// as `account_id` on moto.
pub fn s3_as_account(conf: &SdkConfig, account_id: &str) -> aws_sdk_s3::Client {
    let s3conf = kit::clients::s3(conf)
        .config()
        .to_builder()
        .interceptor(MotoAccount(account_id.to_owned()))
        .build();
    aws_sdk_s3::Client::from_conf(s3conf)
}
