//! Unpacking: turns overlay arcs back into road edges. A clique arc of level `l` is re-found by
//! the same cell-local search that customized it (on level `l - 1`'s cliques, or on the road
//! graph at the bottom), which reproduces its cost exactly, and recursively down to edges; the
//! edge chain then becomes the [`PathEdge`]s the route builder (geometry, steps, tiles) reads.

use super::base::BaseGraph;
use super::customize::{cell_search, CellScratch, Weights};
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
    scratch: &mut CellScratch,
    out: &mut Vec<u32>,
) -> bool {
    cell_search(g, p, w, li, cell, from, scratch, Some(to));
    if !scratch.get(to).is_finite() {
        return false;
    }
    let mut hops = Vec::new();
    let mut v = to;
    while v != from {
        hops.push(v);
        v = scratch.parent[v as usize];
        if v == NONE {
            return false;
        }
    }
    hops.reverse();
    if li == 0 {
        out.extend(hops);
        return true;
    }
    let below = &p.levels[li - 1];
    let mut prev = from;
    for v in hops {
        let sub = below.cell_of[g.head[prev as usize] as usize];
        if !unpack_clique(g, p, w, li - 1, sub, prev, v, scratch, out) {
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
