//! Turns raw OSM ways into the junction graph: junctions are way ends, nodes shared by two or
//! more ways (or used twice by one), and restriction via nodes; the degree-2 runs between them
//! become chains that keep their shape. Each chain yields one directed edge per drivable
//! direction. Everything outside the largest strongly connected component is dropped so no query
//! can snap onto an island, and turn restrictions become forbidden (in edge, out edge) pairs.

use super::osm::OsmData;
use crate::profile::RestrictionKind;
use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;
use spatial::geometry::haversine_m;
use std::collections::HashMap;

/// A degree-2 run of OSM nodes between two junctions, along one way.
pub struct Chain {
    pub way: u32,
    pub from: u32,
    pub to: u32,
    pub points: Vec<(f64, f64)>,
    pub length_m: f64,
    /// Traffic signals passed driving the chain, counting its end nodes but not its start (a
    /// signal at a junction is paid by the chain that arrives there).
    pub signals_forward: u8,
    pub signals_backward: u8,
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
    pub junction_coords: Vec<(f64, f64)>,
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

pub fn build_topology(osm: &OsmData) -> Topology {
    // Dense index per referenced node that has coordinates.
    let mut dense: HashMap<i64, u32> = HashMap::with_capacity(osm.node_coords.len());
    let mut coords: Vec<(f64, f64)> = Vec::with_capacity(osm.node_coords.len());
    let mut osm_ids: Vec<i64> = Vec::with_capacity(osm.node_coords.len());
    let mut uses: Vec<u8> = Vec::new();
    let mut dangling = 0u64;
    let mut pieces: Vec<(u32, Vec<u32>)> = Vec::new();

    for (way_index, way) in osm.ways.iter().enumerate() {
        let mut piece: Vec<u32> = Vec::new();
        for &r in &way.refs {
            let Some(&c) = osm.node_coords.get(&r) else {
                // A clipped extract: the way continues outside the file. Cut it here.
                dangling += 1;
                if piece.len() >= 2 {
                    pieces.push((way_index as u32, std::mem::take(&mut piece)));
                }
                piece.clear();
                continue;
            };
            let id = *dense.entry(r).or_insert_with(|| {
                coords.push(c);
                osm_ids.push(r);
                uses.push(0);
                (coords.len() - 1) as u32
            });
            if piece.last() != Some(&id) {
                piece.push(id);
            }
        }
        if piece.len() >= 2 {
            pieces.push((way_index as u32, piece));
        }
    }

    let mut junction = vec![false; coords.len()];
    for (_, piece) in &pieces {
        for &n in piece {
            uses[n as usize] = uses[n as usize].saturating_add(1);
        }
        junction[piece[0] as usize] = true;
        junction[*piece.last().unwrap() as usize] = true;
    }
    for (n, &u) in uses.iter().enumerate() {
        if u >= 2 {
            junction[n] = true;
        }
    }
    for r in &osm.restrictions {
        if let Some(&n) = dense.get(&r.via_node) {
            junction[n as usize] = true;
        }
    }

    // Cut pieces into chains at junctions; a closed loop is cut at its middle so no chain starts
    // and ends at the same junction.
    let mut node_chains: Vec<(u32, Vec<u32>)> = Vec::new();
    for (way, piece) in &pieces {
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

    // Junction numbering (pre-SCC).
    let mut junction_index = vec![u32::MAX; coords.len()];
    let mut j_coords = Vec::new();
    let mut j_osm = Vec::new();
    for n in 0..coords.len() {
        if junction[n] {
            junction_index[n] = j_coords.len() as u32;
            j_coords.push(coords[n]);
            j_osm.push(osm_ids[n]);
        }
    }

    let mut chains = Vec::with_capacity(node_chains.len());
    let mut edges = Vec::with_capacity(node_chains.len() * 2);
    for (way, nodes) in node_chains {
        let points: Vec<(f64, f64)> = nodes.iter().map(|&n| coords[n as usize]).collect();
        let length_m = points.windows(2).map(|w| haversine_m(w[0], w[1])).sum();
        let is_signal = |n: &u32| osm.traffic_signals.contains(&osm_ids[*n as usize]);
        let signals_forward = nodes[1..].iter().filter(|n| is_signal(n)).count().min(255) as u8;
        let signals_backward = nodes[..nodes.len() - 1]
            .iter()
            .filter(|n| is_signal(n))
            .count()
            .min(255) as u8;
        let from = junction_index[nodes[0] as usize];
        let to = junction_index[*nodes.last().unwrap() as usize];
        let profile = &osm.ways[way as usize].profile;
        let chain = chains.len() as u32;
        chains.push(Chain {
            way,
            from,
            to,
            points,
            length_m,
            signals_forward,
            signals_backward,
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

    // Largest strongly connected component of the junction graph.
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(j_coords.len(), edges.len());
    for _ in 0..j_coords.len() {
        g.add_node(());
    }
    for e in &edges {
        g.add_edge(e.from.into(), e.to.into(), ());
    }
    let components = tarjan_scc(&g);
    let mut keep = vec![false; j_coords.len()];
    if let Some(largest) = components.iter().max_by_key(|c| c.len()) {
        for n in largest {
            keep[n.index()] = true;
        }
    }
    let nodes_dropped = keep.iter().filter(|k| !**k).count() as u64;

    // Renumber kept junctions and edges.
    let mut new_junction = vec![u32::MAX; j_coords.len()];
    let mut kept_coords = Vec::new();
    let mut kept_osm = Vec::new();
    for j in 0..j_coords.len() {
        if keep[j] {
            new_junction[j] = kept_coords.len() as u32;
            kept_coords.push(j_coords[j]);
            kept_osm.push(j_osm[j]);
        }
    }
    let mut new_edge = vec![u32::MAX; edges.len()];
    let mut kept_edges = Vec::with_capacity(edges.len());
    for (i, e) in edges.iter().enumerate() {
        if keep[e.from as usize] && keep[e.to as usize] {
            new_edge[i] = kept_edges.len() as u32;
            kept_edges.push(DirEdge {
                from: new_junction[e.from as usize],
                to: new_junction[e.to as usize],
                ..*e
            });
        }
    }
    for e in &mut kept_edges {
        e.twin = e
            .twin
            .map(|t| new_edge[t as usize])
            .filter(|&t| t != u32::MAX);
    }

    // Restrictions: in edges of the via junction on the from way, out edges on the to way.
    let mut out_of: Vec<Vec<u32>> = vec![Vec::new(); kept_coords.len()];
    let mut into: Vec<Vec<u32>> = vec![Vec::new(); kept_coords.len()];
    for (i, e) in kept_edges.iter().enumerate() {
        out_of[e.from as usize].push(i as u32);
        into[e.to as usize].push(i as u32);
    }
    let mut junction_roads = vec![0u8; kept_coords.len()];
    for c in &chains {
        let (a, b) = (new_junction[c.from as usize], new_junction[c.to as usize]);
        if a != u32::MAX && b != u32::MAX {
            for j in [a, b] {
                junction_roads[j as usize] = junction_roads[j as usize].saturating_add(1);
            }
        }
    }
    let way_of = |e: u32| osm.ways[chains[kept_edges[e as usize].chain as usize].way as usize].id;
    let mut forbidden = Vec::new();
    let mut restrictions_skipped = osm.restrictions_skipped;
    for r in &osm.restrictions {
        let via = dense
            .get(&r.via_node)
            .map(|&n| junction_index[n as usize])
            .filter(|&j| j != u32::MAX)
            .map(|j| new_junction[j as usize])
            .filter(|&j| j != u32::MAX);
        let Some(via) = via else {
            restrictions_skipped += 1;
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
            restrictions_skipped += 1;
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

    Topology {
        junction_coords: kept_coords,
        junction_osm_ids: kept_osm,
        junction_roads,
        chains,
        edges: kept_edges,
        forbidden,
        dangling_node_refs: dangling,
        restrictions_skipped,
        nodes_dropped,
        osm_nodes_used: coords.len() as u64,
    }
}
