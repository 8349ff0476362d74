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
    upload(&st.s3, &st.snapshot, "events/", &events(), &Upload::default()).await;
    let (v, rec) = st.verify_and_read().await;
    assert_eq!(v.verdict, SnapshotVerdict::AllRestorable);
    assert_eq!(v.summary, "1 Delta table restorable as of 2021-03-31");
    assert_eq!(v.record.key, format!("batch-reports/job-{JOB}/lakevault-tables.json"));
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
    assert_eq!((as_of.version, as_of.committed_at_ms), (8, 1_617_229_800_000));
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
