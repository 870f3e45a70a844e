//! Shared helpers for rvs's cross-process integration tests.
//!
//! Every test makes its own uniquely named resources (network namespaces,
//! links, sockets, state directories) and removes them in `Drop`, so that a
//! failing or panicking test leaves nothing behind and tests can run in
//! parallel.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name no other test in any running process uses: `<prefix><pid>x<seq>`,
/// kept within the 15 bytes Linux allows for an interface name.
pub fn unique_name(prefix: &str) -> String {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}x{seq}", std::process::id());
    assert!(
        name.len() <= 15,
        "name {name:?} is longer than an interface name may be; use a shorter prefix"
    );
    name
}

/// Runs a command and returns its stdout, panicking with its stderr if it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace that is deleted when dropped.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates a namespace named after `prefix`, unique to this test.
    pub fn new(prefix: &str) -> NetNs {
        let name = unique_name(prefix);
        run("ip", &["netns", "add", &name]);
        NetNs { name }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace and returns its stdout.
    pub fn exec(&self, cmd: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name, cmd];
        all.extend_from_slice(args);
        run("ip", &all)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A temporary directory removed (with its contents) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh directory under the system temporary directory.
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The workspace's target directory holding the binaries of the current
/// profile, found from this test executable's own location
/// (`target/<profile>/deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Path of a workspace binary, building it first if it is missing.
pub fn workspace_bin(package: &str, name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    if !path.exists() {
        let profile_release = bin_dir().file_name().is_some_and(|n| n == "release");
        let mut args = vec!["build", "-q", "-p", package, "--bin", name];
        if profile_release {
            args.push("--release");
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        run(&cargo, &args);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_fit_an_interface_name() {
        let a = unique_name("rvs");
        let b = unique_name("rvs");
        assert_ne!(a, b);
        assert!(a.len() <= 15);
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let p = {
            let d = TempDir::new("rvst");
            std::fs::write(d.path().join("f"), b"x").unwrap();
            d.path().to_path_buf()
        };
        assert!(!p.exists());
    }
}
