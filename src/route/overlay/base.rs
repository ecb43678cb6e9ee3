//! The road graph flattened for the overlay: every junction and directed edge of the store gets
//! one dense index, and every allowed turn becomes an arc between two edges with its (speed
//! independent) turn cost, forwards and backwards. Built once per graph; the searches and the
//! customization then never touch tiles or the turn rules again.

use crate::cost::{CostModel, SpeedSource};
use graph::{EdgeId, GlobalId, GraphStore, StoreError};

/// Dense edge-based view of a whole (non-partial) store.
pub struct BaseGraph {
    /// First dense node / edge index of each tile (`tiles + 1` entries).
    pub node_first: Vec<u32>,
    pub edge_first: Vec<u32>,
    /// Per dense edge: its tail and head node.
    pub tail: Vec<u32>,
    pub head: Vec<u32>,
    /// Per dense edge: length in metres (partial endpoints scale costs by it).
    pub length_m: Vec<f32>,
    /// Turn arcs by from-edge: `turn_to[turn_first[e]..turn_first[e + 1]]`.
    pub turn_first: Vec<u32>,
    pub turn_to: Vec<u32>,
    pub turn_s: Vec<f64>,
    /// The same arcs by to-edge, for the backward search.
    pub rev_first: Vec<u32>,
    pub rev_from: Vec<u32>,
    pub rev_s: Vec<f64>,
    /// Node positions `(lat, lon)`, for the partitioner.
    pub position: Vec<(f64, f64)>,
}

impl BaseGraph {
    /// Reads every tile of `store`; turn costs come from `model` (they do not depend on speeds).
    pub fn build<S: SpeedSource>(
        store: &GraphStore,
        model: &CostModel<S>,
    ) -> Result<BaseGraph, StoreError> {
        let tiles = store.tile_count();
        let mut node_first = Vec::with_capacity(tiles as usize + 1);
        let mut edge_first = Vec::with_capacity(tiles as usize + 1);
        let (mut nodes, mut edges) = (0u32, 0u32);
        for t in 0..tiles {
            let tile = store.tile(t)?;
            node_first.push(nodes);
            edge_first.push(edges);
            nodes += tile.node_count();
            edges += tile.edges.len() as u32;
        }
        node_first.push(nodes);
        edge_first.push(edges);
        let mut g = BaseGraph {
            node_first,
            edge_first,
            tail: Vec::with_capacity(edges as usize),
            head: Vec::with_capacity(edges as usize),
            length_m: Vec::with_capacity(edges as usize),
            turn_first: Vec::with_capacity(edges as usize + 1),
            turn_to: Vec::new(),
            turn_s: Vec::new(),
            rev_first: Vec::new(),
            rev_from: Vec::new(),
            rev_s: Vec::new(),
            position: Vec::with_capacity(nodes as usize),
        };
        for t in 0..tiles {
            let tile = store.tile(t)?;
            for n in 0..tile.node_count() {
                g.position.push(tile.node_position(n));
                for l in tile.out_edges(n) {
                    let e = tile.edge(l);
                    g.tail.push(g.node(GlobalId::new(t, n)));
                    g.head.push(g.node(GlobalId::new(
                        e.target_tile.to_native(),
                        e.target_local.to_native(),
                    )));
                    g.length_m.push(e.length_m.to_native());
                }
            }
        }
        for t in 0..tiles {
            let tile = store.tile(t)?;
            for l in 0..tile.edges.len() as u32 {
                g.turn_first.push(g.turn_to.len() as u32);
                let id = GlobalId::new(t, l);
                let e = tile.edge(l);
                let vt = e.target_tile.to_native();
                let v = e.target_local.to_native();
                let via = store.tile(vt)?;
                for f in via.out_edges(v) {
                    if let Some(turn) = model.turn_cost_s(via, v, id, e, f, via.edge(f)) {
                        g.turn_to.push(g.edge(GlobalId::new(vt, f)));
                        g.turn_s.push(turn);
                    }
                }
            }
        }
        g.turn_first.push(g.turn_to.len() as u32);
        // Reverse CSR by counting sort on the to-edge.
        let mut count = vec![0u32; edges as usize + 1];
        for &to in &g.turn_to {
            count[to as usize + 1] += 1;
        }
        for i in 0..edges as usize {
            count[i + 1] += count[i];
        }
        g.rev_first = count.clone();
        g.rev_from = vec![0; g.turn_to.len()];
        g.rev_s = vec![0.0; g.turn_to.len()];
        for from in 0..edges {
            for a in g.turn_first[from as usize]..g.turn_first[from as usize + 1] {
                let to = g.turn_to[a as usize] as usize;
                let slot = count[to] as usize;
                count[to] += 1;
                g.rev_from[slot] = from;
                g.rev_s[slot] = g.turn_s[a as usize];
            }
        }
        Ok(g)
    }

    pub fn node_count(&self) -> usize {
        self.position.len()
    }

    pub fn edge_count(&self) -> usize {
        self.tail.len()
    }

    #[inline]
    pub fn node(&self, id: GlobalId) -> u32 {
        self.node_first[id.tile as usize] + id.local
    }

    #[inline]
    pub fn edge(&self, id: EdgeId) -> u32 {
        self.edge_first[id.tile as usize] + id.local
    }

    /// The store id of a dense edge index.
    pub fn edge_id(&self, e: u32) -> EdgeId {
        let t = self.edge_first.partition_point(|&f| f <= e) - 1;
        GlobalId::new(t as u32, e - self.edge_first[t])
    }

    /// Tile of a dense node index.
    pub fn node_tile(&self, n: u32) -> u32 {
        (self.node_first.partition_point(|&f| f <= n) - 1) as u32
    }

    /// Turn arcs leaving edge `e`: `(to edge, turn seconds)`.
    #[inline]
    pub fn turns(&self, e: u32) -> impl Iterator<Item = (u32, f64)> + '_ {
        let r = self.turn_first[e as usize] as usize..self.turn_first[e as usize + 1] as usize;
        self.turn_to[r.clone()]
            .iter()
            .copied()
            .zip(self.turn_s[r].iter().copied())
    }

    /// Turn arcs arriving on edge `e`: `(from edge, turn seconds)`.
    #[inline]
    pub fn turns_into(&self, e: u32) -> impl Iterator<Item = (u32, f64)> + '_ {
        let r = self.rev_first[e as usize] as usize..self.rev_first[e as usize + 1] as usize;
        self.rev_from[r.clone()]
            .iter()
            .copied()
            .zip(self.rev_s[r].iter().copied())
    }

    /// Seconds of the turn from `from` onto `to`, if that turn is allowed.
    pub fn turn_cost(&self, from: u32, to: u32) -> Option<f64> {
        self.turns(from).find(|&(t, _)| t == to).map(|(_, s)| s)
    }

    /// Bytes held (for the benchmark's memory figure).
    pub fn bytes(&self) -> usize {
        4 * (self.node_first.len()
            + self.edge_first.len()
            + self.tail.len()
            + self.head.len()
            + self.length_m.len()
            + self.turn_first.len()
            + self.turn_to.len()
            + self.rev_first.len()
            + self.rev_from.len())
            + 8 * (self.turn_s.len() + self.rev_s.len())
            + 16 * self.position.len()
    }
}
