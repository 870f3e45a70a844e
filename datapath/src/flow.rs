//! The flow key: every header field the datapath can match on, packed into a
//! fixed array of [`FLOW_WORDS`] `u64` words.
//!
//! A fixed layout of words is what makes the fast path cheap: masking a key is
//! eight `AND`s, comparing two keys is eight compares, and hashing is one
//! multiply per word. A [`FlowMask`] has the same layout; a 1 bit means "this
//! bit of the key matters". Keys are built by [`crate::extract()`], which leaves
//! every field it could not parse at zero.
//!
//! # Layout
//!
//! | word | bits 63..48 | 47..32 | 31..16 | 15..8 | 7..0 |
//! |---|---|---|---|---|---|
//! | 0 | `in_port` (u32) ‖ | | `dl_type` | `vlan_tci` (16 bits) ‖ | |
//! | 1 | `eth_dst` (48 bits) ‖ | | | `nw_proto` | `nw_tos` |
//! | 2 | `eth_src` (48 bits) ‖ | | | `nw_ttl` | `nw_frag` |
//! | 3 | IPv6 src, high 64 bits — or ARP `sha` in bits 63..16 |
//! | 4 | IPv6 src, low 64 bits — or IPv4 src / ARP `spa` in bits 31..0 |
//! | 5 | IPv6 dst, high 64 bits — or ARP `tha` in bits 63..16 |
//! | 6 | IPv6 dst, low 64 bits — or IPv4 dst / ARP `tpa` in bits 31..0 |
//! | 7 | `tp_src` (16) | `tp_dst` (16) | `ipv6_label` (20 bits at 31..12), `tcp_flags` (12 bits at 11..0) |
//!
//! Fields that share a word are told apart by `dl_type`, which every megaflow
//! that matches them also matches (as in Open vSwitch, a field's prerequisites
//! are part of its match). ICMP and ICMPv6 put type and code in `tp_src` and
//! `tp_dst`; ARP puts its opcode in `nw_proto`. `vlan_tci` has the CFI bit
//! (0x1000) set when the frame carried an 802.1Q tag, so "no tag" and "tag with
//! VID 0" differ.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// Number of `u64` words in a [`FlowKey`].
pub const FLOW_WORDS: usize = 8;

/// The `vlan_tci` bit that says an 802.1Q tag was present.
pub const VLAN_CFI: u16 = 0x1000;

/// `nw_frag` bit: the packet is an IP fragment.
pub const FRAG_ANY: u8 = 0x01;
/// `nw_frag` bit: the packet is a fragment other than the first one.
pub const FRAG_LATER: u8 = 0x02;

/// Word and shift of each field, so that getters, setters and mask builders
/// share one table.
mod field {
    /// (word, shift, width in bits)
    pub type Field = (usize, u32, u32);
    pub const IN_PORT: Field = (0, 32, 32);
    pub const DL_TYPE: Field = (0, 16, 16);
    pub const VLAN_TCI: Field = (0, 0, 16);
    pub const ETH_DST: Field = (1, 16, 48);
    pub const NW_PROTO: Field = (1, 8, 8);
    pub const NW_TOS: Field = (1, 0, 8);
    pub const ETH_SRC: Field = (2, 16, 48);
    pub const NW_TTL: Field = (2, 8, 8);
    pub const NW_FRAG: Field = (2, 0, 8);
    pub const ARP_SHA: Field = (3, 16, 48);
    pub const IPV4_SRC: Field = (4, 0, 32);
    pub const ARP_THA: Field = (5, 16, 48);
    pub const IPV4_DST: Field = (6, 0, 32);
    pub const TP_SRC: Field = (7, 48, 16);
    pub const TP_DST: Field = (7, 32, 16);
    pub const IPV6_LABEL: Field = (7, 12, 20);
    pub const TCP_FLAGS: Field = (7, 0, 12);
}

/// A field of the flow key, for building masks and for naming what a
/// megaflow matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    InPort,
    DlType,
    VlanTci,
    EthDst,
    EthSrc,
    NwProto,
    NwTos,
    NwTtl,
    NwFrag,
    ArpSha,
    ArpTha,
    Ipv4Src,
    Ipv4Dst,
    Ipv6Src,
    Ipv6Dst,
    TpSrc,
    TpDst,
    Ipv6Label,
    TcpFlags,
}

