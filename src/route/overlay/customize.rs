//! Customization: the exact cost between every entry and exit edge of every cell, bottom-up.
//!
//! A clique entry `(entry e, exit x)` of a cell is the cheapest cost of driving, after having
//! driven `e`, through the cell and out along `x` (turns and `x` itself included, `e` not), with
//! every junction on the way inside the cell. The bottom level is searched on the road graph's
//! turns; each level above is searched on the level below's cliques, restricted to the cell, as
//! in CRP. Each entry's hops are kept beside its cost ([`CellPaths`]), so a query unpacks its
//! arcs by lookup instead of searching the cells again. Edge costs come from the one cost model
//! ([`edge_costs`]); turns are fixed per graph.
//!
//! Every cell is computed at start on a small worker pool; afterwards only the cells holding an
//! edge whose cost changed, and their ancestors, are recomputed ([`Customizer::update`]); the rest
//! of the cliques are shared with the previous weights (one `Arc` per cell).

use super::base::BaseGraph;
use super::partition::{Partition, NONE};
use crate::cost::{CostModel, SpeedSource};
use graph::{GlobalId, GraphStore, StoreError};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Instant;

/// One customization's weights: base edge costs and every cell's clique.
pub struct Weights {
    /// Seconds to drive each dense edge whole.
    pub cost: Vec<f64>,
    /// `cliques[level][cell]`: entries × exits, row-major, `INFINITY` where no path stays inside.
    pub cliques: Vec<Vec<Arc<[f64]>>>,
    /// The same cliques transposed (exits × entries), so the backward search reads a
    /// contiguous slice per exit instead of a strided column.
    pub columns: Vec<Vec<Arc<[f64]>>>,
    /// `paths[level][cell]`: the hops of each clique entry, so unpacking needs no search.
    pub paths: Vec<Vec<Arc<CellPaths>>>,
}

/// The hops of every clique entry of one cell, recorded by the search that computed its cost:
/// for entry `i` and exit `j` (row-major, `k = i * exits + j`), `hops[first[k]..first[k + 1]]`
/// are the vertices after the entry up to and including the exit: road edges at the bottom
/// level, boundary edges of the level below above it (each pair of them one of its cliques'
/// entries). Empty where the exit is unreachable.
#[derive(Default)]
pub struct CellPaths {
    pub first: Vec<u32>,
    pub hops: Vec<u32>,
    /// Metres of each entry's path, summed on first use ([`super::many_to_many::clique_metres`]).
    pub metres: std::sync::OnceLock<Box<[f64]>>,
}

impl CellPaths {
    #[inline]
    pub fn of(&self, k: usize) -> &[u32] {
        &self.hops[self.first[k] as usize..self.first[k + 1] as usize]
    }
}

impl Weights {
    /// Bytes held by the edge costs and cliques.
    pub fn bytes(&self) -> usize {
        8 * self.cost.len()
            + self
                .cliques
                .iter()
                .chain(&self.columns)
                .flatten()
                .map(|c| 8 * c.len())
                .sum::<usize>()
            + self
                .paths
                .iter()
                .flatten()
                .map(|c| 4 * (c.first.len() + c.hops.len()))
                .sum::<usize>()
    }

    /// Overwrites clique entry `k` (row-major) of cell `cell` at level `li`, in both layouts.
    /// Only for tests that check a wrong entry is caught.
    pub fn set_entry(&mut self, p: &Partition, li: usize, cell: u32, k: usize, value: f64) {
        let exits = p.levels[li].exits.of(cell).len();
        let entries = p.levels[li].entries.of(cell).len();
        let mut row = self.cliques[li][cell as usize].to_vec();
        row[k] = value;
        self.columns[li][cell as usize] = transpose(&row, entries, exits);
        self.cliques[li][cell as usize] = row.into();
    }
}

/// An `entries × exits` row-major clique as `exits × entries`.
fn transpose(clique: &[f64], entries: usize, exits: usize) -> Arc<[f64]> {
    let mut out = vec![f64::INFINITY; clique.len()];
    for i in 0..entries {
        for j in 0..exits {
            out[j * entries + i] = clique[i * exits + j];
        }
    }
    out.into()
}

/// What a customization did (for logs and the benchmark).
#[derive(Clone, Debug, Default)]
pub struct CustomizeStats {
    pub changed_edges: usize,
    /// Cells recomputed, per level.
    pub cells: Vec<usize>,
    /// Milliseconds spent on each level (where a customization's time goes as graphs grow).
    pub level_millis: Vec<f64>,
    pub millis: f64,
}

/// Seconds per dense edge under `model` (infinity for an edge the model excludes).
pub fn edge_costs<S: SpeedSource>(
    store: &GraphStore,
    model: &CostModel<S>,
) -> Result<Vec<f64>, StoreError> {
    let mut out = Vec::new();
    for t in 0..store.tile_count() {
        let tile = store.tile(t)?;
        for l in 0..tile.edges.len() as u32 {
            out.push(model.edge_cost_or_excluded_s(GlobalId::new(t, l), tile.edge(l)));
        }
    }
    Ok(out)
}

