//! Deliveries written and read back: layout, format, odd keys, splitting, versions, the CLI.

use aws_sdk_s3::Client;
use harness::{Moto, get_object, put_object, unique_bucket};
use local_inventory::{
    Delivery, Error, Field, Versions, parse_file_schema, read_delivery, read_delivery_within,
};
use md5::{Digest, Md5};
use time::macros::datetime;

const ODD_KEYS: &[&str] = &[
    "plain.parquet",
    "with space/file name.json",
    "plus+sign/a+b.parquet",
    "percent%/100%25.txt",
    "ünïcødé/日本語/😀.json",
    "deep/a/b/c/d/e/f/g/h/i/j/k/l/m/part-00000.snappy.parquet",
    "year=2021/month=03/_delta_log/00000000000000000000.json",
    "quote\"comma,semicolon;.csv",
];

async fn bucket(s3: &Client, name: &str) {
    s3.create_bucket().bucket(name).send().await.unwrap();
}

#[tokio::test]
async fn odd_keys_round_trip_through_a_delivery() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let (src, dst) = (unique_bucket("src"), unique_bucket("inv"));
    bucket(&s3, &src).await;
    bucket(&s3, &dst).await;
    for k in ODD_KEYS {
        put_object(&s3, &src, k, k).await;
    }
    let mut d = Delivery::new(
        &src,
        &dst,
        "inventory",
        "daily",
        datetime!(2021-04-02 01:00 UTC),
    );
    d.rows_per_file = 3;
    let report = local_inventory::deliver(&s3, &d).await.unwrap();

    // Layout.
    let base = format!("inventory/{src}/daily/");
    assert_eq!(
        report.manifest_key,
        format!("{base}2021-04-02T01-00Z/manifest.json")
    );
    assert_eq!(
        report.checksum_key,
        format!("{base}2021-04-02T01-00Z/manifest.checksum")
    );
    assert_eq!(
        report.symlink_key,
        format!("{base}hive/dt=2021-04-02-01-00/symlink.txt")
    );
    assert_eq!(report.rows, ODD_KEYS.len() as u64);
    // 8 rows, 3 per file.
    assert_eq!(report.data_files.len(), 3);
    for f in &report.data_files {
        assert!(
            f.starts_with(&format!("{base}data/")) && f.ends_with(".csv.gz"),
            "{f}"
        );
    }

    // manifest.json: S3's fields, and the checksum is the MD5 of its bytes.
    let raw = get_object(&s3, &dst, &report.manifest_key).await;
    let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(m["sourceBucket"], src.as_str());
    assert_eq!(m["destinationBucket"], format!("arn:aws:s3:::{dst}"));
    assert_eq!(m["version"], "2016-11-30");
    assert_eq!(m["creationTimestamp"], "1617325200000");
    assert_eq!(m["fileFormat"], "CSV");
    assert_eq!(
        m["fileSchema"],
        "Bucket, Key, Size, LastModifiedDate, StorageClass, ETag"
    );
    let checksum = String::from_utf8(get_object(&s3, &dst, &report.checksum_key).await).unwrap();
    assert_eq!(checksum, hex::encode(Md5::digest(&raw)));
    assert_eq!(checksum, report.manifest_md5);
    for f in m["files"].as_array().unwrap() {
        let body = get_object(&s3, &dst, f["key"].as_str().unwrap()).await;
        assert_eq!(f["size"], body.len() as u64);
        assert_eq!(f["MD5checksum"], hex::encode(Md5::digest(&body)).as_str());
    }

    // symlink.txt lists every data file.
    let symlink = String::from_utf8(get_object(&s3, &dst, &report.symlink_key).await).unwrap();
    let want: Vec<String> = report
        .data_files
        .iter()
        .map(|k| format!("s3://{dst}/{k}"))
        .collect();
    assert_eq!(symlink.lines().collect::<Vec<_>>(), want);

    // Raw format: no header, every field quoted, keys URL-encoded (no spaces, `+` as %2B).
    let gz = get_object(&s3, &dst, &report.data_files[0]).await;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut text)
        .unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with(&format!("\"{src}\",\"")), "{first}");
    assert!(!text.contains("Bucket"), "no header row: {text}");
    assert!(!text.contains(' '), "keys are encoded: {text}");

    // Round trip: every key comes back decoded, with its size and ETag.
    let (manifest, rows) = read_delivery(&s3, &dst, &report.manifest_key)
        .await
        .unwrap();
    assert_eq!(manifest, report.manifest);
    let mut keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    let mut want: Vec<&str> = ODD_KEYS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want);
    for r in &rows {
        assert_eq!(r.bucket, src);
        assert_eq!(r.get("Size"), Some(r.key.len().to_string().as_str()));
        assert_eq!(r.get("StorageClass"), Some("STANDARD"));
        let etag = r.get("ETag").unwrap();
        assert_eq!(etag, hex::encode(Md5::digest(r.key.as_bytes())));
        let lm = r.get("LastModifiedDate").unwrap();
        assert!(lm.ends_with('Z') && lm.len() == 24, "{lm}");
    }
}

