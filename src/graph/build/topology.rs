//! Turns raw OSM ways into the junction graph: junctions are way ends, nodes shared by two or
//! more ways (or used twice by one), and restriction via nodes; the degree-2 runs between them
//! become chains that keep their shape. Each chain yields one directed edge per drivable
//! direction. Everything outside the largest strongly connected component is dropped so no query
//! can snap onto an island, and turn restrictions become forbidden (in edge, out edge) pairs.

use super::osm::OsmData;
use crate::profile::RestrictionKind;
use petgraph::algo::kosaraju_scc;
use petgraph::graph::DiGraph;
use spatial::LatLon;
use std::collections::HashMap;

/// A degree-2 run of OSM nodes between two junctions, along one way.
pub struct Chain {
    pub way: u32,
    pub from: u32,
    pub to: u32,
    pub points: Vec<LatLon>,
    /// OSM id of each point (every point of a chain is an OSM node: shapes are not simplified).
    pub osm_ids: Vec<i64>,
    pub length_m: f64,
    /// Traffic signals passed driving the chain, counting its end nodes but not its start (a
    /// signal at a junction is paid by the chain that arrives there).
    pub signals_forward: u8,
    pub signals_backward: u8,
    /// A `barrier=toll_booth` node lies on the chain (its end nodes included).
    pub toll_booth: bool,
}

/// One drivable direction of a chain.
#[derive(Clone, Copy, Debug)]
pub struct DirEdge {
    pub chain: u32,
    pub reversed: bool,
    pub from: u32,
    pub to: u32,
    pub speed_kmh: f32,
    pub twin: Option<u32>,
}

pub struct Topology {
    pub junction_coords: Vec<LatLon>,
    pub junction_osm_ids: Vec<i64>,
    /// Distinct chains (roads) meeting at each junction, saturating at 255.
    pub junction_roads: Vec<u8>,
    pub chains: Vec<Chain>,
    pub edges: Vec<DirEdge>,
    /// Forbidden turns `(in edge, out edge)`; both touch the same via junction.
    pub forbidden: Vec<(u32, u32)>,
    pub dangling_node_refs: u64,
    pub restrictions_skipped: u64,
    pub nodes_dropped: u64,
    pub osm_nodes_used: u64,
}

/// Builds the graph (car or foot) of what was read, step by step: the road nodes of each way,
/// the junctions, degree-2 chains between them, directed edges, the largest strongly connected
/// component, and the forbidden turns of the restrictions.
pub fn build_topology(osm: &OsmData) -> Topology {
    let nodes = road_nodes(osm);
    let mut junction = mark_junctions(&nodes, osm);
    let node_chains = cut_into_chains(&nodes.pieces, &mut junction);
    let numbered = number_junctions(&junction, &nodes);
    let (chains, edges) = chains_and_edges(osm, &nodes, &numbered.index, node_chains);
    let keep = largest_component(numbered.coords.len(), &edges);
    let nodes_dropped = keep.iter().filter(|k| !**k).count() as u64;
    let kept = keep_only(&keep, &numbered, &edges);
    let junction_roads = roads_per_junction(&chains, &kept);
    let (forbidden, restrictions_skipped) =
        forbidden_turns(osm, &nodes, &numbered.index, &kept, &chains);
    Topology {
        junction_coords: kept.coords,
        junction_osm_ids: kept.osm_ids,
        junction_roads,
        chains,
        edges: kept.edges,
        forbidden,
        dangling_node_refs: nodes.dangling,
        restrictions_skipped,
        nodes_dropped,
        osm_nodes_used: nodes.coords.len() as u64,
    }
}

/// Every node a kept way references (densely numbered), and each way as pieces of such nodes.
struct RoadNodes {
    dense: HashMap<i64, u32>,
    coords: Vec<LatLon>,
    osm_ids: Vec<i64>,
    /// How many way pieces pass each node (saturating).
    uses: Vec<u8>,
    /// `(way index, nodes)`: a way, cut where the extract lacks a node.
    pieces: Vec<(u32, Vec<u32>)>,
    dangling: u64,
}

