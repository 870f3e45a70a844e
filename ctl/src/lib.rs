//! rvs-ctl: the command-line clients of rvs, in the command languages of
//! Open vSwitch's tools.
//!
//! - [`vsctl`]: `rvs-vsctl`, the database front end (`ovs-vsctl`'s
//!   language: `add-br`, `add-port`, `set`, `list`, ...).
//!
//! - [`ofctl`]: `rvs-ofctl`, the OpenFlow 1.3 client (`ovs-ofctl`'s
//!   language and output: `show`, `add-flow`, `dump-flows`,
//!   `replace-flows`, `diff-flows`, `packet-out`, ...).
//!
//! - [`appctl`]: `rvs-appctl`, questions to a running daemon (`ovs-appctl`'s
//!   protocol).

#![forbid(unsafe_code)]

pub mod appctl;
pub mod ofctl;
pub mod vsctl;
