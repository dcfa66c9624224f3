//! One client connection: read lines, answer each in order, one write per batch of ready
//! answers. The first line may instead open a link from a neighbouring server.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::flood::Event;
use crate::node::Node;
use crate::peer::handshake;
use crate::places::NearbyQuery;
use crate::protocol::answer;
use crate::protocol::command::{self, Command};
use crate::protocol::frame::{Frame, LineFramer};
use crate::record::Record;

/// How many bytes a connection reads at a time at first.
const READ_CHUNK: usize = 4096;

/// Serves `stream` until the client closes it, it fails, or the server shuts down.
pub async fn serve(node: Arc<Node>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Vec::with_capacity(READ_CHUNK);
    let mut framer = LineFramer::new(node.max_line);
    let mut first = true;
    let mut eof = false;
    loop {
        while let Some(frame) = framer.next_frame(&mut buf, eof) {
            if std::mem::take(&mut first) {
                if let Frame::Line(line) = &frame {
                    if let Some(hello) = neighbour_hello(&node, line) {
                        return open_link(node, stream, buf, hello).await;
                    }
                }
            }
            if answer_frame(&node, frame, &mut out, &mut stream)
                .await
                .is_err()
            {
                return;
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if eof {
            break;
        }
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            biased;
            _ = node.shutdown.cancelled() => break,
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(_) => return,
            },
        }
    }
    let _ = stream.shutdown().await;
}

/// The HELLO of a configured neighbour addressed to this server, if `line` is one.
fn neighbour_hello(node: &Node, line: &[u8]) -> Option<handshake::Hello> {
    if !handshake::is_hello(line) {
        return None;
    }
    let hello = handshake::parse_hello(line)?;
    if hello.dialer == handshake::DUMP && (hello.acceptor == node.name || hello.acceptor == "*") {
        return Some(hello);
    }
    if hello.acceptor != node.name || node.link_named(&hello.dialer).is_none() {
        node.log.event(format!(
            "handshake refused: {:?} is not a neighbour of {}",
            hello.dialer, node.name
        ));
        return None;
    }
    Some(hello)
}

/// Runs the acceptor's handshake and hands the connection to the neighbour's link.
async fn open_link(
    node: Arc<Node>,
    mut stream: TcpStream,
    mut buf: BytesMut,
    hello: handshake::Hello,
) {
    match handshake::accept(
        &mut stream,
        &mut buf,
        &hello,
        &node.name,
        node.secret.as_deref(),
    )
    .await
    {
        Ok(()) if hello.dialer == handshake::DUMP => {
            node.log.event("dump: sending the table");
            let _ = stream.write_all(&dump(&node)).await;
            let _ = stream.shutdown().await;
        }
        Ok(()) => {
            if let Some(link) = node.link_named(&hello.dialer) {
                link.hand_over((stream, buf)).await;
            }
        }
        Err(e) => node
            .log
            .event(format!("link {}: handshake refused: {e}", hello.dialer)),
    }
}

/// The table as `client origin time location` lines, sorted by client, for `herd dump`.
pub fn dump(node: &Node) -> Vec<u8> {
    let mut records = node.table().snapshot();
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

/// Appends the answer to one frame to `out`. A WHATSAT whose places are not ready at once
/// first sends what `out` holds, so earlier answers never wait on an upstream service.
async fn answer_frame(
    node: &Node,
    frame: Frame,
    out: &mut Vec<u8>,
    stream: &mut TcpStream,
) -> std::io::Result<()> {
    let start = out.len();
    let line = match frame {
        Frame::Overlong(head) => {
            node.log.input(&[&head[..], b"..."].concat());
            answer::overlong(&head, out);
            node.log.output(&out[start..]);
            return Ok(());
        }
        Frame::Line(line) => line,
    };
    node.log.input(&line);
    match command::parse(&line) {
        Ok(Command::IAmAt {
            client,
            location,
            time,
            lat,
            lng,
        }) => {
            let now = now_nanos();
            let seq = node.flood.next_seq((now / 1000).max(0) as u64);
            let record = Record::received(&node.name, seq, now, client, location, time, (lat, lng));
            out.extend_from_slice(record.line());
            out.push(b'\n');
            // Flooded (and, with fsync = "always", synced) before the answer goes out.
            node.apply(Event::Client(record)).await;
        }
        Ok(Command::WhatsAt {
            client,
            radius_km,
            bound,
        }) => match known(node, client, out, stream).await? {
            None => answer::invalid(&line, out),
            Some(record) => {
                let (lat, lng) = record.position();
                let query = NearbyQuery {
                    lat,
                    lng,
                    radius_m: radius_km * 1000.0,
                    bound,
                };
                let mut places = node.places.nearby(query);
                let json = match (&mut places).now_or_never() {
                    Some(json) => json,
                    None => {
                        stream.write_all(out).await?;
                        out.clear();
                        places.await
                    }
                };
                let start = out.len();
                answer::whatsat(record.line(), json, bound, out);
                node.log.output(&out[start..]);
                return Ok(());
            }
        },
        Err(_) => answer::invalid(&line, out),
    }
    node.log.output(&out[start..]);
    Ok(())
}

/// How long a WHATSAT about an unknown client waits for its record to arrive from a
/// neighbour before it is answered `?`: a client may ask here right after another server
/// answered its IAMAT, while the record is still a hop or two away.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_millis(10);

/// The record of `client`: at once if known; else, when some link is up, after waiting up to
/// [`IN_FLIGHT_GRACE`] for it (sending the answers in `out` first, so they never wait).
async fn known(
    node: &Node,
    client: &[u8],
    out: &mut Vec<u8>,
    stream: &mut TcpStream,
) -> std::io::Result<Option<Record>> {
    if let Some(record) = node.table().get(client) {
        return Ok(Some(record));
    }
    if !node.links.iter().any(|l| l.is_up()) {
        return Ok(None);
    }
    if !out.is_empty() {
        stream.write_all(out).await?;
        out.clear();
    }
    Ok(node.table().wait_for(client, IN_FLIGHT_GRACE).await)
}

/// The wall clock in nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}