impl Field {
    /// Every field, in key order.
    pub const ALL: [Field; 19] = [
        Field::InPort,
        Field::DlType,
        Field::VlanTci,
        Field::EthDst,
        Field::EthSrc,
        Field::NwProto,
        Field::NwTos,
        Field::NwTtl,
        Field::NwFrag,
        Field::ArpSha,
        Field::ArpTha,
        Field::Ipv4Src,
        Field::Ipv4Dst,
        Field::Ipv6Src,
        Field::Ipv6Dst,
        Field::TpSrc,
        Field::TpDst,
        Field::Ipv6Label,
        Field::TcpFlags,
    ];

    /// The field's name as Open vSwitch's flow syntax spells it.
    pub fn name(self) -> &'static str {
        match self {
            Field::InPort => "in_port",
            Field::DlType => "eth_type",
            Field::VlanTci => "vlan_tci",
            Field::EthDst => "eth_dst",
            Field::EthSrc => "eth_src",
            Field::NwProto => "nw_proto",
            Field::NwTos => "nw_tos",
            Field::NwTtl => "nw_ttl",
            Field::NwFrag => "nw_frag",
            Field::ArpSha => "arp_sha",
            Field::ArpTha => "arp_tha",
            Field::Ipv4Src => "ipv4_src",
            Field::Ipv4Dst => "ipv4_dst",
            Field::Ipv6Src => "ipv6_src",
            Field::Ipv6Dst => "ipv6_dst",
            Field::TpSrc => "tp_src",
            Field::TpDst => "tp_dst",
            Field::Ipv6Label => "ipv6_label",
            Field::TcpFlags => "tcp_flags",
        }
    }

    /// The bits of the key this field occupies, as a list of (word, bits).
    fn bits(self) -> &'static [(usize, u64)] {
        const fn m(f: field::Field) -> (usize, u64) {
            let ones = if f.2 == 64 {
                u64::MAX
            } else {
                (1u64 << f.2) - 1
            };
            (f.0, ones << f.1)
        }
        match self {
            Field::InPort => const { &[m(field::IN_PORT)] },
            Field::DlType => const { &[m(field::DL_TYPE)] },
            Field::VlanTci => const { &[m(field::VLAN_TCI)] },
            Field::EthDst => const { &[m(field::ETH_DST)] },
            Field::EthSrc => const { &[m(field::ETH_SRC)] },
            Field::NwProto => const { &[m(field::NW_PROTO)] },
            Field::NwTos => const { &[m(field::NW_TOS)] },
            Field::NwTtl => const { &[m(field::NW_TTL)] },
            Field::NwFrag => const { &[m(field::NW_FRAG)] },
            Field::ArpSha => const { &[m(field::ARP_SHA)] },
            Field::ArpTha => const { &[m(field::ARP_THA)] },
            Field::Ipv4Src => const { &[m(field::IPV4_SRC)] },
            Field::Ipv4Dst => const { &[m(field::IPV4_DST)] },
            Field::Ipv6Src => &[(3, u64::MAX), (4, u64::MAX)],
            Field::Ipv6Dst => &[(5, u64::MAX), (6, u64::MAX)],
            Field::TpSrc => const { &[m(field::TP_SRC)] },
            Field::TpDst => const { &[m(field::TP_DST)] },
            Field::Ipv6Label => const { &[m(field::IPV6_LABEL)] },
            Field::TcpFlags => const { &[m(field::TCP_FLAGS)] },
        }
    }
}

/// A packet's header fields, packed. See the module docs for the layout.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct FlowKey {
    pub words: [u64; FLOW_WORDS],
}

/// Which bits of a [`FlowKey`] a megaflow matches. Same layout as the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct FlowMask {
    pub words: [u64; FLOW_WORDS],
}

#[inline(always)]
fn get(words: &[u64; FLOW_WORDS], f: field::Field) -> u64 {
    let ones = if f.2 == 64 {
        u64::MAX
    } else {
        (1u64 << f.2) - 1
    };
    (words[f.0] >> f.1) & ones
}

#[inline(always)]
fn set(words: &mut [u64; FLOW_WORDS], f: field::Field, v: u64) {
    let ones = if f.2 == 64 {
        u64::MAX
    } else {
        (1u64 << f.2) - 1
    };
    words[f.0] = (words[f.0] & !(ones << f.1)) | ((v & ones) << f.1);
}

