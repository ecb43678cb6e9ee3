//! Raft commit latency of this node's writes: a fixed ring of recent samples and their
//! percentiles, shown in `GET /cluster` so operators and the ingest bench can tell the log's own
//! latency apart from queueing before it.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Samples kept (the most recent ones).
const WINDOW: usize = 4096;

#[derive(Default)]
pub struct LatencyWindow {
    samples: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    values: Vec<f32>,
    next: usize,
    total: u64,
}

/// Percentiles over the window, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    /// Samples recorded since start (the percentiles cover the last few thousand).
    pub samples: u64,
    pub p50_ms: f32,
    pub p90_ms: f32,
    pub p99_ms: f32,
}

impl LatencyWindow {
    pub fn record(&self, ms: f32) {
        let Ok(mut ring) = self.samples.lock() else {
            return;
        };
        if ring.values.len() < WINDOW {
            ring.values.push(ms);
        } else {
            let i = ring.next;
            ring.values[i] = ms;
        }
        ring.next = (ring.next + 1) % WINDOW;
        ring.total += 1;
    }

    pub fn summary(&self) -> LatencySummary {
        let Ok(ring) = self.samples.lock() else {
            return LatencySummary::default();
        };
        let mut sorted = ring.values.clone();
        sorted.sort_by(f32::total_cmp);
        let at = |p: f64| -> f32 {
            if sorted.is_empty() {
                return 0.0;
            }
            sorted[((sorted.len() - 1) as f64 * p).round() as usize]
        };
        LatencySummary {
            samples: ring.total,
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_cover_the_recent_window() {
        let w = LatencyWindow::default();
        assert_eq!(w.summary(), LatencySummary::default());
        for i in 1..=100 {
            w.record(i as f32);
        }
        let s = w.summary();
        assert_eq!((s.samples, s.p50_ms, s.p99_ms), (100, 51.0, 99.0));
        // Old samples fall out of the window.
        for _ in 0..WINDOW {
            w.record(1000.0);
        }
        assert_eq!(w.summary().p50_ms, 1000.0);
        assert_eq!(w.summary().samples, 100 + WINDOW as u64);
    }
}
