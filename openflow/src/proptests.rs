//! Property tests over whole messages: random well-formed messages survive
//! encode → decode unchanged, and no byte string — random, truncated,
//! mutated, or a valid header over a random body — makes decoding,
//! validation or re-encoding panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;

use crate::action::Action;
use crate::error::{ErrorCode, ErrorType, OfError};
use crate::framer::{frame_len, MessageFramer};
use crate::header::MsgType;
use crate::instruction::Instruction;
use crate::message::{
    AsyncConfig, ControllerRole, ErrorMsg, ExperimenterMsg, FlowMod, FlowModCommand, FlowRemoved,
    FlowRemovedReason, Hello, HelloElement, Message, MessageBody, PacketIn, PacketInReason,
    PacketOut, PortReason, PortStatus, Role, SwitchConfig, SwitchFeatures,
};
use crate::multipart::{
    AggregateStats, FlowStats, FlowStatsRequest, MultipartReply, MultipartReplyBody,
    MultipartRequest, MultipartRequestBody, MultipartType, PortStats, SwitchDesc, TableFeatures,
    TableStats,
};
use crate::oxm::{oxm_class, Match, OxmField, UnknownOxm};
use crate::port::Port;
use crate::types::{
    Capabilities, ConfigFlags, FlowModFlags, MacAddr, MultipartFlags, PortConfig, PortFeatures,
    PortNo, PortState, MAX_MESSAGE_LEN, OFP_VERSION,
};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

/// Bytes whose length is `rem` more than a multiple of 8.
fn bytes_len_mod8(rem: usize, max_words: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..=max_words).prop_flat_map(move |words| vec(any::<u8>(), words * 8 + rem))
}

fn port_no() -> impl Strategy<Value = PortNo> {
    prop_oneof![
        (1u32..100).prop_map(PortNo),
        any::<u32>().prop_map(PortNo),
        Just(PortNo::CONTROLLER),
        Just(PortNo::ANY),
    ]
}

/// A known basic field: a field number and enough random bytes, tried at
/// each length a field can have until one decodes.
fn known_oxm() -> impl Strategy<Value = OxmField> {
    let ids: Vec<u8> = (0u8..40).filter(|id| *id != 37).collect();
    (
        proptest::sample::select(ids),
        any::<bool>(),
        vec(any::<u8>(), 32),
    )
        .prop_map(|(field, mask, raw)| {
            for has_mask in [mask, false] {
                for len in [1, 2, 4, 6, 8, 16] {
                    let len = if has_mask { 2 * len } else { len };
                    if let Some(Ok(decoded)) = OxmField::decode_basic(field, has_mask, &raw[..len])
                    {
                        return decoded;
                    }
                }
            }
            unreachable!("basic field {field} decodes at no length")
        })
}

fn unknown_oxm() -> impl Strategy<Value = UnknownOxm> {
    let class = prop_oneof![
        Just(oxm_class::NXM_0),
        Just(oxm_class::NXM_1),
        Just(oxm_class::EXPERIMENTER),
        2u16..0x8000,
    ];
    let basic_unknown = prop_oneof![Just(37u8), 40u8..128];
    prop_oneof![
        (class, 0u8..128).prop_map(|(c, f)| (c, f)),
        basic_unknown.prop_map(|f| (oxm_class::OPENFLOW_BASIC, f)),
    ]
    .prop_flat_map(|(class, field)| {
        (any::<bool>(), bytes(24)).prop_map(move |(has_mask, payload)| UnknownOxm {
            class,
            field,
            has_mask,
            payload,
        })
    })
}

fn oxm_field() -> impl Strategy<Value = OxmField> {
    prop_oneof![
        9 => known_oxm(),
        1 => unknown_oxm().prop_map(OxmField::Unknown),
    ]
}

fn a_match() -> impl Strategy<Value = Match> {
    vec(oxm_field(), 0..8).prop_map(|fields| {
        fields
            .into_iter()
            .fold(Match::new(), |m, field| m.with(field))
    })
}

fn known_action_type(t: u16) -> bool {
    matches!(t, 0 | 11 | 12 | 15..=27 | 0xffff)
}

