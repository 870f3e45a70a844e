//! The one error type of `rvs-vsctl`. Every message is printed after
//! `rvs-vsctl: ` and says what was wrong with which argument.

use rvs_ovsdb::client::ClientError;

/// Why `rvs-vsctl` stopped.
#[derive(Debug, thiserror::Error)]
pub enum VsctlError {
    /// The command line is malformed (unknown option or command, wrong
    /// number of arguments). Nothing was sent to the database.
    #[error("{0}")]
    Usage(String),
    /// A command cannot be carried out: a bad value, a missing record, a
    /// name already taken. The transaction was not committed.
    #[error("{0}")]
    Command(String),
    /// The database server could not be reached or the connection broke.
    #[error("{0}")]
    Connection(#[from] ClientError),
    /// The server refused the transaction (constraint violation,
    /// referential integrity, ...). Nothing was changed.
    #[error("transaction error: {0}")]
    Transaction(String),
    /// `--timeout` expired.
    #[error("timed out after {secs} seconds {doing}")]
    Timeout { secs: u64, doing: String },
    /// A row the commands were reading was deleted by another client in
    /// the middle of the run; the commands are run again on fresh data.
    #[error("the database kept changing while the commands read it; try again")]
    Changed,
    /// Stop with this exit status and no message (`br-exists` on a missing
    /// bridge exits with status 2).
    #[error("exit status {0}")]
    Exit(i32),
}

impl VsctlError {
    /// The process exit status for this error.
    pub fn exit_status(&self) -> i32 {
        match self {
            VsctlError::Exit(code) => *code,
            _ => 1,
        }
    }
}

/// Shorthand for a [`VsctlError::Command`].
pub fn cmd_err(msg: impl Into<String>) -> VsctlError {
    VsctlError::Command(msg.into())
}

/// Shorthand for a [`VsctlError::Usage`].
pub fn usage_err(msg: impl Into<String>) -> VsctlError {
    VsctlError::Usage(msg.into())
}

/// Results of `rvs-vsctl` operations.
pub type Result<T, E = VsctlError> = std::result::Result<T, E>;
