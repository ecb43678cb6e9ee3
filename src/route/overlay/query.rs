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
    /// Generation in which a vertex was settled (its label final).
    done: Vec<u32>,
    heap: BinaryHeap<Open>,
}

impl Side {
    fn new(edges: usize) -> Self {
        Side {
            stamp: vec![0; edges],
            dist: vec![f64::INFINITY; edges],
            parent: vec![NONE; edges],
            level: vec![0; edges],
            done: vec![0; edges],
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
        Self::for_graph(&overlay.graph)
    }

    /// A space for searches over `g` alone (no cells: the alternatives of the plain A*).
    pub fn for_graph(g: &BaseGraph) -> Self {
        let edges = g.edge_count();
        QuerySpace {
            generation: 0,
            forward: Side::new(edges),
            backward: Side::new(edges),
            tile_stamp: vec![0; g.edge_first.len()],
        }
    }

    /// True if this space was sized for `overlay`.
    pub fn fits(&self, overlay: &Overlay) -> bool {
        self.fits_graph(&overlay.graph)
    }

    /// True if this space was sized for `g`.
    pub fn fits_graph(&self, g: &BaseGraph) -> bool {
        self.forward.dist.len() == g.edge_count()
    }

    fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            for s in [&mut self.forward, &mut self.backward] {
                s.stamp.iter_mut().for_each(|x| *x = 0);
                s.done.iter_mut().for_each(|x| *x = 0);
            }
            self.tile_stamp.iter_mut().for_each(|x| *x = 0);
            self.generation = 1;
        }
        self.forward.heap.clear();
        self.backward.heap.clear();
    }
}

/// Cells holding the route's ends, per level, and the query level of a junction.
pub(super) struct Ends {
    pub(super) cells: Vec<Vec<u32>>,
}

