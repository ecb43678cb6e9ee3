//! The on-disk format of one geohash tile (an rkyv archive, memory-mapped and read in place).
//!
//! A tile holds the junction nodes whose position falls in its cell, the directed edges leaving
//! them (CSR: `node_first_edge`), each edge's full shape, the turn restrictions whose via node is
//! here, and a grid index of every edge shape crossing the cell (also edges of other tiles), so
//! that snapping never has to look further than the cells around a point.
//!
//! `overlay` is reserved for per-tile boundary-to-boundary shortcuts (a later multi-level search)
//! so that adding them is not a format rewrite.

use rkyv::{Archive, Deserialize, Serialize};

use crate::{EdgeId, GlobalId, NodeId, NONE};
use spatial::LatLon;

/// Bumped whenever an archived layout changes; the store refuses other versions.
pub const TILE_FORMAT_VERSION: u32 = 4;

/// Coordinates are stored as fixed point with 1e-7 degree resolution (~1 cm), as OSM does.
pub const COORD_SCALE: f64 = 1e7;

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Coord {
    pub lat_e7: i32,
    pub lon_e7: i32,
}

impl Coord {
    pub fn from_degrees(p: LatLon) -> Self {
        Coord {
            lat_e7: (p.lat * COORD_SCALE).round() as i32,
            lon_e7: (p.lon * COORD_SCALE).round() as i32,
        }
    }
}

impl ArchivedCoord {
    #[inline]
    pub fn degrees(&self) -> LatLon {
        LatLon::new(
            self.lat_e7.to_native() as f64 / COORD_SCALE,
            self.lon_e7.to_native() as f64 / COORD_SCALE,
        )
    }
}

/// Edge flag bits.
pub mod flags {
    /// Part of a roundabout (`junction=roundabout|circular`).
    pub const ROUNDABOUT: u8 = 1;
    /// Snapping may start or end a route here (the edge belongs to the routable core).
    pub const SNAPPABLE: u8 = 2;
    /// A tolled road: the way is `toll=yes` (or `toll:motorcar=yes`), or a `barrier=toll_booth`
    /// lies on the edge. Written by imports whose manifest lists `toll` in `edge_flags`.
    pub const TOLL: u8 = 4;
    /// A road that is also a ferry line (`route=ferry` on a car-class `highway`). Written by
    /// imports whose manifest lists `ferry` in `edge_flags`.
    pub const FERRY: u8 = 8;
}

/// A directed edge: a degree-2 chain of OSM nodes between two junctions, driven one way.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Edge {
    /// Head node (may be in another tile).
    pub target_tile: u32,
    pub target_local: u32,
    /// The same road driven the other way, if it is drivable that way ([`super::NONE`] if not).
    pub twin_tile: u32,
    pub twin_local: u32,
    pub length_m: f32,
    /// Free-flow speed from class and maxspeed; traffic overrides it at query time.
    pub speed_kmh: f32,
    /// Shape points in travel order, both end nodes included: `shapes[shape_first..][..shape_len]`.
    pub shape_first: u32,
    pub shape_len: u32,
    /// Index into the tile's `names`.
    pub name: u32,
    pub reference: u32,
    /// Index into `names`: the signposted destinations in this direction (`""` when none).
    pub destinations: u32,
    /// Index into `names`: the `turn:lanes` arrows at this direction's end (`""` when none).
    pub turn_lanes: u32,
    pub way_id: i64,
    /// Bearing leaving the tail node and arriving at the head node, whole degrees.
    pub bearing_start: u16,
    pub bearing_end: u16,
    pub class: u8,
    pub flags: u8,
    /// Traffic signals passed on this edge (each costs a fixed delay).
    pub signals: u8,
}

/// Plain values of an archived edge, so that callers never decode packed fields themselves.
impl ArchivedEdge {
    /// The head node (may be in another tile).
    #[inline]
    pub fn target(&self) -> NodeId {
        GlobalId::new(self.target_tile.to_native(), self.target_local.to_native())
    }

    /// The same road driven the other way, if it is drivable that way.
    #[inline]
    pub fn twin(&self) -> Option<EdgeId> {
        let tile = self.twin_tile.to_native();
        (tile != NONE).then(|| GlobalId::new(tile, self.twin_local.to_native()))
    }

    #[inline]
    pub fn length_m(&self) -> f32 {
        self.length_m.to_native()
    }

