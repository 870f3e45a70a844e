//! The real Open vSwitch clients (Debian's `ovs-vsctl` 3.1 and
//! `ovsdb-client`) against `rvs-ovsdb-server`.

use rvs_tests::{ovs_vsctl, run_status, FakeSwitch, OvsdbServer};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn vsctl(s: &OvsdbServer, args: &[&str]) -> String {
    let db = format!("--db={}", s.remote());
    let mut all = vec![db.as_str()];
    all.extend_from_slice(args);
    let (ok, out, err) = run_status(&ovs_vsctl(), &all);
    assert!(
        ok,
        "ovs-vsctl {args:?} failed: {err}\nserver log: {}",
        s.log()
    );
    out
}

fn client(args: &[&str]) -> String {
    let (ok, out, err) = run_status(Path::new("ovsdb-client"), args);
    assert!(ok, "ovsdb-client {args:?} failed: {err}");
    out
}

#[test]
fn ovs_vsctl_builds_and_tears_down_a_bridge() {
    let s = OvsdbServer::start();
    vsctl(&s, &["--no-wait", "init"]);
    vsctl(&s, &["--no-wait", "add-br", "br0"]);
    vsctl(
        &s,
        &[
            "--no-wait",
            "add-port",
            "br0",
            "p1",
            "--",
            "set",
            "Interface",
            "p1",
            "type=internal",
        ],
    );
    vsctl(
        &s,
        &[
            "--no-wait",
            "set",
            "Interface",
            "p1",
            "options:k=v",
            "external_ids:x=y",
        ],
    );
    let list = vsctl(&s, &["list", "Interface", "p1"]);
    assert!(list.contains("name                : p1"), "{list}");
    assert!(list.contains("options             : {k=v}"), "{list}");
    assert!(list.contains("external_ids        : {x=y}"), "{list}");
    assert!(list.contains("type                : internal"), "{list}");
    let found = vsctl(&s, &["find", "Port", "name=p1"]);
    assert!(found.contains("name                : p1"), "{found}");
    assert_eq!(vsctl(&s, &["list-br"]), "br0\n");
    assert_eq!(vsctl(&s, &["list-ports", "br0"]), "p1\n");
    assert_eq!(vsctl(&s, &["port-to-br", "p1"]), "br0\n");
    let show = vsctl(&s, &["show"]);
    assert!(
        show.contains("Bridge br0") && show.contains("Port p1") && show.contains("options: {k=v}"),
        "{show}"
    );
    // A bad command changes nothing.
    let (ok, _, err) = run_status(
        &ovs_vsctl(),
        &[
            &format!("--db={}", s.remote()),
            "--no-wait",
            "add-br",
            "br0",
        ],
    );
    assert!(!ok && err.contains("already exists"), "{err}");
    vsctl(&s, &["--no-wait", "del-port", "p1"]);
    assert_eq!(vsctl(&s, &["list-ports", "br0"]), "");
    // The Port and Interface rows were collected with the reference.
    assert!(!vsctl(&s, &["list", "Interface"]).contains("name                : p1"));
    vsctl(&s, &["--no-wait", "del-br", "br0"]);
    assert_eq!(vsctl(&s, &["list-br"]), "");
    assert_eq!(vsctl(&s, &["list", "Port"]), "");
}

#[test]
fn libvirt_sequence_waits_for_the_switch_and_completes() {
    let s = OvsdbServer::start();
    vsctl(&s, &["--no-wait", "init"]);
    vsctl(&s, &["--no-wait", "add-br", "br0"]);
    let _switch = FakeSwitch::start(&s.remote());
    let t0 = Instant::now();
    vsctl(
        &s,
        &[
            "--timeout=5",
            "--",
            "--if-exists",
            "del-port",
            "vnet0",
            "--",
            "add-port",
            "br0",
            "vnet0",
            "--",
            "set",
            "Interface",
            "vnet0",
            "external-ids:attached-mac=\"52:54:00:00:00:01\"",
            "--",
            "set",
            "Interface",
            "vnet0",
            "external-ids:iface-id=6f1f1ab6-5f9c-4a2e-9b5b-5f0cbe2b11a1",
            "--",
            "set",
            "Interface",
            "vnet0",
            "external-ids:vm-id=0e5f6a1c-2b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "--",
            "set",
            "Interface",
            "vnet0",
            "external-ids:iface-status=active",
        ],
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    let ids = vsctl(&s, &["get", "Interface", "vnet0", "external_ids"]);
    assert!(ids.contains("attached-mac=\"52:54:00:00:00:01\""), "{ids}");
    assert!(ids.contains("iface-status=active"), "{ids}");
    let cfg = vsctl(&s, &["get", "Open_vSwitch", ".", "next_cfg", "cur_cfg"]);
    let v: Vec<&str> = cfg.lines().collect();
    assert_eq!(v[0], v[1], "the switch caught up: {cfg}");
    // Running it again replaces the port (the --if-exists del-port).
    vsctl(
        &s,
        &[
            "--timeout=5",
            "--",
            "--if-exists",
            "del-port",
            "vnet0",
            "--",
            "add-port",
            "br0",
            "vnet0",
        ],
    );
    assert_eq!(vsctl(&s, &["list-ports", "br0"]), "vnet0\n");
}

#[test]
fn ovsdb_client_lists_dumps_and_monitors_live() {
    let s = OvsdbServer::start();
    let r = s.remote();
    let dbs = client(&["list-dbs", &r]);
    assert_eq!(dbs, "Open_vSwitch\n_Server\n");
    let schema = client(&["get-schema", &r, "Open_vSwitch"]);
    let v: serde_json::Value = serde_json::from_str(&schema).unwrap();
    assert_eq!(v["name"], "Open_vSwitch");
    assert!(v["tables"]["Interface"]["columns"]["ofport"].is_object());
    vsctl(&s, &["--no-wait", "init"]);
    vsctl(&s, &["--no-wait", "add-br", "br0"]);
    let dump = client(&["dump", &r, "Open_vSwitch"]);
    assert!(
        dump.contains("Bridge table") && dump.contains("br0"),
        "{dump}"
    );

    let mut mon = Command::new("ovsdb-client")
        .args(["monitor", &r, "Open_vSwitch", "Bridge", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ovsdb-client monitor");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = mon.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The initial contents first, then the live change.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains("br0") {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("initial rows");
        seen.push_str(&line);
        seen.push('\n');
    }
    vsctl(&s, &["--no-wait", "add-br", "br1"]);
    let mut live = String::new();
    while !live.contains("br1") {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => {
                live.push_str(&l);
                live.push('\n');
            }
            Err(_) => {
                let _ = mon.kill();
                panic!("the monitor did not report br1; it printed:\n{seen}{live}");
            }
        }
    }
    assert!(live.contains("insert"), "{live}");
    let _ = mon.kill();
    let _ = mon.wait();
}
