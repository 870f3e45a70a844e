//! From OpenFlow 1.3 on the wire to the bridge's flow tables: OXM matches
//! become [`Match`]es over the datapath's flow key, instructions and
//! actions become [`Rule`] fields and [`OfAction`]s.
//!
//! What the pipeline cannot do is refused with the OpenFlow error a
//! controller expects (`BAD_MATCH/BAD_FIELD`, `BAD_ACTION/BAD_TYPE`,
//! `BAD_INSTRUCTION/UNKNOWN_INST`, ...), never accepted and ignored.
//!
//! Port numbers: OpenFlow 1.3 calls the bridge's own port `LOCAL`
//! (0xfffffffe); inside rvs it is port 65534, as in Open vSwitch's
//! database. [`of_port_in`] and [`of_port_out`] translate.

use crate::mac_learning::OfPort;
use crate::ofproto::{ofpp, Match, OfAction, Rule, RuleMeta};
use rvs_datapath::{FlowKey, FlowMask};
use rvs_openflow::oxm::OFPVID_PRESENT;
use rvs_openflow::{Action, FlowMod, Instruction, Masked, OfError, OxmField, PortNo};

/// The bridge's own port as the database and the datapath number it.
pub const LOCAL_OFPORT: OfPort = 65534;

/// An OpenFlow port number as rvs numbers it.
pub fn of_port_in(p: PortNo) -> OfPort {
    if p == PortNo::LOCAL {
        LOCAL_OFPORT
    } else {
        p.0
    }
}

/// An rvs port number as OpenFlow 1.3 numbers it.
pub fn of_port_out(p: OfPort) -> PortNo {
    if p == LOCAL_OFPORT {
        PortNo::LOCAL
    } else {
        PortNo(p)
    }
}

/// Sets one field in a key (value) and a second key used as the mask.
struct Builder {
    key: FlowKey,
    mask: FlowKey,
    metadata: u64,
    metadata_mask: u64,
}

fn mac_masked(m: &Masked<rvs_openflow::MacAddr>) -> ([u8; 6], [u8; 6]) {
    (m.value.0, m.mask.map_or([0xff; 6], |x| x.0))
}

fn ip_masked(m: &Masked<std::net::Ipv4Addr>) -> (u32, u32) {
    (u32::from(m.value), m.mask.map_or(u32::MAX, u32::from))
}

fn ip6_masked(m: &Masked<std::net::Ipv6Addr>) -> ([u8; 16], [u8; 16]) {
    (m.value.octets(), m.mask.map_or([0xff; 16], |x| x.octets()))
}

fn u16_masked(m: &Masked<u16>) -> (u16, u16) {
    (m.value, m.mask.unwrap_or(u16::MAX))
}

