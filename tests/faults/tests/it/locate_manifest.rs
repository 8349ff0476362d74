//! locate-manifest (S3: ListObjectsV2, then GetObject of manifest.checksum and manifest.json,
//! read through `kit::body::read_capped`).

use faults::{Fault, Proxy, Request, Rule};
use harness::{Moto, put_object, unique_bucket};
use local_inventory::Delivery;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::matrix::{Case, five_faults, run_cases};
use crate::support::{Env, Service, report, run};

const STEP: &str = "locate-manifest";

fn is_manifest_read(r: &Request) -> bool {
    r.method == "GET" && r.path().ends_with("/manifest.json")
}

/// moto with a source bucket and its inventory delivery of 2021-04-02; the event of the
/// backup date it describes.
async fn world() -> (Moto, Value) {
    let moto = Moto::start();
    let s3 = moto.s3();
    let (src, inv) = (unique_bucket("lake"), unique_bucket("inv"));
    for b in [&src, &inv] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    for k in [
        "table/_delta_log/00000000000000000000.json",
        "table/part-0.parquet",
    ] {
        put_object(&s3, &src, k, k).await;
    }
    let d = Delivery::new(
        &src,
        &inv,
        "inventory",
        "daily",
        datetime!(2021-04-02 01:00 UTC),
    );
    local_inventory::deliver(&s3, &d).await.unwrap();
    let event = json!({
        "source_bucket": src,
        "inventory": {"bucket": inv, "prefix": "inventory", "configuration_id": "daily"},
        "backup_date": "2021-03-31",
    });
    (moto, event)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locate_manifest_answers_transient_in_bounded_time_and_a_rerun_finds_the_same_delivery() {
    let (moto, event) = world().await;
    let env = Env::new(&moto.endpoint);
    let clean = run(STEP, &env, &event).await.output();

    let up = &moto.endpoint;
    // The listing gets through; the two reads find the server gone.
    let killed = ("killed after 1 request", 1);
    let cases = five_faults(up, ("manifest", is_manifest_read), killed, |_| {
        event.clone()
    })
    .await;
    let ran = run_cases(STEP, Service::S3, &env, cases).await;
    report(ran.iter().map(|r| &r.cell));

    // Recovered: the same delivery, the same answer.
    let again = run(STEP, &env, &event).await.output();
    assert_eq!(again, clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locate_manifest_answers_a_trickled_manifest_transient_in_bounded_time() {
    let (moto, event) = world().await;
    let env = Env::new(&moto.endpoint);
    let cases = vec![Case::new(
        "trickled body (manifest)",
        Proxy::start(
            &moto.endpoint,
            Rule::matching(Fault::TrickleBody, is_manifest_read),
        )
        .await
        .unwrap(),
        &event,
    )];
    let ran = run_cases(STEP, Service::S3, &env, cases).await;
    report(ran.iter().map(|r| &r.cell));
}
