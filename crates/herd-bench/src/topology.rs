//! The herd's shape as the bench sees it: named servers, their addresses and their links,
//! with hop counts by breadth-first search.
//!
//! It comes from the herd's own [`Config`] (`--config`, default the built-in herd) or from
//! `--servers NAME=HOST:PORT,... --edges A-B,...` on the command line (e.g. for a herd
//! that has no config file at hand).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use herd_server::config::Config;

/// A reason the `--servers` / `--edges` text could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopologyError {
    /// A `--servers` item is not `NAME=HOST:PORT`.
    #[error("--servers: expected NAME=HOST:PORT, got {0:?}")]
    BadServer(String),
    /// The same server name was given twice.
    #[error("--servers: server {0:?} is given twice")]
    DuplicateServer(String),
    /// An `--edges` item is not `A-B`.
    #[error("--edges: expected A-B, got {0:?}")]
    BadEdge(String),
    /// An edge names a server that `--servers` does not list.
    #[error("--edges: {0:?} is not one of the --servers names")]
    UnknownServer(String),
}

/// One server of the herd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// The server's name, as it writes it in AT lines.
    pub name: String,
    /// Where it listens for clients.
    pub addr: SocketAddr,
    /// Names of the servers it talks with (symmetric).
    pub neighbours: Vec<String>,
}

/// The servers of a herd and the links between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The servers, in the order they were given.
    pub servers: Vec<ServerSpec>,
}

impl Topology {
    /// The servers and links of a herd config.
    pub fn from_config(config: &Config) -> Self {
        let servers = config
            .servers
            .iter()
            .map(|s| ServerSpec {
                name: s.name.clone(),
                addr: s.listen,
                neighbours: s.neighbours.clone(),
            })
            .collect();
        Self { servers }
    }

    /// The built-in herd of the config module (PROTOCOL.md's default, 127.0.0.1:10000-10004).
    pub fn builtin() -> Self {
        Self::from_config(&Config::builtin())
    }

    /// Parses `NAME=HOST:PORT,...` and optional `A-B,...` links (made symmetric).
    ///
    /// # Errors
    /// A [`TopologyError`] naming the item that does not parse or names an unknown server.
    pub fn parse(servers: &str, edges: Option<&str>) -> Result<Self, TopologyError> {
        let mut specs: Vec<ServerSpec> = Vec::new();
        for item in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || TopologyError::BadServer(item.to_owned());
            let (name, addr) = item.split_once('=').ok_or_else(bad)?;
            let addr: SocketAddr = addr.trim().parse().map_err(|_| bad())?;
            let name = name.trim();
            if name.is_empty() {
                return Err(bad());
            }
            if specs.iter().any(|s| s.name == name) {
                return Err(TopologyError::DuplicateServer(name.to_owned()));
            }
            let neighbours = Vec::new();
            specs.push(ServerSpec {
                name: name.to_owned(),
                addr,
                neighbours,
            });
        }
        let mut topo = Self { servers: specs };
        for item in edges
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (a, b) = item
                .split_once('-')
                .ok_or_else(|| TopologyError::BadEdge(item.to_owned()))?;
            let (a, b) = (topo.index_of(a.trim())?, topo.index_of(b.trim())?);
            topo.link(a, b);
            topo.link(b, a);
        }
        Ok(topo)
    }

    /// The position of the server called `name`.
    fn index_of(&self, name: &str) -> Result<usize, TopologyError> {
        self.servers
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| TopologyError::UnknownServer(name.to_owned()))
    }

    /// Adds `to` to the neighbours of `from` unless it is there already.
    fn link(&mut self, from: usize, to: usize) {
        let to_name = self.servers[to].name.clone();
        let list = &mut self.servers[from].neighbours;
        if from != to && !list.contains(&to_name) {
            list.push(to_name);
        }
    }

    /// Hop counts from server `origin` to every server (by index); `None` when unreachable.
    pub fn hops_from(&self, origin: usize) -> Vec<Option<usize>> {
        let index: HashMap<&str, usize> = self
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut hops = vec![None; self.servers.len()];
        let mut queue = VecDeque::from([origin]);
        hops[origin] = Some(0);
        while let Some(at) = queue.pop_front() {
            let next = hops[at].map(|h| h + 1);
            for name in &self.servers[at].neighbours {
                if let Some(&n) = index.get(name.as_str()) {
                    if hops[n].is_none() {
                        hops[n] = next;
                        queue.push_back(n);
                    }
                }
            }
        }
        hops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_hops_from_clark() {
        let topo = Topology::builtin();
        let clark = topo.servers.iter().position(|s| s.name == "Clark").unwrap();
        assert_eq!(topo.servers[clark].addr.port(), 10003);
        // Bailey 2 (via Bona), Bona 1, Campbell 2, Clark 0, Jaquez 1.
        let hops = topo.hops_from(clark);
        assert_eq!(hops, vec![Some(2), Some(1), Some(2), Some(0), Some(1)]);
    }

    #[test]
    fn links_are_symmetric_and_unreachable_is_none() {
        let topo =
            Topology::parse("A=127.0.0.1:1, B=127.0.0.1:2,C=127.0.0.1:3", Some("A-B")).unwrap();
        assert_eq!(topo.servers[1].neighbours, vec!["A".to_owned()]);
        assert_eq!(topo.hops_from(1), vec![Some(1), Some(0), None]);
    }

    #[test]
    fn bad_text_is_named() {
        let bad = Topology::parse("A=nowhere", None).unwrap_err();
        assert_eq!(bad, TopologyError::BadServer("A=nowhere".into()));
        let unknown = Topology::parse("A=127.0.0.1:1", Some("A-Z")).unwrap_err();
        assert_eq!(unknown, TopologyError::UnknownServer("Z".into()));
        let dup = Topology::parse("A=127.0.0.1:1,A=127.0.0.1:2", None).unwrap_err();
        assert_eq!(dup, TopologyError::DuplicateServer("A".into()));
    }
}
