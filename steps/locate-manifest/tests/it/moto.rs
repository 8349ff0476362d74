//! locate-manifest against moto, with deliveries written by the local inventory.

use aws_sdk_s3::Client;
use futures::{StreamExt, TryStreamExt};
use harness::{Moto, counting_s3, get_object, put_object, unique_bucket};
use kit::Day;
use kit::entry::invoke;
use lambda_runtime::Diagnostic;
use local_inventory::{Delivery, DeliveryReport};
use locate_manifest::LocateManifest;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

struct World {
    moto: Moto,
    s3: Client,
    src: String,
    inv: String,
}

async fn world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3();
    let (src, inv) = (unique_bucket("lake"), unique_bucket("inv"));
    for b in [&src, &inv] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    for k in [
        "table/_delta_log/00000000000000000000.json",
        "table/part 0.parquet",
    ] {
        put_object(&s3, &src, k, k.as_bytes()).await;
    }
    World { moto, s3, src, inv }
}

impl World {
    async fn deliver(&self, at: OffsetDateTime) -> DeliveryReport {
        let d = Delivery::new(&self.src, &self.inv, "inventory", "daily", at);
        local_inventory::deliver(&self.s3, &d).await.unwrap()
    }

    fn step(&self) -> LocateManifest {
        LocateManifest::new(self.moto.s3())
    }

    fn event(&self, backup_date: Option<&str>) -> Value {
        let mut e = json!({
            "source_bucket": self.src,
            "inventory": {"bucket": self.inv, "prefix": "inventory", "configuration_id": "daily"},
            "extra_field_from_the_state_machine": {"ignored": true}
        });
        if let Some(d) = backup_date {
            e["backup_date"] = json!(d);
        }
        e
    }

    async fn run(&self, event: Value) -> Result<Value, Diagnostic> {
        invoke(&self.step(), event).await
    }

    /// Replaces manifest.json with `body` and writes a matching manifest.checksum.
    async fn rewrite_manifest(&self, r: &DeliveryReport, body: &[u8]) {
        put_object(&self.s3, &self.inv, &r.manifest_key, body).await;
        let md5 = hex::encode(Md5::digest(body));
        put_object(&self.s3, &self.inv, &r.checksum_key, md5.as_bytes()).await;
    }

    async fn manifest_json(&self, r: &DeliveryReport) -> Value {
        serde_json::from_slice(&get_object(&self.s3, &self.inv, &r.manifest_key).await).unwrap()
    }
}

fn expect_error(r: Result<Value, Diagnostic>, error_type: &str) -> String {
    match r {
        Ok(v) => panic!("expected {error_type}, got {v}"),
        Err(d) => {
            assert_eq!(d.error_type, error_type, "{}", d.error_message);
            d.error_message
        }
    }
}

#[tokio::test]
async fn the_backup_dates_delivery_is_found_and_verified() {
    let w = world().await;
    let r = w.deliver(datetime!(2021-04-02 01:00 UTC)).await;
    let out = w.run(w.event(Some("2021-03-31"))).await.unwrap();

    let head =
        w.s3.head_object()
            .bucket(&w.inv)
            .key(&r.manifest_key)
            .send()
            .await
            .unwrap();
    let etag = head.e_tag().unwrap().trim_matches('"').to_owned();
    let total: u64 = r.manifest.files.iter().map(|f| f.size).sum();
    assert_eq!(
        out,
        json!({
            "source_bucket": w.src,
            "backup_date": "2021-03-31",
            "delivery_date": "2021-04-02",
            "manifest": {
                "bucket": w.inv,
                "key": format!("inventory/{}/daily/2021-04-02T01-00Z/manifest.json", w.src),
                "arn": format!("arn:aws:s3:::{}/inventory/{}/daily/2021-04-02T01-00Z/manifest.json", w.inv, w.src),
                "etag": etag,
            },
            "scan_started_at": "2021-04-02T01:00:00Z",
            "file_schema": ["Bucket", "Key", "Size", "LastModifiedDate", "StorageClass", "ETag"],
            "data_file_count": 1,
            "data_total_bytes": total,
        })
    );
    assert!(!etag.contains('"'));

    // lag_days moves the target day; the same delivery serves backup date 2021-04-01 with lag 1.
    let mut e = w.event(Some("2021-04-01"));
    e["lag_days"] = json!(1);
    let out = w.run(e).await.unwrap();
    assert_eq!(out["backup_date"], "2021-04-01");
    assert_eq!(out["delivery_date"], "2021-04-02");

    // Idempotent: the same event, the same answer.
    let again = w.run(w.event(Some("2021-03-31"))).await.unwrap();
    assert_eq!(again["manifest"]["etag"], etag.as_str());
}

