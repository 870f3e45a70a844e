//! The control half of a vhost-user port: one thread that connects (client
//! mode, reconnecting) or listens (server mode), and answers the
//! frontend's vhost-user requests (parsed by the `vhost` crate) by keeping
//! the device's configuration and publishing a [`Snapshot`] for the data
//! path after each change.
//!
//! Offered virtio features: VERSION_1, MRG_RXBUF, EVENT_IDX, MTU, IN_ORDER,
//! MQ (with more than one queue pair), and VHOST_USER_F_PROTOCOL_FEATURES; protocol
//! features MQ, REPLY_ACK, CONFIG and CONFIGURE_MEM_SLOTS. No offloads
//! (checksum, TSO) and no indirect descriptors: what is not implemented is
//! not offered.

use super::vring::{Guest, RingLayout};
use super::{QueueSnapshot, Shared, Snapshot, VhostMode, VhostUserConfig};
use crate::port::PortError;
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vhost::vhost_user::message::{
    VhostTransferStateDirection, VhostTransferStatePhase, VhostUserConfigFlags, VhostUserInflight,
    VhostUserLog, VhostUserMemoryRegion, VhostUserProtocolFeatures, VhostUserShMemConfig,
    VhostUserSharedMsg, VhostUserSingleMemoryRegion, VhostUserVringAddrFlags, VhostUserVringState,
};
use vhost::vhost_user::{
    Backend, BackendReqHandler, Error as VuError, GpuBackend, Result as VuResult,
    VhostUserBackendReqHandlerMut,
};
use vm_memory::{
    FileOffset, GuestAddress, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap, MmapRegion,
};

/// VIRTIO_NET_F_MTU.
pub const F_MTU: u64 = 1 << 3;
/// VIRTIO_NET_F_MRG_RXBUF.
pub const F_MRG_RXBUF: u64 = 1 << 15;
/// VIRTIO_NET_F_MQ.
pub const F_MQ: u64 = 1 << 22;
/// VIRTIO_RING_F_EVENT_IDX.
pub const F_EVENT_IDX: u64 = 1 << 29;
/// VHOST_USER_F_PROTOCOL_FEATURES.
pub const F_PROTOCOL_FEATURES: u64 = 1 << 30;
/// VIRTIO_F_VERSION_1.
pub const F_VERSION_1: u64 = 1 << 32;
/// VIRTIO_F_IN_ORDER: buffers are used in the order they were made
/// available (which the ring code always does), letting the driver take
/// its faster in-order paths.
pub const F_IN_ORDER: u64 = 1 << 35;

/// Memory regions a frontend may add one by one.
const MAX_MEM_SLOTS: u64 = 64;

/// How long the control thread waits for the PMD to let go of a ring.
const ACK_WAIT: Duration = Duration::from_secs(2);

/// Names of the negotiated virtio features.
pub fn feature_names(f: u64) -> String {
    let names = [
        (F_VERSION_1, "VERSION_1"),
        (F_MRG_RXBUF, "MRG_RXBUF"),
        (F_EVENT_IDX, "EVENT_IDX"),
        (F_MQ, "MQ"),
        (F_MTU, "MTU"),
        (F_IN_ORDER, "IN_ORDER"),
        (F_PROTOCOL_FEATURES, "PROTOCOL_FEATURES"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(" ")
    }
}

/// Names of the negotiated protocol features.
pub fn protocol_feature_names(f: u64) -> String {
    let p = VhostUserProtocolFeatures::from_bits_truncate(f);
    let names = [
        (VhostUserProtocolFeatures::MQ, "MQ"),
        (VhostUserProtocolFeatures::REPLY_ACK, "REPLY_ACK"),
        (VhostUserProtocolFeatures::CONFIG, "CONFIG"),
        (
            VhostUserProtocolFeatures::CONFIGURE_MEM_SLOTS,
            "CONFIGURE_MEM_SLOTS",
        ),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| p.contains(*b))
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(" ")
    }
}

