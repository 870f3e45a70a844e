//! The vhost-user control plane, frontend side: we are the "guest" end
//! (QEMU's role) and hand a virtio-net device's data path to a backend —
//! rvs's `type=vhostuser` port, Open vSwitch's `dpdkvhostuser`, or in
//! server mode their `*client` port types, which connect to a
//! [`Listener`] of ours.
//!
//! [`VhostUserNet`] wraps the `vhost` crate's [`Frontend`] and adds what
//! it lacks for production use:
//!
//! - every request has a deadline ([`VhostUserNet::set_request_timeout`]):
//!   the crate waits for a reply for ever (it retries reads that time
//!   out), so a watchdog shuts the connection down when the backend does
//!   not answer, and the request fails with [`Error::RequestTimeout`];
//! - ring addresses are given as guest addresses and translated to the
//!   frontend addresses announced in the last memory table, after
//!   checking that each ring part lies inside one region and is aligned;
//! - [`VhostUserNet::peer_closed`] tells without blocking whether the
//!   backend hung up.
//!
//! The protocol order is QEMU's: SET_OWNER, GET_FEATURES,
//! GET/SET_PROTOCOL_FEATURES (REPLY_ACK, CONFIG, MQ as offered; with
//! REPLY_ACK every later request waits for the backend's answer),
//! SET_FEATURES, SET_MEM_TABLE, then per queue SET_VRING_NUM, _BASE,
//! _ADDR, _CALL, _KICK and SET_VRING_ENABLE.
//!
//! This module knows nothing of rings in memory. The driver in
//! [`crate::net`] uses it with rings it drives itself; the VMM will use
//! the same calls with the rings a guest sets up through virtio-mmio
//! (the guest's ring addresses are guest physical addresses in the same
//! [`GuestMemory`], so [`VhostUserNet::setup_queue`] takes them as they
//! are), forwarding the guest's kicks and the backend's calls through
//! the eventfds it passes (ioeventfd/irqfd).

use crate::memory::GuestMemory;
use crate::net::ring::{valid_size, RingLayout};
use crate::net::{F_MTU, F_PROTOCOL_FEATURES, F_VERSION_1};
pub use crate::Error;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use vhost::vhost_user::message::{
    VhostUserConfigFlags, VhostUserHeaderFlag, VhostUserProtocolFeatures,
};
use vhost::vhost_user::{Frontend, VhostUserFrontend};
use vhost::{VhostBackend, VhostUserMemoryRegionInfo, VringConfigData};
use vmm_sys_util::eventfd::EventFd;

/// How long a backend may take to answer one request, unless changed.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Virtqueues a connection may address (128 queue pairs).
pub const MAX_QUEUES: usize = 256;

/// Protocol features we use when the backend offers them.
fn wanted_protocol() -> VhostUserProtocolFeatures {
    VhostUserProtocolFeatures::REPLY_ACK
        | VhostUserProtocolFeatures::CONFIG
        | VhostUserProtocolFeatures::MQ
}

/// A vhost-user connection to a virtio-net backend (see the module
/// documentation).
pub struct VhostUserNet {
    fe: Frontend,
    /// The connection, a second handle: polled for hang-ups, shut down by
    /// the request watchdog.
    sock: Option<UnixStream>,
    offered: u64,
    features: u64,
    protocol: VhostUserProtocolFeatures,
    /// The memory table last sent: (guest address, size, frontend address).
    table: Vec<(u64, u64, u64)>,
    request_timeout: Option<Duration>,
}

