//! The customizable multi-level overlay (CRP, as OSRM's MLD): nested cells over the tiles
//! ([`partition`]), exact entry-to-exit costs per cell computed from the one cost model and
//! refreshed cell by cell as speeds change ([`customize`]), a bidirectional multi-level Dijkstra
//! that searches the road graph only in the cells of the two ends ([`query`]), and the unpacking
//! of its arcs back into road edges ([`unpack`]). The plain A* (`super::search`) stays the
//! reference the tests compare against.
//!
//! [`Overlay`] is the weight-independent part (built once per graph); [`Weights`] are one
//! customization; [`LiveOverlay`] holds the current weights and swaps in new ones atomically.

pub mod base;
pub mod customize;
pub mod inertial;
pub mod many_to_many;
pub mod partition;
pub mod query;
pub mod stored;
pub mod unpack;

pub use customize::{CustomizeStats, Weights};
pub use partition::OverlayConfig;
pub use query::QuerySpace;

use crate::cost::{CostModel, SpeedSource};
use base::BaseGraph;
use customize::Customizer;
use graph::{GraphStore, StoreError};
use partition::Partition;
use std::sync::{Arc, Condvar, Mutex, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("the overlay needs the whole graph; this store holds only some tiles (a bundle)")]
    PartialStore,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stored(#[from] stored::StoredPartitionError),
}

/// Per-level boundary figures (what the partition choice is measured by).
#[derive(Clone, Debug)]
pub struct LevelStats {
    pub name: String,
    pub cells: u32,
    pub mean_entries: f64,
    pub max_entries: usize,
    pub mean_exits: f64,
    pub max_exits: usize,
    /// Entry × exit pairs over all cells.
    pub clique_entries: usize,
}

/// Where an overlay's cells came from.
#[derive(Clone, Debug, PartialEq)]
pub enum PartitionSource {
    /// Read from the graph directory's stored partition ([`stored`]).
    Stored,
    /// Cut at start: there was no stored partition, or it could not be used (the reason).
    Built { unusable_file: Option<String> },
}

/// The weight-independent overlay of one graph: flattened edges and turns, and the cells.
pub struct Overlay {
    pub graph: BaseGraph,
    pub partition: Partition,
    pub config: OverlayConfig,
    /// Worker threads of a customization.
    pub threads: usize,
    pub source: PartitionSource,
}

impl Overlay {
    /// Builds the overlay of `store`; turn costs come from `model`.
    pub fn build<S: SpeedSource>(
        store: &GraphStore,
        model: &CostModel<S>,
        config: OverlayConfig,
    ) -> Result<Overlay, OverlayError> {
        if store.is_partial() {
            return Err(OverlayError::PartialStore);
        }
        let graph = BaseGraph::build(store, model)?;
        // The stored cells when they were cut for this graph and configuration; a damaged or
        // stale file is not fatal (the cells are cut again), only slower to start.
        let (levels, source) = match stored::read_for(store, &config, graph.node_count()) {
            Ok(Some(levels)) => (levels, PartitionSource::Stored),
            Ok(None) => (
                Partition::cells(store, &graph, &config),
                PartitionSource::Built {
                    unusable_file: None,
                },
            ),
            Err(e) => (
                Partition::cells(store, &graph, &config),
                PartitionSource::Built {
                    unusable_file: Some(e.to_string()),
                },
            ),
        };
        let partition = Partition::from_cells(&graph, levels);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        Ok(Overlay {
            graph,
            partition,
            config,
            threads,
            source,
        })
    }

    /// Cuts the cells of `store`'s graph and stores them beside its tiles, listed in its
    /// manifest ([`stored`]), so that later [`Overlay::build`]s read them instead.
    pub fn store_partition<S: SpeedSource>(
        store: &GraphStore,
        model: &CostModel<S>,
        config: &OverlayConfig,
    ) -> Result<graph::manifest::SidecarEntry, OverlayError> {
        if store.is_partial() {
            return Err(OverlayError::PartialStore);
        }
        let graph = BaseGraph::build(store, model)?;
        Ok(stored::write_for(store, &graph, config)?)
    }

