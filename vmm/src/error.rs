//! The crate's error type: what went wrong setting up guest memory, a
//! vhost-user connection or the virtio-net driver. The data path itself
//! returns no errors; it counts what it skips ([`crate::net::NetStats`]).

use crate::memory::MemoryError;
use std::path::PathBuf;
use std::time::Duration;

/// Why a vhost-user connection or the driver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Guest memory could not be created.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// Nobody accepted a connection on the socket in time.
    #[error("no vhost-user backend accepted a connection on {} within {after:?}: is the switch running with a type=vhostuser (server mode) port on this socket?", path.display())]
    Connect {
        path: PathBuf,
        after: Duration,
        #[source]
        source: std::io::Error,
    },
    /// Nobody connected to our listening socket in time.
    #[error("no vhost-user backend connected to {} within {after:?}: is a vhostuserclient/dpdkvhostuserclient port configured with this socket path?", path.display())]
    Timeout { path: PathBuf, after: Duration },
    /// Another process listens on the socket path.
    #[error("socket {} is in use by another process: pick another path or stop that process", path.display())]
    SocketInUse { path: PathBuf },
    /// The listening socket could not be created or used.
    #[error("cannot {what} the vhost-user socket {}", path.display())]
    Socket {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A vhost-user request failed or was refused by the backend.
    #[error("vhost-user {request} failed")]
    Request {
        request: &'static str,
        #[source]
        source: vhost::Error,
    },
    /// The backend did not answer a request in time; the connection was
    /// shut down.
    #[error("the vhost-user backend did not answer {request} within {after:?}; the connection was closed")]
    RequestTimeout {
        request: &'static str,
        after: Duration,
    },
    /// The backend does not offer something the driver cannot do without.
    #[error("the vhost-user backend does not offer {what}")]
    NotOffered { what: &'static str },
    /// SET_VRING_ADDR before SET_MEM_TABLE, or a ring outside the memory
    /// table announced.
    #[error("queue {queue}: the {part} at guest address {gpa:#x} ({len} bytes) is not inside the memory table sent to the backend (or no table was sent yet)")]
    RingOutsideMemory {
        queue: usize,
        part: &'static str,
        gpa: u64,
        len: usize,
    },
    /// A ring part that is not aligned as virtio requires.
    #[error("queue {queue}: the {part} at guest address {gpa:#x} is not aligned to {align} bytes")]
    RingUnaligned {
        queue: usize,
        part: &'static str,
        gpa: u64,
        align: u64,
    },
    /// A queue size that is not a power of two in 1..=32768.
    #[error("queue size {0} is not a power of two from 1 to 32768")]
    QueueSize(u16),
    /// A queue index beyond what the connection supports.
    #[error("queue {queue} does not exist: the backend has {max} queues")]
    NoSuchQueue { queue: usize, max: usize },
    /// A driver configuration that cannot work.
    #[error("bad driver configuration: {0}")]
    Config(String),
    /// An eventfd could not be created.
    #[error("cannot create an eventfd")]
    EventFd(#[source] std::io::Error),
}