fn action() -> impl Strategy<Value = Action> {
    let simple = prop_oneof![
        Just(Action::CopyTtlOut),
        Just(Action::CopyTtlIn),
        Just(Action::DecMplsTtl),
        Just(Action::PopVlan),
        Just(Action::DecNwTtl),
        Just(Action::PopPbb),
        any::<u8>().prop_map(Action::SetMplsTtl),
        any::<u8>().prop_map(Action::SetNwTtl),
    ];
    let with_number = prop_oneof![
        any::<u16>().prop_map(Action::PushVlan),
        any::<u16>().prop_map(Action::PushMpls),
        any::<u16>().prop_map(Action::PopMpls),
        any::<u16>().prop_map(Action::PushPbb),
        any::<u32>().prop_map(Action::SetQueue),
        any::<u32>().prop_map(Action::Group),
    ];
    prop_oneof![
        4 => (port_no(), any::<u16>()).prop_map(|(port, max_len)| Action::Output { port, max_len }),
        2 => simple,
        2 => with_number,
        2 => oxm_field().prop_map(Action::SetField),
        1 => (any::<u32>(), bytes_len_mod8(0, 2))
            .prop_map(|(experimenter, data)| Action::Experimenter { experimenter, data }),
        1 => (
            any::<u16>().prop_filter("unknown type", |t| !known_action_type(*t)),
            bytes_len_mod8(4, 2),
        )
            .prop_map(|(action_type, body)| Action::Unknown { action_type, body }),
    ]
}

fn instruction() -> impl Strategy<Value = Instruction> {
    prop_oneof![
        any::<u8>().prop_map(Instruction::GotoTable),
        (any::<u64>(), any::<u64>())
            .prop_map(|(metadata, mask)| Instruction::WriteMetadata { metadata, mask }),
        vec(action(), 0..4).prop_map(Instruction::WriteActions),
        vec(action(), 0..4).prop_map(Instruction::ApplyActions),
        Just(Instruction::ClearActions),
        any::<u32>().prop_map(Instruction::Meter),
        (any::<u32>(), bytes_len_mod8(0, 2))
            .prop_map(|(experimenter, data)| Instruction::Experimenter { experimenter, data }),
        (7u16..0xffff, bytes_len_mod8(4, 2)).prop_map(|(instruction_type, body)| {
            Instruction::Unknown {
                instruction_type,
                body,
            }
        }),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9 ._-]{{0,{max}}}")).unwrap()
}

fn port() -> impl Strategy<Value = Port> {
    ((port_no(), any::<[u8; 6]>(), text(15)), any::<[u32; 8]>()).prop_map(
        |((port_no, mac, name), n)| Port {
            port_no,
            hw_addr: MacAddr(mac),
            name,
            config: PortConfig(n[0]),
            state: PortState(n[1]),
            curr: PortFeatures(n[2]),
            advertised: PortFeatures(n[3]),
            supported: PortFeatures(n[4]),
            peer: PortFeatures(n[5]),
            curr_speed: n[6],
            max_speed: n[7],
        },
    )
}

fn flow_stats_request() -> impl Strategy<Value = FlowStatsRequest> {
    (
        any::<u8>(),
        port_no(),
        any::<u32>(),
        any::<[u64; 2]>(),
        a_match(),
    )
        .prop_map(
            |(table_id, out_port, out_group, cookie, match_)| FlowStatsRequest {
                table_id,
                out_port,
                out_group,
                cookie: cookie[0],
                cookie_mask: cookie[1],
                match_,
            },
        )
}

fn flow_stats() -> impl Strategy<Value = FlowStats> {
    (
        any::<(u8, u32, u32, u16, u16, u16, u16)>(),
        any::<[u64; 3]>(),
        a_match(),
        vec(instruction(), 0..3),
    )
        .prop_map(|(f, n, match_, instructions)| FlowStats {
            table_id: f.0,
            duration_sec: f.1,
            duration_nsec: f.2,
            priority: f.3,
            idle_timeout: f.4,
            hard_timeout: f.5,
            flags: FlowModFlags(f.6),
            cookie: n[0],
            packet_count: n[1],
            byte_count: n[2],
            match_,
            instructions,
        })
}

fn port_stats() -> impl Strategy<Value = PortStats> {
    (port_no(), any::<[u64; 12]>(), any::<[u32; 2]>()).prop_map(|(port_no, c, d)| PortStats {
        port_no,
        rx_packets: c[0],
        tx_packets: c[1],
        rx_bytes: c[2],
        tx_bytes: c[3],
        rx_dropped: c[4],
        tx_dropped: c[5],
        rx_errors: c[6],
        tx_errors: c[7],
        rx_frame_err: c[8],
        rx_over_err: c[9],
        rx_crc_err: c[10],
        collisions: c[11],
        duration_sec: d[0],
        duration_nsec: d[1],
    })
}

fn other_multipart_type() -> impl Strategy<Value = MultipartType> {
    prop_oneof![
        (5u16..=11).prop_map(MultipartType::from),
        Just(MultipartType::Experimenter),
        (14u16..0xffff).prop_map(MultipartType::Unknown),
    ]
}

