//! The open-file limit: a server holds a descriptor per client connection, per link and per
//! file, and the usual soft limit (1,024) is far below the client budget. At start the soft
//! limit is raised to the hard one, and a budget that still does not fit is reported.

use crate::config::Config;

use super::PEER_CONNECTIONS_SPARE;

/// Descriptors a server holds besides its connections: two listeners, the store's log (and
/// its rewrite while compacting), the I/O log and a rotated one, the data folder.
const FILES_PER_SERVER: u64 = 8;
/// Descriptors a process holds besides its servers': standard streams, the runtime's event
/// queue and wakers, the signal handler's pipe, the places index.
const FILES_PER_PROCESS: u64 = 16;

/// How many descriptors the servers `names` of `config`, run in one process, may hold at
/// once: each one's client budget (`[herd] max_connections`), its link budget (a connection
/// it dials and one it accepts per neighbour, and spare accepted ones for `herd dump`) and its
/// own files.
pub fn descriptors_needed<'a>(config: &Config, names: impl IntoIterator<Item = &'a str>) -> u64 {
    let per_server = |neighbours: usize| {
        config.herd.max_connections as u64
            + 2 * neighbours as u64
            + PEER_CONNECTIONS_SPARE as u64
            + FILES_PER_SERVER
    };
    let servers: u64 = names
        .into_iter()
        .filter_map(|n| config.server(n))
        .map(|s| per_server(s.neighbours.len()))
        .sum();
    servers + FILES_PER_PROCESS
}

/// Raises this process's soft limit on open files to its hard limit; returns the limit now
/// in force.
///
/// # Errors
/// What getrlimit or setrlimit said.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Raises the open-file limit for the servers `names` of `config` and returns a warning when
/// their budgets need more descriptors than it allows (or it cannot be read).
pub fn open_files_for<'a>(
    config: &Config,
    names: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let needed = descriptors_needed(config, names);
    match raise_open_file_limit() {
        Ok(limit) if limit >= needed => None,
        Ok(limit) => Some(format!(
            "the open-file limit is {limit}, but [herd] max_connections = {} and the links \
             may need {needed} descriptors: raise the hard limit (ulimit -Hn) or lower \
             max_connections in {}",
            config.herd.max_connections, config.source
        )),
        Err(e) => Some(format!("cannot raise the open-file limit: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_clients_links_and_files_of_each_server() {
        let config = Config::parse(
            "[herd]\nmax_connections = 100\n\
             [[servers]]\nname='A'\nlisten='127.0.0.1:1'\nneighbours=['B']\n\
             [[servers]]\nname='B'\nlisten='127.0.0.1:2'\n",
            "t.toml",
        )
        .unwrap();
        let one = 100 + 2 + PEER_CONNECTIONS_SPARE as u64 + FILES_PER_SERVER;
        assert_eq!(descriptors_needed(&config, ["A"]), one + FILES_PER_PROCESS);
        assert_eq!(
            descriptors_needed(&config, ["A", "B"]),
            2 * one + FILES_PER_PROCESS
        );
    }
}
