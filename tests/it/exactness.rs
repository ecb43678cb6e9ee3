//! The tiled, edge-based A* must return exactly the cost of a plain Dijkstra (petgraph's) over
//! the same edges and turns, on random real pairs.

use crate::common::{junctions, router};
use meridian::graph::{EdgeId, GlobalId};
use meridian::route::cost::{CostModel, SpeedSource};
use meridian::route::search::SearchSpace;
use meridian::route::snap::Snap;
use meridian::route::Router;
use meridian::spatial::LatLon;
use meridian::traffic::LiveTraffic;
use petgraph::algo::dijkstra;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// The line graph: one node per directed edge, one arc per allowed turn, weighted with the turn
/// plus the whole next edge; built from the same cost model the router uses.
pub struct LineGraph<'m, S: SpeedSource> {
    g: DiGraph<EdgeId, f64>,
    index: HashMap<EdgeId, NodeIndex>,
    source: NodeIndex,
    model: &'m CostModel<S>,
}

impl<'m, S: SpeedSource> LineGraph<'m, S> {
    pub fn build(router: &Router, model: &'m CostModel<S>) -> Self {
        let store = &router.store;
        let mut g = DiGraph::new();
        let mut index = HashMap::new();
        for t in 0..store.tile_count() {
            let tile = store.tile(t).unwrap();
            for l in 0..tile.edges.len() as u32 {
                let id = GlobalId::new(t, l);
                index.insert(id, g.add_node(id));
            }
        }
        for t in 0..store.tile_count() {
            let tile = store.tile(t).unwrap();
            for l in 0..tile.edges.len() as u32 {
                let id = GlobalId::new(t, l);
                let e = tile.edge(l);
                let vt = e.target().tile;
                let v = e.target().local;
                let via = store.tile(vt).unwrap();
                for f in via.out_edges(v) {
                    let out = via.edge(f);
                    if let Some(turn) = model.turn_cost_s(via, v, id, e, f, out) {
                        let fid = GlobalId::new(vt, f);
                        g.add_edge(index[&id], index[&fid], turn + model.edge_cost_s(fid, out));
                    }
                }
            }
        }
        let source = g.add_node(GlobalId::new(u32::MAX, u32::MAX));
        LineGraph {
            g,
            index,
            source,
            model,
        }
    }

    fn cost(&self, router: &Router, e: EdgeId) -> (f64, f64) {
        let tile = router.store.tile(e.tile).unwrap();
        let edge = tile.edge(e.local);
        (self.model.edge_cost_s(e, edge), edge.length_m() as f64)
    }

    /// Cost of the fastest path between two snapped points, by Dijkstra from a temporary source.
    pub fn query(&mut self, router: &Router, from: &Snap, to: &Snap) -> Option<f64> {
        let frac = |part: f64, len: f64| {
            if len > 0.0 {
                (part / len).clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        let mut best = f64::INFINITY;
        let mut added = Vec::new();
        for (e, a) in from.candidates() {
            let (c, len) = self.cost(router, e);
            for (t, b) in to.candidates() {
                if t == e && b >= a {
                    best = best.min(c * frac(b - a, len));
                }
            }
            added.push(
                self.g
                    .add_edge(self.source, self.index[&e], c * frac(len - a, len)),
            );
        }
        let dist = dijkstra(&self.g, self.source, None, |r| *r.weight());
        for (t, b) in to.candidates() {
            let (c, len) = self.cost(router, t);
            let node = self.index[&t];
            for arc in self.g.edges_directed(node, Direction::Incoming) {
                if arc.source() == self.source {
                    continue;
                }
                if let Some(d) = dist.get(&arc.source()) {
                    best = best.min(d + arc.weight() - c * (1.0 - frac(b, len)));
                }
            }
        }
        for a in added.into_iter().rev() {
            self.g.remove_edge(a);
        }
        best.is_finite().then_some(best)
    }
}

fn check_random_pairs(name: &str, pairs: usize, seed: u64) {
    check_pairs_on(&router(name), name, pairs, seed);
}

fn check_pairs_on(router: &Router, name: &str, pairs: usize, seed: u64) {
    check_pairs_with(router, &router.cost_model(), name, pairs, seed);
}

/// A* under `model` against Dijkstra under the same model on `pairs` random pairs.
pub fn check_pairs_with<S: SpeedSource>(
    router: &Router,
    model: &CostModel<S>,
    name: &str,
    pairs: usize,
    seed: u64,
) {
    let mut reference = LineGraph::build(router, model);
    let nodes = junctions(router);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut space = SearchSpace::new();
    let mut routed = 0;
    for i in 0..pairs {
        let mut pick = || {
            let LatLon { lat, lon } = nodes[rng.random_range(0..nodes.len())];
            // Up to ~60 m off the junction, so most points snap mid-edge.
            LatLon::new(
                lat + rng.random_range(-5e-4..5e-4),
                lon + rng.random_range(-5e-4..5e-4),
            )
        };
        let (a, b) = (pick(), pick());
        let sa = router.snap(a).unwrap().expect("snap a");
        let sb = router.snap(b).unwrap().expect("snap b");
        let ours = router
            .leg_with(model, &mut space, &sa, &sb)
            .ok()
            .map(|p| p.cost_s);
        let theirs = reference.query(router, &sa, &sb);
        match (ours, theirs) {
            (Some(x), Some(y)) => {
                assert!(
                    (x - y).abs() <= 1e-6 * y.max(1.0),
                    "{name} pair {i} {a:?}->{b:?}: ours {x} reference {y}"
                );
                routed += 1;
            }
            (None, None) => {}
            other => panic!(
                "{name} pair {i} {a:?}->{b:?}: ours/reference disagree on reachability {other:?}"
            ),
        }
    }
    assert!(
        routed * 10 >= pairs * 9,
        "{name}: only {routed}/{pairs} routed"
    );
}

#[test]
fn tiled_search_matches_reference_dijkstra_on_liechtenstein() {
    check_random_pairs("small/liechtenstein-2015-07", 1000, 42);
}

#[test]
fn tiled_search_matches_reference_dijkstra_with_many_restrictions() {
    check_random_pairs("small/munchen-centre-2020-07", 400, 7);
    check_random_pairs("small/andorra-2021-10", 400, 11);
}

#[test]
fn tiled_search_stays_exact_under_live_traffic() {
    // A third of the edges get live speeds from a crawl up to the graph's top speed, many of them
    // faster than their free flow: the landmark bounds must still hold.
    let name = "small/liechtenstein-2015-07";
    let router = router(name);
    let live = LiveTraffic::new();
    let mut rng = StdRng::seed_from_u64(99);
    let top = router.store.manifest().max_speed_kmh;
    for t in 0..router.store.tile_count() {
        let tile = router.store.tile(t).unwrap();
        for l in 0..tile.edges.len() as u32 {
            if rng.random_bool(0.33) {
                live.observe(GlobalId::new(t, l), rng.random_range(3.0..top), 1_000);
            }
        }
    }
    let snapshot = live.snapshot(&router.store, 1_000, 60_000);
    assert!(snapshot.live_edges > 1000);
    router.traffic.publish(snapshot);
    check_pairs_on(&router, name, 400, 17);
}
