//! Small value types that many messages share: port numbers (with the
//! reserved ports), MAC addresses, the reserved table, group and buffer
//! numbers, and the bit sets (`ofp_flow_mod_flags`, `ofp_port_config`, …).
//!
//! Bit sets are newtypes over the wire integer, not enums: a bit this crate
//! has no name for survives decoding and encoding unchanged, and
//! `unknown_bits` tells a validator whether any are set.

use std::fmt;
use std::str::FromStr;

/// The OpenFlow version this crate speaks: 1.3 (wire version 0x04).
pub const OFP_VERSION: u8 = 0x04;

/// Length of the common header (`ofp_header`): version, type, length, xid.
pub const HEADER_LEN: usize = 8;

/// Largest message the 16-bit header length can describe.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// `buffer_id` meaning "the packet is not buffered, it is in the message"
/// (`OFP_NO_BUFFER`).
pub const NO_BUFFER: u32 = 0xffff_ffff;

/// The default `miss_send_len` (`OFP_DEFAULT_MISS_SEND_LEN`).
pub const DEFAULT_MISS_SEND_LEN: u16 = 128;

/// The default flow priority (`OFP_DEFAULT_PRIORITY`).
pub const DEFAULT_PRIORITY: u16 = 0x8000;

/// Reserved table numbers (`ofp_table`).
pub mod table {
    /// The last usable table number.
    pub const MAX: u8 = 0xfe;
    /// Wildcard: every table (in flow deletions and statistics requests).
    pub const ALL: u8 = 0xff;
}

/// Reserved group numbers (`ofp_group`).
pub mod group {
    /// The last usable group number.
    pub const MAX: u32 = 0xffff_ff00;
    /// Every group (group deletion).
    pub const ALL: u32 = 0xffff_fffc;
    /// Wildcard: no restriction on the group (`out_group` in flow deletions
    /// and statistics requests).
    pub const ANY: u32 = 0xffff_ffff;
}

/// Reserved values of an output action's `max_len` (`ofp_controller_max_len`).
pub mod controller_max_len {
    /// The most bytes of a packet a switch may send to the controller.
    pub const MAX: u16 = 0xffe5;
    /// Send the whole packet, do not buffer it.
    pub const NO_BUFFER: u16 = 0xffff;
}

/// An OpenFlow port number (`ofp_port_no`): a physical or logical port
/// (1 up to [`PortNo::MAX`]) or one of the reserved ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PortNo(pub u32);

impl PortNo {
    /// The last number a physical or logical port may have.
    pub const MAX: PortNo = PortNo(0xffff_ff00);
    /// Send the packet out the port it came in on.
    pub const IN_PORT: PortNo = PortNo(0xffff_fff8);
    /// Submit the packet to the first flow table (packet-out only).
    pub const TABLE: PortNo = PortNo(0xffff_fff9);
    /// Forward by the switch's normal L2 processing.
    pub const NORMAL: PortNo = PortNo(0xffff_fffa);
    /// Flood to all ports but the input port and those with flooding off.
    pub const FLOOD: PortNo = PortNo(0xffff_fffb);
    /// All ports but the input port.
    pub const ALL: PortNo = PortNo(0xffff_fffc);
    /// Send to the controller.
    pub const CONTROLLER: PortNo = PortNo(0xffff_fffd);
    /// The switch's local networking stack.
    pub const LOCAL: PortNo = PortNo(0xffff_fffe);
    /// Wildcard: no port (`out_port` in deletions and statistics requests).
    pub const ANY: PortNo = PortNo(0xffff_ffff);

    const NAMES: [(PortNo, &'static str); 8] = [
        (PortNo::IN_PORT, "IN_PORT"),
        (PortNo::TABLE, "TABLE"),
        (PortNo::NORMAL, "NORMAL"),
        (PortNo::FLOOD, "FLOOD"),
        (PortNo::ALL, "ALL"),
        (PortNo::CONTROLLER, "CONTROLLER"),
        (PortNo::LOCAL, "LOCAL"),
        (PortNo::ANY, "ANY"),
    ];

    /// Whether this is above [`PortNo::MAX`], i.e. not a physical or
    /// logical port.
    pub const fn is_reserved(self) -> bool {
        self.0 > Self::MAX.0
    }

    /// The name of a reserved port (`"NORMAL"`, `"CONTROLLER"`, …).
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(port, _)| *port == self)
            .map(|(_, name)| *name)
    }

    /// The reserved port called `name`, in any letter case.
    pub fn from_name(name: &str) -> Option<PortNo> {
        Self::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(port, _)| *port)
    }
}