#[tokio::test]
async fn all_versions_list_every_version_and_delete_marker() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let (src, dst) = (unique_bucket("src"), unique_bucket("inv"));
    bucket(&s3, &src).await;
    bucket(&s3, &dst).await;
    s3.put_bucket_versioning()
        .bucket(&src)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    put_object(&s3, &src, "t/a b.json", "v1").await;
    put_object(&s3, &src, "t/a b.json", "v2!").await;
    put_object(&s3, &src, "t/gone", "x").await;
    s3.delete_object()
        .bucket(&src)
        .key("t/gone")
        .send()
        .await
        .unwrap();

    let mut d = Delivery::new(&src, &dst, "", "all", datetime!(2021-04-02 01:00 UTC));
    d.versions = Versions::All;
    d.fields = vec![
        Field::ETag,
        Field::Size,
        Field::IsMultipartUploaded,
        Field::EncryptionStatus,
    ];
    let report = local_inventory::deliver(&s3, &d).await.unwrap();
    assert!(
        report
            .manifest_key
            .starts_with(&format!("{src}/all/2021-04-02T01-00Z/"))
    );
    assert_eq!(
        parse_file_schema(&report.manifest.file_schema),
        [
            "Bucket",
            "Key",
            "VersionId",
            "IsLatest",
            "IsDeleteMarker",
            "Size",
            "ETag",
            "IsMultipartUploaded",
            "EncryptionStatus"
        ]
    );
    let (_, rows) = read_delivery(&s3, &dst, &report.manifest_key)
        .await
        .unwrap();
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let ab: Vec<_> = rows.iter().filter(|r| r.key == "t/a b.json").collect();
    assert_eq!(ab.len(), 2);
    assert_eq!(
        ab.iter()
            .filter(|r| r.get("IsLatest") == Some("true"))
            .count(),
        1
    );
    for r in &ab {
        assert!(!r.get("VersionId").unwrap().is_empty());
        assert_eq!(r.get("IsDeleteMarker"), Some("false"));
        assert_eq!(r.get("IsMultipartUploaded"), Some("false"));
        // moto applies S3's default encryption (SSE-S3) or none, depending on the bucket.
        assert!(
            matches!(r.get("EncryptionStatus"), Some("NOT-SSE" | "SSE-S3")),
            "{r:?}"
        );
    }
    let marker = rows
        .iter()
        .find(|r| r.get("IsDeleteMarker") == Some("true"))
        .unwrap();
    assert_eq!(marker.key, "t/gone");
    assert_eq!(marker.get("IsLatest"), Some("true"));
    assert_eq!(marker.get("Size"), Some(""));
}

#[tokio::test]
async fn empty_bucket_still_gets_a_consumable_delivery() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let (src, dst) = (unique_bucket("src"), unique_bucket("inv"));
    bucket(&s3, &src).await;
    bucket(&s3, &dst).await;
    let d = Delivery::new(&src, &dst, "inv/", "daily", datetime!(2021-04-02 01:00 UTC));
    let report = local_inventory::deliver(&s3, &d).await.unwrap();
    assert_eq!(report.rows, 0);
    assert_eq!(report.data_files.len(), 1);
    assert!(
        report
            .manifest_key
            .starts_with(&format!("inv/{src}/daily/"))
    );
    let (_, rows) = read_delivery(&s3, &dst, &report.manifest_key)
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn missing_source_bucket_is_an_error_and_writes_nothing() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let dst = unique_bucket("inv");
    bucket(&s3, &dst).await;
    let d = Delivery::new(
        "no-such-src",
        &dst,
        "inv",
        "daily",
        datetime!(2021-04-02 01:00 UTC),
    );
    let err = local_inventory::deliver(&s3, &d).await.unwrap_err();
    assert!(err.to_string().contains("NoSuchBucket"), "{err}");
    let listed = s3.list_objects_v2().bucket(&dst).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));
}

#[tokio::test]
async fn the_cli_delivers_and_a_bad_flag_exits_2() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let (src, dst) = (unique_bucket("src"), unique_bucket("inv"));
    bucket(&s3, &src).await;
    bucket(&s3, &dst).await;
    put_object(&s3, &src, "a b/c+d.parquet", "1234").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_local-inventory"))
        .args([
            "--source-bucket",
            &src,
            "--destination-bucket",
            &dst,
            "--prefix",
            "inventory",
            "--configuration-id",
            "daily",
            "--at",
            "2021-04-02T01:00Z",
            "--fields",
            "Size,ETag",
        ])
        .envs(moto.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = report["manifest_key"].as_str().unwrap();
    assert_eq!(
        key,
        format!("inventory/{src}/daily/2021-04-02T01-00Z/manifest.json")
    );
    let (m, rows) = read_delivery(&s3, &dst, key).await.unwrap();
    assert_eq!(m.file_schema, "Bucket, Key, Size, ETag");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key, "a b/c+d.parquet");
    assert_eq!(rows[0].get("Size"), Some("4"));

    // A bad flag: usage on stderr, status 2.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_local-inventory"))
        .args(["--fields", "Colour"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Colour"));
}

#[tokio::test]
async fn reading_a_delivery_back_refuses_an_object_over_the_limit() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let (src, dst) = (unique_bucket("src"), unique_bucket("inv"));
    bucket(&s3, &src).await;
    bucket(&s3, &dst).await;
    put_object(&s3, &src, "k", "1234").await;
    let d = Delivery::new(&src, &dst, "", "daily", datetime!(2021-04-02 01:00 UTC));
    let report = local_inventory::deliver(&s3, &d).await.unwrap();
    let err = read_delivery_within(&s3, &dst, &report.manifest_key, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge { key, limit: 10, .. } if key == &report.manifest_key),
        "{err}"
    );
    // Within the default limit the same delivery reads back.
    assert_eq!(
        read_delivery(&s3, &dst, &report.manifest_key)
            .await
            .unwrap()
            .1
            .len(),
        1
    );
}
