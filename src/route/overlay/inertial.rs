//! Graph bisection by inertial flow: project the junctions on a few directions, take the first
//! and last quarter along each as sources and sinks, and cut the road graph between them with a
//! maximum flow; the direction whose minimum cut crosses the fewest directed roads wins. The cut
//! follows rivers, railways and park edges that a straight line (a geohash border) crosses
//! anywhere, which is what keeps the cells' boundaries, and so the overlay's cliques, small.
//!
//! Capacities count directed edges: a two-way road between two sides is 2, a one-way road 1, so
//! the cut value is exactly the number of boundary edges the two halves will have.

use super::base::BaseGraph;
use std::collections::VecDeque;

const NOT_IN_PART: u32 = u32::MAX;

/// Share of a part, at each end of a direction, that is fixed as source or sink: each half
/// keeps at least this share, so the recursion stays balanced.
const END_SHARE: f64 = 0.25;

/// Reusable state of the bisections of one graph (indexes sized by its junction count).
pub struct Bisector<'a> {
    g: &'a BaseGraph,
    /// Per dense node: its index in the part being cut, or [`NOT_IN_PART`].
    local: Vec<u32>,
    /// Per dense node: its first out edge (edges are sorted by tail).
    out_first: Vec<u32>,
}

/// The undirected road graph of one part, as arcs with residual capacities.
struct FlowGraph {
    first: Vec<u32>,
    to: Vec<u32>,
    /// Index of the opposite arc of the same road.
    twin: Vec<u32>,
    capacity: Vec<i32>,
    flow: Vec<i32>,
}

impl<'a> Bisector<'a> {
    pub fn new(g: &'a BaseGraph) -> Self {
        let mut out_first = vec![0u32; g.node_count() + 1];
        for &t in &g.tail {
            out_first[t as usize + 1] += 1;
        }
        for i in 0..g.node_count() {
            out_first[i + 1] += out_first[i];
        }
        Bisector {
            g,
            local: vec![NOT_IN_PART; g.node_count()],
            out_first,
        }
    }

