//! The route search: an edge-based A* that expands tile by tile.
//!
//! A label belongs to a directed edge ("arrived at its head having driven it"), so turn costs and
//! turn restrictions are exact. Labels live in per-tile arrays that are allocated the first time a
//! search touches a tile and reused by later searches through a generation stamp, so a query
//! costs memory only for the tiles it explores. The heuristic is the larger of two lower bounds:
//! straight-line distance over the graph's top speed, and landmark (ALT) bounds computed at
//! import; neither ever overestimates, and the search stops
//! when no open label can beat the best complete route, so the answer is exact for its weights.
//!
//! Over a store that holds only some tiles (an offline bundle), an edge whose head lies in an
//! absent tile is treated as if it did not exist, so the answer is exact for the roads held.

use super::cost::{CostModel, SpeedSource};
use graph::tile::ArchivedTile;
use graph::{EdgeId, GlobalId, GraphStore, StoreError};
use spatial::geometry::lower_bound_distance_m;
use spatial::LatLon;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

const START: u64 = u64::MAX;
/// Landmarks used per query: the ones giving the tightest bound at the source. On Porto with 16
/// landmarks, using 4 / 8 / 16 of them gave p99 26 / 20 / 14.5 ms (bench/RESULTS.md): the tighter
/// bound saves more labels than the extra arithmetic costs.
const ACTIVE_LANDMARKS: usize = 16;

/// Lower bound of the remaining cost from a node to the target: the larger of straight-line
/// distance at top speed and the landmark (ALT) bounds towards the target edges' tail nodes.
struct Heuristic {
    target_point: LatLon,
    cos_lat_min: f64,
    max_speed_ms: f64,
    speedup: f64,
    active: Vec<usize>,
    /// Per target tail node: (seconds from each active landmark, seconds to each).
    targets: Vec<(Vec<f64>, Vec<f64>)>,
}

impl Heuristic {
    fn new<S: SpeedSource>(
        store: &GraphStore,
        model: &CostModel<S>,
        sources: &[Endpoint],
        targets: &[Endpoint],
        target_point: LatLon,
    ) -> Result<Heuristic, StoreError> {
        let bbox = store.manifest().bbox;
        let cos_lat_min = bbox
            .min_lat
            .abs()
            .max(bbox.max_lat.abs())
            .max(target_point.lat.abs())
            .min(89.0)
            .to_radians()
            .cos();
        let mut h = Heuristic {
            target_point,
            cos_lat_min,
            max_speed_ms: model.max_speed_ms(),
            speedup: model.speeds.max_speedup(),
            active: Vec::new(),
            targets: Vec::new(),
        };
        let (Some(first_source), Some(_)) = (sources.first(), targets.first()) else {
            return Ok(h);
        };
        let mut tails = Vec::new();
        for t in targets {
            let tile = store.tile(t.edge.tile)?;
            if tile.landmark_count() == 0 {
                return Ok(h);
            }
            let (from, to) = tile.landmarks_at(tile.edge_source(t.edge.local));
            tails.push((from.to_vec(), to.to_vec()));
        }
        // Rank landmarks by the bound they give at the first source edge's head.
        let source_tile = store.tile(first_source.edge.tile)?;
        let head = source_tile.edge(first_source.edge.local);
        if !store.has_tile(head.target().tile) {
            // Only in a partial store; the straight-line bound alone is still valid.
            return Ok(h);
        }
        let head_tile = store.tile(head.target().tile)?;
        let (from_s, to_s) = head_tile.landmarks_at(head.target().local);
        let count = from_s.len();
        let mut ranked: Vec<(f64, usize)> = (0..count)
            .map(|i| {
                let bound = tails
                    .iter()
                    .map(|(ft, tt)| (ft[i] - from_s.get(i)).max(to_s.get(i) - tt[i]))
                    .fold(f64::INFINITY, f64::min);
                (bound, i)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        h.active = ranked.iter().take(ACTIVE_LANDMARKS).map(|r| r.1).collect();
        h.targets = tails
            .into_iter()
            .map(|(ft, tt)| {
                (
                    h.active.iter().map(|&i| ft[i]).collect(),
                    h.active.iter().map(|&i| tt[i]).collect(),
                )
            })
            .collect();
        Ok(h)
    }

    #[inline]
    fn at(&self, tile: &ArchivedTile, node: u32) -> f64 {
        let p = tile.node_location(node);
        let straight =
            lower_bound_distance_m(p, self.target_point, self.cos_lat_min) / self.max_speed_ms;
        if self.active.is_empty() {
            return straight;
        }
        let (from_v, to_v) = tile.landmarks_at(node);
        let mut landmark = f64::INFINITY;
        for (ft, tt) in &self.targets {
            let mut b = 0f64;
            for (k, &i) in self.active.iter().enumerate() {
                b = b.max(ft[k] - from_v.get(i)).max(to_v.get(i) - tt[k]);
            }
            landmark = landmark.min(b);
        }
        // Margin for the f32 rounding of stored landmark times.
        let landmark = (landmark * (1.0 - 1e-6) - 1e-3) / self.speedup;
        straight.max(landmark)
    }
}

/// Where a route may begin or end: a directed edge and metres along it from its tail.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Endpoint {
    pub edge: EdgeId,
    pub along_m: f64,
}

/// One edge of a found path, possibly partial (first and last).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathEdge {
    pub edge: EdgeId,
    pub from_m: f64,
    pub to_m: f64,
    /// Seconds spent on the driven part of the edge.
    pub drive_s: f64,
    /// Seconds of the turn onto this edge (0 for the first).
    pub turn_s: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LegPath {
    pub edges: Vec<PathEdge>,
    pub cost_s: f64,
    /// Tiles whose labels the search touched.
    pub tiles_touched: usize,
    /// Labels taken off the queue.
    pub settled: usize,
}

#[derive(Default)]
struct TileLabels {
    stamp: Vec<u32>,
    dist: Vec<f64>,
    parent: Vec<u64>,
}

#[derive(Clone, Copy)]
struct Open {
    key: f64,
    dist: f64,
    edge: u64,
}
impl PartialEq for Open {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key && self.edge == o.edge
    }
}
impl Eq for Open {}
impl PartialOrd for Open {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Open {
    // Reversed: BinaryHeap is a max-heap and we want the smallest key first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.key
            .total_cmp(&self.key)
            .then_with(|| o.edge.cmp(&self.edge))
    }
}

