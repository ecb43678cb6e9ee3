//! Nested cells: which cell every junction belongs to at every overlay level, and the boundary
//! (cut) edges of every cell.
//!
//! Cells nest like geohash prefixes, so a geohash prefix (a future shard) is a union of whole
//! cells at every level. From the bottom up the levels are: optional sub-tile cells cut inside
//! each graph tile by recursive balanced bisection (at each step the median split along the one
//! of four directions — the inertial-flow idea without the flow — that cuts the fewest roads),
//! then the tile itself (geohash precision 5 by default), then shorter geohash prefixes.
//!
//! A directed edge whose tail and head lie in different cells at level `l` is a cut edge of
//! level `l` (and so of every level below): it is an exit of its tail's cell and an entry of its
//! head's cell. Entry and exit points are these edges, not nodes, so the cliques between them can
//! carry turn costs and turn restrictions exactly.

use super::base::BaseGraph;
use graph::GraphStore;
use std::collections::HashMap;

pub const NONE: u32 = u32::MAX;

/// How the levels are cut.
#[derive(Clone, Debug, PartialEq)]
pub struct OverlayConfig {
    /// Largest number of junctions in a sub-tile cell; 0 means no sub-tile level (the tile is
    /// the bottom cell).
    pub cell_nodes: usize,
    /// Geohash prefix lengths in bits for the levels above the tile (each shorter than the
    /// tile's own geohash; 5 bits per character, so 20 is precision 4). A bit prefix is a
    /// union of whole tiles, and a geohash prefix a union of whole bit-prefix cells.
    pub prefix_bits: Vec<u32>,
}

impl Default for OverlayConfig {
    /// The measured choice (bench/RESULTS.md, "Overlay").
    fn default() -> Self {
        OverlayConfig {
            cell_nodes: 128,
            // Two bits per level (each cell holds 4 of the one below) from the tile up to p3;
            // on Porto this beat p4/p3 alone at p99 (bench/RESULTS.md).
            prefix_bits: vec![23, 21, 19, 17, 15],
        }
    }
}

/// Boundary entries of one level's cells, CSR by cell.
#[derive(Default)]
pub struct Boundary {
    pub first: Vec<u32>,
    pub edges: Vec<u32>,
    /// Per dense edge: its position in its cell's list, or [`NONE`].
    pub pos: Vec<u32>,
}

impl Boundary {
    #[inline]
    pub fn of(&self, cell: u32) -> &[u32] {
        &self.edges[self.first[cell as usize] as usize..self.first[cell as usize + 1] as usize]
    }
}

pub struct Level {
    /// What the level is, e.g. "cells of <= 128 junctions", "geohash p5".
    pub name: String,
    pub cells: u32,
    /// Per dense node: its cell.
    pub cell_of: Vec<u32>,
    /// Per cell: the cell of the next level up containing it ([`NONE`] at the top).
    pub parent: Vec<u32>,
    pub entries: Boundary,
    pub exits: Boundary,
}

pub struct Partition {
    pub levels: Vec<Level>,
    /// Per dense edge: the highest level (1-based) at which its ends lie in different cells,
    /// 0 if they share a cell at every level.
    pub cut: Vec<u8>,
}

const BASE32: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";

fn geohash_bits(hash: &str) -> u64 {
    hash.bytes().fold(0u64, |acc, c| {
        let v = BASE32.iter().position(|&b| b == c).unwrap_or(0) as u64;
        (acc << 5) | v
    })
}

impl Partition {
    pub fn build(store: &GraphStore, g: &BaseGraph, config: &OverlayConfig) -> Partition {
        let tiles = store.tile_count();
        let nodes = g.node_count();
        let mut levels: Vec<(String, Vec<u32>)> = Vec::new();
        if config.cell_nodes > 0 {
            levels.push((
                format!("cells of <= {} junctions", config.cell_nodes),
                subtile_cells(g, tiles, config.cell_nodes),
            ));
        }
        let tile_of: Vec<u32> = (0..nodes as u32).map(|n| g.node_tile(n)).collect();
        let tile_chars = store.geohash(0).len() as u32;
        levels.push((format!("tile (geohash p{tile_chars})"), tile_of.clone()));
        let mut bits: Vec<u32> = config
            .prefix_bits
            .iter()
            .copied()
            .filter(|&b| b < tile_chars * 5)
            .collect();
        bits.sort_unstable_by(|a, b| b.cmp(a));
        bits.dedup();
        for b in bits {
            let mut ids: HashMap<u64, u32> = HashMap::new();
            let tile_cell: Vec<u32> = (0..tiles)
                .map(|t| {
                    let key = geohash_bits(store.geohash(t)) >> (tile_chars * 5 - b);
                    let next = ids.len() as u32;
                    *ids.entry(key).or_insert(next)
                })
                .collect();
            let name = if b % 5 == 0 {
                format!("geohash p{}", b / 5)
            } else {
                format!("geohash prefix of {b} bits")
            };
            levels.push((
                name,
                tile_of.iter().map(|&t| tile_cell[t as usize]).collect(),
            ));
        }
        let count = levels.len();
        let cut: Vec<u8> = (0..g.edge_count())
            .map(|e| {
                let (a, b) = (g.tail[e] as usize, g.head[e] as usize);
                (0..count)
                    .rev()
                    .find(|&l| levels[l].1[a] != levels[l].1[b])
                    .map_or(0, |l| l as u8 + 1)
            })
            .collect();
        let mut out = Vec::with_capacity(count);
        for (li, (name, cell_of)) in levels.iter().enumerate() {
            let cells = cell_of.iter().copied().max().map_or(0, |m| m + 1);
            let mut parent = vec![NONE; cells as usize];
            if li + 1 < count {
                for (n, &c) in cell_of.iter().enumerate() {
                    parent[c as usize] = levels[li + 1].1[n];
                }
            }
            let on_level = |e: usize| cut[e] as usize > li;
            let entries = boundary(cells, g.edge_count(), |e| {
                on_level(e).then(|| cell_of[g.head[e] as usize])
            });
            let exits = boundary(cells, g.edge_count(), |e| {
                on_level(e).then(|| cell_of[g.tail[e] as usize])
            });
            out.push(Level {
                name: name.clone(),
                cells,
                cell_of: cell_of.clone(),
                parent,
                entries,
                exits,
            });
        }
        Partition { levels: out, cut }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.cut.len()
            + self
                .levels
                .iter()
                .map(|l| {
                    4 * (l.cell_of.len()
                        + l.parent.len()
                        + l.entries.first.len()
                        + l.entries.edges.len()
                        + l.entries.pos.len()
                        + l.exits.first.len()
                        + l.exits.edges.len()
                        + l.exits.pos.len())
                })
                .sum::<usize>()
    }
}

