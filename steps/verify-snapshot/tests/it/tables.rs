//! One case per way a table can be whole or broken. Each uploads real tables into a snapshot
//! bucket on moto (leaving objects out or changing them), runs the handler and reads the record.

use kit::verification::SnapshotVerdict;
use verify_snapshot::{TableReport, TableVerdict, VerifyError};

use crate::support::{JOB, Stage, Upload, added_in, events, files_of, fixture, get, put, upload};

fn only_table(r: &verify_snapshot::TablesRecord) -> &TableReport {
    assert_eq!(r.table_reports.len(), 1, "{:#?}", r.table_reports);
    &r.table_reports[0]
}

#[tokio::test]
async fn the_demo_table_restores_at_its_latest_version_and_as_of_the_backup_date() {
    let st = Stage::new().await;
    upload(
        &st.s3,
        &st.snapshot,
        "events/",
        &events(),
        &Upload::default(),
    )
    .await;
    let (v, rec) = st.verify_and_read().await;
    assert_eq!(v.verdict, SnapshotVerdict::AllRestorable);
    assert_eq!(v.summary, "1 Delta table restorable as of 2021-03-31");
    assert_eq!(
        v.record.key,
        format!("batch-reports/job-{JOB}/lakevault-tables.json")
    );
    assert_eq!(v.record.bucket, st.reports);
    let t = only_table(&rec);
    assert_eq!(t.root, "events/");
    assert_eq!(t.verdict, TableVerdict::Restorable);
    assert_eq!(t.latest_version, Some(9));
    assert_eq!(t.restorable_version, Some(9));
    // Commits 0..9 are all there: the log reconstructs from 0 (the checkpoint at 5 is not needed).
    assert_eq!(t.earliest_version, Some(0));
    let as_of = t.as_of_backup_date.as_ref().unwrap();
    // Version 8 was committed 2021-03-31T22:30Z, version 9 on 2021-04-01 (commitInfo.timestamp,
    // although every object was written into moto just now).
    assert_eq!(
        (as_of.version, as_of.committed_at_ms),
        (8, 1_617_229_800_000)
    );
    assert_eq!(as_of.source, "timestamp");
    assert!(as_of.restorable);
    assert_eq!(t.versions_checked, vec![9, 8]);
    assert_eq!(t.missing.count, 0);
    assert!(t.files.unwrap() > 0 && t.bytes.unwrap() > 0);
    let p = t.protocol.as_ref().unwrap();
    assert_eq!((p.min_reader_version, p.min_writer_version), (1, 2));
    assert!(t.findings.is_empty(), "{:?}", t.findings);
    assert_eq!(rec.non_delta_objects, 0);

    // A re-run writes the same bytes.
    let first = get(&st.s3, &v.record.bucket, &v.record.key).await;
    let again = st.verify().await.unwrap();
    assert_eq!(again, v);
    assert_eq!(get(&st.s3, &v.record.bucket, &v.record.key).await, first);
}

#[tokio::test]
async fn uri_encoded_partition_values_are_found_by_their_decoded_keys() {
    // On storage: part=a%20b/…, part=100%25/…, part=x%3Dy/…, part=%C3%BCn%C3%AF/…; in add.path
    // the same, encoded once more (part=a%2520b/…).
    let st = Stage::new().await;
    let dir = fixture("encoded");
    upload(&st.s3, &st.snapshot, "t/encoded/", &dir, &Upload::default()).await;
    let (v, rec) = st.verify_and_read().await;
    let t = only_table(&rec);
    assert_eq!(t.verdict, TableVerdict::Restorable, "{t:#?}");
    assert_eq!(t.restorable_version, Some(1));
    assert_eq!(t.files, Some(6));
    let data_files = files_of(&dir)
        .iter()
        .filter(|f| !f.starts_with("_delta_log"))
        .count();
    assert_eq!(data_files, 6);
    assert_eq!(v.verdict, SnapshotVerdict::AllRestorable);
}

