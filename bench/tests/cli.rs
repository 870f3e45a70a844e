//! `rvs-pktgen micro` as a user runs it: a separate process, real output.

use std::process::Command;

fn pktgen(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rvs-pktgen"))
        .args(args)
        .output()
        .expect("run rvs-pktgen")
}

#[test]
fn micro_json_reports_every_field_for_a_fixed_packet_count() {
    for case in ["parse", "emc_hit", "megaflow_hit", "miss_install"] {
        let out = pktgen(&[
            "micro",
            "--case",
            case,
            "--flows",
            "64",
            "--subtables",
            "4",
            "--packets",
            "20000",
            "--repeat",
            "1",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON object");
        assert_eq!(v["case"], case);
        assert_eq!(v["flows"], 64);
        for field in ["subtables", "mpps", "ns_per_pkt", "allocs_per_pkt"] {
            assert!(v.get(field).is_some(), "{case}: missing {field}");
        }
        assert!(v["mpps"].as_f64().unwrap() > 0.0);
        match case {
            "emc_hit" => assert!(v["emc_hit_rate"].as_f64().unwrap() > 0.9, "{v}"),
            "megaflow_hit" => {
                assert_eq!(v["subtables"], 4);
                assert_eq!(v["megaflow_hit_rate"].as_f64().unwrap(), 1.0, "{v}");
            }
            _ => {}
        }
        if case != "miss_install" {
            assert_eq!(v["packets"], 20000);
            assert_eq!(
                v["allocs_per_pkt"].as_f64().unwrap(),
                0.0,
                "{case} allocated: {v}"
            );
        }
    }
}

#[test]
fn bad_arguments_get_a_clear_error() {
    let out = pktgen(&["micro", "--case", "nosuch"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown case") && err.contains("emc_hit"),
        "{err}"
    );
    let out = pktgen(&["micro", "--case", "megaflow_hit", "--subtables", "99"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--subtables"));
}

#[test]
fn testpmd_help_teaches_and_bad_switch_names_are_refused() {
    let out = pktgen(&["testpmd", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "flowgen",
        "in_port=1,actions=output:2",
        "--flows",
        "--runs",
        "openvswitch-switch-dpdk",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let out = pktgen(&["testpmd", "--switch", "linux"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown switch \"linux\": choose rvs, ovs or both"),
        "{err}"
    );
}

#[test]
fn the_generator_refuses_malformed_options_with_a_clear_error() {
    for (args, needle) in [
        (
            &["run", "--tx", "bogus:x", "--rx", "ring"][..],
            "unknown endpoint",
        ),
        (&["run", "--tx", "afxdp", "--rx", "ring"], "needs a device"),
        (&["run", "--tx", "ring", "--rx", "afxdp:veth0"], "pairs"),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--frame", "63"],
            "64..=1518",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--frame", "jumbo"],
            "imix",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--rate", "fast"],
            "--rate",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--rate", "120%"],
            "(0, 100]",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--sweep", "1,0"],
            "--sweep",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--vlan", "5000"],
            "VLAN",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--src-port", "9-1"],
            "--src-port",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--dst-mac", "02:00"],
            "--dst-mac",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--ndr", "--pdr", "1"],
            "exclude",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--seconds", "0"],
            "--seconds",
        ),
        (
            &["run", "--tx", "ring", "--rx", "ring", "--latency-at", "2"],
            "--latency-at",
        ),
        (&["compare", "--switch", "linux"], "unknown switch"),
        (&["compare", "--path", "tap"], "unknown path"),
        (&["compare", "--rounds", "0"], "--rounds"),
        (&["compare", "--vhost-flows", "x"], "--vhost-flows"),
    ] {
        let out = pktgen(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn the_generator_ceiling_runs_and_reports_every_field() {
    let out = pktgen(&[
        "run",
        "--tx",
        "ring",
        "--rx",
        "ring",
        "--seconds",
        "0.2",
        "--warmup",
        "0",
        "--sweep",
        "1,1k",
        "--ndr",
        "--latency-at",
        "0.5",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for (r, flows) in rows.iter().zip([1, 1000]) {
        assert_eq!(r["flows"], flows);
        assert_eq!(r["lost"], 0, "{r}");
        assert!(r["mpps"].as_f64().unwrap() > 0.0, "{r}");
        for f in [
            "ndr_mpps",
            "p99_us",
            "p50_us",
            "max_us",
            "gbps",
            "reordered",
        ] {
            assert!(!r[f].is_null(), "{f} missing: {r}");
        }
    }
}