    /// Splits `part` (dense node ids) in two, each with at least a quarter of its junctions.
    pub fn bisect(&mut self, part: &[u32]) -> (Vec<u32>, Vec<u32>) {
        for (i, &n) in part.iter().enumerate() {
            self.local[n as usize] = i as u32;
        }
        let mut net = self.flow_graph(part);
        let lat0 = part
            .iter()
            .map(|&n| self.g.position[n as usize].0)
            .sum::<f64>()
            / part.len() as f64;
        let k = lat0.to_radians().cos();
        let d = std::f64::consts::FRAC_1_SQRT_2;
        let mut best: Option<(i32, usize, Vec<bool>)> = None;
        for (dx, dy) in [(1.0, 0.0), (0.0, 1.0), (d, d), (d, -d)] {
            let mut order: Vec<u32> = (0..part.len() as u32).collect();
            let proj = |i: u32| {
                let (lat, lon) = self.g.position[part[i as usize] as usize];
                lon * k * dx + lat * dy
            };
            order.sort_by(|&a, &b| proj(a).total_cmp(&proj(b)).then(a.cmp(&b)));
            let ends = ((part.len() as f64 * END_SHARE) as usize).max(1);
            let mut role = vec![0u8; part.len()];
            for &i in &order[..ends] {
                role[i as usize] = 1;
            }
            for &i in &order[order.len() - ends..] {
                role[i as usize] = 2;
            }
            net.flow.iter_mut().for_each(|f| *f = 0);
            let (cut, source_side) = min_cut(&mut net, &role);
            let size = source_side.iter().filter(|&&s| s).count();
            let imbalance = size.abs_diff(part.len() / 2);
            let better = best
                .as_ref()
                .is_none_or(|(c, im, _)| cut < *c || (cut == *c && imbalance < *im));
            if better {
                best = Some((cut, imbalance, source_side));
            }
        }
        for &n in part {
            self.local[n as usize] = NOT_IN_PART;
        }
        let side = best.map(|b| b.2).unwrap_or_default();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, &n) in part.iter().enumerate() {
            if side[i] {
                a.push(n);
            } else {
                b.push(n);
            }
        }
        (a, b)
    }

    /// Roads with both ends in the part (marked in `local`), merged per junction pair.
    fn flow_graph(&self, part: &[u32]) -> FlowGraph {
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for &n in part {
            let a = self.local[n as usize];
            for e in self.out_first[n as usize]..self.out_first[n as usize + 1] {
                let b = self.local[self.g.head[e as usize] as usize];
                if b != NOT_IN_PART && b != a {
                    pairs.push((a.min(b), a.max(b)));
                }
            }
        }
        pairs.sort_unstable();
        // (a, b, directed edges between them)
        let mut roads: Vec<(u32, u32, i32)> = Vec::with_capacity(pairs.len());
        for (a, b) in pairs {
            match roads.last_mut() {
                Some(last) if last.0 == a && last.1 == b => last.2 += 1,
                _ => roads.push((a, b, 1)),
            }
        }
        let n = part.len();
        let mut first = vec![0u32; n + 1];
        for &(a, b, _) in &roads {
            first[a as usize + 1] += 1;
            first[b as usize + 1] += 1;
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let arcs = 2 * roads.len();
        let mut fill = first.clone();
        let (mut to, mut twin, mut capacity) = (vec![0; arcs], vec![0; arcs], vec![0; arcs]);
        for &(a, b, c) in &roads {
            let (x, y) = (fill[a as usize] as usize, fill[b as usize] as usize);
            fill[a as usize] += 1;
            fill[b as usize] += 1;
            to[x] = b;
            to[y] = a;
            twin[x] = y as u32;
            twin[y] = x as u32;
            capacity[x] = c;
            capacity[y] = c;
        }
        FlowGraph {
            first,
            to,
            twin,
            capacity,
            flow: vec![0; arcs],
        }
    }
}

/// Maximum flow from the nodes with role 1 to the nodes with role 2 (augmenting shortest paths
/// from all sources at once); returns the cut value and which nodes the sources still reach.
fn min_cut(net: &mut FlowGraph, role: &[u8]) -> (i32, Vec<bool>) {
    let n = role.len();
    let mut via = vec![u32::MAX; n];
    let mut seen = vec![false; n];
    let mut queue = VecDeque::new();
    let mut total = 0;
    loop {
        seen.iter_mut().for_each(|s| *s = false);
        queue.clear();
        for (i, &r) in role.iter().enumerate() {
            if r == 1 {
                seen[i] = true;
                queue.push_back(i as u32);
            }
        }
        let mut reached = None;
        'bfs: while let Some(v) = queue.pop_front() {
            for a in net.first[v as usize]..net.first[v as usize + 1] {
                let a = a as usize;
                let w = net.to[a] as usize;
                if seen[w] || net.flow[a] >= net.capacity[a] {
                    continue;
                }
                seen[w] = true;
                via[w] = a as u32;
                if role[w] == 2 {
                    reached = Some(w);
                    break 'bfs;
                }
                queue.push_back(w as u32);
            }
        }
        let Some(sink) = reached else {
            return (total, seen);
        };
        // Bottleneck along the path, then push it (capacities are 1 or 2).
        let mut push = i32::MAX;
        let mut v = sink;
        while role[v] != 1 {
            let a = via[v] as usize;
            push = push.min(net.capacity[a] - net.flow[a]);
            v = net.to[net.twin[a] as usize] as usize;
        }
        let mut v = sink;
        while role[v] != 1 {
            let a = via[v] as usize;
            net.flow[a] += push;
            net.flow[net.twin[a] as usize] -= push;
            v = net.to[net.twin[a] as usize] as usize;
        }
        total += push;
    }
}
