//! Map matching of single pings, with a little memory per device: a ping goes to the nearby
//! directed edge that best fits its position, its heading and the device's previous edge, and its
//! speed comes from the receiver or, failing that, from the road distance covered since the
//! previous ping.

use super::Ping;
use dashmap::DashMap;
use graph::nearby::{along_edge_m, visit_segments_near, SegmentHit};
use graph::{EdgeId, GraphStore, StoreError};
use spatial::LatLon;

/// Pings farther than this from any road are not matched (plus the fix's own accuracy, capped).
const MATCH_RADIUS_M: f64 = 30.0;
/// A heading this far off the road direction costs as much as this many metres of distance.
const HEADING_WEIGHT_M: f64 = 25.0;
/// Staying on the previous edge or moving onto one of its successors is favoured by this much.
const CONTINUITY_BONUS_M: f64 = 8.0;
/// Speeds above this are treated as GPS glitches.
pub const MAX_PLAUSIBLE_KMH: f32 = 250.0;
/// The previous ping of a device is used for speed only if it is this recent.
const MAX_GAP_MS: i64 = 120_000;
/// Below this speed a heading is noise (receivers report junk headings when standing).
const MIN_SPEED_FOR_HEADING_MS: f32 = 2.0;

/// A ping placed on the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedPing {
    pub device: u64,
    pub seq: u64,
    pub ts_ms: i64,
    pub edge: EdgeId,
    pub along_m: f32,
    /// The speed this ping tells about its edge, when it tells one.
    pub speed_kmh: Option<f32>,
}

#[derive(Clone, Copy, Debug)]
struct LastFix {
    edge: EdgeId,
    along_m: f64,
    ts_ms: i64,
    point: LatLon,
}

/// Matches pings; keeps each device's last matched fix (concurrently, one entry per device).
#[derive(Default)]
pub struct Matcher {
    last: DashMap<u64, LastFix>,
    /// Matched pings, to sweep `last` every [`SWEEP_EVERY`] of them.
    matched: std::sync::atomic::AtomicU64,
}

/// Matched pings between two sweeps of stale last fixes.
const SWEEP_EVERY: u64 = 4096;

struct Candidate {
    edge: EdgeId,
    /// The segment it was found on, and whether `edge` runs against the segment's direction.
    hit: SegmentHit,
    reversed: bool,
    length_m: f64,
    score: f64,
}