/// One region of the frontend's memory.
#[derive(Debug, Clone)]
struct Region {
    gpa: u64,
    size: u64,
    user_addr: u64,
    mapping: Arc<GuestRegionMmap>,
}

/// One ring as the frontend configured it.
#[derive(Debug, Default)]
struct VringCfg {
    num: u16,
    desc: u64,
    avail: u64,
    used: u64,
    addr_set: bool,
    base: u16,
    call: Option<Arc<File>>,
    /// Has a kick fd: started (until GET_VRING_BASE).
    started: bool,
    enabled: bool,
    epoch: u64,
}

/// The device as the control thread keeps it.
struct Device {
    config: VhostUserConfig,
    shared: Arc<Shared>,
    features: u64,
    protocol: u64,
    regions: Vec<Region>,
    vrings: Vec<VringCfg>,
}

fn err(what: &'static str) -> VuError {
    VuError::InvalidOperation(what)
}

impl Device {
    fn new(config: VhostUserConfig, shared: Arc<Shared>) -> Device {
        let n = 2 * config.queue_pairs;
        Device {
            config,
            shared,
            features: 0,
            protocol: 0,
            regions: Vec::new(),
            vrings: (0..n).map(|_| VringCfg::default()).collect(),
        }
    }

    fn offered(&self) -> u64 {
        let mut f =
            F_VERSION_1 | F_MRG_RXBUF | F_EVENT_IDX | F_MTU | F_IN_ORDER | F_PROTOCOL_FEATURES;
        if self.config.queue_pairs > 1 {
            f |= F_MQ;
        }
        f
    }

    fn vring(&mut self, index: u32) -> VuResult<&mut VringCfg> {
        self.vrings
            .get_mut(index as usize)
            .ok_or(err("queue index out of range"))
    }

    /// A frontend virtual address in the memory table, as a guest
    /// physical address, if the whole `len` bytes lie in one region.
    fn va_to_gpa(&self, va: u64, len: u64) -> Option<GuestAddress> {
        self.regions.iter().find_map(|r| {
            let off = va.checked_sub(r.user_addr)?;
            (off.checked_add(len)? <= r.size).then(|| GuestAddress(r.gpa + off))
        })
    }

    /// Builds and publishes what the data path needs, then waits until it
    /// runs it (so rings stopped here are no longer touched there).
    fn publish(&mut self) {
        let mem = if self.regions.is_empty() {
            None
        } else {
            let mut regions: Vec<Arc<GuestRegionMmap>> =
                self.regions.iter().map(|r| r.mapping.clone()).collect();
            regions.sort_by_key(|r| r.start_addr());
            GuestMemoryMmap::from_arc_regions(regions)
                .ok()
                .map(|m| Guest::new(Arc::new(m)))
        };
        let event_idx = self.features & F_EVENT_IDX != 0;
        let snap = mem.map(|mem| {
            let queues = (0..self.vrings.len())
                .map(|i| {
                    let v = &self.vrings[i];
                    if !(v.started && v.enabled && v.addr_set && v.num > 0) {
                        return None;
                    }
                    let n = u64::from(v.num);
                    let layout = RingLayout {
                        size: v.num,
                        desc: self.va_to_gpa(v.desc, 16 * n)?,
                        avail: self.va_to_gpa(v.avail, 6 + 2 * n)?,
                        used: self.va_to_gpa(v.used, 6 + 8 * n)?,
                        event_idx,
                    };
                    if !layout.fits(&mem) {
                        return None;
                    }
                    Some(QueueSnapshot {
                        layout,
                        base: v.base,
                        epoch: v.epoch,
                        call: v.call.clone(),
                    })
                })
                .collect::<Vec<_>>();
            Arc::new(Snapshot {
                mem,
                queues,
                hdr_len: if self.features & (F_VERSION_1 | F_MRG_RXBUF) != 0 {
                    12
                } else {
                    10
                },
                mergeable: self.features & F_MRG_RXBUF != 0,
            })
        });
        let up = snap
            .as_ref()
            .is_some_and(|s| s.queues.iter().any(Option::is_some));
        self.shared.link_up.store(up, Ordering::Relaxed);
        self.shared.snapshot.store(snap);
        let g = self.shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
        wait_ack(&self.shared, g);
    }
}

