//! One client connection: read lines, answer each in order, one write per batch of ready
//! answers. The records a batch makes go to each neighbour in one write too, before the
//! answers. Only the client protocol is spoken here: links arrive on the peer port.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::node::{HeldForwards, Node};
use herd_core::protocol::answer;
use herd_core::protocol::command::{self, Command};
use herd_core::protocol::frame::{Frame, LineFramer};
use herd_core::record::Record;
use herd_core::replica::ClientReport;
use herd_places::NearbyQuery;

/// How many bytes a connection reads at a time at first: enough for a client that sends a
/// line now and then, so thousands of held connections stay small.
const FIRST_CHUNK: usize = 512;
/// How many bytes a connection reads at a time once a read has filled its buffer.
const READ_CHUNK: usize = 4096;

/// Serves `stream` until the client closes it, it fails, or the server shuts down.
pub async fn serve(node: Arc<Node>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(FIRST_CHUNK);
    let mut chunk = FIRST_CHUNK;
    let mut out = Vec::new();
    let mut held = node.held_forwards();
    let mut framer = LineFramer::new(node.max_line);
    let mut eof = false;
    loop {
        while let Some(frame) = framer.next_frame(&mut buf, eof) {
            let mut answering = Answering {
                node: &node,
                out: &mut out,
                held: &mut held,
                stream: &mut stream,
            };
            if answering.frame(frame).await.is_err() {
                return;
            }
        }
        // Flooded before answered.
        held.flush();
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if eof {
            break;
        }
        if buf.capacity() - buf.len() < chunk / 8 {
            buf.reserve(chunk);
        }
        let room = buf.capacity() - buf.len();
        tokio::select! {
            biased;
            _ = node.shutdown.cancelled() => break,
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) => eof = true,
                // A read that fills the buffer: a busy client, read it in larger chunks.
                Ok(n) if n == room => chunk = READ_CHUNK,
                Ok(_) => {}
                Err(_) => return,
            },
        }
    }
    let _ = stream.shutdown().await;
}

/// What answering a frame needs: the answers not yet written, the records not yet
/// forwarded, and the connection to write them to.
struct Answering<'a> {
    /// The server.
    node: &'a Node,
    /// Answers ready but not yet written.
    out: &'a mut Vec<u8>,
    /// Records to forward before `out` is written.
    held: &'a mut HeldForwards,
    /// The client's connection.
    stream: &'a mut TcpStream,
}

impl Answering<'_> {
    /// Floods what is held, then writes the answers in `out`: for when an answer must go out
    /// before the batch ends.
    async fn send_ready(&mut self) -> std::io::Result<()> {
        self.held.flush();
        if !self.out.is_empty() {
            self.stream.write_all(self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Appends the answer to one frame to `out`. A WHATSAT whose places are not ready at
    /// once first sends what `out` holds, so earlier answers never wait on an upstream service.
    async fn frame(&mut self, frame: Frame) -> std::io::Result<()> {
        let node = self.node;
        let start = self.out.len();
        let line = match frame {
            Frame::Overlong(head) => {
                node.log.input(Bytes::from([&head[..], b"..."].concat()));
                answer::overlong(&head, self.out);
                node.log.output(Bytes::copy_from_slice(&self.out[start..]));
                return Ok(());
            }
            Frame::Line(line) => line,
        };
        node.log.input(line.clone());
        match command::parse(&line) {
            Ok(Command::IAmAt {
                client,
                location,
                time,
                lat,
                lng,
            }) => {
                let report = ClientReport {
                    client,
                    location,
                    time,
                    position: (lat, lng),
                };
                match node.client(&report, now_nanos(), self.held).await {
                    Ok((record, durable)) => {
                        if let Some(durable) = durable {
                            // Flooded first: a neighbour need not wait for this disk.
                            self.held.flush();
                            if let Err(e) = durable.wait().await {
                                // Not durable, so not acknowledged.
                                node.log.event(format!("storing a record failed: {e}"));
                                answer::invalid(&line, self.out);
                                node.log.output(Bytes::copy_from_slice(&self.out[start..]));
                                return Ok(());
                            }
                        }
                        self.out.extend_from_slice(record.line());
                        self.out.push(b'\n');
                        node.log.output(record.line_bytes());
                    }
                    Err(e) => {
                        node.log.event(format!("IAMAT refused: {e}"));
                        answer::invalid(&line, self.out);
                        node.log.output(Bytes::copy_from_slice(&self.out[start..]));
                    }
                }
                return Ok(());
            }
            Ok(Command::WhatsAt {
                client,
                radius_km,
                bound,
            }) => match self.known(client).await? {
                None => answer::invalid(&line, self.out),
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
                            self.send_ready().await?;
                            places.await
                        }
                    };
                    let start = self.out.len();
                    answer::whatsat(record.line(), json, bound, self.out);
                    node.log.output(Bytes::copy_from_slice(&self.out[start..]));
                    return Ok(());
                }
            },
            Err(_) => answer::invalid(&line, self.out),
        }
        node.log.output(Bytes::copy_from_slice(&self.out[start..]));
        Ok(())
    }

    /// The record of `client`: at once if known; else, when some link is up, after waiting
    /// up to [`IN_FLIGHT_GRACE`] for it (sending the answers in `out` first, so they never
    /// wait).
    async fn known(&mut self, client: &[u8]) -> std::io::Result<Option<Record>> {
        let node = self.node;
        if let Some(record) = node.table().get(client) {
            return Ok(Some(record));
        }
        if !node.links.iter().any(|l| l.is_up()) {
            return Ok(None);
        }
        self.send_ready().await?;
        Ok(node
            .arrivals
            .wait_for(node.table(), client, IN_FLIGHT_GRACE)
            .await)
    }
}

/// How long a WHATSAT about an unknown client waits for its record to arrive from a
/// neighbour before it is answered `?`: a client may ask here right after another server
/// answered its IAMAT, while the record is still a hop or two away.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_millis(10);

/// The wall clock in nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}
