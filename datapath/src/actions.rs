//! Datapath actions and their execution over a group of packets.
//!
//! A megaflow's actions run on each packet in batch order (see
//! [`crate::dpif`]). An output that is not the last action sends a copy (from
//! the pool); a last output moves the packet itself. Outputs are queued per
//! port and flushed once per batch, so a port sees one burst per batch.
//!
//! Grouping a batch's packets by flow first, as Open vSwitch does, was
//! measured and dropped: with traffic spread over many flows the grouping's
//! unpredictable branches cost more (32 → 22 ns/packet at 4 flows, see
//! BENCHMARKS.md) than running the actions per packet saves.
//!
//! Header rewrites keep checksums right by updating them incrementally
//! (RFC 1624): the IPv4 header checksum, and the TCP/UDP checksum, whose
//! pseudo-header covers the addresses. A UDP checksum of zero means "none"
//! and is left alone. Which headers a packet has comes from its flow key and
//! the offsets extraction recorded, never from re-parsing: so an IPv6 first
//! fragment (whose next header is 44) still gets its ports rewritten, and a
//! later fragment (which has no L4 header) is left alone.

use crate::dpif::{DropReason, Outputs};
use crate::flow::{FlowKey, VLAN_CFI};
use crate::packet::{Packet, PacketPool, PortNo};
use crate::wire::checksum;
use crate::wire::ethernet::{self, EthernetFrame};
use crate::wire::ip_proto;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;

/// One datapath action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send to a port.
    Output(PortNo),
    /// Queue for the slow path with this cookie (controller, sampling, …).
    Userspace(u32),
    /// Drop here; later actions do not run.
    Drop,
    /// Push an 802.1Q tag. `tci` carries [`VLAN_CFI`] (as in a flow key),
    /// which is cleared on the wire.
    PushVlan {
        /// Tag protocol identifier (0x8100, or 0x88a8 for an S-tag).
        tpid: u16,
        /// Tag control information: PCP, CFI/DEI, VID.
        tci: u16,
    },
    /// Remove the outermost 802.1Q tag; a no-op on an untagged frame.
    PopVlan,
    /// Rewrite the Ethernet source.
    SetEthSrc([u8; 6]),
    /// Rewrite the Ethernet destination.
    SetEthDst([u8; 6]),
    /// Rewrite the IPv4 source (host order).
    SetIpv4Src(u32),
    /// Rewrite the IPv4 destination (host order).
    SetIpv4Dst(u32),
    /// Rewrite the IPv4 TTL.
    SetIpv4Ttl(u8),
    /// Rewrite the TCP or UDP source port.
    SetTpSrc(u16),
    /// Rewrite the TCP or UDP destination port.
    SetTpDst(u16),
}

/// Actions kept inline by an [`ActionList`].
pub const INLINE_ACTIONS: usize = 3;

/// A megaflow's actions: up to [`INLINE_ACTIONS`] stored inline, so that the
/// fast path reads them from the same cache line as the flow's counters;
/// longer lists on the heap.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum ActionList {
    /// A short list, stored in place.
    Inline {
        /// Number of actions used.
        len: u8,
        /// The actions; those past `len` are padding.
        acts: [Action; INLINE_ACTIONS],
    },
    /// A long list.
    Heap(Box<[Action]>),
}

impl ActionList {
    /// A list holding `actions`.
    pub fn new(actions: &[Action]) -> ActionList {
        if actions.len() <= INLINE_ACTIONS {
            let mut acts = [Action::Drop; INLINE_ACTIONS];
            acts[..actions.len()].copy_from_slice(actions);
            ActionList::Inline {
                len: actions.len() as u8,
                acts,
            }
        } else {
            ActionList::Heap(actions.into())
        }
    }

    /// The actions.
    #[inline(always)]
    pub fn as_slice(&self) -> &[Action] {
        match self {
            ActionList::Inline { len, acts } => &acts[..*len as usize],
            ActionList::Heap(b) => b,
        }
    }
}

impl std::ops::Deref for ActionList {
    type Target = [Action];
    fn deref(&self) -> &[Action] {
        self.as_slice()
    }
}