impl Ends {
    pub(super) fn new(p: &Partition, nodes: impl Iterator<Item = u32> + Clone) -> Self {
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
    pub(super) fn level(&self, p: &Partition, node: u32) -> usize {
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
        // An infinite cost is an excluded edge (`exclude=`): never a label.
        if !d.is_finite() || (this.stamp[i] == generation && this.dist[i] <= d) {
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
    let p = Some(&overlay.partition);
    let found = search(g, p, w, space, sources, targets, 1.0, false);
    let best = found.best;
    if !best.is_finite() {
        return None;
    }
    let edges = found.path_of(g, p, w, space, found.meet)?;
    Some(LegPath {
        edges,
        cost_s: best,
        tiles_touched: found.tiles,
        settled: found.settled,
    })
}

/// What one bidirectional search found: the best meeting (or the direct piece), and, when
/// asked, every vertex both searches settled with the cost of the best route through it.
pub struct Found {
    pub best: f64,
    /// The best route's meeting vertex (`NONE` for the direct piece of one edge).
    pub meet: u32,
    direct: Option<(usize, usize, f64)>,
    src: Vec<(u32, f64)>,
    dst: Vec<(u32, f64)>,
    /// Vertices settled from both ends, with forward plus backward distance.
    pub both: Vec<(u32, f64)>,
    pub tiles: usize,
    pub settled: usize,
}

impl Found {
    /// The route through vertex `via` (`NONE`: the best one) as path edges: the forward tree
    /// from the source to `via`, the backward tree on to the target, arcs unpacked.
    pub fn path_of(
        &self,
        g: &BaseGraph,
        p: Option<&Partition>,
        w: &Weights,
        space: &QuerySpace,
        via: u32,
    ) -> Option<Vec<crate::search::PathEdge>> {
        let (src, dst) = (&self.src, &self.dst);
        if via == NONE {
            let (si, ti, _) = self.direct?;
            return Some(path_edges(g, w, &[src[si].0], src[si].1, dst[ti].1));
        }
        let (mut chain, si, ti) = unpack(g, p, w, space, via)?;
        chain.push(dst[ti].0);
        Some(path_edges(g, w, &chain, src[si].1, dst[ti].1))
    }
}

/// The stretch around vertex `via` (settled from both ends) over which the two search trees
/// run together: the forward tree's path into `via` and the backward tree's path out of it
/// are each other's there, so the route through `via` is a shortest path over that whole
/// stretch (the plateau of the local-optimality test). Its seconds, and its vertices: every
/// one of them is a via of this same route.
pub fn plateau(space: &QuerySpace, via: u32) -> (f64, Vec<u32>) {
    let generation = space.generation;
    let (f, b) = (&space.forward, &space.backward);
    let real = |v: u32| v < START - 64;
    let mut on = vec![via];
    let mut first = via;
    loop {
        let parent = f.parent[first as usize];
        if !real(parent)
            || b.stamp[parent as usize] != generation
            || b.parent[parent as usize] != first
        {
            break;
        }
        first = parent;
        on.push(first);
    }
    let mut last = via;
    loop {
        let next = b.parent[last as usize];
        if !real(next) || f.stamp[next as usize] != generation || f.parent[next as usize] != last {
            break;
        }
        last = next;
        on.push(last);
    }
    let seconds = (f.dist[via as usize] - f.dist[first as usize])
        + (b.dist[via as usize] - b.dist[last as usize]);
    (seconds, on)
}

/// Where the route through `via` joins vertices `on` (another route): the seconds of the
/// forward tree from the source to the first such vertex met walking back from `via`, and of
/// the backward tree from the first one met walking on to the target (0 if none). The trees
/// are shortest paths, so from there on the routes run together (ties aside): a lower bound
/// of what they share, read off the search without unpacking anything.
pub fn joined_s(space: &QuerySpace, via: u32, on: impl Fn(u32) -> bool) -> f64 {
    let (f, b) = (&space.forward, &space.backward);
    let real = |v: u32| v < START - 64;
    let mut x = via;
    while !on(x) && real(f.parent[x as usize]) {
        x = f.parent[x as usize];
    }
    let before = if on(x) { f.dist[x as usize] } else { 0.0 };
    let mut y = via;
    while !on(y) && real(b.parent[y as usize]) {
        y = b.parent[y as usize];
    }
    let after = if on(y) { b.dist[y as usize] } else { 0.0 };
    before + after
}

/// The bidirectional search over `g` under `w`: multi-level with the cells of `p`, or over
/// the road graph alone without. It stops when the two queues' smallest keys sum to at least
/// `stretch` times the best meeting: 1 for the shortest path; more lets both searches run on
/// past the middle, so routes through other vertices are found ([`crate::alternatives`]);
/// with `collect`, every vertex settled from both ends is listed.
#[allow(clippy::too_many_arguments)]
pub fn search(
    g: &BaseGraph,
    p: Option<&Partition>,
    w: &Weights,
    space: &mut QuerySpace,
    sources: &[Endpoint],
    targets: &[Endpoint],
    stretch: f64,
    collect: bool,
) -> Found {
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
    let ends = p.map(|p| {
        Ends::new(
            p,
            src.iter()
                .map(|&(s, _)| g.head[s as usize])
                .chain(dst.iter().map(|&(t, _)| g.tail[t as usize])),
        )
    });
    let query_level = |node: u32| match (p, &ends) {
        (Some(p), Some(ends)) => ends.level(p, node),
        _ => 0,
    };
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

    let mut both = Vec::new();
    let mut settled = 0usize;
    let mut tiles = 0usize;
    loop {
        let (kf, kb) = (space.forward.min_key(), space.backward.min_key());
        if kf + kb >= stretch * search.best || (kf.is_infinite() && kb.is_infinite()) {
            break;
        }
        let dir = if kf <= kb {
            Dir::Forward
        } else {
            Dir::Backward
        };
        let generation = search.generation;
        let (side, other) = match dir {
            Dir::Forward => (&mut space.forward, &space.backward),
            Dir::Backward => (&mut space.backward, &space.forward),
        };
        let Some(Open { dist: d, id: v }) = side.heap.pop() else {
            break;
        };
        if d > side.get(generation, v) {
            continue;
        }
        // Settled marks only when collecting (alternatives): a shortest-path query pays
        // nothing for them (a label popped twice at the same distance is harmless there).
        if collect {
            if side.done[v as usize] == generation {
                continue;
            }
            side.done[v as usize] = generation;
            if other.done[v as usize] == generation {
                both.push((v, d + other.dist[v as usize]));
            }
        }
        settled += 1;
        let tile = g.edge_id(v).tile as usize;
        if space.tile_stamp[tile] != generation {
            space.tile_stamp[tile] = generation;
            tiles += 1;
        }
        match dir {
            Dir::Forward => {
                let at = g.head[v as usize];
                let q = query_level(at);
                if q == 0 {
                    for (f, turn) in g.turns(v) {
                        let nd = d + turn + w.cost[f as usize];
                        search.relax(space, dir, f, nd, v, 0);
                    }
                } else {
                    let p = p.expect("levels only with cells");
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
                let q = query_level(at);
                if q == 0 {
                    let here = w.cost[v as usize];
                    for (from, turn) in g.turns_into(v) {
                        search.relax(space, dir, from, d + turn + here, v, 0);
                    }
                } else {
                    let p = p.expect("levels only with cells");
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
    Found {
        best: search.best,
        meet: search.meet,
        direct,
        src,
        dst,
        both,
        tiles,
        settled,
    }
}

/// The edge chain through meeting vertex `meet`: source edge, every edge of every arc, target
/// edge; with the source and target endpoint indexes.
fn unpack(
    g: &BaseGraph,
    p: Option<&Partition>,
    w: &Weights,
    space: &QuerySpace,
    meet: u32,
) -> Option<(Vec<u32>, usize, usize)> {
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
    p: Option<&Partition>,
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
    let p = p?;
    let li = level as usize - 1;
    // The cell the arc crosses: around the forward search's head, the backward search's tail.
    let at = match dir {
        Dir::Forward => g.head[from as usize],
        Dir::Backward => g.tail[to as usize],
    };
    let cell = p.levels[li].cell_of[at as usize];
    unpack_clique(g, p, w, li, cell, from, to, out).then_some(())
}
