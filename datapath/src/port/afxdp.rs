//! An existing network device as a port through an AF_XDP socket.
//!
//! **Setup.** The port creates an XSKMAP and loads a tiny XDP program that
//! redirects every frame of a receive queue to the socket in that queue's
//! map slot, falling back to the kernel stack (`XDP_PASS`) when the slot is
//! empty (see `bpf.rs`). The program is attached with a BPF link, whose file
//! descriptor the port holds: dropping the port, or the process ending in
//! any way, detaches it. The socket gets a UMEM of [`AfXdpConfig::frames`]
//! frames of [`AfXdpConfig::frame_size`] bytes — the first half for
//! receiving (all of them in the fill ring from the start), the second for
//! transmitting — and its four rings, mapped at the offsets the kernel
//! reports (`XDP_MMAP_OFFSETS`).
//!
//! **Modes** (`options:xdp-mode`, [`XdpMode`]):
//!
//! - `generic`: the program runs in the kernel's generic (skb) XDP hook and
//!   the socket is bound in copy mode. Works on every device.
//! - `native`: the program runs in the driver; the socket is bound
//!   zero-copy where the driver supports it, copy mode otherwise (veth:
//!   native XDP, copy mode). [`AfXdpPort::active_mode`] tells which.
//! - `best-effort`: `native`, and `generic` if the driver has no XDP.
//!
//! Only one receive queue is served ([`AfXdpConfig::queue`], 0 by default):
//! frames arriving on other queues of a multi-queue NIC go to the kernel
//! stack. Serving `n_rxq` queues means one socket per queue (the map has a
//! slot for each); that is not done yet.
//!
//! **Receive** reads the RX ring's producer index (one memory load) and
//! returns when nothing arrived: an empty poll makes no system call. Frames
//! are copied into pool packets and their UMEM frames go straight back to
//! the fill ring. Only if the driver asks for a wake-up (a flag in the fill
//! ring; zero-copy drivers with need-wakeup) does the port make a
//! `recvfrom(MSG_DONTWAIT)`.
//!
//! **Transmit** copies each frame into a free TX UMEM frame, posts the
//! descriptors and makes one `sendto(MSG_DONTWAIT)` per burst — always in
//! copy mode, where the kernel sends from that system call, and in
//! zero-copy mode only when the driver's need-wakeup flag asks for it.
//! Frames the kernel finished with come back through the completion ring at
//! the start of the next burst.
//!
//! **Checksums.** AF_XDP gives no per-frame metadata, so unlike AF_PACKET it
//! cannot say that a frame from a local stack carries a partial TCP/UDP
//! checksum — and frames a namespace sends over a veth do (generic XDP sees
//! the skb as the stack left it; native veth XDP copies it as is). The port
//! therefore checks every TCP/UDP frame and finishes the checksum when the
//! field holds exactly the pseudo-header sum, which is what a partial
//! checksum looks like (see [`super::csum::complete_if_partial`]); it counts
//! those in `csum_completed`. Correct checksums cost one pseudo-header sum
//! per frame and are left alone; a wrong one that is not of that shape is
//! left for the receiver to drop.
//!
//! **Other limits.** A frame must fit one UMEM frame less the kernel's 256
//! bytes of XDP headroom (1792 bytes with 2 KiB frames); larger ones,
//! including the up-to-64-KiB segments of a local TCP stack with TSO/GSO in
//! generic mode, are dropped by the kernel (counted in `rx_dropped` from
//! `XDP_STATISTICS`). With native XDP on a veth the kernel turns off
//! segmentation offload on the peer by itself. A VLAN tag inside the frame
//! reaches the port as it was sent (tested in both modes); a tag the kernel
//! holds as metadata instead — a NIC with VLAN stripping on, or a VLAN
//! device stacked on the veth peer — is, as far as we know, not in the frame
//! XDP sees, and is lost (not testable here: the test kernel has no 802.1Q
//! support; turn stripping off with `ethtool -K IF rxvlan off`).
//!
//! One port is one socket: `rx_burst` and `tx_burst` take `&mut self`, so
//! one thread at a time uses it.

use super::bpf::{self, XskRedirect};
use super::sys::{self, Mmap, SharedU32};
use super::{csum, Port, PortError, PortStats};
use crate::packet::{Batch, Packet, PacketPool};
use std::os::fd::{AsRawFd, OwnedFd};
use std::str::FromStr;