    /// Free-flow speed (class and maxspeed), before traffic.
    #[inline]
    pub fn speed_kmh(&self) -> f32 {
        self.speed_kmh.to_native()
    }

    /// Index of the first shape point in the tile's `shapes`.
    #[inline]
    pub fn shape_first(&self) -> u32 {
        self.shape_first.to_native()
    }

    /// Index of the street name in the tile's `names`.
    #[inline]
    pub fn name_index(&self) -> u32 {
        self.name.to_native()
    }

    /// Index of the road reference (`ref`) in the tile's `names`.
    #[inline]
    pub fn reference_index(&self) -> u32 {
        self.reference.to_native()
    }

    /// Index of the signposted destinations in the tile's `names`.
    #[inline]
    pub fn destinations_index(&self) -> u32 {
        self.destinations.to_native()
    }

    /// Index of the `turn:lanes` arrows in the tile's `names`.
    #[inline]
    pub fn turn_lanes_index(&self) -> u32 {
        self.turn_lanes.to_native()
    }

    #[inline]
    pub fn way_id(&self) -> i64 {
        self.way_id.to_native()
    }

    /// Bearing leaving the tail node, whole degrees.
    #[inline]
    pub fn bearing_start(&self) -> u16 {
        self.bearing_start.to_native()
    }

    /// Bearing arriving at the head node, whole degrees.
    #[inline]
    pub fn bearing_end(&self) -> u16 {
        self.bearing_end.to_native()
    }
}

/// A forbidden turn at a via node of this tile: arriving on `from` (any tile), leaving on the
/// local edge `to_local`.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct ForbiddenTurn {
    pub from_tile: u32,
    pub from_local: u32,
    pub to_local: u32,
}

impl ArchivedForbiddenTurn {
    /// The edge the turn arrives on.
    #[inline]
    pub fn from(&self) -> EdgeId {
        GlobalId::new(self.from_tile.to_native(), self.from_local.to_native())
    }

    /// The local edge of the via node's tile the turn would leave on.
    #[inline]
    pub fn to_local(&self) -> u32 {
        self.to_local.to_native()
    }
}

/// One indexed piece of shape: segment `segment` (points `segment` and `segment + 1`) of an edge.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct SnapItem {
    pub edge_tile: u32,
    pub edge_local: u32,
    pub segment: u32,
}

/// A uniform grid over the tile's cell; bucket `row * cols + col` lists the shape segments whose
/// bounding box touches it.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct SnapGrid {
    pub min_lat: f64,
    pub min_lon: f64,
    pub cell_lat: f64,
    pub cell_lon: f64,
    pub rows: u32,
    pub cols: u32,
    /// `rows * cols + 1` offsets into `items`.
    pub bucket_first: Vec<u32>,
    pub items: Vec<SnapItem>,
}

/// Reserved: a shortcut between two boundary nodes of this tile (multi-level search, later).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Shortcut {
    pub from_local: u32,
    pub to_local: u32,
    pub cost_s: f32,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Tile {
    pub format_version: u32,
    pub geohash: String,
    pub index: u32,
    pub node_coords: Vec<Coord>,
    /// `nodes + 1` offsets into `edges`: edges leaving node `i` are `edges[first[i]..first[i+1]]`.
    pub node_first_edge: Vec<u32>,
    /// `nodes + 1` offsets into `forbidden_turns`, by via node.
    pub node_first_turn: Vec<u32>,
    /// OSM id of each node, for debugging and traffic export.
    pub node_osm_ids: Vec<i64>,
    /// Number of distinct roads meeting at each node (a turn only costs time where there is a
    /// choice, and U-turns are only allowed at dead ends).
    pub node_roads: Vec<u8>,
    pub edges: Vec<Edge>,
    pub shapes: Vec<Coord>,
    /// OSM node id of each shape point (OSRM's `annotations=nodes`).
    pub shape_osm_ids: Vec<i64>,
    pub names: Vec<String>,
    pub forbidden_turns: Vec<ForbiddenTurn>,
    /// Landmarks of the whole graph (ALT heuristic): free-flow seconds from each landmark to each
    /// node (`landmark_from[node * landmark_count + i]`) and from each node to each landmark.
    pub landmark_count: u32,
    pub landmark_from: Vec<f32>,
    pub landmark_to: Vec<f32>,
    pub snap: SnapGrid,
    pub overlay: Vec<Shortcut>,
}