#[tokio::test]
async fn two_deliveries_the_same_day_the_latest_wins() {
    let w = world().await;
    w.deliver(datetime!(2021-04-02 01:00 UTC)).await;
    let late = w.deliver(datetime!(2021-04-02 13:30 UTC)).await;
    w.deliver(datetime!(2021-04-03 01:00 UTC)).await;
    let out = w.run(w.event(Some("2021-03-31"))).await.unwrap();
    assert_eq!(out["manifest"]["key"], late.manifest_key.as_str());
    assert_eq!(out["scan_started_at"], "2021-04-02T13:30:00Z");
}

#[tokio::test]
async fn a_missing_day_is_not_ready_and_names_the_neighbours() {
    let w = world().await;
    w.deliver(datetime!(2021-03-25 01:00 UTC)).await;
    w.deliver(datetime!(2021-04-01 01:00 UTC)).await;
    w.deliver(datetime!(2021-04-04 01:00 UTC)).await;
    let msg = expect_error(w.run(w.event(Some("2021-03-31"))).await, "ManifestNotReady");
    let prefix = format!("s3://{}/inventory/{}/daily/2021-04-02", w.inv, w.src);
    assert!(msg.contains(&prefix), "{msg}");
    assert!(msg.contains("2021-04-01 (before)"), "{msg}");
    assert!(msg.contains("2021-04-04 (after)"), "{msg}");
    assert!(msg.contains("no delivery that day"), "{msg}");

    // Nothing at all around: still ManifestNotReady, saying so.
    let msg = expect_error(w.run(w.event(Some("2020-01-01"))).await, "ManifestNotReady");
    assert!(msg.contains("none in the 31 days before"), "{msg}");
}

#[tokio::test]
async fn a_delivery_without_checksum_is_ignored() {
    let w = world().await;
    let early = w.deliver(datetime!(2021-04-02 01:00 UTC)).await;
    let late = w.deliver(datetime!(2021-04-02 13:00 UTC)).await;
    // The later delivery is still being written: its checksum is not there yet.
    w.s3.delete_object()
        .bucket(&w.inv)
        .key(&late.checksum_key)
        .send()
        .await
        .unwrap();
    let out = w.run(w.event(Some("2021-03-31"))).await.unwrap();
    assert_eq!(out["manifest"]["key"], early.manifest_key.as_str());

    // Alone, an incomplete delivery means "not ready", and the message says why.
    let only = w.deliver(datetime!(2021-05-02 01:00 UTC)).await;
    w.s3.delete_object()
        .bucket(&w.inv)
        .key(&only.checksum_key)
        .send()
        .await
        .unwrap();
    let msg = expect_error(w.run(w.event(Some("2021-04-30"))).await, "ManifestNotReady");
    assert!(
        msg.contains("2021-05-02T01-00Z has no manifest.checksum yet"),
        "{msg}"
    );
}

#[tokio::test]
async fn checksum_mismatch_is_invalid() {
    let w = world().await;
    let r = w.deliver(datetime!(2021-04-02 01:00 UTC)).await;
    put_object(
        &w.s3,
        &w.inv,
        &r.checksum_key,
        b"00000000000000000000000000000000",
    )
    .await;
    let msg = expect_error(w.run(w.event(Some("2021-03-31"))).await, "ManifestInvalid");
    assert!(
        msg.contains("corrupt") && msg.contains(&r.manifest_key),
        "{msg}"
    );
}

#[tokio::test]
async fn wrong_source_bucket_is_invalid() {
    let w = world().await;
    let r = w.deliver(datetime!(2021-04-02 01:00 UTC)).await;
    let mut m = w.manifest_json(&r).await;
    m["sourceBucket"] = json!("someone-elses-bucket");
    w.rewrite_manifest(&r, &serde_json::to_vec(&m).unwrap())
        .await;
    let msg = expect_error(w.run(w.event(Some("2021-03-31"))).await, "ManifestInvalid");
    assert!(msg.contains("someone-elses-bucket"), "{msg}");
    assert!(msg.contains("not the source bucket"), "{msg}");
}

#[tokio::test]
async fn an_orc_manifest_is_refused_with_advice() {
    let w = world().await;
    let r = w.deliver(datetime!(2021-04-02 01:00 UTC)).await;
    let mut m = w.manifest_json(&r).await;
    m["fileFormat"] = json!("ORC");
    m["fileSchema"] = json!("struct<bucket:string,key:string,size:bigint>");
    w.rewrite_manifest(&r, &serde_json::to_vec(&m).unwrap())
        .await;
    let msg = expect_error(w.run(w.event(Some("2021-03-31"))).await, "ManifestInvalid");
    assert!(msg.contains("ORC") && msg.contains("switch"), "{msg}");
    assert!(msg.contains("to CSV"), "{msg}");
}