/// Bytes the kernel keeps in front of received data in a UMEM frame
/// (`XDP_PACKET_HEADROOM`).
const XDP_PACKET_HEADROOM: usize = 256;
/// `XDP_USE_NEED_WAKEUP` bind flag.
const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
/// Ring flag: the kernel wants a system call to make progress.
const XDP_RING_NEED_WAKEUP: u32 = 1;
/// Size of an RX/TX descriptor (`struct xdp_desc`).
const DESC_LEN: usize = 16;
/// Size of a fill/completion entry (a UMEM address).
const ADDR_LEN: usize = 8;

/// How the XDP program is attached and the socket bound (`options:xdp-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpMode {
    /// Generic (skb) XDP, copy mode: works everywhere.
    Generic,
    /// Driver XDP; zero-copy when the driver can, else copy mode.
    Native,
    /// Native, falling back to generic when the driver has no XDP.
    #[default]
    BestEffort,
}

impl FromStr for XdpMode {
    type Err = PortError;

    fn from_str(s: &str) -> Result<XdpMode, PortError> {
        match s {
            "generic" => Ok(XdpMode::Generic),
            "native" => Ok(XdpMode::Native),
            "best-effort" => Ok(XdpMode::BestEffort),
            _ => Err(PortError::BadOption(format!(
                "xdp-mode \"{s}\" is not one of generic, native, best-effort"
            ))),
        }
    }
}

/// What an opened port ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpActiveMode {
    /// Generic XDP, copy mode.
    Generic,
    /// Driver XDP, copy mode.
    NativeCopy,
    /// Driver XDP, zero-copy.
    NativeZeroCopy,
}

/// Settings of an AF_XDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfXdpConfig {
    pub mode: XdpMode,
    /// The receive queue served.
    pub queue: u32,
    /// UMEM frames (a power of two, at least 64): half for RX, half for TX.
    pub frames: u32,
    /// Bytes per UMEM frame: 2048 or 4096.
    pub frame_size: u32,
}

impl Default for AfXdpConfig {
    /// Best effort, queue 0, 4096 frames of 2 KiB (8 MiB).
    fn default() -> Self {
        AfXdpConfig {
            mode: XdpMode::BestEffort,
            queue: 0,
            frames: 4096,
            frame_size: 2048,
        }
    }
}

/// One of the four rings of an AF_XDP socket, mapped from the kernel.
#[derive(Debug)]
struct XskRing {
    producer: SharedU32,
    consumer: SharedU32,
    flags: SharedU32,
    desc_at: usize,
    entry_len: usize,
    mask: u32,
    size: u32,
    cached_prod: u32,
    cached_cons: u32,
    /// Declared last: the words above point into it.
    map: Mmap,
}

impl XskRing {
    fn map(
        fd: &OwnedFd,
        off: &libc::xdp_ring_offset,
        size: u32,
        entry_len: usize,
        pgoff: u64,
        what: &str,
    ) -> Result<XskRing, PortError> {
        let len = off.desc as usize + size as usize * entry_len;
        let map = Mmap::shared(fd.as_raw_fd(), len, pgoff as libc::off_t, what)?;
        let mut ring = XskRing {
            producer: map.shared_u32(off.producer as usize),
            consumer: map.shared_u32(off.consumer as usize),
            flags: map.shared_u32(off.flags as usize),
            desc_at: off.desc as usize,
            entry_len,
            mask: size - 1,
            size,
            cached_prod: 0,
            cached_cons: 0,
            map,
        };
        ring.cached_prod = ring.producer.load();
        ring.cached_cons = ring.consumer.load();
        Ok(ring)
    }

    #[inline]
    fn entry_at(&self, index: u32) -> usize {
        self.desc_at + (index & self.mask) as usize * self.entry_len
    }

    #[inline]
    fn needs_wakeup(&self) -> bool {
        self.flags.load() & XDP_RING_NEED_WAKEUP != 0
    }

    // Consumer side (RX, completion).

    /// Entries ready to read, at most `max`.
    #[inline]
    fn available(&mut self, max: u32) -> u32 {
        let mut n = self.cached_prod.wrapping_sub(self.cached_cons);
        if n == 0 {
            self.cached_prod = self.producer.load();
            n = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        n.min(max)
    }

    /// The `i`-th unread entry.
    #[inline]
    fn read(&self, i: u32) -> Option<&[u8]> {
        self.map.bytes(
            self.entry_at(self.cached_cons.wrapping_add(i)),
            self.entry_len,
        )
    }

    /// Gives `n` read entries back to the kernel.
    #[inline]
    fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.consumer.store(self.cached_cons);
    }

    // Producer side (fill, TX).

