//! `rvs-pktgen compare --quick` end to end, as root: rvs-vswitchd and Open
//! vSwitch 3.1 with DPDK (installed by the README's test command) on the
//! vhost-user path, and both with the Linux bridge on the veth path.
//! Checks that every row is there and sane, never how fast anything is.

use serde_json::Value;
use std::process::Command;

#[test]
fn compare_quick_prints_rvs_against_open_vswitch_and_the_linux_bridge() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_rvs-pktgen"));
    assert_eq!(bin.parent(), Some(rvs_tests::bin_dir().as_path()));
    rvs_tests::workspace_bin("rvs-vswitchd", "rvs-vswitchd");
    for b in ["rvs-vsctl", "rvs-ofctl", "rvs-appctl"] {
        rvs_tests::workspace_bin("rvs-ctl", b);
    }
    let out_dir = std::env::temp_dir().join(format!("rvs-compare-test-{}", std::process::id()));
    let out = Command::new(bin)
        .args(["compare", "--quick", "--json", "--out"])
        .arg(&out_dir)
        .output()
        .expect("run rvs-pktgen compare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let plots: Vec<_> = std::fs::read_dir(&out_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(
        !stderr.contains("skipping"),
        "a switch was not installed: {stderr}"
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let ceiling = lines
        .iter()
        .find(|v| v["type"] == "ceiling")
        .expect("the generator's ceiling");
    assert!(ceiling["mpps"].as_f64().unwrap() > 0.0);
    let medians: Vec<&Value> = lines.iter().filter(|v| v["type"] == "median").collect();
    let want = [
        ("vhost", 1, "rvs"),
        ("vhost", 1, "ovs"),
        ("vhost", 10000, "rvs"),
        ("vhost", 10000, "ovs"),
        ("veth", 1, "rvs"),
        ("veth", 1, "ovs"),
        ("veth", 1, "linux-bridge"),
    ];
    assert_eq!(medians.len(), want.len(), "{stdout}");
    for (path, flows, switch) in want {
        let r = medians
            .iter()
            .find(|r| r["path"] == path && r["flows"] == flows && r["switch"] == switch)
            .unwrap_or_else(|| panic!("no row for {path} {flows} {switch}:\n{stdout}"));
        let mpps = r["mpps"].as_f64().unwrap();
        let tx = r["tx_mpps"].as_f64().unwrap();
        assert!(mpps > 0.0, "nothing forwarded: {r}\n{stderr}");
        assert!(mpps <= tx * 1.001, "more received than sent: {r}");
        // The NDR may be "not found" on a noisy machine (a quick search
        // has few trials); it is reported either way.
        assert!(r.get("ndr_mpps").is_some(), "no NDR field: {r}");
        if let Some(ndr) = r["ndr_mpps"].as_f64() {
            assert!(ndr > 0.0 && ndr <= tx * 1.001, "{r}");
        }
        assert!(r["p99_us"].as_f64().is_some_and(|p| p > 0.0), "{r}");
        if switch != "rvs" {
            assert!(r["ratio"].as_f64().is_some_and(|x| x > 0.0), "{r}");
        }
    }
    for f in ["results.json", "throughput-vhost.svg", "latency-veth.svg"] {
        assert!(plots.iter().any(|p| p == f), "{f} not written: {plots:?}");
    }
}

#[test]
fn the_ring_path_runs_rvss_datapath_without_io() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_rvs-pktgen"));
    let out_dir = std::env::temp_dir().join(format!("rvs-compare-ring-{}", std::process::id()));
    let out = Command::new(bin)
        .args([
            "compare", "--quick", "--json", "--switch", "rvs", "--path", "ring", "--out",
        ])
        .arg(&out_dir)
        .output()
        .expect("run rvs-pktgen compare");
    let _ = std::fs::remove_dir_all(&out_dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let medians: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "median")
        .collect();
    assert_eq!(medians.len(), 2, "{stdout}");
    for r in &medians {
        assert_eq!(r["path"], "ring");
        assert!(r["mpps"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(
            r["loss_ratio"].as_f64().unwrap(),
            0.0,
            "rings do not lose: {r}"
        );
        assert!(r["cycles_per_pkt"].as_f64().is_some(), "{r}");
    }
}
