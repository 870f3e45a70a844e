//! Transactions against their invariants, over random sequences: a failed
//! transaction changes nothing; after every commit the references, garbage
//! collection, indexes and kept counts are right (recounted from scratch);
//! and replaying the durable log gives the same database.

use proptest::prelude::*;
use rvs_ovsdb::storage::Storage;
use rvs_ovsdb::txn::{execute, NoLocks, Outcome};
use rvs_ovsdb::{Database, DatabaseSchema};
use serde_json::{json, Value};
use std::sync::Arc;

fn schema() -> DatabaseSchema {
    DatabaseSchema::from_json(&json!({
        "name": "P", "version": "1.0.0",
        "tables": {
            "Root": {"columns": {
                "name": {"type": "string"},
                "kids": {"type": {"key": {"type": "uuid", "refTable": "Kid"}, "min": 0, "max": "unlimited"}}},
                "isRoot": true, "maxRows": 3, "indexes": [["name"]]},
            "Kid": {"columns": {
                "name": {"type": "string"},
                "n": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 10}}},
                "peer": {"type": {"key": {"type": "uuid", "refTable": "Kid", "refType": "weak"}, "min": 0, "max": 1}},
                "best": {"type": {"key": {"type": "uuid", "refTable": "Kid", "refType": "weak"}, "min": 1, "max": 1}}},
                "indexes": [["name"]]}
        }
    }))
    .unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    NewRoot(u8, Vec<u8>),
    NewKid(u8),
    SetKids(u8, Vec<u8>, bool),
    DelKid(u8),
    DelRoot(u8),
    AddN(u8, i64),
    Rename(u8, u8),
    Peer(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let name = 0u8..6;
    prop_oneof![
        (name.clone(), proptest::collection::vec(0u8..6, 0..3))
            .prop_map(|(r, k)| Op::NewRoot(r, k)),
        name.clone().prop_map(Op::NewKid),
        (
            name.clone(),
            proptest::collection::vec(0u8..6, 0..4),
            any::<bool>()
        )
            .prop_map(|(r, k, bad)| Op::SetKids(r, k, bad)),
        name.clone().prop_map(Op::DelKid),
        name.clone().prop_map(Op::DelRoot),
        (name.clone(), -12i64..12).prop_map(|(k, d)| Op::AddN(k, d)),
        (name.clone(), name.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        (name.clone(), name).prop_map(|(a, b)| Op::Peer(a, b)),
    ]
}

fn kid_uuids(db: &Database, names: &[u8]) -> Vec<Value> {
    let t = db.table_index("Kid").unwrap();
    let name_col = db.table_schema(t).column_index("name").unwrap();
    let mut out = Vec::new();
    for n in names {
        for r in db.rows(t) {
            if r.cols[name_col].to_json() == json!(format!("k{n}")) {
                out.push(r.uuid.to_json());
            }
        }
    }
    out
}

fn ops_for(db: &Database, op: &Op) -> Vec<Value> {
    match op {
        Op::NewRoot(r, kids) => {
            let mut ops = vec![
                json!({"op": "insert", "table": "Root", "row": {"name": format!("r{r}"),
                "kids": ["set", kids.iter().map(|k| json!(["named-uuid", format!("nk{k}")])).collect::<Vec<_>>()]}}),
            ];
            let mut seen = std::collections::BTreeSet::new();
            for k in kids {
                if seen.insert(k) {
                    ops.push(json!({"op": "insert", "table": "Kid", "uuid-name": format!("nk{k}"),
                        "row": {"name": format!("k{k}"), "best": ["named-uuid", format!("nk{k}")]}}));
                }
            }
            ops
        }
        Op::NewKid(k) => vec![
            json!({"op": "insert", "table": "Kid", "uuid-name": "x", "row": {"name": format!("k{k}"), "best": ["named-uuid", "x"]}}),
        ],
        Op::SetKids(r, kids, bad) => {
            let mut set = kid_uuids(db, kids);
            if *bad {
                set.push(json!(["uuid", "6f1f1ab6-5f9c-4a2e-9b5b-5f0cbe2b11a1"]));
            }
            vec![
                json!({"op": "update", "table": "Root", "where": [["name", "==", format!("r{r}")]], "row": {"kids": ["set", set]}}),
            ]
        }
        Op::DelKid(k) => vec![
            json!({"op": "delete", "table": "Kid", "where": [["name", "==", format!("k{k}")]]}),
        ],
        Op::DelRoot(r) => vec![
            json!({"op": "delete", "table": "Root", "where": [["name", "==", format!("r{r}")]]}),
        ],
        Op::AddN(k, d) => vec![
            json!({"op": "mutate", "table": "Kid", "where": [["name", "==", format!("k{k}")]], "mutations": [["n", "+=", d]]}),
        ],
        Op::Rename(a, b) => vec![
            json!({"op": "update", "table": "Kid", "where": [["name", "==", format!("k{a}")]], "row": {"name": format!("k{b}")}}),
        ],
        Op::Peer(a, b) => {
            let p = kid_uuids(db, &[*b]);
            vec![
                json!({"op": "update", "table": "Kid", "where": [["name", "==", format!("k{a}")]], "row": {"peer": ["set", p]}}),
            ]
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_transactions_keep_every_invariant(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = std::env::temp_dir().join(format!("rvs-txnprop-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db");
        let s = schema();
        let mut storage = Storage::create(&path, &s).unwrap();
        let mut db = Database::new(Arc::new(s));
        for op in &ops {
            let txn = ops_for(&db, op);
            let before = db.snapshot_json(false);
            match execute(&db, &txn, &NoLocks, 0) {
                Outcome::Done { results, commit } => {
                    let failed = results.iter().any(|r| r.get("error").is_some());
                    prop_assert!(!(failed && commit.is_some()), "{op:?}: an error with a commit");
                    if let Some(c) = commit {
                        storage.append(&db, &c).unwrap();
                        db.apply(&c);
                    }
                    if failed {
                        prop_assert_eq!(&db.snapshot_json(false), &before, "{:?} failed but changed the database", op);
                    }
                    if let Err(e) = db.check_invariants() {
                        prop_assert!(false, "after {:?}: {}", op, e);
                    }
                }
                Outcome::Blocked { .. } => prop_assert!(false, "nothing here waits"),
            }
        }
        drop(storage);
        let (_, replayed, _) = Storage::open(&path).unwrap();
        prop_assert_eq!(replayed.snapshot_json(true), db.snapshot_json(true));
        prop_assert!(replayed.check_invariants().is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