#[tokio::test]
async fn a_missing_data_file_of_the_latest_commit_restores_the_version_before() {
    // The inventory is eventually consistent: commit 9 made it into the copy, its data file not.
    let st = Stage::new().await;
    let (file, size) = added_in(&events(), 9).remove(0);
    let how = Upload {
        skip: vec![file.clone()],
        ..Upload::default()
    };
    upload(&st.s3, &st.snapshot, "events/", &events(), &how).await;
    let (v, rec) = st.verify_and_read().await;
    let t = only_table(&rec);
    assert_eq!(t.latest_version, Some(9));
    assert_eq!(t.restorable_version, Some(8));
    assert_eq!(t.versions_checked, vec![9, 8]);
    assert_eq!(t.missing.version, Some(9));
    assert_eq!(t.missing.count, 1);
    assert_eq!(t.missing.samples[0].key, format!("events/{file}"));
    assert_eq!(t.missing.samples[0].expected_size, size);
    assert_eq!(t.missing.samples[0].found_size, None);
    // The backup date's version (8) is whole: the table is restorable as of the date.
    assert_eq!(t.verdict, TableVerdict::Restorable);
    assert_eq!(v.verdict, SnapshotVerdict::AllRestorable);
}

#[tokio::test]
async fn a_data_file_of_the_wrong_size_makes_the_versions_that_need_it_incomplete() {
    // Version 8's file is live in 8 and 9; stored one byte short, neither restores.
    let st = Stage::new().await;
    let (file, size) = added_in(&events(), 8).remove(0);
    let mut bytes = std::fs::read(events().join(&file)).unwrap();
    bytes.pop();
    let mut how = Upload::default();
    how.replace.insert(file.clone(), bytes);
    upload(&st.s3, &st.snapshot, "events/", &events(), &how).await;
    let (v, rec) = st.verify_and_read().await;
    let t = only_table(&rec);
    assert_eq!(t.restorable_version, Some(7));
    assert_eq!(t.missing.version, Some(9));
    assert_eq!(t.missing.count, 1);
    let m = &t.missing.samples[0];
    assert_eq!((m.expected_size, m.found_size), (size, Some(size - 1)));
    let as_of = t.as_of_backup_date.as_ref().unwrap();
    assert_eq!((as_of.version, as_of.restorable), (8, false));
    assert_eq!(t.verdict, TableVerdict::Degraded);
    assert_eq!(v.verdict, SnapshotVerdict::Degraded);
    assert_eq!(
        v.summary,
        "0 of 1 Delta table restorable as of 2021-03-31, 1 only at another version"
    );
}

#[tokio::test]
async fn a_table_three_levels_deep_is_found_beside_non_delta_objects() {
    let st = Stage::new().await;
    upload(
        &st.s3,
        &st.snapshot,
        "warehouse/sales/2021/events/",
        &events(),
        &Upload::default(),
    )
    .await;
    upload(
        &st.s3,
        &st.snapshot,
        "other/encoded/",
        &fixture("encoded"),
        &Upload::default(),
    )
    .await;
    for k in [
        "README.txt",
        "raw/2021/03/31/export.csv",
        "raw/2021/03/31/export.json",
        "warehouse/notes.md",
    ] {
        put(&st.s3, &st.snapshot, k, b"not delta".to_vec()).await;
    }
    let (v, rec) = st.verify_and_read().await;
    let roots: Vec<&str> = rec.table_reports.iter().map(|t| t.root.as_str()).collect();
    assert_eq!(roots, ["other/encoded/", "warehouse/sales/2021/events/"]);
    assert_eq!(v.non_delta_objects, 4);
    assert_eq!(v.tables.total, 2);
    assert_eq!(v.summary, "2 Delta tables restorable as of 2021-03-31");
}

#[tokio::test]
async fn commits_five_to_nine_without_a_checkpoint_are_unrestorable() {
    // The kernel would replay 5..9 as if complete (it checks contiguity, not the start).
    let st = Stage::new().await;
    let mut skip: Vec<String> = (0..5).map(|v| format!("_delta_log/{v:020}.json")).collect();
    skip.push("_delta_log/00000000000000000005.checkpoint.parquet".into());
    skip.push("_delta_log/_last_checkpoint".into());
    let how = Upload {
        skip,
        ..Upload::default()
    };
    upload(&st.s3, &st.snapshot, "events/", &events(), &how).await;
    let (v, rec) = st.verify_and_read().await;
    let t = only_table(&rec);
    assert_eq!(t.verdict, TableVerdict::Unrestorable);
    assert_eq!(t.latest_version, Some(9));
    assert_eq!((t.earliest_version, t.restorable_version), (None, None));
    assert!(t.versions_checked.is_empty(), "{:?}", t.versions_checked);
    assert!(
        t.findings
            .iter()
            .any(|f| f.contains("starts at commit 5 and has no checkpoint")),
        "{:?}",
        t.findings
    );
    assert_eq!(v.verdict, SnapshotVerdict::Degraded);
    assert_eq!(v.tables.unrestorable, 1);
}

