//! The vhost-user port end to end, against a frontend written here: a
//! minimal virtio-net driver that shares a memfd as guest memory over the
//! vhost-user protocol (the `vhost` crate's frontend side), builds split
//! rings in it by hand and moves frames through the port, whose data path
//! the test thread drives the way a poll-mode thread would.
//!
//! The port's control thread waits for the data path to take up some
//! changes (a ring stopped, a new memory table, a disconnect). Here the
//! test thread *is* the data path, so every request to the port goes out
//! from a helper thread while this one keeps polling ([`Switch::serve`]).
//! Nothing waits on a fixed sleep: everything that is not immediate is
//! polled for with a deadline, and a request that gets no answer has its
//! connection cut after the deadline.
//!
//! The frontend half ([`GuestRam`], [`SplitQueue`], [`NetFrontend`]) knows
//! nothing of the port; it is the start of the driver the traffic
//! generator and the VMM need.
//!
//! What is covered: frames both ways (headers, `num_buffers`, used
//! lengths, interrupts as the driver asked, with and without EVENT_IDX,
//! MRG_RXBUF, VERSION_1); a new memory table while running (the old
//! memory is neither read nor written afterwards); memory in two regions
//! and added/removed region by region; queues disabled and enabled;
//! GET_VRING_BASE and restart; disconnects and reconnects in both modes,
//! also with the rings the frontend had; malformed descriptor chains,
//! memory tables and messages from a hostile frontend.
//!
//! The last tests each caught a defect of the port when they were written
//! (a region larger than its file, a stalled frontend blocking removal, an
//! uncounted broken avail index, a stale GET_VRING_BASE, an unanswered
//! refused GET_VRING_BASE, drops counted for frames left in the ring).

use rvs_datapath::packet::{Batch, Packet, PacketPool};
use rvs_datapath::port::vhost::device::{
    F_EVENT_IDX, F_MRG_RXBUF, F_PROTOCOL_FEATURES, F_VERSION_1,
};
use rvs_datapath::port::vhost::vring::{
    Fault, VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE, VRING_USED_F_NO_NOTIFY,
};
use rvs_datapath::port::vhost::{VhostMode, VhostUserConfig, VhostUserPort};
use rvs_datapath::port::Port;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vhost::vhost_user::message::{
    VhostUserConfigFlags, VhostUserHeaderFlag, VhostUserProtocolFeatures,
};
use vhost::vhost_user::{Frontend, VhostUserFrontend};
use vhost::{VhostBackend, VhostUserMemoryRegionInfo, VringConfigData};
use vm_memory::{Bytes, FileOffset, GuestAddress, GuestMemoryMmap, GuestRegionMmap, MmapRegion};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// How long anything that is not immediate may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// Entries per virtqueue.
const QSIZE: u16 = 64;
/// Bytes of buffer behind each descriptor.
const BUF: u64 = 2048;
/// Where the guest memory starts (not 0, so that a guest address taken
/// for a frontend address, or the other way round, goes wrong).
const RAM_GPA: u64 = 0x8000_0000;
const RAM_SIZE: u64 = 1 << 20;
/// `virtio_net_hdr_mrg_rxbuf`: VERSION_1 or MRG_RXBUF make it 12 bytes.
const HDR: usize = 12;
/// The MTU the port offers in its config space.
const MTU: u16 = 1500;

// ---------------------------------------------------------------------
// The frontend: guest memory, split queues, a virtio-net driver.
// ---------------------------------------------------------------------

/// A memfd of `size` bytes.
fn memfd(size: u64) -> File {
    // SAFETY: the name is a NUL-terminated string; the call reads nothing
    // else and returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(c"rvs-test-guest".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` was just created and nothing else owns it.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(size).expect("ftruncate of the memfd");
    file
}

/// One region of guest memory: a memfd mapped here.
#[derive(Debug)]
pub struct RamRegion {
    /// Guest physical address and length.
    pub gpa: u64,
    pub size: u64,
    /// Where it is mapped in this process.
    pub host: u64,
    file: File,
}

/// Guest memory: regions backed by memfds, mapped here, that a vhost-user
/// backend maps too (the memory table passes the fds).
#[derive(Debug)]
pub struct GuestRam {
    mem: GuestMemoryMmap,
    pub regions: Vec<RamRegion>,
}

impl GuestRam {
    /// One region.
    pub fn new(gpa: u64, size: u64) -> GuestRam {
        GuestRam::with_regions(&[(gpa, size)])
    }

    /// Regions at (guest address, size), in ascending order, each a memfd
    /// of its own (as a VMM has them around the PCI hole).
    pub fn with_regions(layout: &[(u64, u64)]) -> GuestRam {
        let mut regions = Vec::new();
        let mut mapped = Vec::new();
        for &(gpa, size) in layout {
            let file = memfd(size);
            let shared = file.try_clone().expect("dup of the memfd");
            let mapping = MmapRegion::from_file(FileOffset::new(shared, 0), size as usize)
                .expect("mmap of the memfd");
            let region = GuestRegionMmap::new(mapping, GuestAddress(gpa)).expect("region");
            regions.push(RamRegion {
                gpa,
                size,
                host: region.as_ptr() as u64,
                file,
            });
            mapped.push(region);
        }
        let mem = GuestMemoryMmap::from_regions(mapped).expect("guest memory");
        GuestRam { mem, regions }
    }

    /// Where each region is mapped here.
    pub fn hosts(&self) -> Vec<u64> {
        self.regions.iter().map(|r| r.host).collect()
    }

    /// The memory table: each region announced at its frontend address in
    /// `user_addrs` (normally [`GuestRam::hosts`]; a backend uses them
    /// only to translate ring addresses).
    pub fn table(&self, user_addrs: &[u64]) -> Vec<VhostUserMemoryRegionInfo> {
        self.regions
            .iter()
            .zip(user_addrs)
            .map(|(r, &ua)| VhostUserMemoryRegionInfo {
                guest_phys_addr: r.gpa,
                memory_size: r.size,
                userspace_addr: ua,
                mmap_offset: 0,
                mmap_handle: r.file.as_raw_fd(),
            })
            .collect()
    }

    pub fn write(&self, gpa: u64, data: &[u8]) {
        self.mem
            .write_slice(data, GuestAddress(gpa))
            .expect("guest write");
    }

    pub fn read(&self, gpa: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.mem
            .read_slice(&mut v, GuestAddress(gpa))
            .expect("guest read");
        v
    }

    pub fn load_u16(&self, gpa: u64) -> u16 {
        self.mem
            .load(GuestAddress(gpa), Ordering::Acquire)
            .expect("guest load")
    }

    pub fn store_u16(&self, gpa: u64, v: u16) {
        self.mem
            .store(v, GuestAddress(gpa), Ordering::Release)
            .expect("guest store");
    }

    /// Every (address, length) chunk of the memory, 64 KiB at most.
    fn chunks(&self) -> Vec<(u64, usize)> {
        let mut v = Vec::new();
        for r in &self.regions {
            let mut at = 0;
            while at < r.size {
                let n = (64 * 1024).min(r.size - at);
                v.push((r.gpa + at, n as usize));
                at += n;
            }
        }
        v
    }

    /// Sets every byte to `b`.
    pub fn fill(&self, b: u8) {
        for (at, n) in self.chunks() {
            self.write(at, &vec![b; n]);
        }
    }

    /// Whether every byte is `b`.
    pub fn all(&self, b: u8) -> bool {
        self.chunks()
            .into_iter()
            .all(|(at, n)| self.read(at, n).iter().all(|&x| x == b))
    }

    /// New memfds with the same layout and content.
    pub fn duplicate(&self) -> GuestRam {
        let layout: Vec<(u64, u64)> = self.regions.iter().map(|r| (r.gpa, r.size)).collect();
        let new = GuestRam::with_regions(&layout);
        for (at, n) in self.chunks() {
            new.write(at, &self.read(at, n));
        }
        new
    }
}

/// The driver side of a split virtqueue in [`GuestRam`]: descriptor table,
/// avail ring (written here), used ring (read here), and a buffer of
/// [`BUF`] bytes behind each descriptor index.
#[derive(Debug)]
pub struct SplitQueue {
    /// The virtqueue index (0: the guest's receive queue, 1: transmit).
    pub index: usize,
    pub size: u16,
    /// Guest addresses of the three parts and of the buffers.
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    bufs: u64,
    /// The driver's avail index and how far it has read the used ring.
    pub next_avail: u16,
    pub last_used: u16,
    free: Vec<u16>,
    /// The descriptors of each chain in flight, by head.
    chains: Vec<Vec<u16>>,
    pub kick: EventFd,
    pub call: EventFd,
}

impl SplitQueue {
    /// A queue whose rings start at `rings` (three pages) and buffers at
    /// `bufs` (`size * BUF` bytes), both guest addresses.
    pub fn new(index: usize, size: u16, rings: u64, bufs: u64) -> SplitQueue {
        SplitQueue {
            index,
            size,
            desc: rings,
            avail: rings + 0x1000,
            used: rings + 0x2000,
            bufs,
            next_avail: 0,
            last_used: 0,
            free: (0..size).rev().collect(),
            chains: vec![Vec::new(); usize::from(size)],
            kick: EventFd::new(EFD_NONBLOCK).expect("eventfd"),
            call: EventFd::new(EFD_NONBLOCK).expect("eventfd"),
        }
    }