/// Generates a getter and a setter for a scalar field.
macro_rules! accessors {
    ($($(#[$doc:meta])* $get:ident, $set:ident: $ty:ty = $f:ident;)*) => {
        impl FlowKey {
            $(
                $(#[$doc])*
                #[inline(always)]
                pub fn $get(&self) -> $ty {
                    get(&self.words, field::$f) as $ty
                }
                #[inline(always)]
                pub fn $set(&mut self, v: $ty) {
                    set(&mut self.words, field::$f, v as u64)
                }
            )*
        }
    };
}

accessors! {
    /// Datapath port the packet arrived on.
    in_port, set_in_port: u32 = IN_PORT;
    /// Ethertype after any VLAN tag (0 when the frame was too short).
    dl_type, set_dl_type: u16 = DL_TYPE;
    /// 802.1Q TCI with [`VLAN_CFI`] set when a tag was present, else 0.
    vlan_tci, set_vlan_tci: u16 = VLAN_TCI;
    /// IPv4 protocol / IPv6 next header, or the ARP opcode (low 8 bits).
    nw_proto, set_nw_proto: u8 = NW_PROTO;
    /// IPv4 TOS / IPv6 traffic class (DSCP and ECN).
    nw_tos, set_nw_tos: u8 = NW_TOS;
    /// IPv4 TTL / IPv6 hop limit.
    nw_ttl, set_nw_ttl: u8 = NW_TTL;
    /// [`FRAG_ANY`] | [`FRAG_LATER`].
    nw_frag, set_nw_frag: u8 = NW_FRAG;
    /// IPv4 source (or ARP sender protocol address), host order.
    ipv4_src, set_ipv4_src: u32 = IPV4_SRC;
    /// IPv4 destination (or ARP target protocol address), host order.
    ipv4_dst, set_ipv4_dst: u32 = IPV4_DST;
    /// TCP/UDP source port, or ICMP/ICMPv6 type.
    tp_src, set_tp_src: u16 = TP_SRC;
    /// TCP/UDP destination port, or ICMP/ICMPv6 code.
    tp_dst, set_tp_dst: u16 = TP_DST;
    /// IPv6 flow label (20 bits).
    ipv6_label, set_ipv6_label: u32 = IPV6_LABEL;
    /// TCP flags (the 12 bits after the data offset).
    tcp_flags, set_tcp_flags: u16 = TCP_FLAGS;
}

/// Packs a MAC address into the low 48 bits of a u64 (network order preserved:
/// `mac[0]` is the most significant byte).
#[inline(always)]
pub fn mac_to_u64(mac: [u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]])
}

/// Inverse of [`mac_to_u64`].
#[inline(always)]
pub fn u64_to_mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// A MAC address as text, `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses `aa:bb:cc:dd:ee:ff` (hex digits, either case).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

impl FlowKey {
    /// Ethernet destination.
    #[inline(always)]
    pub fn eth_dst(&self) -> [u8; 6] {
        u64_to_mac(get(&self.words, field::ETH_DST))
    }
    #[inline(always)]
    pub fn set_eth_dst(&mut self, mac: [u8; 6]) {
        set(&mut self.words, field::ETH_DST, mac_to_u64(mac))
    }
    /// Ethernet source.
    #[inline(always)]
    pub fn eth_src(&self) -> [u8; 6] {
        u64_to_mac(get(&self.words, field::ETH_SRC))
    }
    #[inline(always)]
    pub fn set_eth_src(&mut self, mac: [u8; 6]) {
        set(&mut self.words, field::ETH_SRC, mac_to_u64(mac))
    }
    /// ARP sender hardware address.
    #[inline(always)]
    pub fn arp_sha(&self) -> [u8; 6] {
        u64_to_mac(get(&self.words, field::ARP_SHA))
    }
    #[inline(always)]
    pub fn set_arp_sha(&mut self, mac: [u8; 6]) {
        set(&mut self.words, field::ARP_SHA, mac_to_u64(mac))
    }
    /// ARP target hardware address.
    #[inline(always)]
    pub fn arp_tha(&self) -> [u8; 6] {
        u64_to_mac(get(&self.words, field::ARP_THA))
    }
    #[inline(always)]
    pub fn set_arp_tha(&mut self, mac: [u8; 6]) {
        set(&mut self.words, field::ARP_THA, mac_to_u64(mac))
    }
    /// IPv6 source address.
    #[inline(always)]
    pub fn ipv6_src(&self) -> [u8; 16] {
        words_to_ipv6(self.words[3], self.words[4])
    }
    #[inline(always)]
    pub fn set_ipv6_src(&mut self, a: [u8; 16]) {
        (self.words[3], self.words[4]) = ipv6_to_words(a);
    }
    /// IPv6 destination address.
    #[inline(always)]
    pub fn ipv6_dst(&self) -> [u8; 16] {
        words_to_ipv6(self.words[5], self.words[6])
    }
    #[inline(always)]
    pub fn set_ipv6_dst(&mut self, a: [u8; 16]) {
        (self.words[5], self.words[6]) = ipv6_to_words(a);
    }

    /// The key with every bit the mask does not cover cleared.
    #[inline(always)]
    pub fn masked(&self, mask: &FlowMask) -> FlowKey {
        let mut out = FlowKey::default();
        for i in 0..FLOW_WORDS {
            out.words[i] = self.words[i] & mask.words[i];
        }
        out
    }

    /// Hash of the whole key (the EMC's index).
    #[inline(always)]
    pub fn hash(&self) -> u64 {
        hash_words(&self.words)
    }

    /// Hash of `self & mask`. Equal masked keys give equal hashes, and
    /// `k.masked_hash(m) == k.masked(m).hash()`.
    #[inline(always)]
    pub fn masked_hash(&self, mask: &FlowMask) -> u64 {
        hash_words(&core::array::from_fn(|i| self.words[i] & mask.words[i]))
    }

    /// Whether `self & mask == masked_key` (which must already be masked).
    #[inline(always)]
    pub fn matches(&self, mask: &FlowMask, masked_key: &FlowKey) -> bool {
        let mut diff = 0;
        for i in 0..FLOW_WORDS {
            diff |= (self.words[i] & mask.words[i]) ^ masked_key.words[i];
        }
        diff == 0
    }
}

#[inline(always)]
fn words_to_ipv6(hi: u64, lo: u64) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&hi.to_be_bytes());
    a[8..].copy_from_slice(&lo.to_be_bytes());
    a
}