#[tokio::test]
async fn after_log_cleanup_the_checkpoint_starts_the_chain() {
    // Commits 0..4 cleaned up, the checkpoint at 5 kept: versions 5..9 restore.
    let st = Stage::new().await;
    let how = Upload {
        skip: (0..5).map(|v| format!("_delta_log/{v:020}.json")).collect(),
        ..Upload::default()
    };
    upload(&st.s3, &st.snapshot, "events/", &events(), &how).await;
    let (_, rec) = st.verify_and_read().await;
    let t = only_table(&rec);
    assert_eq!(t.earliest_version, Some(5));
    assert_eq!(t.restorable_version, Some(9));
    assert_eq!(t.verdict, TableVerdict::Restorable);
}

#[tokio::test]
async fn a_last_checkpoint_naming_a_missing_checkpoint_is_a_finding() {
    let st = Stage::new().await;
    let how = Upload {
        skip: vec!["_delta_log/00000000000000000005.checkpoint.parquet".into()],
        ..Upload::default()
    };
    upload(&st.s3, &st.snapshot, "events/", &events(), &how).await;
    let (_, rec) = st.verify_and_read().await;
    let t = only_table(&rec);
    assert!(
        t.findings
            .iter()
            .any(|f| f.contains("_last_checkpoint names the checkpoint of version 5")),
        "{t:#?}"
    );
    // The hint is not part of any version (a restore writes its own, or none): the log is read
    // without it, and commits 0..9 are all there.
    assert_eq!(t.restorable_version, Some(9));
    assert_eq!(t.verdict, TableVerdict::Restorable);
    assert_eq!(t.findings.len(), 1, "{:?}", t.findings);
}

#[tokio::test]
async fn a_vacuumed_table_restores_only_the_versions_after_the_vacuum() {
    // VACUUM removed version 0's files; 0 is the backup date's version.
    let st = Stage::new().await;
    upload(
        &st.s3,
        &st.snapshot,
        "vacuumed/",
        &fixture("vacuumed"),
        &Upload::default(),
    )
    .await;
    let (_, rec) = st.verify_and_read().await;
    let t = only_table(&rec);
    assert_eq!(t.latest_version, Some(4));
    assert_eq!(t.restorable_version, Some(4));
    let as_of = t.as_of_backup_date.as_ref().unwrap();
    assert_eq!((as_of.version, as_of.restorable), (0, false));
    assert_eq!(t.versions_checked, vec![4, 0]);
    assert_eq!(t.missing.version, Some(0));
    assert!(t.missing.count > 0);
    assert_eq!(t.verdict, TableVerdict::Degraded);
}

#[tokio::test]
async fn a_snapshot_without_tables_is_no_tables() {
    let st = Stage::new().await;
    put(&st.s3, &st.snapshot, "raw/a.csv", b"x".to_vec()).await;
    let (v, rec) = st.verify_and_read().await;
    assert_eq!(v.verdict, SnapshotVerdict::NoTables);
    assert_eq!(v.non_delta_objects, 1);
    assert!(rec.table_reports.is_empty());
    assert_eq!(v.summary, "no Delta tables found");
}

#[tokio::test]
async fn a_missing_snapshot_bucket_is_snapshot_not_found() {
    let st = Stage::new().await;
    st.s3
        .delete_bucket()
        .bucket(&st.snapshot)
        .send()
        .await
        .unwrap();
    let e = st.verify().await.unwrap_err();
    assert!(matches!(e, VerifyError::SnapshotNotFound { .. }), "{e:?}");
}

