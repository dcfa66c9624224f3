//! Running a server: bind, start its links and log, accept clients until shut down.
//!
//! A server listens twice: for clients on its `listen` address (only the client protocol is
//! spoken there) and for its neighbours' links on its `peer` address, each with its own
//! connection budget, so filling one never starves the other.
//!
//! [`start`] takes optional already-bound listeners, so tests bind port 0 first and build
//! the herd's config from the real addresses. A semaphore permit is taken before each
//! `accept()` and lives in the connection's task, which caps open client connections.

pub mod connection;
pub mod open_files;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::iolog::{IoLog, IoLogWriter, LogLimits};
use crate::node::{Node, NodeParts};
use crate::peer::seal::{CaMaterial, Seal, Sealing};
use crate::peer::transport::{Tcp, Transport};
use crate::peer::{accept, link, PeerLink};
use connection::ClientLimits;
use herd_core::record::stored_is_newer;
use herd_core::replica::{Event, Replica, Restoring};
use herd_places::PlacesProvider;
use herd_store::{Store, StoreConfig};

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
    /// The stored records could not be loaded.
    #[error("{0}")]
    Store(#[from] herd_store::StoreError),
    /// The server's certificate or key could not be read.
    #[error("{0}")]
    Credentials(#[from] crate::config::ConfigError),
    /// TLS could not be set up with them.
    #[error("setting up TLS for the links: {0}")]
    Seal(#[from] crate::peer::seal::SealError),
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
    /// Where it listens for clients.
    pub addr: SocketAddr,
    /// Where it accepts its neighbours' links.
    pub peer_addr: SocketAddr,
    /// Where its log file is.
    pub log_path: PathBuf,
    /// The log's writer, flushed at shutdown.
    log_writer: IoLogWriter,
    /// How long connections may take to finish at shutdown (`[herd] shutdown_grace`).
    shutdown_grace: Duration,
}

/// How long the tasks still running when the shutdown grace ran out get to notice it.
const AFTER_GRACE: Duration = Duration::from_secs(1);
/// How long closing the store (writing and syncing what is queued) may take at shutdown.
const STORE_CLOSE_DEADLINE: Duration = Duration::from_secs(10);

impl Running {
    /// Stops accepting and reading, lets connections finish what they are answering for at
    /// most the shutdown grace, then closes those still open; stops the links, closes the
    /// store and flushes the log. Always ends: every wait has a deadline (tasks that ignore
    /// the end of the grace are left behind, for the runtime to drop).
    pub async fn shutdown(self) {
        let node = &self.node;
        node.log.event(format!("{} shutting down", node.name));
        node.shutdown.cancel();
        node.tasks.close();
        if tokio::time::timeout(self.shutdown_grace, node.tasks.wait())
            .await
            .is_err()
        {
            node.grace_over.cancel();
            if tokio::time::timeout(AFTER_GRACE, node.tasks.wait())
                .await
                .is_err()
            {
                node.log.event(format!(
                    "{} tasks still running after the shutdown grace; stopping without them",
                    node.tasks.len()
                ));
            }
        }
        if let Some(store) = &node.store {
            match tokio::time::timeout(STORE_CLOSE_DEADLINE, store.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => node.log.event(format!("closing the store failed: {e}")),
                Err(_) => node.log.event(format!(
                    "closing the store took more than {} s; records still queued may be lost",
                    STORE_CLOSE_DEADLINE.as_secs()
                )),
            }
        }
        node.log_counters();
        node.log_suppressed(true);
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

/// Listeners a caller bound already (tests bind port 0); a missing one is bound from the config.
#[derive(Debug, Default)]
pub struct Listeners {
    /// For clients, instead of the configured `listen`.
    pub client: Option<TcpListener>,
    /// For neighbours' links, instead of the configured `peer`.
    pub peer: Option<TcpListener>,
}

/// How many link connections (neighbours and `herd dump`) a server holds at most at once,
/// beyond one per neighbour.
pub const PEER_CONNECTIONS_SPARE: usize = 16;

/// Starts server `name` of `config`, on `listeners` where given (else it binds its configured
/// address), answering WHATSAT through `places`: recovers what it stored, binds, resolves the
/// secret, then spawns its links, accept loop and housekeeping.
///
/// # Errors
/// [`StartError`] when the name is unknown, the store cannot be read or the address cannot
/// be bound.
pub async fn start(
    config: &Config,
    name: &str,
    listeners: Listeners,
    places: Arc<dyn PlacesProvider>,
) -> Result<Running, StartError> {
    let sealing = Sealing::Tls(seal_for(config, name)?);
    start_with(config, name, listeners, places, Arc::new(Tcp), sealing).await
}

/// [`start`], with links that dial through `transport` (the simulation's in-memory network),
/// unsealed: the handshake runs in clear (with the config's secrets, if any).
///
/// # Errors
/// As [`start`].
pub async fn start_on(
    config: &Config,
    name: &str,
    listeners: Listeners,
    places: Arc<dyn PlacesProvider>,
    transport: Arc<dyn Transport>,
) -> Result<Running, StartError> {
    let sealing = Sealing::Plain(config.secrets());
    start_with(config, name, listeners, places, transport, sealing).await
}

/// What seals server `name`'s links: its certificate under the herd CA if the config has
/// one, else a throw-away certificate; the config's secrets either way.
///
/// # Errors
/// [`StartError::Credentials`] when its certificate or key cannot be read,
/// [`StartError::Seal`] when rustls refuses them.
pub fn seal_for(config: &Config, name: &str) -> Result<Seal, StartError> {
    let secrets = config.secrets();
    Ok(match &config.tls {
        Some(tls) => {
            let (chain, key) = crate::config::server_material(config, name)?;
            let material = CaMaterial {
                roots: tls.roots.clone(),
                chain,
                key,
            };
            Seal::with_ca(material, secrets)?
        }
        None => Seal::self_signed(secrets)?,
    })
}

/// [`start`] on `transport`, with links sealed by `sealing`.
async fn start_with(
    config: &Config,
    name: &str,
    listeners: Listeners,
    places: Arc<dyn PlacesProvider>,
    transport: Arc<dyn Transport>,
    sealing: Sealing,
) -> Result<Running, StartError> {
    let me = config
        .server(name)
        .ok_or_else(|| StartError::UnknownServer {
            file: config.source.clone(),
            name: name.to_string(),
            known: config.names().join(", "),
        })?;
    // Load what was stored before listening, so no client ever sees a half-loaded table.
    let (replica, store, recovery) = recover(config, name, me.neighbours.len()).await?;
    let bound = match bind_both(listeners, me) {
        Ok(bound) => bound,
        Err(e) => {
            let _ = store.close().await;
            return Err(e);
        }
    };
    let (listener, peer_listener, addr, peer_addr) = bound;
    let log_path = config.storage.dir.join(name).join("herd.log");
    let (log, log_writer) = IoLog::open(&log_path, LogLimits::from(&config.storage));
    log.event(recovery);
    warn_unauthenticated(config, &log);
    let links: Vec<Arc<PeerLink>> = me
        .neighbours
        .iter()
        .enumerate()
        .filter_map(|(id, n)| {
            config.server(n).map(|s| {
                let outbox = config.herd.link_outbox_bytes;
                Arc::new(PeerLink::new(id, name, n, s.reach.clone(), outbox))
            })
        })
        .collect();
    let node = Arc::new(Node::new(NodeParts {
        name: name.to_string(),
        replica,
        links,
        transport,
        places,
        log,
        store: Some(store),
        sealing,
        insecure_links: config.herd.insecure_links,
        max_line: config.herd.max_line,
    }));
    node.log.event(format!(
        "{name} listening on {addr} (links on {peer_addr}), neighbours: {}",
        me.neighbours.join(", ")
    ));
    // What was stored may have aged past forget_after while the server was down.
    forget(&node, config.storage.forget_after).await;
    spawn_tasks(&node, config, listener, peer_listener);
    Ok(Running {
        node,
        addr,
        peer_addr,
        log_path,
        log_writer,
        shutdown_grace: config.herd.shutdown_grace,
    })
}

/// Opens server `name`'s store and replays it into a new replica. Returns the replica, the
/// store and a line for the log saying what was recovered.
async fn recover(
    config: &Config,
    name: &str,
    neighbours: usize,
) -> Result<(Replica, Store, String), StartError> {
    let replica = Replica::new(name, neighbours, config.herd.catch_up)
        .with_herd(config.names())
        .with_limits(config.herd.limits())
        .with_broadcast(config.herd.broadcast());
    let store_config = StoreConfig {
        fsync: config.storage.fsync,
        supersedes: stored_is_newer,
        ..StoreConfig::default()
    };
    // The log's records go straight to the table as they are read (each held once), decoded
    // on as many workers as there are cores while the store's thread reads and checks.
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let restoring = Restoring::new(replica, threads);
    let (store, stats, restoring) = Store::open_replaying(
        &config.storage.dir.join(name),
        store_config,
        restoring,
        |restoring: &mut Restoring, key: &[u8], payload: &[u8]| restoring.record(key, payload),
    )
    .await?;
    let (replica, unreadable) = restoring.finish();
    let line = format!(
        "recovered {} clients from {} stored records in {} ms ({} torn bytes cut, {unreadable} unreadable)",
        replica.table().live_len(),
        stats.records_read,
        started.elapsed().as_millis(),
        stats.torn_bytes_cut
    );
    Ok((replica, store, line))
}

/// Without a secret or a herd CA, a warning in `log` (the config allows that only on
/// loopback, or with `insecure_links = true`): links are sealed against eavesdroppers, but
/// anyone who reaches the peer port can claim a neighbour's name.
fn warn_unauthenticated(config: &Config, log: &IoLog) {
    if config.secret.is_none() && config.tls.is_none() {
        let why = if config.herd.insecure_links {
            "[herd] insecure_links = true and no secret_env or [herd.tls]"
        } else {
            "no [herd] secret_env or [herd.tls] (every server is on loopback)"
        };
        log.event(format!("warning: {why}: links are checked by name only"));
        tracing::warn!("{why}: links between servers are checked by name only");
    }
}

/// The client and peer listeners, bound from the config where not given, with their addresses.
fn bind_both(
    listeners: Listeners,
    me: &crate::config::ServerConfig,
) -> Result<(TcpListener, TcpListener, SocketAddr, SocketAddr), StartError> {
    let client = listeners.client.map_or_else(|| bind(me.listen), Ok)?;
    let peer = listeners.peer.map_or_else(|| bind(me.peer), Ok)?;
    let addr = client.local_addr().map_err(|source| StartError::Bind {
        addr: me.listen,
        source,
    })?;
    let peer_addr = peer.local_addr().map_err(|source| StartError::Bind {
        addr: me.peer,
        source,
    })?;
    Ok((client, peer, addr, peer_addr))
}

/// Spawns the node's link tasks, its accept loops and its housekeeping.
fn spawn_tasks(
    node: &Arc<Node>,
    config: &Config,
    listener: TcpListener,
    peer_listener: TcpListener,
) {
    node.tasks.spawn(accept_peers(
        node.clone(),
        peer_listener,
        node.links.len() + PEER_CONNECTIONS_SPARE,
    ));
    for id in 0..node.links.len() {
        node.tasks.spawn(link::run(node.clone(), id));
    }
    node.tasks.spawn(accept_loop(
        node.clone(),
        listener,
        config.herd.max_connections,
        ClientLimits::from(&config.herd),
    ));
    node.tasks
        .spawn(housekeeping(node.clone(), config.storage.forget_after));
    node.tasks
        .spawn(graft_ticks(node.clone(), config.herd.graft_after));
}

/// Ticks the replica's graft timer every `graft_after / GRAFT_TICKS` while neighbours'
/// announcements wait: it asks for the records that did not come in time (see
/// `herd_core::replica::tree`). A flooding server ticks too, since a neighbour that prunes it
/// announces to it. The timer runs on tokio's clock, which a simulation pauses and advances.
async fn graft_ticks(node: Arc<Node>, graft_after: Duration) {
    let period = graft_after / herd_core::replica::GRAFT_TICKS as u32;
    let mut tick = tokio::time::interval(period.max(Duration::from_micros(250)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if node.missing() > 0 {
            node.apply(Event::Tick, &mut node.held_forwards()).await;
        }
    }
}

/// Forgets the clients whose newest client time is older than `forget_after`, if set.
async fn forget(node: &Node, forget_after: Option<Duration>) {
    if let Some(after) = forget_after {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let before_secs = now.saturating_sub(after).as_secs() as i64;
        // The whole-table scan runs on a blocking thread; under the replica's lock only the
        // clients it found are checked again.
        let table = node.table().clone();
        let Ok(clients) = tokio::task::spawn_blocking(move || {
            herd_core::replica::forget_candidates(&table, before_secs)
        })
        .await
        else {
            return;
        };
        let forget = Event::Forget {
            before_secs,
            clients,
        };
        node.apply(forget, &mut node.held_forwards()).await;
    }
}

/// How often housekeeping looks at the store and the clock.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(2);

/// Compacts the store when its file has outgrown the live records, forgets stale clients, and
/// logs the places provider's counters and the node's (refusals, disconnects) when they
/// change.
async fn housekeeping(node: Arc<Node>, forget_after: Option<Duration>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    let mut last_counters = None;
    loop {
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        forget(&node, forget_after).await;
        node.log_counters();
        node.log_suppressed(false);
        if let Some(store) = &node.store {
            // A scan of the whole table (a million clients: tens of milliseconds) must not
            // hold up a runtime worker and the connections on it.
            let table = node.table().clone();
            let live_bytes = tokio::task::spawn_blocking(move || {
                let mut live_bytes = 0u64;
                table.for_each(|r| {
                    live_bytes += herd_store::record_size(r.client_bytes(), r.wire());
                });
                live_bytes
            })
            .await
            .ok();
            if live_bytes.is_some_and(|live| store.needs_compaction(live)) {
                let table = node.table().clone();
                let lease = node.lease_entry();
                let snapshot = move || table.wires().into_iter().chain(std::iter::once(lease));
                match store.compact(snapshot).await {
                    Ok(report) => node.log.event(format!("store compacted: {report:?}")),
                    Err(e) => node.log.event(format!("store compaction failed: {e}")),
                }
            }
        }
        let counters = node.places.counters();
        if counters.is_some() && counters != last_counters {
            if let Some(c) = &counters {
                node.log.event(format!("places counters: {c}"));
            }
            last_counters = counters;
        }
    }
}

/// Accepts neighbours' links (and `herd dump`) until shutdown, within their own budget: each
/// connection is authenticated and handed to its link (see [`accept`]).
async fn accept_peers(node: Arc<Node>, listener: TcpListener, max_connections: usize) {
    let permits = Arc::new(Semaphore::new(max_connections));
    loop {
        let accepted = tokio::select! {
            _ = node.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                // Over budget: close it at once (a neighbour redials with backoff).
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let node2 = node.clone();
                node.tasks.spawn(async move {
                    accept::accept_stream(node2, Box::new(stream)).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!("accepting a link failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Accepts client connections until shutdown; each gets a task holding a connection permit,
/// served within `limits`.
async fn accept_loop(
    node: Arc<Node>,
    listener: TcpListener,
    max_connections: usize,
    limits: ClientLimits,
) {
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
                    connection::serve(node2, stream, limits).await;
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
