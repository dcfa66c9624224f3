//! A small lab of hosts in network namespaces, for tests of what crosses a real network: every
//! server runs in its own namespace with its own address and the same ports, its neighbours
//! named through a hosts file per namespace (`/etc/netns/NS/hosts`, which `ip netns exec`
//! mounts over `/etc/hosts`), joined by veth pairs to a bridge in a namespace of its own. Faults
//! are nftables rules inside a host's namespace: a silent drop between two hosts, a host cut
//! from all, random loss.
//!
//! Nothing touches the machine's own namespace: the bridge lives in a "switch" namespace, and
//! the test reaches the hosts from a "client" namespace on the same bridge, by opening its
//! sockets on a thread that entered that namespace (a socket stays in the namespace it was made
//! in). Every namespace, hosts file and process is removed when the lab drops, also when a test
//! fails; namespaces left by a test process that was killed are removed by the next lab.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables): [`Lab::new`] returns `None`, saying why,
//! where they are missing or namespaces are not allowed, so the tests skip cleanly.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::procs::herd_bin;

/// The prefix of every namespace a lab makes: `hx<pid>x<lab>` then a role.
const PREFIX: &str = "hx";

/// Which addresses a lab's hosts have. Host `i` (0-based) gets `.(i + 10)` of its subnet, the
/// client `.2`. Each lab has its own bridge, so labs running at once do not collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `10.77.0.0/24`.
    V4,
    /// `fd77::/64` (unique local addresses).
    V6,
}

impl Family {
    /// The address of the host numbered `n` on the subnet.
    pub fn addr(self, n: u8) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(10, 77, 0, n)),
            Family::V6 => IpAddr::V6(Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, u16::from(n))),
        }
    }

    fn prefix(self) -> u8 {
        match self {
            Family::V4 => 24,
            Family::V6 => 64,
        }
    }

    /// The wildcard address a server binds.
    fn any(self) -> &'static str {
        match self {
            Family::V4 => "0.0.0.0",
            Family::V6 => "[::]",
        }
    }

    /// nftables' word for this family's address match.
    fn nft(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
}

/// The port every server's clients use; links use it + 10000 (the default `peer`).
pub const CLIENT_PORT: u16 = 10000;

static LABS: AtomicUsize = AtomicUsize::new(0);

/// One host: a namespace, an address, a name its neighbours use, maybe a running server.
pub struct Host {
    /// The server's name in the config.
    pub server: String,
    /// The host name neighbours resolve (`bailey.herd`).
    pub hostname: String,
    /// The namespace.
    pub ns: String,
    /// Its address on the bridge.
    pub ip: IpAddr,
    /// The running `herd serve`, if any.
    pub child: Option<Child>,
}

/// A bridge, a client namespace and one namespace per server.
pub struct Lab {
    /// Namespaces' common prefix, `hx<pid>x<n>`.
    pub tag: String,
    /// The switch namespace (holds the bridge).
    pub switch: String,
    /// The client namespace the test's sockets live in.
    pub client: String,
    /// The client namespace's address.
    pub client_ip: IpAddr,
    /// The addresses' family.
    pub family: Family,
    /// The hosts, in server order.
    pub hosts: Vec<Host>,
    /// Config, data and logs.
    pub dir: tempfile::TempDir,
    /// The shared config file.
    pub config: PathBuf,
    /// Environment for every `herd` the lab starts.
    pub env: Vec<(String, String)>,
}

/// Why the lab cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    // Namespaces and nftables need root.
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Some("not root".into());
    }
    for tool in ["ip", "nft"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!("`{tool}` is missing (Debian: iproute2, nftables)"));
        }
    }
    None
}

/// Runs a command, panicking with its output if it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

fn ip(args: &[&str]) -> Output {
    run(Command::new("ip").args(args))
}

/// Removes namespaces (and their hosts files) that labs of dead test processes left.
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let ns = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = ns.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove_ns(ns);
        }
    }
}

fn remove_ns(ns: &str) {
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
}

impl Lab {
    /// A lab for `topology` (servers and their neighbours); every server listens on
    /// `0.0.0.0:CLIENT_PORT` with links on the default peer port, reached as `NAME.herd`.
    /// `extra` is TOML put before `[storage]`; `storage` goes inside it. `None` (after saying
    /// why on stderr) where namespaces cannot be made here.
    pub fn new(topology: &[(&str, &[&str])], extra: &str, storage: &str) -> Option<Lab> {
        Lab::with_family(Family::V4, topology, extra, storage)
    }