/// Reusable search state (one per thread): per-tile label arrays and the queue.
#[derive(Default)]
pub struct SearchSpace {
    generation: u32,
    tiles: Vec<TileLabels>,
    tile_stamp: Vec<u32>,
    touched: usize,
    heap: BinaryHeap<Open>,
}

impl SearchSpace {
    pub fn new() -> Self {
        Self::default()
    }

    fn begin(&mut self, tile_count: u32) {
        if self.tiles.len() < tile_count as usize {
            self.tiles
                .resize_with(tile_count as usize, TileLabels::default);
            self.tile_stamp.resize(tile_count as usize, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Stamps wrapped: clear them so no stale label looks current.
            for t in &mut self.tiles {
                t.stamp.iter_mut().for_each(|s| *s = 0);
            }
            self.tile_stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.touched = 0;
        self.heap.clear();
    }

    #[inline]
    fn labels(&mut self, tile: u32, edges: usize) -> &mut TileLabels {
        let t = tile as usize;
        if self.tile_stamp[t] != self.generation {
            self.tile_stamp[t] = self.generation;
            self.touched += 1;
        }
        let l = &mut self.tiles[t];
        if l.stamp.len() < edges {
            l.stamp.resize(edges, 0);
            l.dist.resize(edges, f64::INFINITY);
            l.parent.resize(edges, START);
        }
        l
    }

    #[inline]
    fn dist(&self, id: EdgeId) -> f64 {
        let l = &self.tiles[id.tile as usize];
        match l.stamp.get(id.local as usize) {
            Some(&s) if s == self.generation => l.dist[id.local as usize],
            _ => f64::INFINITY,
        }
    }

    #[inline]
    fn parent(&self, id: EdgeId) -> u64 {
        self.tiles[id.tile as usize].parent[id.local as usize]
    }

    /// Lowers the label of `id` if `dist` is better; true if it did.
    #[inline]
    fn improve(&mut self, id: EdgeId, edges: usize, dist: f64, parent: u64) -> bool {
        let generation = self.generation;
        let l = self.labels(id.tile, edges);
        let i = id.local as usize;
        if l.stamp[i] == generation && l.dist[i] <= dist {
            return false;
        }
        l.stamp[i] = generation;
        l.dist[i] = dist;
        l.parent[i] = parent;
        true
    }
}

enum Finish {
    /// Source and target on the same edge, target ahead of source.
    Direct { source: usize, target: usize },
    /// Last fully driven edge, then the target edge.
    Via { last: EdgeId, target: usize },
}

/// Fastest path from any source endpoint to any target endpoint, `None` if there is none.
pub fn shortest_path<S: SpeedSource>(
    store: &GraphStore,
    model: &CostModel<S>,
    space: &mut SearchSpace,
    sources: &[Endpoint],
    targets: &[Endpoint],
    target_point: LatLon,
) -> Result<Option<LegPath>, StoreError> {
    space.begin(store.tile_count());
    let heuristic = Heuristic::new(store, model, sources, targets, target_point)?;

    let mut best = f64::INFINITY;
    let mut finish: Option<Finish> = None;
    for (si, s) in sources.iter().enumerate() {
        for (ti, t) in targets.iter().enumerate() {
            if s.edge == t.edge && t.along_m >= s.along_m {
                let tile = store.tile(s.edge.tile)?;
                let edge = tile.edge(s.edge.local);
                let cost = model.edge_cost_s(s.edge, edge)
                    * fraction(t.along_m - s.along_m, edge.length_m());
                if cost < best {
                    best = cost;
                    finish = Some(Finish::Direct {
                        source: si,
                        target: ti,
                    });
                }
            }
        }
    }
    for s in sources {
        let tile = store.tile(s.edge.tile)?;
        let edge = tile.edge(s.edge.local);
        let len = edge.length_m();
        let d = model.edge_cost_s(s.edge, edge) * fraction(len as f64 - s.along_m, len);
        if !store.has_tile(edge.target().tile) {
            continue;
        }
        if space.improve(s.edge, tile.edges.len(), d, START) {
            let head_tile = store.tile(edge.target().tile)?;
            space.heap.push(Open {
                key: d + heuristic.at(head_tile, edge.target().local),
                dist: d,
                edge: s.edge.pack(),
            });
        }
    }

    let mut settled = 0usize;
    while let Some(open) = space.heap.pop() {
        if open.key >= best {
            break;
        }
        let id = GlobalId::unpack(open.edge);
        if open.dist > space.dist(id) {
            continue;
        }
        settled += 1;
        let d = open.dist;
        let tile = store.tile(id.tile)?;
        let edge = tile.edge(id.local);
        let via_tile_index = edge.target().tile;
        let via = edge.target().local;
        let via_tile = store.tile(via_tile_index)?;
        let out_count = via_tile.edges.len();
        for out_local in via_tile.out_edges(via) {
            let out = via_tile.edge(out_local);
            let head_tile = out.target().tile;
            if head_tile != via_tile_index && !store.has_tile(head_tile) {
                continue;
            }
            let Some(turn) = model.turn_cost_s(via_tile, via, id, edge, out_local, out) else {
                continue;
            };
            let out_id = GlobalId::new(via_tile_index, out_local);
            let out_cost = model.edge_cost_s(out_id, out);
            for (ti, t) in targets.iter().enumerate() {
                if t.edge == out_id {
                    let total = d + turn + out_cost * fraction(t.along_m, out.length_m());
                    if total < best {
                        best = total;
                        finish = Some(Finish::Via {
                            last: id,
                            target: ti,
                        });
                    }
                }
            }
            let nd = d + turn + out_cost;
            if nd < best && space.improve(out_id, out_count, nd, open.edge) {
                let h = if head_tile == via_tile_index {
                    heuristic.at(via_tile, out.target().local)
                } else {
                    heuristic.at(store.tile(head_tile)?, out.target().local)
                };
                space.heap.push(Open {
                    key: nd + h,
                    dist: nd,
                    edge: out_id.pack(),
                });
            }
        }
    }

    let Some(finish) = finish else {
        return Ok(None);
    };
    let edges = match finish {
        Finish::Direct { source, target } => {
            let s = sources[source];
            let tile = store.tile(s.edge.tile)?;
            let edge = tile.edge(s.edge.local);
            let drive = model.edge_cost_s(s.edge, edge)
                * fraction(targets[target].along_m - s.along_m, edge.length_m());
            vec![PathEdge {
                edge: s.edge,
                from_m: s.along_m,
                to_m: targets[target].along_m,
                drive_s: drive,
                turn_s: 0.0,
            }]
        }
        Finish::Via { last, target } => {
            unpack_path(store, model, space, sources, last, targets[target])?
        }
    };
    Ok(Some(LegPath {
        edges,
        cost_s: best,
        tiles_touched: space.touched,
        settled,
    }))
}

/// Walks parent pointers back from `last`, then appends the partial target edge.
fn unpack_path<S: SpeedSource>(
    store: &GraphStore,
    model: &CostModel<S>,
    space: &SearchSpace,
    sources: &[Endpoint],
    last: EdgeId,
    target: Endpoint,
) -> Result<Vec<PathEdge>, StoreError> {
    let mut chain = vec![target.edge, last];
    let mut cur = last;
    loop {
        let p = space.parent(cur);
        if p == START {
            break;
        }
        cur = GlobalId::unpack(p);
        chain.push(cur);
    }
    chain.reverse();
    let mut out = Vec::with_capacity(chain.len());
    for (i, &id) in chain.iter().enumerate() {
        let tile = store.tile(id.tile)?;
        let edge = tile.edge(id.local);
        let len = edge.length_m() as f64;
        let from_m = if i == 0 {
            sources
                .iter()
                .find(|s| s.edge == id)
                .map(|s| s.along_m)
                .unwrap_or(0.0)
        } else {
            0.0
        };
        let to_m = if i + 1 == chain.len() {
            target.along_m
        } else {
            len
        };
        let turn_s = if i == 0 {
            0.0
        } else {
            let prev_id = chain[i - 1];
            let prev = store.tile(prev_id.tile)?.edge(prev_id.local);
            let via_tile = store.tile(id.tile)?;
            model
                .turn_cost_s(via_tile, prev.target().local, prev_id, prev, id.local, edge)
                .unwrap_or(0.0)
        };
        let drive_s = model.edge_cost_s(id, edge) * fraction(to_m - from_m, edge.length_m());
        out.push(PathEdge {
            edge: id,
            from_m,
            to_m,
            drive_s,
            turn_s,
        });
    }
    Ok(out)
}

#[inline]
fn fraction(part_m: f64, length_m: f32) -> f64 {
    if length_m > 0.0 {
        (part_m / length_m as f64).clamp(0.0, 1.0)
    } else {
        0.0
    }
}
