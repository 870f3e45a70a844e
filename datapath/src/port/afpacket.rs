//! An existing network device (a veth end, a NIC) as a port, through an
//! AF_PACKET socket with a memory-mapped receive ring (`PACKET_MMAP`).
//!
//! **Receive** polls a ring of one of two kinds ([`AfPacketRx`]):
//!
//! - `TPACKET_V3` blocks (the default): the kernel packs frames into blocks
//!   and hands a block over by setting its status word to `TP_STATUS_USER`,
//!   when the block is full or when the retire timer
//!   ([`AfPacketConfig::rx_block_timeout_ms`], 1 ms at least) fires on a
//!   partly filled one. Memory-efficient and fast under load, but a lone
//!   frame waits up to the timer: about 1 ms per hop under light load.
//! - `TPACKET_V2` frames: one fixed-size slot per frame, each handed over
//!   on its own, so nothing waits; slots are [`AfPacketConfig::rx_frame_size`]
//!   bytes whatever the frame's size.
//!
//! Either way [`Port::rx_burst`] reads the status word of the next block or
//! slot and returns at once when it is still the kernel's: an empty poll is
//! one memory load and no system call. A block or slot is given back as soon
//! as its frames are copied out.
//!
//! **Transmit** ([`AfPacketTx`]) is by default one `sendmmsg(MSG_DONTWAIT)`
//! per burst straight from the packets' buffers; a mapped TX ring (frames
//! copied into slots marked `TP_STATUS_SEND_REQUEST`, then one
//! `sendto(fd, NULL, 0, MSG_DONTWAIT)`) is the alternative. On veth pairs
//! `sendmmsg` measured 5–15% faster than the ring (64- and 1500-byte
//! frames), skips the user-space copy, and learns which frames the kernel
//! refused, so `tx_dropped` is exact; a ring slot stays busy until the
//! receiver frees the frame, and ring failures go uncounted.
//! `PACKET_QDISC_BYPASS` is set when the kernel has it, so frames go
//! straight to the driver.
//!
//! The socket is bound to the device with `ETH_P_ALL`, puts the device in
//! promiscuous mode (`PACKET_MR_PROMISC`, a reference count the kernel drops
//! when the socket closes) and sets `PACKET_IGNORE_OUTGOING`, so it does not
//! receive what the host or the port itself sends on the device.
//!
//! **Received frames are fixed up** to be what was on the "wire":
//!
//! - the kernel strips the outer VLAN tag into metadata
//!   (`TP_STATUS_VLAN_VALID`); the port puts it back in the frame;
//! - a frame from a local stack (the other end of a veth) may carry a
//!   partial TCP/UDP checksum (`TP_STATUS_CSUMNOTREADY`); the port computes
//!   the full checksum (see [`super::csum`]) and counts it in
//!   `csum_completed`;
//! - a frame the ring could hold only in part (`tp_snaplen < tp_len`) is
//!   dropped and counted in `rx_dropped` and [`AfPacketPort::truncated`].
//!
//! Frames larger than the pool's buffers are dropped too. A local TCP
//! stack that uses segmentation offload (TSO/GSO) hands the device frames of
//! up to 64 KiB, which no port buffer holds: for bulk TCP through a veth,
//! turn segmentation offload off on the peer (`ethtool -K IF tso off gso
//! off`); small TCP segments and UDP pass as they are.
//!
//! One port is one RX ring and one TX path: `rx_burst` and `tx_burst` take
//! `&mut self`, so one thread at a time uses it (a PMD). Transmitting from
//! several threads needs a lock around `tx_burst`.

use super::sys::{self, Mmap};
use super::{csum, Port, PortError, PortStats};
use crate::packet::{Batch, Packet, PacketPool, BATCH_SIZE};
use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};

/// Offsets in a V3 block descriptor (`struct tpacket_block_desc` with its
/// `tpacket_hdr_v1`).
mod block {
    pub const STATUS: usize = 8;
    pub const NUM_PKTS: usize = 12;
    pub const FIRST_PKT: usize = 16;
    pub const HEADER_LEN: usize = 20;
}

/// Where the fields are in a frame header: `struct tpacket3_hdr` or
/// `struct tpacket2_hdr`.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// `struct tpacket3_hdr`, whose TX frames need `tp_next_offset` = 0.
    v3: bool,
    status: usize,
    len: usize,
    snaplen: usize,
    mac: usize,
    /// The VLAN TCI: a u32 in V3, a u16 in V2.
    vlan_tci: usize,
    vlan_tci_u32: bool,
    vlan_tpid: usize,
    /// Bytes of header to read.
    header_len: usize,
    /// `TPACKET_ALIGN(sizeof(header))`: where frame data starts in a TX slot.
    tx_data: usize,
}

