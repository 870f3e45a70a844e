//! OXM: the type-length-value fields of an OpenFlow 1.3 match
//! (`ofp_match` of type OXM) and of a set-field action.
//!
//! * [`OxmField`] is one TLV with a typed value, and a [`Masked`] value for
//!   the fields that take a mask. Every OPENFLOW_BASIC field of OpenFlow
//!   1.3 has a variant except `PBB_ISID`; that one, fields of other classes
//!   (Nicira NXM, experimenters) and basic fields this crate does not know
//!   decode as [`OxmField::Unknown`] with their bytes kept, so that a client
//!   can show what a switch sent and re-encode it unchanged.
//! * [`Match`] is a set of fields: at most one per field type, kept sorted
//!   by field number (OPENFLOW_BASIC first). That order puts every
//!   prerequisite before the fields that need it, so what rvs sends suits
//!   the strictest peer; what it receives may come in any order.
//!
//! Decoding checks structure only: lengths, the match type, a mask on a
//! field that takes none (BAD_MATCH/BAD_MASK) and duplicates
//! (BAD_MATCH/DUP_FIELD). What the specification asks a switch to check
//! beyond that is [`Match::validate`]: unknown fields (BAD_FIELD), value
//! ranges (BAD_VALUE), value bits outside the mask (BAD_WILDCARDS) and
//! prerequisites such as `ipv4_src` needing `eth_type=0x0800` (BAD_PREREQ).
//!
//! As Open vSwitch does, rvs also takes masks on the TCP, UDP and SCTP
//! ports, which OpenFlow 1.3 lists as unmaskable.

use std::cmp::Ordering;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::OfError;
use crate::types::{MacAddr, PortNo};
use crate::wire::{padding_to_8, Reader, Within, Writer};

/// OXM classes (`ofp_oxm_class`).
pub mod oxm_class {
    /// Nicira extensions, backward compatible with NXM.
    pub const NXM_0: u16 = 0x0000;
    /// Nicira extensions, backward compatible with NXM.
    pub const NXM_1: u16 = 0x0001;
    /// The basic class of OpenFlow 1.3 fields.
    pub const OPENFLOW_BASIC: u16 = 0x8000;
    /// Experimenter class: the payload starts with the experimenter id.
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// The bit of `vlan_vid` that says a VLAN tag is present (`OFPVID_PRESENT`).
pub const OFPVID_PRESENT: u16 = 0x1000;
/// The `vlan_vid` of a packet without a VLAN tag (`OFPVID_NONE`).
pub const OFPVID_NONE: u16 = 0x0000;

/// The `ofp_match.type` of an OXM match (`OFPMT_OXM`).
pub const OFPMT_OXM: u16 = 1;

/// Ethertypes the prerequisites name.
mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
}

/// A field value with an optional mask: a 1 bit in the mask means "this
/// bit of the value must match", a 0 bit "any".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Masked<T> {
    /// The value to match.
    pub value: T,
    /// The mask; `None` matches the value exactly.
    pub mask: Option<T>,
}

impl<T> Masked<T> {
    /// Matches `value` exactly.
    pub const fn exact(value: T) -> Self {
        Masked { value, mask: None }
    }

    /// Matches the bits of `value` that `mask` selects.
    pub const fn new(value: T, mask: T) -> Self {
        Masked {
            value,
            mask: Some(mask),
        }
    }
}

impl<T> From<T> for Masked<T> {
    fn from(value: T) -> Self {
        Masked::exact(value)
    }
}

/// A fixed-size field value on the wire.
pub(crate) trait OxmValue: Copy {
    /// Bytes on the wire.
    const LEN: usize;
    /// Reads from exactly `LEN` bytes.
    fn read(bytes: &[u8]) -> Self;
    /// Appends the `LEN` wire bytes.
    fn write(&self, out: &mut Vec<u8>);
}

macro_rules! int_value {
    ($($ty:ty),*) => {$(
        impl OxmValue for $ty {
            const LEN: usize = std::mem::size_of::<$ty>();
            fn read(bytes: &[u8]) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$ty>()];
                raw.copy_from_slice(bytes);
                <$ty>::from_be_bytes(raw)
            }
            fn write(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
    )*};
}
int_value!(u8, u16, u32, u64);

impl OxmValue for PortNo {
    const LEN: usize = 4;
    fn read(bytes: &[u8]) -> Self {
        PortNo(u32::read(bytes))
    }
    fn write(&self, out: &mut Vec<u8>) {
        self.0.write(out);
    }
}

