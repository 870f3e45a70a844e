//! `rvs-vmm`: the rvs virtual machine monitor — one-shot VMs (`run`) and
//! managed ones (`define`, `start`, `list`, ... in the manner of virsh).
//!
//! Managed VMs: definitions are JSON files in the state directory
//! (`$RVS_VMM_DIR`, default /var/lib/rvs-vmm); a running VM is a
//! `rvs-vmm` process of its own with a run directory
//! (`$RVS_VMM_RUNDIR/<name>`, default /var/run/rvs-vmm/<name>) holding
//! its control socket, its console log, its NICs' sockets and `info.json`.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use rvs_vmm::kvm::Stop;
use rvs_vmm::launch::{self, detach_all, NetDef, NicInfo, VmConfig};
use rvs_vmm::switchport::AttachedPort;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

#[derive(Parser, Debug)]
#[command(
    name = "rvs-vmm",
    version,
    about = "A small KVM virtual machine monitor whose NICs are vhost-user ports on rvs",
    long_about = "A small KVM virtual machine monitor whose NICs are vhost-user ports on rvs.\n\n\
        What boots today is the built-in test guest (a tiny 64-bit program, no Linux \
        kernel): a serial console, PCI bus 0, and virtio-net NICs (virtio-pci) whose data \
        path is the switch. With `--cmdline 'ip=A.B.C.D/N echo=A.B.C.D:PORT'` the guest \
        sends a UDP datagram there and prints ECHO OK when it comes back (exit status 0), \
        ECHO FAIL otherwise (1); `serve=PORT [count=N]` answers datagrams instead. \
        --kernel/--initrd boot Linux by the 64-bit boot protocol where KVM is real (not on \
        nested PVM hosts).\n\n\
        NICs: --net bridge=BR puts the NIC on a switch bridge the libvirt way (the VMM \
        listens on a vhost-user socket and adds a vhostuserclient port through OVSDB, \
        removed when the VM ends); --net vhost-user=PATH connects to a backend's socket \
        (rvs type=vhostuser, Open vSwitch dpdkvhostuser).\n\n\
        Managed VMs: define FILE, start, list, dominfo, domiflist, console, shutdown, \
        destroy, undefine. Definitions live in $RVS_VMM_DIR (/var/lib/rvs-vmm), running \
        VMs in $RVS_VMM_RUNDIR (/var/run/rvs-vmm).\n\n\
        Examples:\n  rvs-vmm run --test-guest\n  \
        rvs-vmm run --test-guest --net bridge=br0 --cmdline 'ip=10.0.0.3/24 echo=10.0.0.1:7'\n  \
        echo '{\"name\":\"vm1\",\"test_guest\":true,\"cmdline\":\"ip=10.0.0.5/24 serve=7 count=0\",\
        \"nets\":[{\"bridge\":\"br0\"}]}' > vm1.json\n  \
        rvs-vmm define vm1.json && rvs-vmm start vm1 && rvs-vmm list && rvs-vmm destroy vm1"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Boot a VM with its console on this terminal; the exit status is
    /// the guest's (0 when it reports success).
    Run {
        /// Boot the built-in test guest.
        #[arg(long)]
        test_guest: bool,
        /// A Linux kernel (bzImage) to boot, e.g. from
        /// scripts/guest-image.sh. Not on nested PVM KVM hosts, which
        /// cannot run a stock kernel.
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// The kernel's initrd.
        #[arg(long)]
        initrd: Option<PathBuf>,
        /// The guest's command line.
        #[arg(long, default_value = "")]
        cmdline: String,
        /// Guest memory in MiB.
        #[arg(long, default_value_t = 16)]
        memory: u64,
        /// vCPUs, each a thread (KVM caps the number).
        #[arg(long, default_value_t = 1)]
        cpus: u32,
        /// Pin vCPU threads to these host CPUs, one per vCPU: 0,1.
        #[arg(long, value_delimiter = ',')]
        cpu_affinity: Vec<usize>,
        /// Guest memory from 2 MiB hugepages (reserve them first:
        /// echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages).
        #[arg(long)]
        hugepages: bool,
        /// A NIC: bridge=BR[,mac=MAC] or vhost-user=PATH[,mac=MAC]. Repeat
        /// for more.
        #[arg(long)]
        net: Vec<String>,
        /// The VM's name (switch ports are NAME-ethN).
        #[arg(long)]
        name: Option<String>,
        /// The switch's database for --net bridge= (default
        /// unix:$RVS_RUNDIR/db.sock).
        #[arg(long)]
        db: Option<String>,
        /// The KVM device.
        #[arg(long, default_value = "/dev/kvm")]
        kvm: PathBuf,
    },
    /// Store a VM definition (JSON: name, test_guest or kernel + initrd,
    /// cmdline, memory_mib, cpus, cpu_affinity, hugepages, nets:
    /// [{bridge|vhost_user, mac}], db).
    Define { file: PathBuf },
    /// Start a defined VM in the background.
    Start { name: String },
    /// The running VMs (with --all the defined ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// A VM's state and resources.
    Dominfo { name: String },
    /// A VM's NICs.
    Domiflist { name: String },
    /// A VM's serial console: what it printed so far, and while it runs
    /// its output here and this terminal's input to it.
    Console { name: String },
    /// Stop a running VM (its ports are removed).
    Shutdown { name: String },
    /// Stop a running VM at once.
    Destroy { name: String },
    /// Forget a VM's definition.
    Undefine { name: String },
    /// The process of a started VM (used by `start`).
    #[command(hide = true)]
    Managed { name: String },
}

