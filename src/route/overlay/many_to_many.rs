//! Many-to-many on the overlay (OSRM's `/table`): one backward search per destination and one
//! forward search per source, each over the overlay as seen from its own end alone, meeting in
//! buckets, instead of one whole-graph Dijkstra per source.
//!
//! Seen from one end `x`, a junction's query level is the highest level whose cell around it
//! does not hold `x` (as in [`super::query`], with one end instead of both). Each destination's
//! backward search runs to exhaustion over the overlay seen from it and leaves a bucket entry
//! (destination, seconds, metres) at every vertex it labels; each source's forward search runs
//! to exhaustion over the overlay seen from it and, at every vertex it settles, offers the sum
//! with that vertex's buckets to the source's row.
//!
//! Why this is exact: take a fastest path from `s` to `t`, and `k` the lowest level at which
//! they share a cell. Let `m` be the edge by which the path enters `t`'s level-`(k-1)` cell for
//! the last time. From `m` on, every junction lies in that cell, which holds `t` but not `s`,
//! so seen from `t` its level is below `k`, the cells it jumps hold no part of the rest of the
//! path but whole passages, and the backward search labels `m` with the path's remaining cost.
//! Before `m`, every cell the forward search jumps (seen from `s`) holds neither `s` nor `t`,
//! so the path crosses it whole, from an entry to an exit, and the clique arc costs no more:
//! the forward search labels `m` with at most the path's cost to it. (With `k = 0`, `m` is the
//! last entry into `t`'s bottom cell, or, if the path never leaves it, the edge before `t`'s.)
//! Every sum offered is the cost of a real path, so the smallest is the fastest. So buckets are
//! kept only where such an `m` can be: on edges entering one of `t`'s own cells from outside,
//! and on the edges turning into `t`'s: about a sixth of what the backward search labels.
//!
//! Metres are carried beside seconds along each search; a clique arc's metres are those of the
//! hops its customization recorded, summed on first use per cell ([`clique_metres`]).

use super::base::BaseGraph;
use super::customize::{Open, Weights};
use super::partition::{Partition, NONE};
use super::query::Ends as EndCells;
use super::unpack::fraction;
use super::Overlay;
use crate::search::Endpoint;
use std::collections::BinaryHeap;

/// One cell of the table: seconds and metres of the fastest path found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    pub duration_s: f64,
    pub distance_m: f64,
}

/// One end's candidate edges (both directions of a snapped two-way road).
pub type Ends<'a> = &'a [Endpoint];

/// Labels of a one-sided search, indexed by dense edge, reset by a generation stamp.
pub struct ManySpace {
    generation: u32,
    stamp: Vec<u32>,
    dist: Vec<f64>,
    metres: Vec<f64>,
    /// Vertices labelled in this generation (the backward search's bucket entries).
    touched: Vec<u32>,
    heap: BinaryHeap<Open>,
}

impl ManySpace {
    pub fn new(g: &BaseGraph) -> Self {
        let n = g.edge_count();
        ManySpace {
            generation: 0,
            stamp: vec![0; n],
            dist: vec![f64::INFINITY; n],
            metres: vec![0.0; n],
            touched: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    pub fn fits(&self, g: &BaseGraph) -> bool {
        self.stamp.len() == g.edge_count()
    }

    fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.touched.clear();
        self.heap.clear();
    }

    #[inline]
    fn relax(&mut self, v: u32, d: f64, m: f64) {
        let i = v as usize;
        // An infinite cost is an excluded edge: never a label.
        if !d.is_finite() || (self.stamp[i] == self.generation && self.dist[i] <= d) {
            return;
        }
        if self.stamp[i] != self.generation {
            self.touched.push(v);
        }
        self.stamp[i] = self.generation;
        self.dist[i] = d;
        self.metres[i] = m;
        self.heap.push(Open { dist: d, id: v });
    }

    /// The next settled vertex with its seconds and metres.
    #[inline]
    fn pop(&mut self) -> Option<(u32, f64, f64)> {
        while let Some(Open { dist, id }) = self.heap.pop() {
            let i = id as usize;
            if dist <= self.dist[i] {
                return Some((id, dist, self.metres[i]));
            }
        }
        None
    }
}

/// Metres of every clique entry of `cell` at level `li` (row-major; NaN where the exit cannot
/// be reached), from the hops its customization recorded; computed once per cell and kept with
/// them, so weights that share the cell share its metres.
pub fn clique_metres<'w>(
    g: &BaseGraph,
    p: &Partition,
    w: &'w Weights,
    li: usize,
    cell: u32,
) -> &'w [f64] {
    let paths = &w.paths[li][cell as usize];
    paths.metres.get_or_init(|| {
        let level = &p.levels[li];
        let entries = level.entries.of(cell);
        let n = level.exits.of(cell).len();
        let mut out = vec![f64::NAN; entries.len() * n];
        for (i, &entry) in entries.iter().enumerate() {
            for (j, slot) in out[i * n..(i + 1) * n].iter_mut().enumerate() {
                let hops = paths.of(i * n + j);
                if hops.is_empty() {
                    continue;
                }
                *slot = if li == 0 {
                    hops.iter().map(|&h| g.length_m[h as usize] as f64).sum()
                } else {
                    // Each hop is an exit of a cell of the level below, reached by its clique.
                    let below = &p.levels[li - 1];
                    let mut prev = entry;
                    let mut sum = 0.0;
                    for &h in hops {
                        let sub = below.cell_of[g.head[prev as usize] as usize];
                        let (bi, bj) = (
                            below.entries.pos[prev as usize],
                            below.exits.pos[h as usize],
                        );
                        let bn = below.exits.of(sub).len();
                        sum += clique_metres(g, p, w, li - 1, sub)[bi as usize * bn + bj as usize];
                        prev = h;
                    }
                    sum
                };
            }
        }
        out.into()
    })
}

