//! A VM from its definition: what `rvs-vmm run` builds from its options
//! and `rvs-vmm start` from a definition file, and the one place that
//! turns a [`VmConfig`] into a running machine.
//!
//! Definitions are JSON ([`VmConfig`], unknown fields refused), checked
//! whole before anything is created ([`VmConfig::validate`]). Starting a
//! VM creates, in order: the VM and its memory, each NIC — for
//! `vhost_user`, a connection to that backend socket; for `bridge`, a
//! listening socket `<run dir>/net<N>.sock`, the switch port added
//! through OVSDB, and the switch's connection — and loads the guest. Any
//! failure undoes what was done (ports removed, sockets deleted) before
//! the error is returned.
//!
//! A NIC on a bridge survives a restart of the switch: a thread per NIC
//! waits on its socket for the switch to connect again and hands the
//! device to it with the rings where the guest left them.

use crate::devices::{IrqLine, PciFunction, Platform};
use crate::guest::TEST_GUEST;
use crate::kvm::{BootInfo, SharedIo, Stop, Vm};
use crate::switchport::AttachedPort;
use crate::vhost_user::{Listener, VhostUserNet};
use crate::virtio_pci::{VirtioNet, BAR_SIZE};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the NICs' BARs go: in the 32-bit PCI hole, above any RAM.
pub const BAR_BASE: u64 = 0xe000_0000;
/// How long a switch may take to connect to a bridge NIC's socket.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

fn default_memory() -> u64 {
    16
}

fn one() -> u32 {
    1
}

/// A NIC: on a bridge (the VMM adds the port), or on a vhost-user
/// backend socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NetDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost_user: Option<PathBuf>,
    /// `aa:bb:cc:dd:ee:ff`; default: a locally administered address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// A VM definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VmConfig {
    pub name: String,
    #[serde(default = "default_memory")]
    pub memory_mib: u64,
    #[serde(default = "one")]
    pub cpus: u32,
    /// The host CPU of each vCPU thread (empty: not pinned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_affinity: Vec<usize>,
    /// Boot the built-in test guest.
    #[serde(default)]
    pub test_guest: bool,
    /// A Linux kernel (bzImage) to boot instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<PathBuf>,
    /// Its initrd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<PathBuf>,
    #[serde(default)]
    pub cmdline: String,
    /// Guest memory from 2 MiB hugepages (reserved on the host).
    #[serde(default)]
    pub hugepages: bool,
    #[serde(default)]
    pub nets: Vec<NetDef>,
    /// The switch's database for bridge NICs (default: the switch tools').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
}

/// Parses `aa:bb:cc:dd:ee:ff` (unicast only).
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || anyhow!("{s:?} is not a MAC address like 02:00:00:00:00:01");
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in m.iter_mut() {
        let p = parts.next().ok_or_else(bad)?;
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if m[0] & 1 != 0 {
        bail!("{s} is a multicast address: a NIC needs a unicast one");
    }
    Ok(m)
}

impl NetDef {
    /// `bridge=BR[,mac=MAC]` or `vhost-user=PATH[,mac=MAC]`.
    pub fn parse(s: &str) -> Result<NetDef> {
        let mut d = NetDef {
            bridge: None,
            vhost_user: None,
            mac: None,
        };
        for item in s.split(',') {
            let (k, v) = item.split_once('=').unwrap_or((item, ""));
            match (k, v.is_empty()) {
                ("bridge", false) => d.bridge = Some(v.to_string()),
                ("vhost-user", false) => d.vhost_user = Some(PathBuf::from(v)),
                ("mac", false) => d.mac = Some(v.to_string()),
                _ => {
                    bail!("--net {s:?}: expected bridge=BR[,mac=MAC] or vhost-user=PATH[,mac=MAC]")
                }
            }
        }
        Ok(d)
    }
}

