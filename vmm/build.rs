//! Builds the test guest (`guest/test_guest.rs`) into a flat image that
//! `rvs-vmm run --test-guest` loads at 0x10000: the host's own rustc and
//! target (no other target can be installed here), `no_std`, no start
//! files, linked with `guest/link.ld`, then `objcopy -O binary`.

use std::path::PathBuf;
use std::process::Command;

fn run(what: &str, c: &mut Command) {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} to build the test guest: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed building the test guest:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let src = dir.join("guest/test_guest.rs");
    let ld = dir.join("guest/link.ld");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", ld.display());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let elf = out.join("test-guest.elf");
    let mut c = Command::new(&rustc);
    c.args([
        "--edition",
        "2021",
        "--crate-type",
        "bin",
        "--crate-name",
        "test_guest",
    ])
    .args([
        "-C",
        "opt-level=2",
        "-C",
        "panic=abort",
        "-C",
        "debuginfo=0",
    ])
    .args(["-C", "relocation-model=static"])
    .args(["-C", "link-arg=-nostartfiles", "-C", "link-arg=-nostdlib"])
    .args([
        "-C",
        "link-arg=-static",
        "-C",
        "link-arg=-Wl,--build-id=none",
    ])
    .arg("-C")
    .arg(format!("link-arg=-Wl,-T,{}", ld.display()))
    .arg("-o")
    .arg(&elf)
    .arg(&src);
    // The workspace's flags (lints, codegen for the host) are not the
    // guest's.
    c.env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS");
    run("rustc", &mut c);
    run(
        "objcopy (binutils)",
        Command::new("objcopy")
            .args(["-O", "binary"])
            .arg(&elf)
            .arg(out.join("test-guest.bin")),
    );
}
