//! rvs-vswitchd: the control plane.
//!
//! Built so far (issue 4, in progress):
//! - [`mac_learning`]: the MAC learning table behind NORMAL;
//! - [`ofproto`]: a bridge's flow tables (rules, priorities, `goto_table`);
//! - [`xlate`]: translation of a packet through the tables into datapath
//!   actions and a megaflow mask holding only what was consulted;
//! - [`pmd`]: poll-mode threads: ports, fast path, upcalls, revalidation,
//!   idle expiry.
//!
//! Still to come: reconciliation from the database, ports and poll-mode
//! threads, upcall handling and revalidation, the control socket.

pub mod mac_learning;
pub mod ofproto;
pub mod pmd;
pub mod xlate;