impl VmConfig {
    /// Reads and checks a definition file.
    pub fn load(path: &Path) -> Result<VmConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the definition {}", path.display()))?;
        let cfg: VmConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid VM definition", path.display()))?;
        cfg.validate()
            .with_context(|| format!("{} is not a valid VM definition", path.display()))?;
        Ok(cfg)
    }

    /// Everything that can be checked before creating anything.
    pub fn validate(&self) -> Result<()> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || n.starts_with('.')
        {
            bail!("name {n:?}: use 1 to 64 letters, digits, '-', '_' or '.' (not first)");
        }
        if !(1..=65536).contains(&self.memory_mib) {
            bail!("memory_mib {} is outside 1..=65536", self.memory_mib);
        }
        if self.memory_mib << 20 > BAR_BASE {
            bail!(
                "memory_mib {} would overlap the PCI hole at {} MiB",
                self.memory_mib,
                BAR_BASE >> 20
            );
        }
        if self.hugepages && self.memory_mib % 2 != 0 {
            bail!(
                "memory_mib {} is not a whole number of 2 MiB hugepages",
                self.memory_mib
            );
        }
        if !(1..=64).contains(&self.cpus) {
            bail!("cpus {} is outside 1..=64", self.cpus);
        }
        if !self.cpu_affinity.is_empty() {
            if self.cpu_affinity.len() != self.cpus as usize {
                bail!(
                    "cpu_affinity names {} host CPUs for {} vCPUs: give one per vCPU",
                    self.cpu_affinity.len(),
                    self.cpus
                );
            }
            let host = std::thread::available_parallelism().map_or(1, |n| n.get());
            if let Some(c) = self.cpu_affinity.iter().find(|&&c| c >= host) {
                bail!(
                    "cpu_affinity: host CPU {c} does not exist (this host has 0 to {})",
                    host - 1
                );
            }
        }
        match (&self.kernel, self.test_guest) {
            (Some(_), true) => bail!("give a kernel or the test guest, not both"),
            (Some(k), false) => {
                if !k.is_file() {
                    bail!("kernel {} not found", k.display());
                }
            }
            (None, false) => bail!("nothing to boot: set test_guest or kernel"),
            (None, true) => {}
        }
        match (&self.initrd, &self.kernel) {
            (Some(_), None) => bail!("an initrd needs a kernel"),
            (Some(i), Some(_)) if !i.is_file() => bail!("initrd {} not found", i.display()),
            _ => {}
        }
        if self.cmdline.len() > BootInfo::MAX_CMDLINE {
            bail!(
                "the command line is {} bytes; at most {} fit",
                self.cmdline.len(),
                BootInfo::MAX_CMDLINE
            );
        }
        if self.nets.len() > 8 {
            bail!("{} NICs: at most 8", self.nets.len());
        }
        let mut macs = Vec::new();
        for (i, d) in self.nets.iter().enumerate() {
            match (&d.bridge, &d.vhost_user) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => bail!("NIC {i}: give exactly one of bridge and vhost_user"),
            }
            if let Some(m) = &d.mac {
                let m = parse_mac(m).with_context(|| format!("NIC {i}"))?;
                if macs.contains(&m) {
                    bail!("NIC {i}: MAC {:?} is used twice", d.mac);
                }
                macs.push(m);
            }
        }
        Ok(())
    }

    /// NIC `i`'s MAC: the one given, or 02:72 followed by a hash of the
    /// VM's name and the index (stable across starts).
    pub fn mac(&self, i: usize) -> [u8; 6] {
        if let Some(m) = self.nets.get(i).and_then(|d| d.mac.as_deref()) {
            if let Ok(m) = parse_mac(m) {
                return m;
            }
        }
        let mut h: u32 = 0x811c_9dc5;
        for b in self.name.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        let h = h.to_be_bytes();
        [0x02, 0x72, h[0], h[1], h[2], i as u8]
    }
}

/// A PCI function shared with the thread that reconnects it. Its BAR is
/// kept outside the lock: every MMIO exit asks each function for it, and a
/// reconnection in progress must not stall the vCPU.
struct Shared(Arc<Mutex<VirtioNet>>, Option<(u64, u64)>);

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut VirtioNet) -> T) -> T {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }
}

impl PciFunction for Shared {
    fn config_read(&mut self, reg: u16) -> u32 {
        self.with(|d| d.config_read(reg))
    }
    fn config_write(&mut self, reg: u16, offset: u16, data: &[u8]) {
        self.with(|d| d.config_write(reg, offset, data))
    }
    fn bar(&self) -> Option<(u64, u64)> {
        self.1
    }
    fn bar_read(&mut self, offset: u64, data: &mut [u8]) {
        self.with(|d| d.bar_read(offset, data))
    }
    fn bar_write(&mut self, offset: u64, data: &[u8]) {
        self.with(|d| d.bar_write(offset, data))
    }
}

