//! The `[[servers]]` as a topology: one-word unique names, unique addresses, and links that
//! name known servers, made symmetric.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use super::sections::ServerEntry;
use super::{ConfigError, Reach, ServerConfig};

/// The servers of `entries`, in file order, each with its neighbours sorted by name and every
/// link present on both sides; `file` names the config in errors.
///
/// # Errors
/// A [`ConfigError`] when there are no servers, a name is not one word or is taken, an
/// address does not parse or is taken, or a neighbour is unknown or the server itself.
pub(crate) fn resolve(
    entries: &[ServerEntry],
    file: &str,
) -> Result<Vec<ServerConfig>, ConfigError> {
    if entries.is_empty() {
        return Err(ConfigError::new(
            file,
            "servers",
            "no [[servers]] are defined",
        ));
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut addrs: HashMap<SocketAddr, usize> = HashMap::new();
    let mut servers = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let field = |f: &str| format!("servers[{i}].{f}");
        if !is_one_word(&entry.name) {
            return Err(ConfigError::new(
                file,
                field("name"),
                format!(
                    "\"{}\" is not a name (one word: no white space, no '=', not starting with '*')",
                    entry.name
                ),
            ));
        }
        if let Some(j) = index.insert(&entry.name, i) {
            return Err(ConfigError::new(
                file,
                field("name"),
                format!("duplicate name \"{}\" (also servers[{j}])", entry.name),
            ));
        }
        let listen: SocketAddr = entry.listen.parse().map_err(|_| {
            ConfigError::new(
                file,
                field("listen"),
                format!(
                    "\"{}\" is not an address like 127.0.0.1:10000",
                    entry.listen
                ),
            )
        })?;
        claim(&mut addrs, listen, i).map_err(|p| ConfigError::new(file, field("listen"), p))?;
        let peer = peer_address(entry, listen)
            .map_err(|problem| ConfigError::new(file, field("peer"), problem))?;
        claim(&mut addrs, peer, i).map_err(|p| ConfigError::new(file, field("peer"), p))?;
        let reach =
            reach(entry, peer).map_err(|(f, problem)| ConfigError::new(file, field(f), problem))?;
        let http = match &entry.http {
            None => None,
            Some(text) => {
                let addr: SocketAddr = text.parse().map_err(|_| {
                    ConfigError::new(
                        file,
                        field("http"),
                        format!("\"{text}\" is not an address like 127.0.0.1:11000"),
                    )
                })?;
                claim(&mut addrs, addr, i).map_err(|p| ConfigError::new(file, field("http"), p))?;
                Some(addr)
            }
        };
        servers.push(ServerConfig {
            name: entry.name.clone(),
            listen,
            peer,
            reach,
            neighbours: Vec::new(),
            http,
            cert: None,
            key: None,
        });
    }
    distinct_reaches(&servers, file)?;
    let links = links(entries, &index, file)?;
    for (i, list) in links {
        let mut names: Vec<String> = list.iter().map(|&j| servers[j].name.clone()).collect();
        names.sort();
        servers[i].neighbours = names;
    }
    Ok(servers)
}

/// Where `entry` accepts its neighbours' links: its `peer`, or `listen`'s IP with the port +
/// [`PEER_PORT_OFFSET`](super::PEER_PORT_OFFSET).
fn peer_address(entry: &ServerEntry, listen: SocketAddr) -> Result<SocketAddr, String> {
    match &entry.peer {
        Some(text) => text
            .parse()
            .map_err(|_| format!("\"{text}\" is not an address like 127.0.0.1:20000")),
        None => {
            let port = listen.port().checked_add(super::PEER_PORT_OFFSET).ok_or_else(|| {
                format!(
                    "the default peer port is the listen port + {} = {}, past 65535; set `peer = \"HOST:PORT\"` for this server",
                    super::PEER_PORT_OFFSET,
                    u32::from(listen.port()) + u32::from(super::PEER_PORT_OFFSET)
                )
            })?;
            Ok(SocketAddr::new(listen.ip(), port))
        }
    }
}

/// Takes bind address `addr` for server `i`, unless another server has it. A wildcard
/// (0.0.0.0, [::]) may repeat: servers on different hosts bind the same one, and are told
/// apart by their `address`.
fn claim(addrs: &mut HashMap<SocketAddr, usize>, addr: SocketAddr, i: usize) -> Result<(), String> {
    if addr.ip().is_unspecified() {
        return Ok(());
    }
    match addrs.insert(addr, i) {
        Some(j) => Err(format!("duplicate address {addr} (also servers[{j}])")),
        None => Ok(()),
    }
}

/// How neighbours reach `entry`'s peer port, or the field and the problem.
fn reach(entry: &ServerEntry, peer: SocketAddr) -> Result<Reach, (&'static str, String)> {
    match &entry.address {
        Some(address) => Reach::parse(address, peer).map_err(|p| ("address", p)),
        None if peer.ip().is_unspecified() => Err((
            "peer",
            format!(
                "{peer} binds every interface, so neighbours cannot dial it; set `address = \"HOST\"` (how they reach this server)"
            ),
        )),
        None => Ok(Reach::Addr(peer)),
    }
}

/// Checks that no two servers are reached at the same address, comparing what their
/// addresses resolve to now (a name that does not resolve yet is not compared).
fn distinct_reaches(servers: &[ServerConfig], file: &str) -> Result<(), ConfigError> {
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    for (i, s) in servers.iter().enumerate() {
        for addr in s.reach.resolve_now() {
            match seen.insert(addr, i) {
                Some(j) if j != i => {
                    let f = if matches!(s.reach, Reach::Name { .. }) {
                        "address"
                    } else {
                        "peer"
                    };
                    return Err(ConfigError::new(
                        file,
                        format!("servers[{i}].{f}"),
                        format!(
                            "{} reaches {addr}, as servers[{j}] ({}) does: neighbours could not tell them apart",
                            s.reach, servers[j].reach
                        ),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A name as it can appear in AT lines and handshakes.
fn is_one_word(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('*')
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '=')
}

/// Every server's neighbours by index, each link on both sides, given the index of each name.
fn links(
    entries: &[ServerEntry],
    index: &HashMap<&str, usize>,
    file: &str,
) -> Result<BTreeMap<usize, Vec<usize>>, ConfigError> {
    let mut links: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("servers[{i}].neighbours");
        for n in &entry.neighbours {
            let Some(&j) = index.get(n.as_str()) else {
                let known: Vec<&str> = entries.iter().map(|s| s.name.as_str()).collect();
                return Err(ConfigError::new(
                    file,
                    field,
                    format!("unknown server \"{n}\" (known: {})", known.join(", ")),
                ));
            };
            if i == j {
                return Err(ConfigError::new(
                    file,
                    field,
                    format!("\"{n}\" cannot talk with itself"),
                ));
            }
            for (a, b) in [(i, j), (j, i)] {
                let list = links.entry(a).or_default();
                if !list.contains(&b) {
                    list.push(b);
                }
            }
        }
    }
    Ok(links)
}
