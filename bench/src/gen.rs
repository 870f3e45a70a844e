//! `rvs-pktgen gen`: a packet generator on a real device through an rvs
//! port (AF_XDP or AF_PACKET).
//!
//! It sends Ethernet/IPv4/UDP frames of one size (64 bytes on the wire by
//! default: 60 bytes plus the FCS the device adds) as fast as the port takes
//! them, for a fixed time, in bursts of [`BATCH_SIZE`]. The frames carry a
//! valid IPv4 header checksum and UDP checksum 0 (none); `flows` flows differ
//! in the UDP source port. Every burst reuses the buffers of a small
//! [`PacketPool`]: nothing is allocated per packet (the result says so, from
//! the counting allocator).
//!
//! `sent` is the port's `tx_packets`: for AF_PACKET the frames the kernel
//! accepted, for AF_XDP the frames posted to the TX ring (copy mode sends
//! them within the same system call). Frames the port could not post are
//! `tx_dropped`.

use anyhow::{bail, Context, Result};
use rvs_datapath::packet::{Packet, PacketPool, BATCH_SIZE};
use rvs_datapath::port::afpacket::AfPacketPort;
use rvs_datapath::port::afxdp::{AfXdpPort, XdpMode};
use rvs_datapath::port::Port;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Which rvs port the generator transmits through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenKind {
    /// An AF_XDP socket, generic (skb) mode.
    AfXdp,
    /// An AF_PACKET socket (`sendmmsg`).
    AfPacket,
}

impl GenKind {
    /// Parses `afxdp` or `afpacket`.
    pub fn from_name(s: &str) -> Option<GenKind> {
        match s {
            "afxdp" => Some(GenKind::AfXdp),
            "afpacket" => Some(GenKind::AfPacket),
            _ => None,
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            GenKind::AfXdp => "afxdp",
            GenKind::AfPacket => "afpacket",
        }
    }
}

/// Smallest and largest frame size on the wire, FCS included.
pub const MIN_SIZE: usize = 64;
pub const MAX_SIZE: usize = 1518;

/// Bytes of Ethernet FCS counted in a frame size but added by the device.
const FCS_LEN: usize = 4;

/// UDP source port of flow 0; flow `i` uses `SPORT_BASE + i`.
const SPORT_BASE: u16 = 1024;
/// UDP destination port (discard).
const DPORT: u16 = 9;
/// Source and destination addresses: RFC 2544's benchmarking range, which
/// no test namespace owns, so a receiver drops the frames after counting.
const SRC_IP: [u8; 4] = [198, 18, 0, 1];
const DST_IP: [u8; 4] = [198, 19, 0, 1];

/// Where the UDP source port sits in the frame.
const SPORT_AT: usize = 34;

/// What to send.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub iface: String,
    pub kind: GenKind,
    pub seconds: f64,
    pub dst_mac: [u8; 6],
    /// `None`: the device's own address.
    pub src_mac: Option<[u8; 6]>,
    /// Distinct UDP source ports, 1 to 64512.
    pub flows: u32,
    /// Frame size on the wire, FCS included.
    pub size: usize,
}

/// What was sent (the JSON line `gen` prints).
#[derive(Debug, Clone, Serialize)]
pub struct GenResult {
    pub sent: u64,
    pub seconds: f64,
    pub mpps: f64,
    pub tx_dropped: u64,
    /// Heap allocations per sent packet while sending (0 is the design).
    pub allocs_per_pkt: f64,
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// The frame of flow 0: `size - 4` bytes of Ethernet/IPv4/UDP with a zero
/// payload, a valid IPv4 header checksum and UDP checksum 0.
pub fn template_frame(dst: [u8; 6], src: [u8; 6], size: usize) -> Vec<u8> {
    let len = size.clamp(MIN_SIZE, MAX_SIZE) - FCS_LEN;
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (len - 14) as u16;
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&SRC_IP);
    ip[16..20].copy_from_slice(&DST_IP);
    let c = rvs_datapath::wire::checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&SPORT_BASE.to_be_bytes());
    udp[2..4].copy_from_slice(&DPORT.to_be_bytes());
    udp[4..6].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f
}

