//! OpenFlow connections: each bridge's management socket
//! (`<rundir>/<bridge>.mgmt`, what `ovs-ofctl <bridge>` and `rvs-ofctl`
//! connect to), its controllers from the `Controller` table (active
//! `tcp:IP:PORT` with reconnection and echo keep-alive, passive
//! `ptcp:PORT[:IP]`), and what flows through them.
//!
//! # Threads
//!
//! * one listener per management socket and per passive controller;
//! * one connector per active controller, reconnecting with a backoff
//!   that doubles up to `max_backoff`;
//! * per connection a reader, which handles requests in order, and a
//!   writer, which drains a bounded queue, so a slow peer stalls only
//!   itself: a full queue drops that connection's PACKET_INs (counted);
//! * a dispatcher that turns packets the datapath queued for the
//!   controller into PACKET_INs;
//! * a timer that expires flows (idle and hard timeouts, with
//!   FLOW_REMOVED), reports port changes (PORT_STATUS) and enters or
//!   leaves fail-open.
//!
//! # Requests
//!
//! Each message is decoded ([`Message::parse`]) and checked
//! ([`Message::validate`]); a failure is answered with the matching ERROR
//! and the connection goes on. Flow-mods that arrive together are applied
//! together and published once; a BARRIER is answered only after every
//! poll-mode thread has revalidated its megaflows against them.
//!
//! Service connections (the management socket) get replies only;
//! controllers also get PACKET_IN, FLOW_REMOVED and PORT_STATUS (slaves
//! only PORT_STATUS), as in Open vSwitch.

use crate::config::{BridgeCfg, Config, ControllerCfg, FailMode};
use crate::mac_learning::OfPort;
use crate::ofcompile::{
    compile_actions, compile_rule, of_port_in, of_port_out, packet_in_match, ActionContext,
};
use crate::ofproto::{FlowTables, Rule, Selector};
use crate::pmd::PmdCmd;
use crate::switch::{PortInfo, Switch};
use crate::xlate::translate_packet_out;
use rvs_openflow::error::{bad_request, flow_mod_failed, role_request_failed};
use rvs_openflow::types::table;
use rvs_openflow::{
    split_multipart_reply, AggregateStats, AsyncConfig, Capabilities, ControllerRole, ErrorCode,
    ErrorMsg, ErrorType, FlowMod, FlowModCommand, FlowModFlags, FlowRemoved, FlowRemovedReason,
    FlowStats, FlowStatsRequest, MacAddr, Message, MessageBody, MessageFramer, MultipartReplyBody,
    MultipartRequest, MultipartRequestBody, OfError, PacketIn, PacketInReason, PacketOut, Port,
    PortConfig, PortFeatures, PortNo, PortReason, PortState, PortStats, PortStatus, Role,
    SwitchConfig, SwitchDesc, SwitchFeatures, TableFeatureProp, TableFeatures, TableStats,
    NO_BUFFER,
};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Tables a bridge has (0 to 253, as Open vSwitch).
pub const N_TABLES: u8 = 254;

/// Most flows a bridge holds; beyond, an add fails with TABLE_FULL.
pub const MAX_FLOWS: usize = 1_000_000;

/// Messages queued to one peer before its PACKET_INs are dropped.
const SEND_QUEUE: usize = 4096;

/// The default `miss_send_len` (OpenFlow 1.3).
const DEFAULT_MISS_SEND_LEN: u16 = 128;

/// How long a listener or reader sleeps between looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// A byte stream to a peer.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn try_clone(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }

    fn set_write_timeout(&self, d: Option<Duration>) {
        let _ = match self {
            Stream::Unix(s) => s.set_write_timeout(d),
            Stream::Tcp(s) => s.set_write_timeout(d),
        };
    }

    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(d),
            Stream::Tcp(s) => s.set_read_timeout(d),
        }
    }

    fn shutdown(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The management socket: requests and replies only.
    Service,
    /// A controller: also asynchronous messages.
    Controller,
}

/// One open OpenFlow connection.
struct Conn {
    id: u64,
    kind: Kind,
    peer: String,
    tx: crossbeam_channel::Sender<Vec<u8>>,
    role: Mutex<ControllerRole>,
    /// SET_ASYNC: which asynchronous messages it wants.
    async_cfg: Mutex<AsyncConfig>,
    miss_send_len: AtomicU16,
    /// Set once HELLO has been exchanged.
    ready: AtomicBool,
    closed: AtomicBool,
    /// Asynchronous messages dropped because the peer was behind.
    dropped: AtomicU64,
}

