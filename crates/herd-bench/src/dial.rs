//! Opening client connections, optionally from one of several loopback source addresses so
//! that tens of thousands of connections do not run out of ephemeral ports.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

/// Chooses the local address of each new connection.
#[derive(Debug, Clone, Copy)]
pub struct Dialer {
    /// How many loopback source addresses to spread over: 127.0.0.1 ..= 127.0.0.N.
    source_ips: u8,
    /// Whether a bound source port may be one whose earlier connection is in TIME_WAIT.
    reuse_time_wait: bool,
}

impl Dialer {
    /// A dialer spreading loopback connections over `source_ips` addresses (1 = let the
    /// kernel choose, as usual).
    pub fn new(source_ips: u8) -> Self {
        Self {
            source_ips: source_ips.max(1),
            reuse_time_wait: true,
        }
    }

    /// The same, for connections that each carry one request. Each leaves a TIME_WAIT at
    /// this end, and tens of thousands of them make every connect search the port range
    /// (perf of `connect-per-request` with one source address: `__inet_check_established`
    /// and `__inet_hash_connect` took 41 % of both cores, the tool's own limit at 14,500/s
    /// against herd and Redis alike). Spread over source addresses and bound to ports with no
    /// TIME_WAIT on them (no `SO_REUSEADDR`), a connect finds its port at once.
    pub fn short_lived(self) -> Self {
        Self {
            reuse_time_wait: false,
            ..self
        }
    }

    /// Connects to `target`; connection number `n` picks source address `n mod N`.
    /// Sources are used only for IPv4 loopback targets; TCP_NODELAY is always set.
    ///
    /// # Errors
    /// The error of the bind or of the connect.
    pub async fn connect(&self, target: SocketAddr, n: usize) -> io::Result<TcpStream> {
        let stream = match target.ip() {
            IpAddr::V4(ip) if ip.is_loopback() && self.source_ips > 1 => {
                let last = 1 + (n % usize::from(self.source_ips)) as u8;
                let socket = TcpSocket::new_v4()?;
                // Lets bind pick ports whose old connections linger in TIME_WAIT; connect
                // still refuses a 4-tuple that is really in use.
                socket.set_reuseaddr(self.reuse_time_wait)?;
                socket.bind(SocketAddr::new(Ipv4Addr::new(127, 0, 0, last).into(), 0))?;
                socket.connect(target).await?
            }
            _ => TcpStream::connect(target).await?,
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Raises the soft limit on open files to the hard limit and returns the new soft limit.
///
/// # Errors
/// The error of getrlimit/setrlimit.
pub fn raise_open_file_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
