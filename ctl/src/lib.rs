//! rvs-ctl: the command-line clients of rvs, in the command languages of
//! Open vSwitch's tools.
//!
//! - [`vsctl`]: `rvs-vsctl`, the database front end (`ovs-vsctl`'s
//!   language: `add-br`, `add-port`, `set`, `list`, ...).
//!
//! `rvs-ofctl` and `rvs-appctl` arrive with the OpenFlow and vswitchd
//! issues.

#![forbid(unsafe_code)]

pub mod vsctl;
