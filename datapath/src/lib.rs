//! rvs datapath: the fast path of the switch.
//!
//! A poll-mode thread receives a [`Batch`] of up to [`BATCH_SIZE`] packets,
//! extracts a [`FlowKey`] from each ([`extract()`]), looks the keys up in its
//! exact-match cache ([`Emc`]) and then in its megaflow classifier
//! ([`MegaflowCache`]), asks the slow path (an [`UpcallHandler`]) about the
//! misses and installs the answers, then executes every packet's actions,
//! queueing output per port and flushing once per batch.
//!
//! `wire` is pure header views; `port` is the only home of syscalls and
//! unsafe. What the fast
//! path promises: no allocation, lock, syscall or log line per packet; drops
//! are counted by [`DropReason`], never returned as errors.

// Unsafe code is allowed only in `port`, where the syscalls live.
#![deny(unsafe_code)]

pub mod actions;
pub mod dpif;
pub mod emc;
pub mod extract;
pub mod flow;
pub mod megaflow;
pub mod packet;
#[allow(unsafe_code)]
pub mod port;
pub mod wire;

pub use actions::{Action, ActionList};
pub use dpif::{
    Datapath, DatapathConfig, DropReason, PmdStats, PortOutOfRange, ProcessContext, PutMode,
    Transmit, UpcallHandler, UpcallReply, MAX_PORTS,
};
pub use emc::{Emc, EmcConfig};
pub use extract::{extract, HeaderOffsets};
pub use flow::{Field, FlowKey, FlowMask, FLOW_WORDS};
pub use megaflow::{FlowRef, Megaflow, MegaflowCache, MegaflowError, MegaflowStats};
pub use packet::{Batch, Packet, PacketPool, PortNo, BATCH_SIZE};
