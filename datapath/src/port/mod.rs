//! Ports: where packets enter and leave the datapath.
//!
//! This module is the only home of syscalls and `unsafe` in the datapath.
//! A [`Port`] receives bursts into a [`Batch`] and transmits the queue the
//! datapath built for it, taking buffers from and returning them to the
//! poll-mode thread's [`PacketPool`]. Errors on the fast path are counted in
//! [`PortStats`], never returned per packet.
//!
//! - [`ring`]: an in-memory port pair, for tests and benchmarks.
//! - [`afpacket`]: an existing device through AF_PACKET with mapped rings.
//! - [`afxdp`]: an existing device through an AF_XDP socket.
//! - [`tap`]: a TAP device (`tap` and `internal` ports).
//! - [`vhost`]: vhost-user (VMs and userspace frontends).
//! - [`csum`]: finishing the partial checksums of frames from a local stack.

pub mod afpacket;
pub mod afxdp;
mod bpf;
pub mod csum;
pub mod ring;
mod sys;
pub mod tap;
pub mod vhost;

use crate::packet::{Batch, Packet, PacketPool};

/// Counters of one port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Received frames dropped by the port (no buffer, too long, ring full).
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Frames the port could not send.
    pub tx_dropped: u64,
    /// Checksums the port completed for the receiver (see the AF_PACKET
    /// port: frames from a local stack arrive with partial checksums).
    pub csum_completed: u64,
}

/// Why a port could not be opened or stopped working.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// no network device has that name
    #[error("could not open network device {0} (No such device)")]
    NoSuchDevice(String),
    /// an option has a bad value
    #[error("{0}")]
    BadOption(String),
    /// a system call failed
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// A port of the datapath.
pub trait Port: Send {
    /// The device's name.
    fn name(&self) -> &str;

    /// Receives up to the batch's free room into `batch`, with buffers from
    /// `pool`; returns how many packets arrived. Packets get `in_port` set by
    /// the caller.
    fn rx_burst(&mut self, batch: &mut Batch, pool: &mut PacketPool) -> usize;

    /// Sends the packets in `pkts`, removing those it took (sent or counted
    /// as dropped) and returning their buffers to `pool`.
    fn tx_burst(&mut self, pkts: &mut Vec<Packet>, pool: &mut PacketPool);

    /// Counters.
    fn stats(&self) -> PortStats;

    /// The device's MAC address, if it has one.
    fn mac(&self) -> Option<[u8; 6]> {
        None
    }

    /// Whether the link is up.
    fn link_up(&self) -> bool {
        true
    }

    /// How often the PMD polls this port: every `n`th loop iteration. A
    /// port whose receive is a system call (a TAP device's `read`) says
    /// more than 1, so an idle one does not cost a syscall per iteration
    /// (Open vSwitch polls such ports from its main thread instead).
    fn rx_poll_every(&self) -> u32 {
        1
    }

    /// Port-specific state and counters as (name, value) lines, for
    /// `rvs-appctl` (queues, negotiated features, drops by reason).
    fn details(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

static EVENT_LOG: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Where ports report events of their own threads (a vhost-user frontend
/// connecting or going away): the daemon's log. Unset, they go nowhere.
pub fn set_event_log(f: fn(&str)) {
    let _ = EVENT_LOG.set(f);
}

/// Reports a port event (control threads only, never the fast path).
pub(crate) fn event(msg: &str) {
    if let Some(f) = EVENT_LOG.get() {
        f(msg);
    }
}

/// Lets the calling thread run on every CPU again.
pub fn unpin_thread() -> Result<(), PortError> {
    sys::unpin_current_thread().map_err(|source| PortError::Io {
        what: "cannot unpin the thread".into(),
        source,
    })
}

/// Pins the calling thread (a poll-mode thread) to `core`.
pub fn pin_thread_to_core(core: usize) -> Result<(), PortError> {
    sys::pin_current_thread(core).map_err(|source| PortError::Io {
        what: format!("cannot pin the thread to core {core}"),
        source,
    })
}
