//! Landmarks for the A* heuristic (ALT): a few far-apart junctions, and the free-flow travel time
//! from each landmark to every junction and back. By the triangle inequality,
//! `d(v, t) >= d(L, t) - d(L, v)` and `d(v, t) >= d(v, L) - d(t, L)`, bounds that are far tighter
//! than straight-line distance over top speed. Turn costs are left out (they are never negative)
//! so the bounds stay valid for the edge-based search.

use super::topology::Topology;

/// How many landmarks an import computes; 16 is the usual sweet spot between tighter bounds and
/// per-node storage (2 x 16 x 4 bytes per junction).
pub const DEFAULT_LANDMARKS: usize = 16;

pub struct Landmarks {
    pub count: usize,
    /// `from[j * count + i]` = seconds from landmark `i` to junction `j`.
    pub from: Vec<f32>,
    /// `to[j * count + i]` = seconds from junction `j` to landmark `i`.
    pub to: Vec<f32>,
}

/// Free-flow drive time of an edge from the stored f32 fields, as the search computes it minus
/// traffic-signal delays: never more than the search's cost, so the bounds stay lower bounds.
pub fn free_flow_cost_s(length_m: f32, speed_kmh: f32) -> f64 {
    length_m as f64 / (speed_kmh as f64 / 3.6)
}

pub fn compute(topo: &Topology, count: usize) -> Landmarks {
    let n = topo.junction_coords.len();
    let count = count.min(n);
    let mut forward: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
    let mut backward: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
    for e in &topo.edges {
        let length = topo.chains[e.chain as usize].length_m as f32;
        let cost = free_flow_cost_s(length, e.speed_kmh);
        forward[e.from as usize].push((e.to, cost));
        backward[e.to as usize].push((e.from, cost));
    }
    let mut from = vec![0f32; n * count];
    let mut to = vec![0f32; n * count];
    if count == 0 {
        return Landmarks { count, from, to };
    }
    // Farthest-point selection: start from the node farthest from junction 0, then repeatedly the
    // node whose nearest chosen landmark is farthest away.
    let seed = dijkstra(&forward, 0);
    let mut chosen = vec![argmax(&seed)];
    let mut nearest = vec![f64::INFINITY; n];
    for i in 0..count {
        let l = chosen[i];
        // The two trees are independent: grow them on both cores.
        let (d_from, d_to) = std::thread::scope(|scope| {
            let to = scope.spawn(|| dijkstra(&backward, l));
            let from = dijkstra(&forward, l);
            (from, to.join().expect("landmark search thread panicked"))
        });
        for j in 0..n {
            from[j * count + i] = d_from[j] as f32;
            to[j * count + i] = d_to[j] as f32;
            nearest[j] = nearest[j].min(d_from[j]);
        }
        if i + 1 < count {
            chosen.push(argmax(&nearest));
        }
    }
    Landmarks { count, from, to }
}

fn argmax(d: &[f64]) -> u32 {
    let mut best = 0;
    for (i, &v) in d.iter().enumerate() {
        if v.is_finite() && v > d[best] {
            best = i;
        }
    }
    best as u32
}

fn dijkstra(adj: &[Vec<(u32, f64)>], source: u32) -> Vec<f64> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut dist = vec![f64::INFINITY; adj.len()];
    let mut heap = BinaryHeap::new();
    dist[source as usize] = 0.0;
    heap.push(Reverse((0u64, source)));
    while let Some(Reverse((bits, v))) = heap.pop() {
        let d = f64::from_bits(bits);
        if d > dist[v as usize] {
            continue;
        }
        for &(w, c) in &adj[v as usize] {
            let nd = d + c;
            if nd < dist[w as usize] {
                dist[w as usize] = nd;
                // Non-negative floats order like their bit patterns.
                heap.push(Reverse((nd.to_bits(), w)));
            }
        }
    }
    dist
}
