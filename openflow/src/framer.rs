//! Cutting a byte stream (a TCP or unix socket) into OpenFlow messages by
//! the header's length field.
//!
//! [`frame_len`] looks at the start of a buffer; [`MessageFramer`] keeps
//! the bytes of a connection between reads and hands out whole messages.
//! A length under 8 (which would never advance) or over the configured
//! maximum is an error after which the stream cannot be resynchronised:
//! the connection must be closed.

use crate::error::OfError;
use crate::header::OfpHeader;
use crate::types::{HEADER_LEN, MAX_MESSAGE_LEN};

/// The length of the message at the start of `buf`: `Ok(Some(len))` if all
/// `len` bytes are there, `Ok(None)` if more must be read, or an error if
/// the header's length is under 8 or over `max_len`.
pub fn frame_len(buf: &[u8], max_len: usize) -> Result<Option<usize>, OfError> {
    let Ok(header) = OfpHeader::new_checked(buf) else {
        return Ok(None);
    };
    let length = header.length();
    let len = usize::from(length);
    if len < HEADER_LEN {
        return Err(OfError::BadHeaderLength { length });
    }
    if len > max_len {
        return Err(OfError::TooLong {
            what: "an incoming message",
            length: len,
            max: max_len,
        });
    }
    Ok((buf.len() >= len).then_some(len))
}

/// Buffers a stream's bytes and yields whole messages.
#[derive(Debug, Clone)]
pub struct MessageFramer {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out.
    start: usize,
    max_len: usize,
}

impl Default for MessageFramer {
    fn default() -> Self {
        MessageFramer::new()
    }
}

impl MessageFramer {
    /// A framer that accepts messages up to 65535 bytes.
    pub fn new() -> Self {
        MessageFramer::with_max_len(MAX_MESSAGE_LEN)
    }

    /// A framer that refuses messages over `max_len` bytes (at least 8).
    pub fn with_max_len(max_len: usize) -> Self {
        MessageFramer {
            buf: Vec::new(),
            start: 0,
            max_len: max_len.max(HEADER_LEN),
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` if more bytes are needed, or an
    /// error if the stream is corrupt (see the module docs).
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, OfError> {
        let pending = &self.buf[self.start..];
        match frame_len(pending, self.max_len)? {
            Some(len) => {
                let begin = self.start;
                self.start += len;
                Ok(Some(&self.buf[begin..begin + len]))
            }
            None => Ok(None),
        }
    }

    /// Bytes received but not yet handed out.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARRIER: [u8; 8] = [4, 20, 0, 8, 0, 0, 0, 1];
    const ECHO: [u8; 12] = [4, 2, 0, 12, 0, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef];

    #[test]
    fn frame_len_waits_for_whole_messages() {
        assert_eq!(frame_len(&[], 100), Ok(None));
        assert_eq!(frame_len(&ECHO[..7], 100), Ok(None));
        assert_eq!(frame_len(&ECHO[..11], 100), Ok(None));
        assert_eq!(frame_len(&ECHO, 100), Ok(Some(12)));
        assert_eq!(
            frame_len(&[4, 0, 0, 4, 0, 0, 0, 0], 100),
            Err(OfError::BadHeaderLength { length: 4 })
        );
        assert!(matches!(frame_len(&ECHO, 10), Err(OfError::TooLong { .. })));
    }

    #[test]
    fn framer_splits_a_stream_read_in_odd_pieces() {
        let mut stream = Vec::new();
        for _ in 0..50 {
            stream.extend_from_slice(&BARRIER);
            stream.extend_from_slice(&ECHO);
        }
        let mut framer = MessageFramer::new();
        let mut messages = Vec::new();
        for piece in stream.chunks(7) {
            framer.push(piece);
            while let Some(message) = framer.next_message().unwrap() {
                messages.push(message.to_vec());
            }
        }
        assert_eq!(messages.len(), 100);
        assert_eq!(messages[0], BARRIER);
        assert_eq!(messages[99], ECHO);
        assert_eq!(framer.pending(), 0);
    }

    #[test]
    fn framer_reports_corrupt_lengths() {
        let mut framer = MessageFramer::with_max_len(64);
        framer.push(&[4, 0, 0, 0, 0, 0, 0, 0]);
        assert!(framer.next_message().is_err());
        let mut framer = MessageFramer::with_max_len(64);
        framer.push(&[4, 0, 1, 0, 0, 0, 0, 0]);
        assert!(framer.next_message().is_err());
    }
}