impl From<u32> for PortNo {
    fn from(value: u32) -> Self {
        PortNo(value)
    }
}

impl From<PortNo> for u32 {
    fn from(value: PortNo) -> Self {
        value.0
    }
}

impl fmt::Display for PortNo {
    /// A reserved port by name, any other by number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// 00:00:00:00:00:00.
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The six bytes, most significant first.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(value: [u8; 6]) -> Self {
        MacAddr(value)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a MAC address is six hex bytes separated by colons, like 52:54:00:12:34:56")]
pub struct ParseMacError;

impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or(ParseMacError)?;
            if part.is_empty() || part.len() > 2 {
                return Err(ParseMacError);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ParseMacError)?;
        }
        if parts.next().is_some() {
            return Err(ParseMacError);
        }
        Ok(MacAddr(out))
    }
}

/// Defines a bit-set newtype over a wire integer with named flags.
macro_rules! flag_set {
    (
        $(#[$meta:meta])*
        $name:ident: $int:ty {
            $( $(#[$fmeta:meta])* $flag:ident = $value:expr; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub $int);

        impl $name {
            $( $(#[$fmeta])* pub const $flag: $name = $name($value); )*
            /// No bit set.
            pub const EMPTY: $name = $name(0);
            /// Every bit this type has a name for.
            pub const KNOWN: $name = $name(0 $(| $value)*);
            const NAMES: &'static [($int, &'static str)] = &[$(($value, stringify!($flag))),*];

            /// The wire integer.
            pub const fn bits(self) -> $int {
                self.0
            }

            /// Whether every bit of `other` is set here.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether no bit is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// The set bits this type has no name for.
            pub const fn unknown_bits(self) -> $int {
                self.0 & !Self::KNOWN.0
            }

            /// This set with the bits of `other` added.
            pub const fn with(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }

            /// The names of the set bits this type knows, lowest bit first.
            pub fn names(self) -> impl Iterator<Item = &'static str> {
                Self::NAMES
                    .iter()
                    .filter(move |(bit, _)| *bit != 0 && self.0 & *bit == *bit)
                    .map(|(_, name)| *name)
            }
        }

        impl std::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, rhs: $name) -> $name {
                $name(self.0 | rhs.0)
            }
        }

        impl std::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: $name) {
                self.0 |= rhs.0;
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                let mut first = true;
                for name in self.names() {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    f.write_str(name)?;
                    first = false;
                }
                let unknown = self.unknown_bits();
                if unknown != 0 {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{:#x}", unknown)?;
                    first = false;
                }
                if first {
                    f.write_str("0")?;
                }
                f.write_str(")")
            }
        }
    };
}

flag_set! {
    /// Flow-mod and flow-stats flags (`ofp_flow_mod_flags`).
    FlowModFlags: u16 {
        /// Send a FLOW_REMOVED message when the flow expires or is deleted.
        SEND_FLOW_REM = 0x1;
        /// Refuse to add a flow that overlaps another of the same priority.
        CHECK_OVERLAP = 0x2;
        /// Reset the counters of the flows a modify changes.
        RESET_COUNTS = 0x4;
        /// Do not count packets.
        NO_PKT_COUNTS = 0x8;
        /// Do not count bytes.
        NO_BYT_COUNTS = 0x10;
    }
}

flag_set! {
    /// What the switch can do (`ofp_capabilities`, in FEATURES_REPLY).
    Capabilities: u32 {
        /// Flow statistics.
        FLOW_STATS = 0x1;
        /// Table statistics.
        TABLE_STATS = 0x2;
        /// Port statistics.
        PORT_STATS = 0x4;
        /// Group statistics.
        GROUP_STATS = 0x8;
        /// Reassembles IP fragments.
        IP_REASM = 0x20;
        /// Queue statistics.
        QUEUE_STATS = 0x40;
        /// Blocks looping ports.
        PORT_BLOCKED = 0x100;
    }
}

flag_set! {
    /// Switch configuration flags (`ofp_config_flags`): how IP fragments are
    /// handled. Zero is "normal" (no special handling).
    ConfigFlags: u16 {
        /// Drop fragments.
        FRAG_DROP = 0x1;
        /// Reassemble fragments (only if `IP_REASM` is a capability).
        FRAG_REASM = 0x2;
    }
}

