//! The ingest pipeline without the websocket: each ping a device sends is admitted (the device's
//! rate limit, then the field and ordering checks against what its connection sent before),
//! matched to a road once, and submitted to the Raft log, where it resolves once committed. The
//! websocket handler ([`super::ingest`]) only decodes frames, authenticates, and turns the
//! outcomes of these calls into frames; unit tests make the same calls.

use super::metrics::Metrics;
use super::rate_limit::DeviceRates;
use cluster::batcher::{ShardedBatcher, SubmitError};
use cluster::LoggedPing;
use route::Router;
use serde::Deserialize;
use spatial::LatLon;
use std::sync::Arc;
use traffic::{Matcher, Ping};

/// Pings stamped further in the future than this (device clock skew) are refused.
pub const MAX_FUTURE_MS: i64 = 10 * 60 * 1000;
/// Pings older than this are refused: too old to say anything about traffic now.
pub const MAX_AGE_MS: i64 = 24 * 60 * 60 * 1000;
/// 100 m/s = 360 km/h: anything faster is not a car.
pub const MAX_SPEED_MS: f32 = 100.0;

/// One GPS fix as a client sends it (JSON `ping` or one record of a binary frame).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PingMessage {
    pub seq: u64,
    pub ts: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed: Option<f32>,
    pub heading: Option<f32>,
    pub accuracy: Option<f32>,
}

impl PingMessage {
    pub fn position(&self) -> LatLon {
        LatLon::new(self.lat, self.lon)
    }
}

/// Why a ping was not admitted: the error code the client sees, and a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

impl Refused {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Refused {
            code,
            message: message.into(),
        }
    }
}

/// What the pipeline keeps about one device's pings on one connection: the order check and
/// where the device last was.
#[derive(Clone, Debug)]
pub struct DeviceStream {
    device: u64,
    last_ts: Option<i64>,
    /// Highest sequence number admitted: a ping at or below it is a resend.
    highest_seq: u64,
    last_position: Option<LatLon>,
}

impl DeviceStream {
    pub fn new(device: u64) -> Self {
        DeviceStream {
            device,
            last_ts: None,
            highest_seq: 0,
            last_position: None,
        }
    }

    pub fn device(&self) -> u64 {
        self.device
    }

    /// Timestamp of the last admitted ping (not counting resends).
    pub fn last_ts(&self) -> Option<i64> {
        self.last_ts
    }

    /// Position of the last admitted ping (not counting resends): where navigation starts.
    pub fn last_position(&self) -> Option<LatLon> {
        self.last_position
    }
}

/// A ping that passed admission.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    pub ping: Ping,
    /// A resend of a ping sent before on this connection (not acked yet): it moved nothing.
    pub resend: bool,
}

/// Why a ping is refused, if it is: the checks of every field, and timestamps that do not go
/// backwards after `last_ts`.
pub fn validate(p: &PingMessage, last_ts: Option<i64>, now: i64) -> Result<(), Refused> {
    if p.seq == 0 {
        return Err(Refused::new("InvalidSeq", "sequence numbers start at 1"));
    }
    if !p.position().in_range() {
        return Err(Refused::new(
            "InvalidCoordinate",
            format!("lat {} lon {} out of range", p.lat, p.lon),
        ));
    }
    if p.ts > now + MAX_FUTURE_MS || p.ts < now - MAX_AGE_MS {
        return Err(Refused::new(
            "InvalidTimestamp",
            format!("timestamp {} is too far from the server clock {now}", p.ts),
        ));
    }
    if last_ts.is_some_and(|l| p.ts < l) {
        return Err(Refused::new(
            "TimestampBackwards",
            "timestamps must not go backwards",
        ));
    }
    if p.speed
        .is_some_and(|s| !s.is_finite() || !(0.0..=MAX_SPEED_MS).contains(&s))
    {
        return Err(Refused::new(
            "InvalidSpeed",
            format!("speed must be 0..{MAX_SPEED_MS} m/s"),
        ));
    }
    if p.heading
        .is_some_and(|h| !h.is_finite() || !(0.0..=360.0).contains(&h))
    {
        return Err(Refused::new(
            "InvalidHeading",
            "heading must be 0..360 degrees",
        ));
    }
    if p.accuracy.is_some_and(|a| !a.is_finite() || a < 0.0) {
        return Err(Refused::new(
            "InvalidAccuracy",
            "accuracy must be a non-negative number of metres",
        ));
    }
    Ok(())
}