impl OxmValue for MacAddr {
    const LEN: usize = 6;
    fn read(bytes: &[u8]) -> Self {
        let mut raw = [0u8; 6];
        raw.copy_from_slice(bytes);
        MacAddr(raw)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl OxmValue for Ipv4Addr {
    const LEN: usize = 4;
    fn read(bytes: &[u8]) -> Self {
        Ipv4Addr::from(u32::read(bytes))
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
}

impl OxmValue for Ipv6Addr {
    const LEN: usize = 16;
    fn read(bytes: &[u8]) -> Self {
        let mut raw = [0u8; 16];
        raw.copy_from_slice(bytes);
        Ipv6Addr::from(raw)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
}

/// Why a TLV payload does not fit its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadError {
    /// The length is not the field's (or twice it, with a mask).
    Length,
    /// A mask on a field that takes none.
    Mask,
}

/// The payload of one TLV: a plain value or a [`Masked`] one.
pub(crate) trait OxmPayload: Sized {
    fn decode(has_mask: bool, payload: &[u8]) -> Result<Self, PayloadError>;
    fn has_mask(&self) -> bool;
    fn payload_len(&self) -> usize;
    fn encode(&self, out: &mut Vec<u8>);
    /// Whether no value bit is set where the mask is 0.
    fn is_clean(&self) -> bool {
        true
    }
}

macro_rules! exact_payload {
    ($($ty:ty),*) => {$(
        impl OxmPayload for $ty {
            fn decode(has_mask: bool, payload: &[u8]) -> Result<Self, PayloadError> {
                if has_mask {
                    Err(PayloadError::Mask)
                } else if payload.len() != <$ty as OxmValue>::LEN {
                    Err(PayloadError::Length)
                } else {
                    Ok(<$ty as OxmValue>::read(payload))
                }
            }
            fn has_mask(&self) -> bool {
                false
            }
            fn payload_len(&self) -> usize {
                <$ty as OxmValue>::LEN
            }
            fn encode(&self, out: &mut Vec<u8>) {
                OxmValue::write(self, out);
            }
        }
    )*};
}
exact_payload!(u8, u16, u32, u64, PortNo, MacAddr, Ipv4Addr, Ipv6Addr);

impl<T: OxmValue> OxmPayload for Masked<T> {
    fn decode(has_mask: bool, payload: &[u8]) -> Result<Self, PayloadError> {
        let len = T::LEN;
        match (has_mask, payload.len()) {
            (false, n) if n == len => Ok(Masked::exact(T::read(payload))),
            (true, n) if n == 2 * len => Ok(Masked::new(
                T::read(&payload[..len]),
                T::read(&payload[len..]),
            )),
            _ => Err(PayloadError::Length),
        }
    }
    fn has_mask(&self) -> bool {
        self.mask.is_some()
    }
    fn payload_len(&self) -> usize {
        if self.mask.is_some() {
            2 * T::LEN
        } else {
            T::LEN
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.value.write(out);
        if let Some(mask) = &self.mask {
            mask.write(out);
        }
    }
    fn is_clean(&self) -> bool {
        let Some(mask) = &self.mask else {
            return true;
        };
        let (mut value_bytes, mut mask_bytes) = (Vec::new(), Vec::new());
        self.value.write(&mut value_bytes);
        mask.write(&mut mask_bytes);
        value_bytes
            .iter()
            .zip(&mask_bytes)
            .all(|(value, mask)| value & !mask == 0)
    }
}

/// A TLV rvs does not model: another class, or a basic field it does not
/// know, kept byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownOxm {
    /// The OXM class.
    pub class: u16,
    /// The field number (7 bits).
    pub field: u8,
    /// Whether the header's has-mask bit is set.
    pub has_mask: bool,
    /// The payload (value and mask, and for the experimenter class the
    /// experimenter id first); at most 255 bytes.
    pub payload: Vec<u8>,
}

/// The type of a TLV without its mask bit and length: class and field.
///
/// Orders OPENFLOW_BASIC fields first, by field number, then the other
/// classes by class and field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OxmType {
    /// The OXM class.
    pub class: u16,
    /// The field number (7 bits).
    pub field: u8,
}

impl OxmType {
    /// A field of the OPENFLOW_BASIC class.
    pub const fn basic(field: u8) -> Self {
        OxmType {
            class: oxm_class::OPENFLOW_BASIC,
            field,
        }
    }

    /// The OpenFlow name of a basic field this crate models (`"ipv4_src"`).
    pub fn name(self) -> Option<&'static str> {
        if self.class == oxm_class::OPENFLOW_BASIC {
            basic_field_name(self.field)
        } else {
            None
        }
    }

    fn sort_key(self) -> (bool, u16, u8) {
        (
            self.class != oxm_class::OPENFLOW_BASIC,
            self.class,
            self.field,
        )
    }
}

impl PartialOrd for OxmType {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OxmType {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl fmt::Display for OxmType {
    /// The field's name, or `class:field` in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#06x}:{}", self.class, self.field),
        }
    }
}

/// Defines [`OxmField`], the `ofb` numbers and the per-field plumbing from
/// one table.
macro_rules! ofb_fields {
    ($(
        $(#[$doc:meta])*
        $variant:ident($ty:ty) = $id:literal, $konst:ident, $name:literal;
    )*) => {
        /// Field numbers of the OPENFLOW_BASIC class (`oxm_ofb_match_fields`)
        /// that [`OxmField`] models.
        pub mod ofb {
            $( #[doc = concat!("`", $name, "`.")] pub const $konst: u8 = $id; )*
        }

        /// One OXM TLV with its value (and mask, where the field takes one).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum OxmField {
            $( $(#[$doc])* $variant($ty), )*
            /// A TLV of another class, or a basic field this crate does not
            /// model, kept as it came.
            Unknown(UnknownOxm),
        }

        impl OxmField {
            /// The field's class and number.
            pub fn oxm_type(&self) -> OxmType {
                match self {
                    $( OxmField::$variant(_) => OxmType::basic($id), )*
                    OxmField::Unknown(u) => OxmType { class: u.class, field: u.field },
                }
            }

            /// Whether the TLV carries a mask.
            pub fn has_mask(&self) -> bool {
                match self {
                    $( OxmField::$variant(v) => OxmPayload::has_mask(v), )*
                    OxmField::Unknown(u) => u.has_mask,
                }
            }

            fn payload_len(&self) -> usize {
                match self {
                    $( OxmField::$variant(v) => OxmPayload::payload_len(v), )*
                    OxmField::Unknown(u) => u.payload.len(),
                }
            }

            fn encode_payload(&self, out: &mut Vec<u8>) {
                match self {
                    $( OxmField::$variant(v) => OxmPayload::encode(v, out), )*
                    OxmField::Unknown(u) => out.extend_from_slice(&u.payload),
                }
            }

            /// Whether no value bit is set where the mask is 0.
            fn is_clean(&self) -> bool {
                match self {
                    $( OxmField::$variant(v) => OxmPayload::is_clean(v), )*
                    OxmField::Unknown(_) => true,
                }
            }

            /// Decodes a basic field, or `None` if this crate does not model it.
            pub(crate) fn decode_basic(
                field: u8,
                has_mask: bool,
                payload: &[u8],
            ) -> Option<Result<OxmField, PayloadError>> {
                match field {
                    $( $id => Some(<$ty as OxmPayload>::decode(has_mask, payload).map(OxmField::$variant)), )*
                    _ => None,
                }
            }
        }

        fn basic_field_name(field: u8) -> Option<&'static str> {
            match field {
                $( $id => Some($name), )*
                _ => None,
            }
        }
    };
}

ofb_fields! {
    /// Ingress port: a physical or logical port, never a reserved one.
    InPort(PortNo) = 0, IN_PORT, "in_port";
    /// Physical port the packet came in on (needs `in_port`).
    InPhyPort(PortNo) = 1, IN_PHY_PORT, "in_phy_port";
    /// Metadata passed between tables.
    Metadata(Masked<u64>) = 2, METADATA, "metadata";
    /// Ethernet destination address.
    EthDst(Masked<MacAddr>) = 3, ETH_DST, "eth_dst";
    /// Ethernet source address.
    EthSrc(Masked<MacAddr>) = 4, ETH_SRC, "eth_src";
    /// Ethernet type (after any VLAN tags).
    EthType(u16) = 5, ETH_TYPE, "eth_type";
    /// VLAN id, with [`OFPVID_PRESENT`] set when a tag is present; 13 bits.
    VlanVid(Masked<u16>) = 6, VLAN_VID, "vlan_vid";
    /// VLAN priority, 3 bits (needs a VLAN tag).
    VlanPcp(u8) = 7, VLAN_PCP, "vlan_pcp";
    /// IP DSCP, 6 bits (needs an IP ethertype).
    IpDscp(u8) = 8, IP_DSCP, "ip_dscp";
    /// IP ECN, 2 bits (needs an IP ethertype).
    IpEcn(u8) = 9, IP_ECN, "ip_ecn";
    /// IP protocol (needs an IP ethertype).
    IpProto(u8) = 10, IP_PROTO, "ip_proto";
    /// IPv4 source address (needs `eth_type=0x0800`).
    Ipv4Src(Masked<Ipv4Addr>) = 11, IPV4_SRC, "ipv4_src";
    /// IPv4 destination address (needs `eth_type=0x0800`).
    Ipv4Dst(Masked<Ipv4Addr>) = 12, IPV4_DST, "ipv4_dst";
    /// TCP source port (needs `ip_proto=6`).
    TcpSrc(Masked<u16>) = 13, TCP_SRC, "tcp_src";
    /// TCP destination port (needs `ip_proto=6`).
    TcpDst(Masked<u16>) = 14, TCP_DST, "tcp_dst";
    /// UDP source port (needs `ip_proto=17`).
    UdpSrc(Masked<u16>) = 15, UDP_SRC, "udp_src";
    /// UDP destination port (needs `ip_proto=17`).
    UdpDst(Masked<u16>) = 16, UDP_DST, "udp_dst";
    /// SCTP source port (needs `ip_proto=132`).
    SctpSrc(Masked<u16>) = 17, SCTP_SRC, "sctp_src";
    /// SCTP destination port (needs `ip_proto=132`).
    SctpDst(Masked<u16>) = 18, SCTP_DST, "sctp_dst";
    /// ICMP type (needs `ip_proto=1`).
    Icmpv4Type(u8) = 19, ICMPV4_TYPE, "icmpv4_type";
    /// ICMP code (needs `ip_proto=1`).
    Icmpv4Code(u8) = 20, ICMPV4_CODE, "icmpv4_code";
    /// ARP opcode (needs `eth_type=0x0806`).
    ArpOp(u16) = 21, ARP_OP, "arp_op";
    /// ARP sender protocol address (needs `eth_type=0x0806`).
    ArpSpa(Masked<Ipv4Addr>) = 22, ARP_SPA, "arp_spa";
    /// ARP target protocol address (needs `eth_type=0x0806`).
    ArpTpa(Masked<Ipv4Addr>) = 23, ARP_TPA, "arp_tpa";
    /// ARP sender hardware address (needs `eth_type=0x0806`).
    ArpSha(Masked<MacAddr>) = 24, ARP_SHA, "arp_sha";
    /// ARP target hardware address (needs `eth_type=0x0806`).
    ArpTha(Masked<MacAddr>) = 25, ARP_THA, "arp_tha";
    /// IPv6 source address (needs `eth_type=0x86dd`).
    Ipv6Src(Masked<Ipv6Addr>) = 26, IPV6_SRC, "ipv6_src";
    /// IPv6 destination address (needs `eth_type=0x86dd`).
    Ipv6Dst(Masked<Ipv6Addr>) = 27, IPV6_DST, "ipv6_dst";
    /// IPv6 flow label, 20 bits (needs `eth_type=0x86dd`).
    Ipv6Flabel(Masked<u32>) = 28, IPV6_FLABEL, "ipv6_flabel";
    /// ICMPv6 type (needs `ip_proto=58`).
    Icmpv6Type(u8) = 29, ICMPV6_TYPE, "icmpv6_type";
    /// ICMPv6 code (needs `ip_proto=58`).
    Icmpv6Code(u8) = 30, ICMPV6_CODE, "icmpv6_code";
    /// Target address of an IPv6 neighbour discovery message (needs
    /// `icmpv6_type` 135 or 136).
    Ipv6NdTarget(Ipv6Addr) = 31, IPV6_ND_TARGET, "ipv6_nd_target";
    /// Source link-layer address in neighbour discovery (needs
    /// `icmpv6_type=135`).
    Ipv6NdSll(MacAddr) = 32, IPV6_ND_SLL, "ipv6_nd_sll";
    /// Target link-layer address in neighbour discovery (needs
    /// `icmpv6_type=136`).
    Ipv6NdTll(MacAddr) = 33, IPV6_ND_TLL, "ipv6_nd_tll";
    /// MPLS label, 20 bits (needs an MPLS ethertype).
    MplsLabel(u32) = 34, MPLS_LABEL, "mpls_label";
    /// MPLS traffic class, 3 bits (needs an MPLS ethertype).
    MplsTc(u8) = 35, MPLS_TC, "mpls_tc";
    /// MPLS bottom-of-stack bit (needs an MPLS ethertype).
    MplsBos(u8) = 36, MPLS_BOS, "mpls_bos";
    /// Logical port metadata of a tunnel.
    TunnelId(Masked<u64>) = 38, TUNNEL_ID, "tunnel_id";
    /// IPv6 extension header pseudo-field, 9 bits (needs `eth_type=0x86dd`).
    Ipv6Exthdr(Masked<u16>) = 39, IPV6_EXTHDR, "ipv6_exthdr";
}

/// The length in bytes of the value of OPENFLOW_BASIC field `field` (as
/// OpenFlow 1.3 defines it), for OXM ids such as TABLE_FEATURES lists.
pub fn basic_value_len(field: u8) -> Option<u8> {
    Some(match field {
        0 | 1 => 4,
        2 => 8,
        3 | 4 => 6,
        5 | 6 => 2,
        7..=10 => 1,
        11 | 12 => 4,
        13..=18 => 2,
        19 | 20 => 1,
        21 => 2,
        22 | 23 => 4,
        24 | 25 => 6,
        26 | 27 => 16,
        28 => 4,
        29 | 30 => 1,
        31 => 16,
        32 | 33 => 6,
        34 => 4,
        35 | 36 => 1,
        37 => 3,
        38 => 8,
        39 => 2,
        _ => return None,
    })
}

/// The 32-bit OXM id (class, field, has-mask, length) of OPENFLOW_BASIC
/// field `field`, as TABLE_FEATURES lists it.
pub fn basic_oxm_id(field: u8, has_mask: bool) -> Option<u32> {
    let len = u32::from(basic_value_len(field)?) * if has_mask { 2 } else { 1 };
    Some(
        (u32::from(oxm_class::OPENFLOW_BASIC) << 16)
            | (u32::from(field) << 9)
            | (u32::from(has_mask) << 8)
            | len,
    )
}

/// Whether a masked value and its mask stay within `max`.
fn masked_within<T: Copy + PartialOrd>(m: &Masked<T>, max: T) -> bool {
    m.value <= max && m.mask.is_none_or(|mask| mask <= max)
}

impl OxmField {
    /// The field's OpenFlow name (`"eth_dst"`), or `"unknown"`.
    pub fn name(&self) -> &'static str {
        self.oxm_type().name().unwrap_or("unknown")
    }

    /// Whether the value (and mask) fit the field's bit width: 13 bits for
    /// `vlan_vid`, 3 for `vlan_pcp`, 6 for `ip_dscp`, …
    pub fn value_in_range(&self) -> bool {
        match self {
            OxmField::VlanVid(m) => masked_within(m, 0x1fff),
            OxmField::VlanPcp(v) | OxmField::MplsTc(v) => *v <= 7,
            OxmField::IpDscp(v) => *v <= 63,
            OxmField::IpEcn(v) => *v <= 3,
            OxmField::Ipv6Flabel(m) => masked_within(m, 0xf_ffff),
            OxmField::MplsLabel(v) => *v <= 0xf_ffff,
            OxmField::MplsBos(v) => *v <= 1,
            OxmField::Ipv6Exthdr(m) => masked_within(m, 0x1ff),
            _ => true,
        }
    }

    /// Reads one TLV (header and payload) from a match or set-field body.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<OxmField, OfError> {
        let header = r.u32()?;
        let class = (header >> 16) as u16;
        let field = ((header >> 9) & 0x7f) as u8;
        let has_mask = header & 0x100 != 0;
        let len = (header & 0xff) as usize;
        let payload = r.bytes(len)?;
        if class == oxm_class::OPENFLOW_BASIC {
            if let Some(decoded) = OxmField::decode_basic(field, has_mask, payload) {
                let name = basic_field_name(field).unwrap_or("unknown");
                return decoded.map_err(|e| match e {
                    PayloadError::Length => OfError::BadMatchLength { what: name },
                    PayloadError::Mask => OfError::MaskNotAllowed { field: name },
                });
            }
        }
        Ok(OxmField::Unknown(UnknownOxm {
            class,
            field,
            has_mask,
            payload: payload.to_vec(),
        }))
    }

    /// Appends the TLV.
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let ty = self.oxm_type();
        let header = (u32::from(ty.class) << 16)
            | (u32::from(ty.field & 0x7f) << 9)
            | (u32::from(self.has_mask()) << 8);
        let at = w.len();
        w.u32(header);
        let mut payload = Vec::with_capacity(self.payload_len());
        self.encode_payload(&mut payload);
        w.patch_len8(at + 3, payload.len());
        w.bytes(&payload);
    }

