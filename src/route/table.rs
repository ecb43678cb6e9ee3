//! Many-to-many travel times and distances (OSRM's `/table`): one forward Dijkstra per source
//! over the edge-based graph, stopped as soon as every destination is settled, instead of one
//! point-to-point search per cell.
//!
//! The search follows the route search's rules exactly ([`super::search`]): a label belongs to
//! a directed edge, the route may start on either direction of the snapped road and is charged
//! the rest of its first edge, turn costs and restrictions come from the same [`CostModel`],
//! and the last edge is charged up to the snapped point (or, source and destination on the same
//! edge with the destination ahead, just the piece between). So a cell's duration is the one
//! `/route` gives for the same pair; its distance is the length of the path found (for equally
//! fast paths, possibly another one than the route's).
//!
//! Sources are spread over the machine's cores (each thread with its own label arrays).
//!
//! With the overlay, [`table_on_overlay`] answers instead: backward searches from the
//! destinations leave buckets, forward searches from the sources read them
//! ([`super::overlay::many_to_many`]), each over the overlay seen from its own end.

use super::cost::{CostModel, SpeedSource};
use super::overlay::many_to_many::{self, Buckets, ManySpace};
use super::overlay::{Overlay, Weights};
use super::search::Endpoint;
use super::snap::Snap;
use graph::{GlobalId, GraphStore, StoreError};
use std::cell::RefCell;
use std::collections::{BinaryHeap, HashMap};

/// One source's cells, by destination (`None`: unreachable).
pub type Row = Vec<Option<Cell>>;

/// One cell: the fastest path's seconds and metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    pub duration_s: f64,
    pub distance_m: f64,
}

#[derive(Default)]
struct TileLabels {
    stamp: Vec<u32>,
    dist: Vec<f64>,
    metres: Vec<f64>,
}

/// An entry of the table's queue: a packed edge id by distance.
type Open = crate::queue::MinQueued<u64>;

/// Reusable label arrays of one thread's searches (generation-stamped, like the route search).
#[derive(Default)]
pub struct TableSpace {
    generation: u32,
    tiles: Vec<TileLabels>,
    heap: BinaryHeap<Open>,
}

impl TableSpace {
    fn begin(&mut self, tile_count: u32) {
        if self.tiles.len() < tile_count as usize {
            self.tiles
                .resize_with(tile_count as usize, TileLabels::default);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            for t in &mut self.tiles {
                t.stamp.iter_mut().for_each(|s| *s = 0);
            }
            self.generation = 1;
        }
        self.heap.clear();
    }

    #[inline]
    fn get(&self, id: GlobalId) -> Option<(f64, f64)> {
        let l = &self.tiles[id.tile as usize];
        match l.stamp.get(id.local as usize) {
            Some(&s) if s == self.generation => {
                Some((l.dist[id.local as usize], l.metres[id.local as usize]))
            }
            _ => None,
        }
    }

    /// Lowers the label of `id` (a tile of `edges` edges) if `dist` is better; true if it did.
    #[inline]
    fn improve(&mut self, id: GlobalId, edges: usize, dist: f64, metres: f64) -> bool {
        let generation = self.generation;
        let l = &mut self.tiles[id.tile as usize];
        if l.stamp.len() < edges {
            l.stamp.resize(edges, 0);
            l.dist.resize(edges, f64::INFINITY);
            l.metres.resize(edges, 0.0);
        }
        let i = id.local as usize;
        if l.stamp[i] == generation && l.dist[i] <= dist {
            return false;
        }
        l.stamp[i] = generation;
        l.dist[i] = dist;
        l.metres[i] = metres;
        true
    }
}

thread_local! {
    static SPACE: RefCell<TableSpace> = RefCell::new(TableSpace::default());
}

/// The destinations' snapped edges: for each directed edge, the `(destination, metres along)`
/// pairs ending on it.
struct Targets {
    by_edge: HashMap<u64, Vec<(usize, f64)>>,
}

