//! Map matching of a whole GPS trace (OSRM's `/match`): a hidden Markov model in the manner of
//! Newson & Krumm (2009), decoded with Viterbi.
//!
//! * **States**: per trace point, the nearest roads within three standard deviations of its
//!   GPS error ([`snap::nearest`]); a two-way road gives one state per direction, so the
//!   matched direction of travel is part of the answer.
//! * **Emission**: Gaussian in the distance from the trace point to the state, with the point's
//!   standard deviation (`radiuses` in OSRM's API are that σ).
//! * **Transition**: exponential in |route distance − great-circle distance| between consecutive
//!   trace points (scale [`BETA_M`]). Route distances come from one bounded Dijkstra per state
//!   of the earlier point over the edge-based graph (turn restrictions and the U-turn rule as in
//!   routing), stopped at the great-circle distance plus a slack; states it cannot reach in that
//!   bound are not connected. A state a little *behind* an earlier one on the same directed edge
//!   (GPS noise on a slow vehicle) is reached with route distance 0.
//! * **Breaks**: a point without states is left unmatched. When no state of a point can be
//!   reached from the states of the last matched point, or (with timestamps and `split_gaps`)
//!   the time since the last matched point exceeds [`MAX_GAP_FACTOR`] median sampling
//!   intervals, or more than [`MAX_SKIPPED`] points in a row went unmatched, or two
//!   consecutive matched fixes lie more than [`MAX_STEP_M`] apart, the trace splits:
//!   each piece with at least two matched points is a [`Matching`].
//! * **Confidence** of a matching: the mean over its points of the chosen state's share of the
//!   probability of all states of that point (Viterbi scores normalised per point), so 1 when
//!   every point had one plausible road and lower when other roads scored nearly as well.
//!
//! The chosen states' paths are rebuilt by the same bounded search and returned as
//! [`LegPath`]s, which [`crate::Router::route_from_paths`] turns into a route with legs, steps
//! and geometry.

use crate::cost::{CostModel, SpeedSource};
use crate::queue::MinQueued;
use crate::search::{LegPath, PathEdge};
use crate::snap::{self, Snap};
use graph::{EdgeId, GlobalId, GraphStore, StoreError};
use spatial::LatLon;
use std::collections::{BinaryHeap, HashMap};

/// Scale of the transition law, metres (OSRM uses 10 as well).
pub const BETA_M: f64 = 10.0;
/// Search radius in standard deviations of the GPS error.
pub const RADIUS_SIGMAS: f64 = 3.0;
/// OSRM's default GPS standard deviation when a request gives none, metres.
pub const DEFAULT_SIGMA_M: f64 = 5.0;
/// Roads considered per trace point.
pub const MAX_CANDIDATE_ROADS: usize = 8;
/// A time gap above this many median sampling intervals splits the trace.
pub const MAX_GAP_FACTOR: f64 = 10.0;
/// More unmatched points in a row than this split the trace.
pub const MAX_SKIPPED: usize = 10;
/// Route distance searched beyond the great-circle distance at most (OSRM's bound too).
const MAX_DETOUR_M: f64 = 2_000.0;
/// Consecutive matched fixes farther apart than this are not connected (the trace splits):
/// it bounds every search, so a request of far-apart points cannot make the server explore
/// the whole graph once per state (Valhalla breaks traces at 2 km by default too).
pub const MAX_STEP_M: f64 = 2_000.0;

/// One point of a trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TracePoint {
    pub location: LatLon,
    /// Seconds (any epoch), non-decreasing along the trace.
    pub timestamp_s: Option<f64>,
    /// Standard deviation of the GPS error, metres.
    pub sigma_m: f64,
}

/// How to match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchOptions {
    /// Split the trace at large time gaps (OSRM's `gaps=split`, the default).
    pub split_gaps: bool,
    /// Cap on the search radius, metres.
    pub max_radius_m: f64,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            split_gaps: true,
            max_radius_m: crate::DEFAULT_MAX_SNAP_M,
        }
    }
}

/// A trace point placed on the graph.
#[derive(Clone, Debug)]
pub struct MatchedPoint {
    /// Index into the trace given.
    pub trace_index: usize,
    /// The directed road position (no twin: the direction is the matched one).
    pub snap: Snap,
    /// Other states of this point that were still possible.
    pub alternatives: usize,
}