const V3: Layout = Layout {
    v3: true,
    status: 20,
    len: 16,
    snaplen: 12,
    mac: 24,
    vlan_tci: 32,
    vlan_tci_u32: true,
    vlan_tpid: 36,
    header_len: 40,
    tx_data: 48,
};

const V2: Layout = Layout {
    v3: false,
    status: 0,
    len: 4,
    snaplen: 8,
    mac: 12,
    vlan_tci: 24,
    vlan_tci_u32: false,
    vlan_tpid: 26,
    header_len: 28,
    tx_data: 32,
};

/// `tp_next_offset` of a V3 frame header.
const V3_NEXT_OFFSET: usize = 0;

/// `tpacket_versions` values.
const TPACKET_V2: libc::c_int = 1;
const TPACKET_V3: libc::c_int = 2;

/// `TP_STATUS_*` values we look at.
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_SENDING: u32 = 2;

/// The kind of receive ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfPacketRx {
    /// `TPACKET_V3` blocks: compact, but up to
    /// [`AfPacketConfig::rx_block_timeout_ms`] of added latency.
    Blocks,
    /// `TPACKET_V2` fixed-size slots: no added latency.
    Frames,
}

/// How an AF_PACKET port transmits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfPacketTx {
    /// One `sendmmsg(MSG_DONTWAIT)` per burst straight from the packets'
    /// buffers.
    Sendmmsg,
    /// Frames are copied into a mapped TX ring, then one
    /// `sendto(MSG_DONTWAIT)` sends the burst.
    Ring,
}

/// Sizes of an AF_PACKET port's rings and how it receives and transmits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfPacketConfig {
    pub rx: AfPacketRx,
    /// Bytes per RX block: a multiple of the page size. With
    /// [`AfPacketRx::Blocks`], the largest frame the ring holds whole is a
    /// little smaller.
    pub rx_block_size: u32,
    /// Number of RX blocks.
    pub rx_blocks: u32,
    /// Milliseconds after which the kernel hands over a block that is not
    /// full (1 at least; [`AfPacketRx::Blocks`] only).
    pub rx_block_timeout_ms: u32,
    /// Bytes per RX slot ([`AfPacketRx::Frames`] only), a multiple of 16
    /// that divides the block size; frames up to this less about 80 bytes
    /// of header are received whole.
    pub rx_frame_size: u32,
    pub tx: AfPacketTx,
    /// Number of TX ring slots (rounded up to a whole number of 64 KiB
    /// blocks; [`AfPacketTx::Ring`] only).
    pub tx_frames: u32,
    /// Bytes per TX slot, a multiple of 16 ([`AfPacketTx::Ring`] only).
    pub tx_frame_size: u32,
}

impl Default for AfPacketConfig {
    /// V3 blocks, 64 of 64 KiB (4 MiB: about 2700 full-size frames or 40000
    /// small ones) retired after 1 ms; `sendmmsg`.
    fn default() -> Self {
        AfPacketConfig {
            rx: AfPacketRx::Blocks,
            rx_block_size: 64 * 1024,
            rx_blocks: 64,
            rx_block_timeout_ms: 1,
            rx_frame_size: 2048,
            tx: AfPacketTx::Sendmmsg,
            tx_frames: 512,
            tx_frame_size: 2048,
        }
    }
}

impl AfPacketConfig {
    /// The default sizes with V2 slots (2048 frames of 2 KiB, 4 MiB): no
    /// added latency.
    pub fn low_latency() -> AfPacketConfig {
        AfPacketConfig {
            rx: AfPacketRx::Frames,
            ..AfPacketConfig::default()
        }
    }
}

/// Where the receive side is in the RX ring.
#[derive(Debug, Clone, Copy)]
enum RxCursor {
    Blocks {
        /// Block being read (or to be read next).
        block: usize,
        /// Frames of that block not yet read, and the offset of the next
        /// one; `None` while the block is the kernel's.
        open: Option<(u32, usize)>,
    },
    Frames {
        /// Slot to read next.
        head: usize,
    },
}