/// The pipeline of one node: the map pings are matched on, the matcher's per-device state, the
/// batchers in front of the Raft logs (one per shard), and the per-device rate limit.
pub struct PingPipeline {
    pub router: Arc<Router>,
    pub metrics: Arc<Metrics>,
    matcher: Matcher,
    batcher: ShardedBatcher,
    rates: DeviceRates,
}

impl PingPipeline {
    pub fn new(
        router: Arc<Router>,
        batcher: impl Into<ShardedBatcher>,
        metrics: Arc<Metrics>,
        rates: DeviceRates,
    ) -> Self {
        PingPipeline {
            router,
            metrics,
            matcher: Matcher::new(),
            batcher: batcher.into(),
            rates,
        }
    }

    /// Why this node can no longer commit anything, if it cannot.
    pub fn node_failure(&self) -> Option<String> {
        self.batcher.node_failure()
    }

    /// Admits one ping of `stream`'s device at server time `now`: under the device's rate
    /// limit and valid, it moves the stream on (unless it is a resend, which skips the ordering
    /// check and moves nothing back). Counted in the metrics either way.
    pub fn admit(
        &self,
        stream: &mut DeviceStream,
        p: &PingMessage,
        now: i64,
    ) -> Result<Admitted, Refused> {
        if !self.rates.take(stream.device) {
            self.metrics.ping_refused("RateLimited");
            return Err(Refused::new("RateLimited", "too many pings; slow down"));
        }
        // A resend of a ping that was not acked (e.g. `NotCommitted`) is older than what
        // followed it.
        let resend = p.seq <= stream.highest_seq;
        let last_ts = if resend { None } else { stream.last_ts };
        if let Err(refused) = validate(p, last_ts, now) {
            self.metrics.ping_refused(refused.code);
            return Err(refused);
        }
        self.metrics.ping_accepted();
        if !resend {
            stream.highest_seq = p.seq;
            stream.last_ts = Some(p.ts);
            stream.last_position = Some(p.position());
        }
        Ok(Admitted {
            ping: Ping {
                device: stream.device,
                seq: p.seq,
                ts_ms: p.ts,
                lat: p.lat,
                lon: p.lon,
                speed_ms: p.speed,
                heading_deg: p.heading,
                accuracy_m: p.accuracy,
            },
            resend,
        })
    }

    /// The ping as it goes into the log: matched to a road here, once (replicas only aggregate;
    /// see DESIGN). A ping no road is near, or that the store cannot match, goes in unmatched.
    pub fn matched(&self, ping: &Ping) -> LoggedPing {
        let matched = self
            .matcher
            .match_ping(&self.router.store, ping)
            .ok()
            .flatten();
        LoggedPing {
            device: ping.device,
            seq: ping.seq,
            ts_ms: ping.ts_ms,
            lat: ping.lat,
            lon: ping.lon,
            edge: matched.as_ref().map(|m| (m.edge.tile, m.edge.local)),
            speed_kmh: matched.and_then(|m| m.speed_kmh),
        }
    }

    /// The ping as it goes into the log without a road: kept (and acked) like any other, but
    /// it feeds no edge's speed (a walker's fix).
    pub fn unmatched(&self, ping: &Ping) -> LoggedPing {
        LoggedPing {
            device: ping.device,
            seq: ping.seq,
            ts_ms: ping.ts_ms,
            lat: ping.lat,
            lon: ping.lon,
            edge: None,
            speed_kmh: None,
        }
    }

    /// Submits pings to the log together; resolves with each ping's sequence number and
    /// outcome, in order, once each is committed (or has failed for good). The caller counts
    /// each outcome it reports ([`PingPipeline::count`]).
    pub async fn submit(&self, pings: Vec<LoggedPing>) -> Vec<(u64, Result<(), SubmitError>)> {
        let seqs: Vec<u64> = pings.iter().map(|p| p.seq).collect();
        let results =
            futures_util::future::join_all(pings.into_iter().map(|p| self.batcher.submit(p))).await;
        seqs.into_iter().zip(results).collect()
    }