/// One unbroken piece of the trace on the graph.
#[derive(Clone, Debug)]
pub struct Matching {
    pub points: Vec<MatchedPoint>,
    /// The path between each consecutive pair of `points`.
    pub paths: Vec<LegPath>,
    /// In [0, 1]; see the module docs.
    pub confidence: f64,
}

/// A state: a directed road position of one trace point.
#[derive(Clone, Debug)]
struct State {
    snap: Snap,
    emission: f64,
}

fn directed(s: &Snap) -> Vec<Snap> {
    s.candidates()
        .into_iter()
        .map(|(edge, along_m)| Snap {
            edge,
            along_m,
            twin: None,
            junction: Vec::new(),
            ..s.clone()
        })
        .collect()
}

fn candidates(
    store: &GraphStore,
    p: &TracePoint,
    max_radius_m: f64,
) -> Result<Vec<State>, StoreError> {
    let sigma = p.sigma_m.max(0.5);
    let radius = (sigma * RADIUS_SIGMAS).min(max_radius_m);
    let roads = snap::nearest(store, p.location, MAX_CANDIDATE_ROADS, radius, None, None)?;
    Ok(roads
        .iter()
        .flat_map(directed)
        .map(|snap| {
            let z = snap.distance_m / sigma;
            State {
                emission: -0.5 * z * z,
                snap,
            }
        })
        .collect())
}

#[derive(Clone, Copy)]
struct Label {
    metres: f64,
    /// Packed id of the edge before, `u64::MAX` for the first.
    parent: u64,
    turn_s: f64,
}

const NONE: u64 = u64::MAX;

/// A search's labels by packed edge id.
type Labels = HashMap<u64, Label>;

/// How a target was reached: its route distance and the label of the edge before its own
/// (`None`: on the source's own edge).
#[derive(Clone, Copy, Debug)]
struct Reached {
    metres: f64,
    via: Option<u64>,
}

/// Bounded distance-Dijkstra from `from` to every target (route distance, `None` beyond
/// `limit_m`), with the labels to rebuild paths.
fn search<S: SpeedSource>(
    store: &GraphStore,
    model: &CostModel<S>,
    from: &Snap,
    targets: &[Snap],
    limit_m: f64,
    back_tolerance_m: f64,
) -> Result<(Vec<Option<Reached>>, Labels), StoreError> {
    let mut best: Vec<Option<Reached>> = vec![None; targets.len()];
    let mut by_edge: HashMap<u64, Vec<usize>> = HashMap::new();
    for (j, t) in targets.iter().enumerate() {
        by_edge.entry(t.edge.pack()).or_default().push(j);
    }
    let offer = |best: &mut Vec<Option<Reached>>, j: usize, r: Reached| {
        if best[j].is_none_or(|b| r.metres < b.metres) {
            best[j] = Some(r);
        }
    };
    let mut labels = Labels::new();
    let mut heap = BinaryHeap::new();
    let tile = store.tile(from.edge.tile)?;
    let edge = tile.edge(from.edge.local);
    let len = edge.length_m() as f64;
    if let Some(js) = by_edge.get(&from.edge.pack()) {
        for &j in js {
            let ahead = targets[j].along_m - from.along_m;
            if ahead >= -back_tolerance_m {
                offer(
                    &mut best,
                    j,
                    Reached {
                        metres: ahead.max(0.0),
                        via: None,
                    },
                );
            }
        }
    }
    let rest = (len - from.along_m).max(0.0);
    if rest <= limit_m && store.has_tile(edge.target().tile) {
        labels.insert(
            from.edge.pack(),
            Label {
                metres: rest,
                parent: NONE,
                turn_s: 0.0,
            },
        );
        heap.push(MinQueued {
            dist: rest,
            id: from.edge.pack(),
        });
    }
    while let Some(open) = heap.pop() {
        let Some(label) = labels.get(&open.id).copied() else {
            continue;
        };
        if open.dist > label.metres {
            continue;
        }
        let id = GlobalId::unpack(open.id);
        let tile = store.tile(id.tile)?;
        let edge = tile.edge(id.local);
        let via_index = edge.target().tile;
        let via = edge.target().local;
        let via_tile = store.tile(via_index)?;
        for out_local in via_tile.out_edges(via) {
            let out = via_tile.edge(out_local);
            let head_tile = out.target().tile;
            if head_tile != via_index && !store.has_tile(head_tile) {
                continue;
            }
            let Some(turn_s) = model.turn_cost_s(via_tile, via, id, edge, out_local, out) else {
                continue;
            };
            let out_id = GlobalId::new(via_index, out_local);
            let packed = out_id.pack();
            if let Some(js) = by_edge.get(&packed) {
                for &j in js {
                    let metres = label.metres + targets[j].along_m;
                    if metres <= limit_m {
                        offer(
                            &mut best,
                            j,
                            Reached {
                                metres,
                                via: Some(open.id),
                            },
                        );
                    }
                }
            }
            let nd = label.metres + out.length_m() as f64;
            if nd <= limit_m && labels.get(&packed).is_none_or(|l| nd < l.metres) {
                labels.insert(
                    packed,
                    Label {
                        metres: nd,
                        parent: open.id,
                        turn_s,
                    },
                );
                heap.push(MinQueued {
                    dist: nd,
                    id: packed,
                });
            }
        }
    }
    Ok((best, labels))
}

