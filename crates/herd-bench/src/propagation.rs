//! The propagation scenario: how long a new location takes to reach every server of the
//! herd, grouped by hop count from the server that received it.
//!
//! Each round sends an IAMAT with a fresh client id to one server (origins rotate), and as
//! soon as its answer arrives polls every other server with `WHATSAT id 1 1` over one
//! kept-open connection per server until the answer is not `? ...`. A server's time is
//! measured from the moment the IAMAT was written; hop 0 is the IAMAT's own answer.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::answer::{frame_len, judge, Expect, Verdict};
use super::command::{location, posix_now};
use super::dial::Dialer;
use super::report::{latency_line, latency_us, new_histogram, Percentiles};
use super::topology::Topology;

/// A reason the propagation scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum PropagationError {
    /// The herd has fewer than two servers: nothing can propagate.
    #[error("propagation needs at least two servers (give --servers and --edges)")]
    TooFewServers,
    /// Some server cannot be reached from another over the links.
    #[error("server {to} cannot be reached from {from} over the links (check --edges)")]
    Unreachable {
        /// The origin.
        from: String,
        /// The server with no path from it.
        to: String,
    },
    /// A connection to a server failed.
    #[error("server {name} at {addr}: {source}")]
    Io {
        /// The server's name.
        name: String,
        /// Its address.
        addr: SocketAddr,
        /// What went wrong.
        source: io::Error,
    },
}

/// Settings of one propagation run.
#[derive(Debug, Clone)]
pub struct PropagationPlan {
    /// The herd.
    pub topology: Topology,
    /// Rounds to run, if bounded by count.
    pub rounds: Option<u64>,
    /// How long to run, if bounded by time.
    pub duration: Option<Duration>,
    /// Most rounds (IAMATs) per second.
    pub rate: f64,
    /// How long a server may take to learn the location before it counts as lost.
    pub timeout: Duration,
    /// WHATSAT polls in flight per server.
    pub pipeline: usize,
    /// Client ids are this prefix followed by the round number.
    pub prefix: String,
    /// How connections are opened.
    pub dialer: Dialer,
}

/// Propagation times of the servers at one hop count.
#[derive(Debug, Clone, Serialize)]
pub struct HopStats {
    /// Hops from the origin (0 = the origin's own IAMAT answer).
    pub hops: usize,
    /// Times measured.
    pub samples: u64,
    /// Servers that did not learn the location before the timeout.
    pub lost: u64,
    /// Time from writing the IAMAT until the server knew the location.
    pub latency: Percentiles,
}

/// The report of a propagation run.
#[derive(Debug, Clone, Serialize)]
pub struct PropagationReport {
    /// The servers, as `name=addr`.
    pub servers: Vec<String>,
    /// Rounds run.
    pub rounds: u64,
    /// Rounds whose IAMAT did not get a proper AT answer.
    pub failed_rounds: u64,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Rounds per second achieved.
    pub rounds_per_s: f64,
    /// Times by hop count.
    pub by_hops: Vec<HopStats>,
    /// The latency histograms behind `by_hops`, for plotting.
    #[serde(skip)]
    pub histograms: Vec<Histogram<u64>>,
}

impl PropagationReport {
    /// Renders the report as a few human-readable lines.
    pub fn to_text(&self) -> String {
        let mut out = String::from("====== propagation ======\n");
        out.push_str(&format!("  servers:      {}\n", self.servers.join(" ")));
        out.push_str(&format!(
            "  rounds:       {} in {:.3} s, {:.1} rounds/s, failed {}\n",
            self.rounds, self.elapsed_s, self.rounds_per_s, self.failed_rounds
        ));
        for hop in &self.by_hops {
            let label = format!("{} hop(s)", hop.hops);
            out.push_str(&format!(
                "  {label:<13} samples {} lost {}\n",
                hop.samples, hop.lost
            ));
            out.push_str(&latency_line("", &hop.latency));
        }
        out
    }
}