/// Opens the port of `kind` on `iface`.
fn open_port(iface: &str, kind: GenKind) -> Result<Box<dyn Port>> {
    Ok(match kind {
        GenKind::AfXdp => Box::new(
            AfXdpPort::open(iface, XdpMode::Generic)
                .with_context(|| format!("cannot open an AF_XDP port on {iface}"))?,
        ),
        GenKind::AfPacket => Box::new(
            AfPacketPort::open(iface)
                .with_context(|| format!("cannot open an AF_PACKET port on {iface}"))?,
        ),
    })
}

/// Sends for `opts.seconds` and reports what was sent.
pub fn generate(opts: &GenOptions) -> Result<GenResult> {
    if !(opts.seconds > 0.0 && opts.seconds.is_finite()) {
        bail!(
            "--seconds must be a positive number of seconds, not {}",
            opts.seconds
        );
    }
    if !(MIN_SIZE..=MAX_SIZE).contains(&opts.size) {
        bail!(
            "--size must be between {MIN_SIZE} and {MAX_SIZE} bytes (FCS included), not {}",
            opts.size
        );
    }
    let max_flows = u32::from(u16::MAX - SPORT_BASE) + 1;
    if opts.flows == 0 || opts.flows > max_flows {
        bail!("--flows must be between 1 and {max_flows}");
    }
    let mut port = open_port(&opts.iface, opts.kind)?;
    let src = match opts.src_mac.or_else(|| port.mac()) {
        Some(m) => m,
        None => bail!("{} has no MAC address: give --src-mac", opts.iface),
    };
    let frame = template_frame(opts.dst_mac, src, opts.size);
    let mut pool = PacketPool::new(2 * BATCH_SIZE, frame.len().max(256));
    let mut pkts: Vec<Packet> = Vec::with_capacity(BATCH_SIZE);
    let flows = opts.flows;
    let mut flow: u32 = 0;
    let before = port.stats();
    let duration = Duration::from_secs_f64(opts.seconds);
    let allocs0 = crate::alloc_count();
    let start = Instant::now();
    let mut elapsed = Duration::ZERO;
    while elapsed < duration {
        while pkts.len() < BATCH_SIZE {
            let Some(mut p) = pool.get() else { break };
            if !p.set_frame(&frame) {
                pool.put(p);
                break;
            }
            let sport = SPORT_BASE + flow as u16;
            p.data_mut()[SPORT_AT..SPORT_AT + 2].copy_from_slice(&sport.to_be_bytes());
            flow += 1;
            if flow == flows {
                flow = 0;
            }
            pkts.push(p);
        }
        port.tx_burst(&mut pkts, &mut pool);
        // A port takes every packet (sent or dropped); should one leave some,
        // they go back to the pool rather than grow the queue.
        for p in pkts.drain(..) {
            pool.put(p);
        }
        elapsed = start.elapsed();
    }
    let allocs = crate::alloc_count() - allocs0;
    let after = port.stats();
    let sent = after.tx_packets - before.tx_packets;
    let seconds = elapsed.as_secs_f64();
    Ok(GenResult {
        sent,
        seconds,
        mpps: sent as f64 / seconds / 1e6,
        tx_dropped: after.tx_dropped - before.tx_dropped,
        allocs_per_pkt: allocs as f64 / sent.max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_and_format_round_trip() {
        let m = parse_mac("02:0a:ff:00:10:9B").unwrap();
        assert_eq!(m, [0x02, 0x0a, 0xff, 0x00, 0x10, 0x9b]);
        assert_eq!(format_mac(m), "02:0a:ff:00:10:9b");
        for bad in [
            "",
            "02:0a:ff:00:10",
            "02:0a:ff:00:10:9b:00",
            "02:0a:ff:00:10:zz",
            "2:::::",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn template_is_a_valid_udp_frame_of_the_asked_size() {
        for size in [64, 128, 1518] {
            let f = template_frame([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], size);
            assert_eq!(f.len(), size - 4);
            let eth = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
            let Some(etherparse::NetSlice::Ipv4(ip)) = eth.net else {
                panic!("not IPv4")
            };
            let h = ip.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum());
            assert_eq!(usize::from(h.total_len), size - 4 - 14);
            let Some(etherparse::TransportSlice::Udp(udp)) = eth.transport else {
                panic!("not UDP")
            };
            assert_eq!(udp.source_port(), SPORT_BASE);
            assert_eq!(udp.checksum(), 0);
            assert_eq!(usize::from(udp.length()), size - 4 - 34);
        }
    }
}