/// The path of a search result from `from` to `to`.
fn rebuild<S: SpeedSource>(
    store: &GraphStore,
    model: &CostModel<S>,
    from: &Snap,
    to: &Snap,
    reached: Reached,
    labels: &Labels,
) -> Result<LegPath, StoreError> {
    let part = |id: EdgeId, from_m: f64, to_m: f64, turn_s: f64| -> Result<PathEdge, StoreError> {
        let tile = store.tile(id.tile)?;
        let edge = tile.edge(id.local);
        let len = edge.length_m() as f64;
        let share = if len > 0.0 {
            ((to_m - from_m) / len).clamp(0.0, 1.0)
        } else {
            0.0
        };
        Ok(PathEdge {
            edge: id,
            from_m,
            to_m,
            drive_s: model.edge_cost_s(id, edge) * share,
            turn_s,
        })
    };
    let mut edges = Vec::new();
    match reached.via {
        None => {
            // Same directed edge; a small step back is a standstill.
            let end = to.along_m.max(from.along_m);
            edges.push(part(from.edge, from.along_m, end, 0.0)?);
        }
        Some(via) => {
            let mut chain = Vec::new();
            let mut at = via;
            while at != NONE {
                let l = labels[&at];
                chain.push((at, l.turn_s));
                at = l.parent;
            }
            chain.reverse();
            for (k, &(packed, turn_s)) in chain.iter().enumerate() {
                let id = GlobalId::unpack(packed);
                let len = store.tile(id.tile)?.edge(id.local).length_m() as f64;
                let start = if k == 0 { from.along_m } else { 0.0 };
                edges.push(part(id, start, len, turn_s)?);
            }
            // The turn onto the target's edge, from the last edge of the chain.
            let last = GlobalId::unpack(via);
            let tile = store.tile(last.tile)?;
            let edge = tile.edge(last.local);
            let via_tile = store.tile(edge.target().tile)?;
            let out = via_tile.edge(to.edge.local);
            let turn_s = model
                .turn_cost_s(
                    via_tile,
                    edge.target().local,
                    last,
                    edge,
                    to.edge.local,
                    out,
                )
                .unwrap_or(0.0);
            edges.push(part(to.edge, 0.0, to.along_m, turn_s)?);
        }
    }
    let cost_s = edges.iter().map(|e| e.drive_s + e.turn_s).sum();
    Ok(LegPath {
        edges,
        cost_s,
        tiles_touched: 0,
        settled: labels.len(),
    })
}

fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// One layer of the Viterbi lattice.
struct Layer {
    trace_index: usize,
    states: Vec<State>,
    score: Vec<f64>,
    back: Vec<usize>,
}

/// What [`match_trace`] found.
#[derive(Clone, Debug, Default)]
pub struct MatchResult {
    pub matchings: Vec<Matching>,
    /// Trace points that had at least one road within their search radius.
    pub with_candidates: usize,
}