impl Matcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Devices whose last fix is kept.
    pub fn tracked_devices(&self) -> usize {
        self.last.len()
    }

    /// Matches one ping; `None` when no road is near enough.
    pub fn match_ping(
        &self,
        store: &GraphStore,
        ping: &Ping,
    ) -> Result<Option<MatchedPing>, StoreError> {
        let point = ping.position();
        let previous = self
            .last
            .get(&ping.device)
            .map(|f| *f)
            .filter(|f| ping.ts_ms > f.ts_ms && ping.ts_ms - f.ts_ms <= MAX_GAP_MS);
        let radius = MATCH_RADIUS_M + ping.accuracy_m.unwrap_or(0.0).clamp(0.0, 50.0) as f64;
        let heading = ping
            .heading_deg
            .filter(|h| {
                h.is_finite() && ping.speed_ms.is_none_or(|s| s >= MIN_SPEED_FOR_HEADING_MS)
            })
            .map(|h| h as f64)
            .or_else(|| {
                // Without a usable heading, the direction of travel since the last fix.
                previous
                    .filter(|p| p.point.haversine_m(point) > 5.0)
                    .map(|p| p.point.bearing_deg(point))
            });

        let mut hits: Vec<SegmentHit> = Vec::new();
        visit_segments_near(store, point, radius, |h| {
            if h.projection.distance_m <= radius {
                hits.push(h);
            }
        })?;
        let mut best: Option<Candidate> = None;
        for hit in hits {
            let tile = store.tile(hit.edge.tile)?;
            let edge = tile.edge(hit.edge.local);
            let length = edge.length_m() as f64;
            let twin = edge.twin();
            // The position along the edge matters while choosing only against a previous fix on
            // the same road; otherwise it is computed for the winner alone.
            let along = match previous {
                Some(p) if p.edge == hit.edge || Some(p.edge) == twin => {
                    Some(along_edge_m(store, &hit)?)
                }
                _ => None,
            };
            let segment_bearing = match heading {
                Some(_) => {
                    let (a, b) = tile.segment(edge, hit.segment);
                    Some(a.bearing_deg(b))
                }
                None => None,
            };
            // The indexed direction, and the other one when the road is two-way.
            let options = [Some((hit.edge, false)), twin.map(|t| (t, true))];
            for (id, reversed) in options.into_iter().flatten() {
                let mut score = hit.projection.distance_m;
                if let (Some(h), Some(b)) = (heading, segment_bearing) {
                    let bearing = if reversed { (b + 180.0) % 360.0 } else { b };
                    score += HEADING_WEIGHT_M * angle_between(h, bearing) / 180.0;
                }
                if let Some(p) = previous {
                    let along_m = along.map(|a| if reversed { (length - a).max(0.0) } else { a });
                    let ahead = p.edge == id && along_m.is_some_and(|a| a + 1.0 >= p.along_m);
                    if ahead || follows(store, p.edge, id)? {
                        score -= CONTINUITY_BONUS_M;
                    }
                }
                if best
                    .as_ref()
                    .is_none_or(|c| score < c.score || (score == c.score && id < c.edge))
                {
                    best = Some(Candidate {
                        edge: id,
                        hit,
                        reversed,
                        length_m: length,
                        score,
                    });
                }
            }
        }
        let Some(best) = best else {
            return Ok(None);
        };
        let along = along_edge_m(store, &best.hit)?;
        let best_along_m = if best.reversed {
            (best.length_m - along).max(0.0)
        } else {
            along
        };
        let derived = match previous {
            Some(p) => {
                let metres = if p.edge == best.edge && best_along_m >= p.along_m {
                    Some(best_along_m - p.along_m)
                } else if follows(store, p.edge, best.edge)? {
                    let prev_len = store.tile(p.edge.tile)?.edge(p.edge.local).length_m() as f64;
                    Some((prev_len - p.along_m).max(0.0) + best_along_m)
                } else {
                    None
                };
                metres.map(|m| (m / ((ping.ts_ms - p.ts_ms) as f64 / 1000.0) * 3.6) as f32)
            }
            None => None,
        };
        let reported = ping
            .speed_ms
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| s * 3.6);
        let speed_kmh = reported.or(derived).filter(|s| *s <= MAX_PLAUSIBLE_KMH);
        // A resent older fix must not replace a newer one.
        let fix = LastFix {
            edge: best.edge,
            along_m: best_along_m,
            ts_ms: ping.ts_ms,
            point,
        };
        self.last
            .entry(ping.device)
            .and_modify(|f| {
                if fix.ts_ms >= f.ts_ms {
                    *f = fix;
                }
            })
            .or_insert(fix);
        // A fix more than MAX_GAP_MS older than pings arriving now is never used again: drop
        // those, so memory follows the devices driving now, not every phone ever seen.
        let n = self
            .matched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if (n + 1) % SWEEP_EVERY == 0 {
            self.last.retain(|_, f| ping.ts_ms - f.ts_ms <= MAX_GAP_MS);
        }
        Ok(Some(MatchedPing {
            device: ping.device,
            seq: ping.seq,
            ts_ms: ping.ts_ms,
            edge: best.edge,
            along_m: best_along_m as f32,
            speed_kmh,
        }))
    }
}

/// True when `next` leaves the node `prev` arrives at.
fn follows(store: &GraphStore, prev: EdgeId, next: EdgeId) -> Result<bool, StoreError> {
    let e = store.tile(prev.tile)?.edge(prev.local);
    if e.target().tile != next.tile {
        return Ok(false);
    }
    let head_tile = store.tile(next.tile)?;
    Ok(head_tile.out_edges(e.target().local).contains(&next.local))
}

/// Smallest angle between two bearings, degrees in [0, 180].
fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;