impl std::fmt::Debug for VhostUserNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VhostUserNet")
            .field("sock", &self.sock)
            .field("offered", &format_args!("{:#x}", self.offered))
            .field("features", &format_args!("{:#x}", self.features))
            .field("protocol", &self.protocol)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl VhostUserNet {
    /// Connects to a backend listening at `path`, retrying while the
    /// socket does not exist yet or refuses, for up to `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<VhostUserNet, Error> {
        let t0 = Instant::now();
        loop {
            match UnixStream::connect(path) {
                Ok(s) => return VhostUserNet::from_stream_checked(s, path),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    if t0.elapsed() >= timeout {
                        return Err(Error::Connect {
                            path: path.to_owned(),
                            after: timeout,
                            source: e,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Socket {
                        what: "connect to",
                        path: path.to_owned(),
                        source,
                    })
                }
            }
        }
    }

    fn from_stream_checked(s: UnixStream, path: &Path) -> Result<VhostUserNet, Error> {
        let sock = s.try_clone().map_err(|source| Error::Socket {
            what: "duplicate the connection to",
            path: path.to_owned(),
            source,
        })?;
        Ok(VhostUserNet::with(s, Some(sock)))
    }

    /// Speaks vhost-user over `s`: a backend that connected to our
    /// [`Listener`], or a connection made elsewhere.
    ///
    /// Should the process be out of descriptors for a second handle on
    /// the connection, requests go without a deadline and
    /// [`VhostUserNet::peer_closed`] always answers `false`.
    pub fn from_stream(s: UnixStream) -> VhostUserNet {
        let sock = s.try_clone().ok();
        VhostUserNet::with(s, sock)
    }

    fn with(s: UnixStream, sock: Option<UnixStream>) -> VhostUserNet {
        VhostUserNet {
            fe: Frontend::from_stream(s, MAX_QUEUES as u64),
            sock,
            offered: 0,
            features: 0,
            protocol: VhostUserProtocolFeatures::empty(),
            table: Vec::new(),
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
        }
    }

    /// How long each request may wait for the backend's answer (`None`:
    /// for ever). When it runs out the connection is shut down.
    pub fn set_request_timeout(&mut self, timeout: Option<Duration>) {
        self.request_timeout = timeout;
    }

    /// Runs one request under the watchdog.
    fn request<T>(
        &mut self,
        request: &'static str,
        f: impl FnOnce(&mut Frontend) -> vhost::Result<T>,
    ) -> Result<T, Error> {
        let (Some(after), Some(sock)) = (self.request_timeout, &self.sock) else {
            return f(&mut self.fe).map_err(|source| Error::Request { request, source });
        };
        let fd: RawFd = sock.as_raw_fd();
        let fired = AtomicBool::new(false);
        let (done, wait) = mpsc::channel::<()>();
        let fe = &mut self.fe;
        let r = std::thread::scope(|s| {
            let fired = &fired;
            // Without a thread (none to be had) the request simply has no
            // deadline.
            let _watchdog = std::thread::Builder::new()
                .name("vhost-user-watchdog".into())
                .spawn_scoped(s, move || {
                    if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(after) {
                        fired.store(true, Ordering::SeqCst);
                        // SAFETY: `fd` is the second handle on the
                        // connection, owned by `self`, which the scope
                        // borrows until this thread has ended; shutdown
                        // touches no memory.
                        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                    }
                });
            let r = f(fe);
            let _ = done.send(());
            r
        });
        match r {
            _ if fired.load(Ordering::SeqCst) => Err(Error::RequestTimeout { request, after }),
            Ok(v) => Ok(v),
            Err(source) => Err(Error::Request { request, source }),
        }
    }

    /// SET_OWNER, then the features: agreed are `wanted & offered`, plus
    /// VERSION_1 whenever offered. With PROTOCOL_FEATURES agreed, the
    /// protocol features REPLY_ACK, CONFIG and MQ as far as offered.
    /// Returns the agreed virtio features.
    pub fn negotiate(&mut self, wanted: u64) -> Result<u64, Error> {
        let offered = self.open()?;
        let agreed = (wanted & offered) | (offered & F_VERSION_1);
        self.set_features(agreed)?;
        Ok(agreed)
    }

    /// The first half of [`Self::negotiate`], for a VMM whose guest
    /// chooses the features: SET_OWNER, GET_FEATURES, and the protocol
    /// features when offered. Returns the backend's virtio features.
    pub fn open(&mut self) -> Result<u64, Error> {
        self.request("SET_OWNER", |fe| fe.set_owner())?;
        let offered = self.request("GET_FEATURES", |fe| fe.get_features())?;
        self.offered = offered;
        if offered & F_PROTOCOL_FEATURES != 0 {
            let pf = self.request("GET_PROTOCOL_FEATURES", |fe| fe.get_protocol_features())?;
            let pf = pf & wanted_protocol();
            self.request("SET_PROTOCOL_FEATURES", |fe| fe.set_protocol_features(pf))?;
            self.protocol = pf;
            if pf.contains(VhostUserProtocolFeatures::REPLY_ACK) {
                self.fe.set_hdr_flags(VhostUserHeaderFlag::NEED_REPLY);
            }
        }
        Ok(offered)
    }

    /// SET_FEATURES with `features` (a subset of what [`Self::open`]
    /// returned; PROTOCOL_FEATURES is added when the backend offered it).
    pub fn set_features(&mut self, features: u64) -> Result<(), Error> {
        let agreed = (features & self.offered) | (self.offered & F_PROTOCOL_FEATURES);
        self.request("SET_FEATURES", |fe| fe.set_features(agreed))?;
        self.features = agreed;
        Ok(())
    }

    /// The virtio features the backend offered (after [`Self::negotiate`]).
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// The virtio features agreed (after [`Self::negotiate`]).
    pub fn features(&self) -> u64 {
        self.features
    }

    /// The protocol features agreed (after [`Self::negotiate`]).
    pub fn protocol_features(&self) -> VhostUserProtocolFeatures {
        self.protocol
    }

    /// SET_MEM_TABLE with every region of `mem`, announced at the address
    /// it is mapped at here. Ring addresses are translated with this table
    /// from now on.
    pub fn set_mem_table(&mut self, mem: &GuestMemory) -> Result<(), Error> {
        let table: Vec<VhostUserMemoryRegionInfo> = mem
            .regions()
            .iter()
            .map(|r| VhostUserMemoryRegionInfo {
                guest_phys_addr: r.gpa,
                memory_size: r.size,
                userspace_addr: r.host,
                mmap_offset: 0,
                mmap_handle: r.raw_fd(),
            })
            .collect();
        self.request("SET_MEM_TABLE", |fe| fe.set_mem_table(&table))?;
        self.table = mem
            .regions()
            .iter()
            .map(|r| (r.gpa, r.size, r.host))
            .collect();
        Ok(())
    }

    /// The frontend address of guest bytes `[gpa, gpa + len)` in the
    /// memory table sent, if they lie inside one region.
    pub fn translate(&self, gpa: u64, len: usize) -> Option<u64> {
        let len = u64::try_from(len).ok()?;
        self.table.iter().find_map(|&(base, size, ua)| {
            let off = gpa.checked_sub(base)?;
            (off < size && len <= size - off).then_some(ua + off)
        })
    }

    fn check_queue(&self, q: usize) -> Result<(), Error> {
        if q >= MAX_QUEUES {
            return Err(Error::NoSuchQueue {
                queue: q,
                max: MAX_QUEUES,
            });
        }
        Ok(())
    }

    /// Sets queue `q` up: SET_VRING_NUM `size`, SET_VRING_BASE 0,
    /// SET_VRING_ADDR (the guest addresses of the three parts, translated
    /// with the memory table), SET_VRING_CALL `call`, SET_VRING_KICK
    /// `kick`. The queue then runs once enabled
    /// ([`VhostUserNet::enable_queue`]; without PROTOCOL_FEATURES it runs
    /// at once).
    #[allow(clippy::too_many_arguments)]
    pub fn setup_queue(
        &mut self,
        q: usize,
        size: u16,
        desc: u64,
        avail: u64,
        used: u64,
        kick: &EventFd,
        call: &EventFd,
    ) -> Result<(), Error> {
        self.setup_queue_from(q, size, 0, desc, avail, used, kick, call)
    }

    /// [`VhostUserNet::setup_queue`] with the rings starting at index
    /// `base` (a VMM resuming a queue it stopped with
    /// [`VhostUserNet::stop_queue`]).
    #[allow(clippy::too_many_arguments)]
    pub fn setup_queue_from(
        &mut self,
        q: usize,
        size: u16,
        base: u16,
        desc: u64,
        avail: u64,
        used: u64,
        kick: &EventFd,
        call: &EventFd,
    ) -> Result<(), Error> {
        self.check_queue(q)?;
        if !valid_size(size) {
            return Err(Error::QueueSize(size));
        }
        let part = |part: &'static str, gpa: u64, len: usize, align: u64| {
            if gpa % align != 0 {
                return Err(Error::RingUnaligned {
                    queue: q,
                    part,
                    gpa,
                    align,
                });
            }
            self.translate(gpa, len).ok_or(Error::RingOutsideMemory {
                queue: q,
                part,
                gpa,
                len,
            })
        };
        let cfg = VringConfigData {
            queue_max_size: size,
            queue_size: size,
            flags: 0,
            desc_table_addr: part("descriptor table", desc, RingLayout::desc_len(size), 16)?,
            used_ring_addr: part("used ring", used, RingLayout::used_len(size), 4)?,
            avail_ring_addr: part("avail ring", avail, RingLayout::avail_len(size), 2)?,
            log_addr: None,
        };
        self.request("SET_VRING_NUM", |fe| fe.set_vring_num(q, size))?;
        self.request("SET_VRING_BASE", |fe| fe.set_vring_base(q, base))?;
        self.request("SET_VRING_ADDR", |fe| fe.set_vring_addr(q, &cfg))?;
        self.request("SET_VRING_CALL", |fe| fe.set_vring_call(q, call))?;
        self.request("SET_VRING_KICK", |fe| fe.set_vring_kick(q, kick))?;
        Ok(())
    }

    /// SET_VRING_ENABLE. Without PROTOCOL_FEATURES there is no such
    /// request: queues run once set up, so enabling does nothing and
    /// disabling is an error (stop the queue instead).
    pub fn enable_queue(&mut self, q: usize, on: bool) -> Result<(), Error> {
        self.check_queue(q)?;
        if self.features & F_PROTOCOL_FEATURES == 0 {
            return if on {
                Ok(())
            } else {
                Err(Error::NotOffered {
                    what: "PROTOCOL_FEATURES, without which a queue cannot be disabled (stop it instead)",
                })
            };
        }
        self.request("SET_VRING_ENABLE", |fe| fe.set_vring_enable(q, on))
    }

    /// GET_VRING_BASE: stops queue `q`; returns the avail index it
    /// stopped at (to set up again from with
    /// [`VhostUserNet::setup_queue_from`]).
    pub fn stop_queue(&mut self, q: usize) -> Result<u16, Error> {
        self.check_queue(q)?;
        let base = self.request("GET_VRING_BASE", |fe| fe.get_vring_base(q))?;
        // The index is 16 bits; a backend that answers more is broken.
        u16::try_from(base).map_err(|_| Error::Request {
            request: "GET_VRING_BASE",
            source: vhost::Error::VhostUserProtocol(vhost::vhost_user::Error::InvalidMessage),
        })
    }

    /// The MTU in the device's config space: `None` unless the CONFIG
    /// protocol feature was agreed and the backend offers
    /// VIRTIO_NET_F_MTU (otherwise the field means nothing), or if it
    /// says 0.
    pub fn mtu(&mut self) -> Result<Option<u16>, Error> {
        if !self.protocol.contains(VhostUserProtocolFeatures::CONFIG) || self.offered & F_MTU == 0 {
            return Ok(None);
        }
        // struct virtio_net_config: mac[6], status, max_virtqueue_pairs, mtu.
        let (_, cfg) = self.request("GET_CONFIG", |fe| {
            fe.get_config(10, 2, VhostUserConfigFlags::empty(), &[0u8; 2])
        })?;
        Ok(match cfg.as_slice() {
            [a, b] => Some(u16::from_le_bytes([*a, *b])).filter(|&m| m != 0),
            _ => None,
        })
    }

    /// Whether the backend hung up (or the connection broke), without
    /// blocking.
    pub fn peer_closed(&self) -> bool {
        let Some(sock) = &self.sock else {
            return false;
        };
        let mut p = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, a zero timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR | libc::POLLNVAL) != 0
    }

    /// A second handle on the connection (shutting it down makes a
    /// request that waits for its answer fail).
    pub fn connection(&self) -> std::io::Result<UnixStream> {
        match &self.sock {
            Some(s) => s.try_clone(),
            None => Err(std::io::Error::from(std::io::ErrorKind::Unsupported)),
        }
    }

    /// The `vhost` crate's frontend, for requests not wrapped here (they
    /// run without the watchdog).
    pub fn frontend(&mut self) -> &mut Frontend {
        &mut self.fe
    }
}