impl Builder {
    fn field(&mut self, f: &OxmField) -> Result<(), OfError> {
        let (k, m) = (&mut self.key, &mut self.mask);
        match f {
            OxmField::InPort(p) => {
                k.set_in_port(of_port_in(*p));
                m.set_in_port(u32::MAX);
            }
            OxmField::Metadata(v) => {
                let mask = v.mask.unwrap_or(u64::MAX);
                self.metadata = v.value & mask;
                self.metadata_mask = mask;
            }
            OxmField::EthDst(v) => {
                let (a, b) = mac_masked(v);
                k.set_eth_dst(a);
                m.set_eth_dst(b);
            }
            OxmField::EthSrc(v) => {
                let (a, b) = mac_masked(v);
                k.set_eth_src(a);
                m.set_eth_src(b);
            }
            OxmField::EthType(t) => {
                k.set_dl_type(*t);
                m.set_dl_type(u16::MAX);
            }
            OxmField::VlanVid(v) => {
                // OFPVID_PRESENT is the key's CFI bit: the same 13 bits.
                let (a, b) = u16_masked(v);
                let b = b & 0x1fff;
                k.set_vlan_tci((k.vlan_tci() & !b) | (a & b));
                m.set_vlan_tci(m.vlan_tci() | b);
            }
            OxmField::VlanPcp(p) => {
                k.set_vlan_tci((k.vlan_tci() & 0x1fff) | (u16::from(*p) << 13));
                m.set_vlan_tci(m.vlan_tci() | 0xe000);
            }
            OxmField::IpDscp(d) => {
                k.set_nw_tos((k.nw_tos() & 0x03) | (d << 2));
                m.set_nw_tos(m.nw_tos() | 0xfc);
            }
            OxmField::IpEcn(e) => {
                k.set_nw_tos((k.nw_tos() & 0xfc) | (e & 3));
                m.set_nw_tos(m.nw_tos() | 0x03);
            }
            OxmField::IpProto(p) => {
                k.set_nw_proto(*p);
                m.set_nw_proto(u8::MAX);
            }
            OxmField::Ipv4Src(v) | OxmField::ArpSpa(v) => {
                let (a, b) = ip_masked(v);
                k.set_ipv4_src(a);
                m.set_ipv4_src(b);
            }
            OxmField::Ipv4Dst(v) | OxmField::ArpTpa(v) => {
                let (a, b) = ip_masked(v);
                k.set_ipv4_dst(a);
                m.set_ipv4_dst(b);
            }
            OxmField::TcpSrc(v) | OxmField::UdpSrc(v) | OxmField::SctpSrc(v) => {
                let (a, b) = u16_masked(v);
                k.set_tp_src(a);
                m.set_tp_src(b);
            }
            OxmField::TcpDst(v) | OxmField::UdpDst(v) | OxmField::SctpDst(v) => {
                let (a, b) = u16_masked(v);
                k.set_tp_dst(a);
                m.set_tp_dst(b);
            }
            OxmField::Icmpv4Type(t) | OxmField::Icmpv6Type(t) => {
                k.set_tp_src(u16::from(*t));
                m.set_tp_src(u16::MAX);
            }
            OxmField::Icmpv4Code(c) | OxmField::Icmpv6Code(c) => {
                k.set_tp_dst(u16::from(*c));
                m.set_tp_dst(u16::MAX);
            }
            OxmField::ArpOp(op) => {
                // The key keeps the opcode in nw_proto's 8 bits.
                let op =
                    u8::try_from(*op).map_err(|_| OfError::BadFieldValue { field: "arp_op" })?;
                k.set_nw_proto(op);
                m.set_nw_proto(u8::MAX);
            }
            OxmField::ArpSha(v) => {
                let (a, b) = mac_masked(v);
                k.set_arp_sha(a);
                m.set_arp_sha(b);
            }
            OxmField::ArpTha(v) => {
                let (a, b) = mac_masked(v);
                k.set_arp_tha(a);
                m.set_arp_tha(b);
            }
            OxmField::Ipv6Src(v) => {
                let (a, b) = ip6_masked(v);
                k.set_ipv6_src(a);
                m.set_ipv6_src(b);
            }
            OxmField::Ipv6Dst(v) => {
                let (a, b) = ip6_masked(v);
                k.set_ipv6_dst(a);
                m.set_ipv6_dst(b);
            }
            OxmField::Ipv6Flabel(v) => {
                k.set_ipv6_label(v.value);
                m.set_ipv6_label(v.mask.unwrap_or(0xfffff));
            }
            other => {
                let t = other.oxm_type();
                return Err(OfError::UnknownField {
                    class: t.class,
                    field: t.field,
                });
            }
        }
        Ok(())
    }
}

/// The pipeline match of an OpenFlow match (validated by the caller).
pub fn compile_match(m: &rvs_openflow::Match) -> Result<Match, OfError> {
    let mut b = Builder {
        key: FlowKey::default(),
        mask: FlowKey::default(),
        metadata: 0,
        metadata_mask: 0,
    };
    for f in m.iter() {
        b.field(f)?;
    }
    let mut out = Match::new(
        b.key,
        FlowMask {
            words: b.mask.words,
        },
    );
    out.metadata = b.metadata;
    out.metadata_mask = b.metadata_mask;
    Ok(out)
}

fn unsupported(a: &Action) -> OfError {
    OfError::UnknownAction {
        action_type: a.action_type(),
    }
}

/// Where an action list runs: a flow's instructions, or a PACKET_OUT (the
/// only place `output:TABLE` is allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionContext {
    Flow,
    PacketOut,
}