impl Targets {
    fn new(destinations: &[Snap]) -> Targets {
        let mut by_edge: HashMap<u64, Vec<(usize, f64)>> = HashMap::new();
        for (j, d) in destinations.iter().enumerate() {
            for (edge, along) in d.candidates() {
                by_edge.entry(edge.pack()).or_default().push((j, along));
            }
        }
        Targets { by_edge }
    }
}

/// The fastest path from `source` to each destination (`None`: unreachable).
fn one_to_many<S: SpeedSource>(
    store: &GraphStore,
    model: &CostModel<S>,
    space: &mut TableSpace,
    source: &Snap,
    targets: &Targets,
    count: usize,
) -> Result<Vec<Option<Cell>>, StoreError> {
    space.begin(store.tile_count());
    let mut best: Vec<Option<Cell>> = vec![None; count];
    let offer = |best: &mut Vec<Option<Cell>>, j: usize, duration_s: f64, distance_m: f64| {
        if best[j].is_none_or(|c| duration_s < c.duration_s) {
            best[j] = Some(Cell {
                duration_s,
                distance_m,
            });
        }
    };
    let sources = source.candidates();
    for &(edge_id, along) in &sources {
        let tile = store.tile(edge_id.tile)?;
        let edge = tile.edge(edge_id.local);
        let len = edge.length_m();
        let cost = model.edge_cost_s(edge_id, edge);
        // Destination ahead on the same edge: just the piece between.
        if let Some(ends) = targets.by_edge.get(&edge_id.pack()) {
            for &(j, t_along) in ends {
                if t_along >= along {
                    offer(
                        &mut best,
                        j,
                        cost * fraction(t_along - along, len),
                        t_along - along,
                    );
                }
            }
        }
        if !store.has_tile(edge.target().tile) {
            continue;
        }
        let d = cost * fraction(len as f64 - along, len);
        if space.improve(edge_id, tile.edges.len(), d, len as f64 - along) {
            space.heap.push(Open {
                dist: d,
                id: edge_id.pack(),
            });
        }
    }

    // Every destination is final once the queue's minimum reaches its best value.
    let bound = |best: &[Option<Cell>]| {
        best.iter()
            .map(|c| c.map_or(f64::INFINITY, |c| c.duration_s))
            .fold(0.0, f64::max)
    };
    let mut limit = bound(&best);
    while let Some(open) = space.heap.pop() {
        if open.dist >= limit {
            break;
        }
        let id = GlobalId::unpack(open.id);
        let Some((d, metres)) = space.get(id) else {
            continue;
        };
        if open.dist > d {
            continue;
        }
        let tile = store.tile(id.tile)?;
        let edge = tile.edge(id.local);
        let via_tile_index = edge.target().tile;
        let via = edge.target().local;
        let via_tile = store.tile(via_tile_index)?;
        let out_count = via_tile.edges.len();
        let mut improved_bound = false;
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
            let out_len = out.length_m();
            if let Some(ends) = targets.by_edge.get(&out_id.pack()) {
                for &(j, t_along) in ends {
                    let total = d + turn + out_cost * fraction(t_along, out_len);
                    offer(&mut best, j, total, metres + t_along);
                    improved_bound = true;
                }
            }
            let nd = d + turn + out_cost;
            if nd < limit && space.improve(out_id, out_count, nd, metres + out_len as f64) {
                space.heap.push(Open {
                    dist: nd,
                    id: out_id.pack(),
                });
            }
        }
        if improved_bound {
            limit = bound(&best);
        }
    }
    Ok(best)
}

