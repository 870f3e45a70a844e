//! The OVSDB JSON-RPC server: databases behind unix and TCP sockets.
//!
//! One thread reads each connection and one writes it; every request is
//! handled under one lock on the server state, so transactions are
//! serialized. A commit is appended to the database file and synced before
//! it is applied, and before anyone (the client that sent it included) hears
//! of it. Replies and notifications for a connection go through its bounded
//! outgoing queue: a client that stops reading is disconnected when its
//! queue fills, instead of holding up the server (Open vSwitch behaves the
//! same way with its backlog limit).
//!
//! Methods: `list_dbs`, `get_schema`, `transact`, `cancel`, `monitor`,
//! `monitor_cond`, `monitor_cond_since`, `monitor_cond_change`,
//! `monitor_cancel`, `lock`, `steal`, `unlock`, `echo`, `get_server_id`,
//! `set_db_change_aware`. The `_Server` database describes the others.

use crate::db::Database;
use crate::error::{Error, ErrorKind};
use crate::jsonrpc::{self, FrameError, Framer, Message};
use crate::monitor::{Flavor, Monitor};
use crate::schema::{server_schema, DatabaseSchema};
use crate::storage::{Storage, StorageError};
use crate::txn::{self, Outcome};
use crate::types::Uuid;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Messages a connection may have queued before it counts as stuck.
pub const SEND_QUEUE: usize = 4096;

/// Why the server could not start or listen.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// the database file could not be opened or created
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// a remote is not of a supported form
    #[error("remote {0:?} is not supported: use punix:PATH or ptcp:PORT[:ADDRESS]")]
    BadRemote(String),
    /// listening failed
    #[error("cannot listen on {remote}: {source}")]
    Listen {
        remote: String,
        #[source]
        source: io::Error,
    },
    /// two databases with one name
    #[error("two databases are named {0}")]
    DuplicateName(String),
}

/// A byte stream: a unix or TCP connection.
#[derive(Debug)]
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }

    fn shutdown(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

struct Served {
    db: Database,
    storage: Option<Storage>,
}

struct Session {
    out: SyncSender<Vec<u8>>,
    closer: Stream,
    peer: String,
    /// Monitors by the JSON text of their id.
    monitors: HashMap<String, (Value, Monitor)>,
    locks: HashSet<String>,
    dead: bool,
}

impl Session {
    /// Queues a message; a full queue means the client is not reading, and
    /// it is disconnected.
    fn send(&mut self, v: &Value) {
        if self.dead {
            return;
        }
        let bytes = serde_json::to_vec(v).expect("JSON values serialize");
        match self.out.try_send(bytes) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                eprintln!(
                    "rvs-ovsdb-server: {}: disconnecting: too many messages queued and not read",
                    self.peer
                );
                self.dead = true;
                self.closer.shutdown();
            }
            Err(TrySendError::Disconnected(_)) => self.dead = true,
        }
    }
}

struct Pending {
    session: u64,
    id: Value,
    db: String,
    ops: Vec<Value>,
    arrived: Instant,
    deadline_ms: Option<u64>,
}

#[derive(Default)]
struct LockState {
    owner: Option<u64>,
    waiters: VecDeque<u64>,
}

struct State {
    dbs: BTreeMap<String, Served>,
    sessions: HashMap<u64, Session>,
    locks: HashMap<String, LockState>,
    pending: Vec<Pending>,
    /// Messages waiting for commits to reach the disk, in send order.
    held: Vec<(u64, Value)>,
    /// Commits were written but not yet synced.
    dirty: bool,
    /// Counts commits written, and those known synced.
    written_gen: u64,
    synced_gen: u64,
}

/// A running database server.
pub struct Server {
    state: Mutex<State>,
    /// Wakes the syncer when commits were written.
    sync_wanted: Condvar,
    /// Wakes in-process transactions when a sync finished.
    synced: Condvar,
    next_session: AtomicU64,
    server_id: Uuid,
    send_queue: AtomicU64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("server_id", &self.server_id)
            .finish()
    }
}

