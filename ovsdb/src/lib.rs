//! rvs-ovsdb: the configuration database, in the shape of OVSDB (RFC 7047).
//!
//! - [`types`]: UUIDs, atoms, datums and their constraints;
//! - [`schema`]: database schemas, including the built-in `_Server` one;
//! - [`db`]: committed rows, reference counts, indexes; applying a commit;
//! - [`txn`]: the `transact` operations, all-or-nothing;
//! - [`storage`]: the durable log of commits, with torn-tail recovery and
//!   compaction;
//! - [`jsonrpc`], [`monitor`], [`server`]: the JSON-RPC server with
//!   monitors, locks and the `_Server` database;
//! - [`error`]: errors that are also RFC 7047 error objects.
//!
//! A transaction never changes the database it reads: it yields a
//! [`db::Commit`] that the owner makes durable first and applies second.

#![forbid(unsafe_code)]

pub mod client;
pub mod condition;
pub mod db;
pub mod error;
pub mod jsonrpc;
pub mod monitor;
pub mod schema;
pub mod server;
pub mod storage;
pub mod txn;
pub mod types;

pub use db::{Commit, Database, Row, RowChange};
pub use error::{Error, ErrorKind, Result};
pub use schema::DatabaseSchema;
pub use types::{Atom, Datum, Uuid};