    /// Decodes one TLV from the start of `buf`, returning it and the bytes
    /// it took.
    pub fn parse(buf: &[u8]) -> Result<(OxmField, usize), OfError> {
        let mut r = Reader::new(buf, Within::Match("OXM field"));
        let field = OxmField::read(&mut r)?;
        Ok((field, buf.len() - r.remaining()))
    }

    /// Appends the TLV to `out`; fails if an unknown field's payload is
    /// over 255 bytes.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), OfError> {
        let start = out.len();
        let mut w = Writer::new(out);
        self.write(&mut w);
        if let Some(length) = w.overflow() {
            out.truncate(start);
            return Err(OfError::TooLong {
                what: "an OXM payload",
                length,
                max: u8::MAX as usize,
            });
        }
        Ok(())
    }
}

/// An OpenFlow 1.3 match: a set of [`OxmField`]s, at most one of each
/// type, sorted by type. The empty match matches every packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Match {
    fields: Vec<OxmField>,
}

impl Match {
    /// The match that matches every packet.
    pub const fn new() -> Self {
        Match { fields: Vec::new() }
    }

    /// A match of `fields`, which may come in any order; a field type given
    /// twice is BAD_MATCH/DUP_FIELD.
    pub fn from_fields<I: IntoIterator<Item = OxmField>>(fields: I) -> Result<Self, OfError> {
        let mut m = Match::new();
        for field in fields {
            if let Some(old) = m.insert(field) {
                let ty = old.oxm_type();
                return Err(OfError::DuplicateField {
                    class: ty.class,
                    field: ty.field,
                });
            }
        }
        Ok(m)
    }

