//! rvs-vswitchd: the control plane.
//!
//! This crate will reconcile bridges and ports from the database, hold the
//! OpenFlow tables (ofproto), translate packets through them into datapath
//! actions and megaflow masks (xlate), do NORMAL MAC-learning switching,
//! answer upcalls, revalidate megaflows and serve `rvs-appctl` (issue
//! "rvs-vswitchd"). Its fast path is `rvs-datapath`, which is written; this
//! crate has no code yet.
