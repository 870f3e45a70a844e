//! JSON-RPC 1.0 over a byte stream, as OVSDB speaks it: messages are JSON
//! objects written back to back, with no length prefix or delimiter.
//!
//! [`Framer`] finds where each message ends by tracking nesting outside
//! strings, so a message can be handed to the JSON parser whole, and a peer
//! that sends more than [`MAX_MESSAGE`] bytes without finishing a message is
//! refused instead of buffered without bound.

use serde_json::{json, Value};
use std::io::{self, Read, Write};

/// The largest message accepted (Open vSwitch's own limit is far larger
/// than any real configuration; this one only protects memory).
pub const MAX_MESSAGE: usize = 64 << 20;

/// Why a stream stopped yielding messages.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// reading the connection failed
    #[error("connection read failed: {0}")]
    Io(#[from] io::Error),
    /// the peer closed the connection
    #[error("the peer closed the connection")]
    Closed,
    /// a message is larger than the limit
    #[error("message exceeds {MAX_MESSAGE} bytes")]
    TooLarge,
    /// the bytes are not JSON-RPC
    #[error("malformed JSON-RPC: {0}")]
    Malformed(String),
}

/// Splits a byte stream into JSON values.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escape: bool,
    started: bool,
    limit: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(MAX_MESSAGE)
    }
}

impl Framer {
    /// A framer that refuses messages over `limit` bytes.
    pub fn new(limit: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            scanned: 0,
            depth: 0,
            in_string: false,
            escape: false,
            started: false,
            limit,
        }
    }

    /// The next complete message in what was fed so far, if any.
    pub fn next_message(&mut self) -> Result<Option<Value>, FrameError> {
        while self.scanned < self.buf.len() {
            let c = self.buf[self.scanned];
            self.scanned += 1;
            if !self.started {
                if c.is_ascii_whitespace() {
                    continue;
                }
                if c != b'{' {
                    return Err(FrameError::Malformed(format!(
                        "expected a JSON object, found byte {:?}",
                        c as char
                    )));
                }
                self.started = true;
                self.depth = 1;
                continue;
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if c == b'\\' {
                    self.escape = true;
                } else if c == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let msg: Vec<u8> = self.buf.drain(..self.scanned).collect();
                        self.scanned = 0;
                        self.started = false;
                        return serde_json::from_slice(&msg)
                            .map(Some)
                            .map_err(|e| FrameError::Malformed(e.to_string()));
                    }
                }
                _ => {}
            }
        }
        if self.buf.len() > self.limit {
            return Err(FrameError::TooLarge);
        }
        Ok(None)
    }

    /// Adds bytes read from the peer.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Reads from `r` until a whole message is available.
    pub fn read_message(&mut self, r: &mut impl Read) -> Result<Value, FrameError> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some(m) = self.next_message()? {
                return Ok(m);
            }
            let n = r.read(&mut chunk)?;
            if n == 0 {
                return Err(FrameError::Closed);
            }
            self.feed(&chunk[..n]);
        }
    }
}

/// A request's or notification's parts.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `{"method", "params", "id"}` with a non-null id.
    Request {
        method: String,
        params: Value,
        id: Value,
    },
    /// `{"method", "params", "id": null}`.
    Notification { method: String, params: Value },
    /// `{"result", "error", "id"}`.
    Response {
        result: Value,
        error: Value,
        id: Value,
    },
}

impl Message {
    /// Classifies a JSON-RPC 1.0 message.
    pub fn parse(v: Value) -> Result<Message, FrameError> {
        let Value::Object(mut o) = v else {
            return Err(FrameError::Malformed(
                "a message must be a JSON object".into(),
            ));
        };
        let id = o.remove("id").unwrap_or(Value::Null);
        if let Some(m) = o.remove("method") {
            let method = m
                .as_str()
                .ok_or_else(|| FrameError::Malformed("\"method\" must be a string".into()))?
                .to_string();
            let params = o.remove("params").unwrap_or(Value::Array(Vec::new()));
            if !params.is_array() {
                return Err(FrameError::Malformed("\"params\" must be an array".into()));
            }
            return Ok(if id.is_null() {
                Message::Notification { method, params }
            } else {
                Message::Request { method, params, id }
            });
        }
        if o.contains_key("result") || o.contains_key("error") {
            return Ok(Message::Response {
                result: o.remove("result").unwrap_or(Value::Null),
                error: o.remove("error").unwrap_or(Value::Null),
                id,
            });
        }
        Err(FrameError::Malformed(
            "message has neither \"method\" nor \"result\"".into(),
        ))
    }
}

/// A successful reply.
pub fn reply(id: &Value, result: Value) -> Value {
    json!({"result": result, "error": null, "id": id})
}

/// An error reply.
pub fn error_reply(id: &Value, error: Value) -> Value {
    json!({"result": null, "error": error, "id": id})
}

/// A notification.
pub fn notification(method: &str, params: Value) -> Value {
    json!({"method": method, "params": params, "id": null})
}

/// A request.
pub fn request(method: &str, params: Value, id: Value) -> Value {
    json!({"method": method, "params": params, "id": id})
}

/// Writes one message.
pub fn write_message(w: &mut impl Write, v: &Value) -> io::Result<()> {
    let b = serde_json::to_vec(v).map_err(io::Error::other)?;
    w.write_all(&b)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_back_to_back_messages_across_reads() {
        let text = br#"{"method":"echo","params":["a}\"{"],"id":1}  {"id":2,"method":"list_dbs","params":[]}{"#;
        let mut f = Framer::default();
        let mut got = Vec::new();
        for b in text.chunks(3) {
            f.feed(b);
            while let Some(m) = f.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["params"][0], "a}\"{");
        assert_eq!(got[1]["method"], "list_dbs");
    }

    #[test]
    fn refuses_garbage_and_oversized_messages() {
        let mut f = Framer::default();
        f.feed(b"[1,2]");
        assert!(matches!(f.next_message(), Err(FrameError::Malformed(_))));
        let mut f = Framer::new(100);
        f.feed(br#"{"method":"echo","params":[""#);
        f.feed(&[b'x'; 200]);
        assert!(matches!(f.next_message(), Err(FrameError::TooLarge)));
        let mut f = Framer::default();
        f.feed(br#"{"method": 5}"#);
        let v = f.next_message().unwrap().unwrap();
        assert!(Message::parse(v).is_err());
    }

    #[test]
    fn classifies_messages() {
        let m = Message::parse(json!({"method": "echo", "params": [], "id": 7})).unwrap();
        assert!(matches!(m, Message::Request { .. }));
        let m = Message::parse(json!({"method": "update", "params": [], "id": null})).unwrap();
        assert!(matches!(m, Message::Notification { .. }));
        let m = Message::parse(json!({"result": [], "error": null, "id": 7})).unwrap();
        assert!(matches!(m, Message::Response { .. }));
    }
}