/// The pipeline actions of an OpenFlow action list.
pub fn compile_actions(actions: &[Action], cx: ActionContext) -> Result<Vec<OfAction>, OfError> {
    let mut out = Vec::with_capacity(actions.len());
    for a in actions {
        out.push(match a {
            Action::Output { port, max_len } => match *port {
                PortNo::NORMAL => OfAction::Normal,
                PortNo::FLOOD => OfAction::Flood,
                PortNo::ALL => OfAction::All,
                PortNo::CONTROLLER => OfAction::Controller { max_len: *max_len },
                PortNo::IN_PORT => OfAction::Output(ofpp::IN_PORT),
                PortNo::LOCAL => OfAction::Output(LOCAL_OFPORT),
                PortNo::TABLE if cx == ActionContext::PacketOut => OfAction::Output(ofpp::TABLE),
                p if p.0 == 0 || p.is_reserved() => return Err(OfError::BadOutPort { port: p }),
                p => OfAction::Output(p.0),
            },
            Action::PushVlan(tpid) => OfAction::PushVlan { tpid: *tpid },
            Action::PopVlan => OfAction::PopVlan,
            Action::DecNwTtl => OfAction::DecTtl,
            Action::Group(g) => return Err(OfError::BadOutGroup { group: *g }),
            Action::SetField(f) => set_field(f)?,
            other => return Err(unsupported(other)),
        });
    }
    Ok(out)
}

fn set_field(f: &OxmField) -> Result<OfAction, OfError> {
    let exact_mac = |m: &Masked<rvs_openflow::MacAddr>| m.value.0;
    Ok(match f {
        OxmField::EthSrc(m) => OfAction::SetEthSrc(exact_mac(m)),
        OxmField::EthDst(m) => OfAction::SetEthDst(exact_mac(m)),
        // OpenFlow 1.3 wants OFPVID_PRESENT in the value (Open vSwitch
        // refuses the value without it too).
        OxmField::VlanVid(m) if m.value & OFPVID_PRESENT != 0 && m.value <= 0x1fff => {
            OfAction::SetTagVid(m.value & 0x0fff)
        }
        OxmField::VlanVid(_) => return Err(OfError::BadSetFieldArgument { field: "vlan_vid" }),
        OxmField::VlanPcp(p) => OfAction::SetTagPcp(*p & 7),
        OxmField::Ipv4Src(m) => OfAction::SetIpv4Src(u32::from(m.value)),
        OxmField::Ipv4Dst(m) => OfAction::SetIpv4Dst(u32::from(m.value)),
        OxmField::TcpSrc(m) | OxmField::UdpSrc(m) => OfAction::SetTpSrc(m.value),
        OxmField::TcpDst(m) | OxmField::UdpDst(m) => OfAction::SetTpDst(m.value),
        other => {
            let t = other.oxm_type();
            return Err(OfError::BadSetFieldType {
                class: t.class,
                field: t.field,
            });
        }
    })
}

/// The rule a FLOW_MOD add (or the new version a modify) describes, made
/// at `now_ms` on the switch's clock. The flow-mod has been validated.
pub fn compile_rule(fm: &FlowMod, now_ms: u64) -> Result<Rule, OfError> {
    let m = compile_match(&fm.match_)?;
    let mut rule = Rule::new(fm.table_id, fm.priority, m, Vec::new());
    for i in &fm.instructions {
        match i {
            Instruction::ApplyActions(a) => {
                rule.actions = compile_actions(a, ActionContext::Flow)?;
            }
            Instruction::WriteActions(a) => {
                rule.write_actions = compile_actions(a, ActionContext::Flow)?;
            }
            Instruction::ClearActions => rule.clear_actions = true,
            Instruction::WriteMetadata { metadata, mask } => {
                rule.write_metadata = Some((*metadata, *mask));
            }
            Instruction::GotoTable(t) => rule.goto = Some(*t),
            other => {
                return Err(OfError::UnknownInstruction {
                    instruction_type: other.instruction_type(),
                })
            }
        }
    }
    rule.cookie = fm.cookie;
    rule.meta = RuleMeta {
        of_match: fm.match_.clone(),
        instructions: fm.instructions.clone(),
        idle_timeout: fm.idle_timeout,
        hard_timeout: fm.hard_timeout,
        flags: fm.flags,
        created_ms: now_ms,
    };
    rule.stats
        .used_ms
        .store(now_ms, std::sync::atomic::Ordering::Relaxed);
    Ok(rule)
}

