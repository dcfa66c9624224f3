//! How neighbours reach a server's peer port: `[[servers]] address`, an IP or a DNS name,
//! resolved at every dial (so a neighbour that comes back on another address is found).

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Where a server's neighbours dial it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reach {
    /// An address: the `peer` bind address, or an IP given as `address`.
    Addr(SocketAddr),
    /// A host name and port, looked up at every dial.
    Name {
        /// The DNS (or hosts-file) name.
        host: String,
        /// The port on that host.
        port: u16,
    },
}

impl Reach {
    /// Reads `address` (`HOST`, `HOST:PORT`, `IP`, `IP:PORT` or `[IPv6]:PORT`); a missing port
    /// is `peer`'s.
    ///
    /// # Errors
    /// A message saying what is expected.
    pub fn parse(address: &str, peer: SocketAddr) -> Result<Reach, String> {
        let bad = || {
            format!(
                "\"{address}\" is not an address like bailey.herd.internal, \
                 bailey.herd.internal:20000 or 10.0.0.1:20000"
            )
        };
        if let Ok(addr) = address.parse::<SocketAddr>() {
            return Ok(Reach::Addr(addr));
        }
        if let Ok(ip) = address
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Reach::Addr(SocketAddr::new(ip, peer.port())));
        }
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| bad())?),
            None => (address, peer.port()),
        };
        let is_name = |h: &str| {
            !h.is_empty()
                && h.len() <= 253
                && h.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        };
        if port == 0 || !is_name(host) {
            return Err(bad());
        }
        Ok(Reach::Name {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The addresses this resolves to now, by the system's resolver (blocking: for checking a
    /// config, not for dialing). Empty when a name does not resolve.
    pub fn resolve_now(&self) -> Vec<SocketAddr> {
        match self {
            Reach::Addr(addr) => vec![*addr],
            Reach::Name { host, port } => (host.as_str(), *port)
                .to_socket_addrs()
                .map(Iterator::collect)
                .unwrap_or_default(),
        }
    }

    /// The addresses this resolves to now, without blocking the runtime: what a dial tries,
    /// in order.
    ///
    /// # Errors
    /// The name did not resolve, or resolved to nothing.
    pub async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        match self {
            Reach::Addr(addr) => Ok(vec![*addr]),
            Reach::Name { host, port } => {
                let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), *port))
                    .await?
                    .collect();
                if found.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{host} resolves to no address"),
                    ));
                }
                Ok(found)
            }
        }
    }
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reach::Addr(addr) => write!(f, "{addr}"),
            Reach::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}
