//! rvs's datapath with no I/O at all: a poll-mode thread of its own
//! (pinned when asked) runs a [`Datapath`] between two in-memory ring
//! port pairs, and the generator's endpoints are the rings' other ends.
//! The flow table is what `compare` programs into the real switches —
//! everything from port 0 goes out of port 1 — installed by the upcall as
//! a megaflow that matches `in_port` only (as rvs-vswitchd's translation
//! of `in_port=1,actions=output:2` does). What this path measures is
//! the datapath's classification and batching plus the rings' hand-off
//! between two CPUs: rvs's ceiling without virtio or sockets.

use crate::endpoint::Endpoint;
use anyhow::{Context, Result};
use rvs_datapath::flow::Field;
use rvs_datapath::packet::{Batch, Packet, PacketPool};
use rvs_datapath::port::ring::{ring_pair, RingPort};
use rvs_datapath::port::Port;
use rvs_datapath::{
    Action, Datapath, DatapathConfig, FlowKey, FlowMask, PortNo, ProcessContext, Transmit,
    UpcallHandler, UpcallReply,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

const IN_PORT: PortNo = 0;
const OUT_PORT: PortNo = 1;

/// `in_port=0, actions=output:1` with an in_port-only megaflow.
#[derive(Debug)]
struct ToOutPort(FlowMask);

impl UpcallHandler for ToOutPort {
    fn upcall(&mut self, _key: &FlowKey, _packet: &Packet) -> Option<UpcallReply> {
        Some(UpcallReply {
            actions: Box::new([Action::Output(OUT_PORT)]),
            mask: self.0,
        })
    }
}

/// Transmits to the outgoing ring.
struct Out<'a>(&'a mut RingPort);

impl Transmit for Out<'_> {
    fn transmit(&mut self, _port: PortNo, pkts: &mut Vec<Packet>, pool: &mut PacketPool) {
        self.0.tx_burst(pkts, pool);
    }
}

/// The datapath thread and the generator's two endpoints on it.
#[derive(Debug)]
pub struct InprocSwitch {
    stop: Arc<AtomicBool>,
    busy_ns: Arc<AtomicU64>,
    packets: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl InprocSwitch {
    /// Starts the datapath thread (on `cpu` if given); returns it and the
    /// generator's transmit and receive endpoints.
    pub fn start(cpu: Option<usize>) -> Result<(InprocSwitch, Endpoint, Endpoint)> {
        let (gen_tx, mut sw_in) = ring_pair("gen-tx", "dp-in", 4096);
        let (mut sw_out, gen_rx) = ring_pair("dp-out", "gen-rx", 4096);
        let stop = Arc::new(AtomicBool::new(false));
        let busy_ns = Arc::new(AtomicU64::new(0));
        let packets = Arc::new(AtomicU64::new(0));
        let (s, b, p) = (stop.clone(), busy_ns.clone(), packets.clone());
        let thread = std::thread::Builder::new()
            .name("rvs-dp".into())
            .spawn(move || {
                if let Some(c) = cpu {
                    let _ = rvs_datapath::port::pin_thread_to_core(c);
                }
                let mut dp = Datapath::new(DatapathConfig::default());
                let _ = dp.add_port(OUT_PORT);
                let mut upcall = ToOutPort(FlowMask::of_fields(&[Field::InPort]));
                let mut pool = PacketPool::new(4096, 2048);
                let mut batch = Batch::new();
                let epoch = Instant::now();
                while !s.load(Ordering::Relaxed) {
                    let n = sw_in.rx_burst(&mut batch, &mut pool);
                    if n == 0 {
                        // Keep the empties flowing back to the generator.
                        sw_out.tx_burst(&mut Vec::new(), &mut pool);
                        continue;
                    }
                    let t0 = Instant::now();
                    for pk in batch.packets_mut() {
                        pk.in_port = IN_PORT;
                    }
                    let mut out = Out(&mut sw_out);
                    let mut ctx = ProcessContext {
                        now_ms: epoch.elapsed().as_millis() as u64,
                        pool: &mut pool,
                        upcall: &mut upcall,
                        tx: &mut out,
                    };
                    dp.process(&mut batch, &mut ctx);
                    b.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    p.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
            .context("cannot start the datapath thread")?;
        Ok((
            InprocSwitch {
                stop,
                busy_ns,
                packets,
                thread: Some(thread),
            },
            Endpoint::port(Box::new(gen_tx)),
            Endpoint::port(Box::new(gen_rx)),
        ))
    }

    /// (busy nanoseconds, packets) since the start.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.busy_ns.load(Ordering::Relaxed),
            self.packets.load(Ordering::Relaxed),
        )
    }
}

impl Drop for InprocSwitch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl crate::switches::SwitchUnderTest for InprocSwitch {
    fn name(&self) -> &'static str {
        "rvs"
    }

    fn add_ports(&mut self, _ports: &crate::switches::Ports, _bidir: bool) -> Result<()> {
        Ok(())
    }

    fn port_errors(&self) -> String {
        String::new()
    }

    fn clear_pmd_stats(&self) -> Result<()> {
        self.busy_ns.store(0, Ordering::Relaxed);
        self.packets.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn pmd_busy(&self, window: std::time::Duration) -> Result<(f64, u64)> {
        let (b, p) = self.counters();
        Ok((b as f64 / window.as_nanos().max(1) as f64, p))
    }

    fn log(&self) -> String {
        String::new()
    }
}