fn road_nodes(osm: &OsmData) -> RoadNodes {
    let mut n = RoadNodes {
        dense: HashMap::with_capacity(osm.node_coords.len()),
        coords: Vec::with_capacity(osm.node_coords.len()),
        osm_ids: Vec::with_capacity(osm.node_coords.len()),
        uses: Vec::new(),
        pieces: Vec::new(),
        dangling: 0,
    };
    for (way_index, way) in osm.ways.iter().enumerate() {
        let mut piece: Vec<u32> = Vec::new();
        for &r in &way.refs {
            let Some(&c) = osm.node_coords.get(&r) else {
                // A clipped extract: the way continues outside the file. Cut it here.
                n.dangling += 1;
                if piece.len() >= 2 {
                    n.pieces
                        .push((way_index as u32, std::mem::take(&mut piece)));
                }
                piece.clear();
                continue;
            };
            let id = *n.dense.entry(r).or_insert_with(|| {
                n.coords.push(c);
                n.osm_ids.push(r);
                n.uses.push(0);
                (n.coords.len() - 1) as u32
            });
            if piece.last() != Some(&id) {
                piece.push(id);
            }
        }
        if piece.len() >= 2 {
            n.pieces.push((way_index as u32, piece));
        }
    }
    for (_, piece) in &n.pieces {
        for &node in piece {
            n.uses[node as usize] = n.uses[node as usize].saturating_add(1);
        }
    }
    n
}

/// Junctions: way ends, nodes shared by two ways (or passed twice), restriction via nodes.
fn mark_junctions(nodes: &RoadNodes, osm: &OsmData) -> Vec<bool> {
    let mut junction = vec![false; nodes.coords.len()];
    for (_, piece) in &nodes.pieces {
        junction[piece[0] as usize] = true;
        junction[*piece.last().unwrap() as usize] = true;
    }
    for (n, &u) in nodes.uses.iter().enumerate() {
        if u >= 2 {
            junction[n] = true;
        }
    }
    for r in &osm.restrictions {
        if let Some(&n) = nodes.dense.get(&r.via_node) {
            junction[n as usize] = true;
        }
    }
    junction
}

/// Cuts pieces into chains at junctions; a closed loop is cut at its middle (which becomes a
/// junction) so no chain starts and ends at the same junction.
fn cut_into_chains(pieces: &[(u32, Vec<u32>)], junction: &mut [bool]) -> Vec<(u32, Vec<u32>)> {
    let mut node_chains: Vec<(u32, Vec<u32>)> = Vec::new();
    for (way, piece) in pieces {
        let mut start = 0usize;
        for i in 1..piece.len() {
            if junction[piece[i] as usize] {
                let run = &piece[start..=i];
                if run[0] == run[run.len() - 1] {
                    if run.len() >= 3 {
                        let mid = run.len() / 2;
                        junction[run[mid] as usize] = true;
                        node_chains.push((*way, run[..=mid].to_vec()));
                        node_chains.push((*way, run[mid..].to_vec()));
                    }
                } else {
                    node_chains.push((*way, run.to_vec()));
                }
                start = i;
            }
        }
    }
    node_chains
}

/// Junctions numbered in node order (before the component is chosen).
struct Junctions {
    /// Junction number of each road node (`u32::MAX` for shape points).
    index: Vec<u32>,
    coords: Vec<LatLon>,
    osm_ids: Vec<i64>,
}

fn number_junctions(junction: &[bool], nodes: &RoadNodes) -> Junctions {
    let mut j = Junctions {
        index: vec![u32::MAX; nodes.coords.len()],
        coords: Vec::new(),
        osm_ids: Vec::new(),
    };
    for (n, _) in junction.iter().enumerate().filter(|(_, &is)| is) {
        j.index[n] = j.coords.len() as u32;
        j.coords.push(nodes.coords[n]);
        j.osm_ids.push(nodes.osm_ids[n]);
    }
    j
}

