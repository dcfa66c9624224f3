//! Real `herd` processes for tests where faults matter: every child is killed when the
//! guard drops, so a failing test leaves nothing running.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::herd::{config_text, wait_until_async, DEADLINE};

/// A free loopback port for a child to bind later.
///
/// Ports come from 15000..32768, below Linux's ephemeral range (32768..61000): a port the
/// kernel handed out for `127.0.0.1:0` is released when we close it and can then be given to
/// any outgoing connection (a herd link, a test client) as its source port before the child
/// binds it, which made a server fail to start now and then in CI. Below the range the kernel
/// never picks a port on its own, so a port we checked stays free; a per-process counter
/// keeps two tests of one binary apart, and the start depends on the process id so that two
/// binaries running at once rarely meet (and the bind check catches it when they do).
pub fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 15_000;
    const SPAN: u32 = 32_768 - LOW;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let port = LOW + (seed + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN;
        let addr = SocketAddr::from(([127, 0, 0, 1], port as u16));
        // Free on loopback and on the wildcard, since some tests bind `0.0.0.0`.
        let wildcard = SocketAddr::from(([0, 0, 0, 0], port as u16));
        let free = |a: SocketAddr| std::net::TcpListener::bind(a).is_ok();
        if free(addr) && free(wildcard) {
            return addr;
        }
    }
    panic!("no free port in {LOW}..32768");
}

/// A herd of child processes and their config.
pub struct ProcHerd {
    /// The config file the children read.
    pub config: PathBuf,
    /// Server names in order, with addresses.
    pub servers: Vec<(String, SocketAddr)>,
    /// Where each server accepts links (its `peer`), in the same order.
    pub peers: Vec<SocketAddr>,
    /// Running children by server index.
    pub children: Vec<Option<Child>>,
    /// Logs, data and the config.
    pub dir: tempfile::TempDir,
    /// Environment variables set for every child started from now on.
    pub env: Vec<(String, String)>,
}

impl ProcHerd {
    /// Writes a config for `topology` on free ports (with `extra` TOML) and starts nothing.
    pub fn new(topology: &[(&str, &[&str])], extra: &str) -> ProcHerd {
        ProcHerd::with_storage(topology, extra, "")
    }

    /// As [`ProcHerd::new`], with `storage` TOML keys (e.g. `fsync = "always"`) added to the
    /// `[storage]` table after its `dir`.
    pub fn with_storage(topology: &[(&str, &[&str])], extra: &str, storage: &str) -> ProcHerd {
        let dir = tempfile::tempdir().unwrap();
        let addrs: Vec<(SocketAddr, SocketAddr)> = topology
            .iter()
            .map(|_| (free_addr(), free_addr()))
            .collect();
        let config = dir.path().join("herd.toml");
        let data = dir.path().join("data");
        let mut text = config_text(topology, &addrs, &data, extra);
        let storage_dir = format!("[storage]\ndir = {:?}\n", data.display().to_string());
        let at = text
            .find(&storage_dir)
            .expect("config_text writes [storage] dir")
            + storage_dir.len();
        text.insert_str(at, &format!("{storage}\n"));
        std::fs::write(&config, text).unwrap();
        let servers = topology
            .iter()
            .zip(&addrs)
            .map(|((n, _), (a, _))| (n.to_string(), *a))
            .collect();
        ProcHerd {
            config,
            servers,
            peers: addrs.iter().map(|(_, p)| *p).collect(),
            children: topology.iter().map(|_| None).collect(),
            dir,
            env: Vec::new(),
        }
    }

    fn index(&self, name: &str) -> usize {
        self.servers.iter().position(|(n, _)| n == name).unwrap()
    }

    /// As [`ProcHerd::new`], each server also serving HTTP on a free port (see
    /// [`ProcHerd::http_addr`]).
    pub fn with_http(topology: &[(&str, &[&str])], extra: &str) -> ProcHerd {
        let herd = ProcHerd::new(topology, extra);
        let mut text = std::fs::read_to_string(&herd.config).unwrap();
        for (_, addr) in &herd.servers {
            let listen = format!("listen = \"{addr}\"\n");
            let http = format!("{listen}http = \"{}\"\n", free_addr());
            text = text.replacen(&listen, &http, 1);
        }
        std::fs::write(&herd.config, text).unwrap();
        herd
    }

