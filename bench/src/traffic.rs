//! What `rvs-pktgen` sends: Ethernet (optionally 802.1Q) / IPv4 / UDP
//! frames of a fixed size or an IMIX, spread over up to millions of
//! distinct 5-tuples, each carrying a *marker* in its UDP payload —
//! trial number, sequence number and transmit timestamp — from which the
//! receiving side counts loss and reordering and measures latency.
//!
//! Frame sizes are on-the-wire sizes with the 4-byte FCS, as in RFC 2544
//! (64 … 1518); the buffer holds `size - 4` bytes. IPv4 header checksums
//! are valid; the UDP checksum is 0 ("none", allowed for IPv4), so nothing
//! downstream has a checksum to finish or check.
//!
//! Flow `f` (0 ≤ f < flows) is the 5-tuple whose source port is the
//! `f mod S`-th of the source-port range (S ports), whose destination port
//! is the `(f / S) mod D`-th of the destination-port range, and whose
//! source address is the base plus `f / (S·D)`. Sequential order sends
//! flow 0, 1, 2, …; random order draws each frame's flow uniformly
//! (xorshift, seeded, so runs repeat).
//!
//! Building a frame is a copy of a prebuilt template plus a dozen field
//! stores; nothing is allocated per frame.

use std::fmt;
use std::net::Ipv4Addr;

/// Smallest and largest frame, FCS included.
pub const MIN_FRAME: usize = 64;
pub const MAX_FRAME: usize = 1518;
/// The FCS the device adds: counted in sizes, not in buffers.
pub const FCS_LEN: usize = 4;

/// The marker in the first payload bytes: magic, trial, sequence (low 32
/// bits), timestamp (ns).
pub const MARKER_LEN: usize = 14;
const MAGIC: u8 = 0xa5;

/// Simple IMIX (7:4:1 of 64, 594 and 1518 bytes), a common mix for
/// router and switch benchmarks.
pub const IMIX: [(usize, u32); 3] = [(64, 7), (594, 4), (1518, 1)];

/// Frame sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameSize {
    Fixed(usize),
    Imix,
}

impl FrameSize {
    /// `64` … `1518` or `imix`.
    pub fn parse(s: &str) -> Result<FrameSize, TrafficError> {
        if s.eq_ignore_ascii_case("imix") {
            return Ok(FrameSize::Imix);
        }
        let n: usize = s
            .parse()
            .map_err(|_| TrafficError(format!("frame size {s:?} is not a number or \"imix\"")))?;
        if !(MIN_FRAME..=MAX_FRAME).contains(&n) {
            return Err(TrafficError(format!(
                "frame size {n} is outside {MIN_FRAME}..={MAX_FRAME} bytes (FCS included)"
            )));
        }
        Ok(FrameSize::Fixed(n))
    }

    /// Average size on the wire, FCS included.
    pub fn mean(&self) -> f64 {
        match self {
            FrameSize::Fixed(n) => *n as f64,
            FrameSize::Imix => {
                let (bytes, n) = IMIX.iter().fold((0u64, 0u64), |(b, c), &(s, w)| {
                    (b + s as u64 * u64::from(w), c + u64::from(w))
                });
                bytes as f64 / n as f64
            }
        }
    }
}

impl fmt::Display for FrameSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameSize::Fixed(n) => write!(f, "{n}"),
            FrameSize::Imix => f.write_str("imix"),
        }
    }
}

/// The order flows are sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowOrder {
    Sequential,
    Random,
}

/// A bad traffic description; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficError(pub String);

impl fmt::Display for TrafficError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TrafficError {}