/// One chain per run of nodes, and its drivable directions as directed edges (twins linked).
fn chains_and_edges(
    osm: &OsmData,
    nodes: &RoadNodes,
    junction_index: &[u32],
    node_chains: Vec<(u32, Vec<u32>)>,
) -> (Vec<Chain>, Vec<DirEdge>) {
    let mut chains = Vec::with_capacity(node_chains.len());
    let mut edges = Vec::with_capacity(node_chains.len() * 2);
    for (way, run) in node_chains {
        let points: Vec<LatLon> = run.iter().map(|&n| nodes.coords[n as usize]).collect();
        let length_m = points.windows(2).map(|w| w[0].haversine_m(w[1])).sum();
        let is_signal = |n: &u32| osm.traffic_signals.contains(&nodes.osm_ids[*n as usize]);
        let signals_forward = run[1..].iter().filter(|n| is_signal(n)).count().min(255) as u8;
        let signals_backward = run[..run.len() - 1]
            .iter()
            .filter(|n| is_signal(n))
            .count()
            .min(255) as u8;
        let toll_booth = !osm.toll_booths.is_empty()
            && run
                .iter()
                .any(|n| osm.toll_booths.contains(&nodes.osm_ids[*n as usize]));
        let from = junction_index[run[0] as usize];
        let to = junction_index[*run.last().unwrap() as usize];
        let profile = &osm.ways[way as usize].profile;
        let chain = chains.len() as u32;
        chains.push(Chain {
            way,
            from,
            to,
            points,
            osm_ids: run.iter().map(|&n| nodes.osm_ids[n as usize]).collect(),
            length_m,
            signals_forward,
            signals_backward,
            toll_booth,
        });
        let fwd = profile.forward.then(|| {
            edges.push(DirEdge {
                chain,
                reversed: false,
                from,
                to,
                speed_kmh: profile.forward_speed_kmh,
                twin: None,
            });
            edges.len() as u32 - 1
        });
        let bwd = profile.backward.then(|| {
            edges.push(DirEdge {
                chain,
                reversed: true,
                from: to,
                to: from,
                speed_kmh: profile.backward_speed_kmh,
                twin: None,
            });
            edges.len() as u32 - 1
        });
        if let (Some(f), Some(b)) = (fwd, bwd) {
            edges[f as usize].twin = Some(b);
            edges[b as usize].twin = Some(f);
        }
    }
    (chains, edges)
}

/// Which junctions belong to the largest strongly connected component (petgraph's Tarjan).
fn largest_component(junctions: usize, edges: &[DirEdge]) -> Vec<bool> {
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(junctions, edges.len());
    for _ in 0..junctions {
        g.add_node(());
    }
    for e in edges {
        g.add_edge(e.from.into(), e.to.into(), ());
    }
    // Kosaraju's is iterative: the recursive Tarjan overflowed a 2 MB thread stack on Porto's
    // foot graph, whose two-way ways make one DFS path run through most of the city.
    let components = kosaraju_scc(&g);
    let mut keep = vec![false; junctions];
    // Ties (between tiny components only, in real maps) go to the lowest junction number, so
    // the choice does not depend on the algorithm's component order.
    let key = |c: &&Vec<petgraph::graph::NodeIndex>| {
        let lowest = c.iter().map(|n| n.index()).min().unwrap_or(usize::MAX);
        (c.len(), std::cmp::Reverse(lowest))
    };
    if let Some(largest) = components.iter().max_by_key(key) {
        for n in largest {
            keep[n.index()] = true;
        }
    }
    keep
}

/// The kept junctions and edges, renumbered densely.
struct Kept {
    /// New number of each pre-component junction (`u32::MAX` if dropped).
    junction: Vec<u32>,
    coords: Vec<LatLon>,
    osm_ids: Vec<i64>,
    edges: Vec<DirEdge>,
}