/// Runs the propagation scenario.
///
/// # Errors
/// [`PropagationError`] when the topology does not fit or a connection fails.
pub async fn run(plan: &PropagationPlan) -> Result<PropagationReport, PropagationError> {
    let servers = &plan.topology.servers;
    if servers.len() < 2 {
        return Err(PropagationError::TooFewServers);
    }
    let hops: Vec<Vec<usize>> = (0..servers.len())
        .map(|o| {
            let from_o = plan.topology.hops_from(o);
            from_o
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    h.ok_or_else(|| PropagationError::Unreachable {
                        from: servers[o].name.clone(),
                        to: servers[i].name.clone(),
                    })
                })
                .collect()
        })
        .collect::<Result<_, _>>()?;
    let max_hops = hops.iter().flatten().copied().max().unwrap_or(0);
    let mut links = Vec::with_capacity(servers.len());
    for (i, s) in servers.iter().enumerate() {
        let stream = plan.dialer.connect(s.addr, i).await;
        let io = |source| PropagationError::Io {
            name: s.name.clone(),
            addr: s.addr,
            source,
        };
        links.push(Link {
            stream: stream.map_err(io)?,
            buf: BytesMut::with_capacity(4096),
        });
    }
    let mut histograms = vec![new_histogram(); max_hops + 1];
    let mut lost = vec![0u64; max_hops + 1];
    let mut failed_rounds = 0;
    let period = Duration::from_secs_f64(1.0 / plan.rate.max(0.001));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Instant::now();
    let end = plan.duration.map(|d| start + d);
    let mut round = 0u64;
    while plan.rounds.is_none_or(|n| round < n) && end.is_none_or(|e| Instant::now() < e) {
        ticks.tick().await;
        let origin = (round % servers.len() as u64) as usize;
        let id = format!("{}{round}", plan.prefix);
        let outcome = one_round(plan, &mut links, origin, &id)
            .await
            .map_err(|(i, source)| PropagationError::Io {
                name: servers[i].name.clone(),
                addr: servers[i].addr,
                source,
            })?;
        match outcome {
            None => failed_rounds += 1,
            Some(times) => {
                for (i, time) in times.into_iter().enumerate() {
                    let h = hops[origin][i];
                    match time {
                        Some(t) => histograms[h].saturating_record(latency_us(t)),
                        None => lost[h] += 1,
                    }
                }
            }
        }
        round += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let by_hops = histograms
        .iter()
        .zip(&lost)
        .enumerate()
        .map(|(hops, (h, &lost))| HopStats {
            hops,
            samples: h.len(),
            lost,
            latency: Percentiles::of(h),
        })
        .collect();
    Ok(PropagationReport {
        servers: servers
            .iter()
            .map(|s| format!("{}={}", s.name, s.addr))
            .collect(),
        rounds: round,
        failed_rounds,
        elapsed_s: elapsed,
        rounds_per_s: if elapsed > 0.0 {
            round as f64 / elapsed
        } else {
            0.0
        },
        by_hops,
        histograms,
    })
}

/// One kept-open client connection to a server, with its unread bytes.
struct Link {
    /// The connection.
    stream: TcpStream,
    /// Bytes read but not yet framed.
    buf: BytesMut,
}

impl Link {
    /// Reads until one whole answer of kind `expect` is buffered and returns its length.
    async fn next_answer(&mut self, expect: Expect, limit: Duration) -> io::Result<usize> {
        loop {
            if let Some(len) = frame_len(&self.buf, expect) {
                return Ok(len);
            }
            self.buf.reserve(4096);
            let read = tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf)).await;
            match read {
                Ok(Ok(0)) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(io::ErrorKind::TimedOut.into()),
            }
        }
    }
}

/// Runs one round from `origin`: `None` if its IAMAT failed, else each server's time
/// (`None` for a server that did not learn the location in time). An I/O error names the
/// index of the server whose connection failed.
async fn one_round(
    plan: &PropagationPlan,
    links: &mut [Link],
    origin: usize,
    id: &str,
) -> Result<Option<Vec<Option<Duration>>>, (usize, io::Error)> {
    let line = format!("IAMAT {id} {} {}\n", location(origin as u64), posix_now());
    let start = Instant::now();
    let link = &mut links[origin];
    link.stream
        .write_all(line.as_bytes())
        .await
        .map_err(|e| (origin, e))?;
    let len = link
        .next_answer(Expect::Iamat, plan.timeout)
        .await
        .map_err(|e| (origin, e))?;
    let verdict = judge(&link.buf[..len], line.as_bytes(), Expect::Iamat);
    link.buf.advance(len);
    if verdict != Verdict::Ok {
        return Ok(None);
    }
    let answered = start.elapsed();
    let poll = format!("WHATSAT {id} 1 1\n");
    let deadline = start + plan.timeout;
    let polls = links.iter_mut().enumerate().map(|(i, link)| {
        let poll = poll.as_bytes();
        async move {
            if i == origin {
                return Ok(Some(answered));
            }
            poll_until_known(
                link,
                poll,
                plan.pipeline.max(1),
                start,
                deadline,
                plan.timeout,
            )
            .await
            .map_err(|e| (i, e))
        }
    });
    let times = futures::future::join_all(polls).await;
    times.into_iter().collect::<Result<Vec<_>, _>>().map(Some)
}

/// Polls one server with `poll` (up to `depth` in flight) until an answer is not `? ...`
/// or `deadline` passes, then drains the answers still in flight. Returns the time from
/// `start` to the first answer that knew the client.
async fn poll_until_known(
    link: &mut Link,
    poll: &[u8],
    depth: usize,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> io::Result<Option<Duration>> {
    let mut in_flight = 0;
    let mut found = None;
    let mut out = Vec::with_capacity(poll.len() * depth);
    loop {
        if found.is_none() && Instant::now() < deadline && in_flight < depth {
            out.clear();
            (in_flight..depth).for_each(|_| out.extend_from_slice(poll));
            link.stream.write_all(&out).await?;
            in_flight = depth;
        }
        if in_flight == 0 {
            return Ok(found);
        }
        let len = link.next_answer(Expect::Whatsat, limit).await?;
        if found.is_none() && !link.buf.starts_with(b"?") {
            found = Some(start.elapsed());
        }
        link.buf.advance(len);
        in_flight -= 1;
    }
}