/// Waits until the data path runs generation `g` (at once if no PMD polls
/// the port).
fn wait_ack(shared: &Shared, g: u64) {
    let t0 = Instant::now();
    while shared.polled.load(Ordering::Relaxed)
        && shared.acked.load(Ordering::Acquire) < g
        && t0.elapsed() < ACK_WAIT
    {
        std::thread::sleep(Duration::from_micros(200));
    }
}

impl VhostUserBackendReqHandlerMut for Device {
    fn set_owner(&mut self) -> VuResult<()> {
        Ok(())
    }

    fn reset_owner(&mut self) -> VuResult<()> {
        self.reset();
        Ok(())
    }

    fn reset_device(&mut self) -> VuResult<()> {
        self.reset();
        Ok(())
    }

    fn get_features(&mut self) -> VuResult<u64> {
        Ok(self.offered())
    }

    fn set_features(&mut self, features: u64) -> VuResult<()> {
        if features & !self.offered() != 0 {
            return Err(err("features that were not offered"));
        }
        self.features = features;
        self.shared.features.store(features, Ordering::Relaxed);
        // Without PROTOCOL_FEATURES, rings are enabled as they start.
        if features & F_PROTOCOL_FEATURES == 0 {
            for v in &mut self.vrings {
                v.enabled = true;
            }
        }
        self.publish();
        Ok(())
    }

    fn set_mem_table(
        &mut self,
        ctx: &[VhostUserMemoryRegion],
        files: Vec<File>,
        _postcopy: Option<bool>,
    ) -> VuResult<Option<Vec<vhost::VhostUserMemoryRegionBase>>> {
        if ctx.len() != files.len() || ctx.is_empty() {
            return Err(VuError::InvalidParam);
        }
        let mut regions = Vec::with_capacity(ctx.len());
        for (r, f) in ctx.iter().zip(files) {
            regions.push(map_region(r, f)?);
        }
        check_overlap(&regions)?;
        // The new table replaces the old one; the PMD switches before the
        // old mappings go away (they are dropped with the last snapshot).
        self.regions = regions;
        self.publish();
        Ok(None)
    }

    fn set_vring_num(&mut self, index: u32, num: u32) -> VuResult<()> {
        if num == 0 || num > 32768 || !num.is_power_of_two() {
            return Err(err("queue size must be a power of two up to 32768"));
        }
        self.vring(index)?.num = num as u16;
        Ok(())
    }

    fn set_vring_addr(
        &mut self,
        index: u32,
        _flags: VhostUserVringAddrFlags,
        descriptor: u64,
        used: u64,
        available: u64,
        _log: u64,
    ) -> VuResult<()> {
        let v = self.vring(index)?;
        v.desc = descriptor;
        v.used = used;
        v.avail = available;
        v.addr_set = true;
        if v.started {
            self.publish();
        }
        Ok(())
    }

    fn set_vring_base(&mut self, index: u32, base: u32) -> VuResult<()> {
        self.vring(index)?.base = base as u16;
        // Until the data path runs the ring, this is where it stands.
        self.shared.last_avail[index as usize].store(base as u16, Ordering::Relaxed);
        Ok(())
    }

    fn get_vring_base(&mut self, index: u32) -> VuResult<VhostUserVringState> {
        // The frontend waits for this reply: a refusal would leave it
        // waiting forever (no reply is sent on error), so a bad index ends
        // the connection instead.
        let v = self
            .vrings
            .get_mut(index as usize)
            .ok_or(VuError::BackendInternalError)?;
        let was = v.started;
        let set_base = v.base;
        v.started = false;
        if was {
            self.publish();
        }
        // Where the PMD stopped (or, for a ring it never ran, the base
        // SET_VRING_BASE put there).
        let base = if was {
            self.shared.last_avail[index as usize].load(Ordering::Relaxed)
        } else {
            set_base
        };
        let v = self.vring(index)?;
        v.base = base;
        v.call = None;
        Ok(VhostUserVringState::new(index, u32::from(base)))
    }

