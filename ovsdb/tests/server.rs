//! The server's protocol features, in-process: monitors of every flavour,
//! locks, cancel, blocked waits, TCP.

use rvs_ovsdb::client::{Client, ClientError};
use rvs_ovsdb::server::{vswitch_schema, Server};
use rvs_ovsdb::Database;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

struct Running {
    _server: Arc<Server>,
    dir: std::path::PathBuf,
    remote: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(tag: &str) -> Running {
    let dir = std::env::temp_dir().join(format!("rvs-ovsdb-srv-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::open(&[dir.join("conf.db")], &vswitch_schema()).unwrap();
    let sock = dir.join("db.sock");
    server.listen(&format!("punix:{}", sock.display())).unwrap();
    Running {
        _server: server,
        remote: format!("unix:{}", sock.display()),
        dir,
    }
}

fn connect(r: &Running) -> Client {
    Client::connect(&r.remote).unwrap()
}

fn init(c: &mut Client) {
    let r = c
        .transact(
            "Open_vSwitch",
            &[
                json!({"op": "insert", "table": "Open_vSwitch", "row": {"bridges": ["named-uuid", "b"]}}),
                json!({"op": "insert", "table": "Bridge", "uuid-name": "b", "row": {"name": "br0"}}),
            ],
        )
        .unwrap();
    assert!(r.iter().all(|x| x.get("error").is_none()), "{r:?}");
}

fn set_ext(c: &mut Client, k: &str, v: &str) {
    let r = c
        .transact(
            "Open_vSwitch",
            &[
                json!({"op": "update", "table": "Bridge", "where": [["name", "==", "br0"]],
                     "row": {"external_ids": ["map", [[k, v]]]}}),
            ],
        )
        .unwrap();
    assert!(r[0].get("error").is_none(), "{r:?}");
}

#[test]
fn every_monitor_flavour_reports_changes_in_its_own_format() {
    let r = start("mon");
    let mut w = connect(&r);
    init(&mut w);
    let mut m1 = connect(&r);
    let init1 = m1
        .call(
            "monitor",
            json!(["Open_vSwitch", "m1", {"Bridge": {"columns": ["name", "external_ids"]}}]),
        )
        .unwrap();
    let (_, row) = init1["Bridge"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(row["new"]["name"], "br0");
    let mut m2 = connect(&r);
    let init2 = m2
        .call("monitor_cond", json!(["Open_vSwitch", ["m", 2], {"Bridge": [{"columns": ["name", "external_ids"], "where": [["name", "==", "br0"]]}]}]))
        .unwrap();
    let (_, row) = init2["Bridge"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(row["initial"]["name"], "br0");
    assert!(
        row["initial"].get("external_ids").is_none(),
        "defaults are left out: {row}"
    );
    let mut m3 = connect(&r);
    let init3 = m3
        .call("monitor_cond_since", json!(["Open_vSwitch", "m3", {"Bridge": [{"columns": ["external_ids"]}]}, "00000000-0000-0000-0000-000000000000"]))
        .unwrap();
    assert_eq!(init3[0], false);

    set_ext(&mut w, "k", "1");
    let (m, p) = m1.next_notification(Duration::from_secs(5)).unwrap();
    assert_eq!(m, "update");
    assert_eq!(p[0], "m1");
    let upd = p[1]["Bridge"].as_object().unwrap().values().next().unwrap();
    assert_eq!(upd["old"]["external_ids"], json!(["map", []]));
    assert_eq!(upd["new"]["external_ids"], json!(["map", [["k", "1"]]]));
    let (m, p) = m2.next_notification(Duration::from_secs(5)).unwrap();
    assert_eq!(m, "update2");
    assert_eq!(p[0], json!(["m", 2]), "the monitor id comes back as sent");
    let upd = p[1]["Bridge"].as_object().unwrap().values().next().unwrap();
    assert_eq!(upd["modify"]["external_ids"], json!(["map", [["k", "1"]]]));
    let (m, p) = m3.next_notification(Duration::from_secs(5)).unwrap();
    assert_eq!(m, "update3");
    assert!(p[1].as_str().unwrap().len() == 36, "a transaction id: {p}");
    // A map diff names changed keys with their new values.
    set_ext(&mut w, "k", "2");
    let (_, p) = m2.next_notification(Duration::from_secs(5)).unwrap();
    let upd = p[1]["Bridge"].as_object().unwrap().values().next().unwrap();
    assert_eq!(upd["modify"]["external_ids"], json!(["map", [["k", "2"]]]));
    // monitor_cond_since with the last id it saw: found, nothing resent.
    let (_, p3) = m3.next_notification(Duration::from_secs(5)).unwrap();
    let txn = p3[1].clone();
    let mut again = connect(&r);
    let since = again
        .call(
            "monitor_cond_since",
            json!(["Open_vSwitch", "m", {"Bridge": [{}]}, txn]),
        )
        .unwrap();
    assert_eq!(since[0], true, "{since}");
    assert_eq!(since[2], json!({}));
    // Cancel stops the notifications (after the one already sent for k=2).
    assert_eq!(
        m1.next_notification(Duration::from_secs(5)).unwrap().0,
        "update"
    );
    assert_eq!(m1.call("monitor_cancel", json!(["m1"])).unwrap(), json!({}));
    set_ext(&mut w, "k", "3");
    assert!(matches!(
        m1.next_notification(Duration::from_millis(300)),
        Err(ClientError::Timeout(_))
    ));
}

#[test]
fn changing_conditions_sends_what_enters_and_leaves() {
    let r = start("cond");
    let mut w = connect(&r);
    init(&mut w);
    let mut m = connect(&r);
    let init = m
        .call(
            "monitor_cond",
            json!(["Open_vSwitch", "c", {"Bridge": [{"columns": ["name"], "where": [false]}]}]),
        )
        .unwrap();
    assert_eq!(init, json!({}));
    assert_eq!(
        m.call(
            "monitor_cond_change",
            json!(["c", "c2", {"Bridge": [{"where": [true]}]}])
        )
        .unwrap(),
        json!({})
    );
    let (method, p) = m.next_notification(Duration::from_secs(5)).unwrap();
    assert_eq!(method, "update2");
    assert_eq!(p[0], "c2");
    let u = p[1]["Bridge"].as_object().unwrap().values().next().unwrap();
    assert_eq!(u["insert"]["name"], "br0");
}

#[test]
fn locks_are_exclusive_and_passed_on() {
    let r = start("lock");
    let mut a = connect(&r);
    let mut b = connect(&r);
    assert_eq!(
        a.call("lock", json!(["L"])).unwrap(),
        json!({"locked": true})
    );
    assert_eq!(
        b.call("lock", json!(["L"])).unwrap(),
        json!({"locked": false})
    );
    // Only the holder passes "assert".
    let ra = a
        .transact("Open_vSwitch", &[json!({"op": "assert", "lock": "L"})])
        .unwrap();
    assert_eq!(ra[0], json!({}));
    let rb = b
        .transact("Open_vSwitch", &[json!({"op": "assert", "lock": "L"})])
        .unwrap();
    assert_eq!(rb[0]["error"], "not owner");
    // Unlocking hands it to the waiter.
    assert_eq!(a.call("unlock", json!(["L"])).unwrap(), json!({}));
    let (m, p) = b.next_notification(Duration::from_secs(5)).unwrap();
    assert_eq!((m.as_str(), p), ("locked", json!(["L"])));
    // Stealing takes it and tells the loser.
    assert_eq!(
        a.call("steal", json!(["L"])).unwrap(),
        json!({"locked": true})
    );
    let (m, p) = b.next_notification(Duration::from_secs(5)).unwrap();
    assert_eq!((m.as_str(), p), ("stolen", json!(["L"])));
    // A session that goes away releases its locks.
    let mut c = connect(&r);
    assert_eq!(
        c.call("lock", json!(["L"])).unwrap(),
        json!({"locked": false})
    );
    drop(a);
    let (m, _) = c.next_notification(Duration::from_secs(5)).unwrap();
    assert_eq!(m, "locked");
}

#[test]
fn a_blocked_wait_completes_on_change_or_times_out_or_is_canceled() {
    let r = start("wait");
    let mut w = connect(&r);
    init(&mut w);
    let wait_for = |v: &str, timeout: Option<u64>| -> Value {
        let mut op = json!({"op": "wait", "table": "Bridge", "where": [["name", "==", "br0"]],
                            "columns": ["external_ids"], "until": "==", "rows": [{"external_ids": ["map", [["k", v]]]}]});
        if let Some(t) = timeout {
            op["timeout"] = json!(t);
        }
        op
    };
    let remote = r.remote.clone();
    let op = wait_for("go", Some(5000));
    let waiter = std::thread::spawn(move || {
        let mut c = Client::connect(&remote).unwrap();
        c.transact("Open_vSwitch", &[op]).unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    set_ext(&mut w, "k", "go");
    assert_eq!(waiter.join().unwrap()[0], json!({}));
    // Times out.
    let t0 = std::time::Instant::now();
    let r2 = connect(&r)
        .transact("Open_vSwitch", &[wait_for("never", Some(200))])
        .unwrap();
    assert_eq!(r2[0]["error"], "timed out");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    // Canceled: the cancel notification gets the request an error reply.
    let mut c = connect(&r);
    let id = 4242;
    let req = json!({"method": "transact", "params": ["Open_vSwitch", wait_for("never", None)], "id": id});
    let cancel = json!({"method": "cancel", "params": [id], "id": null});
    let sock = r.remote.strip_prefix("unix:").unwrap().to_string();
    let mut raw = std::os::unix::net::UnixStream::connect(sock).unwrap();
    use std::io::{Read, Write};
    raw.write_all(req.to_string().as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    raw.write_all(cancel.to_string().as_bytes()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = raw.read(&mut buf).unwrap();
    let reply: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(reply["id"], id);
    assert_eq!(reply["error"]["error"], "canceled");
    assert_eq!(c.call("echo", json!([])).unwrap(), json!([]));
}

#[test]
fn tcp_remote_serves_on_loopback() {
    let server = Server::in_memory(Database::new(Arc::new(vswitch_schema())));
    let bound = server.listen("ptcp:0").unwrap();
    assert!(bound.ends_with(":127.0.0.1"), "{bound}");
    let port = bound
        .strip_prefix("ptcp:")
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    let mut c = Client::connect(&format!("tcp:127.0.0.1:{port}")).unwrap();
    assert_eq!(
        c.call("list_dbs", json!([])).unwrap(),
        json!(["Open_vSwitch", "_Server"])
    );
    let id = c.call("get_server_id", json!([])).unwrap();
    assert_eq!(id.as_str().unwrap().len(), 36);
    // _Server describes the served database.
    let r = c
        .transact("_Server", &[json!({"op": "select", "table": "Database", "where": [["name", "==", "Open_vSwitch"]], "columns": ["model", "connected", "schema"]})])
        .unwrap();
    assert_eq!(r[0]["rows"][0]["model"], "standalone");
    let schema: Value = serde_json::from_str(r[0]["rows"][0]["schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema["name"], "Open_vSwitch");
    // _Server is read-only.
    let w = c
        .transact("_Server", &[json!({"op": "update", "table": "Database", "where": [], "row": {"connected": false}})])
        .unwrap();
    assert!(w.iter().any(|x| x.get("error").is_some()), "{w:?}");
    assert!(
        server.listen("tcp:1.2.3.4:5").is_err(),
        "active remotes are refused with a clear error"
    );
}