/// Geometry of a ring of fixed-size slots in blocks.
#[derive(Debug, Clone, Copy)]
struct Slots {
    /// Offset of the ring in the mapping.
    at: usize,
    block_size: usize,
    slot_size: usize,
    per_block: usize,
    count: usize,
}

impl Slots {
    #[inline]
    fn offset(&self, i: usize) -> usize {
        self.at + (i / self.per_block) * self.block_size + (i % self.per_block) * self.slot_size
    }
}

/// An existing network device as a port (see the module docs).
#[derive(Debug)]
pub struct AfPacketPort {
    name: String,
    ifindex: u32,
    layout: Layout,
    /// RX ring, then TX ring. Declared before `fd`: unmapped before the
    /// socket closes.
    ring: Mmap,
    fd: OwnedFd,
    /// A socket for the interface ioctls.
    ctl: OwnedFd,
    rx_block_size: usize,
    rx_blocks: usize,
    /// RX slots (V2 only).
    rx_slots: Slots,
    rx: RxCursor,
    /// TX slots (TX ring only).
    tx_slots: Slots,
    tx_head: usize,
    /// Scratch for [`AfPacketTx::Sendmmsg`]; `None` with a TX ring.
    mmsg: Option<sys::SendMmsg>,
    stats: PortStats,
    truncated: u64,
    /// Frames the kernel dropped because the ring was full, summed from
    /// `PACKET_STATISTICS` (which resets on every read).
    ring_drops: Cell<u64>,
    /// Failed TX calls (other than "try again").
    tx_errors: u64,
}

impl AfPacketPort {
    /// Opens device `ifname` with the default ring sizes.
    pub fn open(ifname: &str) -> Result<AfPacketPort, PortError> {
        AfPacketPort::open_with(ifname, &AfPacketConfig::default())
    }

    /// Opens device `ifname` with the given ring sizes.
    pub fn open_with(ifname: &str, cfg: &AfPacketConfig) -> Result<AfPacketPort, PortError> {
        let ifindex = sys::ifindex(ifname)?;
        let page = page_size();
        let bad = |m: String| Err(PortError::BadOption(m));
        if cfg.rx_block_size == 0 || cfg.rx_block_size as usize % page != 0 {
            return bad(format!(
                "AF_PACKET RX block size {} is not a multiple of the page size {page}",
                cfg.rx_block_size
            ));
        }
        if cfg.rx_blocks == 0 || cfg.tx_frames == 0 {
            return bad("AF_PACKET rings need at least one block and one TX frame".into());
        }
        let layout = match cfg.rx {
            AfPacketRx::Blocks => V3,
            AfPacketRx::Frames => V2,
        };
        let sizes = [
            ("RX", cfg.rx_frame_size, cfg.rx == AfPacketRx::Frames),
            ("TX", cfg.tx_frame_size, cfg.tx == AfPacketTx::Ring),
        ];
        for (what, size, _) in sizes.into_iter().filter(|s| s.2) {
            if size % 16 != 0 || size < 128 || size > cfg.rx_block_size.max(64 * 1024) {
                return bad(format!(
                    "AF_PACKET {what} frame size {size} must be a multiple of 16 between 128 \
                     and the block size"
                ));
            }
        }
        if cfg.rx == AfPacketRx::Frames && cfg.rx_block_size % cfg.rx_frame_size != 0 {
            return bad(format!(
                "AF_PACKET RX frame size {} does not divide the block size {}",
                cfg.rx_frame_size, cfg.rx_block_size
            ));
        }
        let what = |w: &str| format!("{w} for AF_PACKET port {ifname}");

        // Protocol 0: nothing is received until bind() names the device.
        let fd = sys::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK,
            0,
            &what("create a packet socket"),
        )?;
        let opt = |name: libc::c_int, v: libc::c_int, w: &str| {
            sys::setsockopt(&fd, libc::SOL_PACKET, name, &v).map_err(|source| PortError::Io {
                what: what(w),
                source,
            })
        };
        match cfg.rx {
            AfPacketRx::Blocks => opt(libc::PACKET_VERSION, TPACKET_V3, "select TPACKET_V3")?,
            AfPacketRx::Frames => opt(libc::PACKET_VERSION, TPACKET_V2, "select TPACKET_V2")?,
        }
        // Skip malformed TX frames instead of stopping the ring at them.
        opt(libc::PACKET_LOSS, 1, "set PACKET_LOSS")?;
        opt(
            libc::PACKET_IGNORE_OUTGOING,
            1,
            "set PACKET_IGNORE_OUTGOING",
        )?;
        // Older kernels lack it; the port works without, through the qdisc.
        let _ = opt(libc::PACKET_QDISC_BYPASS, 1, "set PACKET_QDISC_BYPASS");