/// An inclusive range of UDP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// `N` or `N-M`.
    pub fn parse(s: &str) -> Result<PortRange, TrafficError> {
        let bad = || {
            TrafficError(format!(
                "port range {s:?} is not N or N-M with N <= M <= 65535"
            ))
        };
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (s.trim(), s.trim()),
        };
        let first: u16 = a.parse().map_err(|_| bad())?;
        let last: u16 = b.parse().map_err(|_| bad())?;
        if first > last {
            return Err(bad());
        }
        Ok(PortRange { first, last })
    }

    fn len(self) -> u32 {
        u32::from(self.last - self.first) + 1
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct TrafficSpec {
    pub frame: FrameSize,
    /// Distinct 5-tuples, at least 1.
    pub flows: u32,
    pub order: FlowOrder,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// Base addresses (flows add to the source address).
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_ports: PortRange,
    pub dst_ports: PortRange,
    /// An 802.1Q tag with this VLAN id (priority 0).
    pub vlan: Option<u16>,
}

impl Default for TrafficSpec {
    /// One flow of 64-byte frames in RFC 2544's benchmarking address range
    /// (198.18.0.0/15), locally administered MACs.
    fn default() -> Self {
        TrafficSpec {
            frame: FrameSize::Fixed(64),
            flows: 1,
            order: FlowOrder::Sequential,
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            dst_mac: [0x02, 0, 0, 0, 0, 0x02],
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: Ipv4Addr::new(198, 19, 0, 1),
            src_ports: PortRange {
                first: 1024,
                last: 65535,
            },
            dst_ports: PortRange { first: 9, last: 9 },
            vlan: None,
        }
    }
}

impl TrafficSpec {
    /// Checks that the flows fit the ranges and the VLAN id is valid.
    pub fn validate(&self) -> Result<(), TrafficError> {
        if self.flows == 0 {
            return Err(TrafficError(
                "the number of flows must be at least 1".into(),
            ));
        }
        if let Some(v) = self.vlan {
            if v == 0 || v > 4094 {
                return Err(TrafficError(format!("VLAN id {v} is outside 1..=4094")));
            }
        }
        let per_ip = u64::from(self.src_ports.len()) * u64::from(self.dst_ports.len());
        let ips = u64::from(self.flows).div_ceil(per_ip);
        let room = u64::from(u32::MAX - u32::from(self.src_ip)) + 1;
        if ips > room {
            return Err(TrafficError(format!(
                "{} flows do not fit: {} source ports x {} destination ports need {ips} source addresses from {}",
                self.flows,
                self.src_ports.len(),
                self.dst_ports.len(),
                self.src_ip
            )));
        }
        if let FrameSize::Fixed(n) = self.frame {
            FrameSize::parse(&n.to_string())?;
        }
        Ok(())
    }
}

/// The marker found in a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub trial: u8,
    /// The low 32 bits of the sequence number.
    pub seq: u32,
    pub ts_ns: u64,
}

const ETH_HDR: usize = 14;
const VLAN_HDR: usize = 4;
const IP_HDR: usize = 20;
const UDP_HDR: usize = 8;

/// Builds frames of a [`TrafficSpec`].
#[derive(Debug, Clone)]
pub struct FrameBuilder {
    spec: TrafficSpec,
    /// One template per size in use (buffer bytes, FCS excluded).
    templates: Vec<Vec<u8>>,
    /// Template index of each frame, cycled (IMIX order).
    pattern: Vec<u8>,
    next_pattern: usize,
    l3: usize,
    next_flow: u32,
    rng: u64,
    sports: u32,
    dports: u32,
    trial: u8,
}