/// An entry of a cell-local or overlay queue: a dense vertex by distance.
pub(super) type Open = crate::queue::MinQueued<u32>;

/// Labels of a cell-local search, indexed by dense edge, reset by a generation stamp.
pub(super) struct CellScratch {
    generation: u32,
    stamp: Vec<u32>,
    pub dist: Vec<f64>,
    pub parent: Vec<u32>,
    heap: BinaryHeap<Open>,
}

impl CellScratch {
    pub fn new(edges: usize) -> Self {
        CellScratch {
            generation: 0,
            stamp: vec![0; edges],
            dist: vec![f64::INFINITY; edges],
            parent: vec![NONE; edges],
            heap: BinaryHeap::new(),
        }
    }

    fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.heap.clear();
    }

    #[inline]
    pub fn get(&self, v: u32) -> f64 {
        if self.stamp[v as usize] == self.generation {
            self.dist[v as usize]
        } else {
            f64::INFINITY
        }
    }

    #[inline]
    fn improve(&mut self, v: u32, d: f64, parent: u32) -> bool {
        let i = v as usize;
        if self.stamp[i] == self.generation && self.dist[i] <= d {
            return false;
        }
        self.stamp[i] = self.generation;
        self.dist[i] = d;
        self.parent[i] = parent;
        true
    }
}

/// Dijkstra inside cell `cell` of level `li` (0-based) from its entry `from`, over the road
/// graph's turns at the bottom level and over level `li - 1`'s cliques above. Exits are not
/// expanded: `row[j]` becomes the cost to exit `j` and `via[j]` the vertex it was reached from
/// (parents of the settled vertices stay in `scratch`).
// The graph, cells and weights travel separately because callers borrow them apart.
#[allow(clippy::too_many_arguments)]
fn cell_search(
    g: &BaseGraph,
    p: &Partition,
    w: &Weights,
    li: usize,
    cell: u32,
    from: u32,
    scratch: &mut CellScratch,
    row: &mut [f64],
    via: &mut [u32],
) {
    let level = &p.levels[li];
    row.iter_mut().for_each(|c| *c = f64::INFINITY);
    scratch.begin();
    scratch.improve(from, 0.0, NONE);
    scratch.heap.push(Open {
        dist: 0.0,
        id: from,
    });
    let mut relax = |scratch: &mut CellScratch, x: u32, nd: f64, parent: u32| {
        if level.cell_of[g.head[x as usize] as usize] == cell {
            if scratch.improve(x, nd, parent) {
                scratch.heap.push(Open { dist: nd, id: x });
            }
        } else {
            let j = level.exits.pos[x as usize] as usize;
            if nd < row[j] {
                row[j] = nd;
                via[j] = parent;
            }
        }
    };
    while let Some(Open { dist: d, id: f }) = scratch.heap.pop() {
        if d > scratch.get(f) {
            continue;
        }
        if li == 0 {
            for (h, turn) in g.turns(f) {
                relax(scratch, h, d + turn + w.cost[h as usize], f);
            }
        } else {
            let below = &p.levels[li - 1];
            let sub = below.cell_of[g.head[f as usize] as usize];
            let i = below.entries.pos[f as usize];
            if i == NONE {
                continue;
            }
            let sub_exits = below.exits.of(sub);
            let clique = &w.cliques[li - 1][sub as usize];
            let n = sub_exits.len();
            let r = &clique[i as usize * n..(i as usize + 1) * n];
            for (j, &c) in r.iter().enumerate() {
                if c.is_finite() {
                    relax(scratch, sub_exits[j], d + c, f);
                }
            }
        }
    }
}

/// The clique of one cell and its entries' hops: one cell-local search per entry.
fn cell_clique(
    g: &BaseGraph,
    p: &Partition,
    w: &Weights,
    li: usize,
    cell: u32,
    scratch: &mut CellScratch,
) -> (Arc<[f64]>, Arc<CellPaths>) {
    let entries = p.levels[li].entries.of(cell);
    let exits = p.levels[li].exits.of(cell);
    let mut out = Vec::with_capacity(entries.len() * exits.len());
    let mut paths = CellPaths {
        first: Vec::with_capacity(entries.len() * exits.len() + 1),
        hops: Vec::new(),
        metres: Default::default(),
    };
    paths.first.push(0);
    let mut row = vec![f64::INFINITY; exits.len()];
    let mut via = vec![NONE; exits.len()];
    for &e in entries {
        cell_search(g, p, w, li, cell, e, scratch, &mut row, &mut via);
        for (j, &x) in exits.iter().enumerate() {
            if row[j].is_finite() {
                // Walk the parents back to the entry, then lay the hops out in driving order.
                let start = paths.hops.len();
                paths.hops.push(x);
                let mut v = via[j];
                while v != e {
                    paths.hops.push(v);
                    v = scratch.parent[v as usize];
                }
                paths.hops[start..].reverse();
            }
            paths.first.push(paths.hops.len() as u32);
        }
        out.extend_from_slice(&row);
    }
    (out.into(), Arc::new(paths))
}

