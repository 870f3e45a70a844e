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

/// A running `rvs-vswitchd` with its embedded database, in a temporary run
/// directory. Dropping it asks it to exit (so it removes what it created),
/// then kills it if it did not.
#[derive(Debug)]
pub struct Vswitchd {
    child: Option<std::process::Child>,
    dir: TempDir,
}

impl Vswitchd {
    /// Starts the daemon and waits for its control socket.
    pub fn start() -> Vswitchd {
        let mut v = Vswitchd {
            child: None,
            dir: TempDir::new("rvsw"),
        };
        v.spawn();
        v
    }

    fn spawn(&mut self) {
        let bin = workspace_bin("rvs-vswitchd", "rvs-vswitchd");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("vswitchd.log"))
            .expect("log file");
        let ctl = self.dir.path().join("rvs-vswitchd.ctl");
        let _ = std::fs::remove_file(&ctl);
        let child = Command::new(bin)
            .arg("--rundir")
            .arg(self.dir.path())
            .arg("--dbdir")
            .arg(self.dir.path())
            .arg("--stats-interval")
            .arg("1")
            .stderr(log)
            .spawn()
            .expect("start rvs-vswitchd");
        self.child = Some(child);
        let t0 = std::time::Instant::now();
        while !ctl.exists() {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(20),
                "rvs-vswitchd did not start: {}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The run directory (`RVS_RUNDIR` for the tools).
    pub fn rundir(&self) -> &Path {
        self.dir.path()
    }

    /// `unix:<rundir>/db.sock`.
    pub fn db(&self) -> String {
        format!("unix:{}", self.dir.path().join("db.sock").display())
    }

    /// What the daemon logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vswitchd.log")).unwrap_or_default()
    }

