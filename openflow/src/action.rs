//! Actions (`ofp_action_*`): what a flow or a packet-out does to a packet.
//!
//! Every action type of OpenFlow 1.3 decodes into a variant of [`Action`];
//! experimenter actions keep their experimenter id and bytes, and types
//! the specification does not define become [`Action::Unknown`] rather
//! than a decoding error, so that a client can show what it was sent.
//! Decoding fails only on structure: an action shorter than 8 bytes, not a
//! multiple of 8, longer than the list, or not the size its type has
//! (BAD_ACTION/BAD_LEN), and a set-field whose OXM does not fit
//! (BAD_ACTION/BAD_SET_LEN).
//!
//! [`Action::validate`] is what a switch checks on top: unknown types
//! (BAD_ACTION/BAD_TYPE), experimenters (BAD_EXPERIMENTER), impossible
//! output ports and groups, push ethertypes, and set-field types, masks
//! and values.

use crate::error::OfError;
use crate::oxm::OxmField;
use crate::types::{group, PortNo};
use crate::wire::{Reader, Within, Writer};

/// Action type numbers (`ofp_action_type`).
pub mod action_type {
    /// Output to a port.
    pub const OUTPUT: u16 = 0;
    /// Copy TTL "outwards", from the next-to-outermost header to the outermost.
    pub const COPY_TTL_OUT: u16 = 11;
    /// Copy TTL "inwards", from the outermost header to the next-to-outermost.
    pub const COPY_TTL_IN: u16 = 12;
    /// Set the MPLS TTL.
    pub const SET_MPLS_TTL: u16 = 15;
    /// Decrement the MPLS TTL.
    pub const DEC_MPLS_TTL: u16 = 16;
    /// Push a new VLAN tag.
    pub const PUSH_VLAN: u16 = 17;
    /// Pop the outer VLAN tag.
    pub const POP_VLAN: u16 = 18;
    /// Push a new MPLS tag.
    pub const PUSH_MPLS: u16 = 19;
    /// Pop the outer MPLS tag.
    pub const POP_MPLS: u16 = 20;
    /// Set the queue of an output port.
    pub const SET_QUEUE: u16 = 21;
    /// Apply a group.
    pub const GROUP: u16 = 22;
    /// Set the IP TTL.
    pub const SET_NW_TTL: u16 = 23;
    /// Decrement the IP TTL.
    pub const DEC_NW_TTL: u16 = 24;
    /// Set a header field from an OXM TLV.
    pub const SET_FIELD: u16 = 25;
    /// Push a new PBB service tag.
    pub const PUSH_PBB: u16 = 26;
    /// Pop the outer PBB service tag.
    pub const POP_PBB: u16 = 27;
    /// Experimenter action.
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send the packet out `port`. `max_len` is how many bytes to send when
    /// the port is [`PortNo::CONTROLLER`] (see
    /// [`controller_max_len`](crate::types::controller_max_len)).
    Output {
        /// The output port.
        port: PortNo,
        /// Bytes of the packet to send to the controller.
        max_len: u16,
    },
    /// Copy the TTL outwards.
    CopyTtlOut,
    /// Copy the TTL inwards.
    CopyTtlIn,
    /// Set the MPLS TTL.
    SetMplsTtl(u8),
    /// Decrement the MPLS TTL.
    DecMplsTtl,
    /// Push a VLAN tag with this ethertype (0x8100 or 0x88a8).
    PushVlan(u16),
    /// Pop the outer VLAN tag.
    PopVlan,
    /// Push an MPLS tag with this ethertype (0x8847 or 0x8848).
    PushMpls(u16),
    /// Pop the outer MPLS tag; the ethertype is the payload's.
    PopMpls(u16),
    /// Set the queue id for output.
    SetQueue(u32),
    /// Apply the group with this id.
    Group(u32),
    /// Set the IP TTL.
    SetNwTtl(u8),
    /// Decrement the IP TTL.
    DecNwTtl,
    /// Set the header field the TLV names to its value.
    SetField(OxmField),
    /// Push a PBB service tag with this ethertype (0x88e7).
    PushPbb(u16),
    /// Pop the outer PBB service tag.
    PopPbb,
    /// An experimenter action: the experimenter id and the bytes after it.
    Experimenter {
        /// The experimenter id.
        experimenter: u32,
        /// The rest of the action, padding included.
        data: Vec<u8>,
    },
    /// An action type OpenFlow 1.3 does not define, kept as it came.
    Unknown {
        /// The action type.
        action_type: u16,
        /// Everything after the type and length, padding included.
        body: Vec<u8>,
    },
}

