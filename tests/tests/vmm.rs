//! `rvs-vmm` end to end through a real rvs-vswitchd: the built-in test
//! guest boots under KVM, finds its virtio-net NIC on PCI, sets its rings
//! up, and its UDP datagram crosses the bridge to a host in a network
//! namespace and comes back (ECHO OK on the serial console).
//!
//! Each test has its own daemon, bridge, namespace and sockets.

use rvs_tests::{unique_name, workspace_bin, TempDir, Veth, Vswitchd};
use std::path::Path;
use std::process::{Command, Output};

fn vmm(args: &[&str]) -> Output {
    Command::new(workspace_bin("rvs-vmm", "rvs-vmm"))
        .args(args)
        .output()
        .expect("run rvs-vmm")
}

/// rvs-vmm with its state and run directories in `dir` and the switch's
/// database as the default.
fn vmm_in(dir: &Path, switch_rundir: &Path, args: &[&str]) -> Output {
    Command::new(workspace_bin("rvs-vmm", "rvs-vmm"))
        .env("RVS_VMM_DIR", dir.join("state"))
        .env("RVS_VMM_RUNDIR", dir.join("run"))
        .env("RVS_RUNDIR", switch_rundir)
        .args(args)
        .output()
        .expect("run rvs-vmm")
}

/// A bridge with the host's veth end as an AF_PACKET port.
fn host_bridge(sw: &Vswitchd, host: &Veth) -> String {
    let br = unique_name("vb");
    sw.vsctl(&[
        "add-br",
        &br,
        "--",
        "add-port",
        &br,
        &host.host,
        "--",
        "set",
        "Interface",
        &host.host,
        "type=afpacket",
    ]);
    br
}

fn ports(sw: &Vswitchd, br: &str) -> String {
    sw.vsctl(&["list-ports", br])
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
fn the_test_guest_on_a_bridge_echoes_with_a_namespace_host() {
    let sw = Vswitchd::start();
    let host = Veth::new("rvm", "10.91.0.1");
    let _echo = host.udp_echo_server(7);
    let br = host_bridge(&sw, &host);
    let dir = TempDir::new("rvmm");
    let vm = unique_name("vm");
    let out = vmm_in(
        dir.path(),
        sw.rundir(),
        &[
            "run",
            "--test-guest",
            "--name",
            &vm,
            "--net",
            &format!("bridge={br}"),
            "--cmdline",
            "ip=10.91.0.3/24 echo=10.91.0.1:7 payload=through-rvs",
        ],
    );
    check_echo(&out, "through-rvs", &sw);
    // The port was the VMM's for the VM's life only.
    assert!(!ports(&sw, &br).contains(&vm), "{}", ports(&sw, &br));
}

/// A guest whose NIC connects to a vhost-user server port of the switch,
/// on a bridge with a host at 10.N.0.1 (a UDP echo server on port 7 when
/// `echo_server`), echoing to it; the switch (for its log) and the run.
fn echo_over_a_switch_socket(net: u8, echo_server: bool, payload: &str) -> (Vswitchd, Output) {
    let sw = Vswitchd::start();
    let host = Veth::new("rvu", &format!("10.{net}.0.1"));
    let _echo = echo_server.then(|| host.udp_echo_server(7));
    let vm = unique_name("vm");
    let socks = bridge(&sw, &host, &[&vm]);
    let out = vmm(&[
        "run",
        "--test-guest",
        "--net",
        &format!("vhost-user={}", socks[0]),
        "--cmdline",
        &format!("ip=10.{net}.0.3/24 echo=10.{net}.0.1:7 payload={payload}"),
    ]);
    (sw, out)
}

#[test]
fn a_vhost_user_nic_on_a_switch_socket_echoes_too() {
    let (sw, out) = echo_over_a_switch_socket(95, true, "vhost-user-socket");
    check_echo(&out, "vhost-user-socket", &sw);
}

#[test]
fn without_an_answer_the_guest_says_echo_fail_and_exits_1() {
    // No echo server: the host answers ARP, the datagram is not echoed.
    let (_sw, out) = echo_over_a_switch_socket(92, false, "unanswered");
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
    let br = host_bridge(&sw, &host);
    let dir = TempDir::new("rvm2");
    let bin = workspace_bin("rvs-vmm", "rvs-vmm");
    // B answers on port 7; A sends to it once B's NIC is up.
    let mut server = Command::new(&bin)
        .env("RVS_VMM_RUNDIR", dir.path().join("run"))
        .env("RVS_RUNDIR", sw.rundir())
        .args([
            "run",
            "--test-guest",
            "--name",
            &unique_name("vmb"),
            "--net",
        ])
        .arg(format!("bridge={br},mac=02:00:00:93:00:04"))
        .args(["--cmdline", "ip=10.93.0.4/24 serve=7"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start guest B");
    let mut b_out = String::new();
    let mut reader = std::io::BufReader::new(server.stdout.take().expect("B's stdout"));
    let up = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = String::new();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            seen.push_str(&line);
            if line.starts_with("eth0 ") {
                return (true, seen, reader);
            }
            line.clear();
        }
        (false, seen, reader)
    });
    let (ready, seen, mut reader) = up.join().expect("reader");
    b_out.push_str(&seen);
    if !ready {
        let _ = server.kill();
        panic!("guest B did not bring eth0 up:\n{b_out}");
    }
    let out = vmm_in(
        dir.path(),
        sw.rundir(),
        &[
            "run",
            "--test-guest",
            "--name",
            &unique_name("vma"),
            "--net",
            &format!("bridge={br},mac=02:00:00:93:00:03"),
            "--cmdline",
            "ip=10.93.0.3/24 echo=10.93.0.4:7 payload=guest-to-guest",
        ],
    );
    {
        use std::io::Read;
        let _ = reader.read_to_string(&mut b_out);
    }
    let served = server.wait().expect("guest B");
    check_echo(&out, "guest-to-guest", &sw);
    assert!(served.success(), "guest B:\n{b_out}");
    assert!(b_out.contains("SERVED guest-to-guest"), "guest B:\n{b_out}");
}

