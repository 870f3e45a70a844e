//! `rvs-ofctl` side by side with the real `ovs-ofctl` 3.1.
//!
//! * The printers: messages encoded by `rvs-openflow` are printed by
//!   `rvs-ofctl`'s printer and by `ovs-ofctl ofp-print HEX 1` (the
//!   verbosity `ovs-ofctl` prints replies at); the texts must be equal.
//! * The commands: a small OpenFlow 1.3 switch in this file (a unix socket
//!   served by threads, every message encoded and decoded by
//!   `rvs-openflow`) answers `rvs-ofctl` and `ovs-ofctl -O OpenFlow13`
//!   alike; what they print, and what they leave in its flow table, must
//!   be equal.
//! * What only `rvs-ofctl` promises: a flow file with a bad line sends
//!   nothing, a barrier follows every change, targets that do not exist
//!   get a sentence, a version mismatch and a timeout are reported.
//!
//! Tests that need `ovs-ofctl` print a note and pass when
//! `/usr/bin/ovs-ofctl` is missing (CI installs `openvswitch-common`).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rvs_ctl::ofctl::print::{message_to_string, PrintContext};
use rvs_ctl::ofctl::{run_captured, Output};
use rvs_openflow::flow_syntax::{format_actions, parse_flow, FlowMode};
use rvs_openflow::multipart::{SwitchDesc, TableFeatures};
use rvs_openflow::types::{table, Capabilities, ConfigFlags, PortConfig, PortFeatures, PortState};
use rvs_openflow::{
    split_multipart_reply, Action, AggregateStats, ErrorCode, ErrorMsg, ErrorType, FlowMod,
    FlowModCommand, FlowStats, FlowStatsRequest, Hello, MacAddr, Match, Message, MessageBody,
    MessageFramer, MultipartFlags, MultipartReply, MultipartReplyBody, MultipartRequest,
    MultipartRequestBody, PacketOut, Port, PortNo, PortStats, SwitchConfig, SwitchFeatures,
    TableStats,
};

const OVS_OFCTL: &str = "/usr/bin/ovs-ofctl";