fn state_dir() -> PathBuf {
    std::env::var_os("RVS_VMM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/rvs-vmm"))
}

fn run_root() -> PathBuf {
    std::env::var_os("RVS_VMM_RUNDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/rvs-vmm"))
}

fn definition(name: &str) -> PathBuf {
    state_dir().join(format!("{name}.json"))
}

/// A VM name as definitions allow it (so that no command reaches outside
/// the state and run directories).
fn check_name(name: &str) -> Result<()> {
    VmConfig {
        name: name.to_string(),
        memory_mib: 16,
        cpus: 1,
        cpu_affinity: Vec::new(),
        test_guest: true,
        kernel: None,
        initrd: None,
        cmdline: String::new(),
        hugepages: false,
        nets: Vec::new(),
        db: None,
    }
    .validate()
}

fn run_dir(name: &str) -> PathBuf {
    run_root().join(name)
}

fn load(name: &str) -> Result<VmConfig> {
    check_name(name)?;
    let p = definition(name);
    if !p.exists() {
        bail!("no VM named {name} is defined (rvs-vmm list --all)");
    }
    VmConfig::load(&p)
}

/// What a running VM tells about itself (`info.json`, and the control
/// socket's `info`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Info {
    name: String,
    pid: u32,
    started: u64,
    memory_mib: u64,
    cpus: u32,
    db: String,
    nics: Vec<InfoNic>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InfoNic {
    kind: String,
    source: String,
    port: Option<String>,
    mac: String,
}

impl InfoNic {
    fn of(n: &NicInfo) -> InfoNic {
        InfoNic {
            kind: n.kind.to_string(),
            source: n.source.clone(),
            port: n.port.clone(),
            mac: n.mac.clone(),
        }
    }
}

