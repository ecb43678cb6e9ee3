//! Nested cells: which cell every junction belongs to at every overlay level, and the boundary
//! (cut) edges of every cell.
//!
//! Cells nest like geohash prefixes, so a geohash prefix (a future shard) is a union of whole
//! cells at every level. From the bottom up the levels are: cells cut by recursive inertial-flow
//! bisection ([`super::inertial`]) inside the longest configured geohash prefix, one level per
//! size threshold; then the geohash prefixes themselves, longest first. Tiles are storage, not a
//! level: cells cross tile borders wherever the road network's natural cuts do.
//!
//! A directed edge whose tail and head lie in different cells at level `l` is a cut edge of
//! level `l` (and so of every level below): it is an exit of its tail's cell and an entry of its
//! head's cell. Entry and exit points are these edges, not nodes, so the cliques between them can
//! carry turn costs and turn restrictions exactly.

use super::base::BaseGraph;
use super::inertial::Bisector;
use graph::GraphStore;
use spatial::geohash::Cell;
use std::collections::HashMap;

pub const NONE: u32 = u32::MAX;

/// How the levels are cut.
#[derive(Clone, Debug, PartialEq)]
pub struct OverlayConfig {
    /// Largest number of junctions of the partitioner's cells, one level per entry (smallest
    /// first); empty means geohash levels only.
    pub cell_nodes: Vec<usize>,
    /// Geohash prefix lengths in bits for the levels above them (5 bits per character, so 15 is
    /// precision 3; at most the tiles' precision). The longest is the region the partitioner
    /// cuts inside: the shard granularity.
    pub prefix_bits: Vec<u32>,
}

impl Default for OverlayConfig {
    /// The measured choice (bench/RESULTS.md, "Overlay").
    fn default() -> Self {
        OverlayConfig {
            // Eight times larger per level, as far as the regions need (levels whose cells
            // are the regions' own are dropped); 128/1024/8192 measured best on Porto.
            cell_nodes: vec![128, 1024, 8192, 65_536, 524_288],
            prefix_bits: vec![15, 10],
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

/// One level's cells before its boundaries are derived: its name and a cell id per dense node.
/// What [`super::stored`] keeps on disk.
pub type LevelCells = (String, Vec<u32>);

impl Partition {
    pub fn build(store: &GraphStore, g: &BaseGraph, config: &OverlayConfig) -> Partition {
        Partition::from_cells(g, Partition::cells(store, g, config))
    }

    /// Every level's cells, bottom up: the expensive part (the inertial-flow bisections).
    pub fn cells(store: &GraphStore, g: &BaseGraph, config: &OverlayConfig) -> Vec<LevelCells> {
        let nodes = g.node_count();
        let tile_bits = store.geohash(0).len() as u32 * 5;
        let mut bits: Vec<u32> = config
            .prefix_bits
            .iter()
            .copied()
            .filter(|&b| b <= tile_bits)
            .collect();
        bits.sort_unstable_by(|a, b| b.cmp(a));
        bits.dedup();
        let tile_of: Vec<u32> = (0..nodes as u32).map(|n| g.node_tile(n)).collect();
        let prefix_level = |b: u32| -> Vec<u32> {
            let mut ids: HashMap<u64, u32> = HashMap::new();
            let tile_cell: Vec<u32> = (0..store.tile_count())
                .map(|t| {
                    // The store validated its tiles' geohashes when it opened.
                    let code = store.geohash(t).parse::<Cell>().map_or(0, Cell::code);
                    let key = code >> (tile_bits - b);
                    let next = ids.len() as u32;
                    *ids.entry(key).or_insert(next)
                })
                .collect();
            tile_of.iter().map(|&t| tile_cell[t as usize]).collect()
        };
        // The partitioner cuts inside the longest prefix, so every prefix level (and every
        // shard, a prefix) is a union of whole cells.
        let region_of = bits
            .first()
            .map_or_else(|| vec![0; nodes], |&b| prefix_level(b));
        let mut thresholds: Vec<usize> = config
            .cell_nodes
            .iter()
            .copied()
            .filter(|&t| t > 0)
            .collect();
        thresholds.sort_unstable();
        thresholds.dedup();
        let mut levels: Vec<(String, Vec<u32>)> = Vec::new();
        for (t, cell_of) in thresholds
            .iter()
            .zip(nested_cells(g, &region_of, &thresholds))
        {
            levels.push((format!("cells of <= {t} junctions"), cell_of));
        }
        for b in bits {
            let name = if b % 5 == 0 {
                format!("geohash p{}", b / 5)
            } else {
                format!("geohash prefix of {b} bits")
            };
            levels.push((name, prefix_level(b)));
        }
        // Nested levels with as many cells as the level above are the same cells (a region
        // smaller than a threshold): keep only the upper one, whose cliques would be the same.
        let cell_count = |l: &[u32]| l.iter().copied().max().map_or(0, |m| m + 1);
        let mut k = 0;
        while k + 1 < levels.len() {
            if cell_count(&levels[k].1) == cell_count(&levels[k + 1].1) {
                levels.remove(k);
            } else {
                k += 1;
            }
        }
        levels
    }

    /// The partition of nested `levels` (as [`Partition::cells`] makes them): parents, cut
    /// levels of the edges and every cell's boundary.
    pub fn from_cells(g: &BaseGraph, levels: Vec<LevelCells>) -> Partition {
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

/// The partitioner's levels: inside each region, recursive inertial-flow bisection until a part
/// has at most `thresholds[0]` junctions; level `k`'s cells are the largest parts of the
/// recursion with at most `thresholds[k]` junctions, so each level's cells are unions of the
/// level below's. Returns, per level, a global cell id per dense node.
fn nested_cells(g: &BaseGraph, region_of: &[u32], thresholds: &[usize]) -> Vec<Vec<u32>> {
    let mut cell_of = vec![vec![NONE; g.node_count()]; thresholds.len()];
    let Some(&smallest) = thresholds.first() else {
        return cell_of;
    };
    let mut next = vec![0u32; thresholds.len()];
    let regions = region_of
        .iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut parts: Vec<Vec<u32>> = vec![Vec::new(); regions];
    for (n, &r) in region_of.iter().enumerate() {
        parts[r as usize].push(n as u32);
    }
    let mut bisector = Bisector::new(g);
    let mut stack: Vec<Vec<u32>> = parts.into_iter().filter(|p| !p.is_empty()).rev().collect();
    while let Some(part) = stack.pop() {
        for (k, &t) in thresholds.iter().enumerate() {
            // The first (largest) part under a threshold becomes a cell of that level.
            if part.len() <= t && cell_of[k][part[0] as usize] == NONE {
                for &n in &part {
                    cell_of[k][n as usize] = next[k];
                }
                next[k] += 1;
            }
        }
        if part.len() > smallest {
            let (a, b) = bisector.bisect(&part);
            stack.push(b);
            stack.push(a);
        }
    }
    cell_of
}
