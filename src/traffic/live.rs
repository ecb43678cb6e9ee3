//! The live traffic table and its publication to the search.
//!
//! Writers ([`LiveTraffic::observe`]) accumulate matched speeds per directed edge in a concurrent
//! map, using only ping timestamps so every replica that applies the same pings in the same order
//! holds the same table. A publisher folds the table about once a second into a
//! [`TrafficSnapshot`]: immutable per-tile speed arrays, swapped in as a whole, which a search
//! takes once per query and then reads with plain loads.

use super::speeds::SpeedSource;
use dashmap::DashMap;
use graph::tile::ArchivedEdge;
use graph::{EdgeId, GlobalId, GraphStore};
use std::sync::{Arc, RwLock};

/// A live speed older than this (by the publisher's clock) is ignored: free flow applies again.
pub const DEFAULT_FRESH_MS: i64 = 10 * 60 * 1000;
/// Time constant of the speed average: an observation this old weighs 1/e of a new one.
const DECAY_MS: f64 = 60_000.0;

/// What the table knows about one directed edge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdgeObservation {
    /// Time-decayed mean of observed speeds.
    pub speed_kmh: f32,
    pub samples: u32,
    /// Timestamp of the newest observation, ms since the epoch.
    pub updated_ms: i64,
}

#[derive(Default)]
pub struct LiveTraffic {
    edges: DashMap<u64, EdgeObservation>,
}

impl LiveTraffic {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one observed speed into an edge's average.
    pub fn observe(&self, edge: EdgeId, speed_kmh: f32, ts_ms: i64) {
        if !speed_kmh.is_finite() || speed_kmh < 0.0 {
            return;
        }
        self.edges
            .entry(edge.pack())
            .and_modify(|o| {
                let gap = (ts_ms - o.updated_ms) as f64;
                if gap > DEFAULT_FRESH_MS as f64 {
                    // The old average says nothing about now.
                    *o = EdgeObservation {
                        speed_kmh,
                        samples: 1,
                        updated_ms: ts_ms,
                    };
                    return;
                }
                let by_count = 1.0 / (o.samples as f64 + 1.0);
                let by_age = 1.0 - (-gap.max(0.0) / DECAY_MS).exp();
                let alpha = by_count.max(by_age) as f32;
                o.speed_kmh += alpha * (speed_kmh - o.speed_kmh);
                o.samples = o.samples.saturating_add(1);
                o.updated_ms = o.updated_ms.max(ts_ms);
            })
            .or_insert(EdgeObservation {
                speed_kmh,
                samples: 1,
                updated_ms: ts_ms,
            });
    }

    /// Puts back an observation exactly as it was (restoring a snapshot).
    pub fn restore(&self, edge: EdgeId, observation: EdgeObservation) {
        self.edges.insert(edge.pack(), observation);
    }

    /// Replaces the whole table with `other`'s contents.
    pub fn replace_with(&self, other: LiveTraffic) {
        self.edges.clear();
        for (k, v) in other.edges {
            self.edges.insert(k, v);
        }
    }

    /// The tables of several groups (a sharded process) as one: per edge, the observation
    /// updated last (an edge near a shard border may be seen by both groups).
    pub fn merged<'a>(tables: impl IntoIterator<Item = &'a LiveTraffic>) -> LiveTraffic {
        let merged = LiveTraffic::new();
        for table in tables {
            for entry in table.edges.iter() {
                let (key, o) = (*entry.key(), *entry.value());
                merged
                    .edges
                    .entry(key)
                    .and_modify(|m| {
                        if o.updated_ms > m.updated_ms {
                            *m = o;
                        }
                    })
                    .or_insert(o);
            }
        }
        merged
    }

    pub fn len(&self) -> usize {
        self.edges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }

    /// Every observation, sorted by edge (for export and state comparison).
    pub fn entries(&self) -> Vec<(EdgeId, EdgeObservation)> {
        let mut v: Vec<(EdgeId, EdgeObservation)> = self
            .edges
            .iter()
            .map(|e| (GlobalId::unpack(*e.key()), *e.value()))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// Per-tile speed arrays of the observations still fresh at `now_ms`. Live speeds are capped
    /// at the graph's top free-flow speed, which keeps the search's heuristic a lower bound.
    pub fn snapshot(&self, store: &GraphStore, now_ms: i64, fresh_ms: i64) -> TrafficSnapshot {
        let max_speed_kmh = store.manifest().max_speed_kmh;
        let mut tiles: Vec<Option<Box<[f32]>>> = vec![None; store.tile_count() as usize];
        let mut speedup = 1.0f64;
        let mut live_edges = 0;
        for entry in self.edges.iter() {
            let o = entry.value();
            if now_ms - o.updated_ms > fresh_ms {
                continue;
            }
            let id = GlobalId::unpack(*entry.key());
            let Ok(tile) = store.tile(id.tile) else {
                continue;
            };
            let Some(edge) = tile.edges.get(id.local as usize) else {
                continue;
            };
            let speed = o.speed_kmh.clamp(1.0, max_speed_kmh.max(1.0));
            speedup = speedup.max(speed as f64 / edge.speed_kmh() as f64);
            let slot = tiles[id.tile as usize]
                .get_or_insert_with(|| vec![0.0; tile.edges.len()].into_boxed_slice());
            slot[id.local as usize] = speed;
            live_edges += 1;
        }
        TrafficSnapshot {
            tiles,
            max_speed_kmh,
            speedup,
            published_ms: now_ms,
            live_edges,
        }
    }
}

/// Immutable live speeds by tile; `0.0` (or a missing tile) means "no live data: free flow".
#[derive(Debug, Default)]
pub struct TrafficSnapshot {
    tiles: Vec<Option<Box<[f32]>>>,
    max_speed_kmh: f32,
    speedup: f64,
    pub published_ms: i64,
    pub live_edges: usize,
}

impl TrafficSnapshot {
    /// No live data at all: every edge at free flow.
    pub fn free_flow(store: &GraphStore) -> Self {
        TrafficSnapshot {
            tiles: Vec::new(),
            max_speed_kmh: store.manifest().max_speed_kmh,
            speedup: 1.0,
            published_ms: 0,
            live_edges: 0,
        }
    }

    /// The live speed of an edge, if there is a fresh one.
    #[inline]
    pub fn live_speed_kmh(&self, id: EdgeId) -> Option<f32> {
        let tile = self.tiles.get(id.tile as usize)?.as_ref()?;
        tile.get(id.local as usize).copied().filter(|s| *s > 0.0)
    }
}

impl SpeedSource for TrafficSnapshot {
    #[inline]
    fn speed_kmh(&self, id: EdgeId, edge: &ArchivedEdge) -> f32 {
        self.live_speed_kmh(id).unwrap_or_else(|| edge.speed_kmh())
    }
    fn max_speed_kmh(&self) -> f32 {
        self.max_speed_kmh
    }
    fn max_speedup(&self) -> f64 {
        self.speedup
    }
}

/// The snapshot searches read: replaced as a whole by the publisher, cloned (one `Arc`) by each
/// query, so a search never waits on writers.
pub struct TrafficFeed {
    current: RwLock<Arc<TrafficSnapshot>>,
}

impl TrafficFeed {
    pub fn new(initial: TrafficSnapshot) -> Self {
        TrafficFeed {
            current: RwLock::new(Arc::new(initial)),
        }
    }

    pub fn current(&self) -> Arc<TrafficSnapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn publish(&self, snapshot: TrafficSnapshot) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }
}