/// The deletion-vector fixture's descriptor, from its commit 1.
fn dv_descriptor() -> serde_json::Value {
    let text = std::fs::read_to_string(
        fixture("deletion-vector").join("_delta_log/00000000000000000001.json"),
    )
    .unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|a| a.get("add").map(|add| add["deletionVector"].clone()))
        .unwrap()
}

#[test]
fn the_hand_written_deletion_vector_is_one_delta_kernel_decodes() {
    // The fixture's DV was written following PROTOCOL.md, not by a Delta writer: prove it with
    // the reference reader's own decoder, over a local store.
    use delta_kernel::Engine as _;
    use delta_kernel::actions::deletion_vector::{
        DeletionVectorDescriptor, DeletionVectorStorageType,
    };
    let d = dv_descriptor();
    assert_eq!(d["storageType"], "u");
    let dv = DeletionVectorDescriptor {
        storage_type: DeletionVectorStorageType::PersistedRelative,
        path_or_inline_dv: d["pathOrInlineDv"].as_str().unwrap().to_owned(),
        offset: Some(d["offset"].as_i64().unwrap() as i32),
        size_in_bytes: d["sizeInBytes"].as_i64().unwrap() as i32,
        cardinality: d["cardinality"].as_i64().unwrap(),
    };
    let table = url::Url::from_directory_path(fixture("deletion-vector")).unwrap();
    let path = dv.absolute_path(&table).unwrap().unwrap();
    assert!(
        path.as_str()
            .ends_with("/ab/deletion_vector_5f1c0a52-3e1d-4a8e-9c0b-7d2b6f4e8a11.bin")
    );
    let engine = delta_kernel_default_engine::DefaultEngineBuilder::new(std::sync::Arc::new(
        delta_kernel::object_store::local::LocalFileSystem::new(),
    ))
    .build();
    assert_eq!(
        dv.row_indexes(engine.storage_handler(), &table).unwrap(),
        vec![0]
    );
}

const DV_FILE: &str = "ab/deletion_vector_5f1c0a52-3e1d-4a8e-9c0b-7d2b6f4e8a11.bin";

#[tokio::test]
async fn a_deletion_vector_found_by_its_u_type_path_makes_the_version_whole() {
    let st = Stage::new().await;
    upload(
        &st.s3,
        &st.snapshot,
        "dv/",
        &fixture("deletion-vector"),
        &Upload::default(),
    )
    .await;
    let (_, rec) = st.verify_and_read().await;
    let t = only_table(&rec);
    assert_eq!(t.restorable_version, Some(1), "{t:#?}");
    assert_eq!(t.deletion_vectors, Some(1));
    assert_eq!(t.verdict, TableVerdict::Restorable);
    let p = t.protocol.as_ref().unwrap();
    assert_eq!((p.min_reader_version, p.min_writer_version), (3, 7));
    assert_eq!(p.reader_features, ["deletionVectors"]);
}

#[tokio::test]
async fn a_missing_deletion_vector_makes_its_version_incomplete() {
    let st = Stage::new().await;
    let how = Upload {
        skip: vec![DV_FILE.to_owned()],
        ..Upload::default()
    };
    upload(
        &st.s3,
        &st.snapshot,
        "dv/",
        &fixture("deletion-vector"),
        &how,
    )
    .await;
    let (_, rec) = st.verify_and_read().await;
    let t = only_table(&rec);
    // Version 1 (the backup date's) needs the DV; version 0 does not.
    assert_eq!(t.restorable_version, Some(0), "{t:#?}");
    assert_eq!(t.missing.version, Some(1));
    assert_eq!(t.missing.count, 1);
    let m = &t.missing.samples[0];
    assert_eq!(m.key, format!("dv/{DV_FILE}"));
    assert_eq!(m.kind, verify_snapshot::report::FileKind::DeletionVector);
    assert_eq!(m.found_size, None);
    let d = dv_descriptor();
    // At offset 1: the 4-byte size, the vector, the 4-byte checksum.
    assert_eq!(
        m.expected_size,
        1 + 4 + d["sizeInBytes"].as_u64().unwrap() + 4
    );
    assert_eq!(t.verdict, TableVerdict::Degraded);
}