/// Groups the edges `cell_for` assigns a cell to, by cell (edges in index order in each cell).
fn boundary(cells: u32, edges: usize, cell_for: impl Fn(usize) -> Option<u32>) -> Boundary {
    let mut first = vec![0u32; cells as usize + 1];
    let assigned: Vec<u32> = (0..edges).map(|e| cell_for(e).unwrap_or(NONE)).collect();
    for &c in &assigned {
        if c != NONE {
            first[c as usize + 1] += 1;
        }
    }
    for i in 0..cells as usize {
        first[i + 1] += first[i];
    }
    let mut fill = first.clone();
    let mut list = vec![0u32; first[cells as usize] as usize];
    let mut pos = vec![NONE; edges];
    for (e, &c) in assigned.iter().enumerate() {
        if c != NONE {
            let slot = fill[c as usize];
            fill[c as usize] += 1;
            list[slot as usize] = e as u32;
            pos[e] = slot - first[c as usize];
        }
    }
    Boundary {
        first,
        edges: list,
        pos,
    }
}

/// Sub-tile cells: each tile's junctions split recursively until a part has at most
/// `max_nodes`; returns a global cell id per dense node.
fn subtile_cells(g: &BaseGraph, tiles: u32, max_nodes: usize) -> Vec<u32> {
    let mut cell_of = vec![NONE; g.node_count()];
    let mut next = 0u32;
    // 3 marks "not in the part being split".
    let mut side = vec![3u8; g.node_count()];
    for t in 0..tiles {
        let range = g.node_first[t as usize]..g.node_first[t as usize + 1];
        if range.is_empty() {
            continue;
        }
        // Undirected road pairs inside the tile (each direction counts: a cut two-way road
        // gives two boundary edges).
        let pairs: Vec<(u32, u32)> = (g.edge_first[t as usize]..g.edge_first[t as usize + 1])
            .map(|e| (g.tail[e as usize], g.head[e as usize]))
            .filter(|&(_, h)| range.contains(&h))
            .collect();
        let mut stack: Vec<Vec<u32>> = vec![range.collect()];
        while let Some(part) = stack.pop() {
            if part.len() <= max_nodes {
                for &n in &part {
                    cell_of[n as usize] = next;
                }
                next += 1;
                continue;
            }
            let (a, b) = bisect(g, &part, &pairs, &mut side);
            stack.push(b);
            stack.push(a);
        }
    }
    cell_of
}

/// Splits `part` in two halves at the median along the direction (of four) that cuts fewest of
/// the `pairs` with both ends in `part`.
fn bisect(
    g: &BaseGraph,
    part: &[u32],
    pairs: &[(u32, u32)],
    side: &mut [u8],
) -> (Vec<u32>, Vec<u32>) {
    let lat0 = part.iter().map(|&n| g.position[n as usize].0).sum::<f64>() / part.len() as f64;
    let k = lat0.to_radians().cos();
    let d = std::f64::consts::FRAC_1_SQRT_2;
    let dirs = [(1.0, 0.0), (0.0, 1.0), (d, d), (d, -d)];
    let mut best: Option<(usize, Vec<u32>)> = None;
    for (dx, dy) in dirs {
        let mut order: Vec<u32> = part.to_vec();
        let proj = |n: u32| {
            let (lat, lon) = g.position[n as usize];
            lon * k * dx + lat * dy
        };
        order.sort_by(|&a, &b| proj(a).total_cmp(&proj(b)).then(a.cmp(&b)));
        let half = order.len() / 2;
        for (i, &n) in order.iter().enumerate() {
            side[n as usize] = u8::from(i >= half);
        }
        let cut = pairs
            .iter()
            .filter(|&&(a, b)| {
                let (sa, sb) = (side[a as usize], side[b as usize]);
                sa != 3 && sb != 3 && sa != sb
            })
            .count();
        if best.as_ref().is_none_or(|(c, _)| cut < *c) {
            best = Some((cut, order));
        }
    }
    for &n in part {
        side[n as usize] = 3;
    }
    let mut order = best.map(|b| b.1).unwrap_or_default();
    let second = order.split_off(order.len() / 2);
    (order, second)
}