impl std::fmt::Debug for ActionList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl From<&[Action]> for ActionList {
    fn from(a: &[Action]) -> Self {
        ActionList::new(a)
    }
}

impl<const N: usize> From<[Action; N]> for ActionList {
    fn from(a: [Action; N]) -> Self {
        ActionList::new(&a)
    }
}

impl From<Vec<Action>> for ActionList {
    fn from(a: Vec<Action>) -> Self {
        ActionList::new(&a)
    }
}

/// Runs `actions` on `pkt`, which ends up queued on a port, queued for the
/// slow path, or dropped (counted).
#[inline]
pub(crate) fn execute(
    actions: &[Action],
    mut pkt: Packet,
    key: &FlowKey,
    out: &mut Outputs,
    pool: &mut PacketPool,
) {
    let last = actions.len().wrapping_sub(1);
    let mut delivered = false;
    for (ai, action) in actions.iter().enumerate() {
        match *action {
            Action::Output(port) => {
                if ai == last {
                    out.output(port, pkt, pool);
                    return;
                }
                delivered = true;
                if let Some(c) = copy(&pkt, out, pool) {
                    out.output(port, c, pool);
                }
            }
            Action::Userspace(cookie) => {
                if ai == last {
                    out.userspace(cookie, pkt, pool);
                    return;
                }
                delivered = true;
                if let Some(c) = copy(&pkt, out, pool) {
                    out.userspace(cookie, c, pool);
                }
            }
            Action::Drop => break,
            Action::PushVlan { tpid, tci } => {
                if !push_vlan(&mut pkt, tpid, tci) {
                    out.drop(DropReason::ActionFailed, pkt, pool);
                    return;
                }
            }
            Action::PopVlan => pop_vlan(&mut pkt),
            Action::SetEthSrc(mac) => {
                if let Ok(mut f) = EthernetFrame::new_checked(pkt.data_mut()) {
                    f.set_src_addr(mac);
                }
            }
            Action::SetEthDst(mac) => {
                if let Ok(mut f) = EthernetFrame::new_checked(pkt.data_mut()) {
                    f.set_dst_addr(mac);
                }
            }
            Action::SetIpv4Src(a) => set_ipv4_addr(&mut pkt, key, a, true),
            Action::SetIpv4Dst(a) => set_ipv4_addr(&mut pkt, key, a, false),
            Action::SetIpv4Ttl(ttl) => set_ipv4_ttl(&mut pkt, key, ttl),
            Action::SetTpSrc(port) => set_tp_port(&mut pkt, key, port, true),
            Action::SetTpDst(port) => set_tp_port(&mut pkt, key, port, false),
        }
    }
    if delivered {
        // Copies went to every output; this last one is not needed.
        pool.put(pkt);
    } else {
        out.drop(DropReason::Action, pkt, pool);
    }
}

/// A copy of `p` from the pool, or `None` (counted) when the pool is empty.
#[inline]
fn copy(p: &Packet, out: &mut Outputs, pool: &mut PacketPool) -> Option<Packet> {
    let Some(mut c) = pool.get() else {
        out.stats.drops[DropReason::PoolExhausted as usize] += 1;
        return None;
    };
    if p.clone_into(&mut c) {
        Some(c)
    } else {
        out.drop(DropReason::PoolExhausted, c, pool);
        None
    }
}

fn push_vlan(p: &mut Packet, tpid: u16, tci: u16) -> bool {
    if p.len() < ethernet::HEADER_LEN {
        return false;
    }
    // The tag goes after the two addresses (12 bytes); moving the addresses
    // forward into the headroom is cheaper than moving the payload back.
    let Some(tag) = p.insert(12, 4) else {
        return false;
    };
    tag[..2].copy_from_slice(&tpid.to_be_bytes());
    tag[2..].copy_from_slice(&(tci & !VLAN_CFI).to_be_bytes());
    true
}

fn pop_vlan(p: &mut Packet) {
    let Ok(f) = EthernetFrame::new_checked(p.data()) else {
        return;
    };
    let t = f.ethertype();
    if (t == ethernet::ethertype::VLAN || t == ethernet::ethertype::QINQ) && p.len() >= 18 {
        p.remove(12, 4);
    }
}

