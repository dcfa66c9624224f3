//! herd-server: one herd server on tokio.
//!
//! The protocol itself (wire formats, records, the replication state machine) is in
//! `herd-core`; the durable log in `herd-store`; WHATSAT's places in `herd-places`. This crate
//! is the async shell around them:
//! - [`config`]: the TOML config and the built-in herd;
//! - [`node`]: the shared state of one server: the replication core behind one lock, its links,
//!   places, store and log;
//! - [`server`]: bind, recover, spawn; the accept loop and client connections (with their
//!   deadlines and output ceiling, see [`disconnects`]);
//! - [`peer`]: links between servers: handshake (HMAC), bounded outbox, reconnecting link task;
//! - [`iolog`]: the per-server log of input, output and link events, written off the hot path;
//! - [`stats`]: counters for the metrics (added per batch, off the hot path) and the change
//!   feed live views subscribe to;
//! - [`client`]: a line client for the CLI (and `herd dump`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod arrivals;
pub mod client;
pub mod config;
pub mod disconnects;
pub mod iolog;
pub mod node;
pub mod peer;
pub mod server;
pub mod stats;