    /// This match with `field` added (replacing a field of the same type).
    #[must_use]
    pub fn with(mut self, field: OxmField) -> Self {
        self.insert(field);
        self
    }

    /// Adds `field`, returning the field of the same type it replaces.
    pub fn insert(&mut self, field: OxmField) -> Option<OxmField> {
        let ty = field.oxm_type();
        match self.fields.binary_search_by(|f| f.oxm_type().cmp(&ty)) {
            Ok(i) => Some(std::mem::replace(&mut self.fields[i], field)),
            Err(i) => {
                self.fields.insert(i, field);
                None
            }
        }
    }

    /// Removes and returns the field of type `ty`.
    pub fn remove(&mut self, ty: OxmType) -> Option<OxmField> {
        let i = self
            .fields
            .binary_search_by(|f| f.oxm_type().cmp(&ty))
            .ok()?;
        Some(self.fields.remove(i))
    }

    /// The field of type `ty`.
    pub fn get(&self, ty: OxmType) -> Option<&OxmField> {
        let i = self
            .fields
            .binary_search_by(|f| f.oxm_type().cmp(&ty))
            .ok()?;
        self.fields.get(i)
    }

    /// The fields, sorted by type.
    pub fn fields(&self) -> &[OxmField] {
        &self.fields
    }

