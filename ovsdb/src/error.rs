//! The database's errors, which are also RFC 7047 error objects:
//! `{"error": "<name>", "details": "<sentence>"}`.

use serde_json::{json, Value};

/// The RFC 7047 error names (and a few Open vSwitch adds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `"referential integrity violation"`
    ReferentialIntegrity,
    /// `"constraint violation"`
    Constraint,
    /// `"resources exhausted"`
    ResourcesExhausted,
    /// `"I/O error"`
    Io,
    /// `"duplicate uuid-name"`
    DuplicateUuidName,
    /// `"domain error"`
    Domain,
    /// `"range error"`
    Range,
    /// `"timed out"`
    TimedOut,
    /// `"not supported"`
    NotSupported,
    /// `"aborted"`
    Aborted,
    /// `"not owner"`
    NotOwner,
    /// `"syntax error"`: the request is not well formed.
    Syntax,
    /// `"unknown database"`
    UnknownDatabase,
    /// `"canceled"`
    Canceled,
}

impl ErrorKind {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ReferentialIntegrity => "referential integrity violation",
            ErrorKind::Constraint => "constraint violation",
            ErrorKind::ResourcesExhausted => "resources exhausted",
            ErrorKind::Io => "I/O error",
            ErrorKind::DuplicateUuidName => "duplicate uuid-name",
            ErrorKind::Domain => "domain error",
            ErrorKind::Range => "range error",
            ErrorKind::TimedOut => "timed out",
            ErrorKind::NotSupported => "not supported",
            ErrorKind::Aborted => "aborted",
            ErrorKind::NotOwner => "not owner",
            ErrorKind::Syntax => "syntax error",
            ErrorKind::UnknownDatabase => "unknown database",
            ErrorKind::Canceled => "canceled",
        }
    }
}

/// A database error: what kind, and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {details}", kind.name())]
pub struct Error {
    pub kind: ErrorKind,
    pub details: String,
}

/// Results of database operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, details: impl Into<String>) -> Error {
        Error {
            kind,
            details: details.into(),
        }
    }

    /// A malformed request.
    pub fn syntax(details: impl Into<String>) -> Error {
        Error::new(ErrorKind::Syntax, details)
    }

    /// A value outside its column's constraints.
    pub fn constraint(details: impl Into<String>) -> Error {
        Error::new(ErrorKind::Constraint, details)
    }

    /// The name on the wire.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The RFC 7047 error object.
    pub fn to_json(&self) -> Value {
        json!({"error": self.kind.name(), "details": self.details})
    }
}