/// Matches `trace` onto the graph under `model` (used for turn rules and the legs' times).
pub fn match_trace<S: SpeedSource>(
    store: &GraphStore,
    model: &CostModel<S>,
    trace: &[TracePoint],
    options: &MatchOptions,
) -> Result<MatchResult, StoreError> {
    let mut with_candidates = 0;
    let max_gap_s = median_interval(trace).map(|m| m.max(1.0) * MAX_GAP_FACTOR);
    let mut pieces: Vec<Vec<Layer>> = Vec::new();
    let mut current: Vec<Layer> = Vec::new();
    let mut skipped = 0;
    for (t, p) in trace.iter().enumerate() {
        let states = candidates(store, p, options.max_radius_m)?;
        if states.is_empty() {
            skipped += 1;
            continue;
        }
        with_candidates += 1;
        let split_by_time = match (current.last(), options.split_gaps, max_gap_s) {
            (Some(prev), true, Some(gap)) => {
                match (trace[prev.trace_index].timestamp_s, p.timestamp_s) {
                    (Some(a), Some(b)) => b - a > gap,
                    _ => false,
                }
            }
            _ => false,
        };
        let mut layer = Layer {
            trace_index: t,
            score: states.iter().map(|s| s.emission).collect(),
            back: vec![usize::MAX; states.len()],
            states,
        };
        let connected = match current.last() {
            Some(prev) if !split_by_time && skipped <= MAX_SKIPPED => {
                connect(store, model, trace, prev, &mut layer)?
            }
            _ => false,
        };
        if !connected && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            // A fresh start: emissions only.
            layer.score = layer.states.iter().map(|s| s.emission).collect();
            layer.back.iter_mut().for_each(|b| *b = usize::MAX);
        }
        current.push(layer);
        skipped = 0;
    }
    pieces.push(current);

    let mut matchings = Vec::new();
    for piece in pieces.into_iter().filter(|p| p.len() >= 2) {
        matchings.push(decode(store, model, trace, &piece)?);
    }
    Ok(MatchResult {
        matchings,
        with_candidates,
    })
}

/// Scores `layer` from `prev`; false if no state of `layer` can be reached.
fn connect<S: SpeedSource>(
    store: &GraphStore,
    model: &CostModel<S>,
    trace: &[TracePoint],
    prev: &Layer,
    layer: &mut Layer,
) -> Result<bool, StoreError> {
    let (a, b) = (&trace[prev.trace_index], &trace[layer.trace_index]);
    let straight = a.location.haversine_m(b.location);
    if straight > MAX_STEP_M {
        return Ok(false);
    }
    let reach = RADIUS_SIGMAS * (a.sigma_m + b.sigma_m);
    let limit = straight + (2.0 * reach + 12.0 * BETA_M).min(MAX_DETOUR_M);
    let back_tolerance = reach;
    let targets: Vec<Snap> = layer.states.iter().map(|s| s.snap.clone()).collect();
    let mut score = vec![f64::NEG_INFINITY; targets.len()];
    let mut back = vec![usize::MAX; targets.len()];
    for (i, from) in prev.states.iter().enumerate() {
        if !prev.score[i].is_finite() {
            continue;
        }
        let (reached, _) = search(store, model, &from.snap, &targets, limit, back_tolerance)?;
        for (j, r) in reached.iter().enumerate() {
            let Some(r) = r else { continue };
            let transition = -(r.metres - straight).abs() / BETA_M;
            let s = prev.score[i] + transition + layer.states[j].emission;
            if s > score[j] {
                score[j] = s;
                back[j] = i;
            }
        }
    }
    if score.iter().all(|s| !s.is_finite()) {
        return Ok(false);
    }
    layer.score = score;
    layer.back = back;
    Ok(true)
}

