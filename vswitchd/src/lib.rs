//! rvs-vswitchd: the control plane.
//!
//! Built so far (issue 4, in progress):
//! - [`mac_learning`]: the MAC learning table behind NORMAL;
//! - [`ofproto`]: a bridge's flow tables (rules, priorities, `goto_table`);
//! - [`xlate`]: translation of a packet through the tables into datapath
//!   actions and a megaflow mask holding only what was consulted;
//! - [`pmd`]: poll-mode threads: ports, fast path, upcalls, revalidation,
//!   idle expiry;
//! - [`config`], [`switch`]: the configuration from the database, and
//!   reconciling the running switch with it (ports, ofports, errors,
//!   `cur_cfg`).
//!
//! Still to come: the daemon (embedded database, monitor loop), device
//! ports, the control socket, pmd-cpu-mask.

pub mod appctl;
pub mod config;
pub mod daemon;
pub mod mac_learning;
pub mod ofproto;
pub mod pmd;
pub mod ports;
pub mod switch;
pub mod vlog;
pub mod xlate;
