//! A whole herd in this test process: listeners bound on 127.0.0.1:0 first, then a config
//! written from the real addresses, then every server started on its listener.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use herd_server::config::Config;
use herd_server::server::{self, Running};

/// The 2023 topology of PROTOCOL.md.
pub const TOPOLOGY_2023: &[(&str, &[&str])] = &[
    ("Bailey", &["Bona", "Campbell"]),
    ("Bona", &["Bailey", "Campbell", "Clark"]),
    ("Campbell", &["Bailey", "Bona", "Jaquez"]),
    ("Clark", &["Bona", "Jaquez"]),
    ("Jaquez", &["Campbell", "Clark"]),
];

/// How long a test waits for anything before it fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A running in-process herd and its files.
pub struct TestHerd {
    /// The resolved config (real addresses).
    pub config: Config,
    /// The servers, in config order.
    pub servers: Vec<Running>,
    /// Holds logs and data; removed on drop.
    pub dir: tempfile::TempDir,
}

/// Config text for `topology` on the given (client, peer) addresses, with `extra` TOML
/// sections first.
pub fn config_text(
    topology: &[(&str, &[&str])],
    addrs: &[(SocketAddr, SocketAddr)],
    dir: &std::path::Path,
    extra: &str,
) -> String {
    let mut text = format!(
        "{extra}\n[storage]\ndir = {:?}\n",
        dir.display().to_string()
    );
    for ((name, neighbours), (addr, peer)) in topology.iter().zip(addrs) {
        text.push_str(&format!(
            "\n[[servers]]\nname = {name:?}\nlisten = \"{addr}\"\npeer = \"{peer}\"\nneighbours = {neighbours:?}\n"
        ));
    }
    text
}

impl TestHerd {
    /// Starts `topology` with the offline places provider unless `extra` says otherwise.
    pub async fn start(topology: &[(&str, &[&str])], extra: &str) -> TestHerd {
        let dir = tempfile::tempdir().unwrap();
        let mut listeners = Vec::new();
        for _ in topology {
            let any = "127.0.0.1:0".parse().unwrap();
            listeners.push(server::Listeners {
                client: Some(server::bind(any).unwrap()),
                peer: Some(server::bind(any).unwrap()),
            });
        }
        let addr = |l: &Option<tokio::net::TcpListener>| l.as_ref().unwrap().local_addr().unwrap();
        let addrs: Vec<(SocketAddr, SocketAddr)> = listeners
            .iter()
            .map(|l| (addr(&l.client), addr(&l.peer)))
            .collect();
        let config = Config::parse(
            &config_text(topology, &addrs, dir.path(), extra),
            "test.toml",
        )
        .unwrap();
        let places = herd_places::from_config(&config.places).unwrap();
        let mut servers = Vec::new();
        for ((name, _), listener) in topology.iter().zip(listeners) {
            servers.push(
                server::start(&config, name, listener, places.clone())
                    .await
                    .unwrap(),
            );
        }
        let herd = TestHerd {
            config,
            servers,
            dir,
        };
        herd.wait_for_links().await;
        herd
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> &Running {
        self.servers.iter().find(|s| s.node.name == name).unwrap()
    }

    /// Where `name` listens.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.server(name).addr
    }

    /// Waits until every link of every server is up.
    pub async fn wait_for_links(&self) {
        wait_until("all links up", || {
            self.servers
                .iter()
                .all(|s| s.node.links.iter().all(|l| l.is_up()))
        })
        .await;
    }

    /// Sends lines to `name`, half-closes, returns the whole answer as text.
    pub async fn ask(&self, name: &str, lines: &[&str]) -> String {
        ask(self.addr(name), lines).await
    }

    /// Stops every server; returns the folder of their files, for a last look.
    pub async fn stop(self) -> tempfile::TempDir {
        for s in self.servers {
            s.shutdown().await;
        }
        self.dir
    }
}

/// Sends lines to `addr`, half-closes, returns the whole answer as text.
pub async fn ask(addr: SocketAddr, lines: &[&str]) -> String {
    let bytes = herd_server::client::exchange(addr, lines, DEADLINE)
        .await
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

/// Sends raw bytes to `addr`, half-closes, returns the raw answer.
pub async fn ask_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    herd_server::client::exchange_raw(addr, bytes, DEADLINE)
        .await
        .unwrap()
}

/// Polls `done` every few milliseconds until it holds; panics after [`DEADLINE`].
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Calls `done` every `every` until it holds or `deadline` passes; returns whether it held.
/// For checks too costly to run every few milliseconds, whose caller reports a timeout itself.
pub fn poll_every(deadline: Instant, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// Polls the async `done` until it holds; panics after [`DEADLINE`].
pub async fn wait_until_async<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    poll_until(what, || {
        let done = done();
        async move { done.await.then_some(()) }
    })
    .await;
}

/// Polls the async `attempt` until it gives a value, and returns it; panics after
/// [`DEADLINE`].
pub async fn poll_until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
