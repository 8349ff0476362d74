//! moto starts on a free port, serves S3, keeps accounts apart, and is gone after drop.

use harness::{Moto, unique_bucket};

#[tokio::test]
async fn moto_serves_s3_and_its_port_is_free_after_drop() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = unique_bucket("harness");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("a b/c+d.txt")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .unwrap();
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));

    let port = moto.port;
    drop(moto);
    // The port is free again: the server process is gone.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
}

#[tokio::test]
async fn a_bucket_of_another_account_is_invisible_to_the_default_one() {
    let moto = Moto::start();
    let mine = moto.s3();
    let theirs = harness::s3_as_account(&moto, "210987654321");
    let bucket = unique_bucket("theirs");
    theirs.create_bucket().bucket(&bucket).send().await.unwrap();
    let mine_list = mine.list_buckets().send().await.unwrap();
    assert!(
        mine_list
            .buckets()
            .iter()
            .all(|b| b.name() != Some(bucket.as_str()))
    );
    let theirs_list = theirs.list_buckets().send().await.unwrap();
    assert!(
        theirs_list
            .buckets()
            .iter()
            .any(|b| b.name() == Some(bucket.as_str()))
    );
}

#[tokio::test]
async fn the_request_counter_counts_every_request_sent() {
    let moto = Moto::start();
    let (s3, counter) = harness::counting_s3(&moto);
    let bucket = unique_bucket("count");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(counter.count(), 2);
}

#[tokio::test]
async fn the_local_stack_moto_serves_s3_too() {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let bucket = unique_bucket("local-stack");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let listed = s3.list_buckets().send().await.unwrap();
    assert!(
        listed
            .buckets()
            .iter()
            .any(|b| b.name() == Some(bucket.as_str()))
    );
}