#[tokio::test]
async fn truncated_json_is_invalid() {
    let w = world().await;
    let r = w.deliver(datetime!(2021-04-02 01:00 UTC)).await;
    let raw = get_object(&w.s3, &w.inv, &r.manifest_key).await;
    w.rewrite_manifest(&r, &raw[..raw.len() / 2]).await;
    let msg = expect_error(w.run(w.event(Some("2021-03-31"))).await, "ManifestInvalid");
    assert!(msg.contains("not a valid S3 Inventory manifest"), "{msg}");
}

#[tokio::test]
async fn without_a_backup_date_the_newest_complete_delivery_decides() {
    let w = world().await;
    w.deliver(datetime!(2021-03-30 01:00 UTC)).await;
    let newest_complete = w.deliver(datetime!(2021-04-02 01:00 UTC)).await;
    let in_progress = w.deliver(datetime!(2021-04-03 01:00 UTC)).await;
    w.s3.delete_object()
        .bucket(&w.inv)
        .key(&in_progress.checksum_key)
        .send()
        .await
        .unwrap();
    // Backdated deliveries: the recent window is empty, the day search finds them.
    let out = w.run(w.event(None)).await.unwrap();
    assert_eq!(
        out["manifest"]["key"],
        newest_complete.manifest_key.as_str()
    );
    assert_eq!(out["delivery_date"], "2021-04-02");
    assert_eq!(out["backup_date"], "2021-03-31");

    // With "today" close to the deliveries, the recent window answers.
    let step = w.step().with_today("2021-04-05".parse().unwrap());
    let out = invoke(&step, w.event(None)).await.unwrap();
    assert_eq!(
        out["manifest"]["key"],
        newest_complete.manifest_key.as_str()
    );
}

#[tokio::test]
async fn no_delivery_at_all_is_not_ready() {
    let w = world().await;
    let msg = expect_error(w.run(w.event(None)).await, "ManifestNotReady");
    assert!(
        msg.contains(&format!("s3://{}/inventory/{}/daily/", w.inv, w.src)),
        "{msg}"
    );
}

#[tokio::test]
async fn invalid_input_names_the_field() {
    let w = world().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"source_bucket": w.src, "inventory": {"bucket": w.inv, "configuration_id": "daily"}, "backup_date": "2021-02-30"}),
            "$.backup_date",
        ),
        (
            json!({"source_bucket": w.src, "inventory": {"bucket": w.inv, "configuration_id": "daily"}, "backup_date": "31/03/2021"}),
            "$.backup_date",
        ),
        (
            json!({"source_bucket": w.src, "inventory": {"bucket": w.inv, "configuration_id": "daily"}, "lag_days": 31}),
            "$.lag_days",
        ),
        (
            json!({"source_bucket": w.src, "inventory": {"bucket": w.inv, "configuration_id": "daily"}, "lag_days": -1}),
            "$.lag_days",
        ),
        (
            json!({"source_bucket": w.src, "inventory": {"bucket": w.inv, "configuration_id": "daily"}, "lag_days": "two"}),
            "$.lag_days",
        ),
        (
            json!({"source_bucket": w.src, "inventory": {"bucket": format!("s3://{}", w.inv), "configuration_id": "daily"}}),
            "$.inventory.bucket",
        ),
        (
            json!({"source_bucket": "Lake_Prod", "inventory": {"bucket": w.inv, "configuration_id": "daily"}}),
            "$.source_bucket",
        ),
        (
            json!({"source_bucket": w.src, "inventory": {"bucket": w.inv, "configuration_id": "a/b"}}),
            "$.inventory.configuration_id",
        ),
        (
            json!({"source_bucket": w.src, "inventory": {"bucket": w.inv}}),
            "$.inventory",
        ),
        (
            json!({"source_bucket": w.src, "inventory": {"bucket": "no-such-inventory-bucket", "configuration_id": "daily"}, "backup_date": "2021-03-31"}),
            "$.inventory.bucket",
        ),
    ];
    for (event, path) in cases {
        let msg = expect_error(w.run(event.clone()).await, "InvalidInput");
        assert!(msg.contains(path), "{event}: {msg}");
    }
}