    fn customizer(&self) -> Customizer<'_> {
        Customizer {
            g: &self.graph,
            p: &self.partition,
            threads: self.threads,
        }
    }

    /// Every cell's clique from scratch under `model`'s speeds.
    pub fn customize<S: SpeedSource>(
        &self,
        store: &GraphStore,
        model: &CostModel<S>,
    ) -> Result<(Weights, CustomizeStats), OverlayError> {
        Ok(self.customize_costs(customize::edge_costs(store, model)?))
    }

    /// Every cell's clique from scratch, from per dense edge costs.
    pub fn customize_costs(&self, cost: Vec<f64>) -> (Weights, CustomizeStats) {
        self.customizer().full(cost)
    }

    /// New weights under `model`, recomputing only the cells whose edge costs changed since
    /// `old`.
    pub fn update<S: SpeedSource>(
        &self,
        old: &Weights,
        store: &GraphStore,
        model: &CostModel<S>,
    ) -> Result<(Weights, CustomizeStats), OverlayError> {
        Ok(self.update_costs(old, customize::edge_costs(store, model)?))
    }

    pub fn update_costs(&self, old: &Weights, cost: Vec<f64>) -> (Weights, CustomizeStats) {
        self.customizer().update(old, cost)
    }

    pub fn level_stats(&self) -> Vec<LevelStats> {
        self.partition
            .levels
            .iter()
            .map(|l| {
                let sizes: Vec<(usize, usize)> = (0..l.cells)
                    .map(|c| (l.entries.of(c).len(), l.exits.of(c).len()))
                    .collect();
                let n = sizes.len().max(1) as f64;
                LevelStats {
                    name: l.name.clone(),
                    cells: l.cells,
                    mean_entries: sizes.iter().map(|s| s.0).sum::<usize>() as f64 / n,
                    max_entries: sizes.iter().map(|s| s.0).max().unwrap_or(0),
                    mean_exits: sizes.iter().map(|s| s.1).sum::<usize>() as f64 / n,
                    max_exits: sizes.iter().map(|s| s.1).max().unwrap_or(0),
                    clique_entries: sizes.iter().map(|s| s.0 * s.1).sum(),
                }
            })
            .collect()
    }

    /// Bytes of the weight-independent part.
    pub fn bytes(&self) -> usize {
        self.graph.bytes() + self.partition.bytes()
    }
}

/// One customization as published: its weights and the traffic snapshot time it reflects.
pub struct Customized {
    pub weights: Weights,
    pub traffic_published_ms: i64,
    pub stats: CustomizeStats,
}

/// The overlay with its current weights, replaced as a whole (one `Arc`) by each customization,
/// so a query never waits on the customizer and always sees one consistent set of weights.
pub struct LiveOverlay {
    pub overlay: Overlay,
    current: RwLock<Arc<Customized>>,
    /// Set by [`LiveOverlay::request_update`], taken by the customizer thread.
    pending: Mutex<bool>,
    wake: Condvar,
}

impl LiveOverlay {
    pub fn new(overlay: Overlay, first: Customized) -> Self {
        LiveOverlay {
            overlay,
            current: RwLock::new(Arc::new(first)),
            pending: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    pub fn current(&self) -> Arc<Customized> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn publish(&self, next: Customized) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
    }

    /// Asks the customizer thread for an update; returns at once (safe on the async runtime).
    pub fn request_update(&self) {
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_one();
    }

    /// Blocks until an update was requested (or `timeout` passed); true if one was.
    pub fn wait_for_request(&self, timeout: std::time::Duration) -> bool {
        let guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (mut guard, _) = self
            .wake
            .wait_timeout_while(guard, timeout, |p| !*p)
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *guard)
    }
}