/// Runs the backward search from destination candidates `ends` to exhaustion; the space then
/// holds every vertex's seconds and metres on to the destination. Returns the destination's
/// cells and its first labels (the edges turning into its own), which say where a forward
/// search can meet it.
fn backward(o: &Overlay, w: &Weights, space: &mut ManySpace, ends: Ends) -> (EndCells, Vec<u32>) {
    let (g, p) = (&o.graph, &o.partition);
    space.begin();
    let dst: Vec<(u32, f64)> = ends.iter().map(|t| (g.edge(t.edge), t.along_m)).collect();
    let nodes: Vec<u32> = dst.iter().map(|&(t, _)| g.tail[t as usize]).collect();
    let seen = EndCells::new(p, nodes.iter().copied());
    let mut first = Vec::new();
    for &(t, b) in &dst {
        let last = w.cost[t as usize] * fraction(b, g.length_m[t as usize]);
        for (from, turn) in g.turns_into(t) {
            space.relax(from, turn + last, b);
            first.push(from);
        }
    }
    while let Some((v, d, m)) = space.pop() {
        let at = g.tail[v as usize];
        let q = seen.level(p, at);
        if q == 0 {
            let (here, len) = (w.cost[v as usize], g.length_m[v as usize] as f64);
            for (from, turn) in g.turns_into(v) {
                space.relax(from, d + turn + here, m + len);
            }
            continue;
        }
        let level = &p.levels[q - 1];
        let cell = level.cell_of[at as usize];
        let j = level.exits.pos[v as usize];
        if j == NONE {
            continue;
        }
        let entries = level.entries.of(cell);
        let n = entries.len();
        let exits = level.exits.of(cell).len();
        let column = &w.columns[q - 1][cell as usize][j as usize * n..(j as usize + 1) * n];
        let metres = clique_metres(g, p, w, q - 1, cell);
        for (i, (&e, &c)) in entries.iter().zip(column).enumerate() {
            if c.is_finite() {
                space.relax(e, d + c, m + metres[i * exits + j as usize]);
            }
        }
    }
    (seen, first)
}

/// Whether a forward search can meet the destination at `v` (see the module doc): `v` enters
/// one of the destination's own cells from outside it, or is one of its first labels.
#[inline]
fn meets_at(g: &BaseGraph, p: &Partition, seen: &EndCells, first: &[u32], v: u32) -> bool {
    let head = g.head[v as usize] as usize;
    p.levels
        .iter()
        .zip(&seen.cells)
        .any(|(l, cells)| l.entries.pos[v as usize] != NONE && cells.contains(&l.cell_of[head]))
        || first.contains(&v)
}

/// Bucket entries by vertex: what each destination's backward search left there.
pub struct Buckets {
    /// `edge_count + 1` offsets into `entries`.
    first: Vec<u32>,
    /// (destination, seconds, metres) from the vertex's end on.
    entries: Vec<(u32, f64, f64)>,
}

