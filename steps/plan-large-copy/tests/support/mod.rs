//! Test support the three large-copy crates' tests share (plan-large-copy's, copy-parts' and
//! complete-large-copy's `tests/it/main.rs` include this file): moto buckets with a source of
//! several parts, a request recorder that can also fail one operation from its n-th request on,
//! digests, and S3's error answers for mocked clients.
//!
//! Parts are 5 MiB (`LAKEVAULT_MIN_PART_BYTES` lowered to moto's default part minimum), so an
//! object of 26 MiB is copied in 6 parts without touching moto's own `S3_UPLOAD_PART_MIN_SIZE`
//! (the harness starts moto with the test's environment and offers no per-server variable).
//!
//! [`Moto`] is the harness's; the tests start the local stack's
//! (`Moto::start_local_stack`, `local/moto/moto_server.py`), which mends moto's ListParts answer
//! (moto 5.2.5 names its root element `ListPartsResponse`, the Rust SDK wants `ListPartsResult`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::types::{Tag, Tagging};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
pub(crate) use harness::Moto;
use harness::unique_bucket;
use md5::{Digest, Md5};
use plan_large_copy::{PlanLargeCopy, Settings};
use serde_json::{Value, json};

/// A mebibyte.
pub(crate) const MIB: usize = 1 << 20;
/// The part size the tests plan with (moto's default minimum part).
pub(crate) const PART: u64 = 5 << 20;
/// A source of 6 parts: five of 5 MiB and one of 1 MiB.
pub(crate) const SIZE: usize = 26 * MIB;
/// A key that needs encoding in `x-amz-copy-source`: space, `+`, `%`, `=`, non-ASCII.
pub(crate) const KEY: &str = "events/date=2021-03-31/part 0+1 100% é.parquet";
/// The source's user metadata.
pub(crate) const METADATA: [(&str, &str); 2] = [("table", "sales"), ("writer", "spark 3.5")];
/// The source's tags.
pub(crate) const TAGS: [(&str, &str); 2] = [("team", "data eng"), ("a+b", "c/d=e")];

/// One request a client sent.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// The operation (`UploadPartCopy`).
    pub(crate) operation: String,
    /// The request URI.
    pub(crate) uri: String,
    /// Its headers, names lowercase.
    pub(crate) headers: Vec<(String, String)>,
}

impl Sent {
    /// The value of header `name` (lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of query parameter `name`.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        let q = self.uri.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| v.to_owned())
        })
    }
}

#[derive(Debug, Default)]
struct Log {
    sent: Vec<Sent>,
    answered: Vec<String>,
    fail: Option<(String, usize)>,
}

/// Records every request a client sends and every response it gets, per operation; with
/// [`Recorder::failing`], `operation`'s requests from the n-th on fail before they leave (the
/// SDK reports a dispatch failure: a dropped connection, `Transient` to the step).
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder {
    log: Arc<Mutex<Log>>,
}

impl Recorder {
    /// A recorder that fails `operation` from its `nth` request (1-based) on.
    pub(crate) fn failing(operation: &str, nth: usize) -> Self {
        let r = Self::default();
        r.log.lock().unwrap().fail = Some((operation.to_owned(), nth));
        r
    }

    /// The requests of `operation` sent so far.
    pub(crate) fn sent(&self, operation: &str) -> Vec<Sent> {
        let log = self.log.lock().unwrap();
        log.sent
            .iter()
            .filter(|s| s.operation == operation)
            .cloned()
            .collect()
    }

    /// How many requests of `operation` got an answer (reached the server).
    pub(crate) fn answered(&self, operation: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.answered.iter().filter(|o| *o == operation).count()
    }

    /// The part numbers of the UploadPartCopy requests that got an answer.
    pub(crate) fn parts_sent(&self) -> Vec<u64> {
        let mut n: Vec<u64> = self
            .sent("UploadPartCopy")
            .iter()
            .filter_map(|s| s.query("partNumber")?.parse().ok())
            .collect();
        n.sort_unstable();
        n
    }
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| m.name().to_owned())
        .unwrap_or_default()
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = operation(cfg);
        let req = ctx.request();
        let sent = Sent {
            operation: op.clone(),
            uri: req.uri().to_owned(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect(),
        };
        let mut log = self.log.lock().unwrap();
        log.sent.push(sent);
        if let Some((fail_op, nth)) = &log.fail
            && *fail_op == op
            && log.sent.iter().filter(|s| s.operation == op).count() >= *nth
        {
            return Err(format!("injected fault: {op} request not sent").into());
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = operation(cfg);
        self.log.lock().unwrap().answered.push(op);
        Ok(())
    }
}

