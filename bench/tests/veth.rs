//! `rvs-pktgen veth` end to end, as root: namespaces, veths, rvs-vswitchd
//! and the Linux bridge, the generator in its namespace. Checks that the
//! numbers are sane, never how fast anything is.

use serde_json::Value;
use std::process::Command;

#[test]
fn veth_benchmark_forwards_through_rvs_and_the_linux_bridge() {
    // rvs-pktgen runs the switch binaries next to itself: build them into
    // this profile's directory if the run did not (cargo test --workspace
    // does).
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_rvs-pktgen"));
    assert_eq!(
        bin.parent(),
        Some(rvs_tests::bin_dir().as_path()),
        "rvs-pktgen and this test are not in the same target directory"
    );
    rvs_tests::workspace_bin("rvs-vswitchd", "rvs-vswitchd");
    rvs_tests::workspace_bin("rvs-ctl", "rvs-vsctl");
    rvs_tests::workspace_bin("rvs-ctl", "rvs-appctl");

    let switches = ["rvs-afpacket", "linux-bridge"];
    let out = Command::new(bin)
        .args(["veth", "--seconds", "1", "--rounds", "1", "--json"])
        .args(["--switch", &switches.join(",")])
        .output()
        .expect("run rvs-pktgen veth");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{stdout}");

    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let samples: Vec<&Value> = lines.iter().filter(|v| v["type"] == "sample").collect();
    let summaries: Vec<&Value> = lines.iter().filter(|v| v["type"] == "summary").collect();
    assert_eq!(samples.len(), switches.len(), "{stdout}");
    assert_eq!(summaries.len(), switches.len(), "{stdout}");
    for (s, name) in samples.iter().zip(switches) {
        assert_eq!(s["switch"], name, "{s}");
        assert_eq!(s["round"], 1, "{s}");
        let sent = s["sent"].as_u64().unwrap();
        let received = s["received"].as_u64().unwrap();
        let offered = s["offered_mpps"].as_f64().unwrap();
        let forwarded = s["forwarded_mpps"].as_f64().unwrap();
        let seconds = s["seconds"].as_f64().unwrap();
        assert!((0.9..5.0).contains(&seconds), "{s}");
        assert!(sent > 0 && offered > 0.0, "nothing was sent: {s}\n{stderr}");
        assert!(
            received > 0 && forwarded > 0.0,
            "nothing was forwarded: {s}\n{stderr}"
        );
        assert!(
            forwarded <= offered * 1.01,
            "forwarded more than was offered: {s}"
        );
        assert!(
            (offered - sent as f64 / seconds / 1e6).abs() < 1e-6 * offered.max(1.0),
            "{s}"
        );
        if name.starts_with("rvs") {
            assert!(s.get("switch_lost").is_some(), "{s}");
        }
    }
    for (m, name) in summaries.iter().zip(switches) {
        assert_eq!(m["switch"], name, "{m}");
        assert_eq!(m["rounds"], 1, "{m}");
        assert!(m["forwarded_mpps"].as_f64().unwrap() > 0.0, "{m}");
    }
}