fn keep_only(keep: &[bool], junctions: &Junctions, edges: &[DirEdge]) -> Kept {
    let mut kept = Kept {
        junction: vec![u32::MAX; junctions.coords.len()],
        coords: Vec::new(),
        osm_ids: Vec::new(),
        edges: Vec::with_capacity(edges.len()),
    };
    for (j, _) in keep.iter().enumerate().filter(|(_, &k)| k) {
        kept.junction[j] = kept.coords.len() as u32;
        kept.coords.push(junctions.coords[j]);
        kept.osm_ids.push(junctions.osm_ids[j]);
    }
    let mut new_edge = vec![u32::MAX; edges.len()];
    for (i, e) in edges.iter().enumerate() {
        if keep[e.from as usize] && keep[e.to as usize] {
            new_edge[i] = kept.edges.len() as u32;
            kept.edges.push(DirEdge {
                from: kept.junction[e.from as usize],
                to: kept.junction[e.to as usize],
                ..*e
            });
        }
    }
    for e in &mut kept.edges {
        e.twin = e
            .twin
            .map(|t| new_edge[t as usize])
            .filter(|&t| t != u32::MAX);
    }
    kept
}

/// Distinct chains meeting at each kept junction, saturating at 255.
fn roads_per_junction(chains: &[Chain], kept: &Kept) -> Vec<u8> {
    let mut roads = vec![0u8; kept.coords.len()];
    for c in chains {
        let (a, b) = (kept.junction[c.from as usize], kept.junction[c.to as usize]);
        if a != u32::MAX && b != u32::MAX {
            for j in [a, b] {
                roads[j as usize] = roads[j as usize].saturating_add(1);
            }
        }
    }
    roads
}

/// Forbidden turns `(in edge, out edge)` of the restrictions: in edges of the via junction on
/// the from way, out edges on the to way; and how many restrictions could not be placed.
fn forbidden_turns(
    osm: &OsmData,
    nodes: &RoadNodes,
    junction_index: &[u32],
    kept: &Kept,
    chains: &[Chain],
) -> (Vec<(u32, u32)>, u64) {
    let mut out_of: Vec<Vec<u32>> = vec![Vec::new(); kept.coords.len()];
    let mut into: Vec<Vec<u32>> = vec![Vec::new(); kept.coords.len()];
    for (i, e) in kept.edges.iter().enumerate() {
        out_of[e.from as usize].push(i as u32);
        into[e.to as usize].push(i as u32);
    }
    let way_of = |e: u32| osm.ways[chains[kept.edges[e as usize].chain as usize].way as usize].id;
    let mut forbidden = Vec::new();
    let mut skipped = osm.restrictions_skipped;
    for r in &osm.restrictions {
        let via = nodes
            .dense
            .get(&r.via_node)
            .map(|&n| junction_index[n as usize])
            .filter(|&j| j != u32::MAX)
            .map(|j| kept.junction[j as usize])
            .filter(|&j| j != u32::MAX);
        let Some(via) = via else {
            skipped += 1;
            continue;
        };
        let ins: Vec<u32> = into[via as usize]
            .iter()
            .copied()
            .filter(|&e| way_of(e) == r.from_way)
            .collect();
        let outs_on_to: Vec<u32> = out_of[via as usize]
            .iter()
            .copied()
            .filter(|&e| way_of(e) == r.to_way)
            .collect();
        if ins.is_empty() || outs_on_to.is_empty() {
            skipped += 1;
            continue;
        }
        for &i in &ins {
            match r.kind {
                RestrictionKind::No => forbidden.extend(outs_on_to.iter().map(|&o| (i, o))),
                RestrictionKind::Only => forbidden.extend(
                    out_of[via as usize]
                        .iter()
                        .filter(|o| !outs_on_to.contains(o))
                        .map(|&o| (i, o)),
                ),
            }
        }
    }
    forbidden.sort_unstable();
    forbidden.dedup();
    (forbidden, skipped)
}