/// `ovs-ofctl`, or `None` (with a note) when it is not installed.
fn ovs_ofctl() -> Option<&'static str> {
    if Path::new(OVS_OFCTL).exists() {
        Some(OVS_OFCTL)
    } else {
        eprintln!(
            "note: {OVS_OFCTL} is missing (install openvswitch-common); skipping the comparison"
        );
        None
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// Printers against `ovs-ofctl ofp-print`

fn ovs_print(ovs: &str, bytes: &[u8]) -> String {
    let out = Command::new(ovs)
        .args(["ofp-print", &hex(bytes), "1"])
        .output()
        .expect("run ovs-ofctl ofp-print");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Prints `bytes` with both printers; returns a description of the
/// difference, if any.
fn compare_print(ovs: &str, what: &str, bytes: &[u8]) -> Option<String> {
    let theirs = ovs_print(ovs, bytes);
    let ours = message_to_string(bytes, &PrintContext::default());
    (theirs != ours).then(|| {
        format!(
            "{what} ({}):\n--- ovs-ofctl\n{theirs}--- rvs-ofctl\n{ours}",
            hex(bytes)
        )
    })
}

fn port(n: u32, name: &str) -> Port {
    Port {
        port_no: PortNo(n),
        hw_addr: MacAddr([0x02, 0, 0, 0, 0, n as u8]),
        name: name.into(),
        config: PortConfig::EMPTY,
        state: PortState::LIVE,
        curr: PortFeatures::RATE_10GB_FD | PortFeatures::COPPER,
        advertised: PortFeatures::EMPTY,
        supported: PortFeatures::EMPTY,
        peer: PortFeatures::EMPTY,
        curr_speed: 10_000_000,
        max_speed: 0,
    }
}

fn flow_stats(text: &str, table_id: u8, n: u64) -> FlowStats {
    let spec = parse_flow(text, FlowMode::Add).unwrap_or_else(|e| panic!("{text}: {e}"));
    FlowStats {
        table_id,
        duration_sec: 3 + n as u32,
        duration_nsec: [0, 5_000_000, 123_456_789][n as usize % 3],
        priority: spec.priority,
        idle_timeout: spec.idle_timeout,
        hard_timeout: spec.hard_timeout,
        flags: spec.flags,
        cookie: spec.cookie,
        packet_count: n * 10,
        byte_count: n * 1000,
        match_: spec.match_,
        instructions: spec.instructions,
    }
}

const FLOWS: &[&str] = &[
    "priority=100,ip,nw_dst=10.0.0.2,actions=output:2",
    "in_port=1,actions=NORMAL",
    "priority=0,actions=drop",
    "cookie=0x2a,idle_timeout=30,hard_timeout=60,send_flow_rem,priority=50,tcp,tp_dst=80,actions=output:3,CONTROLLER:128",
    "priority=7,dl_vlan=10,dl_src=02:00:00:00:00:01/ff:ff:ff:00:00:00,actions=strip_vlan,output:LOCAL",
    "priority=8,arp,arp_tpa=10.0.0.0/8,actions=FLOOD",
    "priority=9,ipv6,ipv6_src=2001:db8::/32,actions=write_actions(output:1),goto_table:1",
    "priority=10,udp,nw_src=192.168.0.1,tp_src=53,actions=set_field:10.0.0.1->ip_dst,dec_ttl,output:12",
    "priority=11,in_port=12,actions=push_vlan:0x8100,set_field:4106->vlan_vid,output:1",
    "priority=12,actions=clear_actions,write_metadata:0x1/0xff,goto_table:2",
];

/// Messages of every kind `rvs-ofctl` prints, with edge values.
fn sample_messages() -> Vec<(String, Message)> {
    let mut m: Vec<(String, Message)> = Vec::new();
    let mut add = |what: &str, xid: u32, body: MessageBody| {
        m.push((what.to_string(), Message::new(xid, body)));
    };
    for caps in [0u32, 0x4f, 0x14f, 0x1, 0x8, 0x20, 0xffff_ffff] {
        add(
            "features reply",
            2,
            MessageBody::FeaturesReply(SwitchFeatures {
                datapath_id: 0x0000_0242_ac11_0002 + u64::from(caps),
                n_buffers: caps & 0xff,
                n_tables: 254,
                auxiliary_id: (caps & 3) as u8,
                capabilities: Capabilities(caps),
                reserved: 0,
            }),
        );
    }
    for (flags, miss) in [(0u16, 0u16), (1, 128), (2, 65535), (3, 7), (0x1f, 1)] {
        add(
            "get config reply",
            5,
            MessageBody::GetConfigReply(SwitchConfig {
                flags: ConfigFlags(flags),
                miss_send_len: miss,
            }),
        );
    }
    let mut ports = vec![
        port(0xffff_fffe, "br0"),
        port(12, "veth-a"),
        port(1, "p1"),
        port(3, "a name"),
    ];
    ports[0].config = PortConfig::PORT_DOWN;
    ports[0].state = PortState::LINK_DOWN;
    ports[1].config = PortConfig(0xffff_ffff);
    ports[1].state = PortState(0xffff_ffff);
    ports[1].curr = PortFeatures(0xffff_ffff);
    ports[1].advertised = PortFeatures::RATE_1GB_FD | PortFeatures::AUTONEG;
    ports[1].supported = PortFeatures::PAUSE | PortFeatures::PAUSE_ASYM | PortFeatures::FIBER;
    ports[1].peer = PortFeatures::OTHER;
    ports[1].max_speed = 1_234_567;
    ports[3].curr = PortFeatures::EMPTY;
    ports[3].curr_speed = 999;
    add(
        "port desc reply",
        3,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::PortDesc(
            ports.clone(),
        ))),
    );
    add(
        "empty port desc reply",
        3,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::PortDesc(vec![]))),
    );
    let stats = |n: u32, sec: u32, nsec: u32| PortStats {
        port_no: PortNo(n),
        rx_packets: u64::from(n) * 3,
        tx_packets: 7,
        rx_bytes: 1 << 40,
        tx_bytes: 0,
        rx_dropped: u64::MAX,
        tx_dropped: 1,
        rx_errors: 2,
        tx_errors: u64::MAX,
        rx_frame_err: 0,
        rx_over_err: 5,
        rx_crc_err: u64::MAX,
        collisions: 0,
        duration_sec: sec,
        duration_nsec: nsec,
    };
    add(
        "port stats reply",
        2,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::PortStats(vec![
            stats(1, 10, 0),
            stats(9, 10, 500_000_000),
            stats(10, 0, 1),
            stats(0xffff_fffe, u32::MAX, 0),
            stats(65000, 3, 123_456_000),
        ]))),
    );
    let tables = |counts: &[(u32, u64, u64)]| {
        counts
            .iter()
            .enumerate()
            .map(
                |(i, &(active_count, lookup_count, matched_count))| TableStats {
                    table_id: i as u8,
                    active_count,
                    lookup_count,
                    matched_count,
                },
            )
            .collect::<Vec<_>>()
    };
    let mut many = vec![(3, 100, 90), (0, 0, 0)];
    many.extend(std::iter::repeat_n((0, 0, 0), 252));
    add(
        "table stats: dittos",
        2,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::Table(tables(
            &many,
        )))),
    );
    add(
        "table stats: mixed",
        2,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::Table(tables(&[
            (1, 2, 3),
            (1, 2, 3),
            (0, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (5, 5, 5),
            (0, 0, 0),
            (0, 0, 0),
        ])))),
    );
    add(
        "table stats: one",
        2,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::Table(tables(&[(
            0, 0, 0,
        )])))),
    );
    add(
        "aggregate reply",
        2,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::Aggregate(
            AggregateStats {
                packet_count: 12,
                byte_count: u64::MAX,
                flow_count: 3,
            },
        ))),
    );
    add(
        "desc reply",
        2,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::Desc(SwitchDesc {
            mfr_desc: "rvs".into(),
            hw_desc: "userspace".into(),
            sw_desc: "0.1.0".into(),
            serial_num: "None".into(),
            dp_desc: "br0".into(),
        }))),
    );
    let flows: Vec<FlowStats> = FLOWS
        .iter()
        .enumerate()
        .map(|(i, f)| flow_stats(f, (i % 3) as u8, i as u64))
        .collect();
    add(
        "flow stats reply",
        2,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::Flow(flows.clone()))),
    );
    add(
        "flow stats reply, more",
        2,
        MessageBody::MultipartReply(MultipartReply {
            flags: MultipartFlags::MORE,
            body: MultipartReplyBody::Flow(flows[..2].to_vec()),
        }),
    );
    add(
        "empty flow stats reply",
        2,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::Flow(vec![]))),
    );
    add("barrier", 9, MessageBody::BarrierReply);
    add("echo", 1, MessageBody::EchoRequest(vec![1, 2, 3]));
    add("hello", 1, MessageBody::Hello(Hello::new(&[1, 4])));
    // Requests, as an ERROR may quote them.
    let filter = |text: &str| {
        let spec = parse_flow(text, FlowMode::Filter).expect("filter parses");
        FlowStatsRequest {
            table_id: spec.table_id.unwrap_or(table::ALL),
            out_port: spec.out_port,
            cookie: spec.cookie,
            cookie_mask: spec.cookie_mask,
            match_: spec.match_,
            ..FlowStatsRequest::default()
        }
    };
    for text in ["", "table=3,out_port=2,ip", "cookie=0x1/0xff,in_port=LOCAL"] {
        add(
            "flow stats request",
            2,
            MessageBody::MultipartRequest(MultipartRequest::new(MultipartRequestBody::Flow(
                filter(text),
            ))),
        );
        add(
            "aggregate request",
            2,
            MessageBody::MultipartRequest(MultipartRequest::new(MultipartRequestBody::Aggregate(
                filter(text),
            ))),
        );
    }
    for body in [
        MultipartRequestBody::PortStats(PortNo::ANY),
        MultipartRequestBody::PortStats(PortNo(3)),
        MultipartRequestBody::PortDesc,
        MultipartRequestBody::Table,
        MultipartRequestBody::Desc,
    ] {
        add(
            "multipart request",
            2,
            MessageBody::MultipartRequest(MultipartRequest::new(body)),
        );
    }
    add(
        "multipart request, more",
        2,
        MessageBody::MultipartRequest(MultipartRequest {
            flags: MultipartFlags::MORE,
            body: MultipartRequestBody::PortDesc,
        }),
    );
    for (command, text) in [
        (FlowModCommand::Add, "actions=drop"),
        (FlowModCommand::Add, "priority=5,actions=drop"),
        (FlowModCommand::Add, "table=3,cookie=0x7,idle_timeout=1,hard_timeout=2,send_flow_rem,check_overlap,reset_counts,no_packet_counts,no_byte_counts,priority=100,ip,nw_dst=10.0.0.2,actions=output:2"),
        (FlowModCommand::Modify, "cookie=0x1/0xf,tcp,actions=output:1"),
        (FlowModCommand::ModifyStrict, "priority=1,in_port=3,actions=NORMAL"),
        (FlowModCommand::Delete, "out_port=4,udp"),
        (FlowModCommand::DeleteStrict, "table=1,priority=2,arp"),
    ] {
        let mode = match command {
            FlowModCommand::Add => FlowMode::Add,
            FlowModCommand::Modify | FlowModCommand::ModifyStrict => FlowMode::Modify,
            _ => FlowMode::Filter,
        };
        let spec = parse_flow(text, mode).expect("flow parses");
        add("flow mod", 7, MessageBody::FlowMod(spec.to_flow_mod(command)));
    }
    add("features request", 2, MessageBody::FeaturesRequest);
    m
}