        // For V3 the frame size only has to be consistent; for V2 it is the
        // slot size. (A V2 ring takes the first four fields.)
        let rx_frame_size = match cfg.rx {
            AfPacketRx::Blocks => 2048u32.min(cfg.rx_block_size),
            AfPacketRx::Frames => cfg.rx_frame_size,
        };
        let rx_req = libc::tpacket_req3 {
            tp_block_size: cfg.rx_block_size,
            tp_block_nr: cfg.rx_blocks,
            tp_frame_size: rx_frame_size,
            tp_frame_nr: cfg.rx_block_size / rx_frame_size * cfg.rx_blocks,
            tp_retire_blk_tov: cfg.rx_block_timeout_ms.max(1),
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &rx_req).map_err(
            |source| PortError::Io {
                what: what("set up the RX ring"),
                source,
            },
        )?;
        let rx_len = cfg.rx_block_size as usize * cfg.rx_blocks as usize;
        let rx_slots = Slots {
            at: 0,
            block_size: cfg.rx_block_size as usize,
            slot_size: rx_frame_size as usize,
            per_block: (cfg.rx_block_size / rx_frame_size) as usize,
            count: (cfg.rx_block_size / rx_frame_size * cfg.rx_blocks) as usize,
        };
        let tx_block_size = (64 * 1024)
            .max(cfg.tx_frame_size as usize)
            .next_multiple_of(page);
        let per_block = tx_block_size / cfg.tx_frame_size as usize;
        let tx_blocks = match cfg.tx {
            AfPacketTx::Ring => (cfg.tx_frames as usize).div_ceil(per_block),
            AfPacketTx::Sendmmsg => 0,
        };
        let tx_slots = Slots {
            at: rx_len,
            block_size: tx_block_size,
            slot_size: cfg.tx_frame_size as usize,
            per_block,
            count: per_block * tx_blocks,
        };
        if tx_blocks > 0 {
            let tx_req = libc::tpacket_req3 {
                tp_block_size: tx_block_size as u32,
                tp_block_nr: tx_blocks as u32,
                tp_frame_size: cfg.tx_frame_size,
                tp_frame_nr: tx_slots.count as u32,
                tp_retire_blk_tov: 0,
                tp_sizeof_priv: 0,
                tp_feature_req_word: 0,
            };
            sys::setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_TX_RING, &tx_req).map_err(
                |source| PortError::Io {
                    what: what("set up the TX ring"),
                    source,
                },
            )?;
        }
        let ring = Mmap::shared(
            fd.as_raw_fd(),
            rx_len + tx_block_size * tx_blocks,
            0,
            &what("map the rings"),
        )?;

        let addr = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
            sll_ifindex: ifindex as i32,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        // SAFETY: `addr` is a sockaddr_ll and the length passed is its size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(sys::io_err(what("bind the packet socket")));
        }
        sys::setsockopt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            &promisc_mreq(ifindex),
        )
        .map_err(|source| PortError::Io {
            what: what("make the device promiscuous"),
            source,
        })?;

        Ok(AfPacketPort {
            name: ifname.to_string(),
            ifindex,
            layout,
            ring,
            fd,
            ctl: sys::ioctl_socket()?,
            rx_block_size: cfg.rx_block_size as usize,
            rx_blocks: cfg.rx_blocks as usize,
            rx_slots,
            rx: match cfg.rx {
                AfPacketRx::Blocks => RxCursor::Blocks {
                    block: 0,
                    open: None,
                },
                AfPacketRx::Frames => RxCursor::Frames { head: 0 },
            },
            tx_slots,
            tx_head: 0,
            mmsg: match cfg.tx {
                AfPacketTx::Ring => None,
                AfPacketTx::Sendmmsg => Some(sys::SendMmsg::new(BATCH_SIZE)),
            },
            stats: PortStats::default(),
            truncated: 0,
            ring_drops: Cell::new(0),
            tx_errors: 0,
        })
    }

    /// The device's interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Frames dropped because the ring held only part of them (also in
    /// `rx_dropped`).
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    /// TX calls that failed with an error other than "try again" (the
    /// device is down, for instance). With a TX ring the frames stay
    /// queued; with `sendmmsg` they are counted in `tx_dropped`.
    pub fn tx_errors(&self) -> u64 {
        self.tx_errors
    }

    /// Largest frame `tx_burst` sends with a TX ring (`sendmmsg` is bound
    /// by the device's MTU only).
    pub fn max_tx_frame(&self) -> usize {
        self.tx_slots.slot_size - self.layout.tx_data
    }

    /// Copies the frame whose header is at `at` (inside a block or slot
    /// that ends at `end`) into a packet from `pool` and onto `batch`, or
    /// counts it as dropped.
    #[inline]
    fn take_frame(&mut self, at: usize, end: usize, batch: &mut Batch, pool: &mut PacketPool) {
        let l = self.layout;
        let Some(h) = self.ring.bytes(at, l.header_len) else {
            self.stats.rx_dropped += 1;
            return;
        };
        let snaplen = u32_at(h, l.snaplen) as usize;
        let len = u32_at(h, l.len) as usize;
        let status = u32_at(h, l.status);
        let mac = u16_at(h, l.mac) as usize;
        let tci = if l.vlan_tci_u32 {
            u32_at(h, l.vlan_tci) as u16
        } else {
            u16_at(h, l.vlan_tci)
        };
        let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
            u16_at(h, l.vlan_tpid)
        } else {
            0x8100
        };
        let vlan = status & libc::TP_STATUS_VLAN_VALID != 0;
        if snaplen < len {
            self.truncated += 1;
            self.stats.rx_dropped += 1;
            return;
        }
        let data_at = at + mac;
        if snaplen < 14 || data_at + snaplen > end {
            self.stats.rx_dropped += 1;
            return;
        }
        let Some(data) = self.ring.bytes(data_at, snaplen) else {
            self.stats.rx_dropped += 1;
            return;
        };
        let Some(mut p) = pool.get() else {
            self.stats.rx_dropped += 1;
            return;
        };
        let total = snaplen + if vlan { 4 } else { 0 };
        let room = p.spare_mut();
        if total > room.len() {
            self.stats.rx_dropped += 1;
            pool.put(p);
            return;
        }
        if vlan {
            room[..12].copy_from_slice(&data[..12]);
            room[12..14].copy_from_slice(&tpid.to_be_bytes());
            room[14..16].copy_from_slice(&tci.to_be_bytes());
            room[16..total].copy_from_slice(&data[12..]);
        } else {
            room[..total].copy_from_slice(data);
        }
        p.set_len(total);
        if status & libc::TP_STATUS_CSUMNOTREADY != 0 && csum::complete_l4_checksum(p.data_mut()) {
            self.stats.csum_completed += 1;
        }
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += total as u64;
        if let Err(p) = batch.push(p) {
            pool.put(p);
        }
    }

    /// Receives from a V3 ring of blocks.
    fn rx_blocks(&mut self, batch: &mut Batch, pool: &mut PacketPool) {
        while !batch.is_full() {
            let RxCursor::Blocks { block: b, open } = self.rx else {
                return;
            };
            let block_at = b * self.rx_block_size;
            let block_end = block_at + self.rx_block_size;
            let status = self.ring.shared_u32(block_at + block::STATUS);
            let (left, offset) = match open {
                Some(open) => open,
                None => {
                    if status.load() & TP_STATUS_USER == 0 {
                        return;
                    }
                    let Some(h) = self.ring.bytes(block_at, block::HEADER_LEN) else {
                        return;
                    };
                    (
                        u32_at(h, block::NUM_PKTS),
                        u32_at(h, block::FIRST_PKT) as usize,
                    )
                }
            };
            let at = block_at + offset;
            let next = if left > 0 && offset + V3.header_len <= self.rx_block_size {
                self.take_frame(at, block_end, batch, pool);
                self.ring
                    .bytes(at + V3_NEXT_OFFSET, 4)
                    .map_or(0, |b| u32_at(b, 0) as usize)
            } else {
                0
            };
            let open = if left > 1 && next != 0 {
                Some((left - 1, offset + next))
            } else {
                // Done with the block: give it back and move on.
                status.store(TP_STATUS_KERNEL);
                None
            };
            self.rx = RxCursor::Blocks {
                block: if open.is_some() {
                    b
                } else {
                    (b + 1) % self.rx_blocks
                },
                open,
            };
        }
    }

    /// Receives from a V2 ring of slots.
    fn rx_frames(&mut self, batch: &mut Batch, pool: &mut PacketPool) {
        while !batch.is_full() {
            let RxCursor::Frames { head } = self.rx else {
                return;
            };
            let at = self.rx_slots.offset(head);
            let status = self.ring.shared_u32(at + V2.status);
            if status.load() & TP_STATUS_USER == 0 {
                return;
            }
            self.take_frame(at, at + self.rx_slots.slot_size, batch, pool);
            status.store(TP_STATUS_KERNEL);
            self.rx = RxCursor::Frames {
                head: (head + 1) % self.rx_slots.count,
            };
        }
    }

    /// Queues one frame in the TX ring; false when the ring is full or the
    /// frame does not fit a slot.
    #[inline]
    fn tx_queue(&mut self, frame: &[u8]) -> bool {
        let l = self.layout;
        if frame.len() < 14 || frame.len() > self.tx_slots.slot_size - l.tx_data {
            return false;
        }
        let slot = self.tx_slots.offset(self.tx_head);
        let status = self.ring.shared_u32(slot + l.status);
        if status.load() & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) != 0 {
            return false;
        }
        let Some(s) = self.ring.bytes_mut(slot, l.tx_data + frame.len()) else {
            return false;
        };
        let len = (frame.len() as u32).to_ne_bytes();
        if l.v3 {
            s[V3_NEXT_OFFSET..V3_NEXT_OFFSET + 4].copy_from_slice(&0u32.to_ne_bytes());
        }
        s[l.snaplen..l.snaplen + 4].copy_from_slice(&len);
        s[l.len..l.len + 4].copy_from_slice(&len);
        s[l.tx_data..].copy_from_slice(frame);
        status.store(TP_STATUS_SEND_REQUEST);
        self.tx_head = (self.tx_head + 1) % self.tx_slots.count;
        true
    }
}