/// An S3 client for moto that records through `recorder`.
pub(crate) fn recorded_s3(moto: &Moto, recorder: &Recorder) -> aws_sdk_s3::Client {
    let base = moto.s3();
    let conf = base
        .config()
        .to_builder()
        .interceptor(recorder.clone())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An S3 error answer for a mocked client: `code` with HTTP `status` (copy-parts' and
/// complete-large-copy's `errors` tests).
pub(crate) fn xml_error(status: u16, code: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Error><Code>{code}</Code><Message>mocked</Message><RequestId>1</RequestId></Error>"
    );
    Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// `n` bytes of a deterministic pseudo-random sequence (every part differs from the others).
pub(crate) fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Hex MD5 of `b`.
pub(crate) fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

/// Hex MD5 of an object's bytes, read back with the SDK's response checksum validation (the
/// local stack's moto computes CRC64NVME with `awscrt`, so a completed copy's checksum is right).
pub(crate) async fn object_md5(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    md5_hex(&harness::get_object(s3, bucket, key).await)
}

/// A source bucket and an Object Lock snapshot bucket (versioned), both new.
pub(crate) async fn buckets(s3: &aws_sdk_s3::Client) -> (String, String) {
    let (src, snap) = (unique_bucket("lake"), unique_bucket("snap"));
    s3.create_bucket()
        .bucket(&src)
        .send()
        .await
        .expect("CreateBucket");
    s3.create_bucket()
        .bucket(&snap)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("CreateBucket");
    (src, snap)
}

/// Puts `body` at `bucket/key` with the metadata, tags and content headers a Delta data file
/// might carry; its ETag.
pub(crate) async fn put_source(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> String {
    let mut req = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .content_type("application/vnd.apache.parquet")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"part-0.parquet\"")
        .content_language("en")
        .cache_control("max-age=3600")
        .tagging(plan_large_copy::tagging_header(
            &TAGS.map(|(k, v)| (k.to_owned(), v.to_owned())),
        ));
    for (k, v) in METADATA {
        req = req.metadata(k, v);
    }
    let out = req.send().await.expect("PutObject");
    out.e_tag().unwrap_or_default().trim_matches('"').to_owned()
}

/// Waits until the wall clock is in a later second than now: S3's LastModified has second
/// precision, and a plan reuses an upload only when its parts are from a later second than the
/// source's last change.
pub(crate) async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// A plan event for `key` (no lock, the bucket's encryption).
pub(crate) fn plan_event(source: &str, key: &str, snapshot: &str) -> Value {
    json!({"source_bucket": source, "key": key, "snapshot_bucket": snapshot})
}

/// The planner with 5 MiB parts.
pub(crate) fn planner(s3: &aws_sdk_s3::Client) -> PlanLargeCopy {
    PlanLargeCopy::new(
        s3.clone(),
        Settings {
            min_part_bytes: PART,
        },
    )
}

/// Plans `event`; the plan as JSON.
pub(crate) async fn plan(s3: &aws_sdk_s3::Client, event: Value) -> Value {
    kit::entry::invoke(&planner(s3), event)
        .await
        .unwrap_or_else(|d| {
            panic!(
                "plan-large-copy failed: {}: {}",
                d.error_type, d.error_message
            )
        })
}

/// The uploads in progress of `bucket`: (key, upload id).
pub(crate) async fn uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String)> {
    let out = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("ListMultipartUploads");
    out.uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap_or_default().to_owned(),
                u.upload_id().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The tags of an object, sorted.
pub(crate) async fn tags_of(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Vec<(String, String)> {
    let out = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("GetObjectTagging");
    let mut t: Vec<(String, String)> = out
        .tag_set()
        .iter()
        .map(|t: &Tag| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    t.sort();
    t
}

/// The source's tags, sorted, as [`tags_of`] gives them.
pub(crate) fn source_tags() -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = TAGS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    t.sort();
    t
}

/// Replaces an object's tags (a test changing its source).
pub(crate) async fn retag(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, tags: &[(&str, &str)]) {
    let set: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().expect("a tag"))
        .collect();
    s3.put_object_tagging()
        .bucket(bucket)
        .key(key)
        .tagging(
            Tagging::builder()
                .set_tag_set(Some(set))
                .build()
                .expect("tags"),
        )
        .send()
        .await
        .expect("PutObjectTagging");
}