/// The OpenFlow match a PACKET_IN carries for a packet that entered on
/// `in_port` with pipeline `metadata`.
pub fn packet_in_match(in_port: OfPort, metadata: u64) -> rvs_openflow::Match {
    let mut m = rvs_openflow::Match::new().with(OxmField::InPort(of_port_out(in_port)));
    if metadata != 0 {
        m = m.with(OxmField::Metadata(Masked::exact(metadata)));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_openflow::flow_syntax::{parse_flow, FlowMode};
    use rvs_openflow::FlowModCommand;

    fn rule(text: &str) -> Result<Rule, OfError> {
        let spec = parse_flow(text, FlowMode::Add).unwrap();
        let fm = spec.to_flow_mod(FlowModCommand::Add);
        fm.validate()?;
        compile_rule(&fm, 0)
    }

    fn key(f: impl Fn(&mut FlowKey)) -> FlowKey {
        let mut k = FlowKey::default();
        f(&mut k);
        k
    }

    #[test]
    fn matches_cover_exactly_the_packets_the_flow_names() {
        let r = rule("priority=10,in_port=1,ip,nw_dst=10.0.0.0/24,actions=output:2").unwrap();
        let hit = key(|k| {
            k.set_in_port(1);
            k.set_dl_type(0x0800);
            k.set_ipv4_dst(0x0a000007);
        });
        assert!(r.m.matches(&hit, 0));
        let mut miss = hit;
        miss.set_ipv4_dst(0x0a000107);
        assert!(!r.m.matches(&miss, 0));
        let mut other_port = hit;
        other_port.set_in_port(2);
        assert!(!r.m.matches(&other_port, 0));
        assert_eq!(r.actions, vec![OfAction::Output(2)]);
        assert_eq!(r.priority, 10);
    }

    #[test]
    fn vlan_matches_tell_tagged_from_untagged() {
        let tagged = rule("dl_vlan=100,actions=drop").unwrap();
        let untagged = rule("vlan_tci=0x0000/0x1fff,actions=drop").unwrap();
        let k100 = key(|k| k.set_vlan_tci(0x1000 | 100));
        let k0 = key(|_| {});
        assert!(tagged.m.matches(&k100, 0) && !tagged.m.matches(&k0, 0));
        assert!(untagged.m.matches(&k0, 0) && !untagged.m.matches(&k100, 0));
    }

    #[test]
    fn instructions_become_the_pipeline() {
        let r = rule(
            "table=0,actions=push_vlan:0x8100,set_field:4196->vlan_vid,write_metadata:0x5/0xff,goto_table:3",
        )
        .unwrap();
        assert_eq!(
            r.actions,
            vec![
                OfAction::PushVlan { tpid: 0x8100 },
                OfAction::SetTagVid(100)
            ]
        );
        assert_eq!(r.goto, Some(3));
        assert_eq!(r.write_metadata, Some((5, 0xff)));
        let r = rule("actions=local,controller:64,in_port,normal").unwrap();
        assert_eq!(
            r.actions,
            vec![
                OfAction::Output(LOCAL_OFPORT),
                OfAction::Controller { max_len: 64 },
                OfAction::Output(ofpp::IN_PORT),
                OfAction::Normal
            ]
        );
    }

    #[test]
    fn what_the_pipeline_cannot_do_is_refused_with_the_right_error() {
        let e = rule("ip,actions=set_field:10->ip_dscp").unwrap_err();
        assert_eq!(e.code().to_string(), "BAD_ACTION/BAD_SET_TYPE");
        // ovs-ofctl encodes set_field:10->vlan_vid without OFPVID_PRESENT.
        let bare = Action::SetField(OxmField::VlanVid(Masked::exact(10)));
        let e = compile_actions(&[bare], ActionContext::Flow).unwrap_err();
        assert_eq!(e.code().to_string(), "BAD_ACTION/BAD_SET_ARGUMENT");
        let e = rule("actions=group:1").unwrap_err();
        assert_eq!(e.code().to_string(), "BAD_ACTION/BAD_OUT_GROUP");
        let e = rule("mpls,mpls_label=5,actions=drop").unwrap_err();
        assert_eq!(e.code().to_string(), "BAD_MATCH/BAD_FIELD");
    }

    #[test]
    fn local_port_numbers_translate() {
        assert_eq!(of_port_in(PortNo::LOCAL), LOCAL_OFPORT);
        assert_eq!(of_port_out(LOCAL_OFPORT), PortNo::LOCAL);
        assert_eq!(of_port_out(3), PortNo(3));
    }
}