impl Port for AfPacketPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(&mut self, batch: &mut Batch, pool: &mut PacketPool) -> usize {
        let before = batch.len();
        match self.rx {
            RxCursor::Blocks { .. } => self.rx_blocks(batch, pool),
            RxCursor::Frames { .. } => self.rx_frames(batch, pool),
        }
        batch.len() - before
    }

    fn tx_burst(&mut self, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        if let Some(mmsg) = self.mmsg.as_mut() {
            let sent = mmsg.send(self.fd.as_raw_fd(), pkts);
            self.stats.tx_packets += sent.packets;
            self.stats.tx_bytes += sent.bytes;
            self.stats.tx_dropped += sent.dropped;
            self.tx_errors += sent.errors;
            for p in pkts.drain(..) {
                pool.put(p);
            }
            return;
        }
        let mut queued = 0;
        for p in pkts.drain(..) {
            if self.tx_queue(p.data()) {
                queued += 1;
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += p.len() as u64;
            } else {
                self.stats.tx_dropped += 1;
            }
            pool.put(p);
        }
        if queued > 0 {
            if let Err(e) = sys::kick_tx(self.fd.as_raw_fd()) {
                if !sys::is_transient(&e) {
                    self.tx_errors += 1;
                }
            }
        }
    }

    fn stats(&self) -> PortStats {
        let zero = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        if let Ok((s, _)) =
            sys::getsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_STATISTICS, zero)
        {
            self.ring_drops
                .set(self.ring_drops.get() + s.tp_drops as u64);
        }
        let mut st = self.stats;
        st.rx_dropped += self.ring_drops.get();
        st
    }

    fn mac(&self) -> Option<[u8; 6]> {
        sys::if_mac(self.ctl.as_raw_fd(), &self.name)
    }

    fn link_up(&self) -> bool {
        sys::if_running(self.ctl.as_raw_fd(), &self.name)
    }
}

impl Drop for AfPacketPort {
    fn drop(&mut self) {
        // Closing the socket drops the membership too; saying so first
        // leaves nothing to chance.
        let _ = sys::setsockopt(
            &self.fd,
            libc::SOL_PACKET,
            libc::PACKET_DROP_MEMBERSHIP,
            &promisc_mreq(self.ifindex),
        );
    }
}

fn promisc_mreq(ifindex: u32) -> libc::packet_mreq {
    libc::packet_mreq {
        mr_ifindex: ifindex as i32,
        mr_type: libc::PACKET_MR_PROMISC as u16,
        mr_alen: 0,
        mr_address: [0; 8],
    }
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

#[inline(always)]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}
