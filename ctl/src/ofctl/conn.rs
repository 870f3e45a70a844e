//! One OpenFlow 1.3 connection to a switch, as `ovs-ofctl` opens and uses
//! it.
//!
//! * **Targets.** `unix:PATH` and `tcp:HOST[:PORT]` (port 6653 by
//!   default) name a connection; any other name is tried as a unix socket
//!   path and then as a bridge, `$RVS_RUNDIR/NAME.mgmt`, and if neither
//!   exists the answer is `NAME is not a bridge or a socket`.
//! * **Hello.** Both sides send HELLO at once; the peer's must offer
//!   OpenFlow 1.3 (version bitmap, or a header version of at least 0x04).
//!   Otherwise rvs-ofctl answers HELLO_FAILED/INCOMPATIBLE, as Open
//!   vSwitch does, and stops with the versions each side speaks.
//! * **Transaction ids** come from one counter per [`Session`] that starts
//!   at 1 and also numbers the HELLOs, so the `xid=` that replies print is
//!   the one `ovs-ofctl` would print for the same command.
//! * **Requests and replies.** A reply is the next message with the
//!   request's xid; others are skipped, ECHO_REQUESTs answered. A
//!   multipart request collects replies until one comes without
//!   `REPLY_MORE`. A request without a reply (FLOW_MOD, PACKET_OUT) is
//!   followed by a BARRIER_REQUEST: the barrier's reply proves the switch
//!   has processed it, and an ERROR with the request's xid before it is
//!   the switch's refusal.
//! * **Timeouts.** `--timeout` is one deadline for the whole run, applied
//!   to every connect, read and write.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_openflow::multipart::MultipartType;
use rvs_openflow::{
    ErrorCode, ErrorMsg, ErrorType, Hello, Message, MessageBody, MessageFramer, MultipartFlags,
    MultipartReplyBody, MultipartRequest, MultipartRequestBody, OFP_VERSION,
};

use super::error::{OfctlError, Result};
use super::print::{message_to_string, PrintContext};

/// The OpenFlow port switches listen on.
pub const DEFAULT_TCP_PORT: u16 = 6653;

/// What the connections of one `rvs-ofctl` run share: where bridges'
/// sockets are, the `--timeout` deadline and the transaction ids.
#[derive(Debug, Clone)]
pub struct Session {
    /// The directory of `BRIDGE.mgmt` sockets.
    pub rundir: PathBuf,
    deadline: Option<Instant>,
    timeout_secs: u64,
    next_xid: Arc<AtomicU32>,
}

impl Session {
    /// A session whose bridges live in `rundir`, giving up `timeout_secs`
    /// from now (never if `None`).
    pub fn new(rundir: impl Into<PathBuf>, timeout_secs: Option<u64>) -> Session {
        Session {
            rundir: rundir.into(),
            deadline: timeout_secs.map(|s| Instant::now() + Duration::from_secs(s)),
            timeout_secs: timeout_secs.unwrap_or(0),
            next_xid: Arc::new(AtomicU32::new(1)),
        }
    }

    /// The next transaction id.
    pub fn next_xid(&self) -> u32 {
        self.next_xid.fetch_add(1, Ordering::Relaxed)
    }

    /// Skips `n` transaction ids: the ones `ovs-ofctl` would spend on a
    /// lookup `rvs-ofctl` does not need, so that the ids printed after it
    /// are the same.
    pub fn skip_xids(&self, n: u32) {
        self.next_xid.fetch_add(n, Ordering::Relaxed);
    }

    /// Connects to `target` and exchanges HELLOs.
    pub fn open(&self, target: &str) -> Result<Connection> {
        let (stream, name) = self.connect(target)?;
        let mut conn = Connection {
            stream,
            framer: MessageFramer::new(),
            buf: vec![0; 64 * 1024],
            target: target.to_string(),
            name,
            session: self.clone(),
        };
        conn.handshake()?;
        Ok(conn)
    }

