//! `GET /metrics`: one Prometheus registry per server, holding one collector that reads the
//! server's counters when scraped (nothing is observed through the registry on the hot path:
//! connections and links add to relaxed atomics per batch, see `herd_server::stats`).
//!
//! The Prometheus text format 0.0.4 by default; OpenMetrics 1.0 when the scraper's `Accept`
//! asks for `application/openmetrics-text`.

use std::sync::Arc;

use herd_server::disconnects::DisconnectCounts;
use herd_server::node::Node;
use herd_server::stats::CommandKind;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::subscription::Subscribers;

/// The content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// The content type of OpenMetrics text.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A server's registry: its collector, registered once.
pub fn registry(node: Arc<Node>, subscribers: Arc<Subscribers>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(HerdCollector { node, subscribers }));
    registry
}

/// Encodes `registry` as OpenMetrics when `openmetrics`, else as Prometheus text 0.0.4.
///
/// # Errors
/// Only a formatting failure of the encoder (never, writing to a `String`).
pub fn encode(registry: &Registry, openmetrics: bool) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, registry)?;
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?;
    }
    Ok(out)
}

/// Reads one server's counters at scrape time.
struct HerdCollector {
    /// The server.
    node: Arc<Node>,
    /// Its HTTP side's live-event subscribers.
    subscribers: Arc<Subscribers>,
}

impl std::fmt::Debug for HerdCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HerdCollector")
            .field("server", &self.node.name)
            .finish()
    }
}

/// A value with no labels, as a counter or a gauge.
fn single(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    value: f64,
) -> Result<(), std::fmt::Error> {
    labelled(encoder, name, help, kind, &[(None, value)])
}

/// A family of values, each with at most one label (`None`: no label), as counters or gauges.
fn labelled(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    values: &[(Option<(&str, &str)>, f64)],
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (label, value) in values {
        match label {
            Some(label) => {
                let labels = [*label];
                let mut family = metric.encode_family(&labels)?;
                value_of(&mut family, kind, *value)?;
            }
            None => value_of(&mut metric, kind, *value)?,
        }
    }
    Ok(())
}

/// Encodes one value as `kind`.
fn value_of(
    metric: &mut prometheus_client::encoding::MetricEncoder<'_>,
    kind: MetricType,
    value: f64,
) -> Result<(), std::fmt::Error> {
    match kind {
        MetricType::Counter => {
            metric.encode_counter::<NoLabelSet, _, f64>(&(value.max(0.0) as u64), None)
        }
        _ => metric.encode_gauge(&value),
    }
}

/// How many a u64 count is, for [`labelled`].
fn n(v: u64) -> f64 {
    v as f64
}