    /// The fields, sorted by type.
    pub fn iter(&self) -> std::slice::Iter<'_, OxmField> {
        self.fields.iter()
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether this matches every packet.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The `in_port` field's value.
    pub fn in_port(&self) -> Option<PortNo> {
        match self.get(OxmType::basic(ofb::IN_PORT)) {
            Some(OxmField::InPort(port)) => Some(*port),
            _ => None,
        }
    }

    /// The `eth_type` field's value.
    pub fn eth_type(&self) -> Option<u16> {
        match self.get(OxmType::basic(ofb::ETH_TYPE)) {
            Some(OxmField::EthType(value)) => Some(*value),
            _ => None,
        }
    }

    /// The `ip_proto` field's value.
    pub fn ip_proto(&self) -> Option<u8> {
        match self.get(OxmType::basic(ofb::IP_PROTO)) {
            Some(OxmField::IpProto(value)) => Some(*value),
            _ => None,
        }
    }

    /// The `vlan_vid` field's value and mask.
    pub fn vlan_vid(&self) -> Option<Masked<u16>> {
        match self.get(OxmType::basic(ofb::VLAN_VID)) {
            Some(OxmField::VlanVid(value)) => Some(*value),
            _ => None,
        }
    }

    /// The `icmpv6_type` field's value.
    pub fn icmpv6_type(&self) -> Option<u8> {
        match self.get(OxmType::basic(ofb::ICMPV6_TYPE)) {
            Some(OxmField::Icmpv6Type(value)) => Some(*value),
            _ => None,
        }
    }