impl Conn {
    /// Queues a reply (waits while the queue is full: the peer asked).
    fn send(&self, m: &Message) {
        match m.to_bytes() {
            Ok(b) => {
                if self.tx.send(b).is_err() {
                    self.closed.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => crate::warn!("{}: cannot encode a reply: {e}", self.peer),
        }
    }

    /// Queues an asynchronous message, dropping it if the peer is behind.
    fn send_async(&self, m: &Message) {
        if let Ok(b) = m.to_bytes() {
            if self.tx.try_send(b).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn role(&self) -> ControllerRole {
        *self.role.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this connection gets an asynchronous message of `kind`
    /// for `reason`: controllers only, as their role and SET_ASYNC say.
    fn wants(&self, kind: Async, reason: u8) -> bool {
        if self.kind != Kind::Controller || !self.ready.load(Ordering::Relaxed) {
            return false;
        }
        let i = usize::from(self.role() == ControllerRole::Slave);
        let cfg = *lock(&self.async_cfg);
        let mask = match kind {
            Async::PacketIn => cfg.packet_in_mask[i],
            Async::PortStatus => cfg.port_status_mask[i],
            Async::FlowRemoved => cfg.flow_removed_mask[i],
        };
        reason < 32 && mask & (1 << reason) != 0
    }
}

/// The kinds of asynchronous message.
#[derive(Debug, Clone, Copy)]
enum Async {
    PacketIn,
    PortStatus,
    FlowRemoved,
}

/// A running listener, connector or timer: a stop flag and its thread.
struct Task {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Task {
    fn spawn(name: String, f: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Task {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || f(s))
            .ok();
        Task { stop, thread }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// OpenFlow state of one bridge.
#[derive(Default)]
struct BridgeOf {
    cfg: BridgeCfg,
    mgmt: Option<Task>,
    /// By controller target.
    controllers: BTreeMap<String, Task>,
    conns: Vec<Arc<Conn>>,
    /// Ports as last reported, for PORT_STATUS.
    ports: BTreeMap<OfPort, Port>,
    /// The highest master election generation id seen.
    generation: Option<u64>,
}

/// Controller status for the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerStatus {
    pub uuid: String,
    pub connected: bool,
    pub role: &'static str,
}

struct Inner {
    switch: Arc<Mutex<Switch>>,
    rundir: PathBuf,
    bridges: Mutex<HashMap<String, BridgeOf>>,
    next_id: AtomicU64,
    stop: AtomicBool,
}

/// The OpenFlow side of the switch.
pub struct ConnMgr {
    inner: Arc<Inner>,
    tasks: Vec<Task>,
}

impl std::fmt::Debug for ConnMgr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnMgr").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ConnMgr {
    /// Starts the dispatcher and the timer; bridges come with
    /// [`ConnMgr::reconcile`].
    pub fn new(switch: Arc<Mutex<Switch>>, rundir: &Path) -> ConnMgr {
        let inner = Arc::new(Inner {
            switch,
            rundir: rundir.to_path_buf(),
            bridges: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            stop: AtomicBool::new(false),
        });
        let i1 = inner.clone();
        let dispatcher = Task::spawn("ofdispatch".into(), move |stop| dispatch(&i1, &stop));
        let i2 = inner.clone();
        let timer = Task::spawn("oftimer".into(), move |stop| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                tick(&i2);
            }
        });
        ConnMgr {
            inner,
            tasks: vec![dispatcher, timer],
        }
    }

    /// Opens management sockets and controller connections for the
    /// bridges of `cfg`, and closes those of bridges that went away.
    pub fn reconcile(&self, cfg: &Config) {
        let inner = &self.inner;
        let mut gone = Vec::new();
        let mut stopped: Vec<Task> = Vec::new();
        {
            let mut bridges = lock(&inner.bridges);
            bridges.retain(|name, b| {
                let keep = cfg.bridges.contains_key(name);
                if !keep {
                    gone.push(std::mem::take(b));
                }
                keep
            });
            for (name, bc) in &cfg.bridges {
                let b = bridges.entry(name.clone()).or_default();
                let allowed_before = b.cfg.allows_of13();
                b.cfg = bc.clone();
                if b.mgmt.is_none() {
                    b.mgmt = listen_mgmt(inner, name);
                }
                if allowed_before && !bc.allows_of13() {
                    // Bridge.protocols no longer includes OpenFlow 1.3.
                    for c in &b.conns {
                        c.closed.store(true, Ordering::Relaxed);
                    }
                }
                let want: BTreeMap<String, ControllerCfg> = bc
                    .controllers
                    .iter()
                    .map(|c| (c.target.clone(), c.clone()))
                    .collect();
                let stale: Vec<String> = b
                    .controllers
                    .keys()
                    .filter(|t| !want.contains_key(*t))
                    .cloned()
                    .collect();
                // Stopping a controller task joins its thread, which takes
                // this lock to unregister its connection: stop it below,
                // after the lock is released.
                for t in stale {
                    stopped.extend(b.controllers.remove(&t));
                }
                for (t, c) in want {
                    if let std::collections::btree_map::Entry::Vacant(e) = b.controllers.entry(t) {
                        if let Some(task) = start_controller(inner, name, c) {
                            e.insert(task);
                        }
                    }
                }
            }
        }
        // Joining the threads of removed controllers and bridges outside
        // the lock.
        drop(stopped);
        for b in gone {
            for c in &b.conns {
                c.closed.store(true, Ordering::Relaxed);
            }
            drop(b);
        }
        tick(inner);
    }

    /// Status of every controller connection, for `Controller.is_connected`
    /// and `Controller.role`.
    pub fn controller_status(&self) -> Vec<ControllerStatus> {
        let bridges = lock(&self.inner.bridges);
        let mut out = Vec::new();
        for b in bridges.values() {
            for c in &b.cfg.controllers {
                let conn = b.conns.iter().find(|x| {
                    x.kind == Kind::Controller
                        && x.ready.load(Ordering::Relaxed)
                        && x.peer.starts_with(&format!("{}:", c.target))
                });
                out.push(ControllerStatus {
                    uuid: c.uuid.clone(),
                    connected: conn.is_some(),
                    role: match conn.map(|x| x.role()) {
                        Some(ControllerRole::Master) => "master",
                        Some(ControllerRole::Slave) => "slave",
                        _ => "other",
                    },
                });
            }
        }
        out
    }

    /// Closes everything.
    pub fn shutdown(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        let bridges: Vec<BridgeOf> = lock(&self.inner.bridges).drain().map(|(_, b)| b).collect();
        for b in &bridges {
            for c in &b.conns {
                c.closed.store(true, Ordering::Relaxed);
            }
        }
        drop(bridges);
        self.tasks.clear();
    }
}

impl Drop for ConnMgr {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn listen_mgmt(inner: &Arc<Inner>, bridge: &str) -> Option<Task> {
    let path = inner.rundir.join(format!("{bridge}.mgmt"));
    let _ = std::fs::remove_file(&path);
    let l = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            crate::warn!("{bridge}: cannot listen on {}: {e}", path.display());
            return None;
        }
    };
    let _ = l.set_nonblocking(true);
    let inner = inner.clone();
    let bridge = bridge.to_string();
    Some(Task::spawn(format!("ofmgmt-{bridge}"), move |stop| {
        let what = format!("{bridge}: the management socket");
        accept_loop(
            &stop,
            &what,
            || l.accept(),
            |(s, _)| {
                let _ = s.set_nonblocking(false);
                let peer = format!("{bridge}.mgmt");
                spawn_session(&inner, &bridge, Stream::Unix(s), Kind::Service, peer, 0);
            },
        );
        let _ = std::fs::remove_file(&path);
    }))
}

/// Accepts from a non-blocking listener until `stop`, handing each
/// connection to `serve`; looks at the flag every [`POLL`].
fn accept_loop<T>(
    stop: &AtomicBool,
    what: &str,
    mut accept: impl FnMut() -> std::io::Result<T>,
    mut serve: impl FnMut(T),
) {
    while !stop.load(Ordering::Relaxed) {
        match accept() {
            Ok(c) => serve(c),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                crate::warn!("{what}: accept failed: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// `ptcp:[PORT][:IP]` → the address to listen on (port 6653 and loopback
/// by default).
fn ptcp_addr(spec: &str) -> Option<String> {
    let mut it = spec.splitn(2, ':');
    let port = it.next().filter(|p| !p.is_empty()).unwrap_or("6653");
    let port: u16 = port.parse().ok()?;
    let ip = it.next().filter(|p| !p.is_empty()).unwrap_or("127.0.0.1");
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = ip.parse().ok()?;
    Some(std::net::SocketAddr::new(ip, port).to_string())
}

/// `tcp:IP[:PORT]` → the address to connect to (port 6653 by default).
fn tcp_addr(spec: &str) -> Option<String> {
    let (ip, port) = match spec.rsplit_once(':') {
        Some((ip, p)) if !ip.contains(':') || ip.ends_with(']') => (ip, p.parse::<u16>().ok()?),
        _ => (spec, 6653),
    };
    let ip: std::net::IpAddr = ip
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(std::net::SocketAddr::new(ip, port).to_string())
}

fn start_controller(inner: &Arc<Inner>, bridge: &str, c: ControllerCfg) -> Option<Task> {
    let bridge = bridge.to_string();
    let inner2 = inner.clone();
    if let Some(rest) = c.target.strip_prefix("ptcp:") {
        let Some(addr) = ptcp_addr(rest) else {
            crate::warn!(
                "{bridge}: controller target {:?} is not ptcp:[PORT][:IP]",
                c.target
            );
            return None;
        };
        let l = match TcpListener::bind(&addr) {
            Ok(l) => l,
            Err(e) => {
                crate::warn!("{bridge}: cannot listen for controllers on {addr}: {e}");
                return None;
            }
        };
        let _ = l.set_nonblocking(true);
        crate::info!("{bridge}: listening for OpenFlow controllers on {addr}");
        return Some(Task::spawn(format!("ofptcp-{bridge}"), move |stop| {
            let what = format!("{bridge}: the controller listener {}", c.target);
            accept_loop(
                &stop,
                &what,
                || l.accept(),
                |(s, from)| {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_nodelay(true);
                    let peer = format!("{}: {from}", c.target);
                    spawn_session(
                        &inner2,
                        &bridge,
                        Stream::Tcp(s),
                        Kind::Controller,
                        peer,
                        c.inactivity_probe_ms,
                    );
                },
            );
        }));
    }
    let Some(addr) = c.target.strip_prefix("tcp:").and_then(tcp_addr) else {
        crate::warn!(
            "{bridge}: controller target {:?} is not supported; use tcp:IP[:PORT] or ptcp:[PORT][:IP]",
            c.target
        );
        return None;
    };
    Some(Task::spawn(format!("oftcp-{bridge}"), move |stop| {
        let mut backoff = Duration::from_secs(1);
        let max = Duration::from_millis(c.max_backoff_ms);
        while !stop.load(Ordering::Relaxed) {
            let sa: std::net::SocketAddr = match addr.parse() {
                Ok(a) => a,
                Err(_) => return,
            };
            match TcpStream::connect_timeout(&sa, Duration::from_secs(2)) {
                Ok(s) => {
                    crate::info!("{bridge}: connected to controller {}", c.target);
                    let _ = s.set_nodelay(true);
                    backoff = Duration::from_secs(1);
                    let peer = format!("{}: {addr}", c.target);
                    // The session runs here: one connection at a time.
                    session(
                        &inner2,
                        &bridge,
                        Stream::Tcp(s),
                        Kind::Controller,
                        peer,
                        c.inactivity_probe_ms,
                        &stop,
                    );
                    crate::info!("{bridge}: disconnected from controller {}", c.target);
                }
                Err(e) => {
                    crate::warn!(
                        "{bridge}: connecting to controller {}: {e}; retrying in {} s",
                        c.target,
                        backoff.as_secs()
                    );
                }
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(POLL);
            }
            backoff = (backoff * 2).min(max);
        }
    }))
}

fn spawn_session(
    inner: &Arc<Inner>,
    bridge: &str,
    s: Stream,
    kind: Kind,
    peer: String,
    probe_ms: u64,
) {
    let inner = inner.clone();
    let bridge = bridge.to_string();
    let _ = std::thread::Builder::new()
        .name(format!("ofconn-{bridge}"))
        .spawn(move || {
            let never = AtomicBool::new(false);
            session(&inner, &bridge, s, kind, peer, probe_ms, &never);
        });
}

/// Runs one connection until the peer goes away, the bridge is removed,
/// or `stop` is set.
fn session(
    inner: &Arc<Inner>,
    bridge: &str,
    mut s: Stream,
    kind: Kind,
    peer: String,
    probe_ms: u64,
    stop: &AtomicBool,
) {
    let Ok(mut w) = s.try_clone() else {
        return;
    };
    w.set_write_timeout(Some(Duration::from_secs(5)));
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(SEND_QUEUE);
    let conn = Arc::new(Conn {
        id: inner.next_id.fetch_add(1, Ordering::Relaxed),
        kind,
        peer,
        tx,
        role: Mutex::new(ControllerRole::Equal),
        async_cfg: Mutex::new(AsyncConfig::default()),
        miss_send_len: AtomicU16::new(DEFAULT_MISS_SEND_LEN),
        ready: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    {
        let mut bridges = lock(&inner.bridges);
        match bridges.get_mut(bridge) {
            Some(b) => b.conns.push(conn.clone()),
            None => return,
        }
    }
    let writer = std::thread::Builder::new()
        .name(format!("ofwrite-{bridge}"))
        .spawn(move || {
            for b in rx {
                if w.write_all(&b).is_err() {
                    break;
                }
            }
            w.shutdown();
        });
    conn.send(&Message::hello(0));
    let _ = s.set_read_timeout(Some(POLL));
    let mut framer = MessageFramer::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_rx = Instant::now();
    let mut probe_sent = false;
    let mut pending: Vec<(Vec<u8>, FlowMod, u32)> = Vec::new();
    'outer: loop {
        if stop.load(Ordering::Relaxed)
            || conn.closed.load(Ordering::Relaxed)
            || inner.stop.load(Ordering::Relaxed)
        {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                last_rx = Instant::now();
                probe_sent = false;
                framer.push(&buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if probe_ms > 0 && conn.ready.load(Ordering::Relaxed) {
                    let idle = last_rx.elapsed();
                    if idle >= Duration::from_millis(probe_ms * 2) && probe_sent {
                        crate::warn!(
                            "{bridge}: {}: no answer to an echo request in {} ms; disconnecting",
                            conn.peer,
                            probe_ms
                        );
                        break;
                    }
                    if idle >= Duration::from_millis(probe_ms) && !probe_sent {
                        conn.send(&Message::new(0, MessageBody::EchoRequest(Vec::new())));
                        probe_sent = true;
                    }
                }
                continue;
            }
            Err(_) => break,
        }
        loop {
            let raw = match framer.next_message() {
                Ok(Some(m)) => m.to_vec(),
                Ok(None) => break,
                Err(e) => {
                    // The stream cannot be framed any more.
                    let hdr = framer_error_header(&e);
                    conn.send(&Message::error_reply(&e, &hdr));
                    break 'outer;
                }
            };
            if !conn.ready.load(Ordering::Relaxed) {
                if !handshake(inner, bridge, &conn, &raw) {
                    break 'outer;
                }
                continue;
            }
            let msg = match Message::parse(&raw).and_then(|m| m.validate().map(|_| m)) {
                Ok(m) => m,
                Err(e) => {
                    flush_flow_mods(inner, bridge, &conn, &mut pending);
                    conn.send(&Message::error_reply(&e, &raw));
                    continue;
                }
            };
            if let MessageBody::FlowMod(fm) = msg.body {
                pending.push((raw, fm, msg.xid));
                continue;
            }
            flush_flow_mods(inner, bridge, &conn, &mut pending);
            handle(inner, bridge, &conn, msg, &raw);
        }
        flush_flow_mods(inner, bridge, &conn, &mut pending);
    }
    conn.closed.store(true, Ordering::Relaxed);
    {
        let mut bridges = lock(&inner.bridges);
        if let Some(b) = bridges.get_mut(bridge) {
            b.conns.retain(|c| c.id != conn.id);
        }
    }
    let dropped = conn.dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        crate::warn!(
            "{bridge}: {}: {dropped} asynchronous messages dropped (the peer was behind)",
            conn.peer
        );
    }
    // Closing the queue lets the writer send what is left (a last ERROR)
    // before the socket closes; its writes time out on a stuck peer.
    drop(conn);
    if let Ok(w) = writer {
        let _ = w.join();
    }
    s.shutdown();
}

/// A header to quote in the ERROR for a stream that cannot be framed.
fn framer_error_header(_e: &OfError) -> Vec<u8> {
    vec![rvs_openflow::OFP_VERSION, 0, 0, 8, 0, 0, 0, 0]
}

/// The first message must be a HELLO with a version in common.
fn handshake(inner: &Arc<Inner>, bridge: &str, conn: &Conn, raw: &[u8]) -> bool {
    let allowed = lock(&inner.bridges)
        .get(bridge)
        .is_some_and(|b| b.cfg.allows_of13());
    let res = match Message::parse(raw) {
        Ok(Message {
            version,
            body: MessageBody::Hello(h),
            ..
        }) => h.negotiate(version).map(|_| ()),
        Ok(_) => Err(OfError::IncompatibleVersion { peer_version: 0 }),
        Err(e) => Err(e),
    };
    let res = res.and(if allowed {
        Ok(())
    } else {
        Err(OfError::IncompatibleVersion {
            peer_version: rvs_openflow::OFP_VERSION,
        })
    });
    match res {
        Ok(()) => {
            conn.ready.store(true, Ordering::Relaxed);
            if conn.kind == Kind::Controller {
                crate::info!("{bridge}: controller {} speaks OpenFlow 1.3", conn.peer);
                refresh_fail_open(inner, bridge);
            }
            true
        }
        Err(e) => {
            crate::warn!("{bridge}: {}: version negotiation failed: {e}", conn.peer);
            let mut m = Message::error_reply(&e, raw);
            if let MessageBody::Error(err) = &mut m.body {
                err.code = ErrorCode::new(ErrorType::HelloFailed, 0);
                err.data = if allowed {
                    b"only OpenFlow 1.3 is supported".to_vec()
                } else {
                    b"Bridge.protocols does not allow OpenFlow 1.3".to_vec()
                };
            }
            conn.send(&m);
            false
        }
    }
}

fn error(xid: u32, kind: ErrorType, code: u16, raw: &[u8]) -> Message {
    Message::new(
        xid,
        MessageBody::Error(ErrorMsg::new(ErrorCode::new(kind, code), raw)),
    )
}

/// Applies the flow-mods that arrived together, publishing once, and
/// answers each failure; sends FLOW_REMOVED for deletions that asked.
fn flush_flow_mods(
    inner: &Arc<Inner>,
    bridge: &str,
    conn: &Conn,
    pending: &mut Vec<(Vec<u8>, FlowMod, u32)>,
) {
    if pending.is_empty() {
        return;
    }
    let batch = std::mem::take(pending);
    if conn.role() == ControllerRole::Slave {
        for (raw, _, xid) in &batch {
            conn.send(&error(
                *xid,
                ErrorType::BadRequest,
                bad_request::IS_SLAVE,
                raw,
            ));
        }
        return;
    }
    let mut errors = Vec::new();
    let mut removed = Vec::new();
    let now = {
        let mut sw = lock(&inner.switch);
        let now = sw.shared.now_ms();
        let applied = sw.modify_tables(bridge, |t| {
            for (raw, fm, xid) in &batch {
                match apply_flow_mod(t, fm, now) {
                    Ok(r) => removed.extend(r),
                    Err(code) => errors.push(Message::new(
                        *xid,
                        MessageBody::Error(ErrorMsg::new(code, raw)),
                    )),
                }
            }
        });
        if applied.is_none() {
            for (raw, _, xid) in &batch {
                errors.push(error(*xid, ErrorType::BadRequest, bad_request::EPERM, raw));
            }
        }
        now
    };
    for e in &errors {
        conn.send(e);
    }
    send_flow_removed(inner, bridge, &removed, FlowRemovedReason::Delete, now);
}

/// Applies one flow-mod to `t`; returns the rules it deleted.
/// Outputs to ports that do not exist (yet) are accepted, as Open vSwitch
/// does: a port added later starts receiving.
fn apply_flow_mod(
    t: &mut FlowTables,
    fm: &FlowMod,
    now_ms: u64,
) -> Result<Vec<Arc<Rule>>, ErrorCode> {
    let code = |e: OfError| e.code();
    let check_table = |id: u8| {
        if id >= N_TABLES && id != table::ALL {
            Err(ErrorCode::new(
                ErrorType::FlowModFailed,
                flow_mod_failed::BAD_TABLE_ID,
            ))
        } else {
            Ok(())
        }
    };
    match fm.command {
        FlowModCommand::Add => {
            check_table(fm.table_id)?;
            let mut rule = compile_rule(fm, now_ms).map_err(code)?;
            check_goto(&rule)?;
            if fm.flags.contains(FlowModFlags::CHECK_OVERLAP) && t.overlaps(&rule) {
                return Err(ErrorCode::new(
                    ErrorType::FlowModFailed,
                    flow_mod_failed::OVERLAP,
                ));
            }
            let existing = t
                .table(rule.table)
                .iter()
                .find(|r| r.priority == rule.priority && r.m.same_as(&rule.m))
                .cloned();
            match existing {
                Some(old) if !fm.flags.contains(FlowModFlags::RESET_COUNTS) => {
                    rule.stats = old.stats.clone();
                }
                Some(_) => {}
                None if t.len() >= MAX_FLOWS => {
                    return Err(ErrorCode::new(
                        ErrorType::FlowModFailed,
                        flow_mod_failed::TABLE_FULL,
                    ))
                }
                None => {}
            }
            t.add(rule);
            Ok(Vec::new())
        }
        FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
            check_table(fm.table_id)?;
            let new = compile_rule(fm, now_ms).map_err(code)?;
            let sel = Selector {
                table: (fm.table_id != table::ALL).then_some(fm.table_id),
                m: &new.m,
                strict_priority: (fm.command == FlowModCommand::ModifyStrict)
                    .then_some(fm.priority),
                cookie: fm.cookie,
                cookie_mask: fm.cookie_mask,
                out_port: crate::ofproto::ofpp::ANY,
            };
            let reset = fm.flags.contains(FlowModFlags::RESET_COUNTS);
            // Check every selected rule first: nothing is half-applied.
            let mut bad = None;
            for r in t.rules().filter(|r| sel.selects(r)) {
                if new.goto.is_some_and(|g| g <= r.table) {
                    bad = Some(ErrorCode::new(
                        ErrorType::BadInstruction,
                        rvs_openflow::error::bad_instruction::BAD_TABLE_ID,
                    ));
                }
            }
            if let Some(b) = bad {
                return Err(b);
            }
            t.modify(&sel, |old| {
                let mut r = Rule::new(old.table, old.priority, old.m, new.actions.clone());
                r.write_actions = new.write_actions.clone();
                r.clear_actions = new.clear_actions;
                r.write_metadata = new.write_metadata;
                r.goto = new.goto;
                r.cookie = old.cookie;
                r.stats = if reset {
                    Arc::default()
                } else {
                    old.stats.clone()
                };
                r.meta = old.meta.clone();
                r.meta.instructions = fm.instructions.clone();
                r
            });
            Ok(Vec::new())
        }
        FlowModCommand::Delete | FlowModCommand::DeleteStrict => {
            let m = crate::ofcompile::compile_match(&fm.match_).map_err(code)?;
            let sel = Selector {
                table: (fm.table_id != table::ALL).then_some(fm.table_id),
                m: &m,
                strict_priority: (fm.command == FlowModCommand::DeleteStrict)
                    .then_some(fm.priority),
                cookie: fm.cookie,
                cookie_mask: fm.cookie_mask,
                out_port: of_port_in(fm.out_port),
            };
            Ok(t.remove(&sel))
        }
        FlowModCommand::Unknown(c) => Err(OfError::BadFlowModCommand { command: c }.code()),
    }
}

fn check_goto(r: &Rule) -> Result<(), ErrorCode> {
    match r.goto {
        Some(g) if g <= r.table || g >= N_TABLES => Err(ErrorCode::new(
            ErrorType::BadInstruction,
            rvs_openflow::error::bad_instruction::BAD_TABLE_ID,
        )),
        _ => Ok(()),
    }
}

fn flow_removed(r: &Rule, reason: FlowRemovedReason, now_ms: u64) -> Message {
    let (packets, bytes) = r.stats.get();
    let age = now_ms.saturating_sub(r.meta.created_ms);
    Message::new(
        0,
        MessageBody::FlowRemoved(FlowRemoved {
            cookie: r.cookie,
            priority: r.priority,
            reason,
            table_id: r.table,
            duration_sec: (age / 1000) as u32,
            duration_nsec: ((age % 1000) * 1_000_000) as u32,
            idle_timeout: r.meta.idle_timeout,
            hard_timeout: r.meta.hard_timeout,
            packet_count: packets,
            byte_count: bytes,
            match_: r.meta.of_match.clone(),
        }),
    )
}

fn send_flow_removed(
    inner: &Inner,
    bridge: &str,
    rules: &[Arc<Rule>],
    reason: FlowRemovedReason,
    now_ms: u64,
) {
    let wanted: Vec<&Arc<Rule>> = rules
        .iter()
        .filter(|r| r.meta.flags.contains(FlowModFlags::SEND_FLOW_REM))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let conns = async_conns(inner, bridge, Async::FlowRemoved, u8::from(reason));
    for r in wanted {
        let m = flow_removed(r, reason, now_ms);
        for c in &conns {
            c.send_async(&m);
        }
    }
}

/// The connections of `bridge` that want this asynchronous message.
fn async_conns(inner: &Inner, bridge: &str, kind: Async, reason: u8) -> Vec<Arc<Conn>> {
    lock(&inner.bridges).get(bridge).map_or(Vec::new(), |b| {
        b.conns
            .iter()
            .filter(|c| c.wants(kind, reason))
            .cloned()
            .collect()
    })
}

/// Answers one request.
fn handle(inner: &Arc<Inner>, bridge: &str, conn: &Conn, msg: Message, raw: &[u8]) {
    let xid = msg.xid;
    let reply = |body| conn.send(&Message::new(xid, body));
    match msg.body {
        MessageBody::EchoRequest(d) => reply(MessageBody::EchoReply(d)),
        MessageBody::EchoReply(_) | MessageBody::Hello(_) => {}
        MessageBody::Error(e) => {
            crate::warn!("{bridge}: {} reported an error: {}", conn.peer, e.code);
        }
        MessageBody::FeaturesRequest => {
            let dpid = lock(&inner.switch).datapath_id(bridge).unwrap_or(0);
            reply(MessageBody::FeaturesReply(SwitchFeatures {
                datapath_id: dpid,
                n_buffers: 0,
                n_tables: N_TABLES,
                auxiliary_id: 0,
                capabilities: Capabilities::FLOW_STATS
                    .with(Capabilities::TABLE_STATS)
                    .with(Capabilities::PORT_STATS),
                reserved: 0,
            }));
        }
        MessageBody::GetConfigRequest => reply(MessageBody::GetConfigReply(SwitchConfig {
            flags: rvs_openflow::ConfigFlags::EMPTY,
            miss_send_len: conn.miss_send_len.load(Ordering::Relaxed),
        })),
        MessageBody::SetConfig(c) => {
            if c.flags != rvs_openflow::ConfigFlags::EMPTY {
                // Fragment handling other than "normal" is not implemented.
                conn.send(&error(
                    xid,
                    ErrorType::SwitchConfigFailed,
                    rvs_openflow::error::switch_config_failed::BAD_FLAGS,
                    raw,
                ));
            } else {
                conn.miss_send_len.store(c.miss_send_len, Ordering::Relaxed);
            }
        }
        MessageBody::BarrierRequest => {
            // Everything before the barrier is in the tables; wait until
            // the datapath threads act on it too.
            let sw = lock(&inner.switch);
            if !sw.wait_revalidated(Duration::from_secs(2)) {
                crate::warn!("{bridge}: a poll-mode thread is slow to revalidate");
            }
            drop(sw);
            reply(MessageBody::BarrierReply);
        }
        MessageBody::RoleRequest(r) => role_request(inner, bridge, conn, xid, r, raw),
        MessageBody::SetAsync(a) => *lock(&conn.async_cfg) = a,
        MessageBody::GetAsyncRequest => reply(MessageBody::GetAsyncReply(*lock(&conn.async_cfg))),
        MessageBody::PacketOut(po) => {
            if conn.role() == ControllerRole::Slave {
                conn.send(&error(
                    xid,
                    ErrorType::BadRequest,
                    bad_request::IS_SLAVE,
                    raw,
                ));
            } else if let Err(e) = packet_out(inner, bridge, &po) {
                conn.send(&Message::new(
                    xid,
                    MessageBody::Error(ErrorMsg::new(e, raw)),
                ));
            }
        }
        MessageBody::MultipartRequest(req) => multipart(inner, bridge, conn, xid, req, raw),
        MessageBody::Experimenter(e) => conn.send(&Message::error_reply(
            &OfError::UnsupportedExperimenter {
                experimenter: e.experimenter,
            },
            raw,
        )),
        other => conn.send(&Message::error_reply(
            &OfError::UnsupportedMessage {
                msg_type: other.msg_type(),
            },
            raw,
        )),
    }
}

fn role_request(inner: &Inner, bridge: &str, conn: &Conn, xid: u32, r: Role, raw: &[u8]) {
    if conn.kind != Kind::Controller && r.role != ControllerRole::NoChange {
        // Roles are for controllers; a service connection stays equal.
        conn.send(&error(
            xid,
            ErrorType::RoleRequestFailed,
            role_request_failed::UNSUP,
            raw,
        ));
        return;
    }
    let mut bridges = lock(&inner.bridges);
    let Some(b) = bridges.get_mut(bridge) else {
        return;
    };
    if matches!(r.role, ControllerRole::Master | ControllerRole::Slave) {
        if let Some(g) = b.generation {
            // Stale if (generation_id - cached) as signed is negative.
            if (r.generation_id.wrapping_sub(g) as i64) < 0 {
                drop(bridges);
                conn.send(&error(
                    xid,
                    ErrorType::RoleRequestFailed,
                    role_request_failed::STALE,
                    raw,
                ));
                return;
            }
        }
        b.generation = Some(r.generation_id);
    }
    if r.role == ControllerRole::Master {
        for c in &b.conns {
            if c.id != conn.id && c.role() == ControllerRole::Master {
                *lock(&c.role) = ControllerRole::Slave;
            }
        }
    }
    if r.role != ControllerRole::NoChange {
        *lock(&conn.role) = r.role;
    }
    let generation_id = b.generation.unwrap_or(0);
    drop(bridges);
    conn.send(&Message::new(
        xid,
        MessageBody::RoleReply(Role {
            role: conn.role(),
            generation_id,
        }),
    ));
}

fn packet_out(inner: &Inner, bridge: &str, po: &PacketOut) -> Result<(), ErrorCode> {
    if po.buffer_id != NO_BUFFER {
        return Err(ErrorCode::new(
            ErrorType::BadRequest,
            bad_request::BUFFER_UNKNOWN,
        ));
    }
    let actions = compile_actions(&po.actions, ActionContext::PacketOut).map_err(|e| e.code())?;
    let sw = lock(&inner.switch);
    let ports = sw.bridge_ports(bridge);
    let in_port = of_port_in(po.in_port);
    let in_dp = ports
        .iter()
        .find(|p| p.ofport == in_port)
        .map(|p| p.dp_port);
    if in_dp.is_none() && po.in_port.0 <= PortNo::MAX.0 {
        return Err(OfError::BadPort { port: po.in_port }.code());
    }
    for a in &actions {
        if let crate::ofproto::OfAction::Output(p) = a {
            if *p <= crate::ofproto::ofpp::MAX && !ports.iter().any(|x| x.ofport == *p) {
                return Err(ErrorCode::new(
                    ErrorType::BadAction,
                    rvs_openflow::error::bad_action::BAD_OUT_PORT,
                ));
            }
        }
    }
    let set = sw.shared.bridges.load();
    let Some(br) = set.bridges.iter().find(|b| b.name == bridge) else {
        return Err(ErrorCode::new(ErrorType::BadRequest, bad_request::EPERM));
    };
    let (mut key, _) = rvs_datapath::extract(&po.data, 0);
    key.set_in_port(in_port);
    let now = sw.shared.epoch.elapsed().as_secs();
    let t = {
        let macs = lock(&sw.shared.macs);
        let empty = crate::mac_learning::MacTable::default();
        let mac = macs.get(bridge).unwrap_or(&empty);
        translate_packet_out(br, &key, mac, now, &actions)
    };
    if t.actions.is_empty() {
        return Ok(());
    }
    // The PMD that owns the first output port runs it.
    let first_out = t.actions.iter().find_map(|a| match a {
        rvs_datapath::Action::Output(p) => Some(*p),
        _ => None,
    });
    let pmd = first_out
        .and_then(|p| sw.pmd_of(p))
        .or_else(|| sw.pmds().first());
    if let Some(pmd) = pmd {
        pmd.send(PmdCmd::Execute {
            in_port: in_dp.unwrap_or(u32::MAX),
            data: po.data.clone(),
            actions: t.actions,
        });
    }
    Ok(())
}

/// What table `t` of the pipeline can do, as TABLE_FEATURES says it: what
/// [`crate::ofcompile`] accepts.
fn table_features(t: u8) -> TableFeatures {
    use rvs_openflow::action::action_type as a;
    use rvs_openflow::instruction::instruction_type as i;
    use rvs_openflow::oxm::{basic_oxm_id, ofb};
    use rvs_openflow::TableFeatureProp as P;
    let maskable = [
        ofb::METADATA,
        ofb::ETH_DST,
        ofb::ETH_SRC,
        ofb::VLAN_VID,
        ofb::IPV4_SRC,
        ofb::IPV4_DST,
        ofb::TCP_SRC,
        ofb::TCP_DST,
        ofb::UDP_SRC,
        ofb::UDP_DST,
        ofb::SCTP_SRC,
        ofb::SCTP_DST,
        ofb::ARP_SPA,
        ofb::ARP_TPA,
        ofb::ARP_SHA,
        ofb::ARP_THA,
        ofb::IPV6_SRC,
        ofb::IPV6_DST,
        ofb::IPV6_FLABEL,
    ];
    let exact = [
        ofb::IN_PORT,
        ofb::ETH_TYPE,
        ofb::VLAN_PCP,
        ofb::IP_DSCP,
        ofb::IP_ECN,
        ofb::IP_PROTO,
        ofb::ICMPV4_TYPE,
        ofb::ICMPV4_CODE,
        ofb::ARP_OP,
        ofb::ICMPV6_TYPE,
        ofb::ICMPV6_CODE,
    ];
    // MATCH says which fields take a mask; WILDCARDS lists plain ids.
    let mut fields: Vec<u32> = maskable
        .iter()
        .filter_map(|f| basic_oxm_id(*f, true))
        .chain(exact.iter().filter_map(|f| basic_oxm_id(*f, false)))
        .collect();
    fields.sort_unstable();
    let mut wildcards: Vec<u32> = maskable
        .iter()
        .chain(&exact)
        .filter_map(|f| basic_oxm_id(*f, false))
        .collect();
    wildcards.sort_unstable();
    let settable: Vec<u32> = [
        ofb::ETH_DST,
        ofb::ETH_SRC,
        ofb::VLAN_VID,
        ofb::VLAN_PCP,
        ofb::IPV4_SRC,
        ofb::IPV4_DST,
        ofb::TCP_SRC,
        ofb::TCP_DST,
        ofb::UDP_SRC,
        ofb::UDP_DST,
    ]
    .iter()
    .filter_map(|f| basic_oxm_id(*f, false))
    .collect();
    let actions = vec![
        a::OUTPUT,
        a::PUSH_VLAN,
        a::POP_VLAN,
        a::DEC_NW_TTL,
        a::SET_FIELD,
    ];
    let mut instructions = vec![
        i::WRITE_METADATA,
        i::WRITE_ACTIONS,
        i::APPLY_ACTIONS,
        i::CLEAR_ACTIONS,
    ];
    if t + 1 < N_TABLES {
        instructions.insert(0, i::GOTO_TABLE);
    }
    let props = [
        P::Instructions(instructions),
        P::NextTables((t.saturating_add(1)..N_TABLES).collect()),
        P::WriteActions(actions.clone()),
        P::ApplyActions(actions),
        P::Match(fields),
        P::Wildcards(wildcards),
        P::WriteSetfield(settable.clone()),
        P::ApplySetfield(settable),
    ];
    TableFeatures {
        table_id: t,
        name: String::new(),
        metadata_match: u64::MAX,
        metadata_write: u64::MAX,
        config: 0,
        max_entries: MAX_FLOWS as u32,
        properties: TableFeatureProp::encode_all(&props),
    }
}

/// The OpenFlow description of a port.
fn port_desc(p: &PortInfo, link_up: bool) -> Port {
    Port {
        port_no: of_port_out(p.ofport),
        hw_addr: MacAddr(p.mac),
        name: p.name.clone(),
        config: PortConfig::EMPTY,
        state: if link_up {
            PortState::LIVE
        } else {
            PortState::LINK_DOWN
        },
        curr: PortFeatures::RATE_10GB_FD.with(PortFeatures::COPPER),
        advertised: PortFeatures::EMPTY,
        supported: PortFeatures::EMPTY,
        peer: PortFeatures::EMPTY,
        curr_speed: 10_000_000,
        max_speed: 0,
    }
}

fn multipart(
    inner: &Inner,
    bridge: &str,
    conn: &Conn,
    xid: u32,
    req: MultipartRequest,
    raw: &[u8],
) {
    let body = match req.body {
        MultipartRequestBody::Desc => MultipartReplyBody::Desc(SwitchDesc {
            mfr_desc: "rvs".into(),
            hw_desc: "rvs userspace switch".into(),
            sw_desc: env!("CARGO_PKG_VERSION").into(),
            serial_num: "None".into(),
            dp_desc: bridge.into(),
        }),
        MultipartRequestBody::Flow(f) => match flow_stats(inner, bridge, &f) {
            Ok(v) => MultipartReplyBody::Flow(v),
            Err(e) => {
                conn.send(&Message::error_reply(&e, raw));
                return;
            }
        },
        MultipartRequestBody::Aggregate(f) => match flow_stats(inner, bridge, &f) {
            Ok(v) => MultipartReplyBody::Aggregate(AggregateStats {
                packet_count: v.iter().map(|s| s.packet_count).sum(),
                byte_count: v.iter().map(|s| s.byte_count).sum(),
                flow_count: v.len() as u32,
            }),
            Err(e) => {
                conn.send(&Message::error_reply(&e, raw));
                return;
            }
        },
        MultipartRequestBody::Table => {
            let sw = lock(&inner.switch);
            let t = sw.tables(bridge);
            let c = sw.table_counters(bridge);
            MultipartReplyBody::Table(
                (0..N_TABLES)
                    .map(|i| {
                        let (lookup, matched) = c.get(i);
                        TableStats {
                            table_id: i,
                            active_count: t.table(i).len() as u32,
                            lookup_count: lookup,
                            matched_count: matched,
                        }
                    })
                    .collect(),
            )
        }
        MultipartRequestBody::PortStats(which) => {
            let sw = lock(&inner.switch);
            let ports = sw.bridge_ports(bridge);
            let reports = sw.port_reports();
            drop(sw);
            let want = of_port_in(which);
            if which != PortNo::ANY && !ports.iter().any(|p| p.ofport == want) {
                conn.send(&Message::error_reply(
                    &OfError::BadPort { port: which },
                    raw,
                ));
                return;
            }
            MultipartReplyBody::PortStats(
                ports
                    .iter()
                    .filter(|p| which == PortNo::ANY || p.ofport == want)
                    .map(|p| {
                        let s = reports.get(&p.dp_port).map(|r| r.stats).unwrap_or_default();
                        PortStats {
                            port_no: of_port_out(p.ofport),
                            rx_packets: s.rx_packets,
                            tx_packets: s.tx_packets,
                            rx_bytes: s.rx_bytes,
                            tx_bytes: s.tx_bytes,
                            rx_dropped: s.rx_dropped,
                            tx_dropped: s.tx_dropped,
                            rx_errors: 0,
                            tx_errors: 0,
                            rx_frame_err: 0,
                            rx_over_err: 0,
                            rx_crc_err: 0,
                            collisions: 0,
                            duration_sec: p.age.as_secs() as u32,
                            duration_nsec: p.age.subsec_nanos(),
                        }
                    })
                    .collect(),
            )
        }
        MultipartRequestBody::PortDesc => {
            MultipartReplyBody::PortDesc(current_ports(inner, bridge).into_values().collect())
        }
        MultipartRequestBody::TableFeatures(set) => {
            if !set.is_empty() {
                // Reconfiguring the pipeline is not supported.
                conn.send(&error(
                    xid,
                    ErrorType::TableFeaturesFailed,
                    rvs_openflow::error::table_features_failed::EPERM,
                    raw,
                ));
                return;
            }
            MultipartReplyBody::TableFeatures((0..N_TABLES).map(table_features).collect())
        }
        MultipartRequestBody::Other { mp_type, .. } => {
            conn.send(&Message::error_reply(
                &OfError::UnsupportedMultipart { mp_type },
                raw,
            ));
            return;
        }
    };
    match split_multipart_reply(xid, body, rvs_openflow::MAX_MESSAGE_LEN) {
        Ok(msgs) => {
            for m in &msgs {
                conn.send(m);
            }
        }
        Err(e) => conn.send(&Message::error_reply(&e, raw)),
    }
}

fn flow_stats(
    inner: &Inner,
    bridge: &str,
    f: &FlowStatsRequest,
) -> Result<Vec<FlowStats>, OfError> {
    let m = crate::ofcompile::compile_match(&f.match_)?;
    let sel = Selector {
        table: (f.table_id != table::ALL).then_some(f.table_id),
        m: &m,
        strict_priority: None,
        cookie: f.cookie,
        cookie_mask: f.cookie_mask,
        out_port: of_port_in(f.out_port),
    };
    let sw = lock(&inner.switch);
    let now = sw.shared.now_ms();
    let t = sw.tables(bridge);
    drop(sw);
    Ok(t.rules()
        .filter(|r| sel.selects(r))
        .map(|r| {
            let (packets, bytes) = r.stats.get();
            let age = now.saturating_sub(r.meta.created_ms);
            FlowStats {
                table_id: r.table,
                duration_sec: (age / 1000) as u32,
                duration_nsec: ((age % 1000) * 1_000_000) as u32,
                priority: r.priority,
                idle_timeout: r.meta.idle_timeout,
                hard_timeout: r.meta.hard_timeout,
                flags: r.meta.flags,
                cookie: r.cookie,
                packet_count: packets,
                byte_count: bytes,
                match_: r.meta.of_match.clone(),
                instructions: r.meta.instructions.clone(),
            }
        })
        .collect())
}

fn current_ports(inner: &Inner, bridge: &str) -> BTreeMap<OfPort, Port> {
    let reports = lock(&inner.switch).port_reports();
    ports_of(inner, bridge, &reports)
}

/// The OpenFlow descriptions of `bridge`'s ports, their link state from
/// `reports` (one round of PMD reports can serve every bridge).
fn ports_of(
    inner: &Inner,
    bridge: &str,
    reports: &std::collections::HashMap<rvs_datapath::PortNo, crate::pmd::PortReport>,
) -> BTreeMap<OfPort, Port> {
    let ports = lock(&inner.switch).bridge_ports(bridge);
    ports
        .iter()
        .map(|p| {
            let up = reports.get(&p.dp_port).is_none_or(|r| r.link_up);
            (p.ofport, port_desc(p, up))
        })
        .collect()
}

/// Turns packets the datapath queued for the controller into PACKET_INs.
fn dispatch(inner: &Arc<Inner>, stop: &AtomicBool) {
    let (rx, shared) = {
        let sw = lock(&inner.switch);
        (sw.shared.packet_in_rx.clone(), sw.shared.clone())
    };
    while !stop.load(Ordering::Relaxed) {
        let Ok(ev) = rx.recv_timeout(POLL) else {
            continue;
        };
        let set = shared.bridges.load();
        let Some(&bi) = set.by_dp.get(&ev.dp_port) else {
            continue;
        };
        let br = &set.bridges[bi];
        let (Some(&in_port), Some(spec)) = (br.by_dp.get(&ev.dp_port), br.specs.get(ev.cookie))
        else {
            continue;
        };
        let reason = if spec.table_miss {
            PacketInReason::NoMatch
        } else {
            PacketInReason::Action
        };
        let conns = async_conns(inner, &br.name, Async::PacketIn, u8::from(reason));
        if conns.is_empty() {
            continue;
        }
        let max = if spec.max_len == rvs_openflow::types::controller_max_len::NO_BUFFER {
            usize::MAX
        } else {
            usize::from(spec.max_len)
        };
        // One message for every controller that wants it.
        let msg = Message::new(
            0,
            MessageBody::PacketIn(PacketIn {
                buffer_id: NO_BUFFER,
                total_len: ev.data.len().min(usize::from(u16::MAX)) as u16,
                reason,
                table_id: spec.table,
                cookie: spec.cookie,
                match_: packet_in_match(in_port, 0),
                data: ev.data[..ev.data.len().min(max)].to_vec(),
            }),
        );
        for c in conns {
            c.send_async(&msg);
        }
    }
}

/// Enters fail-open when a standalone bridge with controllers has none
/// connected, and leaves it when one connects.
fn refresh_fail_open(inner: &Inner, bridge: &str) {
    let want = {
        let bridges = lock(&inner.bridges);
        let Some(b) = bridges.get(bridge) else {
            return;
        };
        b.cfg.fail_mode == FailMode::Standalone
            && !b.cfg.controllers.is_empty()
            && !b
                .conns
                .iter()
                .any(|c| c.kind == Kind::Controller && c.ready.load(Ordering::Relaxed))
    };
    let mut sw = lock(&inner.switch);
    if sw.is_fail_open(bridge) != want {
        sw.set_fail_open(bridge, want);
    }
}

/// Periodic work: flow timeouts, port changes, fail-open.
fn tick(inner: &Inner) {
    let names: Vec<String> = lock(&inner.bridges).keys().cloned().collect();
    if names.is_empty() {
        return;
    }
    let reports = lock(&inner.switch).port_reports();
    for bridge in names {
        refresh_fail_open(inner, &bridge);
        expire_flows(inner, &bridge);
        port_changes(inner, &bridge, &reports);
    }
}

fn expire_flows(inner: &Inner, bridge: &str) {
    let (now, tables) = {
        let sw = lock(&inner.switch);
        (sw.shared.now_ms(), sw.tables(bridge))
    };
    let mut idle = Vec::new();
    let mut hard = Vec::new();
    for r in tables.rules() {
        let m = &r.meta;
        if m.hard_timeout > 0 && now >= m.created_ms + u64::from(m.hard_timeout) * 1000 {
            hard.push(r.clone());
        } else if m.idle_timeout > 0 {
            // Traffic is credited about once a second: allow for that.
            let used = r.stats.used_ms.load(Ordering::Relaxed).max(m.created_ms);
            if now >= used + u64::from(m.idle_timeout) * 1000 + 1000 {
                idle.push(r.clone());
            }
        }
    }
    if idle.is_empty() && hard.is_empty() {
        return;
    }
    let (gone_idle, gone_hard) = {
        let mut sw = lock(&inner.switch);
        sw.modify_tables(bridge, |t| (t.remove_rules(&idle), t.remove_rules(&hard)))
            .unwrap_or_default()
    };
    send_flow_removed(
        inner,
        bridge,
        &gone_idle,
        FlowRemovedReason::IdleTimeout,
        now,
    );
    send_flow_removed(
        inner,
        bridge,
        &gone_hard,
        FlowRemovedReason::HardTimeout,
        now,
    );
}

fn port_changes(
    inner: &Inner,
    bridge: &str,
    reports: &std::collections::HashMap<rvs_datapath::PortNo, crate::pmd::PortReport>,
) {
    let now = ports_of(inner, bridge, reports);
    let mut msgs = Vec::new();
    {
        let mut bridges = lock(&inner.bridges);
        let Some(b) = bridges.get_mut(bridge) else {
            return;
        };
        for (no, p) in &now {
            match b.ports.get(no) {
                None => msgs.push((PortReason::Add, p.clone())),
                Some(old) if old != p => msgs.push((PortReason::Modify, p.clone())),
                _ => {}
            }
        }
        for (no, p) in &b.ports {
            if !now.contains_key(no) {
                msgs.push((PortReason::Delete, p.clone()));
            }
        }
        b.ports = now;
    }
    if msgs.is_empty() {
        return;
    }
    for (reason, port) in msgs {
        let m = Message::new(0, MessageBody::PortStatus(PortStatus { reason, port }));
        for c in async_conns(inner, bridge, Async::PortStatus, u8::from(reason)) {
            c.send_async(&m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_targets_parse_with_openflow_defaults() {
        assert_eq!(ptcp_addr("").as_deref(), Some("127.0.0.1:6653"));
        assert_eq!(ptcp_addr("6633").as_deref(), Some("127.0.0.1:6633"));
        assert_eq!(ptcp_addr("6633:0.0.0.0").as_deref(), Some("0.0.0.0:6633"));
        assert_eq!(ptcp_addr("x"), None);
        assert_eq!(
            tcp_addr("127.0.0.1:6653").as_deref(),
            Some("127.0.0.1:6653")
        );
        assert_eq!(tcp_addr("127.0.0.1").as_deref(), Some("127.0.0.1:6653"));
        assert_eq!(tcp_addr("[::1]:7000").as_deref(), Some("[::1]:7000"));
        assert_eq!(tcp_addr("nohost:1"), None);
    }
}