    /// Runs `rvs-vsctl` (waiting for the switch unless `--no-wait` is
    /// given) and returns its stdout; panics on failure.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let bin = workspace_bin("rvs-ctl", "rvs-vsctl");
        let out = Command::new(bin)
            .env("RVS_RUNDIR", self.dir.path())
            .arg("--timeout=20")
            .args(args)
            .output()
            .expect("run rvs-vsctl");
        assert!(
            out.status.success(),
            "rvs-vsctl {args:?} failed: {}\nswitch log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `rvs-appctl` and returns (success, stdout, stderr).
    pub fn appctl(&self, args: &[&str]) -> (bool, String, String) {
        let bin = workspace_bin("rvs-ctl", "rvs-appctl");
        let out = Command::new(bin)
            .env("RVS_RUNDIR", self.dir.path())
            .args(args)
            .output()
            .expect("run rvs-appctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Asks the daemon to exit and waits for it (up to 10 s).
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = self.appctl(&["exit"]);
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_secs(10) {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Stops and starts the daemon on the same database.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Vswitchd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A veth pair whose host end stays in the root namespace (for the switch
/// to open) and whose other end is `eth0` inside a namespace, with an IPv4
/// address. The host end is deleted on drop (which deletes both ends).
#[derive(Debug)]
pub struct Veth {
    pub host: String,
    pub ns: NetNs,
    pub ip: String,
    pub mac: String,
}

impl Veth {
    /// Creates namespace `prefix`-unique, a veth pair into it, and gives
    /// `eth0` the address `ip/24`; both ends up.
    pub fn new(prefix: &str, ip: &str) -> Veth {
        let ns = NetNs::new(prefix);
        let host = unique_name("rv");
        let peer = format!("{host}p");
        run(
            "ip",
            &["link", "add", &host, "type", "veth", "peer", "name", &peer],
        );
        run("ip", &["link", "set", &peer, "netns", ns.name()]);
        ns.exec("ip", &["link", "set", &peer, "name", "eth0"]);
        ns.exec("ip", &["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        ns.exec("ip", &["link", "set", "eth0", "up"]);
        ns.exec("ip", &["link", "set", "lo", "up"]);
        run("ip", &["link", "set", &host, "up"]);
        let mac = ns
            .exec("cat", &["/sys/class/net/eth0/address"])
            .trim()
            .to_string();
        Veth {
            host,
            ns,
            ip: ip.to_string(),
            mac,
        }
    }

    /// Sends one UDP datagram from this namespace to `dst_ip:port` and
    /// waits up to `timeout_s` for an echo; true if it came back.
    pub fn udp_echo(&self, dst_ip: &str, port: u16, timeout_s: f64) -> bool {
        let script = format!(
            "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout({timeout_s})\n\
             ok=False\nfor i in range(5):\n    s.sendto(b'ping',('{dst_ip}',{port}))\n    try:\n        d,a=s.recvfrom(100)\n        ok=d==b'ping'\n        break\n    except socket.timeout:\n        pass\nsys.exit(0 if ok else 1)"
        );
        Command::new("ip")
            .args(["netns", "exec", self.ns.name(), "python3", "-c", &script])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Starts a UDP echo server on `port` in this namespace (killed on drop
    /// of the returned child guard).
    pub fn udp_echo_server(&self, port: u16) -> ChildGuard {
        let script = format!(
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',{port}))\n\
             while True:\n    d,a=s.recvfrom(2000)\n    s.sendto(d,a)"
        );
        let child = Command::new("ip")
            .args(["netns", "exec", self.ns.name(), "python3", "-c", &script])
            .spawn()
            .expect("start a UDP echo server");
        std::thread::sleep(std::time::Duration::from_millis(200));
        ChildGuard(child)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host])
            .status();
    }
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

/// A running `rvs-ovsdb-server` on a database file in its own temporary
/// directory, killed (and its directory removed) when dropped.
#[derive(Debug)]
pub struct OvsdbServer {
    child: Option<std::process::Child>,
    dir: TempDir,
    extra_args: Vec<String>,
}

impl OvsdbServer {
    /// Starts a server with a fresh database (the built-in vswitch schema).
    pub fn start() -> OvsdbServer {
        OvsdbServer::start_with(&[])
    }

    /// Starts a server with extra command-line arguments.
    pub fn start_with(extra: &[&str]) -> OvsdbServer {
        let mut s = OvsdbServer {
            child: None,
            dir: TempDir::new("rvsdb"),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn();
        s
    }

    /// The database file.
    pub fn db_file(&self) -> PathBuf {
        self.dir.path().join("conf.db")
    }

    /// The unix socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("db.sock")
    }

    /// `unix:PATH`, as clients name it.
    pub fn remote(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let bin = workspace_bin("rvs-ovsdb", "rvs-ovsdb-server");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let _ = std::fs::remove_file(self.socket());
        let child = Command::new(bin)
            .arg(self.db_file())
            .arg("--remote")
            .arg(format!("punix:{}", self.socket().display()))
            .args(&self.extra_args)
            .stderr(log)
            .spawn()
            .expect("start rvs-ovsdb-server");
        self.child = Some(child);
        let t0 = std::time::Instant::now();
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(10),
                "rvs-ovsdb-server did not start: {}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the server with SIGKILL (no chance to clean up) and waits.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same database file.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for OvsdbServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The real `ovs-vsctl` (Debian's, unpacked by the test script): the path in
/// `RVS_OVS_VSCTL`, else the script's default location.
pub fn ovs_vsctl() -> PathBuf {
    let p = std::env::var_os("RVS_OVS_VSCTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/rvs-tools/openvswitch-switch/usr/bin/ovs-vsctl"));
    assert!(
        p.exists(),
        "the real ovs-vsctl is not at {}: run ./scripts/test.sh, which unpacks it from Debian's openvswitch-switch",
        p.display()
    );
    p
}

/// Runs a command; returns (success, stdout, stderr).
pub fn run_status(cmd: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cmd.display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Plays the part of a switch daemon for configuration tools that wait for
/// it: whenever `Open_vSwitch.next_cfg` moves, it gives every interface
/// without one an `ofport` (or, for interfaces named `nodev*`, an `error`
/// and `ofport` -1) and sets `cur_cfg` to `next_cfg`. Stops when dropped.
#[derive(Debug)]
pub struct FakeSwitch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeSwitch {
    /// Starts following the database at `remote`.
    pub fn start(remote: &str) -> FakeSwitch {
        use rvs_ovsdb::client::Client;
        use serde_json::json;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let mut c = Client::connect(remote).expect("connect the fake switch");
        c.call(
            "monitor_cond",
            json!(["Open_vSwitch", "fake", {"Open_vSwitch": [{"columns": ["next_cfg"]}]}]),
        )
        .expect("monitor next_cfg");
        let thread = std::thread::spawn(move || {
            let mut next_port = 1;
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                match c.next_notification(std::time::Duration::from_millis(100)) {
                    Ok(_) => {}
                    Err(rvs_ovsdb::client::ClientError::Timeout(_)) => continue,
                    Err(_) => return,
                }
                let Ok(r) = c.transact(
                    "Open_vSwitch",
                    &[
                        json!({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["next_cfg"]}),
                        json!({"op": "select", "table": "Interface", "where": [["ofport", "==", ["set", []]]], "columns": ["_uuid", "name"]}),
                    ],
                ) else {
                    return;
                };
                let Some(next) = r[0]["rows"][0]["next_cfg"].as_i64() else {
                    continue;
                };
                let mut ops = vec![
                    json!({"op": "update", "table": "Open_vSwitch", "where": [], "row": {"cur_cfg": next}}),
                ];
                for row in r[1]["rows"].as_array().into_iter().flatten() {
                    let name = row["name"].as_str().unwrap_or("");
                    // Interfaces named nodev* stand for devices that do not
                    // exist: they get an error, as a real switch reports.
                    let update = if name.starts_with("nodev") {
                        json!({"error": format!("could not open network device {name} (No such device)"), "ofport": -1})
                    } else {
                        next_port += 1;
                        json!({"ofport": next_port - 1})
                    };
                    ops.push(json!({"op": "update", "table": "Interface",
                        "where": [["_uuid", "==", row["_uuid"]]], "row": update}));
                }
                if c.transact("Open_vSwitch", &ops).is_err() {
                    return;
                }
            }
        });
        FakeSwitch {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeSwitch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Faucet: a real OpenFlow 1.3 controller (PyPI `faucet`, in the virtualenv that
// ./scripts/test.sh makes) for the switch to connect to.
// ---------------------------------------------------------------------------

/// The directory holding `faucet` and `osken-manager` (which `faucet` execs
/// from PATH): `RVS_FAUCET_BIN`, else the directory of a `faucet` on PATH.
/// Panics with what to do when there is none, so that a missing controller
/// fails the test instead of skipping it.
pub fn faucet_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RVS_FAUCET_BIN").map(PathBuf::from) {
        assert!(
            dir.join("faucet").is_file() && dir.join("osken-manager").is_file(),
            "RVS_FAUCET_BIN={} holds no faucet and osken-manager: run ./scripts/test.sh, which installs Faucet into /opt/rvs-tools/faucet-venv",
            dir.display()
        );
        return dir;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("faucet").is_file() && d.join("osken-manager").is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "Faucet is not installed: set RVS_FAUCET_BIN to the bin directory of a virtualenv with `pip install faucet`, \
             or run ./scripts/test.sh, which installs it into /opt/rvs-tools/faucet-venv and sets RVS_FAUCET_BIN"
        )
    })
}

/// A free TCP port on 127.0.0.1 (free when asked; the OS does not hand it
/// out again at once).
pub fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// True if something listens on TCP `127.0.0.1:port` (from /proc/net/tcp,
/// so that asking does not open an OpenFlow session).
fn tcp_listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1] == want && f[3] == "0A"
        })
}

/// A running Faucet controller listening for switches on `127.0.0.1:<port>`
/// with the given `faucet.yaml`, its files in a temporary directory; killed
/// when dropped. Its Prometheus endpoint is on an ephemeral loopback port.
#[derive(Debug)]
pub struct Faucet {
    child: ChildGuard,
    port: u16,
    dir: TempDir,
}

impl Faucet {
    /// Writes `config` as faucet.yaml and starts Faucet; returns once it
    /// listens (panics with its log if it does not within 60 s).
    pub fn start(config: &str) -> Faucet {
        let bin = faucet_bin_dir();
        let dir = TempDir::new("rvsf");
        let conf = dir.path().join("faucet.yaml");
        std::fs::write(&conf, config).expect("write faucet.yaml");
        // What Faucet's packaging puts in /etc/faucet/ryu.conf: an echo
        // request every 3 s, the switch dropped after 5 unanswered.
        let ryu_conf = dir.path().join("ryu.conf");
        std::fs::write(
            &ryu_conf,
            "[DEFAULT]\necho_request_interval=3\nmaximum_unreplied_echo_requests=5\n",
        )
        .expect("write ryu.conf");
        let path = match std::env::var_os("PATH") {
            Some(p) => {
                let mut dirs = vec![bin.clone()];
                dirs.extend(std::env::split_paths(&p));
                std::env::join_paths(dirs).expect("PATH")
            }
            None => bin.clone().into_os_string(),
        };
        let out = std::fs::File::create(dir.path().join("faucet.out")).expect("faucet.out");
        let err = out.try_clone().expect("faucet.out");
        let port = free_tcp_port();
        let child = Command::new(bin.join("faucet"))
            .arg(format!("--ryu-config-file={}", ryu_conf.display()))
            .arg("--ryu-ofp-listen-host=127.0.0.1")
            .arg(format!("--ryu-ofp-tcp-listen-port={port}"))
            .env("PATH", path)
            .env("FAUCET_CONFIG", &conf)
            .env("FAUCET_LOG", dir.path().join("faucet.log"))
            .env(
                "FAUCET_EXCEPTION_LOG",
                dir.path().join("faucet_exception.log"),
            )
            .env("FAUCET_PROMETHEUS_ADDR", "127.0.0.1")
            .env("FAUCET_PROMETHEUS_PORT", "0")
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.join("faucet").display()));
        let mut f = Faucet {
            child: ChildGuard(child),
            port,
            dir,
        };
        let t0 = std::time::Instant::now();
        while !tcp_listening(port) {
            if let Ok(Some(st)) = f.child.0.try_wait() {
                panic!("faucet exited ({st}) before listening:\n{}", f.log());
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(60),
                "faucet does not listen on 127.0.0.1:{port} after 60 s:\n{}",
                f.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        f
    }

    /// The OpenFlow port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `tcp:127.0.0.1:<port>`, as `set-controller` takes it.
    pub fn target(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }

    /// Faucet's log (faucet.log), for assertions.
    pub fn faucet_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("faucet.log")).unwrap_or_default()
    }

    /// Everything it wrote: faucet.log, the exception log and its stdout and
    /// stderr, for failure messages.
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- faucet.log\n{}--- faucet_exception.log\n{}--- faucet stdout/stderr\n{}",
            read("faucet.log"),
            read("faucet_exception.log"),
            read("faucet.out")
        )
    }

    /// Waits up to `timeout` for `needle` to appear in faucet.log.
    pub fn wait_for_log(&self, needle: &str, timeout: std::time::Duration) -> bool {
        let t0 = std::time::Instant::now();
        loop {
            if self.faucet_log().contains(needle) {
                return true;
            }
            if t0.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

// ---------------------------------------------------------------------------
// DPDK testpmd: a virtio-user frontend for vhost-user ports (Debian's
// dpdk-dev and librte-net-virtio23, which ./scripts/test.sh installs),
// without hugepages, driven over its interactive prompt.
// ---------------------------------------------------------------------------

/// One `net_virtio_user` port of a [`Testpmd`].
#[derive(Debug, Clone)]
pub struct VirtioUser {
    /// The vhost-user socket.
    pub path: PathBuf,
    /// `server=1`: testpmd listens on `path` (for rvs's `vhostuserclient`
    /// ports) and accepts the switch again after it restarts. `server=0`:
    /// testpmd connects (rvs's `vhostuser` ports) and never reconnects.
    pub server: bool,
    /// `mac=`: the port's MAC address (random if none).
    pub mac: Option<String>,
    /// `queues=`: queue pairs (1 if none).
    pub queues: Option<u32>,
}

impl VirtioUser {
    /// A port that listens on `path` (testpmd `server=1`).
    pub fn server(path: impl Into<PathBuf>) -> VirtioUser {
        VirtioUser {
            path: path.into(),
            server: true,
            mac: None,
            queues: None,
        }
    }

    /// A port that connects to `path` (testpmd `server=0`).
    pub fn client(path: impl Into<PathBuf>) -> VirtioUser {
        VirtioUser {
            server: false,
            ..VirtioUser::server(path)
        }
    }

    /// Sets the port's MAC address.
    pub fn mac(mut self, mac: &str) -> VirtioUser {
        self.mac = Some(mac.to_string());
        self
    }

    /// The `--vdev` value for port number `index`.
    pub fn vdev(&self, index: usize) -> String {
        let mut v = format!(
            "net_virtio_user{index},path={},server={}",
            self.path.display(),
            u8::from(self.server)
        );
        if let Some(m) = &self.mac {
            v.push_str(&format!(",mac={m}"));
        }
        if let Some(q) = self.queues {
            v.push_str(&format!(",queues={q}"));
        }
        v
    }
}

/// How to start a [`Testpmd`].
#[derive(Debug, Clone)]
pub struct TestpmdOptions {
    /// Virtio-user ports, in port order (port 0 first).
    pub ports: Vec<VirtioUser>,
    /// Other `--vdev` values (`net_null0`, `net_ring0`…), after the ports.
    pub other_vdevs: Vec<String>,
    /// `--forward-mode`: io, rxonly, txonly, flowgen, mac, macswap…
    pub forward_mode: String,
    /// The CPU of the forwarding core (testpmd lcore 1).
    pub fwd_cpu: usize,
    /// The CPU of the main lcore, which only reads commands (lcore 0).
    pub main_cpu: usize,
    /// More testpmd (application) arguments: `--txpkts=64`,
    /// `--eth-peer=0,02:00:00:00:00:02`, `--tx-ip=SRC,DST`, `--burst=N`…
    pub args: Vec<String>,
    /// More EAL arguments.
    pub eal_args: Vec<String>,
}

impl Default for TestpmdOptions {
    fn default() -> TestpmdOptions {
        TestpmdOptions {
            ports: Vec::new(),
            other_vdevs: Vec::new(),
            forward_mode: "io".to_string(),
            fwd_cpu: 0,
            main_cpu: 0,
            args: Vec::new(),
            eal_args: Vec::new(),
        }
    }
}

// The testpmd output parsers live with the benchmark that also drives
// testpmd; the names here are the ones the tests use.
pub use rvs_bench::testpmd::{
    parse_forward_stats as parse_testpmd_fwd_stats, parse_port_stats as parse_testpmd_port_stats,
    ForwardStats as TestpmdFwdStats, PortStats as TestpmdPortStats,
};

/// What testpmd prints before it reads each command.
const TESTPMD_PROMPT: &str = "testpmd> ";

/// A running `dpdk-testpmd -i` (no hugepages, 1 GiB, one forwarding core)
/// with a unique `--file-prefix`; commands go to its stdin, its output
/// (line-buffered by `stdbuf`) is collected by a thread. Dropping it kills
/// it and removes its DPDK runtime directory (`/var/run/dpdk/<prefix>`);
/// when the test is panicking its output is printed first.
///
/// With `server=1` ports testpmd accepts the first connection on each
/// socket before it configures its ports (it blocks in `accept`), so
/// [`Testpmd::start`] does not wait: start the switch's ports, then call
/// [`Testpmd::wait_ready`]. A stale socket file makes testpmd fail to bind;
/// `start` removes it.
#[derive(Debug)]
pub struct Testpmd {
    child: Option<std::process::Child>,
    stdin: Option<std::process::ChildStdin>,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    prefix: String,
    opts: TestpmdOptions,
    dir: TempDir,
    /// Prompts printed before the last restart.
    prompt_base: usize,
}

impl Testpmd {
    /// Starts testpmd; panics if it cannot be run. Its socket paths may
    /// lie in [`Testpmd::dir`] (made before it starts: use
    /// [`Testpmd::start_in`]) or anywhere else.
    pub fn start(opts: TestpmdOptions) -> Testpmd {
        Testpmd::start_in(TempDir::new("rvsp"), opts)
    }

    /// Starts testpmd with `dir` as its directory (removed on drop), for
    /// sockets named before it starts: `let d = TempDir::new("x"); let sock
    /// = d.path().join("p0.sock"); Testpmd::start_in(d, …)`.
    pub fn start_in(dir: TempDir, opts: TestpmdOptions) -> Testpmd {
        let prefix = format!("rvs-test-{}", unique_name("tp"));
        let mut t = Testpmd {
            child: None,
            stdin: None,
            out: Default::default(),
            prefix,
            opts,
            dir,
            prompt_base: 0,
        };
        t.spawn();
        t
    }

    fn spawn(&mut self) {
        use std::io::{Read, Write};
        let runtime = Path::new("/var/run/dpdk").join(&self.prefix);
        let _ = std::fs::remove_dir_all(&runtime);
        for p in self.opts.ports.iter().filter(|p| p.server) {
            let _ = std::fs::remove_file(&p.path);
        }
        let o = &self.opts;
        // One pipe for stdout and stderr (so that an error line cannot land
        // inside a prompt), line-buffered by stdbuf.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exec \"$@\" 2>&1", "sh", "stdbuf", "-oL", "-eL"])
            .args(["dpdk-testpmd", "--no-huge", "-m", "1024", "--no-pci"])
            .arg(format!("--file-prefix={}", self.prefix))
            .arg(format!("--lcores=0@{},1@{}", o.main_cpu, o.fwd_cpu))
            .arg("--main-lcore=0");
        for (i, p) in o.ports.iter().enumerate() {
            cmd.arg(format!("--vdev={}", p.vdev(i)));
        }
        for v in &o.other_vdevs {
            cmd.arg(format!("--vdev={v}"));
        }
        cmd.args(&o.eal_args)
            .args(["--", "-i", "--nb-cores=1", "--no-mlockall"])
            .arg(format!("--forward-mode={}", o.forward_mode))
            .args(&o.args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run dpdk-testpmd ({e}): run ./scripts/test.sh, which installs dpdk-dev and librte-net-virtio23")
        });
        let log_path = self.dir.path().join("testpmd.log");
        if let Some(mut pipe) = child.stdout.take() {
            let out = self.out.clone();
            let log_path = log_path.clone();
            std::thread::spawn(move || {
                let mut log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log_path)
                    .ok();
                // Raw reads, not lines: the prompt has no newline after it.
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let s = String::from_utf8_lossy(&buf[..n]).replace('\r', "");
                    if let Some(l) = log.as_mut() {
                        let _ = l.write_all(s.as_bytes());
                    }
                    out.lock().unwrap_or_else(|e| e.into_inner()).push_str(&s);
                }
            });
        }
        self.stdin = child.stdin.take();
        self.child = Some(child);
    }

    /// The directory given to [`Testpmd::start_in`] (testpmd.log is there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// DPDK's runtime directory of this testpmd (`/var/run/dpdk/<prefix>`),
    /// removed on drop.
    pub fn runtime_dir(&self) -> PathBuf {
        Path::new("/var/run/dpdk").join(&self.prefix)
    }

    /// Everything testpmd printed so far.
    pub fn log(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn prompts(&self) -> usize {
        self.out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .matches(TESTPMD_PROMPT)
            .count()
            - self.prompt_base
    }

    /// True once testpmd has exited.
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    fn wait_prompts(&mut self, n: usize, timeout: std::time::Duration, what: &str) {
        let t0 = std::time::Instant::now();
        while self.prompts() < n {
            assert!(!self.exited(), "testpmd exited {what}:\n{}", self.log());
            assert!(
                t0.elapsed() < timeout,
                "testpmd gave no prompt {what} within {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Waits up to `timeout` for the first prompt: every port is
    /// configured (for `server=1` ports: the switch has connected to each).
    pub fn wait_ready(&mut self, timeout: std::time::Duration) {
        self.wait_prompts(
            1,
            timeout,
            "while starting (has the switch connected to every server=1 socket?)",
        );
    }

    /// True once testpmd has printed its first prompt.
    pub fn is_ready(&self) -> bool {
        self.prompts() >= 1
    }

    /// Sends one command, waits (up to 30 s) for the next prompt and returns
    /// what the command printed.
    pub fn cmd(&mut self, line: &str) -> String {
        use std::io::Write;
        let before = self.prompts();
        let start = self.log().len();
        let stdin = self.stdin.as_mut().expect("testpmd's stdin is open");
        writeln!(stdin, "{line}").expect("write a command to testpmd");
        stdin.flush().expect("flush testpmd's stdin");
        self.wait_prompts(
            before + 1,
            std::time::Duration::from_secs(30),
            &format!("after {line:?}"),
        );
        self.log()[start..].to_string()
    }

    /// `start`: the forwarding engine runs.
    pub fn start_forwarding(&mut self) {
        self.cmd("start");
    }

    /// `start tx_first N`: first N bursts (of 32, `--burst`) from every
    /// forwarding port built by the txonly engine, then the configured
    /// engine. With `rxonly` that is exactly 32 * N frames sent per port:
    /// a fixed count, paced by nothing but the ring.
    pub fn start_tx_first(&mut self, bursts: u32) {
        self.cmd(&format!("start tx_first {bursts}"));
    }

    /// `stop`: the forward statistics of each port since `start`.
    pub fn stop(&mut self) -> Vec<TestpmdFwdStats> {
        parse_testpmd_fwd_stats(&self.cmd("stop"))
    }

    /// `show port stats all`.
    pub fn port_stats(&mut self) -> Vec<TestpmdPortStats> {
        parse_testpmd_port_stats(&self.cmd("show port stats all"))
    }

    /// `clear port stats all`.
    pub fn clear_port_stats(&mut self) {
        self.cmd("clear port stats all");
    }

    /// Whether `show port info N` says `Link status: up` (virtio-user
    /// reports down while its vhost-user connection is gone).
    pub fn link_up(&mut self, port: usize) -> bool {
        self.cmd(&format!("show port info {port}"))
            .contains("Link status: up")
    }

    /// Polls [`Testpmd::link_up`] until it is `up` or `timeout` passes.
    pub fn wait_link(&mut self, port: usize, up: bool, timeout: std::time::Duration) -> bool {
        let t0 = std::time::Instant::now();
        loop {
            if self.link_up(port) == up {
                return true;
            }
            if t0.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// `quit`; waits up to 10 s for it to exit (killing it after that) and
    /// returns whether it exited by itself with success.
    pub fn quit(&mut self) -> bool {
        use std::io::Write;
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_secs(10) {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// SIGKILL (a crash, as the switch sees it: the socket just closes).
    pub fn kill(&mut self) {
        self.stdin.take();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Quits (or kills) and starts testpmd again with the same options and
    /// sockets; the output collected so far is kept. Call
    /// [`Testpmd::wait_ready`] after.
    pub fn restart(&mut self) {
        if !self.quit() {
            self.kill();
        }
        let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&self.prefix));
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("\n==== testpmd restarted ====\n");
        // Prompts are counted from here on.
        self.prompt_base = out.matches(TESTPMD_PROMPT).count();
        drop(out);
        self.spawn();
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- testpmd output ----\n{}", self.log());
        }
        self.kill();
        let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&self.prefix));
    }
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
    fn testpmd_statistics_parse_per_port() {
        let show = "  ######################## NIC statistics for port 1  ########################\n  \
            RX-packets: 30826208   RX-missed: 3          RX-bytes:  1972877312\n  \
            TX-packets: 416        TX-errors: 0          TX-bytes:  26624\n  Throughput (since last show)\n  \
            Rx-pps:      4390277          Rx-bps:   2247822736\n  Tx-pps:            0          Tx-bps:            0\n";
        let s = parse_testpmd_port_stats(show);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], TestpmdPortStats::default());
        assert_eq!(
            s[1],
            TestpmdPortStats {
                rx_packets: 30826208,
                rx_missed: 3,
                tx_packets: 416,
                rx_pps: 4390277,
                tx_pps: 0
            }
        );
        let stop =
            "  ---------------------- Forward statistics for port 0  ----------------------\n  \
            RX-packets: 0              RX-dropped: 0             RX-total: 0\n  \
            TX-packets: 32909184       TX-dropped: 256           TX-total: 32909440\n  \
            +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++\n  \
            RX-packets: 9              RX-dropped: 0             RX-total: 9\n";
        let f = parse_testpmd_fwd_stats(stop);
        assert_eq!(
            f,
            vec![TestpmdFwdStats {
                rx_packets: 0,
                rx_dropped: 0,
                tx_packets: 32909184,
                tx_dropped: 256
            }]
        );
    }

    #[test]
    fn virtio_user_vdevs() {
        assert_eq!(
            VirtioUser::server("/r/a.sock").vdev(0),
            "net_virtio_user0,path=/r/a.sock,server=1"
        );
        assert_eq!(
            VirtioUser::client("/r/b").mac("02:00:00:00:00:02").vdev(1),
            "net_virtio_user1,path=/r/b,server=0,mac=02:00:00:00:00:02"
        );
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