    /// Time left before the deadline; a timeout error once it has passed.
    fn remaining(&self, target: &str, doing: &'static str) -> Result<Option<Duration>> {
        match self.deadline {
            None => Ok(None),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(self.timeout(target, doing))
                } else {
                    Ok(Some(left))
                }
            }
        }
    }

    fn timeout(&self, target: &str, doing: &'static str) -> OfctlError {
        OfctlError::Timeout {
            target: target.to_string(),
            secs: self.timeout_secs,
            doing,
        }
    }

    /// The stream to `name`, and the name of what it connects to
    /// (`unix:PATH` for a bridge).
    fn connect(&self, name: &str) -> Result<(Stream, String)> {
        if let Some((method, rest)) = name.split_once(':') {
            let stream = match method {
                "unix" => UnixStream::connect(rest).map(Stream::Unix).map_err(|e| {
                    OfctlError::Connection(format!("connecting to {name} ({})", strerror(&e)))
                }),
                "tcp" => self.connect_tcp(name, rest),
                "ssl" => Err(OfctlError::Connection(format!(
                    "{name}: rvs-ofctl does not speak SSL; use tcp:IP[:PORT] or unix:PATH"
                ))),
                _ => Err(OfctlError::Connection(format!(
                    "{name}: unknown connection method {method:?}; use unix:PATH, tcp:IP[:PORT] or a bridge name"
                ))),
            }?;
            return Ok((stream, name.to_string()));
        }
        let bridge = self.rundir.join(format!("{name}.mgmt"));
        for path in [Path::new(name), bridge.as_path()] {
            match UnixStream::connect(path) {
                Ok(s) => return Ok((Stream::Unix(s), format!("unix:{}", path.display()))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(OfctlError::Connection(format!(
                        "{}: failed to open socket ({})",
                        path.display(),
                        strerror(&e)
                    )))
                }
            }
        }
        Err(OfctlError::Connection(format!(
            "{name} is not a bridge or a socket (no {} either: is rvs-vswitchd running, with RVS_RUNDIR={}?)",
            bridge.display(),
            self.rundir.display()
        )))
    }

    fn connect_tcp(&self, name: &str, host_port: &str) -> Result<Stream> {
        let addrs = tcp_addresses(host_port).map_err(|e| {
            OfctlError::Connection(format!(
                "{name}: {e} (use tcp:IP[:PORT], e.g. tcp:127.0.0.1:6653)"
            ))
        })?;
        let mut last = None;
        for addr in addrs {
            let result = match self.remaining(name, "connecting")? {
                Some(left) => TcpStream::connect_timeout(&addr, left),
                None => TcpStream::connect(addr),
            };
            match result {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(Stream::Tcp(s));
                }
                Err(e) if is_timeout(&e) => return Err(self.timeout(name, "connecting")),
                Err(e) => last = Some(e),
            }
        }
        let why = last.map_or_else(|| "no address".to_string(), |e| strerror(&e));
        Err(OfctlError::Connection(format!(
            "{name}: failed to connect to socket ({why})"
        )))
    }
}

/// The addresses of `HOST[:PORT]` (`[IPv6]:PORT` for IPv6 with a port).
fn tcp_addresses(s: &str) -> std::result::Result<Vec<SocketAddr>, String> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(vec![sa]);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, DEFAULT_TCP_PORT)]);
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("{p:?} is not a TCP port number"))?,
        ),
        None => (s, DEFAULT_TCP_PORT),
    };
    if host.is_empty() {
        return Err("no host given".into());
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host:?} ({})", strerror(&e)))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host:?} has no address"));
    }
    Ok(addrs)
}

/// An I/O error without Rust's ` (os error N)` suffix, the way Open
/// vSwitch's messages show `strerror`.
pub fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[derive(Debug)]
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn set_timeouts(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            Stream::Tcp(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
        }
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

/// A multipart request sent, whose replies are still to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingDump {
    /// The request's transaction id.
    pub xid: u32,
    /// The multipart type the replies must have.
    pub mp_type: MultipartType,
}