    fn set_vring_kick(&mut self, index: u8, _fd: Option<File>) -> VuResult<()> {
        // The data path polls: the kick fd is kept by nobody. Receiving it
        // starts the ring.
        let epoch = self.shared.epochs.fetch_add(1, Ordering::Relaxed) + 1;
        let v = self.vring(u32::from(index))?;
        v.started = true;
        v.epoch = epoch;
        self.publish();
        Ok(())
    }

    fn set_vring_call(&mut self, index: u8, fd: Option<File>) -> VuResult<()> {
        self.vring(u32::from(index))?.call = fd.map(Arc::new);
        self.publish();
        Ok(())
    }

    fn set_vring_err(&mut self, _index: u8, _fd: Option<File>) -> VuResult<()> {
        Ok(())
    }

    fn get_protocol_features(&mut self) -> VuResult<VhostUserProtocolFeatures> {
        let mut p = VhostUserProtocolFeatures::REPLY_ACK
            | VhostUserProtocolFeatures::CONFIG
            | VhostUserProtocolFeatures::CONFIGURE_MEM_SLOTS;
        if self.config.queue_pairs > 1 {
            p |= VhostUserProtocolFeatures::MQ;
        }
        Ok(p)
    }

    fn set_protocol_features(&mut self, features: u64) -> VuResult<()> {
        self.protocol = features;
        self.shared
            .protocol_features
            .store(features, Ordering::Relaxed);
        Ok(())
    }

    fn get_queue_num(&mut self) -> VuResult<u64> {
        Ok(2 * self.config.queue_pairs as u64)
    }

    fn set_vring_enable(&mut self, index: u32, enable: bool) -> VuResult<()> {
        self.vring(index)?.enabled = enable;
        self.publish();
        Ok(())
    }

    fn get_config(
        &mut self,
        offset: u32,
        size: u32,
        _flags: VhostUserConfigFlags,
    ) -> VuResult<Vec<u8>> {
        // struct virtio_net_config: mac[6], status, max_virtqueue_pairs,
        // mtu (no MAC or STATUS feature: those stay zero).
        let mut cfg = [0u8; 12];
        cfg[8..10].copy_from_slice(&(self.config.queue_pairs as u16).to_le_bytes());
        cfg[10..12].copy_from_slice(&self.config.mtu.to_le_bytes());
        let (o, s) = (offset as usize, size as usize);
        cfg.get(o..o.saturating_add(s))
            .map(<[u8]>::to_vec)
            .ok_or(VuError::InvalidParam)
    }

    fn set_config(&mut self, _o: u32, _b: &[u8], _f: VhostUserConfigFlags) -> VuResult<()> {
        Err(err("the config space is read-only"))
    }

    fn set_gpu_socket(&mut self, _gpu: GpuBackend) -> VuResult<()> {
        Err(err("not a GPU"))
    }

    fn get_shared_object(&mut self, _uuid: VhostUserSharedMsg) -> VuResult<File> {
        Err(err("shared objects are not supported"))
    }

    fn get_inflight_fd(
        &mut self,
        _inflight: &VhostUserInflight,
    ) -> VuResult<(VhostUserInflight, File)> {
        Err(err("inflight tracking is not supported"))
    }

    fn set_inflight_fd(&mut self, _inflight: &VhostUserInflight, _file: File) -> VuResult<()> {
        Err(err("inflight tracking is not supported"))
    }

    fn get_max_mem_slots(&mut self) -> VuResult<u64> {
        Ok(MAX_MEM_SLOTS)
    }

    fn add_mem_region(
        &mut self,
        region: &VhostUserSingleMemoryRegion,
        fd: File,
        _postcopy: Option<bool>,
    ) -> VuResult<Option<vhost::VhostUserMemoryRegionBase>> {
        if self.regions.len() as u64 >= MAX_MEM_SLOTS {
            return Err(err("too many memory regions"));
        }
        let r = map_region(region, fd)?;
        let mut all = self.regions.clone();
        all.push(r);
        check_overlap(&all)?;
        self.regions = all;
        self.publish();
        Ok(None)
    }

