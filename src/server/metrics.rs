//! Operator metrics in the Prometheus text format (`GET /metrics`): route requests by status
//! class and a latency histogram, websocket ingest connections and pings (acked, not committed,
//! refused by error code), and on a cluster member its Raft state and commit latency.
//!
//! Counters are plain atomics bumped on the request paths; rendering reads them when scraped.
//! One [`Metrics`] is shared by a process's HTTP server and its websocket ingest.

use cluster::host::ClusterHost;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the route latency histogram's buckets.
const ROUTE_BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    /// Route requests answered with 2xx, 4xx and 5xx.
    route_requests: [AtomicU64; 3],
    /// Cumulative counts per bucket of [`ROUTE_BUCKETS_S`] are computed at render time; these
    /// are the counts that fell into each bucket (and one beyond the last).
    route_latency: [AtomicU64; ROUTE_BUCKETS_S.len() + 1],
    route_latency_sum_us: AtomicU64,
    ws_open: AtomicI64,
    ws_total: AtomicU64,
    pings_accepted: AtomicU64,
    pings_acked: AtomicU64,
    pings_not_committed: AtomicU64,
    /// Pings refused, by error code (a rare path: a mutex is fine).
    refused: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn route_answered(&self, status: u16, took: Duration) {
        let class = match status {
            200..=399 => 0,
            400..=499 => 1,
            _ => 2,
        };
        self.route_requests[class].fetch_add(1, Ordering::Relaxed);
        let s = took.as_secs_f64();
        let bucket = ROUTE_BUCKETS_S
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(ROUTE_BUCKETS_S.len());
        self.route_latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.route_latency_sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn connection_opened(&self) {
        self.ws_open.fetch_add(1, Ordering::Relaxed);
        self.ws_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.ws_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn ping_accepted(&self) {
        self.pings_accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ping_acked(&self) {
        self.pings_acked.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ping_not_committed(&self) {
        self.pings_not_committed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ping_refused(&self, code: &'static str) {
        if let Ok(mut m) = self.refused.lock() {
            *m.entry(code).or_default() += 1;
        }
    }

    /// The Prometheus text exposition of these counters, and of every Raft group `host` hosts
    /// when there is one (series labelled `group`).
    pub fn render(&self, host: Option<&ClusterHost>) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(
            &mut out,
            "meridian_route_requests_total",
            "counter",
            "Route requests answered, by HTTP status class.",
        );
        for (class, n) in ["2xx", "4xx", "5xx"].iter().zip(&self.route_requests) {
            let _ = writeln!(
                out,
                "meridian_route_requests_total{{status=\"{class}\"}} {}",
                load(n)
            );
        }
        header(
            &mut out,
            "meridian_route_duration_seconds",
            "histogram",
            "Time to answer a route request.",
        );
        let mut cumulative = 0;
        for (bound, n) in ROUTE_BUCKETS_S.iter().zip(&self.route_latency) {
            cumulative += load(n);
            let _ = writeln!(
                out,
                "meridian_route_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += load(&self.route_latency[ROUTE_BUCKETS_S.len()]);
        let _ = writeln!(
            out,
            "meridian_route_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "meridian_route_duration_seconds_sum {}",
            load(&self.route_latency_sum_us) as f64 / 1e6
        );
        let _ = writeln!(out, "meridian_route_duration_seconds_count {cumulative}");

        header(
            &mut out,
            "meridian_ingest_connections",
            "gauge",
            "Websocket ingest connections open now.",
        );
        let _ = writeln!(
            out,
            "meridian_ingest_connections {}",
            self.ws_open.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "meridian_ingest_connections_total",
            "counter",
            "Websocket ingest connections accepted.",
        );
        let _ = writeln!(
            out,
            "meridian_ingest_connections_total {}",
            load(&self.ws_total)
        );
        header(
            &mut out,
            "meridian_ingest_pings_total",
            "counter",
            "Pings that passed validation (accepted), were acked after commit, or failed to commit.",
        );
        for (result, n) in [
            ("accepted", &self.pings_accepted),
            ("acked", &self.pings_acked),
            ("not_committed", &self.pings_not_committed),
        ] {
            let _ = writeln!(
                out,
                "meridian_ingest_pings_total{{result=\"{result}\"}} {}",
                load(n)
            );
        }
        header(
            &mut out,
            "meridian_ingest_refused_total",
            "counter",
            "Pings refused, by the error code sent to the client.",
        );
        if let Ok(refused) = self.refused.lock() {
            for (code, n) in refused.iter() {
                let _ = writeln!(out, "meridian_ingest_refused_total{{code=\"{code}\"}} {n}");
            }
        }
        if let Some(host) = host {
            render_groups(&mut out, host);
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn render_groups(out: &mut String, host: &ClusterHost) {
    let statuses: Vec<_> = host.groups().map(|n| n.status()).collect();
    type Gauge = (
        &'static str,
        &'static str,
        fn(&cluster::node::ClusterStatus) -> f64,
    );
    let gauges: [Gauge; 6] = [
        ("meridian_raft_term", "Current Raft term.", |s| {
            s.term as f64
        }),
        (
            "meridian_raft_is_leader",
            "1 if this node is the Raft leader of the group.",
            |s| (s.leader == Some(s.id)) as u8 as f64,
        ),
        (
            "meridian_raft_last_log_index",
            "Index of the last entry in this node's log of the group.",
            |s| s.last_log_index.unwrap_or(0) as f64,
        ),
        (
            "meridian_raft_last_applied_index",
            "Index of the last entry applied to the group's traffic state.",
            |s| s.last_applied_index.unwrap_or(0) as f64,
        ),
        (
            "meridian_raft_voters",
            "Voting members of the group.",
            |s| s.voters.len() as f64,
        ),
        (
            "meridian_live_edges",
            "Directed edges with live speeds in the group's replicated table.",
            |s| s.live_edges as f64,
        ),
    ];
    for (name, help, value) in gauges {
        header(out, name, "gauge", help);
        for s in &statuses {
            let _ = writeln!(out, "{name}{{group=\"{}\"}} {}", s.group, value(s));
        }
    }
    header(
        out,
        "meridian_pings_applied_total",
        "counter",
        "Pings applied to the group's replicated traffic state (each device and sequence number once).",
    );
    for s in &statuses {
        let _ = writeln!(
            out,
            "meridian_pings_applied_total{{group=\"{}\"}} {}",
            s.group, s.pings_applied
        );
    }
    header(
        out,
        "meridian_raft_commit_latency_seconds",
        "summary",
        "Time of this node's writes as the group's leader: append, fsync, replication to a quorum, apply.",
    );
    for s in &statuses {
        let (g, c) = (s.group, &s.commit_latency);
        for (q, ms) in [("0.5", c.p50_ms), ("0.9", c.p90_ms), ("0.99", c.p99_ms)] {
            let _ = writeln!(
                out,
                "meridian_raft_commit_latency_seconds{{group=\"{g}\",quantile=\"{q}\"}} {}",
                ms as f64 / 1e3
            );
        }
        let _ = writeln!(
            out,
            "meridian_raft_commit_latency_seconds_count{{group=\"{g}\"}} {}",
            c.samples
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counters_render() {
        let m = Metrics::new();
        m.route_answered(200, Duration::from_micros(300));
        m.route_answered(200, Duration::from_millis(3));
        m.route_answered(400, Duration::from_secs(5));
        m.ping_refused("InvalidSpeed");
        m.ping_refused("InvalidSpeed");
        let text = m.render(None);
        for line in [
            "meridian_route_requests_total{status=\"2xx\"} 2",
            "meridian_route_requests_total{status=\"4xx\"} 1",
            "meridian_route_duration_seconds_bucket{le=\"0.0005\"} 1",
            "meridian_route_duration_seconds_bucket{le=\"0.002\"} 1",
            "meridian_route_duration_seconds_bucket{le=\"0.005\"} 2",
            "meridian_route_duration_seconds_bucket{le=\"2\"} 2",
            "meridian_route_duration_seconds_bucket{le=\"+Inf\"} 3",
            "meridian_route_duration_seconds_count 3",
            "meridian_ingest_refused_total{code=\"InvalidSpeed\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