/// Sends `cmd` to a running VM's control socket; its one-line answer.
fn control(name: &str, cmd: &str) -> Result<String> {
    let path = run_dir(name).join("control.sock");
    let mut s = UnixStream::connect(&path).with_context(|| format!("VM {name} is not running"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    writeln!(s, "{cmd}")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn running_info(name: &str) -> Option<Info> {
    control(name, "info")
        .ok()
        .and_then(|l| serde_json::from_str(&l).ok())
}

/// Takes the VM's lock (`<run dir>/lock`, an flock held for the life of
/// the process), or says who has it: one process per VM name.
fn lock(name: &str) -> Result<std::fs::File> {
    let dir = run_dir(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .with_context(|| format!("cannot open the lock in {}", dir.display()))?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a descriptor we own; no memory is passed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!("a VM named {name} is already running");
    }
    Ok(f)
}

/// Removes what a VM's process leaves in its run directory (the console
/// log stays for `rvs-vmm console`).
fn clean_run_dir(dir: &Path) {
    if let Ok(d) = std::fs::read_dir(dir) {
        for e in d.flatten() {
            if e.file_name() != "console.log" && e.file_name() != "vmm.log" {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn run_one_shot(cfg: VmConfig, kvm: &Path) -> Result<()> {
    let dir = run_dir(&cfg.name);
    let _lock = lock(&cfg.name)?;
    let t0 = Instant::now();
    // Ctrl-C or SIGTERM, also while the switch is being waited for:
    // remove the switch ports, then go.
    let ports: Arc<Mutex<Vec<AttachedPort>>> = Arc::default();
    {
        let ports = ports.clone();
        let dir = dir.clone();
        ctrlc::set_handler(move || {
            detach_all(&ports);
            let _ = std::fs::remove_dir_all(&dir);
            std::process::exit(130);
        })
        .context("cannot install the signal handler")?;
    }
    let built = launch::build(&cfg, kvm, &dir, Box::new(std::io::stdout()), ports.clone());
    let machine = match built {
        Ok(m) => m,
        Err(e) => {
            detach_all(&ports);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    // The terminal's input, unless this process runs in the background
    // of a terminal (reading would stop it with SIGTTIN).
    // SAFETY: isatty, tcgetpgrp and getpgrp take a descriptor or nothing
    // and touch no memory of ours.
    let background = unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) != libc::getpgrp() };
    if !background {
        machine.console_input(std::io::stdin());
    }
    let r = machine.run();
    let _ = std::fs::remove_dir_all(&dir);
    let (stop, exits) = r?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    match stop {
        Stop::Exit(code) => {
            eprintln!("rvs-vmm: the guest exited with status {code} ({exits} exits, {ms:.1} ms)");
            std::process::exit(i32::from(code.min(125)));
        }
        Stop::Reset => {
            eprintln!("rvs-vmm: the guest reset the machine; the VM ended ({ms:.1} ms)");
            Ok(())
        }
        Stop::Crash => {
            bail!("the guest crashed (an exception it could not handle: a triple fault) after {ms:.1} ms")
        }
    }
}

/// The process of a managed VM: builds it, serves its control socket,
/// runs it; removes its ports and run directory however it ends.
fn managed(name: &str) -> Result<()> {
    let cfg = load(name)?;
    let dir = run_dir(name);
    let _lock = lock(name)?;
    let ports: Arc<Mutex<Vec<AttachedPort>>> = Arc::default();
    {
        let ports = ports.clone();
        let dir = dir.clone();
        ctrlc::set_handler(move || {
            detach_all(&ports);
            clean_run_dir(&dir);
            std::process::exit(143);
        })
        .context("cannot install the signal handler")?;
    }
    let attached: Attached = Arc::default();
    let built = launch::build(
        &cfg,
        Path::new("/dev/kvm"),
        &dir,
        Box::new(ConsoleLog::open(&dir, attached.clone())?),
        ports.clone(),
    );
    let machine = match built {
        Ok(m) => m,
        Err(e) => {
            detach_all(&ports);
            clean_run_dir(&dir);
            return Err(e);
        }
    };
    let info = Info {
        name: name.to_string(),
        pid: std::process::id(),
        started: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        memory_mib: cfg.memory_mib,
        cpus: cfg.cpus,
        db: cfg
            .db
            .clone()
            .unwrap_or_else(rvs_vmm::switchport::default_db),
        nics: machine.nics.iter().map(InfoNic::of).collect(),
    };
    std::fs::write(dir.join("info.json"), serde_json::to_string(&info)?)?;
    let end = {
        let ports = ports.clone();
        let dir = dir.clone();
        move |code: i32| -> ! {
            detach_all(&ports);
            clean_run_dir(&dir);
            std::process::exit(code)
        }
    };
    // The lock is ours: a control socket here is a dead process's.
    let sock = dir.join("control.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)
        .with_context(|| format!("cannot listen on {}", sock.display()))?;
    let feed = machine.console_feeder();
    {
        let end = end.clone();
        let info = info.clone();
        let dir = dir.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                // A client that says nothing does not hold the socket.
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                let mut r = BufReader::new(&conn);
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut w = &conn;
                match line.trim() {
                    "info" => {
                        let _ = writeln!(w, "{}", serde_json::to_string(&info).unwrap_or_default());
                    }
                    "shutdown" | "destroy" => {
                        let _ = writeln!(w, "ok");
                        end(0);
                    }
                    "console" => {
                        // The log so far, then from now on the console
                        // itself (under the lock the console's writes take,
                        // so nothing falls between); what the client sends
                        // goes to the guest's COM1. A client that stops
                        // reading is dropped, never waited for.
                        let mut a = attached.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = writeln!(w, "ok");
                        let _ = conn.set_write_timeout(Some(Duration::from_millis(100)));
                        let log = std::fs::read(dir.join("console.log")).unwrap_or_default();
                        if w.write_all(&log).is_ok() {
                            let _ = conn.set_read_timeout(None);
                            if let Ok(out) = conn.try_clone() {
                                *a = Some(out);
                            }
                            drop(a);
                            feed(Box::new(conn));
                        }
                    }
                    other => {
                        let _ = writeln!(w, "error: unknown command {other:?}");
                    }
                }
            }
        });
    }
    let stop = machine.run().map(|(s, _)| s);
    match stop {
        Ok(Stop::Exit(code)) => {
            eprintln!("rvs-vmm: VM {name}: the guest exited with status {code}");
            end(i32::from(code.min(125)))
        }
        Ok(Stop::Reset) => {
            eprintln!("rvs-vmm: VM {name}: the guest reset the machine");
            end(0)
        }
        Ok(Stop::Crash) => {
            eprintln!("rvs-vmm: VM {name}: the guest crashed (triple fault)");
            end(3)
        }
        Err(e) => {
            eprintln!("rvs-vmm: VM {name}: {e:#}");
            end(1)
        }
    }
}

/// The console of a managed VM: its log file, flushed per write.
/// The console of a managed VM: its log file, and the client attached by
/// `rvs-vmm console` if any (dropped when it goes away).
struct ConsoleLog(std::fs::File, Attached);

/// The connection of an attached `rvs-vmm console`.
type Attached = Arc<Mutex<Option<UnixStream>>>;

impl ConsoleLog {
    fn open(dir: &Path, attached: Attached) -> Result<ConsoleLog> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("console.log"))
            .with_context(|| format!("cannot open the console log in {}", dir.display()))?;
        Ok(ConsoleLog(f, attached))
    }
}

impl Write for ConsoleLog {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let mut a = self.1.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = a.as_mut() {
            if c.write_all(b).is_err() {
                *a = None;
            }
        }
        self.0.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `rvs-vmm console` on a running VM: its console output here, this
/// terminal's input to its COM1, until the VM ends (or input ends and the
/// console has been quiet for 2 s).
fn attach_console(name: &str) -> Result<()> {
    let path = run_dir(name).join("control.sock");
    let mut s = UnixStream::connect(&path).with_context(|| format!("VM {name} is not running"))?;
    writeln!(s, "console")?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut ok = [0u8; 3];
    std::io::Read::read_exact(&mut s, &mut ok)?;
    if &ok != b"ok\n" {
        bail!("VM {name} did not take the console request");
    }
    let input = s.try_clone()?;
    let input_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let done = input_done.clone();
        std::thread::spawn(move || {
            let mut input = input;
            let _ = std::io::copy(&mut std::io::stdin(), &mut input);
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 4096];
    let mut out = std::io::stdout();
    loop {
        match std::io::Read::read(&mut s, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                out.write_all(&buf[..n])?;
                out.flush()?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if input_done.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn start(name: &str) -> Result<()> {
    let cfg = load(name)?;
    if running_info(name).is_some() {
        bail!("VM {name} is already running");
    }
    let dir = run_dir(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log = dir.join("vmm.log");
    let _ = std::fs::remove_file(dir.join("console.log"));
    let err = std::fs::File::create(&log)?;
    use std::os::unix::process::CommandExt;
    let mut child = Process::new(std::env::current_exe()?)
        .args(["managed", &cfg.name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .process_group(0)
        .spawn()
        .context("cannot start the VM's process")?;
    let t0 = Instant::now();
    loop {
        if running_info(name).is_some() {
            println!("VM {name} started (pid {})", child.id());
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            let why = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_dir_all(&dir);
            bail!("VM {name} did not start ({st}): {}", why.trim());
        }
        let limit = launch::CONNECT_TIMEOUT * (cfg.nets.len() as u32 + 1) + Duration::from_secs(10);
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            // It may have added ports before it hung: remove them.
            let db = cfg
                .db
                .clone()
                .unwrap_or_else(rvs_vmm::switchport::default_db);
            for (i, n) in cfg.nets.iter().enumerate() {
                if n.bridge.is_some() {
                    let _ = rvs_vmm::switchport::remove_named(&db, &launch::port_name(name, i));
                }
            }
            clean_run_dir(&dir);
            bail!("VM {name} did not start within {:?}", t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops a running VM: asks it, and kills it (removing its ports from the
/// switch itself) if it does not go within 5 s.
fn stop(name: &str) -> Result<()> {
    let info = running_info(name).ok_or_else(|| anyhow!("VM {name} is not running"))?;
    let _ = control(name, "destroy");
    let t0 = Instant::now();
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    while alive(info.pid) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(info.pid) {
        // SAFETY: kill(2) with a pid and a signal number; no memory.
        unsafe { libc::kill(info.pid as i32, libc::SIGKILL) };
        // It could not remove its switch ports: do it here.
        for n in &info.nics {
            if let Some(port) = &n.port {
                if let Err(e) = rvs_vmm::switchport::remove_named(&info.db, port) {
                    eprintln!("rvs-vmm: could not remove switch port {port}: {e}");
                }
            }
        }
    }
    let _ = std::fs::remove_file(run_dir(name).join("control.sock"));
    println!("VM {name} stopped");
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            test_guest,
            kernel,
            initrd,
            cmdline,
            memory,
            cpus,
            cpu_affinity,
            hugepages,
            net,
            name,
            db,
            kvm,
        } => {
            if kernel.is_none() && !test_guest {
                bail!("say what to boot: --test-guest (the built-in test guest) or --kernel FILE");
            }
            if kernel.is_some() && Path::new("/sys/module/kvm_pvm").exists() {
                eprintln!(
                    "rvs-vmm: warning: this host's KVM is nested PVM (/sys/module/kvm_pvm), which cannot \
                     run a stock Linux kernel: expect it to stop early (vmm/PVM-NOTES.md)"
                );
            }
            if !(1..=65536).contains(&memory) {
                bail!("--memory takes MiB between 1 and 65536, not {memory}");
            }
            let nets = net
                .iter()
                .map(|n| NetDef::parse(n))
                .collect::<Result<Vec<_>>>()?;
            let cfg = VmConfig {
                name: name.unwrap_or_else(|| format!("vm{}", std::process::id())),
                memory_mib: memory,
                cpus,
                cpu_affinity,
                test_guest,
                kernel,
                initrd,
                cmdline,
                hugepages,
                nets,
                db,
            };
            cfg.validate()?;
            run_one_shot(cfg, &kvm)
        }
        Command::Define { file } => {
            let cfg = VmConfig::load(&file)?;
            let p = definition(&cfg.name);
            if p.exists() {
                bail!(
                    "a VM named {} is already defined (rvs-vmm undefine {} first)",
                    cfg.name,
                    cfg.name
                );
            }
            std::fs::create_dir_all(state_dir())
                .with_context(|| format!("cannot create {}", state_dir().display()))?;
            let tmp = p.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_string_pretty(&cfg)?)?;
            std::fs::rename(&tmp, &p)?;
            println!("VM {} defined from {}", cfg.name, file.display());
            Ok(())
        }
        Command::Start { name } => start(&name),
        Command::Managed { name } => managed(&name),
        Command::List { all } => {
            let mut names: Vec<String> = std::fs::read_dir(state_dir())
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| {
                            let n = e.file_name().to_string_lossy().to_string();
                            n.strip_suffix(".json").map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            println!("{:<24} {:<10} PID", "Name", "State");
            for n in names {
                match running_info(&n) {
                    Some(i) => println!("{:<24} {:<10} {}", n, "running", i.pid),
                    None if all => println!("{:<24} {:<10} -", n, "shut off"),
                    None => {}
                }
            }
            Ok(())
        }
        Command::Dominfo { name } => {
            let cfg = load(&name)?;
            let info = running_info(&name);
            println!("Name:           {}", cfg.name);
            println!(
                "State:          {}",
                if info.is_some() {
                    "running"
                } else {
                    "shut off"
                }
            );
            if let Some(i) = &info {
                println!("PID:            {}", i.pid);
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                println!("Uptime:         {} s", now.saturating_sub(i.started));
            }
            println!("CPU(s):         {}", cfg.cpus);
            println!("Memory:         {} MiB", cfg.memory_mib);
            println!("NICs:           {}", cfg.nets.len());
            println!(
                "Boot:           {}",
                if cfg.test_guest {
                    "test guest"
                } else {
                    "kernel"
                }
            );
            println!("Command line:   {}", cfg.cmdline);
            println!("Definition:     {}", definition(&name).display());
            Ok(())
        }
        Command::Domiflist { name } => {
            let cfg = load(&name)?;
            let info = running_info(&name);
            println!(
                "{:<20} {:<11} {:<24} {:<7} MAC",
                "Interface", "Type", "Source", "Model"
            );
            for (i, d) in cfg.nets.iter().enumerate() {
                let live = info.as_ref().and_then(|x| x.nics.get(i));
                let (kind, source) = match (&d.bridge, &d.vhost_user) {
                    (Some(b), _) => ("bridge", b.clone()),
                    (_, Some(p)) => ("vhost-user", p.display().to_string()),
                    _ => ("-", "-".to_string()),
                };
                let port = live.and_then(|n| n.port.clone()).unwrap_or_else(|| {
                    if kind == "bridge" {
                        launch::port_name(&name, i)
                    } else {
                        "-".into()
                    }
                });
                let mac = live.map_or_else(
                    || {
                        let m = cfg.mac(i);
                        format!(
                            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                            m[0], m[1], m[2], m[3], m[4], m[5]
                        )
                    },
                    |n| n.mac.clone(),
                );
                println!("{port:<20} {kind:<11} {source:<24} {:<7} {mac}", "virtio");
            }
            Ok(())
        }
        Command::Console { name } => {
            load(&name)?;
            let p = run_dir(&name).join("console.log");
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("VM {name} has no console log (never started?)"))?;
            if running_info(&name).is_some() {
                // The VM sends the log so far itself, then the rest.
                attach_console(&name)?;
            } else {
                print!("{text}");
            }
            Ok(())
        }
        Command::Shutdown { name } | Command::Destroy { name } => {
            load(&name)?;
            stop(&name)
        }
        Command::Undefine { name } => {
            load(&name)?;
            if running_info(&name).is_some() {
                bail!("VM {name} is running: rvs-vmm destroy {name} first");
            }
            std::fs::remove_file(definition(&name))?;
            let _ = std::fs::remove_dir_all(run_dir(&name));
            println!("VM {name} undefined");
            Ok(())
        }
    }
}
