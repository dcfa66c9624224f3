//! Live-event subscribers for tests, on raw sockets: Server-Sent Events (`GET /events`) and
//! WebSocket (`GET /ws`). Each can shrink its socket's receive buffer, so that a subscriber
//! that stops reading makes the server wait soon. Every read is bounded by [`DEADLINE`].

use std::net::SocketAddr;
use std::time::Instant;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::herd::DEADLINE;

/// A connection to `addr`, with a receive buffer of `rcvbuf` bytes when given.
async fn connect(addr: SocketAddr, rcvbuf: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(bytes) = rcvbuf {
        socket.set_recv_buffer_size(bytes).unwrap();
    }
    tokio::time::timeout(DEADLINE, socket.connect(addr))
        .await
        .expect("connect in time")
        .unwrap()
}

/// One event: its type and its data.
pub type Event = (String, Value);

/// A `GET /events` subscriber, over HTTP/1.0 so that the body is the event stream itself.
pub struct SseClient {
    /// The connection.
    stream: TcpStream,
    /// Bytes read but not parsed yet.
    buffer: Vec<u8>,
    /// The answer's status.
    pub status: u16,
}

impl SseClient {
    /// Asks `http` for `target` (`/events?...`) and reads the answer's head.
    pub async fn open(http: SocketAddr, target: &str, rcvbuf: Option<u32>) -> SseClient {
        let mut stream = connect(http, rcvbuf).await;
        let request = format!("GET {target} HTTP/1.0\r\nHost: {http}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut client = SseClient {
            stream,
            buffer: Vec::new(),
            status: 0,
        };
        let head = client.until(b"\r\n\r\n").await;
        let head = String::from_utf8_lossy(&head).into_owned();
        client.status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        client
    }

    /// Reads until `end`; returns what came before it (and drops `end`).
    async fn until(&mut self, end: &[u8]) -> Vec<u8> {
        let start = Instant::now();
        loop {
            if let Some(at) = self.buffer.windows(end.len()).position(|w| w == end) {
                let found: Vec<u8> = self.buffer.drain(..at + end.len()).collect();
                return found[..at].to_vec();
            }
            let left = DEADLINE.saturating_sub(start.elapsed());
            let mut chunk = [0u8; 16 * 1024];
            let n = tokio::time::timeout(left, self.stream.read(&mut chunk))
                .await
                .expect("the server said nothing in time")
                .unwrap();
            assert!(n > 0, "the stream ended");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// The rest of the answer (for an answer that is not a stream).
    pub async fn body(mut self) -> String {
        let mut rest = Vec::new();
        tokio::time::timeout(DEADLINE, self.stream.read_to_end(&mut rest))
            .await
            .expect("the answer ended in time")
            .unwrap();
        self.buffer.extend_from_slice(&rest);
        String::from_utf8_lossy(&self.buffer).into_owned()
    }

    /// The next event (comments, such as keep-alives, skipped).
    pub async fn next(&mut self) -> Event {
        loop {
            let block = self.until(b"\n\n").await;
            let block = String::from_utf8_lossy(&block).into_owned();
            let mut kind = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    kind = Some(e.trim().to_string());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim());
                }
            }
            if let Some(kind) = kind {
                return (kind, serde_json::from_str(&data).unwrap());
            }
        }
    }
}

/// A `GET /ws` subscriber.
pub struct WsClient {
    /// The socket.
    socket: WebSocketStream<TcpStream>,
}

impl WsClient {
    /// Upgrades `http` + `target` (`/ws?...`) to a WebSocket, with `origin` as its `Origin`
    /// when given; the status of the refusal when the server says no.
    pub async fn open(
        http: SocketAddr,
        target: &str,
        origin: Option<&str>,
        rcvbuf: Option<u32>,
    ) -> Result<WsClient, u16> {
        let stream = connect(http, rcvbuf).await;
        let mut request = format!("ws://{http}{target}")
            .into_client_request()
            .unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        let upgraded =
            tokio::time::timeout(DEADLINE, tokio_tungstenite::client_async(request, stream))
                .await
                .expect("the upgrade answered in time");
        match upgraded {
            Ok((socket, answer)) => {
                assert_eq!(answer.status().as_u16(), 101);
                Ok(WsClient { socket })
            }
            Err(tungstenite::Error::Http(answer)) => Err(answer.status().as_u16()),
            Err(e) => panic!("the upgrade failed: {e}"),
        }
    }

    /// Sends a text message.
    pub async fn send(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_string().into()))
            .await
            .unwrap();
    }

    /// The next event message, as (`event`, `data`).
    pub async fn next(&mut self) -> Event {
        loop {
            let message = tokio::time::timeout(DEADLINE, self.socket.next())
                .await
                .expect("no message in time")
                .expect("the socket ended")
                .unwrap();
            if let Message::Text(text) = message {
                let mut v: Value = serde_json::from_str(text.as_str()).unwrap();
                let kind = v["event"].as_str().expect("an event message").to_string();
                return (kind, v["data"].take());
            }
        }
    }

    /// Closes the socket.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// A live-event subscriber of either kind.
#[allow(async_fn_in_trait)]
pub trait Subscriber {
    /// The next event.
    async fn next_event(&mut self) -> Event;

    /// Every event up to and including the `location` of `client`.
    async fn events_until(&mut self, client: &str) -> Vec<Event> {
        let mut seen = Vec::new();
        loop {
            let event = self.next_event().await;
            let done = event.0 == "location" && event.1["client"] == client;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// The clients of the `location` events up to and including `client`'s.
    async fn locations_until(&mut self, client: &str) -> Vec<String> {
        self.events_until(client)
            .await
            .into_iter()
            .filter(|(kind, _)| kind == "location")
            .map(|(_, data)| data["client"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Subscriber for SseClient {
    async fn next_event(&mut self) -> Event {
        self.next().await
    }
}

impl Subscriber for WsClient {
    async fn next_event(&mut self) -> Event {
        self.next().await
    }
}