/// ERROR messages for every OpenFlow 1.3 (type, code) and a few more,
/// quoting requests whole, cut to 64 bytes, or not at all.
fn sample_errors() -> Vec<(String, Vec<u8>)> {
    let small = Message::new(
        2,
        MessageBody::FlowMod(
            parse_flow("actions=drop", FlowMode::Add)
                .unwrap()
                .to_flow_mod(FlowModCommand::Add),
        ),
    )
    .to_bytes()
    .unwrap();
    let big = Message::new(
        2,
        MessageBody::FlowMod(
            parse_flow(
                "priority=100,ip,nw_dst=10.0.0.2,actions=output:2",
                FlowMode::Add,
            )
            .unwrap()
            .to_flow_mod(FlowModCommand::Add),
        ),
    )
    .to_bytes()
    .unwrap();
    let barrier = Message::new(3, MessageBody::BarrierRequest)
        .to_bytes()
        .unwrap();
    let port_stats = Message::new(
        4,
        MessageBody::MultipartRequest(MultipartRequest::new(MultipartRequestBody::PortStats(
            PortNo(7),
        ))),
    )
    .to_bytes()
    .unwrap();
    let mut out = Vec::new();
    let error = |kind: ErrorType, code: u16, data: &[u8]| {
        let msg = Message::new(
            2,
            MessageBody::Error(ErrorMsg {
                code: ErrorCode::new(kind, code),
                data: data.to_vec(),
            }),
        );
        msg.to_bytes().expect("error encodes")
    };
    for t in 0u16..=14 {
        let kind = ErrorType::from(t);
        for code in 0u16..=17 {
            let data: &[u8] = match code % 4 {
                0 => &small,
                1 => &big[..64],
                2 => &barrier,
                _ => &port_stats,
            };
            out.push((format!("error {t},{code}"), error(kind, code, data)));
        }
    }
    out.push((
        "hello failed".into(),
        error(ErrorType::HelloFailed, 0, b"We support \"x\"\n\\"),
    ));
    out.push((
        "error, empty data".into(),
        error(ErrorType::BadMatch, 9, &[]),
    ));
    out.push((
        "error, short data".into(),
        error(ErrorType::BadMatch, 9, &[4, 14, 0]),
    ));
    out.push((
        "error, data longer than its header says".into(),
        error(ErrorType::BadMatch, 9, &[4, 20, 0, 8, 0, 0, 0, 1, 0xff]),
    ));
    out.push((
        "experimenter error".into(),
        error(ErrorType::Experimenter, 1, &[0, 0, 0x23, 0x20]),
    ));
    out
}