fn table_features() -> impl Strategy<Value = TableFeatures> {
    (any::<(u8, u64, u64, u32, u32)>(), text(31), 0usize..4).prop_flat_map(|(t, name, k)| {
        vec(any::<u8>(), 8 * k).prop_map(move |properties| TableFeatures {
            table_id: t.0,
            name: name.clone(),
            metadata_match: t.1,
            metadata_write: t.2,
            config: t.3,
            max_entries: t.4,
            properties,
        })
    })
}

fn multipart_request() -> impl Strategy<Value = MultipartRequest> {
    let body = prop_oneof![
        Just(MultipartRequestBody::Desc),
        flow_stats_request().prop_map(MultipartRequestBody::Flow),
        flow_stats_request().prop_map(MultipartRequestBody::Aggregate),
        Just(MultipartRequestBody::Table),
        port_no().prop_map(MultipartRequestBody::PortStats),
        Just(MultipartRequestBody::PortDesc),
        vec(table_features(), 0..3).prop_map(MultipartRequestBody::TableFeatures),
        (other_multipart_type(), bytes(32))
            .prop_map(|(mp_type, body)| MultipartRequestBody::Other { mp_type, body }),
    ];
    (any::<u16>(), body).prop_map(|(flags, body)| MultipartRequest {
        flags: MultipartFlags(flags),
        body,
    })
}

fn multipart_reply() -> impl Strategy<Value = MultipartReply> {
    let desc = (text(40), text(40), text(40), text(31), text(40)).prop_map(|t| SwitchDesc {
        mfr_desc: t.0,
        hw_desc: t.1,
        sw_desc: t.2,
        serial_num: t.3,
        dp_desc: t.4,
    });
    let table = any::<(u8, u32, u64, u64)>().prop_map(|t| TableStats {
        table_id: t.0,
        active_count: t.1,
        lookup_count: t.2,
        matched_count: t.3,
    });
    let body = prop_oneof![
        desc.prop_map(MultipartReplyBody::Desc),
        vec(flow_stats(), 0..4).prop_map(MultipartReplyBody::Flow),
        any::<(u64, u64, u32)>().prop_map(|a| MultipartReplyBody::Aggregate(AggregateStats {
            packet_count: a.0,
            byte_count: a.1,
            flow_count: a.2,
        })),
        vec(table, 0..4).prop_map(MultipartReplyBody::Table),
        vec(table_features(), 0..3).prop_map(MultipartReplyBody::TableFeatures),
        vec(port_stats(), 0..4).prop_map(MultipartReplyBody::PortStats),
        vec(port(), 0..4).prop_map(MultipartReplyBody::PortDesc),
        (other_multipart_type(), bytes(32))
            .prop_map(|(mp_type, body)| MultipartReplyBody::Other { mp_type, body }),
    ];
    (any::<u16>(), body).prop_map(|(flags, body)| MultipartReply {
        flags: MultipartFlags(flags),
        body,
    })
}

fn hello() -> impl Strategy<Value = Hello> {
    let element = prop_oneof![
        vec(any::<u32>(), 0..3).prop_map(HelloElement::VersionBitmap),
        (
            any::<u16>().prop_filter("not a bitmap", |t| *t != 1),
            bytes(12)
        )
            .prop_map(|(element_type, data)| HelloElement::Unknown { element_type, data }),
    ];
    vec(element, 0..3).prop_map(|elements| Hello { elements })
}

fn role() -> impl Strategy<Value = Role> {
    (any::<u32>(), any::<u64>()).prop_map(|(role, generation_id)| Role {
        role: ControllerRole::from(role),
        generation_id,
    })
}

fn config() -> impl Strategy<Value = SwitchConfig> {
    (any::<u16>(), any::<u16>()).prop_map(|(flags, miss_send_len)| SwitchConfig {
        flags: ConfigFlags(flags),
        miss_send_len,
    })
}

fn unsupported_type() -> impl Strategy<Value = MsgType> {
    prop_oneof![
        prop_oneof![Just(15u8), Just(16), Just(17), Just(22), Just(23)],
        29u8..=255,
    ]
    .prop_map(MsgType::from)
}