    /// Counts a submitted ping's outcome in the metrics: acked, not committed, or refused by
    /// the state machine.
    pub fn count(&self, result: &Result<(), SubmitError>) {
        match result {
            Ok(()) => self.metrics.ping_acked(),
            Err(SubmitError::NotCommitted(_) | SubmitError::NodeFailed(_)) => {
                self.metrics.ping_not_committed()
            }
            Err(SubmitError::Refused(reason)) => self.metrics.ping_refused(reason.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::batcher::Batcher;
    use cluster::node::{ClusterNode, NodeConfig};
    use graph::build::ascii_map::AsciiMap;
    use graph::GraphStore;
    use std::collections::BTreeMap;

    const NOW: i64 = 1_800_000_000_000;

    fn good() -> PingMessage {
        PingMessage {
            seq: 1,
            ts: NOW,
            lat: 41.1,
            lon: -8.6,
            speed: Some(10.0),
            heading: Some(90.0),
            accuracy: Some(5.0),
        }
    }

    #[test]
    fn refuses_each_kind_of_bad_ping() {
        assert!(validate(&good(), None, NOW).is_ok());
        let cases: [(PingMessage, Option<i64>, &str); 9] = [
            (PingMessage { seq: 0, ..good() }, None, "InvalidSeq"),
            (
                PingMessage {
                    lat: 91.0,
                    ..good()
                },
                None,
                "InvalidCoordinate",
            ),
            (
                PingMessage {
                    lon: f64::NAN,
                    ..good()
                },
                None,
                "InvalidCoordinate",
            ),
            (
                PingMessage {
                    ts: NOW + 3_600_000,
                    ..good()
                },
                None,
                "InvalidTimestamp",
            ),
            (
                PingMessage {
                    ts: NOW - 2 * MAX_AGE_MS,
                    ..good()
                },
                None,
                "InvalidTimestamp",
            ),
            (good(), Some(NOW + 1), "TimestampBackwards"),
            (
                PingMessage {
                    speed: Some(150.0),
                    ..good()
                },
                None,
                "InvalidSpeed",
            ),
            (
                PingMessage {
                    heading: Some(400.0),
                    ..good()
                },
                None,
                "InvalidHeading",
            ),
            (
                PingMessage {
                    accuracy: Some(-1.0),
                    ..good()
                },
                None,
                "InvalidAccuracy",
            ),
        ];
        for (ping, last, code) in cases {
            assert_eq!(validate(&ping, last, NOW).unwrap_err().code, code);
        }
    }

    /// A real pipeline on a drawn street, with a one-node Raft log in a temporary directory.
    struct Fixture {
        pipeline: PingPipeline,
        map: AsciiMap,
        _dirs: (tempfile::TempDir, tempfile::TempDir),
    }

    async fn fixture(pings_per_second: f64) -> Fixture {
        let map = AsciiMap::parse("a-----------b", 20.0)
            .unwrap()
            .way("ab", &[("highway", "primary")]);
        let graph_dir = tempfile::tempdir().unwrap();
        map.import(graph_dir.path()).unwrap();
        let router = Arc::new(Router::new(Arc::new(
            GraphStore::open(graph_dir.path()).unwrap(),
        )));
        let log_dir = tempfile::tempdir().unwrap();
        let node = ClusterNode::start(NodeConfig {
            id: 1,
            advertise: "127.0.0.1:1".into(),
            data_dir: log_dir.path().to_path_buf(),
            secret: "pipeline-test".into(),
            observations: None,
            snapshots: Default::default(),
            source_ip: None,
        })
        .await
        .unwrap();
        node.initialize(BTreeMap::from([(1, "127.0.0.1:1".to_string())]))
            .await
            .unwrap();
        let node = Arc::new(node);
        let rate = super::super::rate_limit::RateLimit {
            per_s: pings_per_second,
            burst: pings_per_second,
        };
        let pipeline = PingPipeline::new(
            router,
            Batcher::start(node, Default::default()),
            Arc::new(Metrics::new()),
            DeviceRates::new(rate),
        );
        Fixture {
            pipeline,
            map,
            _dirs: (graph_dir, log_dir),
        }
    }

    fn on(map: &AsciiMap, c: char, seq: u64, ts: i64) -> PingMessage {
        let p = map.coordinate(c).unwrap();
        PingMessage {
            seq,
            ts,
            lat: p.lat + 5e-5,
            lon: p.lon,
            speed: None,
            heading: None,
            accuracy: Some(5.0),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admits_in_order_lets_resends_through_and_moves_nothing_back() {
        let f = fixture(100.0).await;
        let mut stream = DeviceStream::new(7);
        let now = route::now_ms();
        let first = f
            .pipeline
            .admit(&mut stream, &on(&f.map, 'a', 1, now - 2_000), now)
            .unwrap();
        assert!(!first.resend);
        assert_eq!((first.ping.device, first.ping.seq), (7, 1));
        let second = f
            .pipeline
            .admit(&mut stream, &on(&f.map, 'b', 2, now - 1_000), now)
            .unwrap();
        assert!(!second.resend);
        assert_eq!(stream.last_ts(), Some(now - 1_000));
        let at_b = stream.last_position().unwrap();
        // An older timestamp with a new seq goes backwards; with an old seq it is a resend.
        let back = f
            .pipeline
            .admit(&mut stream, &on(&f.map, 'a', 3, now - 5_000), now);
        assert_eq!(back.unwrap_err().code, "TimestampBackwards");
        let resend = f
            .pipeline
            .admit(&mut stream, &on(&f.map, 'a', 1, now - 2_000), now)
            .unwrap();
        assert!(resend.resend);
        assert_eq!(stream.last_position(), Some(at_b));
        assert_eq!(stream.last_ts(), Some(now - 1_000));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_device_over_its_rate_is_refused() {
        let f = fixture(2.0).await;
        let mut stream = DeviceStream::new(8);
        let now = route::now_ms();
        for seq in 1..=2 {
            f.pipeline
                .admit(&mut stream, &on(&f.map, 'a', seq, now), now)
                .unwrap();
        }
        let third = f.pipeline.admit(&mut stream, &on(&f.map, 'a', 3, now), now);
        assert_eq!(third.unwrap_err().code, "RateLimited");
        // Another device has its own budget.
        let mut other = DeviceStream::new(9);
        assert!(f
            .pipeline
            .admit(&mut other, &on(&f.map, 'a', 1, now), now)
            .is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pings_on_the_street_are_matched_and_committed_once() {
        let f = fixture(100.0).await;
        let mut stream = DeviceStream::new(11);
        let now = route::now_ms();
        let mut logged = Vec::new();
        for (seq, c) in [(1, 'a'), (2, 'b')] {
            let admitted = f
                .pipeline
                .admit(
                    &mut stream,
                    &on(&f.map, c, seq, now - 10_000 + seq as i64 * 1_000),
                    now,
                )
                .unwrap();
            logged.push(f.pipeline.matched(&admitted.ping));
        }
        // The drawn street is the only road: both fixes lie on it.
        assert!(logged.iter().all(|l| l.edge.is_some()), "{logged:?}");
        let far = Ping {
            lat: 10.0,
            lon: 10.0,
            ..f.pipeline
                .admit(&mut stream, &on(&f.map, 'b', 3, now - 5_000), now)
                .unwrap()
                .ping
        };
        let unmatched = f.pipeline.matched(&far);
        assert_eq!(unmatched.edge, None);
        logged.push(unmatched);
        let results = f.pipeline.submit(logged.clone()).await;
        assert_eq!(
            results,
            vec![(1, Ok(())), (2, Ok(())), (3, Ok(()))],
            "every ping commits on a one-node log"
        );
        // The same pings again are duplicates: applied once, acked again.
        let again = f.pipeline.submit(logged).await;
        assert!(again.iter().all(|(_, r)| r.is_ok()), "{again:?}");
    }
}
