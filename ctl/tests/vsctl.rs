//! `rvs-vsctl` against a real `rvs-ovsdb-server`, and side by side with
//! the real `ovs-vsctl` 3.1.
//!
//! Every test starts its own server in a unique temporary directory; the
//! server process and the directory go away in `Drop`, also when a test
//! fails. Where a command waits for the switch (no `--no-wait`), a thread
//! plays rvs-vswitchd: it monitors `Open_vSwitch.next_cfg` and copies it to
//! `cur_cfg`.

use rvs_ctl::vsctl::model::{Model, Source};
use rvs_ctl::vsctl::parse::{parse_command_line, Action};
use rvs_ctl::vsctl::{run_attempt, Attempt};
use rvs_ovsdb::client::Client;
use rvs_ovsdb::schema::DatabaseSchema;
use rvs_ovsdb::types::{Atom, Datum};
use rvs_tests::{FakeSwitch, OvsdbServer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The test server (`rvs_tests::OvsdbServer`) as these tests name it.
type Server = OvsdbServer;

trait Db {
    fn db(&self) -> String;
    fn client(&self) -> Client;
}

impl Db for OvsdbServer {
    fn db(&self) -> String {
        self.remote()
    }

    fn client(&self) -> Client {
        Client::connect(&self.remote()).expect("connect to the test server")
    }
}

/// What a command printed and how it exited.
#[derive(Debug)]
struct Out {
    status: i32,
    stdout: String,
    stderr: String,
}

fn run_tool(tool: &Path, db: &str, args: &[&str]) -> Out {
    let out = Command::new(tool)
        .arg(format!("--db={db}"))
        .args(args)
        .env_remove("RVS_RUNDIR")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    Out {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn rvs_vsctl() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rvs-vsctl"))
}

/// Runs rvs-vsctl against `s`.
fn rvs(s: &Server, args: &[&str]) -> Out {
    run_tool(&rvs_vsctl(), &s.db(), args)
}

/// Runs rvs-vsctl against `s` and returns its output; it must succeed.
fn ok(s: &Server, args: &[&str]) -> String {
    let o = rvs(s, args);
    assert_eq!(o.status, 0, "rvs-vsctl {args:?} failed: {}", o.stderr);
    assert!(
        o.stderr.is_empty(),
        "rvs-vsctl {args:?} warned: {}",
        o.stderr
    );
    o.stdout
}

/// Runs rvs-vsctl against `s`; it must fail with status 1 and a message
/// that contains `want`.
fn fails(s: &Server, args: &[&str], want: &str) {
    let o = rvs(s, args);
    assert_eq!(o.status, 1, "rvs-vsctl {args:?} should fail: {o:?}");
    assert!(
        o.stderr.starts_with("rvs-vsctl: ") && o.stderr.contains(want),
        "rvs-vsctl {args:?}: expected an error containing {want:?}, got {:?}",
        o.stderr
    );
    assert!(
        o.stdout.is_empty(),
        "a failed command printed {:?}",
        o.stdout
    );
}

/// Replaces every UUID in `s` with `<uuid>`.
fn mask_uuids(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match rest.get(..36).and_then(rvs_ovsdb::Uuid::parse) {
            Some(_) => {
                out.push_str("<uuid>");
                rest = &rest[36..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Every table of the database, each row as canonical JSON: UUIDs are
/// replaced by a label derived from the row they name (its name, target or
/// contents), and sets and maps are sorted, so that two databases built by
/// the same commands compare equal.
fn dump(s: &Server) -> BTreeMap<String, Vec<String>> {
    let mut c = s.client();
    let schema = c.call("get_schema", json!(["Open_vSwitch"])).unwrap();
    let tables: Vec<String> = schema["tables"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let ops: Vec<Value> = tables
        .iter()
        .map(|t| json!({"op": "select", "table": t, "where": []}))
        .collect();
    let results = c.transact("Open_vSwitch", &ops).unwrap();
    // Labels: the first pass names rows by name/target or contents.
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for (t, r) in tables.iter().zip(&results) {
        for row in r["rows"].as_array().unwrap() {
            let uuid = row["_uuid"][1].as_str().unwrap().to_string();
            let label = match row.get("name").or_else(|| row.get("target")) {
                Some(Value::String(n)) => format!("{t}:{n}"),
                _ => {
                    let mut content = row.clone();
                    let o = content.as_object_mut().unwrap();
                    o.remove("_uuid");
                    o.remove("_version");
                    format!("{t}#{}", mask_uuids(&content.to_string()))
                }
            };
            labels.insert(uuid, label);
        }
    }
    fn relabel(v: &Value, labels: &BTreeMap<String, String>) -> Value {
        match v {
            Value::Array(a) if a.len() == 2 && a[0] == "uuid" => {
                let u = a[1].as_str().unwrap_or("");
                json!([
                    "ref",
                    labels
                        .get(u)
                        .cloned()
                        .unwrap_or_else(|| format!("dangling {u}"))
                ])
            }
            Value::Array(a) if a.len() == 2 && (a[0] == "set" || a[0] == "map") => {
                let mut items: Vec<Value> = a[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| relabel(x, labels))
                    .collect();
                items.sort_by_key(|x| x.to_string());
                json!([a[0], items])
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| relabel(x, labels)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), relabel(x, labels)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let mut out = BTreeMap::new();
    for (t, r) in tables.iter().zip(&results) {
        let mut rows: Vec<String> = r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let mut row = relabel(row, &labels);
                let o = row.as_object_mut().unwrap();
                o.remove("_uuid");
                o.remove("_version");
                let sorted: BTreeMap<&String, &Value> = o.iter().collect();
                serde_json::to_string(&sorted).unwrap()
            })
            .collect();
        rows.sort();
        out.insert(t.clone(), rows);
    }
    out
}

/// The number of rows of each table.
fn counts(s: &Server) -> BTreeMap<String, usize> {
    dump(s).into_iter().map(|(t, r)| (t, r.len())).collect()
}

/// A child process killed when dropped (if it is still running).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_cfg(s: &Server) -> (i64, i64) {
    let mut c = s.client();
    let r = c
        .transact(
            "Open_vSwitch",
            &[json!({"op": "select", "table": "Open_vSwitch", "where": [],
                     "columns": ["next_cfg", "cur_cfg"]})],
        )
        .unwrap();
    let row = &r[0]["rows"][0];
    (
        row["next_cfg"].as_i64().unwrap(),
        row["cur_cfg"].as_i64().unwrap(),
    )
}

#[test]
fn bridges_ports_and_interfaces() {
    let s = Server::start();
    ok(&s, &["--no-wait", "init"]);
    assert_eq!(counts(&s)["Open_vSwitch"], 1);
    ok(&s, &["--no-wait", "init"]);
    assert_eq!(counts(&s)["Open_vSwitch"], 1, "init twice makes one row");
    ok(&s, &["--no-wait", "add-br", "br0"]);
    ok(
        &s,
        &[
            "--no-wait",
            "add-port",
            "br0",
            "eth0",
            "tag=10",
            "--",
            "set",
            "Interface",
            "eth0",
            "type=internal",
            "options:foo=bar",
            "external_ids:a=b",
        ],
    );
    ok(
        &s,
        &[
            "--no-wait",
            "add-br",
            "br 1",
            "--",
            "add-port",
            "br 1",
            "p1",
            "trunks=1,2,3",
        ],
    );
    assert_eq!(ok(&s, &["list-br"]), "br 1\nbr0\n");
    assert_eq!(ok(&s, &["list-ports", "br0"]), "eth0\n");
    assert_eq!(ok(&s, &["list-ifaces", "br 1"]), "p1\n");
    assert_eq!(ok(&s, &["port-to-br", "p1"]), "br 1\n");
    assert_eq!(ok(&s, &["iface-to-br", "eth0"]), "br0\n");
    assert_eq!(ok(&s, &["br-exists", "br0"]), "");
    assert_eq!(rvs(&s, &["br-exists", "br9"]).status, 2);
    assert_eq!(
        ok(
            &s,
            &[
                "get",
                "Interface",
                "eth0",
                "options",
                "external-ids",
                "name",
                "type",
                "ofport",
                "options:foo"
            ]
        ),
        "{foo=bar}\n{a=b}\neth0\ninternal\n[]\nbar\n"
    );
    assert_eq!(
        ok(&s, &["get", "Port", "p1", "trunks", "tag"]),
        "[1, 2, 3]\n[]\n"
    );
    assert_eq!(
        mask_uuids(&ok(&s, &["show"])),
        "<uuid>\n\
         \x20   Bridge \"br 1\"\n\
         \x20       Port \"br 1\"\n\
         \x20           Interface \"br 1\"\n\
         \x20               type: internal\n\
         \x20       Port p1\n\
         \x20           trunks: [1, 2, 3]\n\
         \x20           Interface p1\n\
         \x20   Bridge br0\n\
         \x20       Port br0\n\
         \x20           Interface br0\n\
         \x20               type: internal\n\
         \x20       Port eth0\n\
         \x20           tag: 10\n\
         \x20           Interface eth0\n\
         \x20               type: internal\n\
         \x20               options: {foo=bar}\n"
    );
    let list = ok(&s, &["list", "Port", "eth0"]);
    assert!(list.starts_with("_uuid               : "), "{list}");
    assert!(list.contains("\nname                : eth0\n"), "{list}");
    assert!(list.contains("\ntag                 : 10\n"), "{list}");
    assert!(list.contains("\ntrunks              : []\n"), "{list}");
    assert_eq!(
        ok(&s, &["--columns=name,tag", "find", "Port", "tag=10"]),
        "name                : eth0\ntag                 : 10\n"
    );
    assert_eq!(
        ok(
            &s,
            &[
                "--columns=name",
                "find",
                "Interface",
                "type=internal",
                "options:foo=bar"
            ]
        ),
        "name                : eth0\n"
    );
    assert_eq!(
        ok(
            &s,
            &[
                "--format=json",
                "--columns=name,trunks",
                "find",
                "Port",
                "trunks{>=}2"
            ]
        ),
        "{\"data\":[[\"p1\",[\"set\",[1,2,3]]]],\"headings\":[\"name\",\"trunks\"]}\n"
    );
    assert_eq!(
        ok(
            &s,
            &[
                "--format=table",
                "--columns=name,tag",
                "find",
                "Port",
                "tag>5"
            ]
        ),
        "name tag\n---- ---\neth0 10\n"
    );
    // del-port, del-br: the server's garbage collection deletes the rows.
    ok(&s, &["--no-wait", "del-port", "br0", "eth0"]);
    assert_eq!(ok(&s, &["list-ports", "br0"]), "");
    ok(&s, &["--no-wait", "--if-exists", "del-port", "eth0"]);
    ok(&s, &["--no-wait", "del-br", "br 1"]);
    let c = counts(&s);
    assert_eq!((c["Bridge"], c["Port"], c["Interface"]), (1, 1, 1), "{c:?}");
    ok(&s, &["--no-wait", "del-br", "br0"]);
    let c = counts(&s);
    assert_eq!((c["Bridge"], c["Port"], c["Interface"]), (0, 0, 0), "{c:?}");
}

#[test]
fn database_commands() {
    let s = Server::start();
    ok(
        &s,
        &[
            "--no-wait",
            "add-br",
            "br0",
            "--",
            "add-port",
            "br0",
            "eth0",
        ],
    );
    // create with --id references, in either order.
    let out = ok(
        &s,
        &[
            "--no-wait",
            "--",
            "set",
            "Port",
            "eth0",
            "qos=@newqos",
            "--",
            "--id=@newqos",
            "create",
            "qos",
            "type=linux-htb",
            "other-config:max-rate=1000000",
            "queues:0=@q0",
            "--",
            "--id=@q0",
            "create",
            "Queue",
            "other-config:min-rate=100",
            "other-config:max-rate=200",
        ],
    );
    let uuids: Vec<&str> = out.lines().collect();
    assert_eq!(uuids.len(), 2, "{out}");
    let qos = uuids[0];
    assert_eq!(
        ok(&s, &["get", "Port", "eth0", "qos"]),
        format!("{qos}\n"),
        "create prints the real UUID"
    );
    assert_eq!(
        ok(&s, &["get", "QoS", "eth0", "type"]),
        "linux-htb\n",
        "QoS named via its port"
    );
    assert_eq!(
        ok(&s, &["get", "QoS", &qos[..8], "other_config:max-rate"]),
        "\"1000000\"\n"
    );
    assert_eq!(
        ok(&s, &["get", "Queue", uuids[1], "other_config"]),
        "{max-rate=\"200\", min-rate=\"100\"}\n"
    );
    // add, remove, clear.
    ok(
        &s,
        &[
            "--no-wait",
            "set",
            "Port",
            "eth0",
            "trunks=9",
            "external_ids:k=v",
        ],
    );
    ok(
        &s,
        &[
            "--no-wait",
            "add",
            "Port",
            "eth0",
            "trunks",
            "1",
            "2",
            "3-4",
        ],
    );
    assert_eq!(
        ok(&s, &["get", "Port", "eth0", "trunks"]),
        "[1, 2, 3, 4, 9]\n"
    );
    ok(
        &s,
        &[
            "--no-wait",
            "add",
            "Port",
            "eth0",
            "external_ids",
            "k=zzz",
            "new=1",
        ],
    );
    assert_eq!(
        ok(&s, &["get", "Port", "eth0", "external_ids"]),
        "{k=v, new=\"1\"}\n"
    );
    ok(
        &s,
        &[
            "--no-wait",
            "remove",
            "Port",
            "eth0",
            "external_ids",
            "k",
            "new=2",
        ],
    );
    assert_eq!(
        ok(&s, &["get", "Port", "eth0", "external_ids"]),
        "{new=\"1\"}\n"
    );
    ok(
        &s,
        &[
            "--no-wait",
            "remove",
            "Port",
            "eth0",
            "external_ids",
            "new=1",
            "--",
            "remove",
            "Port",
            "eth0",
            "trunks",
            "1",
            "7",
        ],
    );
    assert_eq!(
        ok(&s, &["get", "Port", "eth0", "external_ids", "trunks"]),
        "{}\n[2, 3, 4, 9]\n"
    );
    ok(&s, &["--no-wait", "clear", "Port", "eth0", "trunks", "qos"]);
    assert_eq!(
        ok(&s, &["get", "Port", "eth0", "trunks", "qos"]),
        "[]\n[]\n"
    );
    // QoS and Queue are root tables: they stay until destroyed.
    assert_eq!((counts(&s)["QoS"], counts(&s)["Queue"]), (1, 1));
    ok(&s, &["--no-wait", "destroy", "QoS", qos]);
    ok(&s, &["--no-wait", "--if-exists", "destroy", "QoS", qos]);
    ok(&s, &["--no-wait", "--", "--all", "destroy", "Queue"]);
    assert_eq!((counts(&s)["QoS"], counts(&s)["Queue"]), (0, 0));
    // get --id names an existing row for later commands.
    ok(
        &s,
        &[
            "--no-wait",
            "--",
            "--id=@p",
            "get",
            "Port",
            "eth0",
            "--",
            "--id=@m",
            "create",
            "Mirror",
            "name=m1",
            "select-src-port=@p",
            "--",
            "add",
            "Bridge",
            "br0",
            "mirrors",
            "@m",
        ],
    );
    assert_eq!(
        ok(&s, &["--columns=name", "list", "Mirror"]),
        "name                : m1\n"
    );
    ok(&s, &["--no-wait", "clear", "Bridge", "br0", "mirrors"]);
    assert_eq!(
        counts(&s)["Mirror"],
        0,
        "an unreferenced Mirror is collected"
    );
    // --if-exists on reads.
    assert_eq!(
        ok(&s, &["--if-exists", "get", "Interface", "nope", "name"]),
        ""
    );
    assert_eq!(
        ok(
            &s,
            &["--if-exists", "get", "Interface", "eth0", "options:nokey"]
        ),
        "\n"
    );
    assert_eq!(
        ok(
            &s,
            &[
                "--",
                "--if-exists",
                "--columns=name",
                "list",
                "Bridge",
                "nope"
            ]
        ),
        ""
    );
    // Several tables in one invocation: a blank line between them.
    assert_eq!(
        ok(
            &s,
            &[
                "--columns=name",
                "list",
                "Bridge",
                "--",
                "--columns=name",
                "list",
                "Interface",
                "eth0"
            ]
        ),
        "name                : br0\n\nname                : eth0\n"
    );
    // Open_vSwitch is ".", and the --bare and json data formats.
    ok(
        &s,
        &[
            "--no-wait",
            "set",
            "Open_vSwitch",
            ".",
            "external-ids:system-id=\"sys 1\"",
        ],
    );
    assert_eq!(
        ok(
            &s,
            &["--bare", "--columns=external_ids", "list", "Open_vSwitch"]
        ),
        "system-id=sys 1\n"
    );
    assert_eq!(
        ok(
            &s,
            &[
                "--data=json",
                "--no-headings",
                "--columns=external_ids",
                "list",
                "Open_vSwitch",
                "."
            ]
        ),
        "[\"map\",[[\"system-id\",\"sys 1\"]]]\n"
    );
    // Controller rows are named through their bridge.
    ok(
        &s,
        &["--no-wait", "set-controller", "br0", "tcp:127.0.0.1:6653"],
    );
    assert_eq!(
        ok(&s, &["get", "Controller", "br0", "target"]),
        "\"tcp:127.0.0.1:6653\"\n"
    );
    assert_eq!(ok(&s, &["get-controller", "br0"]), "tcp:127.0.0.1:6653\n");
    ok(&s, &["--no-wait", "set-fail-mode", "br0", "secure"]);
    assert_eq!(ok(&s, &["get-fail-mode", "br0"]), "secure\n");
    // A warning for a create that nothing refers to.
    let o = rvs(&s, &["--no-wait", "create", "Bridge", "name=zz"]);
    assert_eq!(o.status, 0);
    assert!(
        o.stderr
            .contains("warning: creating a Bridge row without --id"),
        "{o:?}"
    );
    assert_eq!(counts(&s)["Bridge"], 1);
}

#[test]
fn errors_name_the_argument_and_change_nothing() {
    let s = Server::start();
    ok(
        &s,
        &[
            "--no-wait",
            "add-br",
            "br0",
            "--",
            "add-port",
            "br0",
            "eth0",
        ],
    );
    let before = dump(&s);
    let cases: &[(&[&str], &str)] = &[
        (
            &["add-br", "br0"],
            "cannot create a bridge named br0 because a bridge named br0 already exists",
        ),
        (
            &["add-br", "br1", "--", "add-br", "br1"],
            "a bridge named br1 already exists",
        ),
        (&["del-br", "br9"], "no bridge named br9"),
        (&["add-port", "br9", "p"], "no bridge named br9"),
        (
            &["add-port", "br0", "eth0"],
            "a port named eth0 already exists on bridge br0",
        ),
        (
            &["add-br", "eth0"],
            "a port named eth0 already exists on bridge br0",
        ),
        (&["del-port", "br0", "br0"], "local port"),
        (&["del-port", "eth9"], "no port named eth9"),
        (
            &["get", "Interface", "eth0", "nocol"],
            "Interface does not contain a column whose name matches \"nocol\"",
        ),
        (&["get", "Nope", "eth0"], "unknown table \"Nope\""),
        (
            &["get", "Interface", "eth9", "name"],
            "no row \"eth9\" in table Interface",
        ),
        (
            &["set", "Interface", "eth0", "ofport_request=abc"],
            "\"abc\" is not a valid integer",
        ),
        (&["set", "Port", "eth0", "tag=5000"], "constraint violation"),
        (&["set", "Port", "eth0", "tag=1,2"], "maximum number is 1"),
        (
            &["set", "Port", "eth0", "name=x"],
            "cannot modify read-only column name",
        ),
        (
            &["set", "Port", "eth0", "external_ids:x="],
            "argument does not end in \"=\"",
        ),
        (
            &["set", "Bridge", "br0", "other_config={a=b"],
            "missing \"}\"",
        ),
        (
            &["set", "Bridge", "br0", "fail_mode=open"],
            "constraint violation",
        ),
        (
            &["add-port", "br0", "p2", "--", "set", "Port", "p2", "tag=x"],
            "\"x\" is not a valid integer",
        ),
        (
            &[
                "--", "--id=@q", "create", "Queue", "--", "set", "Port", "eth0", "qos=@qq",
            ],
            "\"@qq\" is referenced but never created",
        ),
        (
            &["add", "Port", "eth0", "tag", "1", "2"],
            "maximum number is 1",
        ),
        (&["clear", "Port", "eth0", "name"], "read-only"),
        (
            &["clear", "Bridge", "br0", "stp_enable"],
            "not allowed to be empty",
        ),
        (&["frobnicate"], "unknown command 'frobnicate'"),
        (&["--bogus", "list-br"], "unrecognized option '--bogus'"),
        (
            &["add-br"],
            "'add-br' command takes 1 to 3 argument(s), not 0",
        ),
        // Refused by the server: two bridges named br0.
        (
            &[
                "--",
                "--id=@b",
                "create",
                "Bridge",
                "name=br0",
                "--",
                "add",
                "Open_vSwitch",
                ".",
                "bridges",
                "@b",
            ],
            "transaction error: constraint violation",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["--no-wait"];
        full.extend_from_slice(args);
        fails(&s, &full, want);
    }
    assert_eq!(dump(&s), before, "a failed command changed the database");
    // Connection failures say what to do.
    let o = run_tool(&rvs_vsctl(), "unix:/nonexistent/db.sock", &["list-br"]);
    assert_eq!(o.status, 1);
    assert!(o.stderr.contains("database connection failed"), "{o:?}");
}

#[test]
fn waiting_for_the_switch() {
    let s = Server::start();
    {
        let _sw = FakeSwitch::start(&s.remote());
        ok(&s, &["--timeout=20", "add-br", "br0"]);
        assert_eq!(get_cfg(&s), (1, 1));
        ok(
            &s,
            &[
                "--timeout=20",
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
        assert_eq!(get_cfg(&s), (2, 2));
        // The switch could not set up an interface: a warning, status 0.
        let o = rvs(&s, &["--timeout=20", "add-port", "br0", "nodev0"]);
        assert_eq!(o.status, 0, "{o:?}");
        assert!(
            o.stderr
                .contains("Error detected while setting up 'nodev0': could not open"),
            "{o:?}"
        );
        ok(&s, &["--timeout=20", "del-port", "nodev0"]);
        assert_eq!(get_cfg(&s), (4, 4));
        // Nothing changes: no transaction, nothing to wait for.
        ok(&s, &["--timeout=20", "list-br"]);
        assert_eq!(get_cfg(&s), (4, 4));
    }
    // No switch: the change is committed, then the wait times out.
    let o = rvs(&s, &["--timeout=1", "add-port", "br0", "p2"]);
    assert_eq!(o.status, 1, "{o:?}");
    assert!(o.stderr.contains("timed out after 1 seconds"), "{o:?}");
    assert!(
        o.stderr.contains("--no-wait"),
        "the message should suggest --no-wait: {o:?}"
    );
    assert_eq!(ok(&s, &["list-ports", "br0"]), "p1\np2\n");
    // wait-until waits for another client's change.
    let mut waiter = KillOnDrop(
        Command::new(rvs_vsctl())
            .args([
                &format!("--db={}", s.db()),
                "--timeout=20",
                "wait-until",
                "Bridge",
                "br9",
                "stp_enable=true",
            ])
            .spawn()
            .expect("start rvs-vsctl wait-until"),
    );
    std::thread::sleep(Duration::from_millis(300));
    ok(&s, &["--no-wait", "add-br", "br9"]);
    std::thread::sleep(Duration::from_millis(100));
    ok(
        &s,
        &["--no-wait", "set", "Bridge", "br9", "stp_enable=true"],
    );
    let status = waiter.0.wait().unwrap();
    assert!(status.success(), "wait-until failed: {status}");
}

#[test]
fn a_concurrent_change_fails_the_verification() {
    let s = Server::start();
    ok(&s, &["--no-wait", "add-br", "br0"]);
    // A change computed from what was read...
    let mut c = s.client();
    let schema =
        DatabaseSchema::from_json(&c.call("get_schema", json!(["Open_vSwitch"])).unwrap()).unwrap();
    let mut m = Model::new(&schema, &mut c);
    let br = m.rows("Bridge").unwrap()[0];
    let col = m.col("Bridge", "external_ids").unwrap();
    m.get("Bridge", br, col).unwrap();
    m.verify("Bridge", br, col).unwrap();
    let kv = BTreeMap::from([(Atom::String("k".into()), Atom::String("v".into()))]);
    m.set("Bridge", br, col, Datum::Map(kv)).unwrap();
    // ...another client changes the same column meanwhile...
    ok(
        &s,
        &["--no-wait", "set", "Bridge", "br0", "external_ids:other=1"],
    );
    // ...so the verification fails (rvs-vsctl would read again and retry)
    // and the other client's change is not overwritten.
    let plan = m.plan().unwrap();
    drop(m);
    assert_eq!(plan.waits, 1);
    let r = c.transact("Open_vSwitch", &plan.ops).unwrap();
    assert_eq!(r[0]["error"], "timed out", "{r:?}");
    assert_eq!(
        ok(&s, &["get", "Bridge", "br0", "external_ids"]),
        "{other=\"1\"}\n"
    );
}

/// Reads through a client, keeping count of what was read.
struct CountingSource {
    client: Client,
    /// Every `select` sent.
    selects: Vec<Value>,
    /// Rows and bytes the selects returned.
    rows: usize,
    bytes: usize,
}

impl Source for CountingSource {
    fn read(&mut self, db: &str, ops: &[Value]) -> rvs_ctl::vsctl::Result<Vec<Value>> {
        self.selects.extend(ops.iter().cloned());
        let r = self.client.read(db, ops)?;
        for x in &r {
            self.rows += x["rows"].as_array().map_or(0, Vec::len);
            self.bytes += x.to_string().len();
        }
        Ok(r)
    }
}

/// Bridge br0 with `n` ports p0..p{n-1}, each with its interface.
fn populate(s: &Server, n: usize) {
    let mut c = s.client();
    let r = c
        .transact(
            "Open_vSwitch",
            &[
                json!({"op": "insert", "table": "Open_vSwitch", "row": {"bridges": ["named-uuid", "br"]}}),
                json!({"op": "insert", "table": "Interface", "uuid-name": "bi", "row": {"name": "br0", "type": "internal"}}),
                json!({"op": "insert", "table": "Port", "uuid-name": "bp", "row": {"name": "br0", "interfaces": ["named-uuid", "bi"]}}),
                json!({"op": "insert", "table": "Bridge", "uuid-name": "br", "row": {"name": "br0", "ports": ["named-uuid", "bp"]}}),
            ],
        )
        .unwrap();
    assert!(r.iter().all(|x| x.get("error").is_none()), "{r:?}");
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut ops = Vec::new();
        let mut refs = Vec::new();
        for i in chunk {
            ops.push(json!({"op": "insert", "table": "Interface", "uuid-name": format!("i{i}"), "row": {"name": format!("p{i}")}}));
            ops.push(json!({"op": "insert", "table": "Port", "uuid-name": format!("p{i}"),
                            "row": {"name": format!("p{i}"), "interfaces": ["named-uuid", format!("i{i}")]}}));
            refs.push(json!(["named-uuid", format!("p{i}")]));
        }
        ops.push(
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
                        "mutations": [["ports", "insert", ["set", refs]]]}),
        );
        let r = c.transact("Open_vSwitch", &ops).unwrap();
        assert!(r.iter().all(|x| x.get("error").is_none()), "{r:?}");
    }
}

/// Runs `args` once through the library against `s` (nothing is
/// committed): what the commands planned and what they read.
fn attempt(s: &Server, args: &[&str]) -> (Attempt, CountingSource) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let Action::Run { opts, commands } = parse_command_line(&args, None).unwrap() else {
        panic!("{args:?} is not a command line that runs commands");
    };
    let mut src = CountingSource {
        client: s.client(),
        selects: Vec::new(),
        rows: 0,
        bytes: 0,
    };
    let schema = DatabaseSchema::from_json(
        &src.client
            .call("get_schema", json!(["Open_vSwitch"]))
            .unwrap(),
    )
    .unwrap();
    let a = run_attempt(&mut src, &schema, &opts, &commands).unwrap();
    (a, src)
}

#[test]
fn commands_on_a_big_bridge_read_only_what_they_need() {
    const PORTS: usize = 2000;
    let s = Server::start();
    populate(&s, PORTS);
    let whole_table = |src: &CountingSource| -> Vec<String> {
        src.selects
            .iter()
            .filter(|o| o["where"] == json!([]) && o["table"] != "Open_vSwitch")
            .map(|o| o.to_string())
            .collect()
    };
    for args in [
        &["add-port", "br0", "new0"][..],
        &[
            "add-port",
            "br0",
            "new1",
            "tag=5",
            "--",
            "set",
            "Interface",
            "new1",
            "type=internal",
        ],
        &["del-port", "br0", "p7"],
        &["--with-iface", "del-port", "p8"],
        &["--may-exist", "add-port", "br0", "p9"],
        &["add-bond", "br0", "bond0", "e0", "e1"],
        &["set", "Port", "p10", "tag=3", "other_config:k=v"],
        &["get", "Interface", "p11", "name", "type"],
        &["list", "Port", "p12"],
        &["list-br"],
        &["br-exists", "br0"],
        &["port-to-br", "p13"],
        &["iface-to-br", "p14"],
        &["br-set-external-id", "br0", "k", "v"],
        &["add-br", "br1"],
    ] {
        let (a, src) = attempt(&s, args);
        assert!(
            whole_table(&src).is_empty(),
            "{args:?} read whole tables: {:?}",
            whole_table(&src)
        );
        assert!(
            src.rows <= 10 && src.bytes < 4_000,
            "{args:?} read {} rows, {} bytes: {:?}",
            src.rows,
            src.bytes,
            src.selects
        );
        // The transaction names no other port: bridge br0's ports are
        // mutated, not rewritten or verified whole.
        let txn = serde_json::to_string(&a.plan.ops).unwrap();
        assert!(
            txn.len() < 4_000,
            "{args:?} planned {} bytes: {txn}",
            txn.len()
        );
    }
    // The changes themselves are right: commit one through the binary.
    ok(
        &s,
        &[
            "--no-wait",
            "add-port",
            "br0",
            "new0",
            "--",
            "del-port",
            "p7",
        ],
    );
    let ports = ok(&s, &["list-ports", "br0"]);
    assert_eq!(ports.lines().count(), PORTS);
    assert!(ports.lines().any(|l| l == "new0") && !ports.lines().any(|l| l == "p7"));
    // Commands about every row read the whole table, but only the columns
    // they use.
    let (_, src) = attempt(&s, &["--columns=name", "find", "Port", "tag=3"]);
    let whole = whole_table(&src);
    assert_eq!(whole.len(), 1, "{whole:?}");
    assert!(
        whole[0].contains(r#""columns":["_uuid","tag"]"#),
        "{whole:?}"
    );
}

#[test]
fn a_concurrent_add_of_the_same_name_is_caught() {
    let s = Server::start();
    populate(&s, 10);
    // rvs-vsctl found no port "x" and planned to add it...
    let (a, _) = attempt(&s, &["add-port", "br0", "x"]);
    // ...another client adds it meanwhile...
    ok(&s, &["--no-wait", "add-port", "br0", "x"]);
    // ...so the wait on the lookup fails: rvs-vsctl would run the command
    // again, and now report that the port exists.
    let r = s.client().transact("Open_vSwitch", &a.plan.ops).unwrap();
    let failed = r.iter().position(|x| x.get("error").is_some()).unwrap();
    assert!(
        failed < a.plan.waits && r[failed]["error"] == "timed out",
        "{r:?}"
    );
    fails(
        &s,
        &["--no-wait", "add-port", "br0", "x"],
        "a port named x already exists on bridge br0",
    );
}

#[test]
fn output_and_run_options() {
    let s = Server::start();
    ok(
        &s,
        &["--no-wait", "add-br", "br0", "--", "add-port", "br0", "p1"],
    );
    // --dry-run changes nothing.
    ok(&s, &["--no-wait", "--dry-run", "add-port", "br0", "p2"]);
    assert_eq!(ok(&s, &["list-ports", "br0"]), "p1\n");
    // --oneline: one line per command, blank for commands without output.
    assert_eq!(
        ok(
            &s,
            &[
                "--oneline",
                "--no-wait",
                "list-br",
                "--",
                "add-port",
                "br0",
                "p3",
                "--",
                "list-ports",
                "br0"
            ]
        ),
        "br0\n\np1\\np3\n"
    );
    let o = rvs(&s, &["--version"]);
    assert!(o.stdout.starts_with("rvs-vsctl "), "{o:?}");
    let help = ok(&s, &["--help"]);
    for c in [
        "add-br",
        "del-port",
        "list TABLE",
        "wait-until",
        "Examples:",
    ] {
        assert!(help.contains(c), "--help lacks {c}");
    }
    // RVS_RUNDIR names the default socket.
    let dir = s.socket().parent().unwrap().to_str().unwrap().to_string();
    let out = Command::new(rvs_vsctl())
        .arg("list-br")
        .env("RVS_RUNDIR", &dir)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "br0\n");
}

/// The real ovs-vsctl, or a failure that says how to get it.
fn ovs_vsctl() -> PathBuf {
    rvs_tests::ovs_vsctl()
}

/// Runs the same command lines through ovs-vsctl and rvs-vsctl against two
/// fresh servers; the exit statuses and outputs (UUIDs masked) must match,
/// and so must the resulting databases.
fn compare(steps: &[&[&str]], with_switch: bool) {
    let ovs = ovs_vsctl();
    let (a, b) = (Server::start(), Server::start());
    let _switches = with_switch.then(|| {
        (
            FakeSwitch::start(&a.remote()),
            FakeSwitch::start(&b.remote()),
        )
    });
    for step in steps {
        let want = run_tool(&ovs, &a.db(), step);
        let got = run_tool(&rvs_vsctl(), &b.db(), step);
        assert_eq!(
            got.status, want.status,
            "exit status of {step:?}: ovs-vsctl said {want:?}, rvs-vsctl said {got:?}"
        );
        // show lists bridges and ports in an order of its own in
        // ovs-vsctl (rvs-vsctl sorts by name): compare its lines as a set.
        let norm = |s: &str| {
            let m = mask_uuids(s);
            if step.contains(&"show") {
                let mut lines: Vec<&str> = m.lines().collect();
                lines.sort_unstable();
                lines.join("\n")
            } else {
                m
            }
        };
        assert_eq!(
            norm(&got.stdout),
            norm(&want.stdout),
            "output of {step:?} differs (left: rvs-vsctl, right: ovs-vsctl)"
        );
        let (da, db) = (dump(&a), dump(&b));
        assert_eq!(
            db, da,
            "databases differ after {step:?} (left: rvs-vsctl, right: ovs-vsctl)"
        );
    }
}

#[test]
fn same_results_as_ovs_vsctl() {
    let steps: &[&[&str]] = &[
        &["--no-wait", "init"],
        &["--no-wait", "add-br", "br0"],
        &[
            "--no-wait",
            "add-port",
            "br0",
            "eth0",
            "tag=10",
            "--",
            "set",
            "Interface",
            "eth0",
            "type=internal",
            "options:foo=bar",
            "external_ids:a=b",
        ],
        &[
            "--no-wait",
            "add-br",
            "br1",
            "--",
            "add-port",
            "br1",
            "p1",
            "trunks=1,2,3",
            "--",
            "add-port",
            "br1",
            "p2",
        ],
        &[
            "--no-wait",
            "set",
            "Port",
            "eth0",
            "other_config:k=v",
            "external-ids:x=y",
            "--",
            "set",
            "Bridge",
            "br0",
            "fail_mode=secure",
            "stp_enable=true",
        ],
        &[
            "--no-wait",
            "--",
            "--id=@q",
            "create",
            "Queue",
            "other-config:min-rate=100",
            "--",
            "--id=@qos",
            "create",
            "QoS",
            "type=linux-htb",
            "queues:0=@q",
            "--",
            "set",
            "Port",
            "p1",
            "qos=@qos",
        ],
        &[
            "--no-wait",
            "add",
            "Port",
            "p1",
            "trunks",
            "7",
            "9",
            "--",
            "remove",
            "Port",
            "p1",
            "trunks",
            "2",
        ],
        &[
            "--no-wait",
            "add",
            "Port",
            "eth0",
            "external_ids",
            "x=z",
            "w=1",
            "--",
            "remove",
            "Interface",
            "eth0",
            "options",
            "foo",
        ],
        &[
            "--no-wait",
            "clear",
            "Port",
            "eth0",
            "tag",
            "--",
            "set",
            "Interface",
            "p2",
            "options:remote_ip=\"1.1.1.1\"",
            "type=gre",
        ],
        &[
            "--no-wait",
            "set-controller",
            "br0",
            "tcp:127.0.0.1:6653",
            "--",
            "set-manager",
            "ptcp:6640",
        ],
        &[
            "--no-wait",
            "set",
            "Open_vSwitch",
            ".",
            "ovs_version=3.1.0",
            "external-ids:system-id=\"a b\"",
        ],
        &[
            "--no-wait",
            "add-bond",
            "br0",
            "bond0",
            "e1",
            "e2",
            "lacp=active",
            "--",
            "br-set-external-id",
            "br0",
            "k",
            "v",
        ],
        &[
            "--no-wait",
            "set",
            "Bridge",
            "br0",
            "flood_vlans=1-3",
            "protocols=OpenFlow10,OpenFlow13",
        ],
        &[
            "--no-wait",
            "--",
            "--id=@ft",
            "create",
            "Flow_Table",
            "flow_limit=100",
            "overflow_policy=refuse",
            "--",
            "set",
            "Bridge",
            "br0",
            "flow_tables=0=@ft",
        ],
        &[
            "--no-wait",
            "--",
            "set",
            "Bridge",
            "br0",
            "mirrors=@m",
            "--",
            "--id=@eth0",
            "get",
            "Port",
            "eth0",
            "--",
            "--id=@p2",
            "get",
            "Port",
            "p2",
            "--",
            "--id=@m",
            "create",
            "Mirror",
            "name=mymirror",
            "select-dst-port=@eth0,@p2",
            "select-src-port=@eth0",
            "output-port=@p2",
        ],
        &["--columns=name,trunks", "find", "Port", "trunks{>=}7"],
        &[
            "--columns=name",
            "find",
            "Interface",
            "options:remote_ip=\"1.1.1.1\"",
        ],
        &[
            "--columns=name,flood_vlans,protocols",
            "list",
            "Bridge",
            "br0",
        ],
        &["get", "Mirror", "mymirror", "name"],
        &["br-get-external-id", "br0"],
        &["--no-wait", "--with-iface", "del-port", "e1"],
        &["--no-wait", "set", "Port", "eth0", "tag=x"],
        &[
            "--no-wait",
            "remove",
            "Bridge",
            "br0",
            "flood_vlans",
            "2",
            "--",
            "add",
            "Bridge",
            "br0",
            "flood_vlans",
            "7-8",
        ],
        &[
            "--no-wait",
            "clear",
            "Bridge",
            "br0",
            "mirrors",
            "flow_tables",
        ],
        &["show"],
        &["list-br"],
        &["list-ports", "br1"],
        &["list-ifaces", "br0"],
        &["port-to-br", "p2"],
        &[
            "get",
            "Interface",
            "eth0",
            "type",
            "options",
            "external_ids",
        ],
        &["get", "Port", "p1", "trunks", "qos"],
        &[
            "--columns=name,tag,trunks,other_config",
            "list",
            "Port",
            "eth0",
        ],
        &[
            "--columns=name,type,options",
            "find",
            "Interface",
            "type=gre",
        ],
        &[
            "--format=json",
            "--columns=name,tag,trunks",
            "list",
            "Port",
            "p1",
        ],
        &[
            "--format=table",
            "--columns=name,type",
            "find",
            "Interface",
            "name=p2",
        ],
        &["br-exists", "br9"],
        &["--no-wait", "add-br", "br0"],
        &["--no-wait", "set", "Port", "eth0", "tag=5000"],
        &["--no-wait", "del-port", "br9", "eth0"],
        &[
            "--no-wait",
            "--if-exists",
            "del-port",
            "nope",
            "--",
            "--may-exist",
            "add-br",
            "br0",
        ],
        &["--no-wait", "del-port", "br1", "p1"],
        &["--no-wait", "--", "destroy", "QoS", "p1"],
        &[
            "--no-wait",
            "--",
            "--all",
            "destroy",
            "QoS",
            "--",
            "--all",
            "destroy",
            "Queue",
        ],
        &["--no-wait", "del-controller", "br0", "--", "del-manager"],
        &["--no-wait", "del-br", "br1"],
        &["--no-wait", "--may-exist", "add-port", "br0", "eth0"],
    ];
    compare(steps, false);
}

#[test]
fn libvirt_sequence_matches_ovs_vsctl() {
    // What libvirt runs to plug a VM's tap device (it does not pass
    // --no-wait, so a switch must answer).
    let libvirt: &[&str] = &[
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
        "external-ids:iface-id=0bd5a8d4-3c53-4cbf-a4d4-4b3f5c7c0a11",
        "--",
        "set",
        "Interface",
        "vnet0",
        "external-ids:vm-id=5c9d7f0e-1b1a-4f5e-9a55-6b7d8b1c2d3e",
        "--",
        "set",
        "Interface",
        "vnet0",
        "external-ids:iface-status=active",
    ];
    let steps: &[&[&str]] = &[
        &["--timeout=5", "add-br", "br0"],
        libvirt,
        // Plugging again replaces the port.
        libvirt,
        &["--timeout=5", "get", "Interface", "vnet0", "external_ids"],
        &["--timeout=5", "iface-to-br", "vnet0"],
        &[
            "--timeout=5",
            "--if-exists",
            "--format=list",
            "--data=json",
            "--no-headings",
            "--columns=statistics",
            "list",
            "Interface",
            "vnet0",
        ],
        &[
            "--timeout=5",
            "--",
            "--if-exists",
            "clear",
            "Port",
            "vnet0",
            "trunk",
        ],
        &["--timeout=5", "--", "--if-exists", "del-port", "vnet0"],
    ];
    compare(steps, true);
}