impl Action {
    /// Output to `port`; to the controller, whole packets
    /// ([`controller_max_len::NO_BUFFER`](crate::types::controller_max_len::NO_BUFFER)),
    /// elsewhere `max_len` 0 since only the controller port reads it.
    pub const fn output(port: PortNo) -> Action {
        let max_len = if port.0 == PortNo::CONTROLLER.0 {
            crate::types::controller_max_len::NO_BUFFER
        } else {
            0
        };
        Action::Output { port, max_len }
    }

    /// The action type number.
    pub fn action_type(&self) -> u16 {
        use self::action_type as t;
        match self {
            Action::Output { .. } => t::OUTPUT,
            Action::CopyTtlOut => t::COPY_TTL_OUT,
            Action::CopyTtlIn => t::COPY_TTL_IN,
            Action::SetMplsTtl(_) => t::SET_MPLS_TTL,
            Action::DecMplsTtl => t::DEC_MPLS_TTL,
            Action::PushVlan(_) => t::PUSH_VLAN,
            Action::PopVlan => t::POP_VLAN,
            Action::PushMpls(_) => t::PUSH_MPLS,
            Action::PopMpls(_) => t::POP_MPLS,
            Action::SetQueue(_) => t::SET_QUEUE,
            Action::Group(_) => t::GROUP,
            Action::SetNwTtl(_) => t::SET_NW_TTL,
            Action::DecNwTtl => t::DEC_NW_TTL,
            Action::SetField(_) => t::SET_FIELD,
            Action::PushPbb(_) => t::PUSH_PBB,
            Action::PopPbb => t::POP_PBB,
            Action::Experimenter { .. } => t::EXPERIMENTER,
            Action::Unknown { action_type, .. } => *action_type,
        }
    }