/// Backtracks the best path through `piece` and rebuilds its legs.
fn decode<S: SpeedSource>(
    store: &GraphStore,
    model: &CostModel<S>,
    trace: &[TracePoint],
    piece: &[Layer],
) -> Result<Matching, StoreError> {
    let last = piece.last().expect("a piece has layers");
    let mut j = (0..last.score.len())
        .max_by(|&x, &y| last.score[x].total_cmp(&last.score[y]))
        .expect("a layer has states");
    let mut chosen = vec![0; piece.len()];
    for k in (0..piece.len()).rev() {
        chosen[k] = j;
        if k > 0 {
            j = piece[k].back[j];
        }
    }
    let mut points = Vec::with_capacity(piece.len());
    let mut confidence = 0.0;
    for (layer, &c) in piece.iter().zip(&chosen) {
        let total = log_sum_exp(layer.score.iter().copied());
        confidence += (layer.score[c] - total).exp();
        points.push(MatchedPoint {
            trace_index: layer.trace_index,
            snap: layer.states[c].snap.clone(),
            alternatives: layer.score.iter().filter(|s| s.is_finite()).count() - 1,
        });
    }
    confidence /= piece.len() as f64;
    let mut paths = Vec::with_capacity(piece.len() - 1);
    for k in 1..piece.len() {
        let (a, b) = (
            &trace[piece[k - 1].trace_index],
            &trace[piece[k].trace_index],
        );
        let reach = RADIUS_SIGMAS * (a.sigma_m + b.sigma_m);
        let limit =
            a.location.haversine_m(b.location) + (2.0 * reach + 12.0 * BETA_M).min(MAX_DETOUR_M);
        let (from, to) = (&points[k - 1].snap, &points[k].snap);
        let (reached, labels) = search(store, model, from, std::slice::from_ref(to), limit, reach)?;
        let r = reached[0].expect("the chosen transition was found before");
        paths.push(rebuild(store, model, from, to, r, &labels)?);
    }
    Ok(Matching {
        points,
        paths,
        confidence,
    })
}

/// The median time between consecutive timestamped points, if the trace has timestamps.
fn median_interval(trace: &[TracePoint]) -> Option<f64> {
    let mut gaps: Vec<f64> = trace
        .windows(2)
        .filter_map(|w| Some(w[1].timestamp_s? - w[0].timestamp_s?))
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_by(f64::total_cmp);
    Some(gaps[gaps.len() / 2])
}

/// OSRM's `tidy`: the indexes of the points to keep. A point closer than 15 m to the last
/// kept one (and, with timestamps, less than 5 s after it) is dropped; the first and the last
/// are always kept.
pub fn tidy(trace: &[TracePoint]) -> Vec<usize> {
    const MIN_M: f64 = 15.0;
    const MIN_S: f64 = 5.0;
    if trace.len() <= 2 {
        return (0..trace.len()).collect();
    }
    let mut keep = vec![0];
    let (mut metres, mut seconds) = (0.0, 0.0);
    for k in 1..trace.len() - 1 {
        metres += trace[k - 1].location.haversine_m(trace[k].location);
        let far = metres >= MIN_M;
        let later = match (trace[k - 1].timestamp_s, trace[k].timestamp_s) {
            (Some(a), Some(b)) => {
                seconds += b - a;
                seconds >= MIN_S
            }
            _ => true,
        };
        if far && later {
            keep.push(k);
            (metres, seconds) = (0.0, 0.0);
        }
    }
    keep.push(trace.len() - 1);
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lat: f64, t: Option<f64>) -> TracePoint {
        TracePoint {
            location: LatLon::new(lat, 9.5),
            timestamp_s: t,
            sigma_m: 5.0,
        }
    }

    #[test]
    fn tidy_keeps_ends_and_drops_points_close_in_space_and_time() {
        // 1e-4 degrees of latitude is about 11 m.
        let lats = [47.0, 47.0001, 47.0002, 47.0003, 47.0010, 47.0011];
        let untimed: Vec<TracePoint> = lats.iter().map(|&l| point(l, None)).collect();
        assert_eq!(tidy(&untimed), vec![0, 2, 4, 5]);
        // With timestamps a point must also be 5 s after the last kept one.
        let timed: Vec<TracePoint> = lats
            .iter()
            .enumerate()
            .map(|(i, &l)| point(l, Some(i as f64 * 2.0)))
            .collect();
        assert_eq!(tidy(&timed), vec![0, 3, 5]);
        assert_eq!(tidy(&untimed[..2]), vec![0, 1]);
    }

    #[test]
    fn median_interval_and_log_sum_exp() {
        let trace: Vec<TracePoint> = [0.0, 1.0, 2.0, 10.0]
            .iter()
            .map(|&t| point(47.0, Some(t)))
            .collect();
        assert_eq!(median_interval(&trace), Some(1.0));
        assert_eq!(
            median_interval(&[point(47.0, None), point(47.0, None)]),
            None
        );
        let l = log_sum_exp([0.0f64.ln(), 1.0f64.ln(), 3.0f64.ln()].into_iter());
        assert!((l - 4.0f64.ln()).abs() < 1e-12);
        assert_eq!(
            log_sum_exp([f64::NEG_INFINITY].into_iter()),
            f64::NEG_INFINITY
        );
    }
}
