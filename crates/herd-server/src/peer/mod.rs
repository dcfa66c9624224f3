//! Links between neighbouring servers: the TLS that seals them (`seal`), the handshake that
//! authenticates them, the outbox that
//! bounds what waits for a slow neighbour, and the link task that
//! keeps a connection up.

pub mod accept;
pub mod handshake;
pub mod link;
pub mod log_budget;
pub mod outbox;
pub mod seal;
pub mod transport;

pub use link::PeerLink;
