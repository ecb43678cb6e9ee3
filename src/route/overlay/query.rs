//! The overlay query: a bidirectional multi-level Dijkstra over directed edges.
//!
//! A vertex is a directed edge. The forward search places vertex `e` at its head junction, the
//! backward search places it at its tail. At a junction `v`, the query level `q(v)` is the
//! highest level whose cell around `v` holds neither a source edge's head nor a target edge's
//! tail (0 if even the bottom cell does). With `q = 0` a search follows the road graph's turns;
//! with `q > 0` it jumps across `v`'s level-`q` cell by its clique, from the entry edge to every
//! exit edge (forwards) or from every entry to the exit (backwards). A clique arc `e -> x` is
//! used by the forward search exactly when the backward search uses it (`head(e)` and `tail(x)`
//! share every cell from level `q` up, so they get the same `q`), so both search one graph, and
//! every shortest route is in that graph: inside a cell free of both ends, a route can be
//! replaced by its first exit's clique arc. The search stops when the two queues' smallest keys
//! sum to at least the best meeting, which makes the answer exact for the weights.

use super::base::BaseGraph;
use super::customize::{Open, Weights};
use super::partition::{Partition, NONE};
use super::unpack::{fraction, path_edges, unpack_clique};
use super::Overlay;
use crate::search::{Endpoint, LegPath};
use std::collections::BinaryHeap;

/// Parent marker of a start label: `START - i` for source (or target) endpoint `i`.
const START: u32 = NONE - 1;

/// One direction's labels, indexed by dense edge.
struct Side {
    stamp: Vec<u32>,
    dist: Vec<f64>,
    /// Forward: the previous vertex; backward: the next one; `START - i` at endpoint `i`.
    parent: Vec<u32>,
    /// Level of the arc from the parent: 0 for a turn, `li + 1` for a clique of level `li`.
    level: Vec<u8>,
    heap: BinaryHeap<Open>,
}

impl Side {
    fn new(edges: usize) -> Self {
        Side {
            stamp: vec![0; edges],
            dist: vec![f64::INFINITY; edges],
            parent: vec![NONE; edges],
            level: vec![0; edges],
            heap: BinaryHeap::new(),
        }
    }

    #[inline]
    fn get(&self, generation: u32, v: u32) -> f64 {
        if self.stamp[v as usize] == generation {
            self.dist[v as usize]
        } else {
            f64::INFINITY
        }
    }

    #[inline]
    fn min_key(&self) -> f64 {
        self.heap.peek().map_or(f64::INFINITY, |o| o.dist)
    }
}

/// Reusable query state (one per thread, sized for one overlay).
pub struct QuerySpace {
    generation: u32,
    forward: Side,
    backward: Side,
    tile_stamp: Vec<u32>,
}

impl QuerySpace {
    pub fn new(overlay: &Overlay) -> Self {
        let edges = overlay.graph.edge_count();
        QuerySpace {
            generation: 0,
            forward: Side::new(edges),
            backward: Side::new(edges),
            tile_stamp: vec![0; overlay.graph.edge_first.len()],
        }
    }

    /// True if this space was sized for `overlay`.
    pub fn fits(&self, overlay: &Overlay) -> bool {
        self.forward.dist.len() == overlay.graph.edge_count()
    }

    fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            for s in [&mut self.forward, &mut self.backward] {
                s.stamp.iter_mut().for_each(|x| *x = 0);
            }
            self.tile_stamp.iter_mut().for_each(|x| *x = 0);
            self.generation = 1;
        }
        self.forward.heap.clear();
        self.backward.heap.clear();
    }
}

/// Cells holding the route's ends, per level, and the query level of a junction.
struct Ends {
    cells: Vec<Vec<u32>>,
}

impl Ends {
    fn new(p: &Partition, nodes: impl Iterator<Item = u32> + Clone) -> Self {
        Ends {
            cells: p
                .levels
                .iter()
                .map(|l| {
                    let mut c: Vec<u32> = nodes.clone().map(|n| l.cell_of[n as usize]).collect();
                    c.sort_unstable();
                    c.dedup();
                    c
                })
                .collect(),
        }
    }