impl Buckets {
    /// The backward searches of every destination (`destinations[j]`: its candidate edges).
    pub fn build(o: &Overlay, w: &Weights, space: &mut ManySpace, destinations: &[Ends]) -> Self {
        let mut all: Vec<(u32, u32, f64, f64)> = Vec::new();
        for (j, ends) in destinations.iter().enumerate() {
            let (seen, first) = backward(o, w, space, ends);
            for &v in &space.touched {
                if meets_at(&o.graph, &o.partition, &seen, &first, v) {
                    let i = v as usize;
                    all.push((v, j as u32, space.dist[i], space.metres[i]));
                }
            }
        }
        all.sort_unstable_by_key(|e| e.0);
        let n = o.graph.edge_count();
        let mut first = vec![0u32; n + 1];
        for e in &all {
            first[e.0 as usize + 1] += 1;
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        Buckets {
            first,
            entries: all.into_iter().map(|(_, j, d, m)| (j, d, m)).collect(),
        }
    }

    /// The same buckets with destination `j` renamed `names[j]` (a thread built them for a
    /// share of the destinations).
    pub fn renumbered(mut self, names: &[usize]) -> Self {
        for e in &mut self.entries {
            e.0 = names[e.0 as usize] as u32;
        }
        self
    }

    /// One set of buckets holding every part's entries.
    pub fn merge(edge_count: usize, parts: impl Iterator<Item = Buckets>) -> Self {
        let parts: Vec<Buckets> = parts.collect();
        let mut first = vec![0u32; edge_count + 1];
        for v in 0..edge_count {
            let here: u32 = parts.iter().map(|b| b.first[v + 1] - b.first[v]).sum();
            first[v + 1] = first[v] + here;
        }
        let mut entries = Vec::with_capacity(first[edge_count] as usize);
        for v in 0..edge_count as u32 {
            for b in &parts {
                entries.extend_from_slice(b.at(v));
            }
        }
        Buckets { first, entries }
    }

    #[inline]
    fn at(&self, v: u32) -> &[(u32, f64, f64)] {
        &self.entries[self.first[v as usize] as usize..self.first[v as usize + 1] as usize]
    }

    /// Entries held (for the benchmark's memory figure).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The row of source candidates `ends`: the fastest path to each of the `count` destinations
/// whose backward searches left `buckets` (`destinations` gives their candidate edges, for a
/// destination ahead on a source's own edge).
pub fn row(
    o: &Overlay,
    w: &Weights,
    space: &mut ManySpace,
    buckets: &Buckets,
    ends: Ends,
    destinations: &[Ends],
) -> Vec<Option<Pair>> {
    let (g, p) = (&o.graph, &o.partition);
    let mut best: Vec<Option<Pair>> = vec![None; destinations.len()];
    let offer = |best: &mut Vec<Option<Pair>>, j: usize, duration_s: f64, distance_m: f64| {
        if best[j].is_none_or(|c| duration_s < c.duration_s) {
            best[j] = Some(Pair {
                duration_s,
                distance_m,
            });
        }
    };
    space.begin();
    let src: Vec<(u32, f64)> = ends.iter().map(|s| (g.edge(s.edge), s.along_m)).collect();
    // A destination ahead on a source's own edge: just the piece between.
    for (j, dst) in destinations.iter().enumerate() {
        for &(s, a) in &src {
            for t in dst.iter() {
                if g.edge(t.edge) == s && t.along_m >= a {
                    let c = w.cost[s as usize] * fraction(t.along_m - a, g.length_m[s as usize]);
                    offer(&mut best, j, c, t.along_m - a);
                }
            }
        }
    }
    let nodes: Vec<u32> = src.iter().map(|&(s, _)| g.head[s as usize]).collect();
    let seen = EndCells::new(p, nodes.iter().copied());
    for &(s, a) in &src {
        let len = g.length_m[s as usize];
        let d = w.cost[s as usize] * fraction(len as f64 - a, len);
        space.relax(s, d, len as f64 - a);
    }
    while let Some((v, d, m)) = space.pop() {
        for &(j, bd, bm) in buckets.at(v) {
            offer(&mut best, j as usize, d + bd, m + bm);
        }
        let at = g.head[v as usize];
        let q = seen.level(p, at);
        if q == 0 {
            for (f, turn) in g.turns(v) {
                space.relax(
                    f,
                    d + turn + w.cost[f as usize],
                    m + g.length_m[f as usize] as f64,
                );
            }
            continue;
        }
        let level = &p.levels[q - 1];
        let cell = level.cell_of[at as usize];
        let i = level.entries.pos[v as usize];
        if i == NONE {
            continue;
        }
        let exits = level.exits.of(cell);
        let n = exits.len();
        let clique = &w.cliques[q - 1][cell as usize][i as usize * n..(i as usize + 1) * n];
        let metres = &clique_metres(g, p, w, q - 1, cell)[i as usize * n..(i as usize + 1) * n];
        for ((&x, &c), &xm) in exits.iter().zip(clique).zip(metres) {
            if c.is_finite() {
                space.relax(x, d + c, m + xm);
            }
        }
    }
    best
}
