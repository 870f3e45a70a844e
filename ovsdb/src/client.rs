//! A blocking OVSDB client: connect to `unix:PATH` or `tcp:IP:PORT`, call
//! methods, collect notifications.

use crate::jsonrpc::{self, FrameError, Framer, Message};
use crate::server::Stream;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// the remote is not of a supported form
    #[error("{0:?} is not a database address: use unix:PATH or tcp:IP:PORT")]
    BadRemote(String),
    /// connecting failed
    #[error("cannot connect to {remote}: {source}")]
    Connect {
        remote: String,
        #[source]
        source: io::Error,
    },
    /// the connection failed or closed
    #[error("database connection failed: {0}")]
    Connection(#[from] FrameError),
    /// writing failed
    #[error("database connection failed: {0}")]
    Io(#[from] io::Error),
    /// the server answered with an error
    #[error("the database server refused the request: {0}")]
    Rpc(Value),
    /// no answer in time
    #[error("the database server did not answer within {0:?}")]
    Timeout(Duration),
}

/// A connection to an OVSDB server.
#[derive(Debug)]
pub struct Client {
    stream: Stream,
    framer: Framer,
    next_id: u64,
    notes: VecDeque<(String, Value)>,
}

impl Client {
    /// Connects to `unix:PATH` or `tcp:IP:PORT`.
    pub fn connect(remote: &str) -> Result<Client, ClientError> {
        let err = |source| ClientError::Connect {
            remote: remote.to_string(),
            source,
        };
        let stream = if let Some(p) = remote.strip_prefix("unix:") {
            Stream::Unix(UnixStream::connect(p).map_err(err)?)
        } else if let Some(a) = remote.strip_prefix("tcp:") {
            let (host, port) = a
                .rsplit_once(':')
                .ok_or_else(|| ClientError::BadRemote(remote.into()))?;
            let port: u16 = port
                .parse()
                .map_err(|_| ClientError::BadRemote(remote.into()))?;
            let s = TcpStream::connect((host.trim_matches(|c| c == '[' || c == ']'), port))
                .map_err(err)?;
            let _ = s.set_nodelay(true);
            Stream::Tcp(s)
        } else {
            return Err(ClientError::BadRemote(remote.into()));
        };
        Ok(Client {
            stream,
            framer: Framer::default(),
            next_id: 1,
            notes: VecDeque::new(),
        })
    }

    /// Limits how long a read may wait (`None`: forever).
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        match &self.stream {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }

    fn read(&mut self) -> Result<Message, ClientError> {
        let v = self.framer.read_message(&mut self.stream)?;
        Ok(Message::parse(v)?)
    }

    /// Sends a request and waits for its reply, keeping notifications that
    /// arrive meanwhile and answering the server's echo probes.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        jsonrpc::write_message(
            &mut self.stream,
            &jsonrpc::request(method, params, json!(id)),
        )?;
        loop {
            match self.read()? {
                Message::Response {
                    result,
                    error,
                    id: rid,
                } if rid == json!(id) => {
                    if !error.is_null() {
                        return Err(ClientError::Rpc(error));
                    }
                    return Ok(result);
                }
                Message::Response { .. } => {}
                Message::Request { method, params, id } => {
                    if method == "echo" {
                        jsonrpc::write_message(&mut self.stream, &jsonrpc::reply(&id, params))?;
                    }
                }
                Message::Notification { method, params } => self.notes.push_back((method, params)),
            }
        }
    }

    /// Runs a transaction; returns the per-operation results.
    pub fn transact(&mut self, db: &str, ops: &[Value]) -> Result<Vec<Value>, ClientError> {
        let mut params = vec![json!(db)];
        params.extend(ops.iter().cloned());
        let r = self.call("transact", Value::Array(params))?;
        match r {
            Value::Array(a) => Ok(a),
            other => Err(ClientError::Rpc(
                json!({"error": "bad reply", "details": other}),
            )),
        }
    }

    /// The next notification (method, params), waiting at most `timeout`.
    pub fn next_notification(&mut self, timeout: Duration) -> Result<(String, Value), ClientError> {
        if let Some(n) = self.notes.pop_front() {
            return Ok(n);
        }
        self.set_read_timeout(Some(timeout))?;
        let r = loop {
            match self.read() {
                Ok(Message::Notification { method, params }) => break Ok((method, params)),
                Ok(Message::Request { method, params, id }) if method == "echo" => {
                    jsonrpc::write_message(&mut self.stream, &jsonrpc::reply(&id, params))?;
                }
                Ok(_) => {}
                Err(ClientError::Connection(FrameError::Io(e)))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break Err(ClientError::Timeout(timeout))
                }
                Err(e) => break Err(e),
            }
        };
        self.set_read_timeout(None)?;
        r
    }
}
