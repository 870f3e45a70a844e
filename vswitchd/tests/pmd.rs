//! A poll-mode thread switching between in-memory ports: NORMAL forwarding,
//! learning, one megaflow per host pair, revalidation when tables change.

use rvs_datapath::port::ring::{ring_pair, RingPort};
use rvs_datapath::port::Port;
use rvs_datapath::{Batch, DatapathConfig, Field, PacketPool};
use rvs_vswitchd::ofproto::{FlowTables, Match, Rule};
use rvs_vswitchd::pmd::{BridgeSet, PmdCmd, PmdHandle, Shared};
use rvs_vswitchd::xlate::{VlanMode, XBridge, XPort};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One test at a time: each runs busy-polling threads, and this machine
/// has two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long a test waits for frames it expects.
const LONG: Duration = Duration::from_secs(10);

const H: [[u8; 6]; 3] = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 3]];

fn udp(src: [u8; 6], dst: [u8; 6], sport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[16..18].copy_from_slice(&46u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, src[5]]);
    f[30..34].copy_from_slice(&[10, 0, 0, dst[5]]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&53u16.to_be_bytes());
    f[38..40].copy_from_slice(&26u16.to_be_bytes());
    f
}

struct Host {
    wire: RingPort,
    pool: PacketPool,
}

impl Host {
    fn send(&mut self, frame: &[u8]) {
        let mut p = self.pool.get().unwrap();
        p.set_frame(frame);
        let mut v = vec![p];
        self.wire.tx_burst(&mut v, &mut self.pool);
    }

    /// Frames received within `wait`.
    fn recv(&mut self, wait: Duration) -> Vec<Vec<u8>> {
        self.recv_n(usize::MAX, wait)
    }

