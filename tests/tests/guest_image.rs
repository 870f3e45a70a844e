//! The Linux guest image of `scripts/guest-image.sh` (Debian's cloud
//! kernel and a busybox initramfs), booted under QEMU TCG: this machine's
//! nested KVM cannot boot Linux (vmm/PVM-NOTES.md), so the image is checked
//! here with QEMU; rvs-vmm boots it where KVM is real. The init must load
//! the virtio modules, find eth0 on a virtio-net-pci device, configure it
//! from the command line and reach the (slirp) gateway.

use rvs_tests::TempDir;
use std::path::PathBuf;
use std::process::Command;

/// QEMU as the test script unpacked it (`RVS_QEMU`), or the machine's.
fn qemu() -> PathBuf {
    let p = std::env::var_os("RVS_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/rvs-tools/qemu/run-qemu"));
    assert!(
        p.exists(),
        "QEMU is not at {}: run ./scripts/test.sh, which unpacks Debian's qemu-system-x86",
        p.display()
    );
    p
}

#[test]
fn the_guest_image_boots_to_its_init_and_configures_eth0_under_qemu() {
    let dir = TempDir::new("rvsimg");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/guest-image.sh");
    let out = Command::new(&script)
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("run guest-image.sh");
    assert!(
        out.status.success(),
        "guest-image.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let boot = Command::new("timeout")
        .arg("300")
        .arg(qemu())
        .args([
            "-M",
            "pc",
            "-accel",
            "tcg",
            "-m",
            "256",
            "-nographic",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(dir.path().join("vmlinuz"))
        .arg("-initrd")
        .arg(dir.path().join("initrd.img"))
        .args([
            "-append",
            "console=ttyS0 panic=-1 ip=10.0.2.15/24 rvs.ping=10.0.2.2",
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-pci,netdev=n0,romfile=,mac=52:54:00:00:00:07",
        ])
        .output()
        .expect("run QEMU");
    let console = String::from_utf8_lossy(&boot.stdout);
    for want in [
        "rvs-guest: init running (kernel ",
        "virtio_net",
        "rvs-guest: eth0 52:54:00:00:00:07 10.0.2.15/24",
        "PING OK 10.0.2.2",
        "rvs-guest: done, ending the VM",
    ] {
        assert!(
            console.contains(want),
            "{want:?} not on the console:\n{console}\n{}",
            String::from_utf8_lossy(&boot.stderr)
        );
    }
    assert!(!console.contains("cannot load"), "{console}");

    // rvs-vmm's bzImage parser takes Debian's kernel.
    let kernel = std::fs::read(dir.path().join("vmlinuz")).unwrap();
    let bz = rvs_vmm::linux::BzImage::parse(&kernel).expect("Debian's cloud kernel parses");
    assert!(bz.version >= (2, 12), "{:?}", bz.version);
    assert!(bz.cmdline_max >= 2047);

    // rvs-vmm boots it where KVM can run Linux.
    if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        eprintln!(
            "skipping the rvs-vmm boot of this image: this host's KVM is nested PVM \
             (/sys/module/kvm_pvm), which cannot run a stock Linux kernel"
        );
        return;
    }
    let out = Command::new("timeout")
        .arg("300")
        .arg(rvs_tests::workspace_bin("rvs-vmm", "rvs-vmm"))
        .args(["run", "--memory", "256", "--kernel"])
        .arg(dir.path().join("vmlinuz"))
        .arg("--initrd")
        .arg(dir.path().join("initrd.img"))
        .args(["--cmdline", "console=ttyS0 reboot=k panic=-1"])
        .output()
        .expect("run rvs-vmm");
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(
        console.contains("rvs-guest: init running") && console.contains("rvs-guest: done"),
        "{console}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