    /// Where `name` serves HTTP (a herd made by [`ProcHerd::with_http`]).
    pub fn http_addr(&self, name: &str) -> SocketAddr {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let listen = format!("listen = \"{}\"\nhttp = \"", self.addr(name));
        let at = text.find(&listen).expect("the server has an http address") + listen.len();
        let end = at + text[at..].find('"').unwrap();
        text[at..end].parse().unwrap()
    }

    /// Where `name` listens.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.servers[self.index(name)].1
    }

    /// Where `name` accepts links.
    pub fn peer_addr(&self, name: &str) -> SocketAddr {
        self.peers[self.index(name)]
    }

    /// Starts `herd serve name` and waits until it accepts connections.
    pub fn start(&mut self, name: &str) {
        let config = self.config.clone();
        let env = self.env.clone();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.start_with(name, &config, &env, &[]);
    }

    /// Starts `herd serve name` with the config file `config` and, over the test's own
    /// environment less the variables `unset`, `env`; waits until it accepts connections
    /// (panicking with the tail of its stderr if it exits first or takes over [`DEADLINE`]).
    /// It is kept among the herd's children, so it is stopped by its id.
    pub fn start_with(&mut self, name: &str, config: &Path, env: &[(&str, &str)], unset: &[&str]) {
        let i = self.index(name);
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.stderr")))
            .unwrap();
        let mut command = Command::new(herd_bin());
        for var in unset {
            command.env_remove(var);
        }
        let child = command
            .args(["serve", name, "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.children[i] = Some(child);
        let addr = self.addr(name);
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            let exited = self.children[i].as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || start.elapsed() > DEADLINE {
                let log = self.dir.path().join(format!("{name}.stderr"));
                let log = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "{name} did not start listening on {addr} ({}); its stderr ends:\n{}",
                    exited.map_or("still running".to_string(), |s| s.to_string()),
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id of `name`'s running child, if it runs.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children[self.index(name)].as_ref().map(Child::id)
    }

    /// Starts every server.
    pub fn start_all(&mut self) {
        let names: Vec<String> = self.servers.iter().map(|(n, _)| n.clone()).collect();
        for n in names {
            self.start(&n);
        }
    }

    /// SIGKILLs `name` and reaps it.
    pub fn kill(&mut self, name: &str) {
        let i = self.index(name);
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends signal `sig` (`STOP`, `CONT`...) to `name`'s running process, by its id.
    pub fn signal(&self, name: &str, sig: &str) {
        let pid = self.pid(name).expect("the server runs");
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{sig} {pid}");
    }

    /// Sends SIGTERM to `name` and returns its exit status.
    pub fn terminate(&mut self, name: &str) -> std::process::ExitStatus {
        let i = self.index(name);
        let mut c = self.children[i].take().unwrap();
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > DEADLINE {
                let _ = c.kill();
                panic!("{name} did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The table of `name` as `herd dump` prints it: `client origin time location` lines
    /// sorted by client. Panics if the dump fails.
    pub fn dump(&self, name: &str) -> String {
        self.try_dump(name)
            .unwrap_or_else(|e| panic!("herd dump {name} failed: {e}"))
    }

    /// As [`ProcHerd::dump`], saying why it failed (e.g. the server is down).
    pub fn try_dump(&self, name: &str) -> Result<String, String> {
        let out = Command::new(herd_bin())
            .args(["dump", name, "--timeout", "5s", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| e.to_string())
    }

    /// The data folder of `name` (its store and log).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("data").join(name)
    }

    /// The log file of `name`.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.data_dir(name).join("herd.log")
    }
}

impl Drop for ProcHerd {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// How many times `needle` is in `name`'s log now.
pub fn in_log(herd: &ProcHerd, name: &str, needle: &str) -> usize {
    std::fs::read_to_string(herd.log_path(name))
        .unwrap_or_default()
        .matches(needle)
        .count()
}

/// Polls until `name`'s log holds `needle` more than `before` times.
pub async fn wait_for_log(herd: &ProcHerd, name: &str, needle: &str, before: usize) {
    wait_until_async(&format!("{name}'s log says {needle:?}"), || async {
        in_log(herd, name, needle) > before
    })
    .await;
}

/// What `herd config check FILE` prints and exits with, with `env` set.
pub fn config_check(file: &Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(herd_bin())
        .args(["config", "check"])
        .arg(file)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// An HTTP client for the servers' HTTP sides: never through a proxy, and bounded by
/// [`DEADLINE`].
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

/// The herd binary cargo built for these tests.
pub fn herd_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_herd"))
}