/// The table of `sources` × `destinations` under `model`: row per source, `None` where a
/// destination cannot be reached.
pub fn table<S: SpeedSource + Sync>(
    store: &GraphStore,
    model: &CostModel<S>,
    sources: &[Snap],
    destinations: &[Snap],
) -> Result<Vec<Vec<Option<Cell>>>, StoreError> {
    let targets = Targets::new(destinations);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sources.len())
        .max(1);
    let row = |s: &Snap| {
        SPACE.with(|space| {
            one_to_many(
                store,
                model,
                &mut space.borrow_mut(),
                s,
                &targets,
                destinations.len(),
            )
        })
    };
    if threads == 1 {
        return sources.iter().map(row).collect();
    }
    // Rows interleaved over the threads, so a slow region does not land on one thread.
    let results: Vec<Vec<(usize, Result<Row, StoreError>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let row = &row;
                scope.spawn(move || {
                    (t..sources.len())
                        .step_by(threads)
                        .map(|i| (i, row(&sources[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("table search thread panicked"))
            .collect()
    });
    let mut rows: Vec<Option<Row>> = vec![None; sources.len()];
    for (i, r) in results.into_iter().flatten() {
        rows[i] = Some(r?);
    }
    Ok(rows.into_iter().map(Option::unwrap_or_default).collect())
}

#[inline]
fn fraction(part_m: f64, length_m: f32) -> f64 {
    if length_m > 0.0 {
        (part_m / length_m as f64).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

thread_local! {
    static MANY: RefCell<Option<ManySpace>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's many-to-many space, sized for `o`'s graph.
fn with_many_space<R>(o: &Overlay, f: impl FnOnce(&mut ManySpace) -> R) -> R {
    MANY.with(|cell| {
        let mut slot = cell.borrow_mut();
        if !slot.as_ref().is_some_and(|s| s.fits(&o.graph)) {
            *slot = Some(ManySpace::new(&o.graph));
        }
        f(slot.as_mut().expect("space just made"))
    })
}

/// The table of `sources` × `destinations` over the overlay under weights `w`
/// ([`many_to_many`]): the destinations' backward searches leave buckets, then one forward
/// search per source reads them; both spread over the machine's cores. The same cells as
/// [`table`] under the weights' cost model.
pub fn table_on_overlay(
    o: &Overlay,
    w: &Weights,
    sources: &[Snap],
    destinations: &[Snap],
) -> Vec<Vec<Option<Cell>>> {
    let ends = |s: &Snap| -> Vec<Endpoint> {
        s.candidates()
            .into_iter()
            .map(|(edge, along_m)| Endpoint { edge, along_m })
            .collect()
    };
    let src: Vec<Vec<Endpoint>> = sources.iter().map(ends).collect();
    let dst: Vec<Vec<Endpoint>> = destinations.iter().map(ends).collect();
    let dst_refs: Vec<&[Endpoint]> = dst.iter().map(|d| d.as_slice()).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sources.len().max(destinations.len()))
        .max(1);
    let buckets = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let dst_refs = &dst_refs;
                scope.spawn(move || {
                    let mine: Vec<usize> = (t..dst_refs.len()).step_by(threads).collect();
                    let part: Vec<&[Endpoint]> = mine.iter().map(|&j| dst_refs[j]).collect();
                    with_many_space(o, |space| Buckets::build(o, w, space, &part)).renumbered(&mine)
                })
            })
            .collect();
        Buckets::merge(
            o.graph.edge_count(),
            handles
                .into_iter()
                .map(|h| h.join().expect("table bucket thread panicked")),
        )
    });
    let rows: Vec<Vec<(usize, Row)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (src, dst_refs, buckets) = (&src, &dst_refs, &buckets);
                scope.spawn(move || {
                    (t..src.len())
                        .step_by(threads)
                        .map(|i| {
                            let row = with_many_space(o, |space| {
                                many_to_many::row(o, w, space, buckets, &src[i], dst_refs)
                            });
                            let row = row
                                .into_iter()
                                .map(|c| {
                                    c.map(|p| Cell {
                                        duration_s: p.duration_s,
                                        distance_m: p.distance_m,
                                    })
                                })
                                .collect();
                            (i, row)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("table row thread panicked"))
            .collect()
    });
    let mut out: Vec<Row> = vec![Vec::new(); sources.len()];
    for (i, row) in rows.into_iter().flatten() {
        out[i] = row;
    }
    out
}