    fn remove_mem_region(&mut self, region: &VhostUserSingleMemoryRegion) -> VuResult<()> {
        let before = self.regions.len();
        self.regions
            .retain(|r| !(r.gpa == region.guest_phys_addr && r.size == region.memory_size));
        if self.regions.len() == before {
            return Err(VuError::InvalidParam);
        }
        self.publish();
        Ok(())
    }

    fn set_device_state_fd(
        &mut self,
        _d: VhostTransferStateDirection,
        _p: VhostTransferStatePhase,
        _fd: File,
    ) -> VuResult<Option<File>> {
        Err(err("device state transfer is not supported"))
    }

    fn check_device_state(&mut self) -> VuResult<()> {
        Err(err("device state transfer is not supported"))
    }

    fn get_shmem_config(&mut self) -> VuResult<VhostUserShMemConfig> {
        Err(err("shared memory regions are not supported"))
    }

    fn set_log_base(&mut self, _log: &VhostUserLog, _file: File) -> VuResult<()> {
        Err(err("dirty-page logging (live migration) is not supported"))
    }

    fn set_backend_req_fd(&mut self, _backend: Backend) {}
}

impl Device {
    /// Forgets everything the frontend set up (disconnect, reset).
    fn reset(&mut self) {
        for v in &mut self.vrings {
            *v = VringCfg::default();
        }
        self.regions.clear();
        self.features = 0;
        self.protocol = 0;
        self.shared.features.store(0, Ordering::Relaxed);
        self.shared.protocol_features.store(0, Ordering::Relaxed);
        self.publish();
    }
}

/// Maps one region the frontend shares. Its file must hold the whole
/// region: a mapping past the end of a file faults (SIGBUS) on access, which
/// would take the switch down.
fn map_region(r: &VhostUserMemoryRegion, f: File) -> VuResult<Region> {
    let size = usize::try_from(r.memory_size).map_err(|_| VuError::InvalidParam)?;
    if size == 0 || r.guest_phys_addr.checked_add(r.memory_size).is_none() {
        return Err(VuError::InvalidParam);
    }
    let meta = f
        .metadata()
        .map_err(|_| err("cannot stat a memory region's file"))?;
    if !meta.file_type().is_file() {
        return Err(err("a memory region's fd is not a file"));
    }
    let end = r
        .mmap_offset
        .checked_add(r.memory_size)
        .ok_or(VuError::InvalidParam)?;
    if end > meta.len() {
        return Err(err("a memory region is larger than its file"));
    }
    let mapping = MmapRegion::from_file(FileOffset::new(f, r.mmap_offset), size)
        .map_err(|_| err("cannot map a memory region the frontend sent"))?;
    let region = GuestRegionMmap::new(mapping, GuestAddress(r.guest_phys_addr))
        .ok_or(VuError::InvalidParam)?;
    Ok(Region {
        gpa: r.guest_phys_addr,
        size: r.memory_size,
        user_addr: r.user_addr,
        mapping: Arc::new(region),
    })
}

fn check_overlap(regions: &[Region]) -> VuResult<()> {
    let mut v: Vec<(u64, u64)> = regions.iter().map(|r| (r.gpa, r.gpa + r.size)).collect();
    v.sort_unstable();
    if v.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(err("memory regions overlap"));
    }
    Ok(())
}

/// Sets the port's status sentence and logs it when it changed.
fn set_status(shared: &Shared, name: &str, s: String) {
    if let Ok(mut g) = shared.status.lock() {
        if *g != s {
            crate::port::event(&format!("{name}: vhost-user: {s}"));
        }
        *g = s;
    }
}

/// Waits up to `ms` for `fd` to be readable; false on timeout.
fn readable(fd: i32, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is a valid pollfd for the duration of the call and the
    // count is 1.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0
}

