//! What a run measured: per-worker tallies with an HDR latency histogram, merged into one
//! report, printed as text or as one JSON object.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::answer::Verdict;

/// Highest latency the histograms hold, in microseconds (larger values are clamped).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Makes an empty latency histogram with microsecond resolution and 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

/// Counts and latencies gathered by one worker; workers' tallies are merged at the end.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of every answered request, in microseconds.
    pub latency: Histogram<u64>,
    /// Answers that were what the command asked for.
    pub ok: u64,
    /// Answers `? ...` (or Redis `-ERR`): the server refused the command.
    pub rejected: u64,
    /// Answers that did not have the expected shape or did not echo the command.
    pub malformed: u64,
    /// Requests lost to a timeout, a reset or a connection closed before the answer.
    pub io_errors: u64,
    /// Connection attempts that failed.
    pub connect_errors: u64,
    /// Connections established and served (`hold` counts one only after a first answer).
    pub connections: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            latency: new_histogram(),
            ok: 0,
            rejected: 0,
            malformed: 0,
            io_errors: 0,
            connect_errors: 0,
            connections: 0,
        }
    }
}

impl Tally {
    /// Records one answered request: its latency and how it was judged.
    pub fn answered(&mut self, latency: Duration, verdict: Verdict) {
        self.latency.saturating_record(latency_us(latency));
        match verdict {
            Verdict::Ok => self.ok += 1,
            Verdict::Rejected => self.rejected += 1,
            Verdict::Malformed => self.malformed += 1,
        }
    }

    /// Adds another worker's tally to this one.
    pub fn merge(&mut self, other: &Tally) {
        self.latency
            .add(&other.latency)
            .expect("histograms share bounds");
        self.ok += other.ok;
        self.rejected += other.rejected;
        self.malformed += other.malformed;
        self.io_errors += other.io_errors;
        self.connect_errors += other.connect_errors;
        self.connections += other.connections;
    }

    /// Requests that got an answer or were lost: everything but connect failures.
    pub fn requests(&self) -> u64 {
        self.ok + self.rejected + self.malformed + self.io_errors
    }

    /// Requests that did not get the expected answer.
    pub fn errors(&self) -> u64 {
        self.rejected + self.malformed + self.io_errors
    }
}

/// A duration in whole microseconds, at least 1 so the histogram keeps it.
pub fn latency_us(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Arithmetic mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

impl Percentiles {
    /// Reads the percentiles out of a histogram (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            count: h.len(),
            mean_us: if h.is_empty() { 0.0 } else { h.mean() },
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// The report of one load scenario.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Scenario name as given on the command line.
    pub scenario: String,
    /// Servers the load went to.
    pub targets: Vec<String>,
    /// Connections asked for (`-c`).
    pub connections: usize,
    /// Pipeline depth (`-P`).
    pub pipeline: usize,
    /// Connections established and answering before the timed phase (`hold` only).
    pub established: u64,
    /// Requests sent, answered or lost.
    pub requests: u64,
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests without the expected answer: rejected + malformed + io.
    pub errors: u64,
    /// Answers `? ...` or `-ERR`.
    pub rejected: u64,
    /// Answers of the wrong shape.
    pub malformed: u64,
    /// Requests lost to timeouts, resets or closes.
    pub io_errors: u64,
    /// Connection attempts that failed.
    pub connect_errors: u64,
    /// Wall time of the measured phase, in seconds.
    pub elapsed_s: f64,
    /// Requests per second over the measured phase.
    pub throughput: f64,
    /// Latency of answered requests.
    pub latency: Percentiles,
    /// The latency histogram behind `latency`, for plotting.
    #[serde(skip)]
    pub histogram: Histogram<u64>,
}

impl LoadReport {
    /// Builds the report from the merged tally of a run.
    pub fn new(
        scenario: &str,
        targets: Vec<String>,
        c: usize,
        p: usize,
        t: &Tally,
        elapsed: Duration,
    ) -> Self {
        let secs = elapsed.as_secs_f64();
        Self {
            scenario: scenario.to_owned(),
            targets,
            connections: c,
            pipeline: p,
            established: t.connections,
            requests: t.requests(),
            ok: t.ok,
            errors: t.errors(),
            rejected: t.rejected,
            malformed: t.malformed,
            io_errors: t.io_errors,
            connect_errors: t.connect_errors,
            elapsed_s: secs,
            throughput: if secs > 0.0 {
                t.requests() as f64 / secs
            } else {
                0.0
            },
            latency: Percentiles::of(&t.latency),
            histogram: t.latency.clone(),
        }
    }

    /// Renders the report as a few human-readable lines.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "====== {} ======", self.scenario);
        let _ = writeln!(out, "  targets:      {}", self.targets.join(" "));
        let _ = writeln!(
            out,
            "  connections:  {} (pipeline {})",
            self.connections, self.pipeline
        );
        if self.scenario == "hold" {
            let _ = writeln!(out, "  established:  {}", self.established);
        }
        let _ = writeln!(
            out,
            "  requests:     {} in {:.3} s, {:.1} requests/s",
            self.requests, self.elapsed_s, self.throughput
        );
        let _ = writeln!(
            out,
            "  errors:       {} (rejected {}, malformed {}, io {}), connect errors {}",
            self.errors, self.rejected, self.malformed, self.io_errors, self.connect_errors
        );
        out.push_str(&latency_line("latency", &self.latency));
        out
    }
}

/// One text line of latency percentiles, in milliseconds.
pub fn latency_line(label: &str, p: &Percentiles) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "  {label:<13} p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms\n",
        ms(p.p50_us),
        ms(p.p90_us),
        ms(p.p99_us),
        ms(p.p999_us),
        ms(p.max_us)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_uniform_samples() {
        let mut t = Tally::default();
        for us in 1..=1000u64 {
            t.answered(Duration::from_micros(us), Verdict::Ok);
        }
        let p = Percentiles::of(&t.latency);
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50_us, 500);
        assert_eq!(p.p90_us, 900);
        assert_eq!(p.p99_us, 990);
        assert_eq!(p.p999_us, 999);
        assert_eq!(p.max_us, 1000);
        assert!((p.mean_us - 500.5).abs() < 1.0);
    }

    #[test]
    fn merge_adds_counts_and_samples() {
        let mut a = Tally::default();
        a.answered(Duration::from_millis(2), Verdict::Ok);
        a.io_errors = 1;
        let mut b = Tally::default();
        b.answered(Duration::from_nanos(10), Verdict::Rejected);
        b.answered(Duration::from_millis(1), Verdict::Malformed);
        a.merge(&b);
        assert_eq!((a.requests(), a.errors(), a.ok), (4, 3, 1));
        assert_eq!(a.latency.len(), 3);
        assert_eq!(a.latency.min(), 1, "sub-microsecond samples count as 1 us");
    }

    #[test]
    fn empty_report_has_zero_throughput() {
        let r = LoadReport::new("iamat", vec![], 1, 1, &Tally::default(), Duration::ZERO);
        assert_eq!(r.throughput, 0.0);
        assert!(r.to_text().contains("requests:     0"));
    }
}