/// Free-flow seconds between one node and every landmark, as stored (f32).
#[derive(Clone, Copy)]
pub struct LandmarkTimes<'a>(&'a [rkyv::Archived<f32>]);

impl LandmarkTimes<'_> {
    #[inline]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Seconds for landmark `i`.
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        self.0[i].to_native() as f64
    }

    pub fn to_vec(&self) -> Vec<f64> {
        self.0.iter().map(|v| v.to_native() as f64).collect()
    }
}

impl ArchivedTile {
    /// This tile's position in the manifest's tile list.
    #[inline]
    pub fn index(&self) -> u32 {
        self.index.to_native()
    }

    /// Landmarks stored per node (0 when the graph was built without them).
    #[inline]
    pub fn landmark_count(&self) -> u32 {
        self.landmark_count.to_native()
    }

    #[inline]
    pub fn node_count(&self) -> u32 {
        self.node_coords.len() as u32
    }

    /// Local indexes of the edges leaving `node`.
    #[inline]
    pub fn out_edges(&self, node: u32) -> std::ops::Range<u32> {
        let i = node as usize;
        self.node_first_edge[i].to_native()..self.node_first_edge[i + 1].to_native()
    }

    /// Seconds from each landmark to `node`, and from `node` to each landmark.
    #[inline]
    pub fn landmarks_at(&self, node: u32) -> (LandmarkTimes<'_>, LandmarkTimes<'_>) {
        let k = self.landmark_count() as usize;
        let a = node as usize * k;
        (
            LandmarkTimes(&self.landmark_from[a..a + k]),
            LandmarkTimes(&self.landmark_to[a..a + k]),
        )
    }

    /// OSM id of a node of this tile.
    #[inline]
    pub fn osm_id(&self, node: u32) -> i64 {
        self.node_osm_ids[node as usize].to_native()
    }

    #[inline]
    pub fn roads_at(&self, node: u32) -> u8 {
        self.node_roads[node as usize]
    }

    #[inline]
    pub fn node_location(&self, node: u32) -> LatLon {
        self.node_coords[node as usize].degrees()
    }

    /// [`ArchivedTile::node_location`] as a `(lat, lon)` pair, the form the overlay's partitioner
    /// keeps.
    #[inline]
    pub fn node_position(&self, node: u32) -> (f64, f64) {
        let p = self.node_location(node);
        (p.lat, p.lon)
    }

    /// Local index of the node an edge of this tile leaves from.
    pub fn edge_source(&self, edge_local: u32) -> u32 {
        let firsts = &self.node_first_edge[..];
        (firsts.partition_point(|f| f.to_native() <= edge_local) - 1) as u32
    }

    #[inline]
    pub fn forbidden_turns_at(&self, node: u32) -> &[ArchivedForbiddenTurn] {
        let i = node as usize;
        let a = self.node_first_turn[i].to_native() as usize;
        let b = self.node_first_turn[i + 1].to_native() as usize;
        &self.forbidden_turns[a..b]
    }

    #[inline]
    pub fn edge(&self, local: u32) -> &ArchivedEdge {
        &self.edges[local as usize]
    }

    /// Shape of an edge in travel order.
    pub fn shape(&self, edge: &ArchivedEdge) -> impl ExactSizeIterator<Item = LatLon> + '_ {
        let a = edge.shape_first() as usize;
        let n = edge.shape_len.to_native() as usize;
        self.shapes[a..a + n].iter().map(|c| c.degrees())
    }

    /// OSM node ids of an edge's shape points, in travel order (parallel to [`Self::shape`]).
    pub fn shape_osm_ids(&self, edge: &ArchivedEdge) -> impl ExactSizeIterator<Item = i64> + '_ {
        let a = edge.shape_first() as usize;
        let n = edge.shape_len.to_native() as usize;
        self.shape_osm_ids[a..a + n].iter().map(|id| id.to_native())
    }

    /// The two ends of shape segment `segment` of an edge (points `segment` and `segment + 1`).
    #[inline]
    pub fn segment(&self, edge: &ArchivedEdge, segment: u32) -> (LatLon, LatLon) {
        let i = (edge.shape_first() + segment) as usize;
        (self.shapes[i].degrees(), self.shapes[i + 1].degrees())
    }

    pub fn name(&self, index: u32) -> &str {
        self.names
            .get(index as usize)
            .map(|s| s.as_str())
            .unwrap_or("")
    }
}