#[inline(always)]
fn ipv6_to_words(a: [u8; 16]) -> (u64, u64) {
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&a[..8]);
    lo.copy_from_slice(&a[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
}

/// The key hash's secrets: random per process, chosen at the first hash
/// and never changed (every table's stored hashes depend on them). A guest
/// that knows the hash could otherwise pick headers that all land in one
/// index bucket and make every lookup walk a long chain.
static HASH_KEYS: OnceLock<[u64; 5]> = OnceLock::new();

#[cold]
fn random_hash_keys() -> [u64; 5] {
    // std's RandomState is seeded from the operating system's randomness.
    let state = RandomState::new();
    std::array::from_fn(|i| {
        let mut h = state.build_hasher();
        h.write_usize(i);
        // Odd, and with bits in both halves, as a multiplier should have.
        h.finish() | 0x8000_0001_0000_0001
    })
}

#[inline(always)]
fn hash_keys() -> &'static [u64; 5] {
    HASH_KEYS.get_or_init(random_hash_keys)
}

/// The full 64x64→128 product folded to 64 bits (wyhash's "mum").
#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// wyhash-style: four independent multiplies over word pairs (the CPU runs
/// them in parallel), then one that mixes their results, so every input bit
/// reaches both the low bits (table index) and the high bits (signature).
#[inline(always)]
fn hash_words(w: &[u64; FLOW_WORDS]) -> u64 {
    let k = hash_keys();
    let a = mum(w[0] ^ k[0], w[1] ^ k[1]);
    let b = mum(w[2] ^ k[2], w[3] ^ k[3]);
    let c = mum(w[4] ^ k[1], w[5] ^ k[2]);
    let d = mum(w[6] ^ k[3], w[7] ^ k[0]);
    mum(a ^ c ^ k[4], b ^ d ^ k[1])
}

impl FlowMask {
    /// A mask that matches nothing (every packet matches it).
    pub const WILDCARD_ALL: FlowMask = FlowMask {
        words: [0; FLOW_WORDS],
    };

    /// A mask that matches every bit: an exact match.
    pub const EXACT: FlowMask = FlowMask {
        words: [u64::MAX; FLOW_WORDS],
    };

    /// A mask covering exactly the given fields.
    pub fn of_fields(fields: &[Field]) -> FlowMask {
        let mut m = FlowMask::WILDCARD_ALL;
        for f in fields {
            m.add_field(*f);
        }
        m
    }

    /// Adds every bit of `field` to the mask ("unwildcards" it).
    pub fn add_field(&mut self, field: Field) -> &mut Self {
        for &(w, bits) in field.bits() {
            self.words[w] |= bits;
        }
        self
    }

    /// Whether any bit of `field` is in the mask.
    pub fn has_field(&self, field: Field) -> bool {
        field.bits().iter().any(|&(w, b)| self.words[w] & b != 0)
    }

