//! Unpacking: turns overlay arcs back into road edges. A clique arc of level `l` is looked up in
//! the hops its customization recorded ([`super::customize::CellPaths`]): road edges at the
//! bottom, the level below's clique arcs above, unpacked the same way down to edges; the edge
//! chain then becomes the [`PathEdge`]s the route builder (geometry, steps, tiles) reads.

use super::base::BaseGraph;
use super::customize::Weights;
use super::partition::{Partition, NONE};
use crate::search::PathEdge;

/// Appends to `out` the road edges after `from` up to and including `to` of the clique arc
/// `from -> to` of cell `cell` at level `li`; false if the arc is not in the weights.
// The graph, cells and weights travel separately because callers borrow them apart.
#[allow(clippy::too_many_arguments)]
pub(super) fn unpack_clique(
    g: &BaseGraph,
    p: &Partition,
    w: &Weights,
    li: usize,
    cell: u32,
    from: u32,
    to: u32,
    out: &mut Vec<u32>,
) -> bool {
    let level = &p.levels[li];
    let (i, j) = (
        level.entries.pos[from as usize],
        level.exits.pos[to as usize],
    );
    if i == NONE || j == NONE {
        return false;
    }
    let exits = level.exits.of(cell).len();
    let hops = w.paths[li][cell as usize].of(i as usize * exits + j as usize);
    if hops.last() != Some(&to) {
        return false;
    }
    if li == 0 {
        out.extend_from_slice(hops);
        return true;
    }
    let below = &p.levels[li - 1];
    let mut prev = from;
    for &v in hops {
        let sub = below.cell_of[g.head[prev as usize] as usize];
        if !unpack_clique(g, p, w, li - 1, sub, prev, v, out) {
            return false;
        }
        prev = v;
    }
    true
}

/// Path edges of a chain of dense edges driven in order: the first from `from_m`, the last up to
/// `to_m`, with drive and turn seconds from the weights (the costs the overlay search summed).
pub(super) fn path_edges(
    g: &BaseGraph,
    w: &Weights,
    chain: &[u32],
    from_m: f64,
    to_m: f64,
) -> Vec<PathEdge> {
    let mut out = Vec::with_capacity(chain.len());
    for (i, &e) in chain.iter().enumerate() {
        let len = g.length_m[e as usize];
        let a = if i == 0 { from_m } else { 0.0 };
        let b = if i + 1 == chain.len() {
            to_m
        } else {
            len as f64
        };
        let turn_s = if i == 0 {
            0.0
        } else {
            g.turn_cost(chain[i - 1], e).unwrap_or(0.0)
        };
        out.push(PathEdge {
            edge: g.edge_id(e),
            from_m: a,
            to_m: b,
            drive_s: w.cost[e as usize] * fraction(b - a, len),
            turn_s,
        });
    }
    out
}

/// Share of an edge's length; the same rounding as the A* so partial costs agree.
#[inline]
pub(super) fn fraction(part_m: f64, length_m: f32) -> f64 {
    if length_m > 0.0 {
        (part_m / length_m as f64).clamp(0.0, 1.0)
    } else {
        0.0
    }
}