/// 400 days of history: every question is answered with a small, fixed number of requests.
#[tokio::test]
async fn four_hundred_days_of_history_cost_a_fixed_number_of_requests() {
    let w = world().await;
    let base = format!("inventory/{}/daily/", w.src);
    let first: Day = "2020-01-01".parse().unwrap();
    let gap: Day = "2020-07-01".parse().unwrap();
    // Only the small manifest objects: full deliveries would make the test slow, not better.
    let days: Vec<Day> = (0..400)
        .map(|i| first.plus_days(i).unwrap())
        .filter(|d| *d != gap)
        .collect();
    let last = *days.last().unwrap();
    futures::stream::iter(days.iter().copied())
        .map(|d| {
            let (s3, inv, src, base) = (w.s3.clone(), w.inv.clone(), w.src.clone(), base.clone());
            async move {
                let folder = format!("{base}{d}T01-00Z/");
                let ms = (d.0.midnight().assume_utc().unix_timestamp() + 3600) * 1000;
                let m = json!({"sourceBucket": src, "destinationBucket": format!("arn:aws:s3:::{inv}"),
                    "version": "2016-11-30", "creationTimestamp": ms.to_string(), "fileFormat": "CSV",
                    "fileSchema": "Bucket, Key, Size",
                    "files": [{"key": format!("{base}data/{d}.csv.gz"), "size": 100, "MD5checksum": "0"}]});
                let body = serde_json::to_vec(&m).unwrap();
                let md5 = hex::encode(Md5::digest(&body));
                put_object(&s3, &inv, &format!("{folder}manifest.json"), &body).await;
                put_object(&s3, &inv, &format!("{folder}manifest.checksum"), md5.as_bytes()).await;
                Ok::<_, ()>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    // And the data files' keys, which sort after every folder.
    for i in 0..50 {
        put_object(&w.s3, &w.inv, &format!("{base}data/{i}.csv.gz"), b"x").await;
    }

    let (s3, counter) = counting_s3(&w.moto);
    let step = LocateManifest::new(s3);
    let asked = |event: Value, today: Option<Day>| {
        let step = match today {
            Some(t) => step.clone().with_today(t),
            None => step.clone(),
        };
        let before = counter.count();
        let counter = counter.clone();
        async move {
            let r = invoke(&step, event).await;
            let n = counter.count() - before;
            eprintln!("{n} S3 requests");
            (r, n)
        }
    };

    // A day in the middle: one listing of that day, then manifest.checksum + manifest.json.
    let (r, n) = asked(w.event(Some("2020-09-13")), None).await;
    assert_eq!(r.unwrap()["delivery_date"], "2020-09-15");
    assert!(n <= 3, "{n} requests for a given day");

    // The gap: the day's listing plus one listing for the neighbours.
    let (r, n) = asked(w.event(Some("2020-06-29")), None).await;
    let msg = expect_error(r, "ManifestNotReady");
    assert!(
        msg.contains("2020-06-30 (before)") && msg.contains("2020-07-02 (after)"),
        "{msg}"
    );
    assert!(n <= 2, "{n} requests for a missing day");

    // The newest, history up to yesterday: the recent window (1 listing) + 2 GETs.
    let (r, n) = asked(w.event(None), last.plus_days(1)).await;
    assert_eq!(r.unwrap()["delivery_date"], last.to_string());
    assert!(n <= 3, "{n} requests for the newest (recent)");

    // The newest, history that stopped long ago (today is the real today): the day search is
    // logarithmic in the days since 2016, not linear in the deliveries.
    let (r, n) = asked(w.event(None), None).await;
    assert_eq!(r.unwrap()["delivery_date"], last.to_string());
    assert!(n <= 20, "{n} requests for the newest (day search)");
}

#[tokio::test]
async fn the_binary_reads_stdin_and_prints_json() {
    let w = world().await;
    let r = w.deliver(datetime!(2021-04-02 01:00 UTC)).await;
    let env = w.moto.env();
    let run = |event: String| {
        harness::run_step_binary(env!("CARGO_BIN_EXE_locate-manifest"), &env, event)
    };

    let (code, out) = run(w.event(Some("2021-03-31")).to_string()).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["manifest"]["key"], r.manifest_key.as_str());
    assert_eq!(out["backup_date"], "2021-03-31");

    let (code, out) = run(w.event(Some("2021-04-30")).to_string()).await;
    assert_eq!(code, Some(1));
    assert_eq!(out["errorType"], "ManifestNotReady", "{out}");
    assert!(out["errorMessage"].as_str().unwrap().contains("2021-05-02"));

    let (code, out) = run(w.event(Some("2021-13-01")).to_string()).await;
    assert_eq!(code, Some(1));
    assert_eq!(out["errorType"], "InvalidInput");
    assert!(
        out["errorMessage"]
            .as_str()
            .unwrap()
            .contains("$.backup_date")
    );

    let (code, out) = run("not json".to_owned()).await;
    assert_eq!(code, Some(1));
    assert_eq!(out["errorType"], "InvalidInput");
}

#[test]
fn error_types_are_the_variant_names() {
    let types = kit::entry::error_types::<LocateManifest>();
    for t in [
        "InvalidInput",
        "ManifestNotReady",
        "ManifestInvalid",
        "ServiceError",
        "Transient",
        "AccessDenied",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
}