    /// Bitmap of the words that are not zero (bit i = word i).
    #[inline]
    pub fn nonzero_words(&self) -> u8 {
        let mut m = 0u8;
        for (i, w) in self.words.iter().enumerate() {
            if *w != 0 {
                m |= 1 << i;
            }
        }
        m
    }

    /// Union of two masks.
    pub fn union(&self, other: &FlowMask) -> FlowMask {
        let mut m = *self;
        for i in 0..FLOW_WORDS {
            m.words[i] |= other.words[i];
        }
        m
    }
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlowKey[")?;
        for (i, w) in self.words.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{w:016x}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for FlowMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Field::ALL
            .iter()
            .filter(|fl| self.has_field(**fl))
            .map(|fl| fl.name())
            .collect();
        write!(f, "FlowMask({})", names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_round_trip_and_stay_in_their_bits() {
        let mut k = FlowKey::default();
        k.set_in_port(0xdead_beef);
        k.set_dl_type(0x86dd);
        k.set_vlan_tci(0x1abc);
        k.set_eth_dst([1, 2, 3, 4, 5, 6]);
        k.set_eth_src([7, 8, 9, 10, 11, 12]);
        k.set_nw_proto(17);
        k.set_nw_tos(0xb8);
        k.set_nw_ttl(64);
        k.set_nw_frag(FRAG_ANY);
        k.set_tp_src(1234);
        k.set_tp_dst(80);
        k.set_ipv6_label(0xfffff);
        k.set_tcp_flags(0xfff);
        let a6: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
        k.set_ipv6_src(a6);
        assert_eq!(k.in_port(), 0xdead_beef);
        assert_eq!(k.dl_type(), 0x86dd);
        assert_eq!(k.vlan_tci(), 0x1abc);
        assert_eq!(k.eth_dst(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(k.eth_src(), [7, 8, 9, 10, 11, 12]);
        assert_eq!(k.nw_proto(), 17);
        assert_eq!(k.nw_tos(), 0xb8);
        assert_eq!(k.nw_ttl(), 64);
        assert_eq!(k.nw_frag(), FRAG_ANY);
        assert_eq!(k.tp_src(), 1234);
        assert_eq!(k.tp_dst(), 80);
        assert_eq!(k.ipv6_label(), 0xfffff);
        assert_eq!(k.tcp_flags(), 0xfff);
        assert_eq!(k.ipv6_src(), a6);
        assert_eq!(k.ipv6_dst(), [0; 16]);
    }

    #[test]
    fn mac_text_round_trips() {
        let m = [0x02, 0xab, 0, 0x10, 0xff, 9];
        assert_eq!(format_mac(m), "02:ab:00:10:ff:09");
        assert_eq!(parse_mac("02:AB:0:10:ff:09"), Some(m));
        assert_eq!(parse_mac("02:ab:00:10:ff"), None);
        assert_eq!(parse_mac("02:ab:00:10:ff:09:00"), None);
        assert_eq!(parse_mac("02:ab:00:10:ff:xyz"), None);
    }

    #[test]
    fn field_masks_do_not_overlap_within_a_family() {
        // Fields that may be set at the same time never share bits.
        let ipv4 = [
            Field::InPort,
            Field::DlType,
            Field::VlanTci,
            Field::EthDst,
            Field::EthSrc,
            Field::NwProto,
            Field::NwTos,
            Field::NwTtl,
            Field::NwFrag,
            Field::Ipv4Src,
            Field::Ipv4Dst,
            Field::TpSrc,
            Field::TpDst,
            Field::Ipv6Label,
            Field::TcpFlags,
        ];
        let mut seen = FlowMask::default();
        for f in ipv4 {
            let m = FlowMask::of_fields(&[f]);
            for i in 0..FLOW_WORDS {
                assert_eq!(seen.words[i] & m.words[i], 0, "{f:?} overlaps");
            }
            seen = seen.union(&m);
        }
    }

    #[test]
    fn masked_hash_agrees_with_hash_of_masked_key() {
        let mut k = FlowKey::default();
        k.set_eth_dst([1, 2, 3, 4, 5, 6]);
        k.set_tp_src(99);
        let m = FlowMask::of_fields(&[Field::EthDst]);
        let masked = k.masked(&m);
        assert_eq!(k.masked_hash(&m), masked.hash());
        assert_eq!(k.masked_hash(&m), masked.masked_hash(&m));
        assert!(k.matches(&m, &masked));
        let mut other = k;
        other.set_eth_dst([1, 2, 3, 4, 5, 7]);
        assert!(!other.matches(&m, &masked));
    }
}
