//! A port's description (`ofp_port`, 64 bytes), as PORT_STATUS and the
//! PORT_DESC multipart reply carry it.

use crate::error::OfError;
use crate::types::{MacAddr, PortConfig, PortFeatures, PortNo, PortState};
use crate::wire::{read_fixed_str, Reader, Within, Writer};

/// Length of a port name field, NUL included (`OFP_MAX_PORT_NAME_LEN`).
pub const PORT_NAME_LEN: usize = 16;

/// A port description.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Port {
    /// The port number.
    pub port_no: PortNo,
    /// The port's MAC address.
    pub hw_addr: MacAddr,
    /// The name; at most 15 bytes are sent.
    pub name: String,
    /// Administrative settings.
    pub config: PortConfig,
    /// Link state.
    pub state: PortState,
    /// Current features.
    pub curr: PortFeatures,
    /// Features the port advertises.
    pub advertised: PortFeatures,
    /// Features the port supports.
    pub supported: PortFeatures,
    /// Features the peer advertises.
    pub peer: PortFeatures,
    /// Current bit rate in kbit/s.
    pub curr_speed: u32,
    /// Maximum bit rate in kbit/s.
    pub max_speed: u32,
}

impl Port {
    /// Encoded length.
    pub const LEN: usize = 64;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Port, OfError> {
        let port_no = PortNo(r.u32()?);
        r.skip(4)?;
        let hw_addr = MacAddr(r.array()?);
        r.skip(2)?;
        let name = read_fixed_str(r.bytes(PORT_NAME_LEN)?);
        Ok(Port {
            port_no,
            hw_addr,
            name,
            config: PortConfig(r.u32()?),
            state: PortState(r.u32()?),
            curr: PortFeatures(r.u32()?),
            advertised: PortFeatures(r.u32()?),
            supported: PortFeatures(r.u32()?),
            peer: PortFeatures(r.u32()?),
            curr_speed: r.u32()?,
            max_speed: r.u32()?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.port_no.0);
        w.zeros(4);
        w.bytes(&self.hw_addr.0);
        w.zeros(2);
        w.fixed_str(&self.name, PORT_NAME_LEN);
        w.u32(self.config.0);
        w.u32(self.state.0);
        w.u32(self.curr.0);
        w.u32(self.advertised.0);
        w.u32(self.supported.0);
        w.u32(self.peer.0);
        w.u32(self.curr_speed);
        w.u32(self.max_speed);
    }

    /// Decodes a port description from exactly 64 bytes.
    pub fn parse(buf: &[u8]) -> Result<Port, OfError> {
        let mut r = Reader::new(buf, Within::Message("port description"));
        let port = Port::read(&mut r)?;
        r.finish()?;
        Ok(port)
    }

    /// Appends the 64-byte description to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.write(&mut Writer::new(out));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_layout() {
        let port = Port {
            port_no: PortNo(1),
            hw_addr: MacAddr([2, 0, 0, 0, 0, 1]),
            name: "eth1".into(),
            config: PortConfig::NO_PACKET_IN,
            state: PortState::LIVE,
            curr: PortFeatures::RATE_10GB_FD | PortFeatures::COPPER,
            advertised: PortFeatures::EMPTY,
            supported: PortFeatures::EMPTY,
            peer: PortFeatures::EMPTY,
            curr_speed: 10_000_000,
            max_speed: 10_000_000,
        };
        let mut bytes = Vec::new();
        port.emit(&mut bytes);
        #[rustfmt::skip]
        let expected: [u8; 64] = [
            0, 0, 0, 1, 0, 0, 0, 0,
            2, 0, 0, 0, 0, 1, 0, 0,
            b'e', b't', b'h', b'1', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0x40,
            0, 0, 0, 4,
            0, 0, 0x08, 0x40,
            0, 0, 0, 0,
            0, 0, 0, 0,
            0, 0, 0, 0,
            0, 0x98, 0x96, 0x80,
            0, 0x98, 0x96, 0x80,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(Port::parse(&bytes), Ok(port));
        assert!(Port::parse(&bytes[..63]).is_err());
    }

    #[test]
    fn long_names_are_cut_to_fifteen_bytes() {
        let port = Port {
            name: "a-very-long-port-name".into(),
            ..Port::default()
        };
        let mut bytes = Vec::new();
        port.emit(&mut bytes);
        assert_eq!(bytes.len(), Port::LEN);
        assert_eq!(Port::parse(&bytes).unwrap().name, "a-very-long-por");
    }
}
