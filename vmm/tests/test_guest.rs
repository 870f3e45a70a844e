//! `rvs-vmm run --test-guest` as a user runs it: a real KVM VM (the
//! machine's /dev/kvm), the built-in guest on its serial console, its
//! exit status; and the errors for what cannot work.

use std::process::{Command, Output};

fn vmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rvs-vmm"))
        .args(args)
        .output()
        .expect("run rvs-vmm")
}

#[test]
fn the_test_guest_boots_prints_its_command_line_and_pci_bus_and_exits_0() {
    let out = vmm(&["run", "--test-guest", "--cmdline", "console=ttyS0 hello"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout,
        "rvs test guest\ncmdline: console=ttyS0 hello\npci 00:00.0 8086:1237\nOK\n"
    );
    assert!(stderr.contains("exited with status 0"), "{stderr}");
}

#[test]
fn an_echo_without_a_nic_fails_with_status_1() {
    let out = vmm(&[
        "run",
        "--test-guest",
        "--cmdline",
        "ip=10.0.0.3/24 echo=10.0.0.1:7",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.ends_with("ECHO FAIL no virtio-net device on PCI bus 0\n"),
        "{stdout}"
    );
    let out = vmm(&[
        "run",
        "--test-guest",
        "--cmdline",
        "ip=10.0.0.300/24 echo=10.0.0.1:7",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ECHO FAIL bad ip="));
}

#[test]
fn what_cannot_work_gets_a_clear_error() {
    for (args, needle) in [
        (
            &["run", "--test-guest", "--kvm", "/nonexistent/kvm"][..],
            "cannot open /nonexistent/kvm",
        ),
        (&["run"], "--test-guest"),
        (&["run", "--kernel", "/boot/vmlinuz"], "not implemented yet"),
        (&["run", "--test-guest", "--memory", "0"], "--memory"),
    ] {
        let out = vmm(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let long = "x".repeat(2000);
    let out = vmm(&["run", "--test-guest", "--cmdline", &long]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 1024"));
}