/// Computes cliques of graph topology `g`/`p` on `threads` workers.
pub struct Customizer<'a> {
    pub g: &'a BaseGraph,
    pub p: &'a Partition,
    pub threads: usize,
}

impl Customizer<'_> {
    /// Every cell of every level, from edge costs `cost`.
    pub fn full(&self, cost: Vec<f64>) -> (Weights, CustomizeStats) {
        let start = Instant::now();
        let mut w = Weights {
            cost,
            cliques: Vec::new(),
            columns: Vec::new(),
            paths: Vec::new(),
        };
        let mut stats = CustomizeStats::default();
        for li in 0..self.p.levels.len() {
            let level_start = Instant::now();
            let cells: Vec<u32> = (0..self.p.levels[li].cells).collect();
            let done = self.compute(&w, li, &cells);
            let mut level: Vec<Arc<[f64]>> = vec![Arc::from(Vec::new()); cells.len()];
            let mut columns = level.clone();
            let mut paths: Vec<Arc<CellPaths>> = vec![Arc::default(); cells.len()];
            for (c, clique, hops) in done {
                columns[c as usize] = self.transposed(li, c, &clique);
                level[c as usize] = clique;
                paths[c as usize] = hops;
            }
            w.cliques.push(level);
            w.columns.push(columns);
            w.paths.push(paths);
            stats.cells.push(cells.len());
            stats
                .level_millis
                .push(level_start.elapsed().as_secs_f64() * 1e3);
        }
        stats.changed_edges = w.cost.len();
        stats.millis = start.elapsed().as_secs_f64() * 1e3;
        (w, stats)
    }

    /// New weights for edge costs `cost`, recomputing only the cells (and their ancestors) that
    /// hold an edge whose cost differs from `old`'s.
    pub fn update(&self, old: &Weights, cost: Vec<f64>) -> (Weights, CustomizeStats) {
        let start = Instant::now();
        let levels = &self.p.levels;
        let mut dirty: Vec<Vec<bool>> = levels
            .iter()
            .map(|l| vec![false; l.cells as usize])
            .collect();
        let mut changed = 0;
        for (e, (&a, &b)) in old.cost.iter().zip(&cost).enumerate() {
            if a.to_bits() != b.to_bits() {
                changed += 1;
                // An edge's cost is in the cliques of its tail's cell (as an inside or exit edge).
                dirty[0][levels[0].cell_of[self.g.tail[e] as usize] as usize] = true;
            }
        }
        for li in 1..levels.len() {
            for c in 0..levels[li - 1].cells as usize {
                if dirty[li - 1][c] {
                    let parent = levels[li - 1].parent[c];
                    dirty[li][parent as usize] = true;
                }
            }
        }
        let mut w = Weights {
            cost,
            cliques: old.cliques.clone(),
            columns: old.columns.clone(),
            paths: old.paths.clone(),
        };
        let mut stats = CustomizeStats {
            changed_edges: changed,
            ..Default::default()
        };
        for (li, level_dirty) in dirty.iter().enumerate() {
            let level_start = Instant::now();
            let cells: Vec<u32> = (0..levels[li].cells)
                .filter(|&c| level_dirty[c as usize])
                .collect();
            for (c, clique, hops) in self.compute(&w, li, &cells) {
                w.columns[li][c as usize] = self.transposed(li, c, &clique);
                w.cliques[li][c as usize] = clique;
                w.paths[li][c as usize] = hops;
            }
            stats.cells.push(cells.len());
            stats
                .level_millis
                .push(level_start.elapsed().as_secs_f64() * 1e3);
        }
        stats.millis = start.elapsed().as_secs_f64() * 1e3;
        (w, stats)
    }

    fn transposed(&self, li: usize, cell: u32, clique: &[f64]) -> Arc<[f64]> {
        let level = &self.p.levels[li];
        transpose(
            clique,
            level.entries.of(cell).len(),
            level.exits.of(cell).len(),
        )
    }

    /// Cliques of `cells` at level `li` (every lower level of `w` already final).
    fn compute(
        &self,
        w: &Weights,
        li: usize,
        cells: &[u32],
    ) -> Vec<(u32, Arc<[f64]>, Arc<CellPaths>)> {
        let next = AtomicUsize::new(0);
        let threads = self.threads.clamp(1, cells.len().max(1));
        let work = || {
            let mut scratch = CellScratch::new(self.g.edge_count());
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, AtomicOrdering::Relaxed);
                let Some(&c) = cells.get(i) else { break };
                let (clique, hops) = cell_clique(self.g, self.p, w, li, c, &mut scratch);
                out.push((c, clique, hops));
            }
            out
        };
        if threads == 1 {
            return work();
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("customization worker panicked"))
                .collect()
        })
    }
}
