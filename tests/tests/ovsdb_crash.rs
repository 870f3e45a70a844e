//! Crash safety: a writer commits transactions while the server is killed
//! with SIGKILL at random moments, many times over. After every restart,
//! every acknowledged transaction is there, and no transaction is there in
//! part.

use rvs_ovsdb::client::Client;
use rvs_tests::OvsdbServer;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ROUNDS: usize = 25;

/// Transaction `i`: two map keys in two columns and a counter, all or none.
fn txn(i: u64) -> Vec<Value> {
    vec![
        json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
               "mutations": [["external_ids", "insert", ["map", [[format!("a{i}"), "x"]]]],
                             ["other_config", "insert", ["map", [[format!("b{i}"), "y"]]]],
                             ["next_cfg", "+=", 1]]}),
        json!({"op": "comment", "comment": format!("crash test txn {i}")}),
    ]
}

fn keys(v: &Value, prefix: char) -> BTreeSet<u64> {
    v[1].as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p[0].as_str())
        .filter_map(|k| k.strip_prefix(prefix))
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[test]
fn acknowledged_transactions_survive_kill_9_and_none_is_half_applied() {
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut server = OvsdbServer::start();
    {
        let mut c = Client::connect(&server.remote()).unwrap();
        let r = c
            .transact(
                "Open_vSwitch",
                &[json!({"op": "insert", "table": "Open_vSwitch", "row": {}})],
            )
            .unwrap();
        assert!(r[0].get("uuid").is_some(), "{r:?}");
    }
    let acked: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let mut next = 0u64;
    let mut truncations = 0;
    for round in 0..ROUNDS {
        let remote = server.remote();
        let acked2 = acked.clone();
        let start = next;
        let writer = std::thread::spawn(move || {
            let Ok(mut c) = Client::connect(&remote) else {
                return start;
            };
            let mut i = start;
            loop {
                match c.transact("Open_vSwitch", &txn(i)) {
                    Ok(r) => {
                        assert!(r.iter().all(|x| x.get("error").is_none()), "txn {i}: {r:?}");
                        acked2.lock().unwrap().insert(i);
                        i += 1;
                    }
                    // The server died under us; what happened to txn i is
                    // unknown (it may or may not be there).
                    Err(_) => return i + 1,
                }
            }
        });
        std::thread::sleep(Duration::from_millis(2 + xorshift(&mut seed) % 40));
        server.kill9();
        next = writer.join().unwrap();
        server.restart();
        if server
            .log()
            .matches("cut off an incomplete last record")
            .count()
            > truncations
        {
            truncations += 1;
        }
        // Check the state after this crash.
        let mut c = Client::connect(&server.remote()).unwrap();
        let r = c
            .transact(
                "Open_vSwitch",
                &[json!({"op": "select", "table": "Open_vSwitch", "where": [],
                         "columns": ["external_ids", "other_config", "next_cfg"]})],
            )
            .unwrap();
        let row = &r[0]["rows"][0];
        let a = keys(&row["external_ids"], 'a');
        let b = keys(&row["other_config"], 'b');
        assert_eq!(a, b, "round {round}: a transaction was applied in part");
        assert_eq!(
            row["next_cfg"].as_u64().unwrap(),
            a.len() as u64,
            "round {round}: counter and keys disagree"
        );
        let acked = acked.lock().unwrap();
        let lost: Vec<&u64> = acked.difference(&a).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged transactions lost: {lost:?}"
        );
    }
    let total = acked.lock().unwrap().len();
    eprintln!(
        "{ROUNDS} crashes, {total} acknowledged transactions, {truncations} torn tails cut off"
    );
    assert!(
        total > ROUNDS,
        "the writer barely ran ({total} transactions)"
    );
}
