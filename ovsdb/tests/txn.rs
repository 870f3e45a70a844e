//! Transactions against a small schema in the shape of the vswitch one.

use rvs_ovsdb::txn::{execute, NoLocks, Outcome, Session};
use rvs_ovsdb::{Database, DatabaseSchema};
use serde_json::{json, Value};
use std::sync::Arc;

fn schema() -> Arc<DatabaseSchema> {
    Arc::new(
        DatabaseSchema::from_json(&json!({
            "name": "Test", "version": "1.0.0",
            "tables": {
                "Root": {"columns": {
                    "bridges": {"type": {"key": {"type": "uuid", "refTable": "Bridge"}, "min": 0, "max": "unlimited"}},
                    "next_cfg": {"type": "integer"},
                    "cur_cfg": {"type": "integer"}},
                    "isRoot": true, "maxRows": 1},
                "Bridge": {"columns": {
                    "name": {"type": "string", "mutable": false},
                    "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}},
                    "mirror_port": {"type": {"key": {"type": "uuid", "refTable": "Port", "refType": "weak"}, "min": 0, "max": 1}},
                    "other_config": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}},
                    "indexes": [["name"]]},
                "Port": {"columns": {
                    "name": {"type": "string"},
                    "tag": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 1}},
                    "trunks": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 4096}}},
                    "indexes": [["name"]]}
            }
        }))
        .unwrap(),
    )
}

/// Runs `ops`, applies the commit, returns the results.
fn run(db: &mut Database, ops: Value) -> Vec<Value> {
    run_as(db, ops, &NoLocks)
}

fn run_as(db: &mut Database, ops: Value, s: &dyn Session) -> Vec<Value> {
    match execute(db, ops.as_array().unwrap(), s, 0) {
        Outcome::Done { results, commit } => {
            if let Some(c) = commit {
                db.apply(&c);
            }
            results
        }
        Outcome::Blocked { .. } => panic!("unexpectedly blocked"),
    }
}

fn error_of(results: &[Value]) -> Option<&str> {
    results
        .iter()
        .find_map(|r| r.get("error").and_then(Value::as_str))
}

fn count(db: &Database, table: &str) -> usize {
    db.row_count(db.table_index(table).unwrap())
}

fn setup() -> (Database, String) {
    let mut db = Database::new(schema());
    let r = run(
        &mut db,
        json!([
            {"op": "insert", "table": "Root", "row": {"bridges": ["named-uuid", "br"]}, "uuid-name": "root"},
            {"op": "insert", "table": "Bridge", "row": {"name": "br0", "ports": ["set", [["named-uuid", "p1"]]]}, "uuid-name": "br"},
            {"op": "insert", "table": "Port", "row": {"name": "p1"}, "uuid-name": "p1"}
        ]),
    );
    assert_eq!(error_of(&r), None, "{r:?}");
    let root = r[0]["uuid"][1].as_str().unwrap().to_string();
    (db, root)
}

#[test]
fn named_uuids_link_rows_in_one_transaction() {
    let (db, _) = setup();
    assert_eq!(count(&db, "Root"), 1);
    assert_eq!(count(&db, "Bridge"), 1);
    assert_eq!(count(&db, "Port"), 1);
}

#[test]
fn unreferenced_rows_of_non_root_tables_are_collected() {
    let (mut db, root) = setup();
    // A port nobody refers to disappears at commit.
    let r = run(
        &mut db,
        json!([{"op": "insert", "table": "Port", "row": {"name": "orphan"}}]),
    );
    assert_eq!(error_of(&r), None);
    assert_eq!(count(&db, "Port"), 1);
    // Dropping the bridge from the root collects the bridge and its port.
    let r = run(
        &mut db,
        json!([{"op": "update", "table": "Root", "where": [["_uuid", "==", ["uuid", root]]], "row": {"bridges": ["set", []]}}]),
    );
    assert_eq!(r[0]["count"], 1);
    assert_eq!(count(&db, "Bridge"), 0);
    assert_eq!(count(&db, "Port"), 0);
}

#[test]
fn dangling_strong_reference_is_refused_and_nothing_changes() {
    let (mut db, _) = setup();
    let r = run(
        &mut db,
        json!([
            {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
             "mutations": [["ports", "insert", ["set", [["uuid", "6f1f1ab6-5f9c-4a2e-9b5b-5f0cbe2b11a1"]]]]]},
            {"op": "mutate", "table": "Root", "where": [], "mutations": [["next_cfg", "+=", 1]]}
        ]),
    );
    assert_eq!(r.len(), 3, "one extra element: the commit error");
    assert_eq!(r[2]["error"], "referential integrity violation");
    let root = db.table_index("Root").unwrap();
    let cfg = db.rows(root).next().unwrap().cols[1].clone();
    assert_eq!(cfg.to_json(), json!(0), "nothing half-applied");
}

