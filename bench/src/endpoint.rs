//! Where `rvs-pktgen` sends and receives: an *endpoint* is one side of the
//! path under test.
//!
//! - `vhost-user`: a userspace virtio-net driver and vhost-user frontend
//!   ([`rvs_vmm::net::NetDriver`], shared with the VMM) that listens on a
//!   socket for the switch's `vhostuserclient` / `dpdkvhostuserclient`
//!   port to connect (or connects to a `vhostuser` / `dpdkvhostuser`
//!   port's socket). Frames are built straight into the shared-memory
//!   buffers: no copy on the generator's side.
//! - `afxdp`, `afpacket`: rvs's own AF_XDP (generic mode) and AF_PACKET
//!   ports on a network device, typically one end of a veth pair whose
//!   other end is on the switch.
//! - `ring`: rvs's in-memory port pair, for measuring the generator itself
//!   or an in-process datapath with no I/O at all.
//!
//! Both directions are driven from one thread: send a burst on one
//! endpoint, drain the other (see [`crate::trial`]).

use crate::traffic::FrameBuilder;
use anyhow::{bail, Context, Result};
use rvs_datapath::packet::{Batch, Packet, PacketPool, BATCH_SIZE};
use rvs_datapath::port::afpacket::AfPacketPort;
use rvs_datapath::port::afxdp::{AfXdpPort, XdpMode};
use rvs_datapath::port::Port;
use rvs_vmm::net::{NetConfig, NetDriver};
use rvs_vmm::vhost_user::{Listener, VhostUserNet};
use std::path::Path;
use std::time::Duration;

/// A datapath [`Port`] driven as an endpoint: frames built into packets of
/// a small pool, handed to `tx_burst`, received with `rx_burst`.
pub struct PortEndpoint {
    port: Box<dyn Port>,
    pool: PacketPool,
    batch: Batch,
    out: Vec<Packet>,
    /// Frames built but refused by the port (its ring was full).
    tx_refused: u64,
}

impl std::fmt::Debug for PortEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortEndpoint")
            .field("port", &self.port.name())
            .finish_non_exhaustive()
    }
}

impl PortEndpoint {
    /// Wraps `port`.
    pub fn new(port: Box<dyn Port>) -> PortEndpoint {
        PortEndpoint {
            port,
            pool: PacketPool::new(8 * BATCH_SIZE, 2048),
            batch: Batch::new(),
            out: Vec::with_capacity(BATCH_SIZE),
            tx_refused: 0,
        }
    }
}

/// One side of the path under test.
#[derive(Debug)]
pub enum Endpoint {
    Port(PortEndpoint),
    Vhost(Box<NetDriver>),
}

impl Endpoint {
    /// An AF_XDP socket (generic mode) on `iface`.
    pub fn afxdp(iface: &str) -> Result<Endpoint> {
        let p = AfXdpPort::open(iface, XdpMode::Generic)
            .with_context(|| format!("cannot open an AF_XDP socket on {iface}"))?;
        Ok(Endpoint::Port(PortEndpoint::new(Box::new(p))))
    }

    /// An AF_PACKET socket on `iface`.
    pub fn afpacket(iface: &str) -> Result<Endpoint> {
        let p = AfPacketPort::open(iface)
            .with_context(|| format!("cannot open an AF_PACKET socket on {iface}"))?;
        Ok(Endpoint::Port(PortEndpoint::new(Box::new(p))))
    }

    /// Any datapath port (the in-memory ring, for one).
    pub fn port(port: Box<dyn Port>) -> Endpoint {
        Endpoint::Port(PortEndpoint::new(port))
    }

    /// A virtio-net device over vhost-user whose backend connected to
    /// `listener` (waiting up to `timeout`).
    pub fn vhost_accept(
        listener: &Listener,
        cfg: &NetConfig,
        timeout: Duration,
    ) -> Result<Endpoint> {
        let stream = listener.accept(timeout)?;
        let d = NetDriver::start(VhostUserNet::from_stream(stream), cfg)
            .context("vhost-user device setup failed")?;
        Ok(Endpoint::Vhost(Box::new(d)))
    }

    /// A virtio-net device over vhost-user on a backend listening at
    /// `path`.
    pub fn vhost_connect(path: &Path, cfg: &NetConfig, timeout: Duration) -> Result<Endpoint> {
        let conn = VhostUserNet::connect(path, timeout).with_context(|| {
            format!("cannot connect to the vhost-user socket {}", path.display())
        })?;
        let d = NetDriver::start(conn, cfg).context("vhost-user device setup failed")?;
        Ok(Endpoint::Vhost(Box::new(d)))
    }

    /// The device's own MAC address, where it has one.
    pub fn mac(&self) -> Option<[u8; 6]> {
        match self {
            Endpoint::Port(p) => p.port.mac(),
            Endpoint::Vhost(_) => None,
        }
    }

    /// Sends up to `n` frames from `builder`, numbering them from `*seq`
    /// (advanced by each frame built) and stamping `ts_ns`; returns how
    /// many the endpoint took. Frames built but refused by a full ring
    /// are counted in [`Endpoint::tx_refused`].
    #[inline]
    pub fn send(
        &mut self,
        n: usize,
        builder: &mut FrameBuilder,
        seq: &mut u64,
        ts_ns: u64,
    ) -> usize {
        match self {
            Endpoint::Vhost(d) => d.send_with(n, |buf| {
                let len = builder.build(*seq, ts_ns, buf);
                if len > 0 {
                    *seq += 1;
                }
                len
            }),
            Endpoint::Port(e) => {
                for _ in 0..n.min(BATCH_SIZE) {
                    let Some(mut p) = e.pool.get() else { break };
                    let len = builder.build(*seq, ts_ns, p.spare_mut());
                    if len == 0 || !p.set_len(len) {
                        e.pool.put(p);
                        break;
                    }
                    *seq += 1;
                    e.out.push(p);
                }
                let built = e.out.len() as u64;
                let before = e.port.stats();
                e.port.tx_burst(&mut e.out, &mut e.pool);
                for p in e.out.drain(..) {
                    e.pool.put(p);
                }
                let after = e.port.stats();
                let took = after.tx_packets - before.tx_packets;
                e.tx_refused += built.saturating_sub(took);
                took as usize
            }
        }
    }

    /// Receives what has arrived (a burst), passing each frame to `f`;
    /// returns how many.
    #[inline]
    pub fn recv(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        match self {
            Endpoint::Vhost(d) => d.recv_with(BATCH_SIZE, f),
            Endpoint::Port(e) => {
                let n = e.port.rx_burst(&mut e.batch, &mut e.pool);
                for p in e.batch.packets() {
                    f(p.data());
                }
                e.pool.put_batch(&mut e.batch);
                n
            }
        }
    }

    /// Frames built but refused by a full transmit ring (AF_XDP,
    /// AF_PACKET, ring); a vhost-user endpoint never builds a frame it
    /// has no descriptor for.
    pub fn tx_refused(&self) -> u64 {
        match self {
            Endpoint::Port(e) => e.tx_refused,
            Endpoint::Vhost(_) => 0,
        }
    }

    /// Fails when the peer went away (a vhost-user backend that hung up).
    pub fn check(&self) -> Result<()> {
        if let Endpoint::Vhost(d) = self {
            if d.peer_closed() {
                bail!("the vhost-user backend closed the connection");
            }
        }
        Ok(())
    }
}