struct Locked<'a>(MutexGuard<'a, State>, &'a Server);

impl txn::Session for (&State, u64) {
    fn owns_lock(&self, name: &str) -> bool {
        self.0.locks.get(name).and_then(|l| l.owner) == Some(self.1)
    }
}

impl Server {
    /// A server for the databases in `files`, each created with `schema`
    /// when missing. Reports torn tails it cut off on stderr.
    pub fn open(files: &[PathBuf], schema: &DatabaseSchema) -> Result<Arc<Server>, ServerError> {
        let mut dbs = BTreeMap::new();
        for f in files {
            let (storage, db) = if f.exists() {
                let (st, db, report) = Storage::open(f)?;
                if let Some((off, n)) = report.truncated {
                    eprintln!(
                        "rvs-ovsdb-server: {}: cut off an incomplete last record ({n} bytes at offset {off}) left by a crash; no acknowledged transaction was in it",
                        f.display()
                    );
                }
                (st, db)
            } else {
                let st = Storage::create(f, schema)?;
                (st, Database::new(Arc::new(schema.clone())))
            };
            let name = db.name().to_string();
            if dbs.contains_key(&name) {
                return Err(ServerError::DuplicateName(name));
            }
            dbs.insert(
                name,
                Served {
                    db,
                    storage: Some(storage),
                },
            );
        }
        let server = Server::with_databases(dbs);
        server.start_background();
        Ok(server)
    }

    /// A server holding `db` in memory only (for tests and tools).
    pub fn in_memory(db: Database) -> Arc<Server> {
        let mut dbs = BTreeMap::new();
        dbs.insert(db.name().to_string(), Served { db, storage: None });
        let server = Server::with_databases(dbs);
        server.start_background();
        server
    }

    fn with_databases(mut dbs: BTreeMap<String, Served>) -> Arc<Server> {
        // The _Server database: one row per database, itself included.
        let mut sdb = Database::new(Arc::new(server_schema()));
        let mut names: Vec<(String, Value)> = dbs
            .iter()
            .map(|(n, s)| (n.clone(), s.db.schema.to_json()))
            .collect();
        names.push(("_Server".into(), sdb.schema.to_json()));
        let ops: Vec<Value> = names
            .into_iter()
            .map(|(name, schema)| {
                json!({"op": "insert", "table": "Database", "row": {
                    "name": name, "model": "standalone", "connected": true, "leader": true,
                    "schema": serde_json::to_string(&schema).expect("schemas serialize")}})
            })
            .collect();
        match txn::execute(&sdb, &ops, &txn::NoLocks, 0) {
            Outcome::Done {
                commit: Some(c), ..
            } => sdb.apply(&c),
            other => panic!("building _Server failed: {other:?}"),
        }
        dbs.insert(
            "_Server".into(),
            Served {
                db: sdb,
                storage: None,
            },
        );
        Arc::new(Server {
            state: Mutex::new(State {
                dbs,
                sessions: HashMap::new(),
                locks: HashMap::new(),
                pending: Vec::new(),
                held: Vec::new(),
                dirty: false,
                written_gen: 0,
                synced_gen: 0,
            }),
            sync_wanted: Condvar::new(),
            synced: Condvar::new(),
            next_session: AtomicU64::new(1),
            server_id: Uuid::random(),
            send_queue: AtomicU64::new(SEND_QUEUE as u64),
        })
    }