/// Offset of `p`'s IPv4 header, if its key says it is IPv4 and the header
/// is whole.
#[inline]
fn ipv4_header(p: &Packet, key: &FlowKey) -> Option<usize> {
    if key.dl_type() != ethernet::ethertype::IPV4 {
        return None;
    }
    let l3 = p.offsets.l3_offset()?;
    Ipv4Packet::new_checked(p.data().get(l3..)?).ok()?;
    Some(l3)
}

/// Offset and protocol of `p`'s TCP or UDP header, when its fixed part is
/// present. Only the fixed part is required: in a first fragment the UDP
/// length (or the TCP options) reach past the end of the frame, yet the ports
/// and checksum are there and must be kept right.
#[inline]
fn l4_header(p: &Packet, key: &FlowKey) -> Option<(usize, u8)> {
    let l4 = p.offsets.l4_offset()?;
    let proto = key.nw_proto();
    let need = match proto {
        ip_proto::TCP => TCP_FIXED_LEN,
        ip_proto::UDP => UDP_LEN,
        _ => return None,
    };
    (p.len() >= l4 + need).then_some((l4, proto))
}

const TCP_FIXED_LEN: usize = 20;
const UDP_LEN: usize = 8;

/// Rewrites a TCP or UDP header's checksum through `f(old) -> new`, keeping a
/// UDP checksum of zero ("none") as it is and never writing zero for UDP.
#[inline]
fn update_l4_checksum(p: &mut Packet, key: &FlowKey, f: impl FnOnce(u16) -> u16) {
    let Some((l4, proto)) = l4_header(p, key) else {
        return;
    };
    let d = &mut p.data_mut()[l4..];
    if proto == ip_proto::TCP {
        let mut t = TcpPacket::new_unchecked(d);
        let c = f(t.checksum());
        t.set_checksum(c);
    } else {
        let mut u = UdpPacket::new_unchecked(d);
        if u.checksum() != 0 {
            let c = f(u.checksum());
            u.set_checksum(if c == 0 { 0xffff } else { c });
        }
    }
}

fn set_ipv4_addr(p: &mut Packet, key: &FlowKey, addr: u32, src: bool) {
    let Some(l3) = ipv4_header(p, key) else {
        return;
    };
    let mut ip = Ipv4Packet::new_unchecked(&mut p.data_mut()[l3..]);
    let old = if src { ip.src_addr() } else { ip.dst_addr() };
    if src {
        ip.set_src_addr(addr);
    } else {
        ip.set_dst_addr(addr);
    }
    let c = checksum::update32(ip.checksum(), old, addr);
    ip.set_checksum(c);
    // The TCP/UDP pseudo-header covers the addresses.
    update_l4_checksum(p, key, |c| checksum::update32(c, old, addr));
}

fn set_ipv4_ttl(p: &mut Packet, key: &FlowKey, ttl: u8) {
    let Some(l3) = ipv4_header(p, key) else {
        return;
    };
    let mut ip = Ipv4Packet::new_unchecked(&mut p.data_mut()[l3..]);
    // TTL shares a 16-bit word with the protocol.
    let old = u16::from_be_bytes([ip.ttl(), ip.protocol()]);
    ip.set_ttl(ttl);
    let new = u16::from_be_bytes([ttl, ip.protocol()]);
    let c = checksum::update16(ip.checksum(), old, new);
    ip.set_checksum(c);
}

fn set_tp_port(p: &mut Packet, key: &FlowKey, port: u16, src: bool) {
    let Some((l4, proto)) = l4_header(p, key) else {
        return;
    };
    let d = &mut p.data_mut()[l4..];
    let old = if proto == ip_proto::TCP {
        let mut t = TcpPacket::new_unchecked(d);
        let old = if src { t.src_port() } else { t.dst_port() };
        if src {
            t.set_src_port(port);
        } else {
            t.set_dst_port(port);
        }
        old
    } else {
        let mut u = UdpPacket::new_unchecked(d);
        let old = if src { u.src_port() } else { u.dst_port() };
        if src {
            u.set_src_port(port);
        } else {
            u.set_dst_port(port);
        }
        old
    };
    update_l4_checksum(p, key, |c| checksum::update16(c, old, port));
}