/// One NIC as started.
#[derive(Debug, Clone, Serialize)]
pub struct NicInfo {
    pub index: usize,
    /// `bridge` or `vhost-user`.
    pub kind: &'static str,
    /// The bridge, or the backend socket.
    pub source: String,
    /// The switch port (bridge NICs).
    pub port: Option<String>,
    pub mac: String,
    /// The socket the VMM listens on (bridge NICs).
    pub socket: Option<PathBuf>,
}

/// A VM ready to run, and what must be undone when it ends.
pub struct Machine {
    pub vm: Vm,
    pub platform: Arc<Mutex<Platform<Box<dyn Write + Send>>>>,
    /// Host CPUs for the vCPU threads (empty: not pinned).
    pub affinity: Vec<usize>,
    pub nics: Vec<NicInfo>,
    /// Switch ports to remove at the end (shared with a signal handler).
    pub ports: Arc<Mutex<Vec<AttachedPort>>>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("nics", &self.nics)
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Runs the guest to its end, then removes the switch ports; how it
    /// ended and how many exits the boot vCPU made. The boot vCPU runs on
    /// this thread, the others on threads of their own (each pinned when
    /// asked); a guest that ends on another vCPU ends the process there,
    /// its ports removed first.
    pub fn run(mut self) -> Result<(Stop, u64)> {
        for (i, ap) in self.vm.take_aps().into_iter().enumerate() {
            let io = self.platform.clone();
            let ports = self.ports.clone();
            let cpu = self.affinity.get(i + 1).copied();
            std::thread::Builder::new()
                .name(format!("vcpu{}", i + 1))
                .spawn(move || {
                    let mut ap = ap;
                    if let Some(c) = cpu {
                        pin(c);
                    }
                    let exits = std::sync::atomic::AtomicU64::new(0);
                    let r = crate::kvm::run_vcpu(&mut ap, &mut SharedIo(io), &exits);
                    detach_all(&ports);
                    let code = match r {
                        Ok(Stop::Exit(c)) => i32::from(c.min(125)),
                        Ok(Stop::Reset) => 0,
                        Ok(Stop::Crash) => 3,
                        Err(e) => {
                            eprintln!("rvs-vmm: vCPU {}: {e}", i + 1);
                            1
                        }
                    };
                    std::process::exit(code);
                })
                .context("cannot start a vCPU thread")?;
        }
        if let Some(&c) = self.affinity.first() {
            pin(c);
        }
        let r = self.vm.run(&mut SharedIo(self.platform.clone()));
        self.detach();
        Ok((r?, self.vm.exits()))
    }

    /// Feeds `input` (the terminal, say) to the guest's COM1 from a
    /// thread of its own, as the UART's FIFO takes it.
    pub fn console_input(&self, input: impl std::io::Read + Send + 'static) {
        feed_console(self.platform.clone(), Box::new(input));
    }