    fn lock(&self) -> Locked<'_> {
        Locked(self.state.lock().unwrap_or_else(|e| e.into_inner()), self)
    }

    /// Starts listening on `remote` (`punix:PATH` or `ptcp:PORT[:ADDR]`,
    /// loopback by default) in a background thread. Returns what it bound
    /// (the TCP port when 0 was asked for).
    pub fn listen(self: &Arc<Self>, remote: &str) -> Result<String, ServerError> {
        let listen_err = |source| ServerError::Listen {
            remote: remote.to_string(),
            source,
        };
        if let Some(path) = remote.strip_prefix("punix:") {
            let path = PathBuf::from(path);
            if path.exists() {
                // A socket left by a previous run: nothing listens on it any
                // more if connecting fails.
                if UnixStream::connect(&path).is_ok() {
                    return Err(listen_err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "another server is listening there",
                    )));
                }
                let _ = std::fs::remove_file(&path);
            }
            let l = UnixListener::bind(&path).map_err(listen_err)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))
                .map_err(listen_err)?;
            let me = Arc::clone(self);
            thread::Builder::new()
                .name("ovsdb-punix".into())
                .spawn(move || {
                    for c in l.incoming().flatten() {
                        me.accept(Stream::Unix(c), "unix".into());
                    }
                })
                .map_err(listen_err)?;
            Ok(format!("punix:{}", path.display()))
        } else if let Some(rest) = remote.strip_prefix("ptcp:") {
            let (port, addr) = match rest.split_once(':') {
                Some((p, a)) => (p, a.trim_matches(|c| c == '[' || c == ']')),
                None => (rest, "127.0.0.1"),
            };
            let port: u16 = port
                .parse()
                .map_err(|_| ServerError::BadRemote(remote.into()))?;
            let l = TcpListener::bind((addr, port)).map_err(listen_err)?;
            let bound = l.local_addr().map_err(listen_err)?;
            let me = Arc::clone(self);
            thread::Builder::new()
                .name("ovsdb-ptcp".into())
                .spawn(move || {
                    for c in l.incoming().flatten() {
                        let peer = c.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                        let _ = c.set_nodelay(true);
                        me.accept(Stream::Tcp(c), peer);
                    }
                })
                .map_err(listen_err)?;
            Ok(format!("ptcp:{}:{}", bound.port(), bound.ip()))
        } else {
            Err(ServerError::BadRemote(remote.into()))
        }
    }

    /// How many messages a connection may have queued, unread, before it is
    /// dropped (for connections accepted from now on).
    pub fn set_send_queue(&self, n: usize) {
        self.send_queue.store(n.max(1) as u64, Ordering::Relaxed);
    }

    /// Starts the background threads: the one that syncs written commits to
    /// disk (several clients' commits per sync) and releases what waited for
    /// them, and the one that times out blocked transactions.
    fn start_background(self: &Arc<Self>) {
        let syncer = Arc::clone(self);
        thread::Builder::new()
            .name("ovsdb-sync".into())
            .spawn(move || syncer.sync_loop())
            .expect("spawn a thread");
        let me = Arc::clone(self);
        thread::Builder::new()
            .name("ovsdb-timers".into())
            .spawn(move || loop {
                thread::sleep(Duration::from_millis(50));
                let mut st = me.lock();
                st.retry_pending(|p| {
                    p.deadline_ms
                        .is_some_and(|d| p.arrived.elapsed().as_millis() as u64 >= d)
                });
            })
            .expect("spawn a thread");
    }

    fn sync_loop(&self) {
        loop {
            let (files, watermark, gen) = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                while !st.dirty {
                    st = self.sync_wanted.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                st.dirty = false;
                let mut files = Vec::new();
                for s in st.dbs.values() {
                    if let Some(storage) = &s.storage {
                        match storage.sync_handle() {
                            Ok(f) => files.push((storage.path().to_path_buf(), f)),
                            Err(e) => fatal_sync(&e.to_string()),
                        }
                    }
                }
                (files, st.held.len(), st.written_gen)
            };
            for (path, f) in files {
                if let Err(e) = f.sync_data() {
                    fatal_sync(&format!("{}: {e}", path.display()));
                }
            }
            let mut st = self.lock();
            st.0.synced_gen = gen;
            let mut release: Vec<(u64, Value)> = st.0.held.drain(..watermark).collect();
            if !st.0.dirty {
                // What was queued since does not wait on an unsynced commit.
                release.append(&mut st.0.held);
            }
            for (sid, m) in release {
                if let Some(s) = st.0.sessions.get_mut(&sid) {
                    s.send(&m);
                }
            }
            self.synced.notify_all();
        }
    }

    /// Serves one connection (in two threads of its own).
    pub fn accept(self: &Arc<Self>, stream: Stream, peer: String) {
        let (Ok(reader), Ok(closer)) = (stream.try_clone(), stream.try_clone()) else {
            return;
        };
        let (tx, rx) = sync_channel::<Vec<u8>>(self.send_queue.load(Ordering::Relaxed) as usize);
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        self.lock().0.sessions.insert(
            id,
            Session {
                out: tx,
                closer,
                peer: peer.clone(),
                monitors: HashMap::new(),
                locks: HashSet::new(),
                dead: false,
            },
        );
        let writer_stream = stream;
        let _ = thread::Builder::new()
            .name("ovsdb-tx".into())
            .spawn(move || write_loop(writer_stream, rx));
        let me = Arc::clone(self);
        let _ = thread::Builder::new()
            .name("ovsdb-rx".into())
            .spawn(move || {
                me.read_loop(id, reader, &peer);
                me.close_session(id);
            });
    }

    fn read_loop(&self, id: u64, mut reader: Stream, peer: &str) {
        let mut framer = Framer::default();
        loop {
            let msg = match framer.read_message(&mut reader) {
                Ok(m) => m,
                Err(FrameError::Closed) => return,
                Err(e) => {
                    eprintln!("rvs-ovsdb-server: {peer}: closing the connection: {e}");
                    return;
                }
            };
            let msg = match Message::parse(msg) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("rvs-ovsdb-server: {peer}: closing the connection: {e}");
                    return;
                }
            };
            let mut st = self.lock();
            if st.0.sessions.get(&id).is_none_or(|s| s.dead) {
                return;
            }
            match msg {
                Message::Request {
                    method,
                    params,
                    id: rid,
                } => {
                    if let Some(reply) = st.handle(self, id, &method, &params, &rid) {
                        st.send(id, &reply);
                    }
                }
                Message::Notification { method, params } => {
                    if method == "cancel" {
                        st.cancel(id, &params);
                    }
                }
                // Replies to our echo probes: nothing to do.
                Message::Response { .. } => {}
            }
        }
    }

    fn close_session(&self, id: u64) {
        let mut st = self.lock();
        if let Some(s) = st.0.sessions.remove(&id) {
            s.closer.shutdown();
            for name in s.locks {
                st.release_lock(&name, id);
            }
        }
        for l in st.0.locks.values_mut() {
            l.waiters.retain(|w| *w != id);
        }
        st.0.pending.retain(|p| p.session != id);
    }

    /// Runs a transaction from inside the process (the embedded server's
    /// owner uses this), exactly as a client's `transact` would.
    pub fn transact(&self, db: &str, ops: &[Value]) -> Result<Vec<Value>, Error> {
        let mut st = self.lock();
        let r = st.commit_ops(db, ops, &txn::NoLocks)?;
        // Return only once the commit is on disk.
        let gen = st.0.written_gen;
        let mut g = st.0;
        while g.synced_gen < gen {
            g = self.synced.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        Ok(r)
    }

    /// The database named `name`, read under the server lock.
    pub fn with_db<R>(&self, name: &str, f: impl FnOnce(&Database) -> R) -> Option<R> {
        let st = self.lock();
        st.0.dbs.get(name).map(|s| f(&s.db))
    }
}