#[test]
fn deleting_a_referenced_row_fails_unless_the_reference_goes_too() {
    let (mut db, _) = setup();
    let r = run(
        &mut db,
        json!([{"op": "delete", "table": "Port", "where": [["name", "==", "p1"]]}]),
    );
    assert_eq!(r[1]["error"], "referential integrity violation", "{r:?}");
    assert_eq!(count(&db, "Port"), 1);
    let r = run(
        &mut db,
        json!([
            {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]], "mutations": [["ports", "delete", ["set", [["named-uuid", "x"]]]]]},
            {"op": "insert", "table": "Port", "row": {"name": "x"}, "uuid-name": "x"}
        ]),
    );
    // The port named x was never referenced; it is collected.
    assert_eq!(error_of(&r), None, "{r:?}");
    let port = db.table_index("Port").unwrap();
    let p1 = db.rows(port).next().unwrap().uuid;
    let r = run(
        &mut db,
        json!([
            {"op": "update", "table": "Bridge", "where": [["name", "==", "br0"]], "row": {"ports": ["set", []]}},
            {"op": "delete", "table": "Port", "where": [["_uuid", "==", ["uuid", p1.to_string()]]]}
        ]),
    );
    assert_eq!(error_of(&r), None, "{r:?}");
    assert_eq!(count(&db, "Port"), 0);
}

#[test]
fn weak_references_to_deleted_rows_are_dropped() {
    let (mut db, _) = setup();
    let port = db.table_index("Port").unwrap();
    let p1 = db.rows(port).next().unwrap().uuid;
    let r = run(
        &mut db,
        json!([{"op": "update", "table": "Bridge", "where": [["name", "==", "br0"]],
                "row": {"mirror_port": ["uuid", p1.to_string()]}}]),
    );
    assert_eq!(error_of(&r), None);
    // Removing the port from the bridge collects it; the weak ref goes too.
    let r = run(
        &mut db,
        json!([{"op": "update", "table": "Bridge", "where": [["name", "==", "br0"]], "row": {"ports": ["set", []]}}]),
    );
    assert_eq!(error_of(&r), None, "{r:?}");
    let r = run(
        &mut db,
        json!([{"op": "select", "table": "Bridge", "where": [], "columns": ["mirror_port"]}]),
    );
    assert_eq!(r[0]["rows"][0]["mirror_port"], json!(["set", []]));
}

#[test]
fn index_uniqueness_and_max_rows_are_enforced() {
    let (mut db, _) = setup();
    let r = run(
        &mut db,
        json!([
            {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]], "mutations": [["ports", "insert", ["set", [["named-uuid", "dup"]]]]]},
            {"op": "insert", "table": "Port", "row": {"name": "p1"}, "uuid-name": "dup"}
        ]),
    );
    assert_eq!(r[2]["error"], "constraint violation", "{r:?}");
    assert!(r[2]["details"].as_str().unwrap().contains("name"));
    let r = run(
        &mut db,
        json!([{"op": "insert", "table": "Root", "row": {}}]),
    );
    assert_eq!(r[1]["error"], "constraint violation");
}

#[test]
fn values_outside_constraints_and_immutable_columns_are_refused() {
    let (mut db, _) = setup();
    let r = run(
        &mut db,
        json!([{"op": "update", "table": "Port", "where": [], "row": {"tag": 5000}}, {"op": "comment", "comment": "x"}]),
    );
    assert_eq!(r[0]["error"], "constraint violation");
    assert_eq!(r[1], Value::Null, "operations after a failure are not run");
    let r = run(
        &mut db,
        json!([{"op": "update", "table": "Bridge", "where": [], "row": {"name": "other"}}]),
    );
    assert_eq!(r[0]["error"], "constraint violation");
    let r = run(
        &mut db,
        json!([{"op": "update", "table": "Nope", "where": [], "row": {}}]),
    );
    assert_eq!(r[0]["error"], "syntax error");
    let r = run(&mut db, json!([{"op": "frobnicate"}]));
    assert_eq!(r[0]["error"], "syntax error");
}