#[test]
fn printers_match_ovs_ofctl_ofp_print() {
    let Some(ovs) = ovs_ofctl() else { return };
    let mut failures = Vec::new();
    let mut checked = 0;
    for (what, msg) in sample_messages() {
        let bytes = msg.to_bytes().expect("sample encodes");
        failures.extend(compare_print(ovs, &what, &bytes));
        checked += 1;
    }
    for (what, bytes) in sample_errors() {
        failures.extend(compare_print(ovs, &what, &bytes));
        checked += 1;
    }
    // Lengths that disagree with the header.
    let barrier = Message::new(1, MessageBody::BarrierRequest)
        .to_bytes()
        .unwrap();
    let mut long = barrier.clone();
    long.extend_from_slice(&[0, 0, 0]);
    let mut truncated = Message::new(
        1,
        MessageBody::MultipartReply(MultipartReply::new(MultipartReplyBody::PortDesc(vec![
            port(1, "p1"),
        ]))),
    )
    .to_bytes()
    .unwrap();
    truncated.truncate(40);
    for (what, bytes) in [
        ("long", long),
        ("truncated", truncated),
        ("unknown type", vec![4, 99, 0, 8, 0, 0, 0, 1]),
    ] {
        failures.extend(compare_print(ovs, what, &bytes));
        checked += 1;
    }
    // PACKET_OUT: Open vSwitch dissects the packet on the second line,
    // rvs-ofctl shows its bytes; the first line is the same.
    let arp = hex_bytes(
        "ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002",
    );
    for (in_port, actions, buffer_id, data) in [
        (
            PortNo::LOCAL,
            vec![Action::output(PortNo(1))],
            u32::MAX,
            arp.clone(),
        ),
        (PortNo::ANY, vec![], u32::MAX, arp.clone()),
        (
            PortNo::CONTROLLER,
            vec![Action::output(PortNo::FLOOD), Action::output(PortNo(7))],
            u32::MAX,
            arp.clone(),
        ),
        (
            PortNo(3),
            vec![Action::output(PortNo::TABLE)],
            0x1234,
            vec![],
        ),
    ] {
        let bytes = Message::new(
            6,
            MessageBody::PacketOut(PacketOut {
                buffer_id,
                in_port,
                actions,
                data,
            }),
        )
        .to_bytes()
        .unwrap();
        let theirs = ovs_print(ovs, &bytes);
        let ours = message_to_string(&bytes, &PrintContext::default());
        if theirs.lines().next() != ours.lines().next() {
            failures.push(format!(
                "packet-out:\n--- ovs-ofctl\n{theirs}--- rvs-ofctl\n{ours}"
            ));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} messages print differently:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// A small OpenFlow 1.3 switch

/// What the test switch holds and has seen.
#[derive(Debug, Default)]
struct SwitchState {
    flows: Vec<FlowStats>,
    ports: Vec<Port>,
    port_stats: Vec<PortStats>,
    tables: Vec<TableStats>,
    /// Every message received but HELLO and ECHO, in order.
    received: Vec<Message>,
    /// Refuse flow-mods and packet-outs with this error.
    refuse: Option<ErrorCode>,
    /// Refuse flow and aggregate statistics requests with this error.
    refuse_stats: Option<ErrorCode>,
    /// Cut multipart replies to messages of at most this many bytes.
    max_reply_len: usize,
    /// The versions the switch's HELLO offers.
    versions: Vec<u8>,
    /// Never answer anything, not even HELLO.
    mute: bool,
    /// Connections accepted.
    connections: usize,
}

static SWITCHES: AtomicUsize = AtomicUsize::new(0);

struct FakeSwitch {
    dir: PathBuf,
    sock: PathBuf,
    state: Arc<Mutex<SwitchState>>,
    stop: Arc<AtomicBool>,
}

impl FakeSwitch {
    /// A switch at `<dir>/br0.mgmt` with ports 1 (p1), 2 (p2), 12 (veth-a)
    /// and LOCAL (br0), 254 tables, no flows.
    fn start() -> FakeSwitch {
        let n = SWITCHES.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("rvs-ofctl-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make test dir");
        let sock = dir.join("br0.mgmt");
        let listener = UnixListener::bind(&sock).expect("bind the switch socket");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let ports = vec![
            port(1, "p1"),
            port(2, "p2"),
            port(12, "veth-a"),
            port(0xffff_fffe, "br0"),
        ];
        let port_stats = ports
            .iter()
            .map(|p| PortStats {
                port_no: p.port_no,
                rx_packets: u64::from(p.port_no.0 % 100),
                tx_bytes: 64,
                duration_sec: 5,
                duration_nsec: 250_000_000,
                ..PortStats::default()
            })
            .collect();
        let tables = (0..254u8)
            .map(|t| TableStats {
                table_id: t,
                active_count: 0,
                lookup_count: 0,
                matched_count: 0,
            })
            .collect();
        let state = Arc::new(Mutex::new(SwitchState {
            ports,
            port_stats,
            tables,
            max_reply_len: 65535,
            versions: vec![4],
            ..SwitchState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            state.lock().unwrap().connections += 1;
                            let state = state.clone();
                            std::thread::spawn(move || serve(stream, state));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            });
        }
        FakeSwitch {
            dir,
            sock,
            state,
            stop,
        }
    }

    fn target(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    fn with<R>(&self, f: impl FnOnce(&mut SwitchState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Installs `flows` (flow syntax) directly.
    fn load(&self, flows: &[&str]) {
        self.with(|s| {
            s.flows = flows
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let mut e = flow_stats(f, 0, i as u64);
                    if let Some(t) = parse_flow(f, FlowMode::Add).unwrap().table_id {
                        e.table_id = t;
                    }
                    e
                })
                .collect();
            s.tables[0].active_count = s.flows.len() as u32;
        });
    }

    /// The flow table as comparable text, sorted.
    fn table_text(&self) -> Vec<String> {
        let mut t: Vec<String> = self.with(|s| {
            s.flows
                .iter()
                .map(|f| {
                    format!(
                        "table={} priority={} {:?} cookie={:#x} idle={} hard={} flags={:?} actions={}",
                        f.table_id,
                        f.priority,
                        f.match_,
                        f.cookie,
                        f.idle_timeout,
                        f.hard_timeout,
                        f.flags,
                        format_actions(&f.instructions)
                    )
                })
                .collect()
        });
        t.sort();
        t
    }

    /// The types of the messages received, in order.
    fn received_types(&self) -> Vec<&'static str> {
        self.with(|s| s.received.iter().map(|m| m.msg_type().name()).collect())
    }
}

impl Drop for FakeSwitch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn send(stream: &mut UnixStream, msg: &Message) -> bool {
    msg.to_bytes()
        .ok()
        .is_some_and(|b| stream.write_all(&b).is_ok())
}

/// Serves one connection until the peer closes it.
fn serve(mut stream: UnixStream, state: Arc<Mutex<SwitchState>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let (mute, versions) = {
        let s = state.lock().unwrap();
        (s.mute, s.versions.clone())
    };
    if mute {
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        return;
    }
    let mut hello = Message::new(1, MessageBody::Hello(Hello::new(&versions)));
    hello.version = versions.iter().copied().max().unwrap_or(4);
    if !send(&mut stream, &hello) {
        return;
    }
    let mut framer = MessageFramer::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let raw = match framer.next_message() {
            Ok(Some(m)) => m.to_vec(),
            Ok(None) => match stream.read(&mut buf) {
                Ok(n) if n > 0 => {
                    framer.push(&buf[..n]);
                    continue;
                }
                _ => return,
            },
            Err(_) => return,
        };
        let msg = match Message::parse(&raw) {
            Ok(m) => m,
            Err(e) => {
                let record = Message::error_reply(&e, &raw);
                state.lock().unwrap().received.push(record.clone());
                if !send(&mut stream, &record) {
                    return;
                }
                continue;
            }
        };
        let replies = {
            let mut s = state.lock().unwrap();
            answer(&mut s, &msg, &raw)
        };
        for r in replies {
            if !send(&mut stream, &r) {
                return;
            }
        }
    }
}

fn refusal(code: ErrorCode, xid: u32, raw: &[u8]) -> Message {
    Message::new(xid, MessageBody::Error(ErrorMsg::new(code, raw)))
}

/// Whether `filter`'s fields all appear, equal, in `m`.
fn covers(filter: &Match, m: &Match) -> bool {
    filter.iter().all(|f| m.get(f.oxm_type()) == Some(f))
}

fn outputs_to(f: &FlowStats, port: PortNo) -> bool {
    port == PortNo::ANY
        || f.instructions.iter().any(|i| {
            i.actions().is_some_and(|a| {
                a.iter()
                    .any(|a| matches!(a, Action::Output { port: p, .. } if *p == port))
            })
        })
}

fn selected(f: &FlowStats, r: &FlowStatsRequest) -> bool {
    (r.table_id == table::ALL || r.table_id == f.table_id)
        && f.cookie & r.cookie_mask == r.cookie & r.cookie_mask
        && covers(&r.match_, &f.match_)
        && outputs_to(f, r.out_port)
}

fn apply_flow_mod(flows: &mut Vec<FlowStats>, fm: &FlowMod) {
    let strict_same = |f: &FlowStats| {
        f.table_id == fm.table_id && f.priority == fm.priority && f.match_ == fm.match_
    };
    let loose = |f: &FlowStats| {
        (fm.table_id == table::ALL || fm.table_id == f.table_id)
            && f.cookie & fm.cookie_mask == fm.cookie & fm.cookie_mask
            && covers(&fm.match_, &f.match_)
            && outputs_to(f, fm.out_port)
    };
    match fm.command {
        FlowModCommand::Add => {
            flows.retain(|f| !strict_same(f));
            flows.push(FlowStats {
                table_id: fm.table_id,
                duration_sec: 1,
                duration_nsec: 500_000_000,
                priority: fm.priority,
                idle_timeout: fm.idle_timeout,
                hard_timeout: fm.hard_timeout,
                flags: fm.flags,
                cookie: fm.cookie,
                packet_count: 0,
                byte_count: 0,
                match_: fm.match_.clone(),
                instructions: fm.instructions.clone(),
            });
        }
        FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
            let strict = fm.command == FlowModCommand::ModifyStrict;
            for f in flows.iter_mut() {
                let hit = if strict {
                    strict_same(f) && f.cookie & fm.cookie_mask == fm.cookie & fm.cookie_mask
                } else {
                    loose(f)
                };
                if hit {
                    f.instructions = fm.instructions.clone();
                }
            }
        }
        FlowModCommand::Delete => flows.retain(|f| !loose(f)),
        FlowModCommand::DeleteStrict => flows.retain(|f| {
            !(f.priority == fm.priority
                && f.match_ == fm.match_
                && (fm.table_id == table::ALL || fm.table_id == f.table_id))
        }),
        FlowModCommand::Unknown(_) => {}
    }
}