    /// Free entries, at least `want` if there are that many.
    #[inline]
    fn free(&mut self, want: u32) -> u32 {
        let mut free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free < want {
            self.cached_cons = self.consumer.load();
            free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        }
        free
    }

    /// The `i`-th entry after the last submitted one, to write.
    #[inline]
    fn write(&mut self, i: u32) -> Option<&mut [u8]> {
        let at = self.entry_at(self.cached_prod.wrapping_add(i));
        self.map.bytes_mut(at, self.entry_len)
    }

    /// Hands `n` written entries to the kernel.
    #[inline]
    fn submit(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_add(n);
        self.producer.store(self.cached_prod);
    }
}

/// An existing network device as a port, through AF_XDP (see the module docs).
#[derive(Debug)]
pub struct AfXdpPort {
    name: String,
    ifindex: u32,
    queue: u32,
    mode: XdpActiveMode,
    // Drop order matters: the program is detached first, then the rings are
    // unmapped, the socket closed and the UMEM unmapped.
    _redirect: XskRedirect,
    rx: XskRing,
    fill: XskRing,
    tx: XskRing,
    comp: XskRing,
    xsk: OwnedFd,
    umem: Mmap,
    /// A socket for the interface ioctls.
    ctl: OwnedFd,
    frame_size: usize,
    /// TX frames not in flight.
    tx_free: Vec<u64>,
    stats: PortStats,
    /// TX kicks that failed with an error other than "try again".
    tx_errors: u64,
}

impl AfXdpPort {
    /// Opens device `ifname` with the default settings in `mode`.
    pub fn open(ifname: &str, mode: XdpMode) -> Result<AfXdpPort, PortError> {
        AfXdpPort::open_with(
            ifname,
            &AfXdpConfig {
                mode,
                ..AfXdpConfig::default()
            },
        )
    }

    /// Opens device `ifname` with `cfg`.
    pub fn open_with(ifname: &str, cfg: &AfXdpConfig) -> Result<AfXdpPort, PortError> {
        let ifindex = sys::ifindex(ifname)?;
        if !cfg.frames.is_power_of_two() || cfg.frames < 64 {
            return Err(PortError::BadOption(format!(
                "AF_XDP UMEM frames {} must be a power of two, 64 at least",
                cfg.frames
            )));
        }
        if cfg.frame_size != 2048 && cfg.frame_size != 4096 {
            return Err(PortError::BadOption(format!(
                "AF_XDP frame size {} must be 2048 or 4096",
                cfg.frame_size
            )));
        }
        match cfg.mode {
            XdpMode::Generic => AfXdpPort::open_mode(ifname, ifindex, cfg, false),
            XdpMode::Native => AfXdpPort::open_mode(ifname, ifindex, cfg, true),
            XdpMode::BestEffort => AfXdpPort::open_mode(ifname, ifindex, cfg, true)
                .or_else(|_| AfXdpPort::open_mode(ifname, ifindex, cfg, false)),
        }
    }