    /// A function that feeds a reader to the guest's COM1 (for consoles
    /// attached later, from other threads).
    pub fn console_feeder(
        &self,
    ) -> impl Fn(Box<dyn std::io::Read + Send>) + Send + Clone + 'static {
        let platform = self.platform.clone();
        move |input| feed_console(platform.clone(), input)
    }

    /// Removes the switch ports (also done on drop).
    pub fn detach(&self) {
        detach_all(&self.ports);
        for n in &self.nics {
            if let Some(s) = &n.socket {
                let _ = std::fs::remove_file(s);
            }
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Feeds `input` to COM1 of `platform` from a thread of its own, as the
/// UART's FIFO takes it.
fn feed_console(
    platform: Arc<Mutex<Platform<Box<dyn Write + Send>>>>,
    mut input: Box<dyn std::io::Read + Send>,
) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = input.read(&mut buf) {
            if n == 0 {
                return;
            }
            let mut at = 0;
            while at < n {
                let took = platform
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .console_input(&buf[at..n]);
                at += took;
                if took == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    });
}

/// Pins this thread to host CPU `cpu` (best effort: says so when it
/// cannot).
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes
    // within it for cpu < CPU_SETSIZE (checked); sched_setaffinity reads
    // the set we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            eprintln!("rvs-vmm: cannot pin to CPU {cpu}");
            return;
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "rvs-vmm: cannot pin a vCPU to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Removes every port in `ports`, saying so when one cannot be.
pub fn detach_all(ports: &Mutex<Vec<AttachedPort>>) {
    let mut ports = ports.lock().unwrap_or_else(|e| e.into_inner());
    for mut p in ports.drain(..) {
        if let Err(e) = p.detach() {
            eprintln!("rvs-vmm: could not remove switch port {}: {e}", p.name);
        }
    }
}

fn mac_text(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Builds the VM of `cfg` through the KVM device `kvm`, with its console
/// on `console`; sockets of bridge NICs go in `run_dir`, and the switch
/// ports it adds into `ports` as they are added (so that a signal handler
/// installed before can remove them whenever the process is stopped).
pub fn build(
    cfg: &VmConfig,
    kvm: &Path,
    run_dir: &Path,
    console: Box<dyn Write + Send>,
    ports: Arc<Mutex<Vec<AttachedPort>>>,
) -> Result<Machine> {
    cfg.validate()?;
    let mut vm = Vm::with_backing(kvm, cfg.memory_mib << 20, cfg.hugepages, cfg.cpus)?;
    let mut platform = Platform::new(console, IrqLine(Some(vm.irq_line(4)?)));
    let affinity = cfg.cpu_affinity.clone();
    let mut nics = Vec::new();
    // On any error below, `ports` (and the listeners) drop and undo.
    let db = cfg.db.clone().unwrap_or_else(crate::switchport::default_db);
    let vm_id = vm_uuid();
    for (i, d) in cfg.nets.iter().enumerate() {
        let mac = cfg.mac(i);
        let bar = BAR_BASE + i as u64 * BAR_SIZE * 4;
        let (conn, info, listener) = if let Some(br) = &d.bridge {
            std::fs::create_dir_all(run_dir)
                .with_context(|| format!("cannot create {}", run_dir.display()))?;
            let sock = run_dir.join(format!("net{i}.sock"));
            let listener = Listener::bind(&sock)?;
            let name = port_name(&cfg.name, i);
            let port = AttachedPort::attach(&db, br, &name, &sock, mac, &vm_id)?;
            ports.lock().unwrap_or_else(|e| e.into_inner()).push(port);
            let stream = listener.accept(CONNECT_TIMEOUT).with_context(|| {
                match crate::switchport::interface_error(&db, &name) {
                    Some(e) => {
                        format!("the switch did not connect to port {name} on bridge {br}: {e}")
                    }
                    None => format!("the switch did not connect to port {name} on bridge {br}"),
                }
            })?;
            (
                VhostUserNet::from_stream(stream),
                NicInfo {
                    index: i,
                    kind: "bridge",
                    source: br.clone(),
                    port: Some(name),
                    mac: mac_text(mac),
                    socket: Some(sock),
                },
                Some(listener),
            )
        } else {
            let path = d.vhost_user.clone().unwrap_or_default();
            let conn = VhostUserNet::connect(&path, Duration::from_secs(10))?;
            (
                conn,
                NicInfo {
                    index: i,
                    kind: "vhost-user",
                    source: path.display().to_string(),
                    port: None,
                    mac: mac_text(mac),
                    socket: None,
                },
                None,
            )
        };
        let dev = VirtioNet::new(vm.fd(), bar, conn, vm.memory().clone(), mac)
            .map_err(|e| anyhow!("NIC {i} ({}): {e}", info.source))?;
        let bar_range = dev.bar();
        let dev = Arc::new(Mutex::new(dev));
        if platform
            .pci
            .add(Box::new(Shared(dev.clone(), bar_range)))
            .is_none()
        {
            bail!("PCI bus 0 is full");
        }
        if let Some(l) = listener {
            reconnect_thread(l, dev, info.port.clone().unwrap_or_default());
        }
        nics.push(info);
    }
    match &cfg.kernel {
        Some(k) => {
            let kernel = std::fs::read(k)
                .with_context(|| format!("cannot read the kernel {}", k.display()))?;
            let initrd = cfg
                .initrd
                .as_ref()
                .map(|i| {
                    std::fs::read(i)
                        .with_context(|| format!("cannot read the initrd {}", i.display()))
                })
                .transpose()?;
            vm.boot_linux(&kernel, initrd.as_deref(), &cfg.cmdline)
                .with_context(|| format!("cannot boot {}", k.display()))?;
        }
        None => vm.boot_flat(
            TEST_GUEST,
            &BootInfo {
                cmdline: cfg.cmdline.clone(),
            },
        )?,
    }
    Ok(Machine {
        vm,
        platform: Arc::new(Mutex::new(platform)),
        affinity,
        nics,
        ports,
    })
}

/// The switch port of NIC `i` of VM `name`.
pub fn port_name(name: &str, i: usize) -> String {
    format!("{name}-eth{i}")
}

/// Waits on `l` for the switch to connect again (after it restarted) and
/// hands it the device each time.
fn reconnect_thread(l: Listener, dev: Arc<Mutex<VirtioNet>>, port: String) {
    std::thread::spawn(move || loop {
        let stream = match l.accept(Duration::from_secs(3600)) {
            Ok(s) => s,
            Err(crate::Error::Timeout { .. }) => continue,
            Err(e) => {
                // Not a timeout (out of descriptors, say): do not spin.
                eprintln!("rvs-vmm: port {port}: {e}");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        // The handshake's first requests go without the device's lock.
        let mut conn = VhostUserNet::from_stream(stream);
        let r = conn.open().and_then(|backend| {
            dev.lock()
                .unwrap_or_else(|e| e.into_inner())
                .reconnect(conn, backend)
        });
        match r {
            Ok(()) => eprintln!("rvs-vmm: port {port}: the switch connected again"),
            Err(e) => eprintln!(
                "rvs-vmm: port {port}: the switch connected again but refused the device: {e}"
            ),
        }
    });
}

/// A random version-4 UUID (libvirt's `vm-id`).
fn vm_uuid() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Result<VmConfig> {
        let c: VmConfig = serde_json::from_str(json)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn definitions_are_checked_whole() {
        let ok = cfg(r#"{"name":"vm1","test_guest":true,"nets":[{"bridge":"br0"}]}"#).unwrap();
        assert_eq!((ok.memory_mib, ok.cpus), (16, 1));
        for (bad, why) in [
            (
                r#"{"name":"vm1","test_guest":true,"colour":"red"}"#,
                "unknown field",
            ),
            (r#"{"name":"","test_guest":true}"#, "name"),
            (r#"{"name":"a/b","test_guest":true}"#, "name"),
            (r#"{"name":"vm1"}"#, "nothing to boot"),
            (
                r#"{"name":"vm1","kernel":"/nonexistent/vmlinuz"}"#,
                "not found",
            ),
            (
                r#"{"name":"vm1","test_guest":true,"memory_mib":0}"#,
                "memory_mib",
            ),
            (r#"{"name":"vm1","test_guest":true,"cpus":0}"#, "cpus 0"),
            (
                r#"{"name":"vm1","test_guest":true,"cpus":2,"cpu_affinity":[0]}"#,
                "one per vCPU",
            ),
            (
                r#"{"name":"vm1","test_guest":true,"cpus":1,"cpu_affinity":[999]}"#,
                "does not exist",
            ),
            (
                r#"{"name":"vm1","test_guest":true,"nets":[{}]}"#,
                "exactly one",
            ),
            (
                r#"{"name":"vm1","test_guest":true,"nets":[{"bridge":"b","vhost_user":"/s"}]}"#,
                "exactly one",
            ),
            (
                r#"{"name":"vm1","test_guest":true,"nets":[{"bridge":"b","mac":"01:00:00:00:00:01"}]}"#,
                "multicast",
            ),
            (
                r#"{"name":"vm1","test_guest":true,"nets":[{"bridge":"b","mac":"zz"}]}"#,
                "MAC",
            ),
        ] {
            let e = format!("{:#}", cfg(bad).unwrap_err());
            assert!(e.contains(why), "{bad}: {why:?} not in {e}");
        }
    }

    #[test]
    fn macs_are_stable_and_distinct_per_nic() {
        let c = cfg(r#"{"name":"web","test_guest":true,"nets":[{"bridge":"b"},{"bridge":"b"}]}"#)
            .unwrap();
        assert_eq!(c.mac(0), c.mac(0));
        assert_ne!(c.mac(0), c.mac(1));
        assert_eq!(c.mac(0)[0], 0x02);
        let n = NetDef::parse("bridge=br0,mac=02:00:00:00:00:09").unwrap();
        assert_eq!(n.bridge.as_deref(), Some("br0"));
        assert!(NetDef::parse("tap=x").is_err());
        let u = vm_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