    /// SET_VRING_ADDR's content, with `ua` translating guest addresses to
    /// the frontend addresses the memory table announced.
    pub fn config(&self, ua: impl Fn(u64) -> u64) -> VringConfigData {
        VringConfigData {
            queue_max_size: self.size,
            queue_size: self.size,
            flags: 0,
            desc_table_addr: ua(self.desc),
            used_ring_addr: ua(self.used),
            avail_ring_addr: ua(self.avail),
            log_addr: None,
        }
    }

    /// The buffer that belongs to descriptor `i`.
    pub fn buf(&self, i: u16) -> u64 {
        self.bufs + BUF * u64::from(i)
    }

    pub fn write_desc(&self, ram: &GuestRam, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..16].copy_from_slice(&next.to_le_bytes());
        ram.write(self.desc + 16 * u64::from(i), &b);
    }

    /// The buffer address descriptor `i` holds.
    pub fn desc_addr(&self, ram: &GuestRam, i: u16) -> u64 {
        let b = ram.read(self.desc + 16 * u64::from(i), 8);
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    }

    /// Takes `n` free descriptor indices (panics when the queue is full).
    pub fn alloc(&mut self, n: usize) -> Vec<u16> {
        assert!(self.free.len() >= n, "queue {} is full", self.index);
        (0..n).map(|_| self.free.pop().expect("free")).collect()
    }

    /// Makes the chain `ids` (already written; `ids[0]` is the head)
    /// available to the device.
    pub fn offer(&mut self, ram: &GuestRam, ids: Vec<u16>) {
        let head = ids[0];
        self.chains[usize::from(head)] = ids;
        self.offer_head(ram, head);
    }

    /// Puts `head` in the avail ring and publishes the index, with no
    /// bookkeeping (a hostile head need not be a descriptor at all).
    pub fn offer_head(&mut self, ram: &GuestRam, head: u16) {
        let slot = u64::from(self.next_avail % self.size);
        ram.write(self.avail + 4 + 2 * slot, &head.to_le_bytes());
        self.next_avail = self.next_avail.wrapping_add(1);
        ram.store_u16(self.avail + 2, self.next_avail);
    }

    pub fn used_idx(&self, ram: &GuestRam) -> u16 {
        ram.load_u16(self.used + 2)
    }

    /// The next used entry (id, len), if the device returned one; its
    /// descriptors become free again.
    pub fn pop_used(&mut self, ram: &GuestRam) -> Option<(u16, u32)> {
        if self.used_idx(ram) == self.last_used {
            return None;
        }
        let slot = u64::from(self.last_used % self.size);
        let e = ram.read(self.used + 4 + 8 * slot, 8);
        self.last_used = self.last_used.wrapping_add(1);
        let id = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
        let len = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        let id = u16::try_from(id).expect("used id fits a u16");
        if let Some(chain) = self.chains.get_mut(usize::from(id)) {
            self.free.append(chain);
        }
        Some((id, len))
    }

    /// `avail->flags` (VRING_AVAIL_F_NO_INTERRUPT).
    pub fn set_avail_flags(&self, ram: &GuestRam, flags: u16) {
        ram.store_u16(self.avail, flags);
    }

    /// EVENT_IDX: interrupt me once the used index passes `idx`.
    pub fn set_used_event(&self, ram: &GuestRam, idx: u16) {
        ram.store_u16(self.avail + 4 + 2 * u64::from(self.size), idx);
    }

    /// `used->flags` (VRING_USED_F_NO_NOTIFY).
    pub fn used_flags(&self, ram: &GuestRam) -> u16 {
        ram.load_u16(self.used)
    }

    /// EVENT_IDX: the device's `avail_event`.
    pub fn avail_event(&self, ram: &GuestRam) -> u16 {
        ram.load_u16(self.used + 4 + 8 * u64::from(self.size))
    }

    /// Whether the device wrote the call eventfd since the last look.
    pub fn called(&self) -> bool {
        self.call.read().is_ok()
    }
}

/// A frame the device put in the receive queue.
#[derive(Debug)]
pub struct RxFrame {
    /// The `virtio_net_hdr` (10 or 12 bytes).
    pub hdr: Vec<u8>,
    pub frame: Vec<u8>,
    /// The used length of each buffer it took.
    pub lens: Vec<u32>,
}

impl RxFrame {
    /// The header's `num_buffers` (a 12-byte header has it).
    pub fn num_buffers(&self) -> Option<u16> {
        (self.hdr.len() == 12).then(|| u16::from_le_bytes([self.hdr[10], self.hdr[11]]))
    }
}

/// A virtio-net driver over vhost-user: the protocol connection, the
/// guest memory it shares, and queue pair 0 (receive rings at the start
/// of the memory, transmit rings 32 KiB in, buffers from 64 KiB on).
pub struct NetFrontend {
    pub fe: Frontend,
    /// The connection (a second handle, to cut it).
    sock: UnixStream,
    pub ram: GuestRam,
    /// The frontend address the memory table gives for each region of
    /// `ram` (ring addresses are sent in these).
    pub user_addrs: Vec<u64>,
    pub rx: SplitQueue,
    pub tx: SplitQueue,
    /// Protocol features asked for (those the backend offers).
    pub protocol: VhostUserProtocolFeatures,
    /// Negotiated virtio features.
    pub features: u64,
    /// `virtio_net_hdr` bytes before each frame.
    pub hdr_len: usize,
}

impl std::fmt::Debug for NetFrontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetFrontend")
            .field("ram", &self.ram)
            .field("rx", &self.rx)
            .field("tx", &self.tx)
            .field("features", &self.features)
            .finish_non_exhaustive()
    }
}

/// Dropping the frontend closes the connection (whatever other handles
/// on it are left).
impl Drop for NetFrontend {
    fn drop(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}

impl NetFrontend {
    /// Connects to a backend listening at `path`.
    pub fn connect(path: &Path) -> NetFrontend {
        NetFrontend::connect_with(path, GuestRam::new(RAM_GPA, RAM_SIZE))
    }

    /// Connects to a backend listening at `path`, with memory `ram`.
    pub fn connect_with(path: &Path, ram: GuestRam) -> NetFrontend {
        let until = Instant::now() + DEADLINE;
        let sock = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() > until => panic!("connect {}: {e}", path.display()),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        NetFrontend::from_stream(sock, ram)
    }

    /// Speaks vhost-user over `sock` (a backend that connected to us, or
    /// we to it).
    ///
    /// The `vhost` crate waits for a reply for ever (it retries reads that
    /// time out), so whoever sends requests should keep a watchdog that
    /// shuts down [`NetFrontend::connection`] when one takes too long.
    pub fn from_stream(sock: UnixStream, ram: GuestRam) -> NetFrontend {
        let base = ram.regions[0].gpa;
        NetFrontend {
            sock: sock.try_clone().expect("dup of the socket"),
            fe: Frontend::from_stream(sock, 2),
            user_addrs: ram.hosts(),
            rx: SplitQueue::new(0, QSIZE, base, base + 0x10000),
            tx: SplitQueue::new(
                1,
                QSIZE,
                base + 0x8000,
                base + 0x10000 + BUF * u64::from(QSIZE),
            ),
            ram,
            protocol: VhostUserProtocolFeatures::REPLY_ACK | VhostUserProtocolFeatures::CONFIG,
            features: 0,
            hdr_len: HDR,
        }
    }

    /// Goes on over a new connection `sock` with the same memory and
    /// rings (the old connection closes): a VMM whose backend restarted.
    /// Set up again after this.
    pub fn reconnect(&mut self, sock: UnixStream) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        self.sock = sock.try_clone().expect("dup of the socket");
        self.fe = Frontend::from_stream(sock, 2);
    }

    /// A handle on the connection: shutting it down makes a request
    /// waiting for its reply fail.
    pub fn connection(&self) -> UnixStream {
        self.sock.try_clone().expect("dup of the socket")
    }

    /// A guest address as the frontend address the memory table announced.
    pub fn ua(&self, gpa: u64) -> u64 {
        let (r, ua) = self
            .ram
            .regions
            .iter()
            .zip(&self.user_addrs)
            .find(|(r, _)| gpa >= r.gpa && gpa - r.gpa < r.size)
            .expect("a guest address in the memory");
        ua + (gpa - r.gpa)
    }

    pub fn queue(&self, q: usize) -> &SplitQueue {
        if q == 0 {
            &self.rx
        } else {
            &self.tx
        }
    }