    fn open_mode(
        ifname: &str,
        ifindex: u32,
        cfg: &AfXdpConfig,
        native: bool,
    ) -> Result<AfXdpPort, PortError> {
        let what = |w: &str| format!("{w} for AF_XDP port {ifname}");
        let io = |w: &str| {
            let w = what(w);
            move |source| PortError::Io { what: w, source }
        };
        let mut redirect = XskRedirect::new(ifname, cfg.queue + 1)?;
        let (flags, mode_name) = if native {
            (bpf::XDP_FLAGS_DRV_MODE, "native")
        } else {
            (bpf::XDP_FLAGS_SKB_MODE, "generic")
        };
        redirect
            .attach(ifindex, flags)
            .map_err(|source| PortError::Io {
                what: what(&format!(
                    "attach the XDP program in {mode_name} mode (is another XDP program attached?)"
                )),
                source,
            })?;

        let frames = cfg.frames as usize;
        let frame_size = cfg.frame_size as usize;
        let umem = Mmap::anonymous(frames * frame_size, &what("allocate the UMEM"))?;
        let xsk = sys::socket(
            libc::AF_XDP,
            libc::SOCK_RAW,
            0,
            &what("create an AF_XDP socket"),
        )?;
        let reg = libc::xdp_umem_reg {
            addr: umem.as_ptr() as u64,
            len: umem.len() as u64,
            chunk_size: cfg.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        sys::setsockopt(&xsk, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg)
            .map_err(io("register the UMEM"))?;
        let ring_size = (cfg.frames / 2) as libc::c_int;
        for (opt, name) in [
            (libc::XDP_UMEM_FILL_RING, "size the fill ring"),
            (libc::XDP_UMEM_COMPLETION_RING, "size the completion ring"),
            (libc::XDP_RX_RING, "size the RX ring"),
            (libc::XDP_TX_RING, "size the TX ring"),
        ] {
            sys::setsockopt(&xsk, libc::SOL_XDP, opt, &ring_size).map_err(io(name))?;
        }
        // SAFETY: xdp_mmap_offsets is plain integers; all zeroes is valid.
        let zero: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let (off, len) = sys::getsockopt(&xsk, libc::SOL_XDP, libc::XDP_MMAP_OFFSETS, zero)
            .map_err(io("read the ring offsets"))?;
        if len != std::mem::size_of::<libc::xdp_mmap_offsets>() {
            return Err(PortError::BadOption(format!(
                "AF_XDP port {ifname}: the kernel is too old (no ring flags in XDP_MMAP_OFFSETS)"
            )));
        }
        let size = cfg.frames / 2;
        let rx = XskRing::map(&xsk, &off.rx, size, DESC_LEN, 0, &what("map the RX ring"))?;
        let tx = XskRing::map(
            &xsk,
            &off.tx,
            size,
            DESC_LEN,
            libc::XDP_PGOFF_TX_RING as u64,
            &what("map the TX ring"),
        )?;
        let mut fill = XskRing::map(
            &xsk,
            &off.fr,
            size,
            ADDR_LEN,
            libc::XDP_UMEM_PGOFF_FILL_RING,
            &what("map the fill ring"),
        )?;
        let comp = XskRing::map(
            &xsk,
            &off.cr,
            size,
            ADDR_LEN,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            &what("map the completion ring"),
        )?;

        // Every RX frame goes to the fill ring; the TX frames are ours.
        let rx_frames = frames / 2;
        for i in 0..rx_frames as u32 {
            let addr = i as u64 * frame_size as u64;
            if let Some(e) = fill.write(i) {
                e.copy_from_slice(&addr.to_ne_bytes());
            }
        }
        fill.submit(rx_frames as u32);
        let mut tx_free = Vec::with_capacity(frames - rx_frames);
        tx_free.extend((rx_frames..frames).map(|i| (i * frame_size) as u64));

        let bind_flags = XDP_USE_NEED_WAKEUP | if native { 0 } else { libc::XDP_COPY };
        let addr = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: bind_flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: cfg.queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: `addr` is a sockaddr_xdp and the length passed is its size.
        let r = unsafe {
            libc::bind(
                xsk.as_raw_fd(),
                (&addr as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(sys::io_err(what(&format!(
                "bind the AF_XDP socket to queue {}",
                cfg.queue
            ))));
        }
        let (opts, _) = sys::getsockopt(
            &xsk,
            libc::SOL_XDP,
            libc::XDP_OPTIONS,
            libc::xdp_options { flags: 0 },
        )
        .map_err(io("read the socket's options"))?;
        let mode = match (native, opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0) {
            (false, _) => XdpActiveMode::Generic,
            (true, false) => XdpActiveMode::NativeCopy,
            (true, true) => XdpActiveMode::NativeZeroCopy,
        };
        redirect
            .insert(cfg.queue, xsk.as_raw_fd())
            .map_err(io("put the socket in the XSK map"))?;

        Ok(AfXdpPort {
            name: ifname.to_string(),
            ifindex,
            queue: cfg.queue,
            mode,
            _redirect: redirect,
            rx,
            fill,
            tx,
            comp,
            xsk,
            umem,
            ctl: sys::ioctl_socket()?,
            frame_size,
            tx_free,
            stats: PortStats::default(),
            tx_errors: 0,
        })
    }

    /// How the program is attached and the socket bound.
    pub fn active_mode(&self) -> XdpActiveMode {
        self.mode
    }

    /// The device's interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The receive queue served.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// TX kicks that failed with an error other than "try again".
    pub fn tx_errors(&self) -> u64 {
        self.tx_errors
    }

    /// Largest frame the kernel can deliver to the port.
    pub fn max_rx_frame(&self) -> usize {
        self.frame_size - XDP_PACKET_HEADROOM
    }

    /// Takes back the TX frames the kernel is done with.
    #[inline]
    fn reclaim_tx(&mut self) {
        let n = self.comp.available(u32::MAX);
        for i in 0..n {
            if let Some(e) = self.comp.read(i) {
                let addr = u64::from_ne_bytes(e.try_into().unwrap_or([0; 8]));
                if self.tx_free.len() < self.tx_free.capacity() {
                    self.tx_free.push(addr);
                }
            }
        }
        if n > 0 {
            self.comp.release(n);
        }
    }

    /// Whether the transmit side must make a system call for the kernel to
    /// send what was posted.
    #[inline]
    fn tx_needs_kick(&self) -> bool {
        self.mode != XdpActiveMode::NativeZeroCopy || self.tx.needs_wakeup()
    }
}

impl Port for AfXdpPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(&mut self, batch: &mut Batch, pool: &mut PacketPool) -> usize {
        let room = (crate::packet::BATCH_SIZE - batch.len()) as u32;
        let n = self.rx.available(room);
        if n == 0 {
            if self.fill.needs_wakeup() {
                sys::kick_rx(self.xsk.as_raw_fd());
            }
            return 0;
        }
        let mask = !(self.frame_size as u64 - 1);
        let mut got = 0;
        let fill_free = self.fill.free(n);
        let mut refilled = 0;
        for i in 0..n {
            let Some(d) = self.rx.read(i) else { continue };
            let addr = u64::from_ne_bytes(d[0..8].try_into().unwrap_or([0; 8]));
            let len = u32::from_ne_bytes(d[8..12].try_into().unwrap_or([0; 4])) as usize;
            let data = self.umem.bytes(addr as usize, len);
            let p = match (data, pool.get()) {
                (Some(data), Some(mut p)) => {
                    if p.set_frame(data) {
                        Ok(p)
                    } else {
                        Err(Some(p))
                    }
                }
                (_, p) => Err(p),
            };
            match p {
                Ok(mut p) => {
                    if csum::complete_if_partial(p.data_mut()) {
                        self.stats.csum_completed += 1;
                    }
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += len as u64;
                    got += 1;
                    if let Err(p) = batch.push(p) {
                        pool.put(p);
                    }
                }
                Err(p) => {
                    self.stats.rx_dropped += 1;
                    if let Some(p) = p {
                        pool.put(p);
                    }
                }
            }
            if refilled < fill_free {
                if let Some(e) = self.fill.write(refilled) {
                    e.copy_from_slice(&(addr & mask).to_ne_bytes());
                    refilled += 1;
                }
            }
        }
        self.rx.release(n);
        self.fill.submit(refilled);
        got
    }

    fn tx_burst(&mut self, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        if pkts.is_empty() {
            return;
        }
        self.reclaim_tx();
        let free = self.tx.free(pkts.len() as u32);
        let mut posted = 0u32;
        for p in pkts.drain(..) {
            let len = p.len();
            let addr = if posted < free && len <= self.frame_size {
                self.tx_free.pop()
            } else {
                None
            };
            let Some(addr) = addr else {
                self.stats.tx_dropped += 1;
                pool.put(p);
                continue;
            };
            if let Some(dst) = self.umem.bytes_mut(addr as usize, len) {
                dst.copy_from_slice(p.data());
            }
            if let Some(e) = self.tx.write(posted) {
                e[0..8].copy_from_slice(&addr.to_ne_bytes());
                e[8..12].copy_from_slice(&(len as u32).to_ne_bytes());
                e[12..16].copy_from_slice(&0u32.to_ne_bytes());
            }
            posted += 1;
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += len as u64;
            pool.put(p);
        }
        if posted == 0 {
            return;
        }
        self.tx.submit(posted);
        if self.tx_needs_kick() {
            // In copy mode one call sends a bounded number of frames (32 by
            // default) and says "try again" when more are queued.
            for _ in 0..posted.div_ceil(32).max(1) {
                match sys::kick_tx(self.xsk.as_raw_fd()) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
                    Err(e) => {
                        if !sys::is_transient(&e) {
                            self.tx_errors += 1;
                        }
                        break;
                    }
                }
            }
        }
    }

    fn stats(&self) -> PortStats {
        let mut st = self.stats;
        // SAFETY: xdp_statistics is plain integers; all zeroes is valid.
        let zero: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        if let Ok((k, _)) = sys::getsockopt(&self.xsk, libc::SOL_XDP, libc::XDP_STATISTICS, zero) {
            st.rx_dropped += k.rx_dropped + k.rx_ring_full + k.rx_invalid_descs;
            st.tx_dropped += k.tx_invalid_descs;
        }
        st
    }

    fn mac(&self) -> Option<[u8; 6]> {
        sys::if_mac(self.ctl.as_raw_fd(), &self.name)
    }

    fn link_up(&self) -> bool {
        sys::if_running(self.ctl.as_raw_fd(), &self.name)
    }
}