#[test]
fn a_missing_bridge_is_a_clear_error_and_leaves_nothing() {
    let sw = Vswitchd::start();
    let dir = TempDir::new("rvmb");
    let out = vmm_in(
        dir.path(),
        sw.rundir(),
        &[
            "run",
            "--test-guest",
            "--name",
            "nb",
            "--net",
            "bridge=nosuchbr",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bridge nosuchbr does not exist"), "{err}");
    assert!(!sw.vsctl(&["show"]).contains("nb-eth0"));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("run/nb"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_managed_vm_lives_through_a_switch_restart_and_goes_cleanly() {
    let mut sw = Vswitchd::start();
    let host = Veth::new("rvl", "10.94.0.1");
    let br = host_bridge(&sw, &host);
    let dir = TempDir::new("rvml");
    let vm = unique_name("lvm");
    let def = dir.path().join("def.json");
    std::fs::write(
        &def,
        format!(
            r#"{{"name":"{vm}","test_guest":true,"memory_mib":16,
                "cmdline":"ip=10.94.0.5/24 serve=7 count=0",
                "nets":[{{"bridge":"{br}","mac":"02:00:00:94:00:05"}}]}}"#
        ),
    )
    .unwrap();
    let rundir = sw.rundir().to_path_buf();
    let ok = |args: &[&str]| {
        let out = vmm_in(dir.path(), &rundir, args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    ok(&["define", def.to_str().unwrap()]);
    // Defining it twice is refused.
    let again = vmm_in(dir.path(), &rundir, &["define", def.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already defined"));
    assert!(ok(&["list", "--all"]).contains("shut off"));
    ok(&["start", &vm]);
    // Whatever happens below, the VM (which spins a CPU) is stopped.
    let _guard = Destroy(dir.path().to_path_buf(), rundir.clone(), vm.clone());
    let list = ok(&["list"]);
    assert!(list.contains(&vm) && list.contains("running"), "{list}");
    assert!(ok(&["dominfo", &vm]).contains("State:          running"));
    let ifl = ok(&["domiflist", &vm]);
    let port = format!("{vm}-eth0");
    assert!(
        ifl.contains(&port) && ifl.contains("02:00:00:94:00:05"),
        "{ifl}"
    );
    // The port is in the database with libvirt's external ids.
    assert!(ports(&sw, &br).contains(&port), "{}", ports(&sw, &br));
    let ids = sw.vsctl(&["get", "Interface", &port, "external_ids"]);
    assert!(
        ids.contains("attached-mac") && ids.contains("vm-id") && ids.contains("iface-id"),
        "{ids}"
    );
    // The guest answers the host's datagrams.
    assert!(
        host.udp_echo("10.94.0.5", 7, 1.0),
        "no echo from the guest: {}",
        ok(&["console", &vm])
    );
    // The switch restarts; the VM goes on and its NIC comes back.
    sw.restart();
    let t0 = std::time::Instant::now();
    let mut echoed = false;
    while t0.elapsed() < std::time::Duration::from_secs(20) && !echoed {
        echoed = host.udp_echo("10.94.0.5", 7, 0.5);
    }
    assert!(
        echoed,
        "no echo after the switch restarted: {}\n{}",
        ok(&["console", &vm]),
        sw.log()
    );
    assert!(ok(&["list"]).contains("running"));
    assert!(ok(&["console", &vm]).contains("SERVED ping"));
    ok(&["destroy", &vm]);
    assert!(!ok(&["list"]).contains(&vm));
    assert!(
        !ports(&sw, &br).contains(&port),
        "port left behind: {}",
        ports(&sw, &br)
    );
    let undef = vmm_in(dir.path(), &rundir, &["undefine", &vm]);
    assert!(undef.status.success());
    assert!(!ok(&["list", "--all"]).contains(&vm));
}

/// Destroys a managed VM when dropped (a failing test must not leave a
/// VM spinning a CPU).
struct Destroy(std::path::PathBuf, std::path::PathBuf, String);

impl Drop for Destroy {
    fn drop(&mut self) {
        let _ = vmm_in(&self.0, &self.1, &["destroy", &self.2]);
    }
}