    /// Whether the match only admits packets with a VLAN tag: `vlan_vid`
    /// has [`OFPVID_PRESENT`] set in its value and its mask.
    pub fn requires_vlan_tag(&self) -> bool {
        self.vlan_vid().is_some_and(|vid| {
            vid.value & OFPVID_PRESENT != 0 && vid.mask.is_none_or(|m| m & OFPVID_PRESENT != 0)
        })
    }

    /// The checks OpenFlow 1.3 asks of a switch beyond decoding: every field
    /// known (BAD_FIELD), values in range (BAD_VALUE), no value bits outside
    /// the mask (BAD_WILDCARDS) and every prerequisite present
    /// (BAD_PREREQ).
    pub fn validate(&self) -> Result<(), OfError> {
        for field in &self.fields {
            if let OxmField::Unknown(u) = field {
                return Err(OfError::UnknownField {
                    class: u.class,
                    field: u.field,
                });
            }
            if !field.value_in_range() {
                return Err(OfError::BadFieldValue {
                    field: field.name(),
                });
            }
            if !field.is_clean() {
                return Err(OfError::BadWildcards {
                    field: field.name(),
                });
            }
        }
        for field in &self.fields {
            if let Some(needs) = self.missing_prerequisite(field) {
                return Err(OfError::BadPrerequisite {
                    field: field.name(),
                    needs,
                });
            }
        }
        Ok(())
    }