    /// SET_OWNER, features, protocol features ([`NetFrontend::protocol`]
    /// as far as offered); every request after this asks for an ack.
    pub fn negotiate(&mut self, want: u64) -> vhost::Result<()> {
        self.fe.set_owner()?;
        let offered = self.fe.get_features()?;
        assert_eq!(want & !offered, 0, "features the port does not offer");
        if want & F_PROTOCOL_FEATURES != 0 {
            let pf = self.fe.get_protocol_features()? & self.protocol;
            self.fe.set_protocol_features(pf)?;
            self.protocol = pf;
            self.fe.set_hdr_flags(VhostUserHeaderFlag::NEED_REPLY);
        }
        self.fe.set_features(want)?;
        self.features = want;
        self.hdr_len = if want & (F_VERSION_1 | F_MRG_RXBUF) != 0 {
            12
        } else {
            10
        };
        Ok(())
    }

    /// The memory table: SET_MEM_TABLE, or with CONFIGURE_MEM_SLOTS one
    /// ADD_MEM_REG per region (as QEMU does).
    pub fn share_memory(&mut self) -> vhost::Result<()> {
        let table = self.ram.table(&self.user_addrs);
        if self
            .protocol
            .contains(VhostUserProtocolFeatures::CONFIGURE_MEM_SLOTS)
        {
            let slots = self.fe.get_max_mem_slots()?;
            assert!(table.len() as u64 <= slots);
            for r in &table {
                self.fe.add_mem_region(r)?;
            }
            Ok(())
        } else {
            self.fe.set_mem_table(&table).map(|_| ())
        }
    }

    /// SET_VRING_ADDR for queue `q` (after a new memory table moved it).
    pub fn address_queue(&mut self, q: usize) -> vhost::Result<()> {
        let cfg = self.queue(q).config(|a| self.ua(a));
        self.fe.set_vring_addr(q, &cfg)
    }

    /// SET_VRING_NUM, BASE, ADDR, CALL, KICK: the queue runs (once
    /// enabled).
    pub fn start_queue(&mut self, q: usize, base: u16) -> vhost::Result<()> {
        self.fe.set_vring_num(q, QSIZE)?;
        self.fe.set_vring_base(q, base)?;
        self.address_queue(q)?;
        self.fe.set_vring_call(q, &self.queue(q).call)?;
        self.fe.set_vring_kick(q, &self.queue(q).kick)
    }

    /// SET_VRING_ENABLE.
    pub fn enable(&mut self, q: usize, on: bool) -> vhost::Result<()> {
        self.fe.set_vring_enable(q, on)
    }

    /// GET_VRING_BASE: stops queue `q`, returns where the device stopped.
    pub fn stop_queue(&mut self, q: usize) -> vhost::Result<u32> {
        self.fe.get_vring_base(q)
    }

    /// Everything, as QEMU does it, for queue pair 0.
    pub fn setup(&mut self, want: u64) -> vhost::Result<()> {
        self.setup_from(want, [0, 0])
    }

    /// Everything, the rings starting at `bases` (SET_VRING_BASE).
    pub fn setup_from(&mut self, want: u64, bases: [u16; 2]) -> vhost::Result<()> {
        self.negotiate(want)?;
        self.share_memory()?;
        for (q, base) in bases.into_iter().enumerate() {
            self.start_queue(q, base)?;
        }
        if want & F_PROTOCOL_FEATURES != 0 {
            for q in 0..2 {
                self.enable(q, true)?;
            }
        }
        Ok(())
    }

    /// The MTU in the device's config space.
    pub fn mtu(&mut self) -> vhost::Result<u16> {
        let (_, cfg) = self
            .fe
            .get_config(10, 2, VhostUserConfigFlags::empty(), &[0u8; 2])?;
        Ok(u16::from_le_bytes([cfg[0], cfg[1]]))
    }

    /// Transmits `frame` behind a zero header, in one descriptor.
    pub fn send(&mut self, frame: &[u8]) {
        let mut b = vec![0u8; self.hdr_len];
        b.extend_from_slice(frame);
        self.send_parts(&[&b]);
    }

    /// Transmits a chain of one read-only descriptor per part (the
    /// header's bytes included in the parts).
    pub fn send_parts(&mut self, parts: &[&[u8]]) {
        self.reap_tx();
        let ids = self.tx.alloc(parts.len());
        for (k, (&id, part)) in ids.iter().zip(parts).enumerate() {
            assert!(part.len() as u64 <= BUF);
            self.ram.write(self.tx.buf(id), part);
            let (flags, next) = match ids.get(k + 1) {
                Some(&n) => (VRING_DESC_F_NEXT, n),
                None => (0, 0),
            };
            self.tx.write_desc(
                &self.ram,
                id,
                self.tx.buf(id),
                part.len() as u32,
                flags,
                next,
            );
        }
        self.tx.offer(&self.ram, ids);
    }

    /// Transmits a chain of descriptors as given: (address, length,
    /// flags), NEXT added between them. The caller wrote the buffers.
    pub fn send_descs(&mut self, descs: &[(u64, u32, u16)]) {
        self.reap_tx();
        let ids = self.tx.alloc(descs.len());
        for (k, &(addr, len, flags)) in descs.iter().enumerate() {
            let (more, next) = match ids.get(k + 1) {
                Some(&n) => (VRING_DESC_F_NEXT, n),
                None => (0, 0),
            };
            self.tx
                .write_desc(&self.ram, ids[k], addr, len, flags | more, next);
        }
        self.tx.offer(&self.ram, ids);
    }

    /// Frees the transmit chains the device is done with; how many.
    pub fn reap_tx(&mut self) -> usize {
        let mut n = 0;
        while self.tx.pop_used(&self.ram).is_some() {
            n += 1;
        }
        n
    }

    /// Posts `n` receive buffers of `len` bytes each.
    pub fn post_rx(&mut self, n: usize, len: u32) {
        assert!(u64::from(len) <= BUF);
        for _ in 0..n {
            let id = self.rx.alloc(1)[0];
            self.post_rx_at(self.rx.buf(id), len, id);
        }
    }

    /// Posts one receive buffer at `addr` as descriptor `id` (taken with
    /// [`SplitQueue::alloc`]).
    pub fn post_rx_at(&mut self, addr: u64, len: u32, id: u16) {
        self.rx
            .write_desc(&self.ram, id, addr, len, VRING_DESC_F_WRITE, 0);
        self.rx.offer(&self.ram, vec![id]);
    }

    /// The next frame the device delivered, over as many buffers as its
    /// header's `num_buffers` says (with MRG_RXBUF).
    pub fn recv(&mut self) -> Option<RxFrame> {
        let h = self.hdr_len;
        let (id, len) = self.rx.pop_used(&self.ram)?;
        assert!(len as usize >= h, "a used receive buffer without a header");
        let first = self
            .ram
            .read(self.rx.desc_addr(&self.ram, id), len as usize);
        let mut r = RxFrame {
            hdr: first[..h].to_vec(),
            frame: first[h..].to_vec(),
            lens: vec![len],
        };
        let bufs = if self.features & F_MRG_RXBUF != 0 {
            r.num_buffers().expect("a 12-byte header")
        } else {
            1
        };
        for _ in 1..bufs {
            let (id, len) = self
                .rx
                .pop_used(&self.ram)
                .expect("num_buffers counts more buffers than the device used");
            let more = self
                .ram
                .read(self.rx.desc_addr(&self.ram, id), len as usize);
            r.frame.extend_from_slice(&more);
            r.lens.push(len);
        }
        Some(r)
    }
}

// ---------------------------------------------------------------------
// The switch side: the port, driven from the test thread.
// ---------------------------------------------------------------------

/// The port under test and what a PMD would hold for it.
struct Switch {
    port: VhostUserPort,
    pool: PacketPool,
    batch: Batch,
    /// The frontends' connections, cut when a request hangs.
    watched: Vec<UnixStream>,
}

impl Switch {
    fn open(mode: VhostMode) -> Switch {
        Switch::with_pool(mode, 256)
    }

    /// With a pool of `packets` buffers.
    fn with_pool(mode: VhostMode, packets: usize) -> Switch {
        let port = VhostUserPort::open(
            "vhu0",
            VhostUserConfig {
                mode,
                queue_pairs: 1,
                mtu: MTU,
            },
        )
        .expect("open the port");
        Switch {
            port,
            pool: PacketPool::new(packets, 2048),
            batch: Batch::new(),
            watched: Vec::new(),
        }
    }

    /// Cuts `fe`'s connection if a request in [`Switch::serve`] hangs.
    fn watch(&mut self, fe: &NetFrontend) {
        self.watched.push(fe.connection());
    }

    /// A frontend connected to the port's socket (server mode).
    fn connect(&mut self, path: &Path) -> NetFrontend {
        self.connect_with(path, GuestRam::new(RAM_GPA, RAM_SIZE))
    }

    fn connect_with(&mut self, path: &Path, ram: GuestRam) -> NetFrontend {
        let fe = NetFrontend::connect_with(path, ram);
        self.watch(&fe);
        fe
    }

    /// A frontend on the connection the port made (client mode).
    fn adopt(&mut self, sock: UnixStream) -> NetFrontend {
        let fe = NetFrontend::from_stream(sock, GuestRam::new(RAM_GPA, RAM_SIZE));
        self.watch(&fe);
        fe
    }

