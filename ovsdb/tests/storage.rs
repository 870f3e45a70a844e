//! The durable log: replay, torn tails, corruption, compaction.

use rvs_ovsdb::storage::{Storage, StorageError};
use rvs_ovsdb::txn::{execute, NoLocks, Outcome};
use rvs_ovsdb::{Database, DatabaseSchema};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;

struct Tmp(PathBuf);
impl Tmp {
    fn new(tag: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!(
            "rvs-ovsdb-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&d).unwrap();
        Tmp(d)
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn schema() -> DatabaseSchema {
    DatabaseSchema::from_json(&json!({
        "name": "S", "version": "1.0.0",
        "tables": {"T": {"columns": {
            "n": {"type": "integer"},
            "s": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
            "eph": {"type": "integer", "ephemeral": true}},
            "isRoot": true}}
    }))
    .unwrap()
}

/// Runs a transaction through storage then memory, as the server does.
fn commit(st: &mut Storage, db: &mut Database, ops: Value) {
    match execute(db, ops.as_array().unwrap(), &NoLocks, 0) {
        Outcome::Done { results, commit } => {
            assert!(
                results.iter().all(|r| r.get("error").is_none()),
                "{results:?}"
            );
            if let Some(c) = commit {
                st.append(db, &c).unwrap();
                db.apply(&c);
            }
        }
        Outcome::Blocked { .. } => panic!("blocked"),
    }
}

fn values(db: &Database) -> Vec<i64> {
    let t = db.table_index("T").unwrap();
    let n = db.table_schema(t).column_index("n").unwrap();
    let mut v: Vec<i64> = db
        .rows(t)
        .map(|r| r.cols[n].as_scalar().unwrap().to_string().parse().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn commits_survive_reopen_and_ephemeral_columns_do_not() {
    let tmp = Tmp::new("reopen");
    let path = tmp.0.join("db");
    let mut st = Storage::create(&path, &schema()).unwrap();
    assert!(
        Storage::create(&path, &schema()).is_err(),
        "create never overwrites"
    );
    let mut db = Database::new(std::sync::Arc::new(schema()));
    for i in 0..10 {
        commit(
            &mut st,
            &mut db,
            json!([{"op": "insert", "table": "T", "row": {"n": i, "eph": 7}}]),
        );
    }
    commit(
        &mut st,
        &mut db,
        json!([{"op": "delete", "table": "T", "where": [["n", "==", 3]]}]),
    );
    let before = st.len();
    // A change to an ephemeral column alone writes nothing.
    commit(
        &mut st,
        &mut db,
        json!([{"op": "update", "table": "T", "where": [], "row": {"eph": 9}}]),
    );
    assert_eq!(st.len(), before);
    drop(st);
    let (_, db2, report) = Storage::open(&path).unwrap();
    assert_eq!(report.commits, 11);
    assert!(report.truncated.is_none());
    assert_eq!(values(&db2), vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
    let t = db2.table_index("T").unwrap();
    let eph = db2.table_schema(t).column_index("eph").unwrap();
    assert!(
        db2.rows(t).all(|r| r.cols[eph].to_json() == json!(0)),
        "ephemeral values are not stored"
    );
}

#[test]
fn a_torn_last_record_is_cut_off_and_reported() {
    let tmp = Tmp::new("torn");
    let path = tmp.0.join("db");
    let mut st = Storage::create(&path, &schema()).unwrap();
    let mut db = Database::new(std::sync::Arc::new(schema()));
    commit(
        &mut st,
        &mut db,
        json!([{"op": "insert", "table": "T", "row": {"n": 1}}]),
    );
    let good = st.len();
    drop(st);
    for tail in [
        &b"RVSDB 120 0bad"[..],
        b"RVSDB 10 00000000\n{\"kind\":",
        b"RVSDB 2 00000000\n{}\n",
    ] {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(tail).unwrap();
        drop(f);
        let (st, db2, report) = Storage::open(&path).unwrap();
        assert_eq!(
            report.truncated,
            Some((good, tail.len() as u64)),
            "{tail:?}"
        );
        assert_eq!(st.len(), good);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
        assert_eq!(values(&db2), vec![1]);
    }
}

#[test]
fn damage_before_the_tail_stops_with_file_and_offset() {
    let tmp = Tmp::new("corrupt");
    let path = tmp.0.join("db");
    let mut st = Storage::create(&path, &schema()).unwrap();
    let mut db = Database::new(std::sync::Arc::new(schema()));
    commit(
        &mut st,
        &mut db,
        json!([{"op": "insert", "table": "T", "row": {"n": 1}}]),
    );
    let first_commit_at = {
        let b = std::fs::read(&path).unwrap();
        let s = String::from_utf8_lossy(&b).to_string();
        s.match_indices("RVSDB").nth(1).unwrap().0
    };
    commit(
        &mut st,
        &mut db,
        json!([{"op": "insert", "table": "T", "row": {"n": 2}}]),
    );
    drop(st);
    let mut b = std::fs::read(&path).unwrap();
    // Flip a byte inside the first commit's body.
    let i = first_commit_at + 30;
    b[i] ^= 0x20;
    std::fs::write(&path, &b).unwrap();
    let err = Storage::open(&path).unwrap_err();
    match &err {
        StorageError::Corrupt { offset, .. } => assert_eq!(*offset as usize, first_commit_at),
        other => panic!("expected corruption, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("offset"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b, "the file is left alone");
}

#[test]
fn compaction_keeps_the_data_and_shrinks_the_file() {
    let tmp = Tmp::new("compact");
    let path = tmp.0.join("db");
    let mut st = Storage::create(&path, &schema()).unwrap();
    let mut db = Database::new(std::sync::Arc::new(schema()));
    commit(
        &mut st,
        &mut db,
        json!([{"op": "insert", "table": "T", "row": {"n": 0}}]),
    );
    assert!(!st.wants_compaction());
    let mut i = 1;
    while !st.wants_compaction() {
        assert!(i < 100_000, "the log never asked for compaction");
        commit(
            &mut st,
            &mut db,
            json!([{"op": "update", "table": "T", "where": [], "row": {"n": i, "s": ["set", ["some", "strings", "to", "grow", "the", "log"]]}}]),
        );
        i += 1;
    }
    let big = st.len();
    st.compact(&db).unwrap();
    assert!(st.len() < big / 10, "{} of {big}", st.len());
    commit(
        &mut st,
        &mut db,
        json!([{"op": "update", "table": "T", "where": [], "row": {"n": 5000}}]),
    );
    drop(st);
    let (_, db2, report) = Storage::open(&path).unwrap();
    assert_eq!(report.commits, 1);
    assert_eq!(values(&db2), vec![5000]);
}
