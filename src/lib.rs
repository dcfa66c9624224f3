//! herd: an application server herd.
//!
//! Mobile clients report where they are (`IAMAT`); any server of the herd answers what is near
//! a client (`WHATSAT`). Servers flood fresh locations to each other over long-lived links.
//!
//! A tour of the modules, from the wire inwards:
//! - [`protocol`]: the client wire format with no I/O: line framing, command parsing, exact
//!   decimal numbers, answer formatting (Google-style JSON).
//! - [`record`]: a client's location as the AT line its origin server made, fields sliced out.
//! - [`table`]: the newest record per client (newer-wins), a sharded concurrent map.
//! - [`flood`]: the flooding rules as a state machine: events in, actions out.
//! - [`peer`]: links between servers: handshake (HMAC), bounded outbox, reconnecting link task.
//! - [`places`]: where WHATSAT's places come from, behind the `PlacesProvider` trait.
//! - [`store`]: the durable append-only log of records, replayed at start, compacted live.
//! - [`iolog`]: the per-server log of input, output and link events, written off the hot path.
//! - [`node`]: the shared state of one server; [`server`]: accept loop and client connections.
//! - [`config`]: the TOML config and the built-in herd; [`client`]: a line client for the CLI.
//! - [`bench`]: `herd bench`, a load generator for the protocol (and Redis, for comparison).
#![forbid(unsafe_code)]

pub mod bench;
pub mod client;
pub mod config;
pub mod flood;
pub mod iolog;
pub mod node;
pub mod peer;
pub mod places;
pub mod protocol;
pub mod record;
pub mod server;
pub mod store;
pub mod table;
