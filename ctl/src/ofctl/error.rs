//! The one error type of `rvs-ofctl`. Every message but [`OfctlError::
//! Switch`] is printed after `rvs-ofctl: `; a switch's ERROR is printed as
//! `ovs-ofctl` prints it, without a prefix.

/// Why `rvs-ofctl` stopped.
#[derive(Debug, thiserror::Error)]
pub enum OfctlError {
    /// The command line is malformed: unknown option or command, wrong
    /// number of arguments, a bad option value. Nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// A flow, action list, port or packet could not be read. Nothing was
    /// sent.
    #[error("{0}")]
    Syntax(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    File {
        /// The file as given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The switch could not be reached: no such bridge or socket, the
    /// connection was refused or broke, the versions did not match.
    #[error("{0}")]
    Connection(String),
    /// The switch sent something that is not what was asked for.
    #[error("{0}")]
    Protocol(String),
    /// `--timeout` expired.
    #[error("{target}: timed out after {secs} s {doing} (see --timeout)")]
    Timeout {
        /// The SWITCH argument.
        target: String,
        /// The `--timeout` value.
        secs: u64,
        /// What was being waited for.
        doing: &'static str,
    },
    /// The switch answered with an OpenFlow ERROR, here printed as
    /// `ovs-ofctl` prints it (ends with a newline).
    #[error("{0}")]
    Switch(String),
    /// Stop with this exit status and no message (`diff-flows` found
    /// differences: 2).
    #[error("exit status {0}")]
    Exit(i32),
}

impl OfctlError {
    /// The process exit status for this error: 1, or the status of
    /// [`OfctlError::Exit`].
    pub fn exit_status(&self) -> i32 {
        match self {
            OfctlError::Exit(code) => *code,
            _ => 1,
        }
    }
}

/// Shorthand for an [`OfctlError::Usage`].
pub fn usage_err(msg: impl Into<String>) -> OfctlError {
    OfctlError::Usage(msg.into())
}

/// Results of `rvs-ofctl` operations.
pub type Result<T, E = OfctlError> = std::result::Result<T, E>;