    /// One PMD turn with nothing to send: takes up what the control
    /// thread published.
    fn poll(&mut self) {
        let mut none = Vec::new();
        self.port.tx_burst(&mut none, &mut self.pool);
    }

    /// Runs `f` (requests to the port) on a helper thread while this one
    /// keeps polling the port, so that the control thread's waits for the
    /// data path end as they would with a PMD. A request without an answer
    /// after [`DEADLINE`] has its connection cut, and the test fails.
    fn serve<T: Send>(&mut self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            let h = s.spawn(f);
            let t0 = Instant::now();
            let mut cut = false;
            while !h.is_finished() {
                if !cut && t0.elapsed() > DEADLINE {
                    for c in &self.watched {
                        let _ = c.shutdown(std::net::Shutdown::Both);
                    }
                    cut = true;
                }
                self.poll();
                std::thread::yield_now();
            }
            let v = match h.join() {
                Ok(v) => v,
                Err(e) => std::panic::resume_unwind(e),
            };
            assert!(!cut, "a request got no answer in {DEADLINE:?}");
            v
        })
    }

    /// Polls until `cond` holds.
    fn until(&mut self, what: &str, mut cond: impl FnMut(&mut Switch) -> bool) {
        let t0 = Instant::now();
        while !cond(self) {
            assert!(t0.elapsed() < DEADLINE, "timed out waiting for {what}");
            self.poll();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// One receive burst: the frames the guest transmitted.
    fn receive(&mut self) -> Vec<Vec<u8>> {
        self.port.rx_burst(&mut self.batch, &mut self.pool);
        let v = self
            .batch
            .packets()
            .iter()
            .map(|p| p.data().to_vec())
            .collect();
        self.pool.put_batch(&mut self.batch);
        v
    }

    /// Bursts until `n` frames came (and checks no more come).
    fn receive_n(&mut self, n: usize) -> Vec<Vec<u8>> {
        let t0 = Instant::now();
        let mut v = Vec::new();
        while v.len() < n {
            assert!(
                t0.elapsed() < DEADLINE,
                "received {} frames of {n}: {:?}",
                v.len(),
                self.port.details()
            );
            v.extend(self.receive());
        }
        assert_eq!(v.len(), n, "more frames than sent");
        assert!(self.receive().is_empty(), "more frames than sent");
        v
    }

    /// One transmit burst of `frames` to the guest.
    fn send(&mut self, frames: &[Vec<u8>]) {
        let mut pkts: Vec<Packet> = frames
            .iter()
            .map(|f| {
                let mut p = self.pool.get().expect("a packet");
                assert!(p.set_frame(f));
                p
            })
            .collect();
        self.port.tx_burst(&mut pkts, &mut self.pool);
        assert!(pkts.is_empty(), "tx_burst takes every packet");
    }

    /// Packets dropped for `f`.
    fn dropped(&self, f: Fault) -> u64 {
        self.port.shared().faults[f as usize].load(Ordering::Relaxed)
    }

    /// A line of `details()`.
    fn detail(&self, key: &str) -> Option<String> {
        self.port
            .details()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    fn status(&self) -> String {
        self.detail("status").unwrap_or_default()
    }
}

/// A directory of its own for a test's socket, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rvs-vhost-fe-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn sock(&self) -> PathBuf {
        self.0.join("vhu0.sock")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An Ethernet frame of `len` bytes that says `tag` and `seq` in its
/// payload (so frames from different phases of a test differ).
fn frame(tag: u8, seq: u16, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    for (i, b) in f[14..].iter_mut().enumerate() {
        *b = tag ^ (seq as u8) ^ (i as u8).wrapping_mul(7);
    }
    f[14] = tag;
    f[15..17].copy_from_slice(&seq.to_be_bytes());
    f
}

const BASIC: u64 = F_VERSION_1 | F_MRG_RXBUF | F_PROTOCOL_FEATURES;

/// A server-mode port with a frontend set up with `features`.
fn connected(dir: &TempDir, features: u64) -> (Switch, NetFrontend) {
    let mut sw = Switch::open(VhostMode::Server(dir.sock()));
    assert!(!sw.port.link_up(), "no frontend yet");
    let mut fe = sw.connect(&dir.sock());
    sw.serve(|| fe.setup(features)).expect("set up the device");
    assert!(sw.port.link_up(), "link up once the queues run");
    (sw, fe)
}

/// Frames both ways with tag `tag`: `n` from the guest, `n` to it.
fn traffic(sw: &mut Switch, fe: &mut NetFrontend, tag: u8, n: u16) {
    let sent: Vec<Vec<u8>> = (0..n)
        .map(|i| frame(tag, i, 60 + 37 * usize::from(i)))
        .collect();
    for f in &sent {
        fe.send(f);
    }
    assert_eq!(sw.receive_n(sent.len()), sent, "guest to port, tag {tag}");
    assert_eq!(fe.reap_tx(), sent.len());
    fe.post_rx(usize::from(n), 2048);
    let out: Vec<Vec<u8>> = (0..n)
        .map(|i| frame(tag ^ 0x80, i, 64 + 29 * usize::from(i)))
        .collect();
    sw.send(&out);
    for f in &out {
        let r = fe.recv().expect("a frame for the guest");
        assert_eq!(&r.frame, f, "port to guest, tag {tag}");
    }
    assert!(fe.recv().is_none());
}

// ---------------------------------------------------------------------
// 1. Frames both ways.
// ---------------------------------------------------------------------

fn frames_both_ways(event_idx: bool) {
    let dir = TempDir::new("both");
    let features = BASIC | if event_idx { F_EVENT_IDX } else { 0 };
    let (mut sw, mut fe) = connected(&dir, features);
    assert_eq!(sw.serve(|| fe.mtu()).expect("GET_CONFIG"), MTU);
    let want_names = if event_idx {
        "VERSION_1 MRG_RXBUF EVENT_IDX PROTOCOL_FEATURES"
    } else {
        "VERSION_1 MRG_RXBUF PROTOCOL_FEATURES"
    };
    assert_eq!(sw.detail("features").as_deref(), Some(want_names));
    assert_eq!(
        sw.detail("protocol_features").as_deref(),
        Some("REPLY_ACK CONFIG")
    );

    // Guest to port: single descriptors, and one frame whose header is
    // split 8 + 4 and whose data spans two more descriptors.
    let sent: Vec<Vec<u8>> = [60usize, 61, 1514, 200]
        .iter()
        .enumerate()
        .map(|(i, &len)| frame(1, i as u16, len))
        .collect();
    fe.send(&sent[0]);
    fe.send(&sent[1]);
    fe.send(&sent[2]);
    let hdr = [0u8; HDR];
    fe.send_parts(&[&hdr[..8], &hdr[8..], &sent[3][..100], &sent[3][100..]]);
    let got = sw.receive_n(sent.len());
    assert_eq!(got, sent, "rx_burst returns exactly the frames sent");
    assert_eq!(fe.tx.used_idx(&fe.ram), 4, "every chain returned");
    assert_eq!(fe.reap_tx(), 4);
    assert!(fe.tx.called(), "the guest is told its transmits are done");
    // The port polls, so it asks the driver not to kick.
    if event_idx {
        assert_eq!(fe.tx.avail_event(&fe.ram), 3, "avail_event one behind");
    } else {
        assert_ne!(fe.tx.used_flags(&fe.ram) & VRING_USED_F_NO_NOTIFY, 0);
    }

    // Port to guest, into 1024-byte buffers: frames over 1012 bytes take
    // two (num_buffers 2).
    fe.post_rx(10, 1024);
    let out: Vec<Vec<u8>> = [60usize, 1000, 1012, 1013, 1514]
        .iter()
        .enumerate()
        .map(|(i, &len)| frame(2, i as u16, len))
        .collect();
    sw.send(&out);
    for f in &out {
        let r = fe.recv().expect("the frame reached the guest");
        assert_eq!(&r.frame, f);
        let total = (HDR + f.len()) as u32;
        let want_lens: Vec<u32> = if total <= 1024 {
            vec![total]
        } else {
            vec![1024, total - 1024]
        };
        assert_eq!(
            r.lens,
            want_lens,
            "used lengths of a {}-byte frame",
            f.len()
        );
        assert_eq!(r.num_buffers(), Some(want_lens.len() as u16));
        assert_eq!(&r.hdr[..10], &[0u8; 10], "no offloads in the header");
    }
    assert!(fe.recv().is_none());
    assert!(fe.rx.called(), "the guest is told frames arrived");

    // Interrupts only as the driver asked.
    fe.post_rx(4, 2048);
    if event_idx {
        // "Tell me once the used index passes last_used + 1": not after
        // one more frame, but after two.
        fe.rx
            .set_used_event(&fe.ram, fe.rx.last_used.wrapping_add(1));
        sw.send(&[frame(3, 0, 60)]);
        assert!(!fe.rx.called(), "EVENT_IDX: too early to interrupt");
        sw.send(&[frame(3, 1, 60)]);
        assert!(fe.rx.called(), "EVENT_IDX: used_event crossed");
    } else {
        fe.rx.set_avail_flags(&fe.ram, VRING_AVAIL_F_NO_INTERRUPT);
        sw.send(&[frame(3, 0, 60)]);
        assert!(!fe.rx.called(), "NO_INTERRUPT is honoured");
        fe.rx.set_avail_flags(&fe.ram, 0);
        sw.send(&[frame(3, 1, 60)]);
        assert!(fe.rx.called());
    }
    assert_eq!(fe.recv().expect("frame").frame, frame(3, 0, 60));
    assert_eq!(fe.recv().expect("frame").frame, frame(3, 1, 60));

    let st = sw.port.stats();
    assert_eq!((st.rx_packets, st.rx_dropped), (4, 0));
    assert_eq!((st.tx_packets, st.tx_dropped), (7, 0));
    assert_eq!(
        sw.detail("queue 1 (rx of pair 0)").as_deref(),
        Some(format!("4 packets, {} bytes", 60 + 61 + 1514 + 200).as_str())
    );
    for f in Fault::ALL {
        assert_eq!(sw.dropped(f), 0, "no drops ({})", f.name());
    }
}

#[test]
fn frames_cross_both_ways() {
    frames_both_ways(false);
}

#[test]
fn frames_cross_both_ways_with_event_idx() {
    frames_both_ways(true);
}

// ---------------------------------------------------------------------
// 2. A new memory table while running.
// ---------------------------------------------------------------------

#[test]
fn a_new_memory_table_moves_the_data_path_to_the_new_memory() {
    let dir = TempDir::new("memtable");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    traffic(&mut sw, &mut fe, 0x10, 3);

    // The same frontend addresses, a new memfd behind them (as when a VMM
    // re-sends its table with new backing): the rings keep running, from
    // the new memory.
    let new = fe.ram.duplicate();
    let old = std::mem::replace(&mut fe.ram, new);
    sw.serve(|| fe.share_memory()).expect("SET_MEM_TABLE");
    // Anything read from the old memory now is garbage (an avail index
    // far ahead breaks the queue), anything written to it shows.
    old.fill(0xa5);
    assert!(sw.port.link_up());
    traffic(&mut sw, &mut fe, 0x20, 4);
    assert!(old.all(0xa5), "the port wrote into the old memory");

    // A new memfd mapped elsewhere (`old` stays mapped, so the address
    // differs): the frontend announces the new address and re-addresses
    // its rings, which start again where they were.
    let first = old;
    let new = fe.ram.duplicate();
    let old = std::mem::replace(&mut fe.ram, new);
    assert_ne!(fe.ram.hosts(), fe.user_addrs);
    fe.user_addrs = fe.ram.hosts();
    sw.serve(|| {
        fe.share_memory()?;
        fe.address_queue(0)?;
        fe.address_queue(1)
    })
    .expect("SET_MEM_TABLE and SET_VRING_ADDR");
    old.fill(0x5a);
    assert!(sw.port.link_up());
    traffic(&mut sw, &mut fe, 0x30, 5);
    assert!(old.all(0x5a), "the port wrote into the old memory");
    assert!(first.all(0xa5), "the port wrote into the first memory");

    for f in Fault::ALL {
        assert_eq!(sw.dropped(f), 0, "no drops ({})", f.name());
    }
}

// ---------------------------------------------------------------------
// 3. Queues disabled and enabled at run time.
// ---------------------------------------------------------------------

#[test]
fn a_disabled_queue_is_left_alone_until_enabled_again() {
    let dir = TempDir::new("enable");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    traffic(&mut sw, &mut fe, 0x10, 2);

    // The guest's transmit queue.
    sw.serve(|| fe.enable(1, false)).expect("disable queue 1");
    let sent: Vec<Vec<u8>> = (0..3).map(|i| frame(0x20, i, 80)).collect();
    for f in &sent {
        fe.send(f);
    }
    for _ in 0..10 {
        assert!(sw.receive().is_empty(), "a disabled queue is not polled");
    }
    assert_eq!(fe.tx.used_idx(&fe.ram), 2, "nothing taken while disabled");
    sw.serve(|| fe.enable(1, true)).expect("enable queue 1");
    assert_eq!(
        sw.receive_n(3),
        sent,
        "the frames posted meanwhile come through"
    );
    assert_eq!(fe.reap_tx(), 3);

    // The guest's receive queue: frames for it are dropped as
    // queue_not_ready, and no buffer is used.
    fe.post_rx(4, 2048);
    sw.serve(|| fe.enable(0, false)).expect("disable queue 0");
    let used = fe.rx.used_idx(&fe.ram);
    sw.send(&[frame(0x30, 0, 60), frame(0x30, 1, 60), frame(0x30, 2, 60)]);
    assert_eq!(sw.dropped(Fault::NotReady), 3);
    assert_eq!(sw.port.stats().tx_dropped, 3);
    assert_eq!(fe.rx.used_idx(&fe.ram), used, "no buffer consumed");
    assert!(fe.recv().is_none());
    sw.serve(|| fe.enable(0, true)).expect("enable queue 0");
    let out = vec![frame(0x40, 0, 70), frame(0x40, 1, 71)];
    sw.send(&out);
    assert_eq!(fe.recv().expect("frame").frame, out[0]);
    assert_eq!(fe.recv().expect("frame").frame, out[1]);
    assert!(fe.recv().is_none());
    assert_eq!(sw.dropped(Fault::NotReady), 3);
    traffic(&mut sw, &mut fe, 0x50, 2);
}

// ---------------------------------------------------------------------
// 4. GET_VRING_BASE stops a ring; SET_VRING_BASE + KICK restarts it.
// ---------------------------------------------------------------------

#[test]
fn get_vring_base_stops_a_ring_where_it_stopped_and_it_restarts_there() {
    let dir = TempDir::new("base");
    let (mut sw, mut fe) = connected(&dir, BASIC);

    // Transmit queue: 40 frames posted, one burst takes 32.
    let sent: Vec<Vec<u8>> = (0..40)
        .map(|i| frame(0x10, i, 60 + usize::from(i)))
        .collect();
    for f in &sent {
        fe.send(f);
    }
    assert_eq!(sw.receive(), sent[..32].to_vec());
    let base = sw.serve(|| fe.stop_queue(1)).expect("GET_VRING_BASE 1");
    assert_eq!(base, 32, "where the port stopped");
    for _ in 0..10 {
        assert!(sw.receive().is_empty(), "a stopped ring is not polled");
    }
    assert_eq!(fe.tx.used_idx(&fe.ram), 32);
    sw.serve(|| {
        fe.fe.set_vring_base(1, base as u16)?;
        fe.fe.set_vring_call(1, &fe.tx.call)?;
        fe.fe.set_vring_kick(1, &fe.tx.kick)
    })
    .expect("restart queue 1");
    assert_eq!(
        sw.receive_n(8),
        sent[32..].to_vec(),
        "from where it stopped"
    );
    assert_eq!(fe.reap_tx(), 40);

    // Receive queue: 3 frames use 3 buffers of 5.
    fe.post_rx(5, 2048);
    let out: Vec<Vec<u8>> = (0..3).map(|i| frame(0x20, i, 100)).collect();
    sw.send(&out);
    let base = sw.serve(|| fe.stop_queue(0)).expect("GET_VRING_BASE 0");
    assert_eq!(base, 3, "buffers the port used");
    sw.send(&[frame(0x30, 0, 100)]);
    assert_eq!(
        sw.dropped(Fault::NotReady),
        1,
        "a stopped ring takes nothing"
    );
    assert_eq!(fe.rx.used_idx(&fe.ram), 3);
    sw.serve(|| {
        fe.fe.set_vring_base(0, base as u16)?;
        fe.fe.set_vring_call(0, &fe.rx.call)?;
        fe.fe.set_vring_kick(0, &fe.rx.kick)
    })
    .expect("restart queue 0");
    let more = vec![frame(0x40, 0, 90), frame(0x40, 1, 91)];
    sw.send(&more);
    for f in out.iter().chain(&more) {
        assert_eq!(&fe.recv().expect("frame").frame, f);
    }
    assert!(fe.recv().is_none());
    assert_eq!(
        fe.rx.used_idx(&fe.ram),
        5,
        "the 4th and 5th buffers, in order"
    );
    traffic(&mut sw, &mut fe, 0x50, 3);
}

// ---------------------------------------------------------------------
// 5. Disconnect and reconnect.
// ---------------------------------------------------------------------

/// The frontend goes away: the link goes down and frames for the guest
/// are dropped as queue_not_ready.
fn goes_down(sw: &mut Switch, fe: NetFrontend) {
    drop(fe);
    sw.until("the link to go down", |sw| !sw.port.link_up());
    let before = sw.dropped(Fault::NotReady);
    let dropped = sw.port.stats().tx_dropped;
    sw.send(&[frame(0x77, 0, 60), frame(0x77, 1, 60)]);
    assert_eq!(sw.dropped(Fault::NotReady), before + 2);
    assert_eq!(sw.port.stats().tx_dropped, dropped + 2);
    assert!(sw.receive().is_empty());
}

#[test]
fn server_mode_serves_a_new_frontend_after_a_disconnect() {
    let dir = TempDir::new("server");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    traffic(&mut sw, &mut fe, 0x10, 3);
    goes_down(&mut sw, fe);
    sw.until("the port to wait for a frontend", |sw| {
        sw.status().contains("waiting for it")
    });

    let mut fe = sw.connect(&dir.sock());
    sw.serve(|| fe.setup(BASIC)).expect("set up again");
    assert!(sw.port.link_up());
    traffic(&mut sw, &mut fe, 0x20, 3);
    drop(fe);
    drop(sw);
    assert!(!dir.sock().exists(), "the port removes its socket");
}

/// The frontend reconnects with the memory and rings it had (a VMM after
/// the switch restarted, or DPDK's virtio-user): the frames it posted
/// meanwhile come through once, none of those already taken again. QEMU
/// sends the base it knows; virtio-user sends 0.
fn reconnects_with_its_rings(base_known: bool) {
    let dir = TempDir::new("same-rings");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    traffic(&mut sw, &mut fe, 0x10, 3);
    fe.post_rx(4, 2048);
    fe.reconnect(UnixStream::connect(dir.sock()).expect("connect"));
    sw.watch(&fe);
    let sent: Vec<Vec<u8>> = (0..2).map(|i| frame(0x20, i, 90)).collect();
    for f in &sent {
        fe.send(f);
    }
    let bases = if base_known {
        [fe.rx.used_idx(&fe.ram), fe.tx.used_idx(&fe.ram)]
    } else {
        [0, 0]
    };
    sw.serve(|| fe.setup_from(BASIC, bases))
        .expect("set up again");
    assert!(sw.port.link_up());
    assert_eq!(sw.receive_n(2), sent, "only the frames posted meanwhile");
    let out: Vec<Vec<u8>> = (0..4).map(|i| frame(0x30, i, 100)).collect();
    sw.send(&out);
    for f in &out {
        assert_eq!(
            &fe.recv().expect("a frame").frame,
            f,
            "into the buffers posted before"
        );
    }
    assert!(fe.recv().is_none());
    traffic(&mut sw, &mut fe, 0x40, 3);
}

#[test]
fn a_frontend_reconnecting_with_its_rings_and_their_base_carries_on() {
    reconnects_with_its_rings(true);
}

#[test]
fn a_frontend_reconnecting_with_its_rings_and_base_0_carries_on() {
    reconnects_with_its_rings(false);
}

/// Accepts the port's connection within the deadline.
fn accept(l: &UnixListener) -> UnixStream {
    l.set_nonblocking(true).expect("non-blocking");
    let t0 = Instant::now();
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(t0.elapsed() < DEADLINE, "the port did not connect");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn client_mode_reconnects_when_the_frontend_listens_again() {
    let dir = TempDir::new("client");
    let listener = UnixListener::bind(dir.sock()).expect("listen");
    let mut sw = Switch::open(VhostMode::Client(dir.sock()));
    let mut fe = sw.adopt(accept(&listener));
    sw.serve(|| fe.setup(BASIC)).expect("set up");
    assert!(sw.port.link_up());
    traffic(&mut sw, &mut fe, 0x10, 3);

    // The frontend goes away altogether (a VMM restarting).
    drop(listener);
    std::fs::remove_file(dir.sock()).expect("remove the socket");
    goes_down(&mut sw, fe);
    sw.until("the port to retry", |sw| sw.status().contains("retrying"));

    let listener = UnixListener::bind(dir.sock()).expect("listen again");
    let mut fe = sw.adopt(accept(&listener));
    sw.serve(|| fe.setup(BASIC)).expect("set up again");
    assert!(sw.port.link_up());
    traffic(&mut sw, &mut fe, 0x20, 3);

    // A frontend that only drops the connection: the port is back at once.
    goes_down(&mut sw, fe);
    let mut fe = sw.adopt(accept(&listener));
    sw.serve(|| fe.setup(BASIC)).expect("set up a third time");
    traffic(&mut sw, &mut fe, 0x30, 3);
}

// ---------------------------------------------------------------------
// 6. A hostile frontend.
// ---------------------------------------------------------------------

#[test]
fn malformed_transmits_are_dropped_by_reason_and_the_port_goes_on() {
    let dir = TempDir::new("hostile-tx");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    let end = RAM_GPA + RAM_SIZE;
    let mut good = 0u16;
    let mut next_good = |fe: &mut NetFrontend| {
        good += 1;
        let f = frame(0x60, good, 64);
        fe.send(&f);
        f
    };

    // Each bad chain is dropped under its reason, returned to the used
    // ring, and the good frame behind it comes through.
    let spare = fe.tx.buf(0) + BUF * u64::from(QSIZE);
    type Offer = Box<dyn Fn(&mut NetFrontend)>;
    let cases: Vec<(Fault, Offer)> = vec![
        (
            Fault::BadAddress,
            Box::new(move |fe| fe.send_descs(&[(end + 0x1000, 100, 0)])),
        ),
        (
            Fault::BadAddress,
            Box::new(move |fe| fe.send_descs(&[(end - 50, 100, 0)])),
        ),
        (
            Fault::BadAddress,
            Box::new(move |fe| fe.send_descs(&[(0x1000, 100, 0)])),
        ),
        (
            Fault::BadAddress,
            Box::new(move |fe| fe.send_descs(&[(u64::MAX - 10, 100, 0)])),
        ),
        (
            Fault::ChainTooLong,
            Box::new(move |fe| {
                // a -> b -> a -> ...
                fe.reap_tx();
                let ids = fe.tx.alloc(2);
                let (a, b) = (ids[0], ids[1]);
                fe.tx
                    .write_desc(&fe.ram, a, spare, 12, VRING_DESC_F_NEXT, b);
                fe.tx
                    .write_desc(&fe.ram, b, spare + 64, 20, VRING_DESC_F_NEXT, a);
                fe.tx.offer(&fe.ram, ids);
            }),
        ),
        (
            Fault::ChainTooLong,
            Box::new(move |fe| {
                // A descriptor that is its own next.
                fe.reap_tx();
                let ids = fe.tx.alloc(1);
                fe.tx
                    .write_desc(&fe.ram, ids[0], spare, 0, VRING_DESC_F_NEXT, ids[0]);
                fe.tx.offer(&fe.ram, ids);
            }),
        ),
        (
            Fault::WrongDirection,
            Box::new(move |fe| fe.send_descs(&[(spare, 100, VRING_DESC_F_WRITE)])),
        ),
        (
            Fault::WrongDirection,
            Box::new(move |fe| {
                fe.send_descs(&[(spare, 12, 0), (spare + 64, 60, VRING_DESC_F_WRITE)])
            }),
        ),
        (
            Fault::ShortHeader,
            Box::new(move |fe| fe.send_descs(&[(spare, 8, 0)])),
        ),
        (
            Fault::ShortHeader,
            Box::new(move |fe| fe.send_descs(&[(spare, 4, 0), (spare + 64, 4, 0)])),
        ),
        (
            Fault::BadLength,
            Box::new(move |fe| fe.send_descs(&[(spare, 12 + 10, 0)])),
        ),
        (
            Fault::BadLength,
            Box::new(move |fe| fe.send_descs(&[(spare, 12 + 3000, 0)])),
        ),
        (
            Fault::Indirect,
            Box::new(move |fe| fe.send_descs(&[(spare, 16, VRING_DESC_F_INDIRECT)])),
        ),
        (
            Fault::BadDescIndex,
            Box::new(move |fe| fe.tx.offer_head(&fe.ram, QSIZE + 3)),
        ),
        (
            Fault::BadDescIndex,
            Box::new(move |fe| {
                fe.reap_tx();
                let ids = fe.tx.alloc(1);
                fe.tx
                    .write_desc(&fe.ram, ids[0], spare, 12, VRING_DESC_F_NEXT, 999);
                fe.tx.offer(&fe.ram, ids);
            }),
        ),
    ];
    for (k, (fault, bad)) in cases.iter().enumerate() {
        let before = sw.dropped(*fault);
        let used = fe.tx.used_idx(&fe.ram);
        bad(&mut fe);
        let f = next_good(&mut fe);
        assert_eq!(
            sw.receive_n(1),
            vec![f],
            "case {k}: the good frame after it"
        );
        assert_eq!(sw.dropped(*fault), before + 1, "case {k}: {}", fault.name());
        assert_eq!(
            fe.tx.used_idx(&fe.ram),
            used.wrapping_add(2),
            "case {k}: both chains returned"
        );
        let shown = sw.detail(&format!("dropped ({})", fault.name()));
        assert_eq!(
            shown,
            Some((before + 1).to_string()),
            "case {k}: in details()"
        );
    }
    let total: u64 = Fault::ALL.iter().map(|&f| sw.dropped(f)).sum();
    assert_eq!(total, cases.len() as u64, "each bad chain counted once");
    assert_eq!(sw.port.stats().rx_dropped, cases.len() as u64);
    assert_eq!(sw.port.stats().rx_packets, cases.len() as u64);
    traffic(&mut sw, &mut fe, 0x70, 3);
}

#[test]
fn a_read_only_receive_buffer_is_refused_and_nothing_is_written() {
    let dir = TempDir::new("hostile-rx");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    let ids = fe.rx.alloc(1);
    let buf = fe.rx.buf(ids[0]);
    fe.ram.write(buf, &[0xcc; 256]);
    fe.rx.write_desc(&fe.ram, ids[0], buf, 256, 0, 0);
    fe.rx.offer(&fe.ram, ids);
    sw.send(&[frame(0x10, 0, 60)]);
    assert_eq!(sw.dropped(Fault::WrongDirection), 1);
    assert_eq!(sw.detail("dropped (wrong_direction)").as_deref(), Some("1"));
    assert_eq!(fe.ram.read(buf, 256), vec![0xcc; 256], "nothing written");
    // (The bad buffer stays at the head of the ring, so this guest gets
    // nothing more until it resets the queue, as with vhost-net and DPDK.)
    // The guest's other direction is unaffected.
    let f = frame(0x20, 0, 60);
    fe.send(&f);
    assert_eq!(sw.receive_n(1), vec![f]);
}

/// SET_MEM_TABLE with `regions`, which must be refused with an error
/// reply (REPLY_ACK) and change nothing.
fn refused_table(
    sw: &mut Switch,
    fe: &mut NetFrontend,
    what: &str,
    regions: &[VhostUserMemoryRegionInfo],
) {
    let r = sw.serve(|| fe.fe.set_mem_table(regions));
    assert!(r.is_err(), "{what}: accepted");
    assert!(sw.port.link_up(), "{what}: the old table stays");
}

#[test]
fn bad_memory_tables_get_an_error_and_change_nothing() {
    let dir = TempDir::new("hostile-mem");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    traffic(&mut sw, &mut fe, 0x10, 2);

    let other = GuestRam::new(RAM_GPA + RAM_SIZE / 2, RAM_SIZE);
    let mut overlapping = fe.ram.table(&fe.user_addrs);
    overlapping.extend(other.table(&other.hosts()));
    refused_table(&mut sw, &mut fe, "overlapping regions", &overlapping);
    traffic(&mut sw, &mut fe, 0x20, 2);

    let not_memory = EventFd::new(0).expect("eventfd");
    let mut unmappable = fe.ram.table(&fe.user_addrs);
    unmappable[0].mmap_handle = not_memory.as_raw_fd();
    refused_table(&mut sw, &mut fe, "an fd that cannot be mapped", &unmappable);
    traffic(&mut sw, &mut fe, 0x30, 2);

    // Ring sizes that are not a power of two are refused too.
    let r = sw.serve(|| fe.fe.set_vring_num(1, 48));
    assert!(r.is_err(), "queue size 48 accepted");
    traffic(&mut sw, &mut fe, 0x40, 2);

    // A ring outside the memory does not run (and nothing breaks); put
    // back, it runs from where it was.
    let mut cfg = fe.tx.config(|a| fe.ua(a));
    cfg.avail_ring_addr = fe.user_addrs[0] + RAM_SIZE;
    sw.serve(|| fe.fe.set_vring_addr(1, &cfg))
        .expect("SET_VRING_ADDR");
    let f = frame(0x50, 0, 60);
    fe.send(&f);
    for _ in 0..10 {
        assert!(sw.receive().is_empty(), "a ring outside the memory runs");
    }
    sw.serve(|| fe.address_queue(1)).expect("SET_VRING_ADDR");
    assert_eq!(sw.receive_n(1), vec![f]);
    traffic(&mut sw, &mut fe, 0x60, 2);
}

#[test]
fn a_garbage_message_closes_the_connection_and_the_port_serves_the_next() {
    let dir = TempDir::new("hostile-msg");
    let (mut sw, fe) = connected(&dir, BASIC);
    goes_down(&mut sw, fe);

    // An unknown request code: the port hangs up.
    let mut raw = UnixStream::connect(dir.sock()).expect("connect");
    raw.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut msg = Vec::new();
    msg.extend_from_slice(&9999u32.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    raw.write_all(&msg).expect("write");
    let mut buf = [0u8; 64];
    let n = sw.serve(|| raw.read(&mut buf));
    assert!(
        matches!(n, Ok(0)),
        "the port should close the connection: {n:?}"
    );
    sw.until("the port to close it", |sw| {
        sw.status().contains("protocol error")
    });

    // A connection that closes half-way through a message.
    let mut raw = UnixStream::connect(dir.sock()).expect("connect");
    raw.write_all(&msg[..5]).expect("write");
    drop(raw);

    // The control thread is alive: a proper frontend gets served.
    let mut fe = sw.connect(&dir.sock());
    sw.serve(|| fe.setup(BASIC))
        .expect("set up after the garbage");
    traffic(&mut sw, &mut fe, 0x10, 3);
}

// ---------------------------------------------------------------------
// Other frontends: headers, memory layouts, region by region.
// ---------------------------------------------------------------------

#[test]
fn without_mrg_rxbuf_a_frame_must_fit_one_buffer() {
    let dir = TempDir::new("no-mrg");
    let (mut sw, mut fe) = connected(&dir, F_VERSION_1 | F_PROTOCOL_FEATURES);
    traffic(&mut sw, &mut fe, 0x10, 3);
    fe.post_rx(2, 512);
    let used = fe.rx.used_idx(&fe.ram);
    sw.send(&[frame(0x20, 0, 501)]);
    assert_eq!(
        sw.dropped(Fault::BadLength),
        1,
        "12 + 501 bytes do not fit 512"
    );
    assert_eq!(fe.rx.used_idx(&fe.ram), used, "the buffer stays posted");
    let f = frame(0x20, 1, 500);
    sw.send(std::slice::from_ref(&f));
    let r = fe.recv().expect("a frame that fits");
    assert_eq!(r.frame, f);
    assert_eq!(r.lens, vec![512]);
    assert_eq!(r.num_buffers(), Some(1), "VERSION_1: num_buffers is 1");
    traffic(&mut sw, &mut fe, 0x30, 3);
}

#[test]
fn a_legacy_frontend_without_protocol_features_has_a_10_byte_header() {
    let dir = TempDir::new("legacy");
    let mut sw = Switch::open(VhostMode::Server(dir.sock()));
    let mut fe = sw.connect(&dir.sock());
    // No PROTOCOL_FEATURES: no REPLY_ACK, no SET_VRING_ENABLE (rings run
    // once kicked), and nothing to wait for but the link.
    sw.serve(|| fe.setup(0)).expect("set up");
    assert_eq!(fe.hdr_len, 10);
    sw.until("the link to come up", |sw| sw.port.link_up());
    assert_eq!(sw.detail("features").as_deref(), Some("none"));
    traffic(&mut sw, &mut fe, 0x10, 4);
    // A frame over two buffers is not possible without MRG_RXBUF.
    fe.post_rx(1, 100);
    sw.send(&[frame(0x20, 0, 200)]);
    assert_eq!(sw.dropped(Fault::BadLength), 1);
}

/// Two regions back to back, each a memfd of its own mapped apart: the
/// receive rings in the first, the transmit rings in the second.
fn two_regions() -> GuestRam {
    GuestRam::with_regions(&[(RAM_GPA, 0x5000), (RAM_GPA + 0x5000, RAM_SIZE - 0x5000)])
}

/// A frame transmitted from, and one received into, a buffer across the
/// boundary of the two regions.
fn across_the_boundary(sw: &mut Switch, fe: &mut NetFrontend, tag: u8) {
    let at = RAM_GPA + 0x5000 - 40;
    let f = frame(tag, 0, 200);
    let mut b = vec![0u8; fe.hdr_len];
    b.extend_from_slice(&f);
    fe.ram.write(at, &b);
    fe.send_descs(&[(at, b.len() as u32, 0)]);
    assert_eq!(sw.receive_n(1), vec![f], "transmitted across the boundary");
    let id = fe.rx.alloc(1)[0];
    fe.post_rx_at(RAM_GPA + 0x5000 - 30, 1024, id);
    let g = frame(tag, 1, 300);
    sw.send(std::slice::from_ref(&g));
    assert_eq!(
        fe.recv().expect("a frame").frame,
        g,
        "received across the boundary"
    );
}

#[test]
fn memory_in_two_regions_with_buffers_across_the_boundary() {
    let dir = TempDir::new("two-regions");
    let mut sw = Switch::open(VhostMode::Server(dir.sock()));
    let mut fe = sw.connect_with(&dir.sock(), two_regions());
    sw.serve(|| fe.setup(BASIC)).expect("set up");
    assert!(sw.port.link_up());
    traffic(&mut sw, &mut fe, 0x10, 3);
    across_the_boundary(&mut sw, &mut fe, 0x20);
    traffic(&mut sw, &mut fe, 0x30, 3);
    for f in Fault::ALL {
        assert_eq!(sw.dropped(f), 0, "no drops ({})", f.name());
    }
}

#[test]
fn memory_added_and_removed_region_by_region_as_qemu_does() {
    let dir = TempDir::new("mem-slots");
    let mut sw = Switch::open(VhostMode::Server(dir.sock()));
    let mut fe = sw.connect_with(&dir.sock(), two_regions());
    fe.protocol |= VhostUserProtocolFeatures::CONFIGURE_MEM_SLOTS;
    sw.serve(|| fe.setup(BASIC))
        .expect("set up with ADD_MEM_REG");
    assert!(sw.port.link_up());
    assert_eq!(
        sw.detail("protocol_features").as_deref(),
        Some("REPLY_ACK CONFIG CONFIGURE_MEM_SLOTS")
    );
    traffic(&mut sw, &mut fe, 0x10, 3);
    across_the_boundary(&mut sw, &mut fe, 0x20);

    // Hot-plugged memory far above: a frame from a buffer in it.
    let extra = GuestRam::new(RAM_GPA + 0x1000_0000, 0x10000);
    let region = extra.table(&extra.hosts())[0];
    sw.serve(|| fe.fe.add_mem_region(&region))
        .expect("ADD_MEM_REG");
    let at = extra.regions[0].gpa + 0x100;
    let f = frame(0x30, 0, 100);
    let mut b = vec![0u8; HDR];
    b.extend_from_slice(&f);
    extra.write(at, &b);
    fe.send_descs(&[(at, b.len() as u32, 0)]);
    assert_eq!(sw.receive_n(1), vec![f.clone()]);

    // Unplugged: the same descriptor now points nowhere.
    sw.serve(|| fe.fe.remove_mem_region(&region))
        .expect("REM_MEM_REG");
    fe.send_descs(&[(at, b.len() as u32, 0)]);
    assert!(sw.receive().is_empty());
    assert_eq!(sw.dropped(Fault::BadAddress), 1);

    // A region over one that is there is refused; nothing changes.
    let over = GuestRam::new(RAM_GPA + 0x4000, 0x2000);
    let r = sw.serve(|| fe.fe.add_mem_region(&over.table(&over.hosts())[0]));
    assert!(r.is_err(), "an overlapping region accepted");
    traffic(&mut sw, &mut fe, 0x40, 3);
    across_the_boundary(&mut sw, &mut fe, 0x50);
}

// ---------------------------------------------------------------------
// Defects of the port (fail until fixed).
// ---------------------------------------------------------------------

/// A region larger than the file behind it maps fine (MAP_SHARED does not
/// check), and the first access past the end of the file is a SIGBUS that
/// kills the whole switch: a descriptor into the hole, or a frontend that
/// shrinks its memfd later. The port should compare the region with the
/// file's size (fstat) and refuse it; F_SEAL_SHRINK (or a SIGBUS-safe
/// copy) covers the later shrink.
#[test]
fn a_region_larger_than_its_file_is_refused() {
    let dir = TempDir::new("short-file");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    let small = memfd(64 * 1024);
    let mut table = fe.ram.table(&fe.user_addrs);
    table[0].mmap_handle = small.as_raw_fd();
    refused_table(&mut sw, &mut fe, "a region larger than its file", &table);
}

/// The control thread reads a message to its end in blocking calls and
/// only looks at its stop flag between messages, so a frontend that
/// stops half-way through a message (a header and no body) keeps it in
/// `recvmsg` for ever, and dropping the port (`del-port`) hangs in the
/// join. A read timeout does not help (the `vhost` crate retries reads
/// that time out); the stop could shut the connection down through
/// `BackendReqHandler::try_clone_connection`, which is there for this.
#[test]
fn a_frontend_stalled_mid_message_does_not_block_removing_the_port() {
    let dir = TempDir::new("stall");
    let sw = Switch::open(VhostMode::Server(dir.sock()));
    let mut raw = UnixStream::connect(dir.sock()).expect("connect");
    // SET_FEATURES, 8 bytes of body announced, none sent.
    let mut hdr = Vec::new();
    hdr.extend_from_slice(&2u32.to_ne_bytes());
    hdr.extend_from_slice(&1u32.to_ne_bytes());
    hdr.extend_from_slice(&8u32.to_ne_bytes());
    raw.write_all(&hdr).expect("write");
    let t0 = Instant::now();
    while !sw.status().contains("connected") {
        assert!(t0.elapsed() < DEADLINE, "the port did not accept");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        drop(sw);
        let _ = tx.send(());
    });
    let removed = rx.recv_timeout(Duration::from_secs(5)).is_ok();
    // Let it go either way, so the thread ends.
    drop(raw);
    t.join().expect("drop the port");
    assert!(removed, "dropping the port waited for the frontend");
}

/// A jump of the avail index past the queue size breaks the queue (as it
/// should), but the `bad_avail_index` counter never moves: `pending`
/// sets `broken` before returning the fault, and `rx_burst`/`tx_burst`
/// count it only `if f != BadAvailIndex || !st.broken`, which is then
/// always false. On the receive queue every frame dropped because of it
/// is counted in `tx_dropped` under no reason.
#[test]
fn a_broken_avail_index_is_counted() {
    let dir = TempDir::new("avail-jump");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    traffic(&mut sw, &mut fe, 0x10, 2);

    // Guest transmit queue.
    fe.ram
        .store_u16(fe.tx.avail + 2, fe.tx.next_avail.wrapping_add(1000));
    assert!(sw.receive().is_empty());
    assert!(sw.receive().is_empty());
    // Receive queue.
    fe.post_rx(2, 2048);
    fe.ram
        .store_u16(fe.rx.avail + 2, fe.rx.next_avail.wrapping_add(1000));
    sw.send(&[frame(0x20, 0, 60), frame(0x20, 1, 60)]);
    assert_eq!(sw.port.stats().tx_dropped, 2);
    assert!(
        sw.dropped(Fault::BadAvailIndex) >= 2,
        "each broken queue counted: {:?}",
        sw.port.details()
    );
}

/// When the packet pool runs dry in the middle of a receive burst,
/// `rx_burst` adds one to `rx_dropped` and stops, but nothing was dropped:
/// the frame stays in the guest's ring and comes with the next burst. The
/// counter then reports losses that did not happen (once per starved
/// burst, so not even a count of frames).
#[test]
fn a_starved_pool_delays_frames_without_counting_them_dropped() {
    let dir = TempDir::new("pool");
    let mut sw = Switch::with_pool(VhostMode::Server(dir.sock()), 4);
    let mut fe = sw.connect(&dir.sock());
    sw.serve(|| fe.setup(BASIC)).expect("set up");
    let sent: Vec<Vec<u8>> = (0..10).map(|i| frame(0x10, i, 60)).collect();
    for f in &sent {
        fe.send(f);
    }
    assert_eq!(sw.receive_n(10), sent, "every frame arrives");
    let st = sw.port.stats();
    assert_eq!(st.rx_packets, 10);
    assert_eq!(st.rx_dropped, 0, "no frame was dropped");
}

/// GET_VRING_BASE of a ring that was set up but never ran (started with a
/// kick, never enabled, as QEMU leaves the queue pairs a guest does not
/// use) should answer the base that was set: nothing was taken from it.
/// The port answers `last_avail` of whatever ring state its data path
/// kept for that index, here from the previous frontend.
#[test]
fn get_vring_base_of_a_ring_that_never_ran_is_the_base_set() {
    let dir = TempDir::new("stale-base");
    let (mut sw, mut fe) = connected(&dir, BASIC);
    traffic(&mut sw, &mut fe, 0x10, 5);
    goes_down(&mut sw, fe);

    let mut fe = sw.connect(&dir.sock());
    let base = sw
        .serve(|| {
            fe.negotiate(BASIC)?;
            fe.share_memory()?;
            fe.start_queue(0, 0)?;
            fe.start_queue(1, 0)?;
            fe.enable(0, true)?;
            fe.stop_queue(1)
        })
        .expect("GET_VRING_BASE");
    assert_eq!(base, 0, "the ring never ran");
}

/// GET_VRING_BASE for a queue the device does not have: the `vhost`
/// crate sends no reply when the handler returns an error for a request
/// that has one, and the port keeps the connection ("request refused"),
/// so the frontend waits for ever. The port should answer (or close the
/// connection) whenever it refuses a GET_* request.
#[test]
fn a_refused_get_vring_base_does_not_leave_the_frontend_waiting() {
    let dir = TempDir::new("base-oob");
    let mut sw = Switch::open(VhostMode::Server(dir.sock()));
    let mut fe = sw.connect(&dir.sock());
    // A frontend that believes in 8 queues.
    fe.fe = Frontend::from_stream(fe.connection(), 8);
    let r = sw.serve(|| {
        fe.negotiate(BASIC)?;
        fe.fe.get_vring_base(5)
    });
    assert!(r.is_err(), "there is no queue 5: {r:?}");
}
