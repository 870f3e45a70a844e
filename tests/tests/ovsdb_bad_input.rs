//! Bad input from clients gets an error reply or a closed connection, and
//! the server goes on serving everyone else.

use rvs_ovsdb::client::{Client, ClientError};
use rvs_tests::OvsdbServer;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn raw(s: &OvsdbServer) -> UnixStream {
    let c = UnixStream::connect(s.socket()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Reads until the server closes the connection; true if it did.
fn closed_by_server(c: &mut UnixStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn still_serving(s: &OvsdbServer) {
    let mut c = Client::connect(&s.remote()).unwrap();
    let dbs = c.call("list_dbs", json!([])).unwrap();
    assert_eq!(dbs, json!(["Open_vSwitch", "_Server"]));
}

#[test]
fn malformed_json_closes_that_connection_only() {
    let s = OvsdbServer::start();
    let mut bystander = Client::connect(&s.remote()).unwrap();
    for garbage in [
        &b"{\"method\": ]"[..],
        b"[1,2,3]",
        b"\"just a string\"",
        b"{\"method\": 5, \"params\": [], \"id\": 1}",
    ] {
        let mut c = raw(&s);
        c.write_all(garbage).unwrap();
        assert!(
            closed_by_server(&mut c),
            "{:?} did not close the connection",
            String::from_utf8_lossy(garbage)
        );
    }
    assert_eq!(
        bystander.call("echo", json!(["hi"])).unwrap(),
        json!(["hi"])
    );
    still_serving(&s);
    assert!(s.log().contains("closing the connection"), "{}", s.log());
}

#[test]
fn unknown_methods_and_databases_get_error_replies() {
    let s = OvsdbServer::start();
    let mut c = Client::connect(&s.remote()).unwrap();
    match c.call("frobnicate", json!([])) {
        Err(ClientError::Rpc(e)) => assert_eq!(e["error"], "unknown method"),
        other => panic!("{other:?}"),
    }
    match c.call("get_schema", json!(["NoSuchDb"])) {
        Err(ClientError::Rpc(e)) => assert_eq!(e["error"], "unknown database"),
        other => panic!("{other:?}"),
    }
    // The same connection keeps working.
    assert_eq!(c.call("echo", json!([1])).unwrap(), json!([1]));
}

#[test]
fn type_violating_transactions_fail_whole_and_change_nothing() {
    let s = OvsdbServer::start();
    let mut c = Client::connect(&s.remote()).unwrap();
    c.transact(
        "Open_vSwitch",
        &[json!({"op": "insert", "table": "Open_vSwitch", "row": {}})],
    )
    .unwrap();
    let before = c
        .transact(
            "Open_vSwitch",
            &[json!({"op": "select", "table": "Open_vSwitch", "where": []})],
        )
        .unwrap();
    for (op, want) in [
        (
            json!({"op": "update", "table": "Open_vSwitch", "where": [], "row": {"next_cfg": "not a number"}}),
            "syntax error",
        ),
        (
            json!({"op": "update", "table": "Open_vSwitch", "where": [], "row": {"no_such_column": 1}}),
            "syntax error",
        ),
        (
            json!({"op": "insert", "table": "Interface", "row": {"ofport_request": 70000}}),
            "constraint violation",
        ),
        (
            json!({"op": "update", "table": "Open_vSwitch", "where": [], "row": {"bridges": ["uuid", "6f1f1ab6-5f9c-4a2e-9b5b-5f0cbe2b11a1"]}}),
            "referential integrity violation",
        ),
    ] {
        let r = c
            .transact("Open_vSwitch", &[json!({"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["next_cfg", "+=", 1]]}), op.clone()])
            .unwrap();
        let errs: Vec<&Value> = r.iter().filter(|x| x.get("error").is_some()).collect();
        assert_eq!(errs.len(), 1, "{op}: {r:?}");
        assert_eq!(errs[0]["error"], want, "{op}: {r:?}");
    }
    let after = c
        .transact(
            "Open_vSwitch",
            &[json!({"op": "select", "table": "Open_vSwitch", "where": []})],
        )
        .unwrap();
    assert_eq!(before, after, "a failed transaction changed something");
}

#[test]
fn oversized_message_closes_the_connection_and_nothing_else() {
    let s = OvsdbServer::start();
    let mut c = raw(&s);
    let sock = c.try_clone().unwrap();
    // An echo whose string never ends within the limit (64 MiB).
    let writer = std::thread::spawn(move || {
        let mut sock = sock;
        let _ = sock.write_all(b"{\"method\":\"echo\",\"id\":1,\"params\":[\"");
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..80 {
            if sock.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    assert!(closed_by_server(&mut c));
    writer.join().unwrap();
    still_serving(&s);
    assert!(s.log().contains("exceeds"), "{}", s.log());
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_others_carry_on() {
    let s = OvsdbServer::start_with(&["--max-queued-messages", "16"]);
    let mut w = Client::connect(&s.remote()).unwrap();
    w.transact(
        "Open_vSwitch",
        &[json!({"op": "insert", "table": "Open_vSwitch", "row": {}})],
    )
    .unwrap();
    // A monitor that never reads its updates.
    let mut lazy = raw(&s);
    lazy.write_all(
        br#"{"method":"monitor","id":1,"params":["Open_vSwitch",null,{"Open_vSwitch":{}}]}"#,
    )
    .unwrap();
    let big = "x".repeat(64 * 1024);
    for i in 0..200 {
        let r = w
            .transact(
                "Open_vSwitch",
                &[json!({"op": "update", "table": "Open_vSwitch", "where": [],
                "row": {"external_ids": ["map", [["k", format!("{i}{big}")]]]}})],
            )
            .unwrap();
        assert!(r[0].get("error").is_none());
    }
    assert!(s.log().contains("too many messages queued"), "{}", s.log());
    assert!(closed_by_server(&mut lazy));
    still_serving(&s);
}
