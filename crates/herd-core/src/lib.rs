//! herd-core: the herd's protocol core, with no I/O.
//!
//! Nothing here touches a socket, a clock, a file or an async runtime: it is fed bytes and
//! events and answers with bytes and actions, so it is tested (and fuzzed, and simulated)
//! without a network. A tour:
//! - [`protocol`]: the client wire format: line framing, command parsing, exact decimal
//!   numbers and ISO 6709 locations, answer formatting (Google-style JSON).
//! - [`record`]: a client's location as the AT line its origin server made, fields sliced out.
//! - [`table`]: the newest record per client (newer-wins), a sharded map that readers share.
//! - [`peer_wire`]: the lines neighbouring servers trade (records, watermarks, keep-alives).
//! - [`replica`]: the replication state machine: events in, actions out.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod peer_wire;
pub mod protocol;
pub mod record;
pub mod replica;
pub mod table;