/// A message as received: decoded, and its bytes for printing.
#[derive(Debug, Clone)]
pub struct Received {
    /// The decoded message.
    pub msg: Message,
    /// Its bytes, as `ovs-ofctl` prints them.
    pub raw: Vec<u8>,
}

impl Received {
    /// The message as `ovs-ofctl` prints it.
    pub fn to_text(&self) -> String {
        message_to_string(&self.raw, &PrintContext::default())
    }
}

/// An open OpenFlow 1.3 connection (see the module docs).
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    framer: MessageFramer,
    buf: Vec<u8>,
    target: String,
    name: String,
    session: Session,
}

impl Connection {
    /// The SWITCH argument this connection was opened with.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// What the connection goes to: the SWITCH argument, or
    /// `unix:PATH` when that named a bridge or a bare path (as Open
    /// vSwitch names the connection).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn handshake(&mut self) -> Result<()> {
        let hello = Message::hello(self.session.next_xid());
        self.send_message(&hello)?;
        let raw = self.recv_raw("waiting for the switch's HELLO")?;
        let msg = Message::parse(&raw).map_err(|e| {
            OfctlError::Protocol(format!(
                "{}: the switch's first message does not decode ({e})",
                self.target
            ))
        })?;
        match &msg.body {
            MessageBody::Hello(peer) => match peer.negotiate(msg.version) {
                Ok(_) => Ok(()),
                Err(_) => {
                    let peer_versions = hello_versions(peer, msg.version);
                    let text = format!(
                        "We support {}, you support {}, no common versions.",
                        describe_versions(1 << OFP_VERSION),
                        describe_versions(peer_versions)
                    );
                    let mut refusal = Message::new(
                        0,
                        MessageBody::Error(ErrorMsg {
                            code: ErrorCode::new(ErrorType::HelloFailed, 0),
                            data: text.into_bytes(),
                        }),
                    );
                    refusal.version = msg.version;
                    let _ = self.send_message(&refusal);
                    Err(OfctlError::Connection(format!(
                        "{}: version negotiation failed (we support {}, peer supports {}); rvs-ofctl speaks only OpenFlow 1.3",
                        self.target,
                        describe_versions(1 << OFP_VERSION),
                        describe_versions(peer_versions)
                    )))
                }
            },
            MessageBody::Error(_) => Err(OfctlError::Connection(format!(
                "{}: the switch refused the connection: {}",
                self.target,
                message_to_string(&raw, &PrintContext::default()).trim_end()
            ))),
            _ => Err(OfctlError::Protocol(format!(
                "{}: received message while expecting hello: {}",
                self.target,
                message_to_string(&raw, &PrintContext::default()).trim_end()
            ))),
        }
    }

    /// Sets the socket's timeouts to the time left.
    fn arm(&mut self, doing: &'static str) -> Result<()> {
        let left = self.session.remaining(&self.target, doing)?;
        self.stream
            .set_timeouts(left)
            .map_err(|e| OfctlError::Connection(format!("{}: {}", self.target, strerror(&e))))
    }

    /// Sends `msg` as it is.
    pub fn send_message(&mut self, msg: &Message) -> Result<()> {
        let bytes = msg.to_bytes().map_err(|e| {
            OfctlError::Usage(format!(
                "the {} message is too long to send: {e}",
                msg.msg_type().name()
            ))
        })?;
        self.arm("sending")?;
        match self.stream.write_all(&bytes) {
            Ok(()) => Ok(()),
            Err(e) if is_timeout(&e) => Err(self.session.timeout(&self.target, "sending")),
            Err(e) => Err(OfctlError::Connection(format!(
                "{}: failed to send to the switch ({})",
                self.target,
                strerror(&e)
            ))),
        }
    }

    /// Sends `body` with a fresh xid; returns the xid.
    pub fn send(&mut self, body: MessageBody) -> Result<u32> {
        let xid = self.session.next_xid();
        self.send_message(&Message::new(xid, body))?;
        Ok(xid)
    }

    fn recv_raw(&mut self, doing: &'static str) -> Result<Vec<u8>> {
        loop {
            match self.framer.next_message() {
                Ok(Some(m)) => return Ok(m.to_vec()),
                Ok(None) => {}
                Err(e) => {
                    return Err(OfctlError::Protocol(format!(
                        "{}: the switch sent a corrupt stream ({e})",
                        self.target
                    )))
                }
            }
            self.arm(doing)?;
            match self.stream.read(&mut self.buf) {
                Ok(0) => {
                    return Err(OfctlError::Connection(format!(
                        "{}: the switch closed the connection while rvs-ofctl was {doing}",
                        self.target
                    )))
                }
                Ok(n) => self.framer.push(&self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(self.session.timeout(&self.target, doing)),
                Err(e) => {
                    return Err(OfctlError::Connection(format!(
                        "{}: {doing}: {}",
                        self.target,
                        strerror(&e)
                    )))
                }
            }
        }
    }

    /// The next message, answering ECHO_REQUESTs on the way.
    pub fn recv(&mut self, doing: &'static str) -> Result<Received> {
        loop {
            let raw = self.recv_raw(doing)?;
            let msg = Message::parse(&raw).map_err(|e| {
                OfctlError::Protocol(format!(
                    "{}: received bad reply ({e}): {}",
                    self.target,
                    message_to_string(&raw, &PrintContext::default()).trim_end()
                ))
            })?;
            if let MessageBody::EchoRequest(data) = &msg.body {
                let reply = Message::new(msg.xid, MessageBody::EchoReply(data.clone()));
                self.send_message(&reply)?;
                continue;
            }
            return Ok(Received { msg, raw });
        }
    }

    /// The next message with transaction id `xid`.
    pub fn recv_xid(&mut self, xid: u32, doing: &'static str) -> Result<Received> {
        loop {
            let r = self.recv(doing)?;
            if r.msg.xid == xid {
                return Ok(r);
            }
        }
    }

    /// Sends `body` and returns its reply; an ERROR reply is
    /// [`OfctlError::Switch`].
    pub fn transact(&mut self, body: MessageBody) -> Result<Received> {
        let xid = self.send(body)?;
        let reply = self.recv_xid(xid, "waiting for a reply")?;
        if let MessageBody::Error(_) = reply.msg.body {
            return Err(OfctlError::Switch(reply.to_text()));
        }
        Ok(reply)
    }

    /// Sends `body`, which has no reply unless it fails, then a barrier,
    /// and waits for the barrier's reply. Whatever came back with the
    /// request's xid (an ERROR) is [`OfctlError::Switch`].
    pub fn transact_noreply(&mut self, body: MessageBody) -> Result<()> {
        let xid = self.send(body)?;
        let barrier = self.send(MessageBody::BarrierRequest)?;
        let mut refusal: Option<Received> = None;
        loop {
            let r = self.recv("waiting for the switch to apply the request")?;
            if r.msg.xid == xid {
                refusal = Some(r);
            } else if r.msg.xid == barrier {
                return match refusal {
                    Some(r) => Err(OfctlError::Switch(r.to_text())),
                    None => Ok(()),
                };
            }
        }
    }

    /// Sends a multipart request and hands each reply message to `each`
    /// (with its bytes), following `REPLY_MORE`. An ERROR is
    /// [`OfctlError::Switch`]; a reply of another type is a protocol error.
    pub fn dump(
        &mut self,
        request: MultipartRequestBody,
        each: impl FnMut(&Received) -> Result<()>,
    ) -> Result<()> {
        let pending = self.send_dump(request)?;
        self.recv_dump(pending, each)
    }

    /// The first half of [`Connection::dump`]: sends the request.
    pub fn send_dump(&mut self, request: MultipartRequestBody) -> Result<PendingDump> {
        let mp_type = request.mp_type();
        let xid = self.send(MessageBody::MultipartRequest(MultipartRequest::new(
            request,
        )))?;
        Ok(PendingDump { xid, mp_type })
    }

    /// The second half of [`Connection::dump`]: receives the replies.
    pub fn recv_dump(
        &mut self,
        pending: PendingDump,
        mut each: impl FnMut(&Received) -> Result<()>,
    ) -> Result<()> {
        loop {
            let r = self.recv_xid(pending.xid, "waiting for a statistics reply")?;
            match &r.msg.body {
                MessageBody::Error(_) => return Err(OfctlError::Switch(r.to_text())),
                MessageBody::MultipartReply(reply) if reply.body.mp_type() == pending.mp_type => {
                    each(&r)?;
                    if !reply.flags.contains(MultipartFlags::MORE) {
                        return Ok(());
                    }
                }
                _ => {
                    return Err(OfctlError::Protocol(format!(
                        "{}: received bad reply: {}",
                        self.target,
                        r.to_text().trim_end()
                    )))
                }
            }
        }
    }

    /// The bodies of all the replies to a multipart request.
    pub fn dump_all(&mut self, request: MultipartRequestBody) -> Result<Vec<MultipartReplyBody>> {
        let mut bodies = Vec::new();
        self.dump(request, |r| {
            if let MessageBody::MultipartReply(reply) = &r.msg.body {
                bodies.push(reply.body.clone());
            }
            Ok(())
        })?;
        Ok(bodies)
    }
}