    /// As [`Lab::new`], with addresses of `family` (`[::]` binds for IPv6).
    pub fn with_family(
        family: Family,
        topology: &[(&str, &[&str])],
        extra: &str,
        storage: &str,
    ) -> Option<Lab> {
        if let Some(why) = unavailable() {
            eprintln!("skipped: network namespaces are not available here ({why})");
            return None;
        }
        sweep_stale();
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{PREFIX}{}x{n}", std::process::id());
        let switch = format!("{tag}sw");
        if let Err(e) = Command::new("ip").args(["netns", "add", &switch]).output() {
            eprintln!("skipped: `ip netns add` failed: {e}");
            return None;
        }
        let probe = Command::new("ip")
            .args(["netns", "exec", &switch, "true"])
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            remove_ns(&switch);
            eprintln!("skipped: `ip netns add` is not allowed here");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut lab = Lab {
            client: format!("{tag}cl"),
            client_ip: family.addr(2),
            family,
            switch,
            hosts: Vec::new(),
            config: dir.path().join("herd.toml"),
            dir,
            env: Vec::new(),
            tag,
        };
        ip(&["-n", &lab.switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lab.switch, "link", "set", "br0", "up"]);
        let client = lab.client.clone();
        lab.plug(&client, lab.client_ip, 0);
        for (i, (name, _)) in topology.iter().enumerate() {
            let ns = format!("{}h{i}", lab.tag);
            let ip = family.addr(10 + i as u8);
            lab.plug(&ns, ip, i + 1);
            lab.hosts.push(Host {
                server: name.to_string(),
                hostname: format!("{}.herd", name.to_lowercase()),
                ns,
                ip,
                child: None,
            });
        }
        for i in 0..lab.hosts.len() {
            lab.write_hosts_file(i);
        }
        lab.write_hosts_file_for(&lab.client.clone());
        lab.write_config(topology, extra, storage);
        for h in &lab.hosts {
            nft(&h.ns, CHAOS_TABLE);
        }
        Some(lab)
    }