/// The switch's answers to `msg`.
fn answer(s: &mut SwitchState, msg: &Message, raw: &[u8]) -> Vec<Message> {
    let xid = msg.xid;
    let reply = |body| vec![Message::new(xid, body)];
    let multipart = |s: &SwitchState, body| {
        split_multipart_reply(xid, body, s.max_reply_len).expect("reply splits")
    };
    match &msg.body {
        MessageBody::Hello(_) | MessageBody::Error(_) => {
            if let MessageBody::Error(_) = msg.body {
                s.received.push(msg.clone());
            }
            return vec![];
        }
        MessageBody::EchoRequest(data) => return reply(MessageBody::EchoReply(data.clone())),
        _ => s.received.push(msg.clone()),
    }
    match &msg.body {
        MessageBody::FeaturesRequest => reply(MessageBody::FeaturesReply(SwitchFeatures {
            datapath_id: 0x0000_0242_ac11_0002,
            n_buffers: 0,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: Capabilities(0x4f),
            reserved: 0,
        })),
        MessageBody::GetConfigRequest => reply(MessageBody::GetConfigReply(SwitchConfig {
            flags: ConfigFlags(0),
            miss_send_len: 0,
        })),
        MessageBody::BarrierRequest => reply(MessageBody::BarrierReply),
        MessageBody::FlowMod(fm) => match s.refuse {
            Some(code) => vec![refusal(code, xid, raw)],
            None => {
                apply_flow_mod(&mut s.flows, fm);
                vec![]
            }
        },
        MessageBody::PacketOut(_) => match s.refuse {
            Some(code) => vec![refusal(code, xid, raw)],
            None => vec![],
        },
        MessageBody::MultipartRequest(r) => {
            let flow_stats = matches!(
                r.body,
                MultipartRequestBody::Flow(_) | MultipartRequestBody::Aggregate(_)
            );
            if let (Some(code), true) = (s.refuse_stats, flow_stats) {
                return vec![refusal(code, xid, raw)];
            }
            match &r.body {
                MultipartRequestBody::Desc => multipart(
                    s,
                    MultipartReplyBody::Desc(SwitchDesc {
                        mfr_desc: "rvs tests".into(),
                        hw_desc: "fake".into(),
                        sw_desc: "1".into(),
                        serial_num: "None".into(),
                        dp_desc: "br0".into(),
                    }),
                ),
                MultipartRequestBody::Flow(r) => {
                    let flows = s.flows.iter().filter(|f| selected(f, r)).cloned().collect();
                    multipart(s, MultipartReplyBody::Flow(flows))
                }
                MultipartRequestBody::Aggregate(r) => {
                    let mut a = AggregateStats::default();
                    for f in s.flows.iter().filter(|f| selected(f, r)) {
                        a.packet_count += f.packet_count;
                        a.byte_count += f.byte_count;
                        a.flow_count += 1;
                    }
                    multipart(s, MultipartReplyBody::Aggregate(a))
                }
                MultipartRequestBody::Table => {
                    multipart(s, MultipartReplyBody::Table(s.tables.clone()))
                }
                MultipartRequestBody::PortStats(p) => {
                    let stats = s
                        .port_stats
                        .iter()
                        .filter(|st| *p == PortNo::ANY || st.port_no == *p)
                        .copied()
                        .collect();
                    multipart(s, MultipartReplyBody::PortStats(stats))
                }
                MultipartRequestBody::PortDesc => {
                    multipart(s, MultipartReplyBody::PortDesc(s.ports.clone()))
                }
                MultipartRequestBody::TableFeatures(_) => {
                    // ovs-ofctl asks for these (for table names) before it
                    // reads a flow: no names, the properties it requires.
                    use rvs_openflow::TableFeatureProp as P;
                    let properties = P::encode_all(&[
                        P::Instructions(vec![1, 3, 4]),
                        P::NextTables(vec![]),
                        P::WriteActions(vec![0]),
                        P::ApplyActions(vec![0]),
                        P::Match(vec![]),
                        P::Wildcards(vec![]),
                        P::WriteSetfield(vec![]),
                        P::ApplySetfield(vec![]),
                    ]);
                    let features: Vec<TableFeatures> = (0..254u8)
                        .map(|t| TableFeatures {
                            table_id: t,
                            name: String::new(),
                            metadata_match: 0,
                            metadata_write: 0,
                            config: 0,
                            max_entries: 1_000_000,
                            properties: properties.clone(),
                        })
                        .collect();
                    multipart(s, MultipartReplyBody::TableFeatures(features))
                }
                _ => vec![refusal(ErrorCode::new(ErrorType::BadRequest, 2), xid, raw)],
            }
        }
        _ => vec![refusal(ErrorCode::new(ErrorType::BadRequest, 1), xid, raw)],
    }
}

// ---------------------------------------------------------------------------
// Running the tools

fn rvs(args: &[&str], rundir: &Path, stdin: &str) -> Output {
    run_captured(args, rundir, stdin.as_bytes())
}