impl Collector for HerdCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let node = &self.node;
        let stats = &node.stats;
        let traffic = &stats.traffic;
        let e = &mut encoder;
        use MetricType::{Counter, Gauge};
        single(
            e,
            "herd_iamat",
            "IAMAT lines answered with an AT line.",
            Counter,
            n(traffic.lines(CommandKind::IAmAt)),
        )?;
        single(
            e,
            "herd_whatsat",
            "WHATSAT lines answered with places.",
            Counter,
            n(traffic.lines(CommandKind::WhatsAt)),
        )?;
        single(
            e,
            "herd_invalid_lines",
            "Client lines answered `?` (invalid, refused, or unknown client).",
            Counter,
            n(traffic.lines(CommandKind::Invalid)),
        )?;
        single(
            e,
            "herd_clients",
            "Clients in this server's location table.",
            Gauge,
            n(node.table().live_len() as u64),
        )?;
        single(
            e,
            "herd_client_connections",
            "Client connections open now.",
            Gauge,
            traffic
                .connections
                .load(std::sync::atomic::Ordering::Relaxed) as f64,
        )?;
        {
            let mut metric = e.encode_descriptor(
                "herd_command_duration_seconds",
                "Time from a client line's parse to its answer being ready, by what it was answered as.",
                None,
                MetricType::Histogram,
            )?;
            for kind in CommandKind::ALL {
                let reading = traffic.latency(kind);
                let labels = [("command", kind.label())];
                let mut family = metric.encode_family(&labels)?;
                family.encode_histogram::<NoLabelSet>(
                    reading.sum_seconds,
                    reading.count,
                    &reading.buckets,
                    None,
                )?;
            }
        }
        let links: Vec<_> = node.links.iter().zip(&stats.links).collect();
        let per_link =
            |f: &dyn Fn(&herd_server::peer::PeerLink, &herd_server::stats::LinkStats) -> f64| {
                links
                    .iter()
                    .map(|(l, s)| (Some(("peer", l.name.as_str())), f(l, s)))
                    .collect::<Vec<_>>()
            };
        use std::sync::atomic::Ordering::Relaxed;
        labelled(
            e,
            "herd_link_up",
            "1 while the link to the neighbour is up.",
            Gauge,
            &per_link(&|l, _| if l.is_up() { 1.0 } else { 0.0 }),
        )?;
        labelled(
            e,
            "herd_flood_sent",
            "Records sent to the neighbour (flooded or caught up).",
            Counter,
            &per_link(&|_, s| n(s.sent.load(Relaxed))),
        )?;
        labelled(
            e,
            "herd_flood_received",
            "Records received from the neighbour.",
            Counter,
            &per_link(&|_, s| n(s.received.load(Relaxed))),
        )?;
        labelled(
            e,
            "herd_flood_announced",
            "Records announced to the neighbour (IHAVE) instead of sent whole: their origin's tree does not use the link (broadcast = \"tree\").",
            Counter,
            &per_link(&|_, s| n(s.announced.load(Relaxed))),
        )?;
        labelled(
            e,
            "herd_link_lazy_origins",
            "Origins whose records go to the neighbour as announcements only (their tree does not use the link; broadcast = \"tree\").",
            Gauge,
            &per_link(&|l, _| node.lazy_origins(l.id) as f64),
        )?;
        labelled(e, "herd_flood_lag_seconds", "How far behind the neighbour is: the gap its last watermarks showed, or while the link is down at least how long it has been down.", Gauge, &per_link(&|_, s| s.lag_seconds()))?;
        labelled(
            e,
            "herd_outbox_bytes",
            "Bytes of records waiting for the neighbour.",
            Gauge,
            &per_link(&|l, _| l.outbox.bytes() as f64),
        )?;
        labelled(
            e,
            "herd_outbox_refused",
            "Records the neighbour's full outbox refused (sent later by a catch-up).",
            Counter,
            &per_link(&|l, _| n(l.overflowed())),
        )?;
        let refusals = node.refusals();
        labelled(e, "herd_refused", "What the herd's limits refused: client IAMATs, neighbours' records, neighbours' lines not trusted.", Counter, &[
            (Some(("from", "client")), n(refusals.clients.total())),
            (Some(("from", "neighbour_record")), n(refusals.records.total())),
            (Some(("from", "neighbour_line")), n(refusals.untrusted.total())),
        ])?;
        let DisconnectCounts {
            write_timeout,
            output_limit,
            idle,
            shutdown,
        } = node.disconnects.counts();
        labelled(
            e,
            "herd_disconnects",
            "Client connections the server closed itself, by reason.",
            Counter,
            &[
                (Some(("reason", "write_timeout")), n(write_timeout)),
                (Some(("reason", "output_limit")), n(output_limit)),
                (Some(("reason", "idle")), n(idle)),
                (Some(("reason", "shutdown")), n(shutdown)),
            ],
        )?;
        let log = node.log.counters();
        single(
            e,
            "herd_log_lines_dropped",
            "I/O log lines not written (queue full or file errors).",
            Counter,
            n(log.lines_dropped),
        )?;
        single(
            e,
            "herd_log_write_errors",
            "Failed attempts to open, write or rotate the I/O log.",
            Counter,
            n(log.write_errors),
        )?;
        if let Some(store) = &node.store {
            let s = store.stats();
            single(
                e,
                "herd_store_records_written",
                "Records written to the store since start.",
                Counter,
                n(s.records_written),
            )?;
            single(
                e,
                "herd_store_write_errors",
                "Failed store writes or syncs (each retried).",
                Counter,
                n(s.write_errors),
            )?;
            single(
                e,
                "herd_store_records_lost",
                "Records the store gave up after repeated failures.",
                Counter,
                n(s.records_lost),
            )?;
            single(
                e,
                "herd_store_syncs",
                "Fsyncs of the store's log.",
                Counter,
                n(s.syncs),
            )?;
            single(
                e,
                "herd_store_compactions",
                "Compactions of the store's log.",
                Counter,
                n(s.compactions),
            )?;
            single(
                e,
                "herd_store_file_bytes",
                "Size of the store's log file.",
                Gauge,
                n(s.file_bytes),
            )?;
        }
        single(
            e,
            "herd_places_requests",
            "WHATSATs that asked the places provider.",
            Counter,
            n(traffic.places_requests.load(Relaxed)),
        )?;
        single(
            e,
            "herd_places_errors",
            "WHATSATs whose places answer was a failure status.",
            Counter,
            n(traffic.places_errors.load(Relaxed)),
        )?;
        if let Some(counters) = node.places.counters() {
            for (key, help) in [
                (
                    "calls",
                    "Calls that went out to the upstream places service.",
                ),
                ("cache_hits", "Places questions answered from the cache."),
                (
                    "coalesced",
                    "Places questions that waited for an identical call in flight.",
                ),
                (
                    "local_refusals",
                    "Places questions refused by the herd's own rate limits.",
                ),
            ] {
                if let Some(v) = counters.get(key).and_then(serde_json::Value::as_u64) {
                    single(
                        e,
                        &format!("herd_places_upstream_{key}"),
                        help,
                        Counter,
                        n(v),
                    )?;
                }
            }
        }
        let subscribers = &self.subscribers;
        single(
            e,
            "herd_event_subscribers",
            "Live /events and /ws subscribers.",
            Gauge,
            subscribers.live() as f64,
        )?;
        single(
            e,
            "herd_event_subscribers_refused",
            "Subscribers answered 503 because the most live subscribers were served.",
            Counter,
            n(subscribers.refused()),
        )?;
        single(
            e,
            "herd_events_missed",
            "Changes skipped for subscribers that fell behind (the sum of their lagged counts).",
            Counter,
            n(subscribers.missed()),
        )?;
        Ok(())
    }
}