/// A commit was written but cannot be made durable: acknowledging anything
/// after this could lose it, so stop. Nothing unsynced was acknowledged, and
/// a restart recovers the file.
fn fatal_sync(what: &str) -> ! {
    eprintln!("rvs-ovsdb-server: cannot sync the database file ({what}); exiting so that no unsynced transaction is acknowledged");
    std::process::exit(1);
}

fn write_loop(mut s: Stream, rx: Receiver<Vec<u8>>) {
    for msg in rx {
        if s.write_all(&msg).is_err() {
            s.shutdown();
            return;
        }
    }
}

fn err_unknown_db(name: &str) -> Error {
    Error::new(
        ErrorKind::UnknownDatabase,
        format!("there is no database named {name:?}"),
    )
}

impl Locked<'_> {
    /// Sends a message to a session, after any messages still waiting for a
    /// sync (so that no message overtakes an earlier one).
    fn send(&mut self, session: u64, v: &Value) {
        if !self.0.held.is_empty() || self.0.dirty {
            self.0.held.push((session, v.clone()));
            return;
        }
        if let Some(s) = self.0.sessions.get_mut(&session) {
            s.send(v);
        }
    }

    /// Handles one request; `None` when the reply comes later (a blocked
    /// transaction).
    fn handle(
        &mut self,
        server: &Server,
        session: u64,
        method: &str,
        params: &Value,
        rid: &Value,
    ) -> Option<Value> {
        let p = params.as_array().cloned().unwrap_or_default();
        let result: Result<Value, Error> = match method {
            "echo" => Ok(params.clone()),
            "list_dbs" => Ok(json!(self.0.dbs.keys().collect::<Vec<_>>())),
            "get_schema" => p
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| Error::syntax("get_schema takes [db-name]"))
                .and_then(|n| {
                    self.0
                        .dbs
                        .get(n)
                        .map(|s| s.db.schema.to_json())
                        .ok_or_else(|| err_unknown_db(n))
                }),
            "get_server_id" => Ok(json!(server.server_id.to_string())),
            "set_db_change_aware" => Ok(json!({})),
            "transact" => return self.transact_request(session, rid, &p),
            "monitor" => self.monitor(session, &p, Flavor::Plain),
            "monitor_cond" => self.monitor(session, &p, Flavor::Cond),
            "monitor_cond_since" => self.monitor(session, &p, Flavor::CondSince),
            "monitor_cond_change" => self.monitor_cond_change(session, &p),
            "monitor_cancel" => {
                let key = p.first().map(|v| v.to_string()).unwrap_or_default();
                match self
                    .0
                    .sessions
                    .get_mut(&session)
                    .and_then(|s| s.monitors.remove(&key))
                {
                    Some(_) => Ok(json!({})),
                    None => Err(Error::syntax(format!("no monitor has id {key}"))),
                }
            }
            "lock" | "steal" | "unlock" => match p.first().and_then(Value::as_str) {
                Some(name) => Ok(self.lock_request(session, method, name)),
                None => Err(Error::syntax(format!("{method} takes [lock-name]"))),
            },
            "convert" => Err(Error::new(
                ErrorKind::NotSupported,
                "online schema conversion is not supported",
            )),
            other => {
                return Some(jsonrpc::error_reply(
                    rid,
                    json!({"error": "unknown method", "details": format!("unknown method {other:?}")}),
                ))
            }
        };
        Some(match result {
            Ok(r) => jsonrpc::reply(rid, r),
            Err(e) => jsonrpc::error_reply(rid, e.to_json()),
        })
    }

    fn transact_request(&mut self, session: u64, rid: &Value, p: &[Value]) -> Option<Value> {
        let Some(db) = p.first().and_then(Value::as_str).map(String::from) else {
            return Some(jsonrpc::error_reply(
                rid,
                Error::syntax("transact takes [db-name, operation...]").to_json(),
            ));
        };
        if !self.0.dbs.contains_key(&db) {
            return Some(jsonrpc::error_reply(rid, err_unknown_db(&db).to_json()));
        }
        let pending = Pending {
            session,
            id: rid.clone(),
            db,
            ops: p[1..].to_vec(),
            arrived: Instant::now(),
            deadline_ms: None,
        };
        self.run_pending(pending);
        None
    }

    /// Runs a (possibly blocked) transaction; replies or parks it.
    fn run_pending(&mut self, mut p: Pending) {
        let elapsed = p.arrived.elapsed().as_millis() as u64;
        let outcome = {
            let st = &*self.0;
            let Some(served) = st.dbs.get(&p.db) else {
                return;
            };
            txn::execute(&served.db, &p.ops, &(st, p.session), elapsed)
        };
        match outcome {
            Outcome::Blocked { deadline_ms } => {
                p.deadline_ms = deadline_ms;
                self.0.pending.push(p);
            }
            Outcome::Done { results, commit } => {
                let reply = match commit {
                    None => jsonrpc::reply(&p.id, json!(results)),
                    Some(c) => match self.commit(&p.db, c) {
                        Ok(()) => jsonrpc::reply(&p.id, json!(results)),
                        Err(e) => {
                            let mut r = results;
                            r.push(e.to_json());
                            jsonrpc::reply(&p.id, json!(r))
                        }
                    },
                };
                self.send(p.session, &reply);
            }
        }
    }

    /// Logs, applies and announces a commit; then wakes blocked
    /// transactions on that database.
    fn commit(&mut self, db: &str, c: crate::db::Commit) -> Result<(), Error> {
        let served = self.0.dbs.get_mut(db).ok_or_else(|| err_unknown_db(db))?;
        if db == "_Server" {
            return Err(Error::new(
                ErrorKind::NotSupported,
                "the _Server database is read-only",
            ));
        }
        let mut wrote = false;
        if let Some(st) = &mut served.storage {
            wrote = st.append_unsynced(&served.db, &c).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("the commit could not be written: {e}"),
                )
            })?;
        }
        served.db.apply(&c);
        if let Some(st) = &mut served.storage {
            if st.wants_compaction() {
                if let Err(e) = st.compact(&served.db) {
                    eprintln!("rvs-ovsdb-server: compaction failed (the log stays as it is): {e}");
                }
            }
        }
        if wrote {
            // Replies and updates wait for the syncer.
            self.0.written_gen += 1;
            self.0.dirty = true;
            self.1.sync_wanted.notify_one();
        }
        // Tell every monitor, before any reply to this transaction.
        let state = &mut *self.0;
        let served = &state.dbs[db];
        let mut out = Vec::new();
        for (sid, s) in state.sessions.iter() {
            let mut msgs = Vec::new();
            for (mid_json, m) in s.monitors.values() {
                if m.db != db {
                    continue;
                }
                if let Some(u) = m.updates(&served.db, &c) {
                    msgs.push(match m.flavor {
                        Flavor::Plain => jsonrpc::notification("update", json!([mid_json, u])),
                        Flavor::Cond => jsonrpc::notification("update2", json!([mid_json, u])),
                        Flavor::CondSince => jsonrpc::notification(
                            "update3",
                            json!([mid_json, c.txn_id.to_string(), u]),
                        ),
                    });
                }
            }
            out.extend(msgs.into_iter().map(|m| (*sid, m)));
        }
        for (sid, m) in out {
            self.send(sid, &m);
        }
        let db_owned = db.to_string();
        self.retry_pending(|p| p.db == db_owned);
        Ok(())
    }

    /// Runs again the blocked transactions that `which` picks.
    fn retry_pending(&mut self, which: impl Fn(&Pending) -> bool) {
        let (again, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.0.pending)
            .into_iter()
            .partition(|p| which(p));
        self.0.pending = keep;
        for p in again {
            self.run_pending(p);
        }
    }

    fn cancel(&mut self, session: u64, params: &Value) {
        let Some(id) = params.as_array().and_then(|a| a.first()).cloned() else {
            return;
        };
        let (gone, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.0.pending)
            .into_iter()
            .partition(|p| p.session == session && p.id == id);
        self.0.pending = keep;
        for p in gone {
            let e = Error::new(ErrorKind::Canceled, "the client canceled the transaction");
            self.send(session, &jsonrpc::error_reply(&p.id, e.to_json()));
        }
    }

    fn commit_ops(
        &mut self,
        db: &str,
        ops: &[Value],
        s: &dyn txn::Session,
    ) -> Result<Vec<Value>, Error> {
        let served = self.0.dbs.get(db).ok_or_else(|| err_unknown_db(db))?;
        match txn::execute(&served.db, ops, s, u64::MAX) {
            Outcome::Blocked { .. } => Err(Error::new(
                ErrorKind::TimedOut,
                "the transaction would block",
            )),
            Outcome::Done { results, commit } => {
                if let Some(c) = commit {
                    self.commit(db, c)?;
                }
                Ok(results)
            }
        }
    }

    fn monitor(&mut self, session: u64, p: &[Value], flavor: Flavor) -> Result<Value, Error> {
        let want = if flavor == Flavor::CondSince { 4 } else { 3 };
        if p.len() != want {
            return Err(Error::syntax(format!(
                "this monitor method takes {want} parameters"
            )));
        }
        let dbname = p[0]
            .as_str()
            .ok_or_else(|| Error::syntax("the first parameter is the database name"))?;
        let served = self
            .0
            .dbs
            .get(dbname)
            .ok_or_else(|| err_unknown_db(dbname))?;
        let key = p[1].to_string();
        let s = self
            .0
            .sessions
            .get(&session)
            .ok_or_else(|| Error::syntax("no session"))?;
        if s.monitors.contains_key(&key) {
            return Err(Error::syntax(format!(
                "a monitor with id {key} already exists"
            )));
        }
        let m = Monitor::new(&served.db, flavor, &p[2])?;
        let result = match flavor {
            Flavor::CondSince => {
                let last = served.db.last_txn_id;
                let asked = p[3].as_str().and_then(Uuid::parse);
                if asked == Some(last) && last != Uuid(0) {
                    json!([true, last.to_string(), {}])
                } else {
                    json!([false, last.to_string(), m.initial(&served.db)])
                }
            }
            _ => m.initial(&served.db),
        };
        let s = self.0.sessions.get_mut(&session).expect("checked above");
        s.monitors.insert(key, (p[1].clone(), m));
        Ok(result)
    }

    fn monitor_cond_change(&mut self, session: u64, p: &[Value]) -> Result<Value, Error> {
        if p.len() != 3 {
            return Err(Error::syntax(
                "monitor_cond_change takes [old-id, new-id, requests]",
            ));
        }
        let key = p[0].to_string();
        let state = &mut *self.0;
        let s = state
            .sessions
            .get_mut(&session)
            .ok_or_else(|| Error::syntax("no session"))?;
        let (_, old) = s
            .monitors
            .remove(&key)
            .ok_or_else(|| Error::syntax(format!("no monitor has id {key}")))?;
        if old.flavor == Flavor::Plain {
            s.monitors.insert(key, (p[0].clone(), old));
            return Err(Error::syntax(
                "monitor_cond_change applies to monitor_cond monitors",
            ));
        }
        let served = &state.dbs[&old.db];
        // The new conditions replace the old ones for the tables named; to
        // stay simple and correct, the client is sent the rows it no longer
        // sees as deletes and the ones it now sees as inserts.
        let new = match Monitor::new(&served.db, old.flavor, &p[2]) {
            Ok(m) => m,
            Err(e) => {
                s.monitors.insert(key, (p[0].clone(), old));
                return Err(e);
            }
        };
        let before = old.initial(&served.db);
        let after = new.initial(&served.db);
        let mut upd = serde_json::Map::new();
        let empty = serde_json::Map::new();
        let tables: std::collections::BTreeSet<&String> = before
            .as_object()
            .unwrap_or(&empty)
            .keys()
            .chain(after.as_object().unwrap_or(&empty).keys())
            .collect();
        for t in tables {
            let b = before.get(t).and_then(Value::as_object).unwrap_or(&empty);
            let a = after.get(t).and_then(Value::as_object).unwrap_or(&empty);
            let mut tu = serde_json::Map::new();
            for (u, row) in a {
                if !b.contains_key(u) {
                    tu.insert(u.clone(), json!({"insert": row["initial"]}));
                }
            }
            for u in b.keys() {
                if !a.contains_key(u) {
                    tu.insert(u.clone(), json!({"delete": null}));
                }
            }
            if !tu.is_empty() {
                upd.insert(t.clone(), Value::Object(tu));
            }
        }
        let flavor = new.flavor;
        s.monitors.insert(p[1].to_string(), (p[1].clone(), new));
        if !upd.is_empty() {
            let last = served.db.last_txn_id.to_string();
            let n = match flavor {
                Flavor::CondSince => jsonrpc::notification("update3", json!([p[1], last, upd])),
                _ => jsonrpc::notification("update2", json!([p[1], upd])),
            };
            s.send(&n);
        }
        Ok(json!({}))
    }

    fn lock_request(&mut self, session: u64, method: &str, name: &str) -> Value {
        match method {
            "lock" => {
                let l = self.0.locks.entry(name.to_string()).or_default();
                if l.owner.is_none() {
                    l.owner = Some(session);
                    self.0
                        .sessions
                        .get_mut(&session)
                        .map(|s| s.locks.insert(name.to_string()));
                    json!({"locked": true})
                } else {
                    if l.owner != Some(session) && !l.waiters.contains(&session) {
                        l.waiters.push_back(session);
                    }
                    json!({"locked": l.owner == Some(session)})
                }
            }
            "steal" => {
                let l = self.0.locks.entry(name.to_string()).or_default();
                let prev = l.owner.replace(session);
                l.waiters.retain(|w| *w != session);
                if let Some(prev) = prev.filter(|p| *p != session) {
                    if let Some(s) = self.0.sessions.get_mut(&prev) {
                        s.locks.remove(name);
                        s.send(&jsonrpc::notification("stolen", json!([name])));
                    }
                }
                self.0
                    .sessions
                    .get_mut(&session)
                    .map(|s| s.locks.insert(name.to_string()));
                json!({"locked": true})
            }
            _ => {
                self.release_lock(name, session);
                if let Some(l) = self.0.locks.get_mut(name) {
                    l.waiters.retain(|w| *w != session);
                }
                json!({})
            }
        }
    }

    fn release_lock(&mut self, name: &str, session: u64) {
        let Some(l) = self.0.locks.get_mut(name) else {
            return;
        };
        if l.owner != Some(session) {
            return;
        }
        l.owner = l.waiters.pop_front();
        let next = l.owner;
        if let Some(s) = self.0.sessions.get_mut(&session) {
            s.locks.remove(name);
        }
        if let Some(n) = next {
            if let Some(s) = self.0.sessions.get_mut(&n) {
                s.locks.insert(name.to_string());
                s.send(&jsonrpc::notification("locked", json!([name])));
            }
        } else {
            self.0.locks.remove(name);
        }
    }
}

/// The built-in vswitch schema's text.
pub const VSWITCH_SCHEMA: &str = include_str!("../schemas/vswitch.ovsschema");

/// The built-in vswitch schema.
pub fn vswitch_schema() -> DatabaseSchema {
    DatabaseSchema::parse(VSWITCH_SCHEMA).expect("the built-in vswitch schema is valid")
}

/// Whether a path looks like a socket we may remove at exit.
pub fn remove_socket(path: &Path) {
    let _ = std::fs::remove_file(path);
}
