//! Links between neighbouring servers: the handshake that authenticates them, the outbox that
//! bounds what waits for a slow neighbour, the lines neighbours trade, and the link task that
//! keeps a connection up.

pub mod handshake;
pub mod link;
pub mod outbox;
pub mod wire;

pub use link::PeerLink;
