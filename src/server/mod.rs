//! Running a server: bind, start its links and log, accept clients until shut down.
//!
//! [`start`] takes an optional already-bound listener, so tests bind port 0 first and build
//! the herd's config from the real addresses. A semaphore permit is taken before each
//! `accept()` and lives in the connection's task, which caps open client connections.

pub mod connection;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::flood::Flood;
use crate::iolog::{IoLog, IoLogWriter};
use crate::node::Node;
use crate::peer::{link, PeerLink};
use crate::places::PlacesProvider;
use crate::table::LocationTable;

/// The listen backlog: enough for bursts of thousands of connects.
const BACKLOG: u32 = 4096;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config has no server of that name.
    #[error("{file}: no server called \"{name}\" (known: {known})")]
    UnknownServer {
        /// The config file.
        file: String,
        /// The name asked for.
        name: String,
        /// The names the config has.
        known: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
}

/// A server that is running.
pub struct Running {
    /// The server's shared state.
    pub node: Arc<Node>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its log file is.
    pub log_path: PathBuf,
    /// The log's writer, flushed at shutdown.
    log_writer: IoLogWriter,
}

impl Running {
    /// Stops accepting, lets connections finish the command in hand, stops the links and
    /// flushes the log.
    pub async fn shutdown(self) {
        self.node
            .log
            .event(format!("{} shutting down", self.node.name));
        self.node.shutdown.cancel();
        self.node.tasks.close();
        self.node.tasks.wait().await;
        self.log_writer.finish().await;
    }

    /// Resolves when the server has been told to stop (by [`Running::shutdown`] or its token).
    pub async fn stopped(&self) {
        self.node.shutdown.cancelled().await;
    }
}

/// Binds `addr` with a large backlog and address reuse.
///
/// # Errors
/// [`StartError::Bind`] when the address is taken or not local.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let fail = |source| StartError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    socket.listen(BACKLOG).map_err(fail)
}

/// Starts server `name` of `config`, on `listener` if given (else it binds its configured
/// address), answering WHATSAT through `places`.
///
/// # Errors
/// [`StartError`] when the name is unknown or the address cannot be bound.
pub async fn start(
    config: &Config,
    name: &str,
    listener: Option<TcpListener>,
    places: Arc<dyn PlacesProvider>,
) -> Result<Running, StartError> {
    let me = config
        .server(name)
        .ok_or_else(|| StartError::UnknownServer {
            file: config.source.clone(),
            name: name.to_string(),
            known: config.names().join(", "),
        })?;
    let listener = match listener {
        Some(l) => l,
        None => bind(me.listen)?,
    };
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: me.listen,
        source,
    })?;
    let log_path = config.storage.dir.join(name).join("herd.log");
    let (log, log_writer) = IoLog::open(&log_path);

    let secret = match &config.herd.secret_env {
        Some(var) => match std::env::var(var) {
            Ok(s) if !s.is_empty() => Some(s.into_bytes()),
            _ => {
                log.event(format!("warning: [herd] secret_env names {var}, which is not set: links are checked by name only"));
                tracing::warn!("{var} is not set: links between servers are checked by name only");
                None
            }
        },
        None => {
            log.event(
                "warning: no [herd] secret_env: links between servers are checked by name only",
            );
            None
        }
    };
    let links: Vec<Arc<PeerLink>> = me
        .neighbours
        .iter()
        .enumerate()
        .filter_map(|(id, n)| {
            config
                .server(n)
                .map(|s| Arc::new(PeerLink::new(id, name, n, s.listen)))
        })
        .collect();
    let node = Arc::new(Node {
        name: name.to_string(),
        flood: Flood::new(LocationTable::new(), links.len(), config.herd.catch_up),
        links,
        places,
        log,
        secret,
        max_line: config.herd.max_line,
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    });
    node.log.event(format!(
        "{name} listening on {addr}, neighbours: {}",
        me.neighbours.join(", ")
    ));
    for id in 0..node.links.len() {
        node.tasks.spawn(link::run(node.clone(), id));
    }
    node.tasks.spawn(accept_loop(
        node.clone(),
        listener,
        config.herd.max_connections,
    ));
    Ok(Running {
        node,
        addr,
        log_path,
        log_writer,
    })
}

/// Accepts connections until shutdown; each gets a task holding a connection permit.
async fn accept_loop(node: Arc<Node>, listener: TcpListener, max_connections: usize) {
    let permits = Arc::new(Semaphore::new(max_connections));
    loop {
        let permit = tokio::select! {
            _ = node.shutdown.cancelled() => return,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = node.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let node2 = node.clone();
                node.tasks.spawn(async move {
                    connection::serve(node2, stream).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // Out of file descriptors or a similar passing failure: pause, do not spin.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