#[test]
fn mutate_arithmetic_sets_and_maps() {
    let (mut db, _) = setup();
    let r = run(
        &mut db,
        json!([
            {"op": "mutate", "table": "Root", "where": [], "mutations": [["next_cfg", "+=", 5], ["next_cfg", "*=", 3]]},
            {"op": "mutate", "table": "Port", "where": [], "mutations": [["trunks", "insert", ["set", [10, 20, 30]]], ["trunks", "delete", 20]]},
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["other_config", "insert", ["map", [["a", "1"], ["b", "2"]]]]]},
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["other_config", "delete", ["set", ["a"]]], ["other_config", "insert", ["map", [["b", "9"]]]]]}
        ]),
    );
    assert_eq!(error_of(&r), None, "{r:?}");
    let s = run(
        &mut db,
        json!([
            {"op": "select", "table": "Root", "where": [], "columns": ["next_cfg"]},
            {"op": "select", "table": "Port", "where": [["trunks", "includes", 10]], "columns": ["trunks"]},
            {"op": "select", "table": "Bridge", "where": [], "columns": ["other_config"]}
        ]),
    );
    assert_eq!(s[0]["rows"][0]["next_cfg"], 15);
    assert_eq!(s[1]["rows"][0]["trunks"], json!(["set", [10, 30]]));
    assert_eq!(
        s[2]["rows"][0]["other_config"],
        json!(["map", [["b", "2"]]]),
        "insert keeps existing keys"
    );
    let r = run(
        &mut db,
        json!([{"op": "mutate", "table": "Root", "where": [], "mutations": [["next_cfg", "/=", 0]]}]),
    );
    assert_eq!(r[0]["error"], "domain error");
    let r = run(
        &mut db,
        json!([{"op": "mutate", "table": "Root", "where": [], "mutations": [["next_cfg", "+=", i64::MAX]]}]),
    );
    assert_eq!(r[0]["error"], "range error");
}

#[test]
fn wait_abort_assert_and_duplicate_names() {
    let (mut db, _) = setup();
    let ok = run(
        &mut db,
        json!([{"op": "wait", "table": "Bridge", "where": [], "columns": ["name"], "until": "==", "rows": [{"name": "br0"}], "timeout": 0}]),
    );
    assert_eq!(ok[0], json!({}));
    let r = run(
        &mut db,
        json!([{"op": "wait", "table": "Bridge", "where": [], "columns": ["name"], "until": "==", "rows": [{"name": "zz"}], "timeout": 0}]),
    );
    assert_eq!(r[0]["error"], "timed out");
    // Without a timeout the transaction blocks until something changes.
    let ops = json!([{"op": "wait", "table": "Bridge", "where": [], "columns": ["name"], "until": "!=", "rows": [{"name": "br0"}]}]);
    assert!(matches!(
        execute(&db, ops.as_array().unwrap(), &NoLocks, 0),
        Outcome::Blocked { deadline_ms: None }
    ));
    let r = run(
        &mut db,
        json!([{"op": "mutate", "table": "Root", "where": [], "mutations": [["next_cfg", "+=", 1]]}, {"op": "abort"}]),
    );
    assert_eq!(r[1]["error"], "aborted");
    let r = run(&mut db, json!([{"op": "assert", "lock": "l"}]));
    assert_eq!(r[0]["error"], "not owner");
    struct Holder;
    impl Session for Holder {
        fn owns_lock(&self, n: &str) -> bool {
            n == "l"
        }
    }
    assert_eq!(
        run_as(&mut db, json!([{"op": "assert", "lock": "l"}]), &Holder)[0],
        json!({})
    );
    let r = run(
        &mut db,
        json!([{"op": "insert", "table": "Port", "row": {}, "uuid-name": "a"}, {"op": "insert", "table": "Port", "row": {}, "uuid-name": "a"}]),
    );
    assert_eq!(r[1]["error"], "duplicate uuid-name");
    let r = run(
        &mut db,
        json!([{"op": "update", "table": "Bridge", "where": [], "row": {"ports": ["named-uuid", "never"]}}]),
    );
    assert_eq!(error_of(&r), Some("syntax error"));
}

#[test]
fn snapshot_round_trips() {
    let (db, _) = setup();
    let snap = db.snapshot_json(true);
    let mut db2 = Database::new(schema());
    db2.load_snapshot(&snap).unwrap();
    assert_eq!(db2.snapshot_json(true), snap);
    assert_eq!(count(&db2, "Port"), 1);
}
