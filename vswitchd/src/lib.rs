//! rvs-vswitchd: the control plane.
//!
//! - [`config`]: the configuration as the database holds it (bridges,
//!   ports, interfaces, controllers, fail mode);
//! - [`switch`]: reconciling the running switch with it (ports, ofports,
//!   errors, `cur_cfg`), and the bridges' flow tables;
//! - [`mac_learning`]: the MAC learning table behind NORMAL;
//! - [`ofproto`]: a bridge's flow tables (rules, priorities, `goto_table`,
//!   counters); [`ofcompile`] turns OpenFlow 1.3 flow-mods into rules;
//! - [`xlate`]: translation of a packet through the tables into datapath
//!   actions and a megaflow mask holding only what was consulted;
//! - [`pmd`]: poll-mode threads: ports, fast path, upcalls, revalidation,
//!   idle expiry, packets for the controller;
//! - [`connmgr`]: OpenFlow connections: the bridges' management sockets,
//!   controllers (active and passive), flow-mods, statistics, PACKET_IN and
//!   PACKET_OUT, flow timeouts;
//! - [`daemon`], [`appctl`], [`ports`], [`vlog`]: the process around it.

pub mod appctl;
pub mod config;
pub mod connmgr;
pub mod daemon;
pub mod mac_learning;
pub mod ofcompile;
pub mod ofproto;
pub mod pmd;
pub mod ports;
pub mod switch;
pub mod vlog;
pub mod xlate;