/// The IPv4 header checksum of `h` (20 bytes, checksum field included as
/// it is).
fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for w in h.chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl FrameBuilder {
    /// A builder for `spec` (validated here).
    pub fn new(spec: &TrafficSpec) -> Result<FrameBuilder, TrafficError> {
        spec.validate()?;
        let l3 = ETH_HDR + if spec.vlan.is_some() { VLAN_HDR } else { 0 };
        let sizes: Vec<(usize, u32)> = match spec.frame {
            FrameSize::Fixed(n) => vec![(n, 1)],
            FrameSize::Imix => IMIX.to_vec(),
        };
        let mut templates = Vec::new();
        for &(size, _) in &sizes {
            let len = size - FCS_LEN;
            let mut t = vec![0u8; len];
            t[0..6].copy_from_slice(&spec.dst_mac);
            t[6..12].copy_from_slice(&spec.src_mac);
            if let Some(v) = spec.vlan {
                t[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
                t[14..16].copy_from_slice(&v.to_be_bytes());
            }
            t[l3 - 2..l3].copy_from_slice(&0x0800u16.to_be_bytes());
            let ip = &mut t[l3..l3 + IP_HDR];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((len - l3) as u16).to_be_bytes());
            ip[6] = 0x40; // don't fragment
            ip[8] = 64;
            ip[9] = 17;
            ip[12..16].copy_from_slice(&spec.src_ip.octets());
            ip[16..20].copy_from_slice(&spec.dst_ip.octets());
            let udp = l3 + IP_HDR;
            t[udp + 4..udp + 6].copy_from_slice(&((len - udp) as u16).to_be_bytes());
            templates.push(t);
        }
        // IMIX: spread each size over the cycle (not 7 small in a row).
        let total: u32 = sizes.iter().map(|s| s.1).sum();
        let mut pattern = Vec::with_capacity(total as usize);
        let mut credit: Vec<i64> = vec![0; sizes.len()];
        for _ in 0..total {
            for (c, s) in credit.iter_mut().zip(&sizes) {
                *c += i64::from(s.1);
            }
            let (best, _) = credit
                .iter()
                .enumerate()
                .max_by_key(|&(i, c)| (*c, std::cmp::Reverse(i)))
                .unwrap_or((0, &0));
            credit[best] -= i64::from(total);
            pattern.push(best as u8);
        }
        Ok(FrameBuilder {
            sports: spec.src_ports.len(),
            dports: spec.dst_ports.len(),
            spec: spec.clone(),
            templates,
            pattern,
            next_pattern: 0,
            l3,
            next_flow: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            trial: 0,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &TrafficSpec {
        &self.spec
    }

    /// Marks the frames built from now on with trial number `t` (frames
    /// of an earlier trial that arrive late are then told apart).
    pub fn set_trial(&mut self, t: u8) {
        self.trial = t;
    }

    /// Starts the flow sequence and the size cycle over.
    pub fn rewind(&mut self) {
        self.next_flow = 0;
        self.next_pattern = 0;
        self.rng = 0x9e37_79b9_7f4a_7c15;
    }

    fn flow(&mut self) -> u32 {
        match self.spec.order {
            FlowOrder::Sequential => {
                let f = self.next_flow;
                self.next_flow = if f + 1 >= self.spec.flows { 0 } else { f + 1 };
                f
            }
            FlowOrder::Random => {
                let mut x = self.rng;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.rng = x;
                (((x >> 32) * u64::from(self.spec.flows)) >> 32) as u32
            }
        }
    }

    /// Writes the next frame into `buf` with sequence number `seq` and
    /// timestamp `ts_ns`; returns its length, or 0 when `buf` is too small.
    #[inline]
    pub fn build(&mut self, seq: u64, ts_ns: u64, buf: &mut [u8]) -> usize {
        let t = usize::from(self.pattern[self.next_pattern]);
        self.next_pattern += 1;
        if self.next_pattern == self.pattern.len() {
            self.next_pattern = 0;
        }
        let len = self.templates[t].len();
        let Some(out) = buf.get_mut(..len) else {
            return 0;
        };
        out.copy_from_slice(&self.templates[t]);
        let f = self.flow();
        let sp = self.spec.src_ports.first as u32 + f % self.sports;
        let rest = f / self.sports;
        let dp = self.spec.dst_ports.first as u32 + rest % self.dports;
        let ip_off = rest / self.dports;
        let l3 = self.l3;
        let src = u32::from(self.spec.src_ip).wrapping_add(ip_off);
        out[l3 + 12..l3 + 16].copy_from_slice(&src.to_be_bytes());
        let csum = ip_checksum(&out[l3..l3 + IP_HDR]);
        out[l3 + 10..l3 + 12].copy_from_slice(&csum.to_be_bytes());
        let udp = l3 + IP_HDR;
        out[udp..udp + 2].copy_from_slice(&(sp as u16).to_be_bytes());
        out[udp + 2..udp + 4].copy_from_slice(&(dp as u16).to_be_bytes());
        let m = udp + UDP_HDR;
        out[m] = MAGIC;
        out[m + 1] = self.trial;
        out[m + 2..m + 6].copy_from_slice(&(seq as u32).to_le_bytes());
        out[m + 6..m + 14].copy_from_slice(&ts_ns.to_le_bytes());
        len
    }
}

/// The marker of a frame built by [`FrameBuilder`] (with or without one
/// VLAN tag, whatever the switch did to it), or `None` for any other
/// frame.
#[inline]
pub fn parse_marker(frame: &[u8]) -> Option<Marker> {
    let mut l3 = ETH_HDR;
    let mut et = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if et == 0x8100 {
        et = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        l3 += VLAN_HDR;
    }
    if et != 0x0800 || *frame.get(l3)? != 0x45 || *frame.get(l3 + 9)? != 17 {
        return None;
    }
    let m = l3 + IP_HDR + UDP_HDR;
    let b = frame.get(m..m + MARKER_LEN)?;
    if b[0] != MAGIC {
        return None;
    }
    Some(Marker {
        trial: b[1],
        seq: u32::from_le_bytes([b[2], b[3], b[4], b[5]]),
        ts_ns: u64::from_le_bytes([b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13]]),
    })
}

/// The full sequence number whose low 32 bits are `low`, nearest to
/// `near` (the receiver's idea of where the sequence is).
#[inline]
pub fn widen_seq(low: u32, near: u64) -> u64 {
    let base = near & !0xffff_ffff;
    let c = base | u64::from(low);
    let up = c.wrapping_add(1 << 32);
    let down = c.wrapping_sub(1 << 32);
    let dist = |x: u64| x.abs_diff(near);
    if c < (1 << 32) || dist(c) <= dist(down) {
        if dist(up) < dist(c) {
            up
        } else {
            c
        }
    } else {
        down
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use std::collections::HashSet;

    fn spec() -> TrafficSpec {
        TrafficSpec::default()
    }

    #[test]
    fn frames_are_valid_udp_with_a_marker() {
        for vlan in [None, Some(100)] {
            let s = TrafficSpec {
                vlan,
                flows: 1000,
                ..spec()
            };
            let mut b = FrameBuilder::new(&s).unwrap();
            b.set_trial(7);
            let mut buf = [0u8; 2048];
            let n = b.build(0x1_0000_0005, 123_456, &mut buf);
            assert_eq!(n, 60);
            let p = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
            let Some(NetSlice::Ipv4(ip)) = p.net else {
                panic!("not IPv4")
            };
            let h = ip.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum());
            assert!(matches!(p.transport, Some(TransportSlice::Udp(_))));
            let m = parse_marker(&buf[..n]).unwrap();
            assert_eq!(
                m,
                Marker {
                    trial: 7,
                    seq: 5,
                    ts_ns: 123_456
                }
            );
        }
    }

    #[test]
    fn flows_are_distinct_and_cycle() {
        let s = TrafficSpec {
            flows: 70_000,
            dst_ports: PortRange::parse("9-10").unwrap(),
            ..spec()
        };
        let mut b = FrameBuilder::new(&s).unwrap();
        let mut seen = HashSet::new();
        let mut buf = [0u8; 128];
        for i in 0..70_000u64 {
            let n = b.build(i, 0, &mut buf);
            assert!(seen.insert(buf[26..38].to_vec()), "flow {i} repeats");
            assert_eq!(n, 60);
        }
        b.build(0, 0, &mut buf);
        assert!(
            !seen.insert(buf[26..38].to_vec()),
            "the 70001st frame is flow 0 again"
        );
    }

    #[test]
    fn random_order_stays_within_the_flows() {
        let s = TrafficSpec {
            flows: 100,
            order: FlowOrder::Random,
            ..spec()
        };
        let mut b = FrameBuilder::new(&s).unwrap();
        let mut seen = HashSet::new();
        let mut buf = [0u8; 128];
        for i in 0..10_000 {
            b.build(i, 0, &mut buf);
            seen.insert(u16::from_be_bytes([buf[34], buf[35]]));
        }
        assert_eq!(seen.len(), 100);
        assert!(seen.iter().all(|&p| (1024..1124).contains(&p)));
    }

    #[test]
    fn imix_sizes_come_in_their_proportions() {
        let s = TrafficSpec {
            frame: FrameSize::Imix,
            ..spec()
        };
        let mut b = FrameBuilder::new(&s).unwrap();
        let mut buf = [0u8; 2048];
        let mut count = std::collections::HashMap::new();
        for i in 0..120 {
            *count.entry(b.build(i, 0, &mut buf)).or_insert(0) += 1;
        }
        assert_eq!(count[&60], 70);
        assert_eq!(count[&590], 40);
        assert_eq!(count[&1514], 10);
        assert!((FrameSize::Imix.mean() - 361.83).abs() < 0.01);
    }

    #[test]
    fn bad_descriptions_are_refused_with_a_reason() {
        assert!(FrameSize::parse("63").unwrap_err().0.contains("64..=1518"));
        assert!(FrameSize::parse("big").is_err());
        assert_eq!(FrameSize::parse("IMIX").unwrap(), FrameSize::Imix);
        assert!(PortRange::parse("10-5").is_err());
        assert!(PortRange::parse("70000").is_err());
        let s = TrafficSpec { flows: 0, ..spec() };
        assert!(FrameBuilder::new(&s).is_err());
        let s = TrafficSpec {
            vlan: Some(4095),
            ..spec()
        };
        assert!(FrameBuilder::new(&s).unwrap_err().0.contains("VLAN"));
        let s = TrafficSpec {
            flows: u32::MAX,
            src_ip: Ipv4Addr::new(255, 255, 255, 0),
            ..spec()
        };
        assert!(FrameBuilder::new(&s).unwrap_err().0.contains("do not fit"));
    }

    #[test]
    fn a_small_buffer_gets_nothing_and_foreign_frames_no_marker() {
        let mut b = FrameBuilder::new(&spec()).unwrap();
        assert_eq!(b.build(0, 0, &mut [0u8; 59]), 0);
        assert_eq!(parse_marker(&[0u8; 60]), None);
        assert_eq!(parse_marker(&[0u8; 10]), None);
    }

    #[test]
    fn sequence_numbers_widen_across_the_32_bit_wrap() {
        assert_eq!(widen_seq(5, 0), 5);
        assert_eq!(widen_seq(5, 3), 5);
        assert_eq!(widen_seq(0xffff_fffe, 0x1_0000_0003), 0xffff_fffe);
        assert_eq!(widen_seq(2, 0xffff_ffff), 0x1_0000_0002);
        assert_eq!(widen_seq(7, 0x5_0000_0000), 0x5_0000_0007);
    }
}