    /// Frames received until `n` have arrived or `wait` has passed. Tests
    /// that expect frames use a long `wait` so a loaded machine (CI runs
    /// many test binaries at once) does not turn a slow start into a failure.
    fn recv_n(&mut self, n: usize, wait: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let mut b = Batch::new();
            self.wire.rx_burst(&mut b, &mut self.pool);
            for p in b.drain() {
                out.push(p.data().to_vec());
                self.pool.put(p);
            }
            if out.len() >= n || Instant::now() >= deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn setup(n: usize, tables: FlowTables) -> (Arc<Shared>, PmdHandle, Vec<Host>) {
    let shared = Arc::new(Shared::default());
    let pmd = PmdHandle::start(0, None, shared.clone(), DatapathConfig::default());
    let mut hosts = Vec::new();
    let mut xports = Vec::new();
    for i in 0..n {
        let (dp_end, host_end) = ring_pair(&format!("p{}", i + 1), &format!("h{}", i + 1), 256);
        pmd.send(PmdCmd::AddPort(i as u32 + 1, Box::new(dp_end)));
        hosts.push(Host {
            wire: host_end,
            pool: PacketPool::new(256, 2048),
        });
        xports.push(XPort {
            ofport: i as u32 + 1,
            dp_port: i as u32 + 1,
            name: format!("p{}", i + 1),
            vlan: VlanMode::Trunk {
                trunks: None,
                native: None,
            },
        });
    }
    shared.publish(BridgeSet::new(vec![XBridge::new(
        "br0",
        xports,
        Arc::new(tables),
    )]));
    (shared, pmd, hosts)
}

#[test]
fn normal_switching_learns_and_shares_one_megaflow_per_host_pair() {
    let _serial = serial();
    let (_shared, pmd, mut hosts) = setup(3, FlowTables::normal());
    let w = Duration::from_millis(200);
    // Unknown destination: flooded to both other hosts.
    hosts[0].send(&udp(H[0], H[1], 1000));
    assert_eq!(hosts[1].recv_n(1, LONG).len(), 1);
    assert_eq!(hosts[2].recv_n(1, LONG).len(), 1);
    // The reply is unicast: H0 was learned.
    hosts[1].send(&udp(H[1], H[0], 53));
    assert_eq!(hosts[0].recv_n(1, LONG).len(), 1);
    assert!(
        hosts[2].recv(w).is_empty(),
        "the third host must not see unicast after learning"
    );
    // Many UDP flows H0 -> H1 now go to H1 only, through one megaflow.
    for sport in 2000..2050 {
        hosts[0].send(&udp(H[0], H[1], sport));
    }
    assert_eq!(hosts[1].recv_n(50, LONG).len(), 50);
    assert!(hosts[2].recv(w).is_empty());
    let flows = pmd.dump_flows();
    let h0_to_h1: Vec<_> = flows
        .iter()
        .filter(|f| f.key.eth_src() == H[0] && f.key.eth_dst() == H[1])
        .collect();
    assert_eq!(h0_to_h1.len(), 1, "{flows:#?}");
    let f = h0_to_h1[0];
    assert!(!f.mask.has_field(Field::TpSrc) && !f.mask.has_field(Field::Ipv4Src));
    assert!(f.stats.packets >= 50, "{:?}", f.stats);
    let r = pmd.report().unwrap();
    assert!(
        r.stats.emc_hits + r.stats.megaflow_hits >= 49,
        "{:?}",
        r.stats
    );
}

#[test]
fn a_new_rule_revalidates_installed_megaflows() {
    let _serial = serial();
    let (shared, pmd, mut hosts) = setup(2, FlowTables::normal());
    let w = Duration::from_millis(200);
    hosts[0].send(&udp(H[0], H[1], 1));
    assert_eq!(hosts[1].recv_n(1, LONG).len(), 1);
    // Drop everything from port 1 with a higher-priority rule.
    let mut t = FlowTables::normal();
    let mut k = rvs_datapath::FlowKey::default();
    k.set_in_port(1);
    t.add(Rule::new(
        0,
        100,
        Match::new(k, rvs_datapath::FlowMask::of_fields(&[Field::InPort])),
        vec![],
    ));
    let before = pmd.report().unwrap().revalidations;
    let set = shared.bridges.load();
    let br = &set.bridges[0];
    let ports: Vec<XPort> = br.ports.values().cloned().collect();
    shared.publish(BridgeSet::new(vec![XBridge::new(
        "br0",
        ports,
        Arc::new(t),
    )]));
    // Wait until the PMD has seen the new tables (it checks between bursts).
    let deadline = Instant::now() + LONG;
    while pmd.report().unwrap().revalidations == before {
        assert!(Instant::now() < deadline, "the PMD never revalidated");
        std::thread::sleep(Duration::from_millis(5));
    }
    hosts[0].send(&udp(H[0], H[1], 1));
    assert!(
        hosts[1].recv(w).is_empty(),
        "the stale megaflow kept forwarding"
    );
}

#[test]
fn ports_on_different_pmds_forward_to_each_other_without_draining_a_pool() {
    let _serial = serial();
    // Two PMDs, one port each: every forwarded packet crosses threads.
    let shared = Arc::new(Shared::default());
    let pmds = [
        PmdHandle::start(0, None, shared.clone(), DatapathConfig::default()),
        PmdHandle::start(1, None, shared.clone(), DatapathConfig::default()),
    ];
    let mut hosts = Vec::new();
    let mut xports = Vec::new();
    for (i, pmd) in pmds.iter().enumerate() {
        let (dp_end, host_end) = ring_pair(&format!("p{}", i + 1), &format!("h{}", i + 1), 1024);
        pmd.send(PmdCmd::AddPort(i as u32 + 1, Box::new(dp_end)));
        hosts.push(Host {
            wire: host_end,
            pool: PacketPool::new(1024, 2048),
        });
        xports.push(XPort {
            ofport: i as u32 + 1,
            dp_port: i as u32 + 1,
            name: format!("p{}", i + 1),
            vlan: VlanMode::Trunk {
                trunks: None,
                native: None,
            },
        });
    }
    shared.publish(BridgeSet::new(vec![XBridge::new(
        "br0",
        xports,
        Arc::new(FlowTables::normal()),
    )]));
    assert!(hosts[1].recv(Duration::from_millis(200)).is_empty());
    hosts[0].send(&udp(H[0], H[1], 1));
    assert_eq!(hosts[1].recv_n(1, LONG).len(), 1, "PMD 0 -> port on PMD 1");
    hosts[1].send(&udp(H[1], H[0], 1));
    assert_eq!(hosts[0].recv_n(1, LONG).len(), 1, "PMD 1 -> port on PMD 0");
    // Far more packets than PMD 0's pool (4096) holds, one way: its buffers
    // must come back to it through the spare queue.
    let total = 20_000;
    let mut got = 0;
    for round in 0..(total / 200) {
        for i in 0..200 {
            hosts[0].send(&udp(H[0], H[1], (round * 200 + i) as u16));
        }
        got += hosts[1].recv_n(200, LONG).len();
    }
    assert!(got >= total * 99 / 100, "received {got} of {total}");
    let r0 = pmds[0].report().unwrap();
    assert_eq!(
        r0.stats.dropped(rvs_datapath::DropReason::PoolExhausted),
        0,
        "{:?}",
        r0.stats
    );
}