fn message_body() -> impl Strategy<Value = MessageBody> {
    let symmetric = prop_oneof![
        hello().prop_map(MessageBody::Hello),
        (any::<u16>(), any::<u16>(), bytes(80)).prop_map(|(kind, code, data)| {
            MessageBody::Error(ErrorMsg {
                code: ErrorCode::new(ErrorType::from(kind), code),
                data,
            })
        }),
        bytes(64).prop_map(MessageBody::EchoRequest),
        bytes(64).prop_map(MessageBody::EchoReply),
        (any::<u32>(), any::<u32>(), bytes(32)).prop_map(|(experimenter, exp_type, data)| {
            MessageBody::Experimenter(ExperimenterMsg {
                experimenter,
                exp_type,
                data,
            })
        }),
        Just(MessageBody::FeaturesRequest),
        Just(MessageBody::GetConfigRequest),
        Just(MessageBody::BarrierRequest),
        Just(MessageBody::BarrierReply),
    ];
    let config_and_roles = prop_oneof![
        any::<(u64, u32, u8, u8, u32, u32)>().prop_map(|f| {
            MessageBody::FeaturesReply(SwitchFeatures {
                datapath_id: f.0,
                n_buffers: f.1,
                n_tables: f.2,
                auxiliary_id: f.3,
                capabilities: Capabilities(f.4),
                reserved: f.5,
            })
        }),
        config().prop_map(MessageBody::GetConfigReply),
        config().prop_map(MessageBody::SetConfig),
        role().prop_map(MessageBody::RoleRequest),
        role().prop_map(MessageBody::RoleReply),
        Just(MessageBody::GetAsyncRequest),
        any::<[u32; 6]>().prop_map(|v| MessageBody::SetAsync(AsyncConfig {
            packet_in_mask: [v[0], v[1]],
            port_status_mask: [v[2], v[3]],
            flow_removed_mask: [v[4], v[5]],
        })),
        (unsupported_type(), bytes(32))
            .prop_map(|(msg_type, body)| MessageBody::Unsupported { msg_type, body }),
    ];
    let packet_in =
        (any::<(u32, u16, u8, u8, u64)>(), a_match(), bytes(128)).prop_map(|(f, match_, data)| {
            MessageBody::PacketIn(PacketIn {
                buffer_id: f.0,
                total_len: f.1,
                reason: PacketInReason::from(f.2),
                table_id: f.3,
                cookie: f.4,
                match_,
                data,
            })
        });
    let flow_removed = (
        any::<(u64, u16, u8, u8, u32, u32)>(),
        any::<(u16, u16, u64, u64)>(),
        a_match(),
    )
        .prop_map(|(a, b, match_)| {
            MessageBody::FlowRemoved(FlowRemoved {
                cookie: a.0,
                priority: a.1,
                reason: FlowRemovedReason::from(a.2),
                table_id: a.3,
                duration_sec: a.4,
                duration_nsec: a.5,
                idle_timeout: b.0,
                hard_timeout: b.1,
                packet_count: b.2,
                byte_count: b.3,
                match_,
            })
        });
    let port_status = (any::<u8>(), port()).prop_map(|(reason, port)| {
        MessageBody::PortStatus(PortStatus {
            reason: PortReason::from(reason),
            port,
        })
    });
    let packet_out = (any::<u32>(), port_no(), vec(action(), 0..4), bytes(128)).prop_map(
        |(buffer_id, in_port, actions, data)| {
            MessageBody::PacketOut(PacketOut {
                buffer_id,
                in_port,
                actions,
                data,
            })
        },
    );
    let flow_mod = (
        any::<(u64, u64, u8, u8, u16, u16, u16)>(),
        (any::<u32>(), port_no(), any::<u32>(), any::<u16>()),
        a_match(),
        vec(instruction(), 0..4),
    )
        .prop_map(|(a, b, match_, instructions)| {
            MessageBody::FlowMod(FlowMod {
                cookie: a.0,
                cookie_mask: a.1,
                table_id: a.2,
                command: FlowModCommand::from(a.3),
                idle_timeout: a.4,
                hard_timeout: a.5,
                priority: a.6,
                buffer_id: b.0,
                out_port: b.1,
                out_group: b.2,
                flags: FlowModFlags(b.3),
                match_,
                instructions,
            })
        });
    prop_oneof![
        symmetric,
        config_and_roles,
        packet_in,
        flow_removed,
        port_status,
        packet_out,
        flow_mod,
        multipart_request().prop_map(MessageBody::MultipartRequest),
        multipart_reply().prop_map(MessageBody::MultipartReply),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (any::<u32>(), message_body(), any::<u8>()).prop_map(|(xid, body, version)| {
        // Only HELLO and ERROR may carry another version.
        let version = match body {
            MessageBody::Hello(_) | MessageBody::Error(_) => version,
            _ => OFP_VERSION,
        };
        Message { version, xid, body }
    })
}

/// Decodes `bytes` and, if that works, validates and re-encodes the result:
/// none of it may panic, and what decodes must encode again.
fn exercise(bytes: &[u8]) -> Result<Message, OfError> {
    let message = Message::parse(bytes)?;
    let _ = message.validate();
    let again = message.to_bytes().expect("a decoded message re-encodes");
    assert!(again.len() <= MAX_MESSAGE_LEN);
    assert_eq!(Message::parse(&again).as_ref(), Ok(&message));
    Ok(message)
}

/// A header of `msg_type` with the right length, over `body`.
fn framed(version: u8, msg_type: u8, body: &[u8]) -> Vec<u8> {
    let len = (8 + body.len()) as u16;
    let mut out = vec![version, msg_type];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(body);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn well_formed_messages_round_trip(message in message()) {
        let bytes = message.to_bytes().unwrap();
        prop_assert_eq!(frame_len(&bytes, MAX_MESSAGE_LEN), Ok(Some(bytes.len())));
        prop_assert_eq!(Message::parse(&bytes), Ok(message));
    }

    #[test]
    fn random_bytes_never_panic(bytes in bytes(300)) {
        let _ = exercise(&bytes);
    }

    #[test]
    fn random_bodies_behind_a_valid_header_never_panic(
        msg_type in 0u8..32,
        body in bytes(400),
    ) {
        let _ = exercise(&framed(OFP_VERSION, msg_type, &body));
    }

    #[test]
    fn every_prefix_is_an_error_or_a_shorter_message(message in message()) {
        let bytes = message.to_bytes().unwrap();
        for len in 0..bytes.len() {
            let prefix = &bytes[..len];
            // As cut from a stream: the header still claims the full length.
            prop_assert!(Message::parse(prefix).is_err());
            prop_assert_eq!(frame_len(prefix, MAX_MESSAGE_LEN), Ok(None));
            // As if the sender had cut it and fixed the header's length.
            if len >= 8 {
                let mut cut = prefix.to_vec();
                cut[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                // Either way it must not panic; `exercise` also checks that
                // whatever decodes re-encodes to the same message.
                let _ = exercise(&cut);
            }
        }
    }

    #[test]
    fn mutated_messages_never_panic(
        message in message(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = message.to_bytes().unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            // Keep the length field, to get past framing into the body.
            if !(2..4).contains(&i) {
                bytes[i] = value;
            }
        }
        let _ = exercise(&bytes);
    }

    #[test]
    fn a_stream_cut_anywhere_frames_back_into_its_messages(
        messages in vec(message(), 1..5),
        cuts in vec(1usize..200, 1..20),
    ) {
        let encoded: Vec<Vec<u8>> = messages.iter().map(|m| m.to_bytes().unwrap()).collect();
        let stream = encoded.concat();
        let mut framer = MessageFramer::new();
        let mut out = Vec::new();
        let mut at = 0;
        for cut in cuts.into_iter().chain(std::iter::repeat(200)) {
            if at >= stream.len() {
                break;
            }
            let end = (at + cut).min(stream.len());
            framer.push(&stream[at..end]);
            at = end;
            while let Some(frame) = framer.next_message().unwrap() {
                out.push(frame.to_vec());
            }
        }
        prop_assert_eq!(out, encoded);
        prop_assert_eq!(framer.pending(), 0);
    }

    #[test]
    fn known_oxm_fields_round_trip_alone(field in oxm_field()) {
        let mut bytes = Vec::new();
        field.emit(&mut bytes).unwrap();
        prop_assert_eq!(OxmField::parse(&bytes), Ok((field, bytes.len())));
    }
}

#[test]
fn fixed_samples_survive_every_prefix_and_mutation() {
    for message in crate::message::tests::one_of_each() {
        let bytes = message.to_bytes().unwrap();
        for len in 8..bytes.len() {
            let mut cut = bytes[..len].to_vec();
            cut[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            let _ = exercise(&cut);
        }
        for i in 4..bytes.len() {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut mutated = bytes.clone();
                mutated[i] = value;
                let _ = exercise(&mutated);
            }
        }
    }
}

#[test]
fn addresses_appear_where_expected() {
    // Guards the strategies: known fields include the address types.
    let v4 = OxmField::Ipv4Src(Ipv4Addr::new(10, 0, 0, 1).into());
    let v6 = OxmField::Ipv6Dst(Ipv6Addr::LOCALHOST.into());
    for field in [v4, v6] {
        let mut bytes = Vec::new();
        field.emit(&mut bytes).unwrap();
        assert_eq!(OxmField::parse(&bytes), Ok((field, bytes.len())));
    }
}
