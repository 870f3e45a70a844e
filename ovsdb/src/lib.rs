//! rvs-ovsdb: the configuration database, in the shape of OVSDB (RFC 7047).
//!
//! This crate will hold the schema loader, typed rows, transactions, the
//! durable log and the JSON-RPC server and client that `rvs-vsctl`, the real
//! `ovs-vsctl` and `rvs-vswitchd` talk to (issue "ovsdb"). It has no code yet;
//! nothing here pretends otherwise.

#![forbid(unsafe_code)]