    /// Makes namespace `ns` with `ip` on a veth whose other end is port `port` of the bridge.
    fn plug(&self, ns: &str, addr: IpAddr, port: usize) {
        ip(&["netns", "add", ns]);
        let bridge_end = format!("p{port}");
        ip(&[
            "-n",
            &self.switch,
            "link",
            "add",
            &bridge_end,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        ]);
        ip(&[
            "-n",
            &self.switch,
            "link",
            "set",
            &bridge_end,
            "master",
            "br0",
        ]);
        ip(&["-n", &self.switch, "link", "set", &bridge_end, "up"]);
        self.add_addr(ns, addr);
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    /// Gives `ns`'s interface `addr` (IPv6 without duplicate detection, usable at once).
    fn add_addr(&self, ns: &str, addr: IpAddr) {
        let with_prefix = format!("{addr}/{}", self.family.prefix());
        let mut args = vec!["-n", ns, "addr", "add", &with_prefix, "dev", "eth0"];
        if self.family == Family::V6 {
            args.push("nodad");
        }
        ip(&args);
    }

    fn hosts_text(&self) -> String {
        let mut text = String::from("127.0.0.1 localhost\n");
        for h in &self.hosts {
            text.push_str(&format!("{} {}\n", h.ip, h.hostname));
        }
        text
    }

    fn write_hosts_file(&self, i: usize) {
        let ns = self.hosts[i].ns.clone();
        self.write_hosts_file_for(&ns);
    }

    /// Writes `/etc/netns/NS/hosts` in place: a running process's namespace has it mounted,
    /// so the file keeps its inode and a changed address is seen at the next lookup.
    fn write_hosts_file_for(&self, ns: &str) {
        let dir = format!("/etc/netns/{ns}");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/hosts"), self.hosts_text()).unwrap();
    }

    fn write_config(&mut self, topology: &[(&str, &[&str])], extra: &str, storage: &str) {
        let data = self.dir.path().join("data");
        let mut text = format!(
            "{extra}\n[storage]\ndir = {:?}\n{storage}\n",
            data.display().to_string()
        );
        for ((name, neighbours), h) in topology.iter().zip(&self.hosts) {
            text.push_str(&format!(
                "\n[[servers]]\nname = {name:?}\nlisten = \"{any}:{CLIENT_PORT}\"\n\
                 peer = \"{any}:{}\"\naddress = {:?}\nneighbours = {neighbours:?}\n",
                CLIENT_PORT + 10000,
                h.hostname,
                any = self.family.any(),
            ));
        }
        std::fs::write(&self.config, text).unwrap();
    }

    fn index(&self, server: &str) -> usize {
        self.hosts
            .iter()
            .position(|h| h.server == server)
            .unwrap_or_else(|| panic!("no host runs {server}"))
    }

    /// The host that runs `server`.
    pub fn host(&self, server: &str) -> &Host {
        &self.hosts[self.index(server)]
    }

    /// Where clients reach `server`.
    pub fn addr(&self, server: &str) -> SocketAddr {
        SocketAddr::from((self.host(server).ip, CLIENT_PORT))
    }

    /// The data folder of `server`.
    pub fn data_dir(&self, server: &str) -> PathBuf {
        self.dir.path().join("data").join(server)
    }

    /// Starts `herd serve SERVER` inside its namespace and waits until it takes clients.
    pub fn start(&mut self, server: &str) {
        let i = self.index(server);
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{server}.stderr")))
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.hosts[i].ns])
            .arg(herd_bin())
            .args(["serve", server, "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.hosts[i].child = Some(child);
        let addr = self.addr(server);
        let start = Instant::now();
        while self.connect_std(addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = self.hosts[i].child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{server} exited with {status}: {}", self.stderr_of(server));
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{server} did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts every server.
    pub fn start_all(&mut self) {
        let names: Vec<String> = self.hosts.iter().map(|h| h.server.clone()).collect();
        for n in names {
            self.start(&n);
        }
    }

    /// SIGKILLs `server` (`ip netns exec` runs it in place, so the child is the server).
    pub fn kill(&mut self, server: &str) {
        let i = self.index(server);
        if let Some(mut c) = self.hosts[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether `server` runs.
    pub fn runs(&self, server: &str) -> bool {
        self.host(server).child.is_some()
    }

    /// What `server` wrote on stderr so far.
    pub fn stderr_of(&self, server: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{server}.stderr")))
            .unwrap_or_default()
    }

    /// A TCP connection from the client namespace.
    pub fn connect_std(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> std::io::Result<std::net::TcpStream> {
        in_netns(&self.client, move || {
            std::net::TcpStream::connect_timeout(&addr, timeout)
        })
    }

    /// A tokio TCP connection from the client namespace to `server`'s client port.
    pub async fn connect(&self, server: &str) -> std::io::Result<tokio::net::TcpStream> {
        let addr = self.addr(server);
        let client = self.client.clone();
        let std = tokio::task::spawn_blocking(move || {
            in_netns(&client, move || {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))
            })
        })
        .await
        .unwrap()?;
        std.set_nonblocking(true)?;
        let _ = std.set_nodelay(true);
        tokio::net::TcpStream::from_std(std)
    }

    /// `herd dump SERVER` from the client namespace: `client origin time location` lines.
    pub fn dump(&self, server: &str) -> Result<String, String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.client])
            .arg(herd_bin())
            .args(["dump", server, "--timeout", "3s", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        String::from_utf8(out.stdout).map_err(|e| e.to_string())
    }

    /// Moves `server`'s host to a new address (as a container that comes back elsewhere):
    /// the interface gets `new`, and every hosts file says so.
    pub fn readdress(&mut self, server: &str, new: IpAddr) {
        let i = self.index(server);
        let ns = self.hosts[i].ns.clone();
        // Old first: deleting a subnet's primary address also deletes its secondaries.
        let old = format!("{}/{}", self.hosts[i].ip, self.family.prefix());
        ip(&["-n", &ns, "addr", "del", &old, "dev", "eth0"]);
        self.add_addr(&ns, new);
        self.hosts[i].ip = new;
        for j in 0..self.hosts.len() {
            self.write_hosts_file(j);
        }
        self.write_hosts_file_for(&self.client.clone());
    }

    /// Silently drops every packet between the hosts of `a` and `b`, both ways.
    pub fn cut(&self, a: &str, b: &str) {
        let (ha, hb) = (self.host(a), self.host(b));
        nft(&ha.ns, &drop_rules(self.family, &[hb.ip]));
        nft(&hb.ns, &drop_rules(self.family, &[ha.ip]));
    }

    /// Silently drops every packet between `server`'s host and every other server's host;
    /// clients (the client namespace) still reach it, as clients on its side of a partition.
    pub fn isolate(&self, server: &str) {
        let h = self.host(server);
        let mut others: Vec<IpAddr> = self.hosts.iter().map(|o| o.ip).collect();
        others.retain(|ip| *ip != h.ip);
        nft(&h.ns, &drop_rules(self.family, &others));
    }

    /// Drops `percent` % of the packets `server`'s host receives and sends, at random.
    pub fn lossy(&self, server: &str, percent: u32) {
        let h = self.host(server);
        nft(
            &h.ns,
            &format!(
                "add rule inet chaos input numgen random mod 100 < {percent} drop\n\
                 add rule inet chaos output numgen random mod 100 < {percent} drop\n"
            ),
        );
    }

    /// Removes every fault from `server`'s host.
    pub fn heal(&self, server: &str) {
        nft(
            &self.host(server).ns,
            "flush chain inet chaos input\nflush chain inet chaos output\n",
        );
    }

    /// Removes every fault.
    pub fn heal_all(&self) {
        for h in &self.hosts {
            self.heal(&h.server);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(mut c) = h.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for h in &self.hosts {
            remove_ns(&h.ns);
        }
        remove_ns(&self.client);
        remove_ns(&self.switch);
    }
}

/// The nftables table every host gets; faults are rules in its chains.
const CHAOS_TABLE: &str = "add table inet chaos\n\
    add chain inet chaos input { type filter hook input priority 0; policy accept; }\n\
    add chain inet chaos output { type filter hook output priority 0; policy accept; }\n";

fn drop_rules(family: Family, from: &[IpAddr]) -> String {
    let set = from
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let ip = family.nft();
    format!(
        "add rule inet chaos input {ip} saddr {{ {set} }} drop\n\
         add rule inet chaos output {ip} daddr {{ {set} }} drop\n"
    )
}

/// Loads nftables `rules` inside namespace `ns`.
fn nft(ns: &str, rules: &str) {
    use std::io::Write as _;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft in {ns} failed on {rules:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `f` on a fresh thread that has entered namespace `ns`; sockets it opens stay there.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
    .join()
    .unwrap()
}