    /// The action's name in the specification, lower case (`"set_field"`).
    pub fn name(&self) -> &'static str {
        action_name(self.action_type())
    }

    /// The checks a switch makes beyond decoding; see the module docs.
    pub fn validate(&self) -> Result<(), OfError> {
        match self {
            Action::Output { port, .. } => {
                let usable = (port.0 != 0 && !port.is_reserved())
                    || (port.name().is_some() && *port != PortNo::ANY);
                if !usable {
                    return Err(OfError::BadOutPort { port: *port });
                }
            }
            Action::Group(id) if *id > group::MAX => {
                return Err(OfError::BadOutGroup { group: *id });
            }
            Action::PushVlan(ethertype) if !matches!(ethertype, 0x8100 | 0x88a8) => {
                return Err(OfError::BadActionArgument {
                    what: "push_vlan: the ethertype must be 0x8100 or 0x88a8",
                });
            }
            Action::PushMpls(ethertype) if !matches!(ethertype, 0x8847 | 0x8848) => {
                return Err(OfError::BadActionArgument {
                    what: "push_mpls: the ethertype must be 0x8847 or 0x8848",
                });
            }
            Action::PushPbb(ethertype) if *ethertype != 0x88e7 => {
                return Err(OfError::BadActionArgument {
                    what: "push_pbb: the ethertype must be 0x88e7",
                });
            }
            Action::SetField(field) => validate_set_field(field)?,
            Action::Experimenter { experimenter, .. } => {
                return Err(OfError::ExperimenterAction {
                    experimenter: *experimenter,
                });
            }
            Action::Unknown { action_type, .. } => {
                return Err(OfError::UnknownAction {
                    action_type: *action_type,
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads one action.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Action, OfError> {
        let action_type = r.u16()?;
        let len = usize::from(r.u16()?);
        let name = action_name(action_type);
        if len < 8 || len % 8 != 0 {
            return Err(OfError::BadActionLength { what: name });
        }
        let body = r
            .bytes(len - 4)
            .map_err(|_| OfError::BadActionLength { what: name })?;
        let mut b = Reader::new(body, Within::Action(name));
        use self::action_type as t;
        let action = match action_type {
            t::OUTPUT => {
                let port = PortNo(b.u32()?);
                let max_len = b.u16()?;
                b.skip(6)?;
                Action::Output { port, max_len }
            }
            t::COPY_TTL_OUT => pad4(&mut b, Action::CopyTtlOut)?,
            t::COPY_TTL_IN => pad4(&mut b, Action::CopyTtlIn)?,
            t::DEC_MPLS_TTL => pad4(&mut b, Action::DecMplsTtl)?,
            t::POP_VLAN => pad4(&mut b, Action::PopVlan)?,
            t::DEC_NW_TTL => pad4(&mut b, Action::DecNwTtl)?,
            t::POP_PBB => pad4(&mut b, Action::PopPbb)?,
            t::SET_MPLS_TTL => {
                let ttl = b.u8()?;
                b.skip(3)?;
                Action::SetMplsTtl(ttl)
            }
            t::SET_NW_TTL => {
                let ttl = b.u8()?;
                b.skip(3)?;
                Action::SetNwTtl(ttl)
            }
            t::PUSH_VLAN | t::PUSH_MPLS | t::POP_MPLS | t::PUSH_PBB => {
                let ethertype = b.u16()?;
                b.skip(2)?;
                match action_type {
                    t::PUSH_VLAN => Action::PushVlan(ethertype),
                    t::PUSH_MPLS => Action::PushMpls(ethertype),
                    t::POP_MPLS => Action::PopMpls(ethertype),
                    _ => Action::PushPbb(ethertype),
                }
            }
            t::SET_QUEUE => Action::SetQueue(b.u32()?),
            t::GROUP => Action::Group(b.u32()?),
            t::SET_FIELD => {
                // The TLV, then zeros up to the action's 8-byte boundary.
                let field = OxmField::read(&mut b).map_err(|e| match e {
                    OfError::MaskNotAllowed { field } => OfError::BadSetFieldArgument { field },
                    _ => OfError::BadSetFieldLength,
                })?;
                b.rest();
                Action::SetField(field)
            }
            t::EXPERIMENTER => Action::Experimenter {
                experimenter: b.u32()?,
                data: b.rest().to_vec(),
            },
            _ => Action::Unknown {
                action_type,
                body: b.rest().to_vec(),
            },
        };
        b.finish()?;
        Ok(action)
    }

    /// Appends the action, padded to 8 bytes.
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let start = w.len();
        w.u16(self.action_type());
        w.u16(0);
        match self {
            Action::Output { port, max_len } => {
                w.u32(port.0);
                w.u16(*max_len);
                w.zeros(6);
            }
            Action::CopyTtlOut
            | Action::CopyTtlIn
            | Action::DecMplsTtl
            | Action::PopVlan
            | Action::DecNwTtl
            | Action::PopPbb => w.zeros(4),
            Action::SetMplsTtl(ttl) | Action::SetNwTtl(ttl) => {
                w.u8(*ttl);
                w.zeros(3);
            }
            Action::PushVlan(ethertype)
            | Action::PushMpls(ethertype)
            | Action::PopMpls(ethertype)
            | Action::PushPbb(ethertype) => {
                w.u16(*ethertype);
                w.zeros(2);
            }
            Action::SetQueue(id) | Action::Group(id) => w.u32(*id),
            Action::SetField(field) => field.write(w),
            Action::Experimenter { experimenter, data } => {
                w.u32(*experimenter);
                w.bytes(data);
            }
            Action::Unknown { body, .. } => w.bytes(body),
        }
        w.pad_to_8(start);
        w.patch_len16(start + 2, start);
    }

    /// Decodes a list of actions that fills `buf` exactly.
    pub fn parse_list(buf: &[u8]) -> Result<Vec<Action>, OfError> {
        read_actions(buf)
    }

    /// Appends a list of actions to `out`.
    pub fn emit_list(actions: &[Action], out: &mut Vec<u8>) -> Result<(), OfError> {
        let start = out.len();
        let mut w = Writer::new(out);
        write_actions(actions, &mut w);
        if let Some(length) = w.overflow() {
            out.truncate(start);
            return Err(OfError::TooLong {
                what: "an action",
                length,
                max: u16::MAX as usize,
            });
        }
        Ok(())
    }
}

/// A body that is 4 bytes of padding.
fn pad4(b: &mut Reader<'_>, action: Action) -> Result<Action, OfError> {
    b.skip(4)?;
    Ok(action)
}

/// The specification's name of an action type, lower case.
pub fn action_name(action_type: u16) -> &'static str {
    use self::action_type as t;
    match action_type {
        t::OUTPUT => "output",
        t::COPY_TTL_OUT => "copy_ttl_out",
        t::COPY_TTL_IN => "copy_ttl_in",
        t::SET_MPLS_TTL => "set_mpls_ttl",
        t::DEC_MPLS_TTL => "dec_mpls_ttl",
        t::PUSH_VLAN => "push_vlan",
        t::POP_VLAN => "pop_vlan",
        t::PUSH_MPLS => "push_mpls",
        t::POP_MPLS => "pop_mpls",
        t::SET_QUEUE => "set_queue",
        t::GROUP => "group",
        t::SET_NW_TTL => "set_nw_ttl",
        t::DEC_NW_TTL => "dec_nw_ttl",
        t::SET_FIELD => "set_field",
        t::PUSH_PBB => "push_pbb",
        t::POP_PBB => "pop_pbb",
        t::EXPERIMENTER => "experimenter",
        _ => "unknown action",
    }
}

/// What a set-field may carry: a known field that describes a packet
/// header (not `in_port`, `in_phy_port`, `metadata` or the `ipv6_exthdr`
/// pseudo-field), without a mask, with a value in range.
fn validate_set_field(field: &OxmField) -> Result<(), OfError> {
    match field {
        OxmField::Unknown(_)
        | OxmField::InPort(_)
        | OxmField::InPhyPort(_)
        | OxmField::Metadata(_)
        | OxmField::Ipv6Exthdr(_) => {
            let ty = field.oxm_type();
            Err(OfError::BadSetFieldType {
                class: ty.class,
                field: ty.field,
            })
        }
        _ if field.has_mask() || !field.value_in_range() => Err(OfError::BadSetFieldArgument {
            field: field.name(),
        }),
        _ => Ok(()),
    }
}

/// Reads actions until `buf` is used up.
pub(crate) fn read_actions(buf: &[u8]) -> Result<Vec<Action>, OfError> {
    let mut r = Reader::new(buf, Within::Action("action header"));
    let mut actions = Vec::new();
    while !r.is_empty() {
        actions.push(Action::read(&mut r)?);
    }
    Ok(actions)
}

/// Appends actions.
pub(crate) fn write_actions(actions: &[Action], w: &mut Writer<'_>) {
    for action in actions {
        action.write(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{bad_action, ErrorType};
    use crate::oxm::{Masked, UnknownOxm};
    use crate::types::MacAddr;

    fn encode(actions: &[Action]) -> Vec<u8> {
        let mut out = Vec::new();
        Action::emit_list(actions, &mut out).unwrap();
        out
    }

    #[test]
    fn output_layout() {
        let bytes = [0, 0, 0, 16, 0, 0, 0, 2, 0xff, 0xe5, 0, 0, 0, 0, 0, 0];
        let action = Action::Output {
            port: PortNo(2),
            max_len: 0xffe5,
        };
        assert_eq!(encode(std::slice::from_ref(&action)), bytes);
        assert_eq!(Action::parse_list(&bytes), Ok(vec![action]));
    }

    #[test]
    fn set_field_is_padded_to_eight() {
        let action = Action::SetField(OxmField::EthDst(Masked::exact(MacAddr([
            0x52, 0x54, 0, 0, 0, 1,
        ]))));
        #[rustfmt::skip]
        let bytes = [
            0x00, 0x19, 0x00, 0x10,             // set_field, 16 bytes
            0x80, 0x00, 0x06, 0x06,             // eth_dst, 6 bytes
            0x52, 0x54, 0x00, 0x00, 0x00, 0x01,
            0x00, 0x00,                         // padding
        ];
        assert_eq!(encode(std::slice::from_ref(&action)), bytes);
        assert_eq!(Action::parse_list(&bytes), Ok(vec![action]));
    }

    #[test]
    fn every_simple_action_round_trips() {
        let actions = vec![
            Action::CopyTtlOut,
            Action::CopyTtlIn,
            Action::SetMplsTtl(9),
            Action::DecMplsTtl,
            Action::PushVlan(0x8100),
            Action::PopVlan,
            Action::PushMpls(0x8847),
            Action::PopMpls(0x0800),
            Action::SetQueue(3),
            Action::Group(5),
            Action::SetNwTtl(64),
            Action::DecNwTtl,
            Action::PushPbb(0x88e7),
            Action::PopPbb,
            Action::Experimenter {
                experimenter: 0x2320,
                data: vec![0, 1, 2, 3, 4, 5, 6, 7],
            },
            Action::Unknown {
                action_type: 99,
                body: vec![1, 2, 3, 4],
            },
        ];
        let bytes = encode(&actions);
        assert_eq!(bytes.len(), 8 * 14 + 16 + 8);
        assert_eq!(Action::parse_list(&bytes), Ok(actions));
    }

    #[test]
    fn lengths_are_checked() {
        let code = |bytes: &[u8]| Action::parse_list(bytes).unwrap_err().code();
        // Too short, not a multiple of 8, longer than the list.
        assert_eq!(code(&[0, 0, 0, 4]).code, bad_action::BAD_LEN);
        assert_eq!(
            code(&[0, 18, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]).code,
            bad_action::BAD_LEN
        );
        assert_eq!(code(&[0, 18, 0, 16, 0, 0, 0, 0]).code, bad_action::BAD_LEN);
        // Output is 16 bytes, not 8.
        assert_eq!(code(&[0, 0, 0, 8, 0, 0, 0, 1]).code, bad_action::BAD_LEN);
        // A header cut short.
        assert_eq!(code(&[0, 0]).code, bad_action::BAD_LEN);
        // A set-field whose TLV runs past the action.
        let err = Action::parse_list(&[0, 25, 0, 8, 0x80, 0, 0, 4]).unwrap_err();
        assert_eq!(err.code().code, bad_action::BAD_SET_LEN);
    }

    #[test]
    fn validation() {
        let code = |a: Action| a.validate().unwrap_err().code();
        assert_eq!(Action::output(PortNo(1)).validate(), Ok(()));
        assert_eq!(Action::output(PortNo::CONTROLLER).validate(), Ok(()));
        assert_eq!(
            code(Action::output(PortNo(0))).code,
            bad_action::BAD_OUT_PORT
        );
        assert_eq!(
            code(Action::output(PortNo::ANY)).code,
            bad_action::BAD_OUT_PORT
        );
        assert_eq!(
            code(Action::output(PortNo(0xffff_fff0))).code,
            bad_action::BAD_OUT_PORT
        );
        assert_eq!(
            code(Action::Group(group::ANY)).code,
            bad_action::BAD_OUT_GROUP
        );
        assert_eq!(
            code(Action::PushVlan(0x0800)).code,
            bad_action::BAD_ARGUMENT
        );
        let unknown = code(Action::Unknown {
            action_type: 77,
            body: vec![0; 4],
        });
        assert_eq!(unknown.kind, ErrorType::BadAction);
        assert_eq!(unknown.code, bad_action::BAD_TYPE);
        assert_eq!(
            code(Action::SetField(OxmField::InPort(PortNo(1)))).code,
            bad_action::BAD_SET_TYPE
        );
        assert_eq!(
            code(Action::SetField(OxmField::Unknown(UnknownOxm {
                class: 1,
                field: 1,
                has_mask: false,
                payload: vec![0; 4],
            })))
            .code,
            bad_action::BAD_SET_TYPE
        );
        assert_eq!(
            code(Action::SetField(OxmField::TcpDst(Masked::new(80, 0xff)))).code,
            bad_action::BAD_SET_ARGUMENT
        );
        assert_eq!(
            code(Action::SetField(OxmField::VlanPcp(9))).code,
            bad_action::BAD_SET_ARGUMENT
        );
        assert_eq!(Action::SetField(OxmField::VlanPcp(5)).validate(), Ok(()));
    }
}
