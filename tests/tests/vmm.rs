//! `rvs-vmm` end to end through a real rvs-vswitchd: the built-in test
//! guest boots under KVM, finds its virtio-net NIC on PCI, sets its rings
//! up, and its UDP datagram crosses the bridge to a host in a network
//! namespace and comes back (ECHO OK on the serial console).
//!
//! Each test has its own daemon, bridge, namespace and sockets.

use rvs_tests::{unique_name, workspace_bin, Veth, Vswitchd};
use std::process::{Command, Output};

fn vmm(args: &[&str]) -> Output {
    Command::new(workspace_bin("rvs-vmm", "rvs-vmm"))
        .args(args)
        .output()
        .expect("run rvs-vmm")
}

/// A bridge with the host's veth end (AF_PACKET) and vhost-user server
/// ports `vms`; the sockets of those ports.
fn bridge(sw: &Vswitchd, host: &Veth, vms: &[&str]) -> Vec<String> {
    let br = unique_name("vb");
    let mut args = vec![
        "add-br".to_string(),
        br.clone(),
        "--".into(),
        "add-port".into(),
        br.clone(),
        host.host.clone(),
        "--".into(),
        "set".into(),
        "Interface".into(),
        host.host.clone(),
        "type=afpacket".into(),
    ];
    for vm in vms {
        args.extend(
            [
                "--",
                "add-port",
                &br,
                vm,
                "--",
                "set",
                "Interface",
                vm,
                "type=vhostuser",
            ]
            .map(String::from),
        );
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sw.vsctl(&args);
    vms.iter()
        .map(|vm| sw.rundir().join(vm).display().to_string())
        .collect()
}

fn check_echo(out: &Output, payload: &str, sw: &Vswitchd) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(&format!("ECHO OK {payload}")),
        "guest console:\n{stdout}\nrvs-vmm:\n{stderr}\nrvs-vswitchd:\n{}",
        sw.log()
    );
    assert!(stdout.contains("pci 00:01.0 1af4:1041"), "{stdout}");
}

#[test]
fn the_test_guest_echoes_through_a_bridge_to_a_namespace_host() {
    let sw = Vswitchd::start();
    let host = Veth::new("rvm", "10.91.0.1");
    let _echo = host.udp_echo_server(7);
    let vm = unique_name("vm");
    let socks = bridge(&sw, &host, &[&vm]);
    let out = vmm(&[
        "run",
        "--test-guest",
        "--net",
        &format!("vhost-user={}", socks[0]),
        "--cmdline",
        "ip=10.91.0.3/24 echo=10.91.0.1:7 payload=through-rvs",
    ]);
    check_echo(&out, "through-rvs", &sw);
}

#[test]
fn without_an_answer_the_guest_says_echo_fail_and_exits_1() {
    let sw = Vswitchd::start();
    let host = Veth::new("rvn", "10.92.0.1");
    // No echo server: the host answers ARP, the datagram is not echoed.
    let vm = unique_name("vm");
    let socks = bridge(&sw, &host, &[&vm]);
    let out = vmm(&[
        "run",
        "--test-guest",
        "--net",
        &format!("vhost-user={}", socks[0]),
        "--cmdline",
        "ip=10.92.0.3/24 echo=10.92.0.1:7",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ECHO FAIL no echo came back"), "{stdout}");
}

#[test]
fn a_missing_backend_socket_is_a_clear_error() {
    let out = vmm(&[
        "run",
        "--test-guest",
        "--net",
        "vhost-user=/nonexistent/rvs-vm.sock",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("/nonexistent/rvs-vm.sock"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = vmm(&[
        "run",
        "--test-guest",
        "--net",
        "vhost-user=/x,mac=01:00:00:00:00:01",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("multicast"));
}

#[test]
fn two_test_guests_on_one_bridge_talk_to_each_other() {
    let sw = Vswitchd::start();
    let host = Veth::new("rv2", "10.93.0.1");
    let (a, b) = (unique_name("vma"), unique_name("vmb"));
    let socks = bridge(&sw, &host, &[&a, &b]);
    let bin = workspace_bin("rvs-vmm", "rvs-vmm");
    // B answers on port 7; A sends to it (A retries its ARP while B boots).
    let server = Command::new(&bin)
        .args(["run", "--test-guest", "--net"])
        .arg(format!("vhost-user={},mac=02:00:00:93:00:04", socks[1]))
        .args(["--cmdline", "ip=10.93.0.4/24 serve=7"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start guest B");
    let out = vmm(&[
        "run",
        "--test-guest",
        "--net",
        &format!("vhost-user={},mac=02:00:00:93:00:03", socks[0]),
        "--cmdline",
        "ip=10.93.0.3/24 echo=10.93.0.4:7 payload=guest-to-guest",
    ]);
    let served = server.wait_with_output().expect("guest B");
    let b_out = String::from_utf8_lossy(&served.stdout);
    check_echo(&out, "guest-to-guest", &sw);
    assert!(served.status.success(), "guest B:\n{b_out}");
    assert!(b_out.contains("SERVED guest-to-guest"), "guest B:\n{b_out}");
}