    /// What `field` needs that this match lacks, if anything (OpenFlow 1.3
    /// table "Header match fields details", prerequisite column).
    pub fn missing_prerequisite(&self, field: &OxmField) -> Option<&'static str> {
        use OxmField::*;
        let eth = self.eth_type();
        let proto = self.ip_proto();
        let is_ip = matches!(eth, Some(ethertype::IPV4 | ethertype::IPV6));
        let (met, needs) = match field {
            InPhyPort(_) => (self.in_port().is_some(), "in_port"),
            VlanPcp(_) => (
                self.requires_vlan_tag(),
                "vlan_vid with OFPVID_PRESENT (a VLAN tag)",
            ),
            IpDscp(_) | IpEcn(_) | IpProto(_) => (is_ip, "eth_type=0x0800 or eth_type=0x86dd"),
            Ipv4Src(_) | Ipv4Dst(_) => (eth == Some(ethertype::IPV4), "eth_type=0x0800"),
            TcpSrc(_) | TcpDst(_) => (proto == Some(6), "ip_proto=6"),
            UdpSrc(_) | UdpDst(_) => (proto == Some(17), "ip_proto=17"),
            SctpSrc(_) | SctpDst(_) => (proto == Some(132), "ip_proto=132"),
            Icmpv4Type(_) | Icmpv4Code(_) => (proto == Some(1), "ip_proto=1"),
            ArpOp(_) | ArpSpa(_) | ArpTpa(_) | ArpSha(_) | ArpTha(_) => {
                (eth == Some(ethertype::ARP), "eth_type=0x0806")
            }
            Ipv6Src(_) | Ipv6Dst(_) | Ipv6Flabel(_) | Ipv6Exthdr(_) => {
                (eth == Some(ethertype::IPV6), "eth_type=0x86dd")
            }
            Icmpv6Type(_) | Icmpv6Code(_) => (proto == Some(58), "ip_proto=58"),
            Ipv6NdTarget(_) => (
                matches!(self.icmpv6_type(), Some(135 | 136)),
                "icmpv6_type=135 or icmpv6_type=136",
            ),
            Ipv6NdSll(_) => (self.icmpv6_type() == Some(135), "icmpv6_type=135"),
            Ipv6NdTll(_) => (self.icmpv6_type() == Some(136), "icmpv6_type=136"),
            MplsLabel(_) | MplsTc(_) | MplsBos(_) => (
                matches!(eth, Some(ethertype::MPLS | ethertype::MPLS_MULTICAST)),
                "eth_type=0x8847 or eth_type=0x8848",
            ),
            InPort(_) | Metadata(_) | EthDst(_) | EthSrc(_) | EthType(_) | VlanVid(_)
            | TunnelId(_) | Unknown(_) => (true, ""),
        };
        (!met).then_some(needs)
    }

    /// Reads an `ofp_match` and its padding from a message body.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Match, OfError> {
        let short = |_| OfError::BadMatchLength {
            what: "match header",
        };
        let match_type = r.u16().map_err(short)?;
        let length = usize::from(r.u16().map_err(short)?);
        if match_type != OFPMT_OXM {
            return Err(OfError::BadMatchType { match_type });
        }
        if length < 4 {
            return Err(OfError::BadMatchLength {
                what: "match length under 4",
            });
        }
        let body = r.bytes(length - 4).map_err(|_| OfError::BadMatchLength {
            what: "match fields",
        })?;
        r.skip(padding_to_8(length))
            .map_err(|_| OfError::BadMatchLength {
                what: "match padding",
            })?;
        let mut fields = Reader::new(body, Within::Match("OXM field"));
        let mut m = Match::new();
        while !fields.is_empty() {
            let field = OxmField::read(&mut fields)?;
            let ty = field.oxm_type();
            if m.insert(field).is_some() {
                return Err(OfError::DuplicateField {
                    class: ty.class,
                    field: ty.field,
                });
            }
        }
        Ok(m)
    }

    /// Appends the `ofp_match` with its padding.
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let start = w.len();
        w.u16(OFPMT_OXM);
        w.u16(0);
        for field in &self.fields {
            field.write(w);
        }
        w.patch_len16(start + 2, start);
        w.pad_to_8(start);
    }

    /// Decodes an `ofp_match` (with its padding) from the start of `buf`,
    /// returning it and the bytes it took.
    pub fn parse(buf: &[u8]) -> Result<(Match, usize), OfError> {
        let mut r = Reader::new(buf, Within::Match("match"));
        let m = Match::read(&mut r)?;
        Ok((m, buf.len() - r.remaining()))
    }

    /// Appends the `ofp_match` with its padding to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), OfError> {
        let start = out.len();
        let mut w = Writer::new(out);
        self.write(&mut w);
        if let Some(length) = w.overflow() {
            out.truncate(start);
            return Err(OfError::TooLong {
                what: "a match",
                length,
                max: u16::MAX as usize,
            });
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Match {
    type Item = &'a OxmField;
    type IntoIter = std::slice::Iter<'a, OxmField>;
    fn into_iter(self) -> Self::IntoIter {
        self.fields.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{bad_match, ErrorType};

    fn ipv4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
        Ipv4Addr::new(a, b, c, d)
    }

    fn encode(m: &Match) -> Vec<u8> {
        let mut out = Vec::new();
        m.emit(&mut out).unwrap();
        out
    }

    #[test]
    fn empty_match_is_eight_bytes() {
        let bytes = encode(&Match::new());
        assert_eq!(bytes, [0x00, 0x01, 0x00, 0x04, 0, 0, 0, 0]);
        assert_eq!(Match::parse(&bytes), Ok((Match::new(), 8)));
    }

    #[test]
    fn in_port_match_from_the_spec_layout() {
        #[rustfmt::skip]
        let bytes = [
            0x00, 0x01, 0x00, 0x0c,             // OXM match, length 12
            0x80, 0x00, 0x00, 0x04,             // OPENFLOW_BASIC in_port, 4 bytes
            0x00, 0x00, 0x00, 0x07,             // port 7
            0x00, 0x00, 0x00, 0x00,             // padding to 8
        ];
        let m = Match::new().with(OxmField::InPort(PortNo(7)));
        assert_eq!(encode(&m), bytes);
        assert_eq!(Match::parse(&bytes), Ok((m, 16)));
    }

    #[test]
    fn masked_fields_and_vlan_present_bit() {
        #[rustfmt::skip]
        let bytes = [
            0x00, 0x01, 0x00, 0x2e,                         // length 46
            0x80, 0x00, 0x07, 0x0c,                         // eth_dst with mask
            0x01, 0x00, 0x5e, 0x00, 0x00, 0x00,
            0xff, 0xff, 0xff, 0x80, 0x00, 0x00,
            0x80, 0x00, 0x0a, 0x02, 0x08, 0x00,             // eth_type 0x0800
            0x80, 0x00, 0x0d, 0x04, 0x10, 0x00, 0x10, 0x00, // vlan_vid present/present
            0x80, 0x00, 0x19, 0x08,                         // ipv4_dst with mask
            0x0a, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00,
            0x00, 0x00,                                     // padding to 48
        ];
        let m = Match::from_fields([
            OxmField::Ipv4Dst(Masked::new(ipv4(10, 0, 0, 0), ipv4(255, 0, 0, 0))),
            OxmField::VlanVid(Masked::new(OFPVID_PRESENT, OFPVID_PRESENT)),
            OxmField::EthType(0x0800),
            OxmField::EthDst(Masked::new(
                MacAddr([0x01, 0x00, 0x5e, 0, 0, 0]),
                MacAddr([0xff, 0xff, 0xff, 0x80, 0, 0]),
            )),
        ])
        .unwrap();
        assert_eq!(encode(&m), bytes);
        assert_eq!(Match::parse(&bytes), Ok((m.clone(), 48)));
        assert_eq!(m.validate(), Ok(()));
        assert!(m.requires_vlan_tag());
    }

    #[test]
    fn fields_come_out_sorted_with_prerequisites_first() {
        let m = Match::new()
            .with(OxmField::TcpDst(Masked::exact(80)))
            .with(OxmField::IpProto(6))
            .with(OxmField::EthType(0x0800));
        let names: Vec<_> = m.iter().map(OxmField::name).collect();
        assert_eq!(names, ["eth_type", "ip_proto", "tcp_dst"]);
        assert_eq!(m.validate(), Ok(()));
    }

    #[test]
    fn prerequisites_are_checked() {
        let m = Match::new().with(OxmField::Ipv4Src(Masked::exact(ipv4(1, 2, 3, 4))));
        let err = m.validate().unwrap_err();
        assert_eq!(
            err,
            OfError::BadPrerequisite {
                field: "ipv4_src",
                needs: "eth_type=0x0800"
            }
        );
        assert_eq!(err.code().kind, ErrorType::BadMatch);
        assert_eq!(err.code().code, bad_match::BAD_PREREQ);

        let wrong_eth = m.clone().with(OxmField::EthType(0x86dd));
        assert!(matches!(
            wrong_eth.validate(),
            Err(OfError::BadPrerequisite { .. })
        ));
        assert_eq!(m.with(OxmField::EthType(0x0800)).validate(), Ok(()));

        let tcp_without_proto = Match::new()
            .with(OxmField::EthType(0x0800))
            .with(OxmField::TcpSrc(Masked::exact(22)));
        assert!(tcp_without_proto.validate().is_err());

        let pcp_without_tag = Match::new()
            .with(OxmField::VlanPcp(3))
            .with(OxmField::VlanVid(Masked::exact(OFPVID_NONE)));
        assert!(pcp_without_tag.validate().is_err());
        let pcp_with_tag =
            pcp_without_tag.with(OxmField::VlanVid(Masked::exact(OFPVID_PRESENT | 10)));
        assert_eq!(pcp_with_tag.validate(), Ok(()));

        let nd = Match::new()
            .with(OxmField::EthType(0x86dd))
            .with(OxmField::IpProto(58))
            .with(OxmField::Icmpv6Type(136))
            .with(OxmField::Ipv6NdSll(MacAddr::ZERO));
        assert!(nd.validate().is_err());
        let nd = nd
            .with(OxmField::Icmpv6Type(135))
            .with(OxmField::Ipv6NdTarget(Ipv6Addr::LOCALHOST));
        assert_eq!(nd.validate(), Ok(()));
    }

    #[test]
    fn values_and_wildcards_are_checked() {
        let m = Match::new().with(OxmField::VlanVid(Masked::exact(0x2000)));
        assert_eq!(m.validate().unwrap_err().code().code, bad_match::BAD_VALUE);
        let m = Match::new()
            .with(OxmField::EthType(0x0800))
            .with(OxmField::Ipv4Src(Masked::new(
                ipv4(10, 0, 0, 1),
                ipv4(255, 0, 0, 0),
            )));
        assert_eq!(
            m.validate().unwrap_err().code().code,
            bad_match::BAD_WILDCARDS
        );
        let m = Match::new()
            .with(OxmField::EthType(0x0800))
            .with(OxmField::IpProto(6))
            .with(OxmField::IpDscp(64));
        assert!(matches!(m.validate(), Err(OfError::BadFieldValue { .. })));
    }

    #[test]
    fn unknown_fields_survive_decoding_and_fail_validation() {
        #[rustfmt::skip]
        let bytes = [
            0x00, 0x01, 0x00, 0x14,
            0x80, 0x00, 0x4a, 0x03, 0xaa, 0xbb, 0xcc,       // basic field 37 (PBB_ISID)
            0x00, 0x01, 0x02, 0x05, 1, 2, 3, 4, 5,          // NXM_1 field 1
            0, 0, 0, 0,
        ];
        let (m, used) = Match::parse(&bytes).unwrap();
        assert_eq!(used, 24);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m.fields()[0],
            OxmField::Unknown(UnknownOxm {
                class: oxm_class::OPENFLOW_BASIC,
                field: 37,
                has_mask: false,
                payload: vec![0xaa, 0xbb, 0xcc],
            })
        );
        assert_eq!(encode(&m), bytes);
        assert_eq!(m.validate().unwrap_err().code().code, bad_match::BAD_FIELD);
    }

    #[test]
    fn structural_errors() {
        let code = |bytes: &[u8]| Match::parse(bytes).unwrap_err().code();
        // Standard (OpenFlow 1.1) match type.
        assert_eq!(code(&[0, 0, 0, 4, 0, 0, 0, 0]).code, bad_match::BAD_TYPE);
        // Length under the 4-byte header.
        assert_eq!(code(&[0, 1, 0, 2, 0, 0, 0, 0]).code, bad_match::BAD_LEN);
        // in_port with 3 bytes.
        assert_eq!(
            code(&[0, 1, 0, 11, 0x80, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 0]).code,
            bad_match::BAD_LEN
        );
        // A mask on eth_type.
        assert_eq!(
            code(&[0, 1, 0, 12, 0x80, 0, 0x0b, 4, 8, 0, 0xff, 0xff, 0, 0, 0, 0]).code,
            bad_match::BAD_MASK
        );
        // in_port twice.
        #[rustfmt::skip]
        let dup = [
            0, 1, 0, 20,
            0x80, 0, 0, 4, 0, 0, 0, 1,
            0x80, 0, 0, 4, 0, 0, 0, 2,
            0, 0, 0, 0,
        ];
        assert_eq!(code(&dup).code, bad_match::DUP_FIELD);
        // Padding missing.
        assert_eq!(
            code(&[0, 1, 0, 12, 0x80, 0, 0, 4, 0, 0, 0, 1]).code,
            bad_match::BAD_LEN
        );
        // TLV longer than the match.
        assert_eq!(
            code(&[0, 1, 0, 8, 0x80, 0, 0, 4, 0, 0, 0, 0]).code,
            bad_match::BAD_LEN
        );
    }

    #[test]
    fn from_fields_refuses_duplicates() {
        let err = Match::from_fields([OxmField::IpProto(6), OxmField::IpProto(17)]).unwrap_err();
        assert_eq!(err.code().code, bad_match::DUP_FIELD);
    }

    #[test]
    fn oversized_unknown_payload_is_an_encode_error() {
        let field = OxmField::Unknown(UnknownOxm {
            class: oxm_class::EXPERIMENTER,
            field: 1,
            has_mask: false,
            payload: vec![0; 300],
        });
        let mut out = vec![9];
        assert!(field.emit(&mut out).is_err());
        assert_eq!(out, [9]);
    }
}