flag_set! {
    /// Administrative port settings (`ofp_port_config`).
    PortConfig: u32 {
        /// The port is administratively down.
        PORT_DOWN = 0x1;
        /// Drop everything received on the port.
        NO_RECV = 0x4;
        /// Drop packets forwarded to the port.
        NO_FWD = 0x20;
        /// Send no packet-in messages for the port.
        NO_PACKET_IN = 0x40;
    }
}

flag_set! {
    /// Current port state (`ofp_port_state`).
    PortState: u32 {
        /// No physical link.
        LINK_DOWN = 0x1;
        /// Blocked (e.g. by spanning tree).
        BLOCKED = 0x2;
        /// Live for fast failover groups.
        LIVE = 0x4;
    }
}

flag_set! {
    /// Port features: speeds, media and pause (`ofp_port_features`).
    PortFeatures: u32 {
        /// 10 Mb half duplex.
        RATE_10MB_HD = 0x1;
        /// 10 Mb full duplex.
        RATE_10MB_FD = 0x2;
        /// 100 Mb half duplex.
        RATE_100MB_HD = 0x4;
        /// 100 Mb full duplex.
        RATE_100MB_FD = 0x8;
        /// 1 Gb half duplex.
        RATE_1GB_HD = 0x10;
        /// 1 Gb full duplex.
        RATE_1GB_FD = 0x20;
        /// 10 Gb full duplex.
        RATE_10GB_FD = 0x40;
        /// 40 Gb full duplex.
        RATE_40GB_FD = 0x80;
        /// 100 Gb full duplex.
        RATE_100GB_FD = 0x100;
        /// 1 Tb full duplex.
        RATE_1TB_FD = 0x200;
        /// Another rate, not in the list.
        OTHER = 0x400;
        /// Copper medium.
        COPPER = 0x800;
        /// Fiber medium.
        FIBER = 0x1000;
        /// Auto-negotiation.
        AUTONEG = 0x2000;
        /// Pause.
        PAUSE = 0x4000;
        /// Asymmetric pause.
        PAUSE_ASYM = 0x8000;
    }
}

flag_set! {
    /// Multipart request and reply flags (`ofp_multipart_request_flags`,
    /// `ofp_multipart_reply_flags`): both have one bit, "more follows".
    MultipartFlags: u16 {
        /// More requests or replies follow this one (`OFPMPF_REQ_MORE`,
        /// `OFPMPF_REPLY_MORE`).
        MORE = 0x1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_by_name_and_number() {
        assert_eq!(PortNo::NORMAL.name(), Some("NORMAL"));
        assert_eq!(PortNo::from_name("controller"), Some(PortNo::CONTROLLER));
        assert_eq!(PortNo::from_name("eth0"), None);
        assert_eq!(PortNo(7).to_string(), "7");
        assert_eq!(PortNo::LOCAL.to_string(), "LOCAL");
        assert!(PortNo::ANY.is_reserved());
        assert!(!PortNo::MAX.is_reserved());
    }

    #[test]
    fn mac_text_round_trip() {
        let mac: MacAddr = "52:54:00:0a:bc:01".parse().unwrap();
        assert_eq!(mac.0, [0x52, 0x54, 0x00, 0x0a, 0xbc, 0x01]);
        assert_eq!(mac.to_string(), "52:54:00:0a:bc:01");
        assert!("52:54:00:0a:bc".parse::<MacAddr>().is_err());
        assert!("52:54:00:0a:bc:01:02".parse::<MacAddr>().is_err());
        assert!("52:54:00:0a:bc:1g".parse::<MacAddr>().is_err());
    }

    #[test]
    fn flag_sets_keep_unknown_bits() {
        let flags = FlowModFlags::SEND_FLOW_REM | FlowModFlags(0x40);
        assert!(flags.contains(FlowModFlags::SEND_FLOW_REM));
        assert_eq!(flags.unknown_bits(), 0x40);
        assert_eq!(format!("{flags:?}"), "FlowModFlags(SEND_FLOW_REM | 0x40)");
        assert_eq!(format!("{:?}", FlowModFlags::EMPTY), "FlowModFlags(0)");
        assert_eq!(FlowModFlags::KNOWN.bits(), 0x1f);
    }
}