/// Starts the control thread of port `name`. In server mode the socket is
/// bound here, so a bad path is an error at once.
pub(super) fn spawn(
    name: &str,
    config: VhostUserConfig,
    shared: Arc<Shared>,
) -> Result<std::thread::JoinHandle<()>, PortError> {
    let listener = match &config.mode {
        VhostMode::Server(path) => {
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path).map_err(|source| PortError::Io {
                what: format!("cannot listen on {}", path.display()),
                source,
            })?;
            l.set_nonblocking(true).map_err(|source| PortError::Io {
                what: "cannot make the vhost-user socket non-blocking".into(),
                source,
            })?;
            set_status(&shared, name, format!("listening on {}", path.display()));
            Some(l)
        }
        VhostMode::Client(path) => {
            set_status(&shared, name, format!("connecting to {}", path.display()));
            None
        }
    };
    let name = name.to_string();
    std::thread::Builder::new()
        .name(format!("vhost-{name}"))
        .spawn(move || control(&name, &config, &shared, listener))
        .map_err(|source| PortError::Io {
            what: "cannot start the vhost-user control thread".into(),
            source,
        })
}

/// The control thread: one connection at a time, until told to stop.
fn control(
    name: &str,
    config: &VhostUserConfig,
    shared: &Arc<Shared>,
    listener: Option<UnixListener>,
) {
    let stopped = || shared.stop.load(Ordering::SeqCst);
    while !stopped() {
        let stream = match (&config.mode, &listener) {
            (VhostMode::Server(_), Some(l)) => match l.accept() {
                Ok((s, _)) => s,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            },
            (VhostMode::Client(path), _) => match UnixStream::connect(path) {
                Ok(s) => s,
                Err(e) => {
                    set_status(
                        shared,
                        name,
                        format!("cannot connect to {} ({e}); retrying", path.display()),
                    );
                    for _ in 0..10 {
                        if stopped() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    continue;
                }
            },
            _ => return,
        };
        let _ = stream.set_nonblocking(false);
        set_status(shared, name, "frontend connected".into());
        let dev = Arc::new(Mutex::new(Device::new(config.clone(), shared.clone())));
        if let (Ok(c), Ok(mut slot)) = (stream.try_clone(), shared.connection.lock()) {
            *slot = Some(c);
        }
        let mut handler = BackendReqHandler::from_stream(stream, dev.clone());
        let why = loop {
            if stopped() {
                break "port removed".to_string();
            }
            if !readable(handler.as_raw_fd(), 100) {
                continue;
            }
            match handler.handle_request() {
                Ok(()) => {}
                Err(VuError::Disconnected) | Err(VuError::PartialMessage) => {
                    break "frontend disconnected".to_string();
                }
                // A request refused on its merits (a feature not
                // negotiated, a bad value): the frontend gets no reply or
                // an error, the connection goes on. DPDK's virtio-user, for
                // one, sends SET_VRING_ENABLE before negotiating
                // PROTOCOL_FEATURES when it reconnects.
                Err(
                    e @ (VuError::InactiveFeature(_)
                    | VuError::InactiveOperation(_)
                    | VuError::InvalidParam
                    | VuError::InvalidOperation(_)),
                ) => {
                    crate::port::event(&format!(
                        "{name}: vhost-user: request refused ({e}); connection kept"
                    ));
                }
                Err(e) => break format!("protocol error ({e}); connection closed"),
            }
        };
        if let Ok(mut slot) = shared.connection.lock() {
            *slot = None;
        }
        if let Ok(mut d) = dev.lock() {
            d.reset();
        }
        let again = match &config.mode {
            VhostMode::Client(_) => "; reconnecting",
            VhostMode::Server(_) => "; waiting for it",
        };
        set_status(shared, name, format!("{why}{again}"));
    }
    if let VhostMode::Server(path) = &config.mode {
        let _ = std::fs::remove_file(path);
    }
    // No frontend any more: the data path sees an empty device.
    shared.snapshot.store(None);
    shared.generation.fetch_add(1, Ordering::AcqRel);
    shared.link_up.store(false, Ordering::Relaxed);
}
