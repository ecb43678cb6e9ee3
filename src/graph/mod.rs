//! The tiled road graph: identifiers, the on-disk tile format, the manifest, the lazy tile store
//! and the importer that builds all of it from OpenStreetMap, for cars ([`profile`]) or walkers
//! ([`foot`]), one graph per [`Profile`].
//!
//! Every node and edge lives in exactly one geohash tile. Ids are `(tile index, local index)`;
//! the tile index is the position of the tile's geohash in the manifest's sorted tile list.

pub mod build;
pub mod exclude;
pub mod foot;
pub mod manifest;
pub mod mode;
pub mod nearby;
pub mod profile;
pub mod store;
pub mod tile;

pub use exclude::Exclude;
pub use manifest::Manifest;
pub use mode::Profile;
pub use store::{GraphStore, StoreError};

/// Sentinel for "no such tile / edge" in packed fields of the tile format.
pub const NONE: u32 = u32::MAX;

/// A node or edge address: the tile it lives in and its index inside that tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GlobalId {
    pub tile: u32,
    pub local: u32,
}

impl GlobalId {
    pub const fn new(tile: u32, local: u32) -> Self {
        GlobalId { tile, local }
    }
    /// One `u64` for heaps and hash keys.
    #[inline]
    pub const fn pack(self) -> u64 {
        ((self.tile as u64) << 32) | self.local as u64
    }
    #[inline]
    pub const fn unpack(v: u64) -> Self {
        GlobalId {
            tile: (v >> 32) as u32,
            local: v as u32,
        }
    }
}

/// Id of a directed edge.
pub type EdgeId = GlobalId;
/// Id of a junction node.
pub type NodeId = GlobalId;