/// Server mode: we listen on a socket and the switch's client-mode port
/// (rvs `vhostuserclient`, OVS `dpdkvhostuserclient`) connects to it.
/// Dropping the listener removes the socket file (if it is still ours).
#[derive(Debug)]
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket file we made.
    id: Option<(u64, u64)>,
}

impl Listener {
    /// Listens at `path`. A stale socket file there (nobody listening) is
    /// removed first; a socket another process listens on is
    /// [`Error::SocketInUse`]; any other file is left alone and refused.
    pub fn bind(path: &Path) -> Result<Listener, Error> {
        let sock_err = |what: &'static str| {
            move |source| Error::Socket {
                what,
                path: path.to_owned(),
                source,
            }
        };
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(Error::SocketInUse {
                        path: path.to_owned(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(sock_err("remove the stale"))?;
                }
                Err(e) => return Err(sock_err("probe the existing")(e)),
            },
            Ok(_) => {
                return Err(Error::Socket {
                    what: "replace (a file that is not a socket is in the way)",
                    path: path.to_owned(),
                    source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(sock_err("look at")(e)),
        }
        let listener = UnixListener::bind(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                Error::SocketInUse {
                    path: path.to_owned(),
                }
            } else {
                sock_err("bind")(e)
            }
        })?;
        listener.set_nonblocking(true).map_err(sock_err("set up"))?;
        let id = std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        Ok(Listener {
            listener,
            path: path.to_owned(),
            id,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits up to `timeout` for a backend to connect.
    pub fn accept(&self, timeout: Duration) -> Result<UnixStream, Error> {
        let t0 = Instant::now();
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).map_err(|source| Error::Socket {
                        what: "set up a connection on",
                        path: self.path.clone(),
                        source,
                    })?;
                    return Ok(s);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                            | std::io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(source) => {
                    return Err(Error::Socket {
                        what: "accept on",
                        path: self.path.clone(),
                        source,
                    })
                }
            }
            let left = timeout.saturating_sub(t0.elapsed());
            if left.is_zero() {
                return Err(Error::Timeout {
                    path: self.path.clone(),
                    after: timeout,
                });
            }
            wait_readable(self.listener.as_raw_fd(), left);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if ours.is_some() && ours == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Waits until `fd` is readable or `left` has passed (capped at 100 ms a
/// round, so a caller re-checks its clock).
fn wait_readable(fd: RawFd, left: Duration) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = left.as_millis().clamp(1, 100) as libc::c_int;
    // SAFETY: one valid pollfd and a bounded timeout.
    unsafe { libc::poll(&mut p, 1, ms) };
}
