//! list-large-copies against moto: odd keys decoded from a manifest audit-report wrote, no
//! manifest, the manifests that are not the audit's, the limits, and the binary.

use kit::entry::invoke;
use list_large_copies::{ListLargeCopies, MAX_ITEMS, MAX_ITEMS_BYTES};
use serde_json::{Value, json};

use crate::{event, oversize_manifest, put_manifest};

const SOURCE: &str = "lake-prod";
const KEY: &str = "batch-reports/job-5f1c/lakevault-oversize.csv";

/// Keys that need encoding: space, `+`, `%`, `=`, a comma, a quote, non-ASCII, an emoji.
const ODD: &[&str] = &[
    "events/date=2021-03-31/part 0+1 100%.parquet",
    "tables/a,b \"c\"/x.bin",
    "tables/été/日本/😀.parquet",
    "plain/huge.bin",
];

async fn report_bucket(s3: &aws_sdk_s3::Client) -> String {
    let b = harness::unique_bucket("reports");
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("CreateBucket");
    b
}

/// The step's answer, or its error as (errorType, errorMessage).
pub(crate) async fn list(step: &ListLargeCopies, ev: Value) -> Result<Value, (String, String)> {
    invoke(step, ev)
        .await
        .map_err(|d| (d.error_type, d.error_message))
}

fn keys(out: &Value) -> Vec<String> {
    out["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn odd_keys_come_back_decoded_as_plan_large_copy_inputs() {
    let moto = harness::Moto::start();
    let (s3, counter) = harness::counting_s3(&moto);
    let bucket = report_bucket(&s3).await;
    // A duplicate line (the same key failing twice) is listed once.
    let mut lines: Vec<&str> = ODD.to_vec();
    lines.push(ODD[0]);
    let body = oversize_manifest(SOURCE, &lines);
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.contains("part%200%2B1%20100%25.parquet"), "{text}");
    assert!(text.contains("date%3D2021"), "{text}");
    let m = put_manifest(&s3, &bucket, KEY, &body, lines.len() as u64).await;
    let step = ListLargeCopies::new(s3.clone());
    let before = counter.count();
    let out = list(&step, event(SOURCE, m)).await.unwrap();
    assert_eq!(counter.count() - before, 1, "one GetObject");
    assert_eq!(keys(&out), ODD);
    assert_eq!(
        (
            &out["count"],
            &out["objects"],
            &out["truncated"],
            &out["not_listed"]
        ),
        (&json!(4), &json!(5), &json!(false), &json!(0))
    );
    let now = aws_sdk_s3::primitives::DateTime::from_secs(1_617_148_800);
    for item in out["items"].as_array().unwrap() {
        assert_eq!(
            item,
            &json!({"source_bucket": SOURCE, "key": item["key"],
                    "snapshot_bucket": "lake-prod-31-mar-2021", "storage_class": "GLACIER_IR"}),
            "null optionals are left out"
        );
        // What the Map hands plan-large-copy, unchanged: its own input type and checks.
        let plan: plan_large_copy::Input = serde_json::from_value(item.clone()).unwrap();
        plan_large_copy::check_input(&plan, now, Some("eu-west-1")).unwrap();
    }

    // CRLF lines read the same.
    let crlf = text.replace('\n', "\r\n");
    let m = put_manifest(&s3, &bucket, "crlf.csv", crlf.as_bytes(), 5).await;
    assert_eq!(keys(&list(&step, event(SOURCE, m)).await.unwrap()), ODD);
}

#[tokio::test]
async fn no_manifest_lists_nothing_without_a_request() {
    let moto = harness::Moto::start();
    let (s3, counter) = harness::counting_s3(&moto);
    let step = ListLargeCopies::new(s3);
    let empty = json!({"items": [], "count": 0, "objects": 0, "truncated": false, "not_listed": 0});
    assert_eq!(
        list(&step, event(SOURCE, Value::Null)).await.unwrap(),
        empty
    );
    let mut absent = event(SOURCE, Value::Null);
    absent.as_object_mut().unwrap().remove("oversize_manifest");
    assert_eq!(list(&step, absent).await.unwrap(), empty);
    let zero = json!({"bucket": "lake-reports", "key": KEY, "arn": format!("arn:aws:s3:::lake-reports/{KEY}"),
                      "etag": "d41d8cd98f00b204e9800998ecf8427e", "objects": 0});
    assert_eq!(list(&step, event(SOURCE, zero)).await.unwrap(), empty);
    assert_eq!(counter.count(), 0);
}