/// Runs the `rvs-ofctl` binary (not the library), as scripts do.
fn rvs_bin(args: &[&str], rundir: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_rvs-ofctl"))
        .args(args)
        .env("RVS_RUNDIR", rundir)
        .stdin(Stdio::null())
        .output()
        .expect("run rvs-ofctl");
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ovs(ovs: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(ovs)
        .arg("-O")
        .arg("OpenFlow13")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ovs-ofctl");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("ovs-ofctl finishes");
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `args` with `SWITCH` replaced by `target`.
fn with_target<'a>(args: &[&'a str], target: &'a str) -> Vec<&'a str> {
    args.iter()
        .map(|a| if *a == "SWITCH" { target } else { a })
        .collect()
}

// ---------------------------------------------------------------------------
// Commands against ovs-ofctl

#[test]
fn reading_commands_print_what_ovs_ofctl_prints() {
    let Some(ovs_bin) = ovs_ofctl() else { return };
    let sw = FakeSwitch::start();
    sw.load(FLOWS);
    // Small replies, so that dumps come in several REPLY_MORE parts.
    sw.with(|s| {
        s.max_reply_len = 300;
        s.tables[1].active_count = 2;
        s.tables[1].lookup_count = 9;
    });
    let target = sw.target();
    let commands: &[&[&str]] = &[
        &["show", "SWITCH"],
        &["dump-desc", "SWITCH"],
        &["dump-tables", "SWITCH"],
        &["dump-ports", "SWITCH"],
        &["dump-ports", "SWITCH", "2"],
        &["dump-ports", "SWITCH", "LOCAL"],
        &["dump-ports", "SWITCH", "p1"],
        &["--names", "dump-ports", "SWITCH"],
        &["dump-ports-desc", "SWITCH"],
        &["get-frags", "SWITCH"],
        &["dump-flows", "SWITCH"],
        &["dump-flows", "SWITCH", "ip"],
        &[
            "dump-flows",
            "SWITCH",
            "table=0,priority=100,ip,nw_dst=10.0.0.2",
        ],
        &["dump-flows", "SWITCH", "in_port=p1"],
        &["dump-flows", "SWITCH", "cookie=0x2a/-1"],
        &["--no-stats", "dump-flows", "SWITCH"],
        &["--names", "dump-flows", "SWITCH"],
        &[
            "--names",
            "--no-stats",
            "dump-flows",
            "SWITCH",
            "in_port=veth-a",
        ],
        &["--sort", "dump-flows", "SWITCH"],
        &["--rsort", "dump-flows", "SWITCH"],
        &["--sort=tcp_dst", "--rsort=priority", "dump-flows", "SWITCH"],
        &["dump-aggregate", "SWITCH"],
        &["dump-aggregate", "SWITCH", "in_port=1"],
        &["probe", "SWITCH"],
    ];
    let mut failures = Vec::new();
    for args in commands {
        let args = with_target(args, &target);
        let theirs = ovs(ovs_bin, &args, "");
        let ours = rvs(&args, &sw.dir, "");
        if theirs.stdout != ours.stdout || theirs.status != ours.status {
            failures.push(format!(
                "{args:?}:\n--- ovs-ofctl (status {})\n{}{}--- rvs-ofctl (status {})\n{}{}",
                theirs.status, theirs.stdout, theirs.stderr, ours.status, ours.stdout, ours.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The bridge name works as well as the socket, and the binary as the
    // library.
    let by_name = rvs_bin(&["dump-flows", "br0"], &sw.dir);
    assert_eq!(
        by_name.stdout,
        ovs(ovs_bin, &["dump-flows", &target], "").stdout
    );
    assert!(
        by_name.stdout.contains("flags=[more]"),
        "{}",
        by_name.stdout
    );
}

#[test]
fn diff_flows_prints_and_exits_like_ovs_ofctl() {
    let Some(ovs_bin) = ovs_ofctl() else { return };
    let sw = FakeSwitch::start();
    sw.load(&FLOWS[..5]);
    let file = sw.dir.join("flows.txt");
    std::fs::write(
        &file,
        format!(
            "# the first three, one changed, one new\n{}\n{}\n\n{}\npriority=3,udp actions=drop\n",
            FLOWS[0], FLOWS[1], "priority=0,actions=NORMAL"
        ),
    )
    .unwrap();
    let file = file.to_string_lossy().into_owned();
    let target = sw.target();
    for args in [
        vec!["diff-flows", target.as_str(), file.as_str()],
        vec!["diff-flows", file.as_str(), target.as_str()],
        vec!["diff-flows", file.as_str(), file.as_str()],
    ] {
        let theirs = ovs(ovs_bin, &args, "");
        let ours = rvs(&args, &sw.dir, "");
        assert_eq!(ours.status, theirs.status, "{args:?}: {}", ours.stderr);
        let sorted = |s: &str| {
            let mut l: Vec<String> = s.lines().map(String::from).collect();
            l.sort();
            l
        };
        // Open vSwitch lists in classifier order, rvs-ofctl by table,
        // priority and match: the same lines.
        assert_eq!(sorted(&ours.stdout), sorted(&theirs.stdout), "{args:?}");
    }
}

/// Runs `args` with both tools against two switches holding `initial`;
/// the switches must end with the same flows and have received the same
/// kinds of messages.
fn same_effect(ovs_bin: &str, initial: &[&str], args: &[&str], stdin: &str) -> FakeSwitch {
    let a = FakeSwitch::start();
    let b = FakeSwitch::start();
    a.load(initial);
    b.load(initial);
    let (ta, tb) = (a.target(), b.target());
    let theirs = ovs(ovs_bin, &with_target(args, &ta), stdin);
    let ours = rvs(&with_target(args, &tb), &b.dir, stdin);
    assert_eq!(
        (ours.status, ours.stdout.as_str()),
        (theirs.status, theirs.stdout.as_str()),
        "{args:?}: ovs-ofctl said {:?}, rvs-ofctl {:?}",
        theirs.stderr,
        ours.stderr
    );
    assert_eq!(a.table_text(), b.table_text(), "{args:?}");
    let changes = |sw: &FakeSwitch| -> Vec<&'static str> {
        let mut t: Vec<&str> = sw
            .received_types()
            .into_iter()
            .filter(|t| matches!(*t, "FLOW_MOD" | "PACKET_OUT" | "BARRIER_REQUEST"))
            .collect();
        t.sort();
        t
    };
    assert_eq!(changes(&a), changes(&b), "{args:?}");
    b
}

#[test]
fn changing_commands_do_what_ovs_ofctl_does() {
    let Some(ovs_bin) = ovs_ofctl() else { return };
    let initial = &FLOWS[..6];
    same_effect(
        ovs_bin,
        initial,
        &[
            "add-flow",
            "SWITCH",
            "priority=3,in_port=p2,actions=output:veth-a",
        ],
        "",
    );
    same_effect(
        ovs_bin,
        initial,
        &["add-flow", "SWITCH", "-"],
        "ip,actions=drop\n# x\npriority=1,arp,actions=FLOOD\n",
    );
    same_effect(
        ovs_bin,
        initial,
        &["mod-flows", "SWITCH", "ip,actions=output:1"],
        "",
    );
    same_effect(
        ovs_bin,
        initial,
        &[
            "--strict",
            "mod-flows",
            "SWITCH",
            "priority=100,ip,nw_dst=10.0.0.2,actions=output:1",
        ],
        "",
    );
    same_effect(ovs_bin, initial, &["del-flows", "SWITCH"], "");
    same_effect(ovs_bin, initial, &["del-flows", "SWITCH", "in_port=1"], "");
    same_effect(
        ovs_bin,
        initial,
        &["--strict", "del-flows", "SWITCH", "priority=0"],
        "",
    );
    same_effect(ovs_bin, initial, &["del-flows", "SWITCH", "-"], "ip\ntcp\n");
    let flows = "\
# comment line
priority=100,ip,nw_dst=10.0.0.2,actions=output:2
priority=5,in_port=2,actions=output:1   # comment after a flow
delete in_port=1
modify_strict priority=0,actions=NORMAL
add table=1,priority=9,actions=drop

";
    same_effect(ovs_bin, initial, &["add-flows", "SWITCH", "-"], flows);
    // replace-flows: one kept, one changed, one new, the rest deleted.
    let replacement = format!(
        "{}\n{}\npriority=0,actions=NORMAL\ncookie=0x2a,idle_timeout=30,hard_timeout=60,priority=50,tcp,tp_dst=80,actions=output:3,CONTROLLER:128\ntable=2,priority=1,arp,actions=drop\n",
        FLOWS[0], FLOWS[1]
    );
    let b = same_effect(
        ovs_bin,
        initial,
        &["replace-flows", "SWITCH", "-"],
        &replacement,
    );
    let kinds = b.received_types();
    assert!(kinds.contains(&"FLOW_MOD"), "{kinds:?}");
    same_effect(
        ovs_bin,
        initial,
        &["--readd", "replace-flows", "SWITCH", "-"],
        &replacement,
    );
    same_effect(
        ovs_bin,
        initial,
        &[
            "packet-out",
            "SWITCH",
            "LOCAL",
            "output:1,output:p2",
            "ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002",
        ],
        "",
    );
    same_effect(
        ovs_bin,
        initial,
        &[
            "packet-out",
            "SWITCH",
            "in_port=1 packet=ffffffffffff02000000000108060001 actions=FLOOD",
        ],
        "",
    );
}

#[test]
fn switch_errors_are_printed_like_ovs_ofctl() {
    let Some(ovs_bin) = ovs_ofctl() else { return };
    let sw = FakeSwitch::start();
    let target = sw.target();
    for (code, flow) in [
        (
            ErrorCode::new(ErrorType::BadMatch, 9),
            "priority=100,ip,nw_dst=10.0.0.2,actions=output:2",
        ),
        (ErrorCode::new(ErrorType::FlowModFailed, 3), "actions=drop"),
        (
            ErrorCode::new(ErrorType::BadAction, 4),
            "in_port=1,actions=output:99",
        ),
    ] {
        sw.with(|s| s.refuse = Some(code));
        let args = ["add-flow", target.as_str(), flow];
        let theirs = ovs(ovs_bin, &args, "");
        let ours = rvs(&args, &sw.dir, "");
        assert_eq!(ours.status, 1);
        assert_eq!(theirs.status, 1);
        assert_eq!(ours.stderr, theirs.stderr, "{flow}");
        assert!(
            ours.stderr.starts_with("OFPT_ERROR (OF1.3) (xid=0x"),
            "{}",
            ours.stderr
        );
    }
    // A refused statistics request: ovs-ofctl prints the error on standard
    // output and exits 0; rvs-ofctl prints the same text on standard error
    // and exits 1.
    sw.with(|s| {
        s.refuse = None;
        s.refuse_stats = Some(ErrorCode::new(ErrorType::BadRequest, 9));
    });
    let args = ["dump-flows", target.as_str(), "table=7"];
    let theirs = ovs(ovs_bin, &args, "");
    let ours = rvs(&args, &sw.dir, "");
    assert_eq!(ours.stderr, theirs.stdout);
    assert_eq!(ours.status, 1);
}

// ---------------------------------------------------------------------------
// What rvs-ofctl promises on its own

#[test]
fn a_bad_line_in_a_flow_file_names_line_and_token_and_sends_nothing() {
    let sw = FakeSwitch::start();
    let file = sw.dir.join("flows.txt");
    std::fs::write(
        &file,
        "priority=1,actions=drop\n# fine so far\nip,nw_dst=10.0.0.300,actions=drop\npriority=2,actions=drop\n",
    )
    .unwrap();
    let path = file.to_string_lossy().into_owned();
    let out = rvs(&["add-flows", "br0", &path], &sw.dir, "");
    assert_eq!(out.status, 1);
    assert!(
        out.stderr.starts_with(&format!("rvs-ofctl: {path}:3: ")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`nw_dst=10.0.0.300'"), "{}", out.stderr);
    // Only the port names were asked for (as ovs-ofctl does).
    assert_eq!(sw.received_types(), ["MULTIPART_REQUEST"]);
    // Standard input names itself `-`.
    let out = rvs(
        &["add-flows", "br0", "-"],
        &sw.dir,
        "actions=drop\nfoo=1,actions=drop\n",
    );
    assert!(out.stderr.starts_with("rvs-ofctl: -:2: "), "{}", out.stderr);
    // A single flow: the token and where it is. --no-names: no port lookup.
    let out = rvs(
        &["--no-names", "add-flow", "br0", "ip,tp_dst=80,actions=drop"],
        &sw.dir,
        "",
    );
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("tp_dst"), "{}", out.stderr);
    assert!(!sw.received_types().contains(&"FLOW_MOD"));
    assert_eq!(sw.with(|s| s.connections), 2);
}

#[test]
fn every_change_is_followed_by_a_barrier() {
    let sw = FakeSwitch::start();
    let out = rvs(
        &["add-flows", "br0", "-"],
        &sw.dir,
        "priority=1,actions=drop\npriority=2,actions=drop\ndelete_strict priority=1\n",
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(
        sw.received_types(),
        [
            "MULTIPART_REQUEST",
            "FLOW_MOD",
            "BARRIER_REQUEST",
            "FLOW_MOD",
            "BARRIER_REQUEST",
            "FLOW_MOD",
            "BARRIER_REQUEST"
        ]
    );
    assert_eq!(sw.with(|s| s.flows.len()), 1);
    // The first refusal stops the run; what came before stays.
    sw.with(|s| {
        s.received.clear();
        s.refuse = Some(ErrorCode::new(ErrorType::FlowModFailed, 1));
    });
    let out = rvs(
        &["--no-names", "add-flows", "br0", "-"],
        &sw.dir,
        "priority=5,actions=drop\npriority=6,actions=drop\n",
    );
    assert_eq!(out.status, 1);
    assert_eq!(
        out.stderr,
        "OFPT_ERROR (OF1.3) (xid=0x2): OFPFMFC_TABLE_FULL\nOFPT_FLOW_MOD (OF1.3) (xid=0x2): ADD priority=5 actions=drop\n"
    );
    assert_eq!(sw.received_types(), ["FLOW_MOD", "BARRIER_REQUEST"]);
}

#[test]
fn long_dumps_follow_reply_more() {
    let sw = FakeSwitch::start();
    let flows: Vec<String> = (0..500)
        .map(|i| format!("priority={i},in_port={},actions=output:2", i % 7 + 1))
        .collect();
    let refs: Vec<&str> = flows.iter().map(String::as_str).collect();
    sw.load(&refs);
    sw.with(|s| s.max_reply_len = 1000);
    let out = rvs(&["--no-stats", "--sort", "dump-flows", "br0"], &sw.dir, "");
    assert_eq!(out.status, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 500);
    assert_eq!(lines[0], " priority=0,in_port=1 actions=output:2");
    assert_eq!(lines[499], " priority=499,in_port=3 actions=output:2");
    let out = rvs(&["dump-flows", "br0"], &sw.dir, "");
    let headers = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("OFPST_FLOW reply"))
        .count();
    assert!(headers > 10, "{headers} replies");
    assert_eq!(out.stdout.matches("flags=[more]").count(), headers - 1);
    let agg = rvs(&["dump-aggregate", "br0", "in_port=3"], &sw.dir, "");
    assert!(agg.stdout.ends_with("flow_count=72\n"), "{}", agg.stdout);
}

#[test]
fn targets_that_do_not_exist_get_a_sentence() {
    let dir = std::env::temp_dir();
    let out = rvs(&["show", "br-nowhere"], &dir, "");
    assert_eq!(out.status, 1);
    assert!(
        out.stderr
            .starts_with("rvs-ofctl: br-nowhere is not a bridge or a socket"),
        "{}",
        out.stderr
    );
    let out = rvs(&["show", "unix:/nonexistent/br0.mgmt"], &dir, "");
    assert_eq!(
        out.stderr,
        "rvs-ofctl: connecting to unix:/nonexistent/br0.mgmt (No such file or directory)\n"
    );
    // A TCP port nobody listens on (tried again if another test on the
    // machine took the port in between).
    let refused = (0..5).any(|_| {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let target = format!("tcp:{addr}");
        let out = rvs(&["--timeout=5", "dump-flows", &target], &dir, "");
        out.stderr
            == format!("rvs-ofctl: {target}: failed to connect to socket (Connection refused)\n")
    });
    assert!(refused, "a refused TCP connection is not reported as such");
    let out = rvs(&["-O", "OpenFlow10", "show", "br0"], &dir, "");
    assert!(out.stderr.contains("only OpenFlow 1.3"), "{}", out.stderr);
    let out = rvs(&["frobnicate", "br0"], &dir, "");
    assert!(
        out.stderr.contains("unknown command 'frobnicate'"),
        "{}",
        out.stderr
    );
    let out = rvs(&["add-flow", "br0"], &dir, "");
    assert!(
        out.stderr.contains("'add-flow' takes 2 arguments, not 1"),
        "{}",
        out.stderr
    );
}

#[test]
fn version_mismatch_and_timeout_are_reported() {
    let sw = FakeSwitch::start();
    sw.with(|s| s.versions = vec![1]);
    let out = rvs(&["show", "br0"], &sw.dir, "");
    assert_eq!(out.status, 1);
    assert!(
        out.stderr.contains(
            "version negotiation failed (we support version 0x04, peer supports version 0x01)"
        ),
        "{}",
        out.stderr
    );
    std::thread::sleep(Duration::from_millis(100));
    let refused = sw.with(|s| {
        s.received.iter().any(
            |m| matches!(&m.body, MessageBody::Error(e) if e.code.kind == ErrorType::HelloFailed),
        )
    });
    assert!(refused, "the switch got no HELLO_FAILED");

    sw.with(|s| {
        s.versions = vec![4];
        s.mute = true;
    });
    let started = std::time::Instant::now();
    let out = rvs(&["--timeout=1", "show", "br0"], &sw.dir, "");
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("timed out after 1 s"), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn help_and_version() {
    let dir = std::env::temp_dir();
    let help = rvs(&["--help"], &dir, "");
    assert_eq!(help.status, 0);
    assert!(help.stdout.contains("Examples:"));
    assert!(help.stdout.contains("replace-flows SWITCH FILE"));
    let version = rvs_bin(&["--version"], &dir);
    assert!(
        version.stdout.starts_with("rvs-ofctl (rvs) "),
        "{}",
        version.stdout
    );
}

#[test]
fn packet_out_sends_what_was_asked() {
    let sw = FakeSwitch::start();
    let out = rvs(
        &[
            "packet-out",
            "br0",
            "p1",
            "output:veth-a",
            "ffffffffffff 020000000001 0800",
            "000000000002020000000001 86dd",
        ],
        &sw.dir,
        "",
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    let outs: Vec<PacketOut> = sw.with(|s| {
        s.received
            .iter()
            .filter_map(|m| match &m.body {
                MessageBody::PacketOut(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    });
    assert_eq!(outs.len(), 2);
    assert_eq!(outs[0].in_port, PortNo(1));
    assert_eq!(outs[0].actions, [Action::output(PortNo(12))]);
    assert_eq!(outs[1].data.len(), 14);
    let bad = rvs(
        &["packet-out", "br0", "in_port=1,packet=0102,actions=drop"],
        &sw.dir,
        "",
    );
    assert_eq!(
        bad.stderr,
        "rvs-ofctl: packet: Packet data too short for Ethernet\n"
    );
    let bad = rvs(
        &[
            "packet-out",
            "br0",
            "1",
            "goto_table:1",
            "ffffffffffff0200000000010800",
        ],
        &sw.dir,
        "",
    );
    assert!(bad.stderr.contains("not instructions"), "{}", bad.stderr);
}
