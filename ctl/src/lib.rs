//! rvs-ctl: the command-line clients `rvs-vsctl`, `rvs-ofctl` and
//! `rvs-appctl`, in the command languages of `ovs-vsctl`, `ovs-ofctl` and
//! `ovs-appctl`. They arrive with the database, OpenFlow and vswitchd issues;
//! this crate has no code yet.

#![forbid(unsafe_code)]