#[tokio::test]
async fn a_manifest_that_is_not_the_audits_is_manifest_invalid() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let bucket = report_bucket(&s3).await;
    let step = ListLargeCopies::new(s3.clone());
    let invalid = async |ev: Value, says: &[&str]| {
        let (t, msg) = list(&step, ev).await.unwrap_err();
        assert_eq!(t, "ManifestInvalid", "{msg}");
        for s in says {
            assert!(msg.contains(s), "{msg:?} lacks {s:?}");
        }
        assert!(msg.len() < 512, "{msg}");
    };

    // Another line count than the audit's.
    let body = oversize_manifest(SOURCE, &ODD[..2]);
    let m = put_manifest(&s3, &bucket, "count.csv", &body, 3).await;
    invalid(
        event(SOURCE, m),
        &["2 line(s)", "3 object(s)", "re-run AuditReport"],
    )
    .await;

    // A line of another bucket, named by its number.
    let mut body = oversize_manifest(SOURCE, &ODD[..2]);
    body.extend(oversize_manifest("lake-other", &ODD[2..3]));
    let m = put_manifest(&s3, &bucket, "other.csv", &body, 3).await;
    invalid(event(SOURCE, m), &["line 3", "\"lake-other\""]).await;

    // A line whose key does not decode.
    let m = put_manifest(
        &s3,
        &bucket,
        "bad.csv",
        b"lake-prod,ok\nlake-prod,bad%zz\n",
        2,
    )
    .await;
    invalid(event(SOURCE, m), &["line 2", "escape"]).await;

    // Rewritten since the audit: the record's ETag is refused (If-Match).
    let body = oversize_manifest(SOURCE, ODD);
    let mut m = put_manifest(&s3, &bucket, KEY, &body, 4).await;
    put_manifest(&s3, &bucket, KEY, &oversize_manifest(SOURCE, &ODD[..1]), 1).await;
    invalid(
        event(SOURCE, m.clone()),
        &[
            "changed since the audit",
            "re-run AuditReport",
            &format!("s3://{bucket}/{KEY}"),
        ],
    )
    .await;

    // Deleted.
    m["key"] = json!("batch-reports/job-gone/lakevault-oversize.csv");
    invalid(event(SOURCE, m), &["does not exist", "re-run AuditReport"]).await;

    // Over the size cap.
    let m = put_manifest(&s3, &bucket, "big.csv", &body, 4).await;
    let small = ListLargeCopies::with_limits(
        s3.clone(),
        list_large_copies::Limits {
            manifest_bytes: 64,
            ..Default::default()
        },
    );
    let (t, msg) = list(&small, event(SOURCE, m)).await.unwrap_err();
    assert_eq!(t, "ManifestInvalid");
    assert!(msg.contains("larger than 64 bytes"), "{msg}");
}

#[tokio::test]
async fn the_items_stop_within_the_limits() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let bucket = report_bucket(&s3).await;
    let step = ListLargeCopies::new(s3.clone());

    // 1,001 short keys: 1,000 listed.
    let many: Vec<String> = (0..=MAX_ITEMS).map(|i| format!("big/{i:05}.bin")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let m = put_manifest(
        &s3,
        &bucket,
        "many.csv",
        &oversize_manifest(SOURCE, &refs),
        refs.len() as u64,
    )
    .await;
    let out = list(&step, event(SOURCE, m)).await.unwrap();
    assert_eq!(out["count"], json!(MAX_ITEMS));
    assert_eq!(keys(&out), many[..MAX_ITEMS]);
    assert_eq!(
        (&out["objects"], &out["truncated"], &out["not_listed"]),
        (&json!(MAX_ITEMS + 1), &json!(true), &json!(1))
    );

    // 300 keys of 1,000 bytes: the bytes stop it first (at about 60).
    let long: Vec<String> = (0..300)
        .map(|i| format!("{i:03}/{}", "k".repeat(996)))
        .collect();
    let refs: Vec<&str> = long.iter().map(String::as_str).collect();
    let m = put_manifest(
        &s3,
        &bucket,
        "long.csv",
        &oversize_manifest(SOURCE, &refs),
        300,
    )
    .await;
    let out = list(&step, event(SOURCE, m)).await.unwrap();
    let items = serde_json::to_vec(&out["items"]).unwrap().len();
    let listed = out["count"].as_u64().unwrap();
    assert!(items <= MAX_ITEMS_BYTES, "{items}");
    assert!(
        items + 1100 > MAX_ITEMS_BYTES,
        "stopped only when the next item would not fit: {items}"
    );
    assert_eq!(out["truncated"], json!(true));
    assert_eq!(listed + out["not_listed"].as_u64().unwrap(), 300);
    assert!(serde_json::to_vec(&out).unwrap().len() < 256 * 1024);
}

#[tokio::test]
async fn the_binary() {
    let bin = env!("CARGO_BIN_EXE_list-large-copies");
    let out = std::process::Command::new(bin)
        .arg("--error-types")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        [
            "InvalidInput",
            "ConfigurationError",
            "InternalError",
            "Transient",
            "AccessDenied",
            "ServiceError",
            "ManifestInvalid"
        ]
    );

    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let bucket = report_bucket(&s3).await;
    let m = put_manifest(&s3, &bucket, KEY, &oversize_manifest(SOURCE, ODD), 4).await;
    let (code, out) =
        harness::run_step_binary(bin, &moto.env(), event(SOURCE, m.clone()).to_string()).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(keys(&out), ODD);
    let (code, out) =
        harness::run_step_binary(bin, &moto.env(), event("lake-other", m).to_string()).await;
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out["errorType"], json!("ManifestInvalid"));
    assert!(
        out["errorMessage"].as_str().unwrap().contains("line 1"),
        "{out}"
    );
}