/// The versions a HELLO offers: its bitmap, or without one every version
/// up to the header's.
fn hello_versions(hello: &Hello, header_version: u8) -> u32 {
    match hello.version_bitmap().and_then(|b| b.first()) {
        Some(word) => *word,
        None if header_version < 32 => ((1u64 << (header_version + 1)) - 2) as u32,
        None => 0,
    }
}

/// `version 0x04`, `version 0x04 and earlier`, `versions 0x01, 0x04`, as
/// Open vSwitch words a version bitmap.
fn describe_versions(bitmap: u32) -> String {
    if bitmap == 0 {
        return "no versions".into();
    }
    let highest = 31 - bitmap.leading_zeros();
    if bitmap.is_power_of_two() {
        format!("version 0x{highest:02x}")
    } else if ((bitmap >> 1) + 1).is_power_of_two() {
        format!("version 0x{highest:02x} and earlier")
    } else {
        let list: Vec<String> = (0..32)
            .filter(|v| bitmap & (1 << v) != 0)
            .map(|v| format!("0x{v:02x}"))
            .collect();
        format!("versions {}", list.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_descriptions() {
        assert_eq!(describe_versions(1 << 4), "version 0x04");
        assert_eq!(describe_versions(0b11110), "version 0x04 and earlier");
        assert_eq!(describe_versions(0b10010), "versions 0x01, 0x04");
        assert_eq!(hello_versions(&Hello::default(), 1), 0b10);
    }

    #[test]
    fn tcp_targets() {
        assert_eq!(
            tcp_addresses("127.0.0.1:6633").unwrap(),
            vec!["127.0.0.1:6633".parse().unwrap()]
        );
        assert_eq!(
            tcp_addresses("127.0.0.1").unwrap(),
            vec!["127.0.0.1:6653".parse().unwrap()]
        );
        assert_eq!(
            tcp_addresses("[::1]:7").unwrap(),
            vec!["[::1]:7".parse().unwrap()]
        );
        assert!(tcp_addresses("127.0.0.1:x").is_err());
    }

    #[test]
    fn missing_bridge_is_a_sentence() {
        let dir = std::env::temp_dir().join(format!("rvs-ofctl-none-{}", std::process::id()));
        let session = Session::new(&dir, Some(1));
        let err = session.open("br-missing").unwrap_err().to_string();
        assert!(
            err.starts_with("br-missing is not a bridge or a socket"),
            "{err}"
        );
        let err = session
            .open("unix:/nonexistent/x.mgmt")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "connecting to unix:/nonexistent/x.mgmt (No such file or directory)"
        );
    }
}