    #[inline]
    fn level(&self, p: &Partition, node: u32) -> usize {
        for li in (0..p.levels.len()).rev() {
            if !self.cells[li].contains(&p.levels[li].cell_of[node as usize]) {
                return li + 1;
            }
        }
        0
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Forward,
    Backward,
}

struct Search {
    generation: u32,
    best: f64,
    meet: u32,
}

impl Search {
    /// Lowers `v`'s label on side `dir` and records a meeting with the other side.
    #[inline]
    fn relax(&mut self, space: &mut QuerySpace, dir: Dir, v: u32, d: f64, parent: u32, level: u8) {
        let generation = self.generation;
        let (this, other) = match dir {
            Dir::Forward => (&mut space.forward, &space.backward),
            Dir::Backward => (&mut space.backward, &space.forward),
        };
        let i = v as usize;
        if this.stamp[i] == generation && this.dist[i] <= d {
            return;
        }
        this.stamp[i] = generation;
        this.dist[i] = d;
        this.parent[i] = parent;
        this.level[i] = level;
        this.heap.push(Open { dist: d, id: v });
        let o = other.get(generation, v);
        if d + o < self.best {
            self.best = d + o;
            self.meet = v;
        }
    }
}

/// Fastest path from any source endpoint to any target endpoint under `w`, `None` if there is
/// none. Endpoints are store edge ids; the overlay must cover the whole store.
pub fn shortest_path(
    overlay: &Overlay,
    w: &Weights,
    space: &mut QuerySpace,
    sources: &[Endpoint],
    targets: &[Endpoint],
) -> Option<LegPath> {
    let g = &overlay.graph;
    let p = &overlay.partition;
    space.begin();
    // Start markers leave room for 64 endpoints per side (a snap gives a handful).
    let src: Vec<(u32, f64)> = sources
        .iter()
        .take(64)
        .map(|s| (g.edge(s.edge), s.along_m))
        .collect();
    let dst: Vec<(u32, f64)> = targets
        .iter()
        .take(64)
        .map(|t| (g.edge(t.edge), t.along_m))
        .collect();

    // Source and target on one edge, target ahead.
    let mut direct: Option<(usize, usize, f64)> = None;
    for (si, &(s, a)) in src.iter().enumerate() {
        for (ti, &(t, b)) in dst.iter().enumerate() {
            if s == t && b >= a {
                let c = w.cost[s as usize] * fraction(b - a, g.length_m[s as usize]);
                if direct.is_none_or(|d| c < d.2) {
                    direct = Some((si, ti, c));
                }
            }
        }
    }
    let ends = Ends::new(
        p,
        src.iter()
            .map(|&(s, _)| g.head[s as usize])
            .chain(dst.iter().map(|&(t, _)| g.tail[t as usize])),
    );
    let mut search = Search {
        generation: space.generation,
        best: direct.map_or(f64::INFINITY, |d| d.2),
        meet: NONE,
    };
    for (si, &(s, a)) in src.iter().enumerate() {
        let len = g.length_m[s as usize];
        let d = w.cost[s as usize] * fraction(len as f64 - a, len);
        search.relax(space, Dir::Forward, s, d, START - si as u32, 0);
    }
    for (ti, &(t, b)) in dst.iter().enumerate() {
        let last = w.cost[t as usize] * fraction(b, g.length_m[t as usize]);
        for (from, turn) in g.turns_into(t) {
            search.relax(
                space,
                Dir::Backward,
                from,
                turn + last,
                START - ti as u32,
                0,
            );
        }
    }

    let mut settled = 0usize;
    let mut tiles = 0usize;
    loop {
        let (kf, kb) = (space.forward.min_key(), space.backward.min_key());
        if kf + kb >= search.best || (kf.is_infinite() && kb.is_infinite()) {
            break;
        }
        let dir = if kf <= kb {
            Dir::Forward
        } else {
            Dir::Backward
        };
        let side = match dir {
            Dir::Forward => &mut space.forward,
            Dir::Backward => &mut space.backward,
        };
        let Some(Open { dist: d, id: v }) = side.heap.pop() else {
            break;
        };
        if d > side.get(search.generation, v) {
            continue;
        }
        settled += 1;
        let tile = g.edge_id(v).tile as usize;
        if space.tile_stamp[tile] != search.generation {
            space.tile_stamp[tile] = search.generation;
            tiles += 1;
        }
        match dir {
            Dir::Forward => {
                let at = g.head[v as usize];
                let q = ends.level(p, at);
                if q == 0 {
                    for (f, turn) in g.turns(v) {
                        let nd = d + turn + w.cost[f as usize];
                        search.relax(space, dir, f, nd, v, 0);
                    }
                } else {
                    let level = &p.levels[q - 1];
                    let cell = level.cell_of[at as usize];
                    let i = level.entries.pos[v as usize];
                    if i == NONE {
                        continue;
                    }
                    let exits = level.exits.of(cell);
                    let n = exits.len();
                    let clique = &w.cliques[q - 1][cell as usize];
                    for (j, &c) in clique[i as usize * n..(i as usize + 1) * n]
                        .iter()
                        .enumerate()
                    {
                        if c.is_finite() {
                            search.relax(space, dir, exits[j], d + c, v, q as u8);
                        }
                    }
                }
            }
            Dir::Backward => {
                let at = g.tail[v as usize];
                let q = ends.level(p, at);
                if q == 0 {
                    let here = w.cost[v as usize];
                    for (from, turn) in g.turns_into(v) {
                        search.relax(space, dir, from, d + turn + here, v, 0);
                    }
                } else {
                    let level = &p.levels[q - 1];
                    let cell = level.cell_of[at as usize];
                    let j = level.exits.pos[v as usize];
                    if j == NONE {
                        continue;
                    }
                    let entries = level.entries.of(cell);
                    let n = entries.len();
                    let column = &w.columns[q - 1][cell as usize];
                    let column = &column[j as usize * n..(j as usize + 1) * n];
                    for (&e, &c) in entries.iter().zip(column) {
                        if c.is_finite() {
                            search.relax(space, dir, e, d + c, v, q as u8);
                        }
                    }
                }
            }
        }
    }

    let best = search.best;
    if !best.is_finite() {
        return None;
    }
    let edges = if search.meet == NONE {
        let (si, ti, _) = direct?;
        path_edges(g, w, &[src[si].0], src[si].1, dst[ti].1)
    } else {
        let (mut chain, si, ti) = unpack(overlay, w, space, search.meet)?;
        chain.push(dst[ti].0);
        path_edges(g, w, &chain, src[si].1, dst[ti].1)
    };
    Some(LegPath {
        edges,
        cost_s: best,
        tiles_touched: tiles,
        settled,
    })
}

/// The edge chain through meeting vertex `meet`: source edge, every edge of every arc, target
/// edge; with the source and target endpoint indexes.
fn unpack(
    overlay: &Overlay,
    w: &Weights,
    space: &mut QuerySpace,
    meet: u32,
) -> Option<(Vec<u32>, usize, usize)> {
    let g = &overlay.graph;
    let p = &overlay.partition;
    // Forward arcs back to the source.
    let mut arcs = Vec::new();
    let mut v = meet;
    let si = loop {
        let parent = space.forward.parent[v as usize];
        if parent >= START - 64 && parent != NONE {
            break (START - parent) as usize;
        }
        arcs.push((parent, v, space.forward.level[v as usize]));
        v = parent;
    };
    arcs.reverse();
    let mut chain = vec![v];
    for &(from, to, level) in &arcs {
        expand(g, p, w, from, to, level, Dir::Forward, &mut chain)?;
    }
    // Backward arcs on to the target.
    let mut v = meet;
    let ti = loop {
        let next = space.backward.parent[v as usize];
        if next >= START - 64 && next != NONE {
            break (START - next) as usize;
        }
        let level = space.backward.level[v as usize];
        expand(g, p, w, v, next, level, Dir::Backward, &mut chain)?;
        v = next;
    };
    Some((chain, si, ti))
}

/// Appends the edges of arc `from -> to` (after `from`, up to `to`).
#[allow(clippy::too_many_arguments)]
fn expand(
    g: &BaseGraph,
    p: &Partition,
    w: &Weights,
    from: u32,
    to: u32,
    level: u8,
    dir: Dir,
    out: &mut Vec<u32>,
) -> Option<()> {
    if level == 0 {
        out.push(to);
        return Some(());
    }
    let li = level as usize - 1;
    // The cell the arc crosses: around the forward search's head, the backward search's tail.
    let at = match dir {
        Dir::Forward => g.head[from as usize],
        Dir::Backward => g.tail[to as usize],
    };
    let cell = p.levels[li].cell_of[at as usize];
    unpack_clique(g, p, w, li, cell, from, to, out).then_some(())
}
