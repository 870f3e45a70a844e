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
        (&["run", "--kernel", "/etc/hostname"], "not a bzImage"),
        (
            &["run", "--kernel", "/nonexistent/vmlinuz"],
            "kernel /nonexistent/vmlinuz not found",
        ),
        (
            &["run", "--test-guest", "--initrd", "/x.img"],
            "an initrd needs a kernel",
        ),
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

/// rvs-vmm with its own state and run directories.
fn vmm_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rvs-vmm"))
        .env("RVS_VMM_DIR", dir.join("state"))
        .env("RVS_VMM_RUNDIR", dir.join("run"))
        .args(args)
        .output()
        .expect("run rvs-vmm")
}

#[test]
fn bad_definitions_are_refused_and_leave_nothing() {
    let dir = std::env::temp_dir().join(format!("rvs-vmm-defs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    for (file, text, needle) in [
        ("a.json", "{not json", "not a valid VM definition"),
        (
            "b.json",
            r#"{"name":"b","test_guest":true,"disk":"x"}"#,
            "unknown field `disk`",
        ),
        (
            "c.json",
            r#"{"name":"c","kernel":"/nonexistent/vmlinuz"}"#,
            "kernel /nonexistent/vmlinuz not found",
        ),
        ("d.json", r#"{"name":"d"}"#, "nothing to boot"),
        (
            "e.json",
            r#"{"name":"e","test_guest":true,"nets":[{"bridge":"br0","mac":"ff:ff:ff:ff:ff:ff"}]}"#,
            "multicast",
        ),
    ] {
        let p = write(file, text);
        let out = vmm_in(&dir, &["define", &p]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file} was accepted");
        assert!(err.contains(needle), "{file}: {needle:?} not in {err}");
    }
    let defined: Vec<_> = std::fs::read_dir(dir.join("state"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(defined.is_empty(), "{defined:?}");
    for (args, needle) in [
        (&["start", "ghost"][..], "no VM named ghost is defined"),
        (&["destroy", "ghost"], "no VM named ghost is defined"),
        (&["console", "ghost"], "no VM named ghost is defined"),
    ] {
        let out = vmm_in(&dir, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    // A defined VM that is not running cannot be stopped, can be undefined.
    let p = write("f.json", r#"{"name":"f","test_guest":true}"#);
    assert!(vmm_in(&dir, &["define", &p]).status.success());
    let out = vmm_in(&dir, &["destroy", "f"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"));
    assert!(vmm_in(&dir, &["undefine", "f"]).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The 2 MiB hugepage pool (whatever the default hugepage size).
const POOL: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";

/// Grows the 2 MiB pool by `extra` pages and puts the old size back on
/// drop; `None` when the kernel did not grant them (fragmented memory).
struct Hugepages(String);

impl Hugepages {
    fn reserve(extra: u64) -> Option<Hugepages> {
        let nr = format!("{POOL}/nr_hugepages");
        let old = std::fs::read_to_string(&nr).expect("the 2 MiB hugepage pool");
        let n: u64 = old.trim().parse().expect("a number");
        std::fs::write(&nr, (n + extra).to_string()).expect("grow the pool (as root)");
        let guard = Hugepages(old);
        let free: u64 = std::fs::read_to_string(format!("{POOL}/free_hugepages"))
            .ok()
            .and_then(|f| f.trim().parse().ok())
            .unwrap_or(0);
        (free >= extra).then_some(guard)
    }
}

impl Drop for Hugepages {
    fn drop(&mut self) {
        let _ = std::fs::write(format!("{POOL}/nr_hugepages"), self.0.trim());
    }
}

#[test]
fn guest_memory_from_hugepages_when_reserved_and_a_clear_error_when_not() {
    let Some(_reserved) = Hugepages::reserve(8) else {
        eprintln!(
            "skipping: the kernel did not grant 8 hugepages of 2 MiB (memory too fragmented)"
        );
        return;
    };
    let out = vmm(&["run", "--test-guest", "--hugepages", "--memory", "16"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("OK\n"));
    // More than the pool holds: refused before the guest runs.
    let out = vmm(&["run", "--test-guest", "--hugepages", "--memory", "2048"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("hugepages are needed") && err.contains("nr_hugepages"),
        "{err}"
    );
    let out = vmm(&["run", "--test-guest", "--hugepages", "--memory", "15"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 MiB hugepages"));
}

#[test]
fn each_vcpu_is_a_thread_pinned_where_asked() {
    let dir = std::env::temp_dir().join(format!("rvs-vmm-cpus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let def = dir.join("smp.json");
    // A guest that keeps its boot vCPU busy with exits for a long while.
    std::fs::write(
        &def,
        r#"{"name":"smp","test_guest":true,"cpus":2,"cpu_affinity":[1,0],"cmdline":"exits=999999999"}"#,
    )
    .unwrap();
    assert!(vmm_in(&dir, &["define", def.to_str().unwrap()])
        .status
        .success());
    let out = vmm_in(&dir, &["start", "smp"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _guard = Destroy(dir.clone(), "smp");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/smp/info.json")).unwrap())
            .unwrap();
    let pid = info["pid"].as_u64().unwrap();
    // The threads start and pin themselves just after the VM answers.
    let threads = || {
        let mut v = Vec::new();
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
        for t in tasks.into_iter().flatten().flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            let allowed = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .unwrap_or("")
                .trim()
                .to_string();
            v.push((comm.trim().to_string(), allowed));
        }
        v
    };
    let pinned = |t: &[(String, String)]| {
        t.iter().any(|(c, a)| c == "vcpu1" && a == "0")
            && t.iter().any(|(c, a)| c == "rvs-vmm" && a == "1")
    };
    let t0 = std::time::Instant::now();
    let mut seen = threads();
    while !pinned(&seen) && t0.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        seen = threads();
    }
    assert!(
        pinned(&seen),
        "vcpu1 on CPU 0 and the boot vCPU (the main thread) on CPU 1: {seen:?}"
    );
}

#[test]
fn what_is_typed_on_the_terminal_reaches_the_guests_serial_port() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rvs-vmm"))
        .args(["run", "--test-guest", "--cmdline", "read-line"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rvs-vmm");
    // More than the UART's 64-byte FIFO: the rest waits for the guest.
    let line = "typed ".repeat(20);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{line}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("GOT {line}\n")), "{stdout}");
}

#[test]
fn console_attaches_to_a_running_vm_both_ways() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("rvs-vmm-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let def = dir.join("con.json");
    // Waits for a line on COM1, prints it back, then keeps running.
    std::fs::write(
        &def,
        r#"{"name":"con","test_guest":true,"cmdline":"read-line exits=999999999"}"#,
    )
    .unwrap();
    assert!(vmm_in(&dir, &["define", def.to_str().unwrap()])
        .status
        .success());
    assert!(vmm_in(&dir, &["start", "con"]).status.success());
    let _guard = Destroy(dir.clone(), "con");
    let mut console = Command::new(env!("CARGO_BIN_EXE_rvs-vmm"))
        .env("RVS_VMM_DIR", dir.join("state"))
        .env("RVS_VMM_RUNDIR", dir.join("run"))
        .args(["console", "con"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("rvs-vmm console");
    console
        .stdin
        .take()
        .unwrap()
        .write_all(b"over the control socket\n")
        .unwrap();
    let out = console.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("rvs test guest"), "the log so far: {text}");
    assert!(text.contains("GOT over the control socket"), "{text}");
}

/// Destroys a managed VM when dropped (a failing test must not leave a VM
/// running).
struct Destroy(std::path::PathBuf, &'static str);

impl Drop for Destroy {
    fn drop(&mut self) {
        let _ = vmm_in(&self.0, &["destroy", self.1]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
