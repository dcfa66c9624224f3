//! The accepting side of a link: a connection to the peer port is sealed (TLS, see `seal`),
//! and if its first line is a neighbour's HELLO it is authenticated and handed to that
//! neighbour's link (or, for `herd dump`, answered with the table). The simulation hands its
//! in-memory connections here too (unsealed).
//!
//! Who called is decided once, from the HELLO, as a [`Caller`]: a dump proves the same secret
//! as a neighbour but is only ever answered with the table and closed, so it can never take
//! over or replace a link (and a neighbour's name can never be `*dump`: the config refuses
//! names starting with `*`).

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::handshake;
use super::link::PeerLink;
use super::transport::Stream;
use crate::node::Node;
use herd_core::protocol::frame::{Frame, LineFramer};

/// Opens the seal, reads the first line of `stream` and, if it is a neighbour's HELLO, runs
/// the acceptor's side; anything else closes the connection.
pub async fn accept_stream(node: Arc<Node>, stream: Box<dyn Stream>) {
    let (mut stream, session) = match node.sealing.accept(stream).await {
        Ok(opened) => opened,
        Err(e) => {
            node.log_limited("handshake refused", || {
                format!("link: handshake refused before HELLO: {e}")
            });
            return;
        }
    };
    let mut buf = BytesMut::with_capacity(1024);
    let mut framer = LineFramer::new(1024);
    let first = async {
        loop {
            if let Some(frame) = framer.next_frame(&mut buf, false) {
                return match frame {
                    Frame::Line(line) => Some(line),
                    Frame::Overlong(_) => None,
                };
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    };
    let Ok(Some(line)) = tokio::time::timeout(handshake::STEP_TIMEOUT, first).await else {
        return;
    };
    if let Some((hello, caller)) = caller(&node, &line) {
        if !node.sealing.admits(&session, &hello.dialer) {
            node.log_limited("handshake refused", || {
                format!(
                    "link {}: handshake refused: its certificate does not name it",
                    hello.dialer
                )
            });
            return;
        }
        open_link(node, stream, buf, hello, caller, &session.binding).await;
    }
}

/// Who says HELLO on the peer port.
pub enum Caller {
    /// `herd dump`: gets the table, read-only, and the connection closes.
    Dump,
    /// A configured neighbour: the connection becomes its link.
    Neighbour(Arc<PeerLink>),
}

/// The HELLO in `line` and who sent it: `herd dump`, or a configured neighbour addressing
/// this server. `None` (logged, within the log's budget) for anything else.
pub fn caller(node: &Node, line: &[u8]) -> Option<(handshake::Hello, Caller)> {
    if !handshake::is_hello(line) {
        return None;
    }
    let hello = handshake::parse_hello(line)?;
    if hello.dialer == handshake::DUMP && (hello.acceptor == node.name || hello.acceptor == "*") {
        return Some((hello, Caller::Dump));
    }
    match node.link_named(&hello.dialer) {
        Some(link) if hello.acceptor == node.name => {
            let link = link.clone();
            Some((hello, Caller::Neighbour(link)))
        }
        _ => {
            node.log_limited("handshake refused: not a neighbour", || {
                format!(
                    "handshake refused: {:?} is not a neighbour of {}",
                    hello.dialer, node.name
                )
            });
            None
        }
    }
}

/// Runs the acceptor's handshake, then answers a dump or hands the connection to the
/// neighbour's link.
pub async fn open_link(
    node: Arc<Node>,
    mut stream: Box<dyn Stream>,
    mut buf: BytesMut,
    hello: handshake::Hello,
    caller: Caller,
    binding: &[u8],
) {
    let proved = handshake::accept(
        &mut stream,
        &mut buf,
        &hello,
        &node.name,
        &node.sealing.secrets(),
        binding,
    )
    .await;
    if let Err(e) = proved {
        node.log_limited("handshake refused", || {
            format!("link {}: handshake refused: {e}", hello.dialer)
        });
        return;
    }
    match caller {
        Caller::Dump => {
            node.log_limited("dump", || "dump: sending the table".to_string());
            // Whatever the dump sends is never read: it cannot change anything.
            let _ = stream.write_all(&dump(&node)).await;
            let _ = stream.shutdown().await;
        }
        Caller::Neighbour(link) => link.hand_over((stream, buf)).await,
    }
}

/// The table as `client origin time location` lines, sorted by client, for `herd dump`
/// (forgotten clients left out, as for every reader of the table).
pub fn dump(node: &Node) -> Vec<u8> {
    let mut records = node.table().snapshot();
    records.retain(|r| !r.is_gone());
    records.sort_by(|a, b| a.client_bytes().cmp(b.client_bytes()));
    let mut out = Vec::with_capacity(records.len() * 64);
    for r in records {
        for (i, field) in [r.client_bytes(), r.origin(), r.time(), r.location()]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(field);
        }
        out.push(b'\n');
    }
    out
}
