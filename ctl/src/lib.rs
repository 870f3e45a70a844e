//! rvs-ctl: the command-line clients of rvs, in the command languages of
//! Open vSwitch's tools.
//!
//! - [`vsctl`]: `rvs-vsctl`, the database front end (`ovs-vsctl`'s
//!   language: `add-br`, `add-port`, `set`, `list`, ...).
//!
//! - [`appctl`]: `rvs-appctl`, questions to a running daemon (`ovs-appctl`'s
//!   protocol).
//!
//! `rvs-ofctl` arrives with the OpenFlow issue.

#![forbid(unsafe_code)]

pub mod appctl;
pub mod vsctl;
