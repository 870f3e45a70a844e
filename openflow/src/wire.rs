//! Bounds-checked big-endian reading and writing shared by every message.
//!
//! [`Reader`] never panics: every read checks the remaining length and
//! fails with the length error of the structure being read (a short action
//! is BAD_ACTION/BAD_LEN, a short match BAD_MATCH/BAD_LEN, …). [`Writer`]
//! appends to a `Vec<u8>` and never fails on the spot: a length that does
//! not fit its field is remembered and reported once, when the message is
//! finished, so that the emit code reads like the layout it writes.

use crate::error::OfError;

/// Which structure a [`Reader`] is reading, to pick the length error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Within {
    /// A message body (BAD_REQUEST/BAD_LEN).
    Message(&'static str),
    /// A match (BAD_MATCH/BAD_LEN).
    Match(&'static str),
    /// An instruction (BAD_INSTRUCTION/BAD_LEN).
    Instruction(&'static str),
    /// An action (BAD_ACTION/BAD_LEN).
    Action(&'static str),
}

impl Within {
    /// The length error for this structure.
    pub(crate) fn error(self) -> OfError {
        match self {
            Within::Message(what) => OfError::BadLength { what },
            Within::Match(what) => OfError::BadMatchLength { what },
            Within::Instruction(what) => OfError::BadInstructionLength { what },
            Within::Action(what) => OfError::BadActionLength { what },
        }
    }
}

/// A cursor over a byte slice whose reads fail instead of panicking.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    within: Within,
}

impl<'a> Reader<'a> {
    /// Reads `buf`, reporting shortness as a length error of `within`.
    pub(crate) fn new(buf: &'a [u8], within: Within) -> Self {
        Reader { buf, within }
    }

    /// The length error of the structure being read.
    pub(crate) fn error(&self) -> OfError {
        self.within.error()
    }

    /// How many bytes are left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether no bytes are left.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], OfError> {
        if n > self.buf.len() {
            return Err(self.error());
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], OfError> {
        let bytes = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Skips `n` bytes (padding).
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), OfError> {
        self.bytes(n).map(|_| ())
    }

    /// Everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, OfError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, OfError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, OfError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, OfError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Fails unless every byte has been read: fixed-size bodies must be
    /// exactly their size.
    pub(crate) fn finish(self) -> Result<(), OfError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.error())
        }
    }
}

/// Appends big-endian fields to a buffer and back-patches length fields.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    /// The first length that did not fit its field.
    overflow: Option<usize>,
}

impl<'a> Writer<'a> {
    /// Appends to `buf`.
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer {
            buf,
            overflow: None,
        }
    }

    /// How many bytes the buffer holds (including what was there before).
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The first length that did not fit its field, if any.
    pub(crate) fn overflow(&self) -> Option<usize> {
        self.overflow
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    pub(crate) fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends `n` zero bytes.
    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// Writes `text` into a fixed field of `width` bytes, NUL-padded. The
    /// text is cut (at a character boundary) to leave at least one NUL.
    pub(crate) fn fixed_str(&mut self, text: &str, width: usize) {
        let mut end = text.len().min(width.saturating_sub(1));
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.bytes(&text.as_bytes()[..end]);
        self.zeros(width - end);
    }

    /// Appends zeros until the bytes written since `start` are a multiple
    /// of 8.
    pub(crate) fn pad_to_8(&mut self, start: usize) {
        let len = self.buf.len() - start;
        self.zeros(padding_to_8(len));
    }

    /// Stores the length of everything written since `start` as a 16-bit
    /// field at offset `at`.
    pub(crate) fn patch_len16(&mut self, at: usize, start: usize) {
        let len = self.buf.len() - start;
        let value = match u16::try_from(len) {
            Ok(value) => value,
            Err(_) => {
                self.overflow.get_or_insert(len);
                u16::MAX
            }
        };
        self.buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    /// Stores `len` as an 8-bit field at offset `at`.
    pub(crate) fn patch_len8(&mut self, at: usize, len: usize) {
        let value = match u8::try_from(len) {
            Ok(value) => value,
            Err(_) => {
                self.overflow.get_or_insert(len);
                u8::MAX
            }
        };
        self.buf[at] = value;
    }
}

/// How many zero bytes bring `len` to a multiple of 8.
pub(crate) const fn padding_to_8(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// Reads a fixed NUL-terminated text field: the bytes up to the first NUL,
/// and at most all but the last (which the sender should have left NUL).
/// Each byte that is not part of valid UTF-8 becomes `?`, so the text
/// never grows and encodes back to the same field.
pub(crate) fn read_fixed_str(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().saturating_sub(1)];
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut text = String::with_capacity(end);
    for chunk in bytes[..end].utf8_chunks() {
        text.push_str(chunk.valid());
        text.extend(std::iter::repeat_n('?', chunk.invalid().len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_the_structure_it_reads() {
        let mut r = Reader::new(&[1, 2, 3], Within::Action("output"));
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u16(), Err(OfError::BadActionLength { what: "output" }));
        assert_eq!(r.u8(), Ok(3));
        assert!(r.is_empty());
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn fixed_strings_keep_a_nul_and_whole_characters() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf);
        w.fixed_str("abcdé", 6);
        assert_eq!(buf, b"abcd\0\0");
        assert_eq!(read_fixed_str(&buf), "abcd");
        assert_eq!(read_fixed_str(b"xyz"), "xy", "the last byte is the NUL's");
        assert_eq!(read_fixed_str(b"a\xffb\xe2\x82c\0"), "a?b??c");
    }

    #[test]
    fn overflowing_lengths_are_remembered() {
        let mut buf = vec![0; 300];
        let mut w = Writer::new(&mut buf);
        w.patch_len8(0, 300);
        assert_eq!(w.overflow(), Some(300));
        assert_eq!(padding_to_8(0), 0);
        assert_eq!(padding_to_8(12), 4);
    }
}
