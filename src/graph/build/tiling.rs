//! Cuts the junction graph into geohash tiles and writes them: nodes go to the cell of their
//! position, edges to the tile of their tail node, shapes with their edge, forbidden turns with
//! their via node, and every edge segment into the snap grid of each cell it crosses (cells with
//! road but no junction still get a tile, so snapping finds them).

use super::landmarks::Landmarks;
use super::osm::OsmData;
use super::topology::Topology;
use super::BuildError;
use crate::exclude::WRITTEN_EDGE_FLAGS;
use crate::manifest::{Counts, Manifest, TileEntry};
use crate::store::{hex, sha256_hex};
use crate::tile::{
    flags, Coord, Edge, ForbiddenTurn, SnapGrid, SnapItem, Tile, TILE_FORMAT_VERSION,
};
use crate::NONE;
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use spatial::geohash::{self, Cell};
use spatial::{BBox, LatLon};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Snap grid buckets aim at this size: small enough that a bucket holds a handful of segments.
const SNAP_BUCKET_M: f64 = 100.0;
/// Bearings are measured over at least this much shape, so GPS jitter in the first metres of a
/// way does not turn a straight road into a turn.
const BEARING_SPAN_M: f64 = 10.0;

pub struct TilingInput<'a> {
    pub osm: &'a OsmData,
    pub topo: &'a Topology,
    pub landmarks: &'a Landmarks,
    pub precision: usize,
    pub name: &'a str,
    pub source: &'a str,
    pub profile: crate::mode::Profile,
}

pub fn write_tiles(
    input: &TilingInput,
    out_dir: &Path,
    progress: &ProgressBar,
) -> Result<Manifest, BuildError> {
    let layout = Layout::new(input.topo, input.precision)?;
    std::fs::create_dir_all(out_dir.join("tiles")).map_err(|e| BuildError::io(out_dir, e))?;
    progress.set_length(layout.cells.len() as u64);
    progress.set_position(0);
    progress.set_message("writing tiles");
    let mut entries = Vec::with_capacity(layout.cells.len());
    let mut max_speed = 0f32;
    let mut shape_points = 0u64;
    let mut version = Sha256::new();
    for (t, &cell) in layout.cells.iter().enumerate() {
        let tile = build_tile(input, &layout, t as u32, cell)?;
        max_speed = tile.edges.iter().fold(max_speed, |m, e| m.max(e.speed_kmh));
        shape_points += tile.shapes.len() as u64;
        let entry = write_tile(out_dir, cell, &tile)?;
        version.update(entry.sha256.as_bytes());
        entries.push(entry);
        progress.inc(1);
    }
    Ok(manifest(
        input,
        entries,
        &version.finalize()[..8],
        max_speed,
        shape_points,
    ))
}

/// Where everything goes: the tiles' cells in order, the (tile, local) address of each junction
/// and directed edge, the junctions of each tile, the edges leaving each junction, the forbidden
/// turns by via junction, and the road segments crossing each cell.
struct Layout {
    cells: Vec<Cell>,
    cell_segments: BTreeMap<Cell, Vec<(u32, u32)>>,
    tile_nodes: Vec<Vec<u32>>,
    node_addr: Vec<(u32, u32)>,
    out_edges: Vec<Vec<u32>>,
    edge_addr: Vec<(u32, u32)>,
    turns_at: Vec<Vec<(u32, u32)>>,
}

impl Layout {
    fn new(topo: &Topology, precision: usize) -> Result<Layout, BuildError> {
        let cell_nodes = junctions_by_cell(topo, precision)?;
        let cell_segments = segments_by_cell(topo, precision);
        // Cells with road but no junction get a tile too, so snapping finds their roads.
        let mut cells: Vec<Cell> = cell_nodes
            .keys()
            .chain(cell_segments.keys())
            .copied()
            .collect();
        cells.sort();
        cells.dedup();
        let tile_of_cell: HashMap<Cell, u32> = cells
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u32))
            .collect();

        // Junction -> (tile, local).
        let mut node_addr = vec![(0u32, 0u32); topo.junction_coords.len()];
        let mut tile_nodes: Vec<Vec<u32>> = vec![Vec::new(); cells.len()];
        for (cell, mut nodes) in cell_nodes {
            nodes.sort();
            let t = tile_of_cell[&cell];
            for (local, (_, j)) in nodes.iter().enumerate() {
                node_addr[*j as usize] = (t, local as u32);
            }
            tile_nodes[t as usize] = nodes.into_iter().map(|(_, j)| j).collect();
        }

        // Directed edge -> (tile, local): grouped by tail node in node order.
        let mut out_edges: Vec<Vec<u32>> = vec![Vec::new(); topo.junction_coords.len()];
        for (e, edge) in topo.edges.iter().enumerate() {
            out_edges[edge.from as usize].push(e as u32);
        }
        let mut edge_addr = vec![(0u32, 0u32); topo.edges.len()];
        for (t, nodes) in tile_nodes.iter().enumerate() {
            let mut local = 0u32;
            for &j in nodes {
                for &e in &out_edges[j as usize] {
                    edge_addr[e as usize] = (t as u32, local);
                    local += 1;
                }
            }
        }

        let mut turns_at: Vec<Vec<(u32, u32)>> = vec![Vec::new(); topo.junction_coords.len()];
        for &(i, o) in &topo.forbidden {
            turns_at[topo.edges[o as usize].from as usize].push((i, o));
        }
        Ok(Layout {
            cells,
            cell_segments,
            tile_nodes,
            node_addr,
            out_edges,
            edge_addr,
            turns_at,
        })
    }
}

/// Junctions by the cell that holds them, each with its fine cell: sorted by that within a
/// tile (Z-order), neighbours in space are neighbours in memory.
fn junctions_by_cell(
    topo: &Topology,
    precision: usize,
) -> Result<BTreeMap<Cell, Vec<(Cell, u32)>>, BuildError> {
    let mut cell_nodes: BTreeMap<Cell, Vec<(Cell, u32)>> = BTreeMap::new();
    for (j, &c) in topo.junction_coords.iter().enumerate() {
        let fine = Cell::containing(c, geohash::MAX_PRECISION)
            .map_err(|e| BuildError::Geometry(e.to_string()))?;
        cell_nodes
            .entry(fine.ancestor(precision))
            .or_default()
            .push((fine, j as u32));
    }
    Ok(cell_nodes)
}

/// Edge segments `(edge, segment)` per crossed cell; one direction of a two-way road is enough
/// for snapping.
fn segments_by_cell(topo: &Topology, precision: usize) -> BTreeMap<Cell, Vec<(u32, u32)>> {
    let mut cell_segments: BTreeMap<Cell, Vec<(u32, u32)>> = BTreeMap::new();
    for (e, edge) in topo.edges.iter().enumerate() {
        if edge.twin.is_some_and(|t| (t as usize) < e) {
            continue;
        }
        let pts = &topo.chains[edge.chain as usize].points;
        for s in 0..pts.len() - 1 {
            let mut bb = BBox::empty();
            bb.expand(pts[s]);
            bb.expand(pts[s + 1]);
            for cell in geohash::cells_covering(&bb, precision) {
                cell_segments
                    .entry(cell)
                    .or_default()
                    .push((e as u32, s as u32));
            }
        }
    }
    cell_segments
}

/// Tile `t` (of `cell`): its junctions with their landmark times, the edges leaving them with
/// their shapes, the forbidden turns at them, and the snap grid of the cell.
fn build_tile(
    input: &TilingInput,
    layout: &Layout,
    t: u32,
    cell: Cell,
) -> Result<Tile, BuildError> {
    let topo = input.topo;
    let mut names = Interner::default();
    let nodes = &layout.tile_nodes[t as usize];
    let k = input.landmarks.count;
    let mut tile = Tile {
        format_version: TILE_FORMAT_VERSION,
        geohash: cell.to_string(),
        index: t,
        node_coords: Vec::with_capacity(nodes.len()),
        node_first_edge: Vec::with_capacity(nodes.len() + 1),
        node_first_turn: Vec::with_capacity(nodes.len() + 1),
        node_osm_ids: Vec::with_capacity(nodes.len()),
        node_roads: Vec::with_capacity(nodes.len()),
        edges: Vec::new(),
        shapes: Vec::new(),
        shape_osm_ids: Vec::new(),
        names: Vec::new(),
        forbidden_turns: Vec::new(),
        landmark_count: k as u32,
        landmark_from: Vec::with_capacity(nodes.len() * k),
        landmark_to: Vec::with_capacity(nodes.len() * k),
        snap: SnapGrid::default(),
        overlay: Vec::new(),
    };
    for &j in nodes {
        let c = topo.junction_coords[j as usize];
        tile.node_coords.push(Coord::from_degrees(c));
        tile.node_osm_ids.push(topo.junction_osm_ids[j as usize]);
        tile.node_roads.push(topo.junction_roads[j as usize]);
        let a = j as usize * k;
        tile.landmark_from
            .extend_from_slice(&input.landmarks.from[a..a + k]);
        tile.landmark_to
            .extend_from_slice(&input.landmarks.to[a..a + k]);
        tile.node_first_edge.push(tile.edges.len() as u32);
        tile.node_first_turn.push(tile.forbidden_turns.len() as u32);
        for &e in &layout.out_edges[j as usize] {
            push_edge(input, layout, e, &mut tile, &mut names);
        }
        for &(i, o) in &layout.turns_at[j as usize] {
            let (from_tile, from_local) = layout.edge_addr[i as usize];
            tile.forbidden_turns.push(ForbiddenTurn {
                from_tile,
                from_local,
                to_local: layout.edge_addr[o as usize].1,
            });
        }
    }
    tile.node_first_edge.push(tile.edges.len() as u32);
    tile.node_first_turn.push(tile.forbidden_turns.len() as u32);
    tile.names = names.into_strings();
    tile.snap = snap_grid(
        cell,
        layout
            .cell_segments
            .get(&cell)
            .map(|v| v.as_slice())
            .unwrap_or(&[]),
        topo,
        &layout.edge_addr,
    )?;
    Ok(tile)
}

/// Appends directed edge `e` (leaving a junction of `tile`) and its shape in travel order.
fn push_edge(input: &TilingInput, layout: &Layout, e: u32, tile: &mut Tile, names: &mut Interner) {
    let edge = &input.topo.edges[e as usize];
    let chain = &input.topo.chains[edge.chain as usize];
    let way = &input.osm.ways[chain.way as usize];
    let mut pts = chain.points.clone();
    let mut ids = chain.osm_ids.clone();
    if edge.reversed {
        pts.reverse();
        ids.reverse();
    }
    let (target_tile, target_local) = layout.node_addr[edge.to as usize];
    let (twin_tile, twin_local) = edge
        .twin
        .map(|tw| layout.edge_addr[tw as usize])
        .unwrap_or((NONE, NONE));
    let mut edge_flags = flags::SNAPPABLE;
    if way.profile.roundabout {
        edge_flags |= flags::ROUNDABOUT;
    }
    if way.profile.toll || chain.toll_booth {
        edge_flags |= flags::TOLL;
    }
    if way.profile.ferry {
        edge_flags |= flags::FERRY;
    }
    tile.edges.push(Edge {
        target_tile,
        target_local,
        twin_tile,
        twin_local,
        length_m: chain.length_m as f32,
        speed_kmh: edge.speed_kmh,
        shape_first: tile.shapes.len() as u32,
        shape_len: pts.len() as u32,
        name: names.intern(&way.profile.name),
        reference: names.intern(&way.profile.reference),
        destinations: names.intern(if edge.reversed {
            &way.profile.signs.destinations_backward
        } else {
            &way.profile.signs.destinations_forward
        }),
        // Lane arrows belong to the approach of the way's end, not to junctions along it.
        turn_lanes: names.intern(
            match (edge.reversed, ids.last(), way.refs.first(), way.refs.last()) {
                (false, Some(head), _, Some(end)) if head == end => {
                    &way.profile.signs.turn_lanes_forward
                }
                (true, Some(head), Some(start), _) if head == start => {
                    &way.profile.signs.turn_lanes_backward
                }
                _ => "",
            },
        ),
        way_id: way.id,
        bearing_start: start_bearing(&pts),
        bearing_end: end_bearing(&pts),
        class: way.profile.class.as_u8(),
        flags: edge_flags,
        signals: if edge.reversed {
            chain.signals_backward
        } else {
            chain.signals_forward
        },
    });
    tile.shapes
        .extend(pts.iter().map(|&p| Coord::from_degrees(p)));
    tile.shape_osm_ids.extend(ids);
}

/// Writes a tile's archive under `tiles/` and returns its manifest entry.
fn write_tile(out_dir: &Path, cell: Cell, tile: &Tile) -> Result<TileEntry, BuildError> {
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(tile)
        .map_err(|e| BuildError::Serialize(e.to_string()))?;
    let file = format!("tiles/{cell}.rkyv");
    std::fs::write(out_dir.join(&file), &bytes).map_err(|e| BuildError::io(out_dir, e))?;
    Ok(TileEntry {
        geohash: cell.to_string(),
        file,
        nodes: tile.node_coords.len() as u32,
        edges: tile.edges.len() as u32,
        bytes: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
    })
}

/// The manifest of the written tiles; `version` is the first bytes of the hash over their
/// checksums.
fn manifest(
    input: &TilingInput,
    entries: Vec<TileEntry>,
    version: &[u8],
    max_speed_kmh: f32,
    shape_points: u64,
) -> Manifest {
    let topo = input.topo;
    let mut bbox = BBox::empty();
    for &p in &topo.junction_coords {
        bbox.expand(p);
    }
    let osm = input.osm;
    Manifest {
        format_version: TILE_FORMAT_VERSION,
        name: input.name.to_string(),
        profile: input.profile,
        source: input.source.to_string(),
        graph_version: hex(version),
        geohash_precision: input.precision,
        sidecars: Vec::new(),
        edge_flags: WRITTEN_EDGE_FLAGS.iter().map(|f| f.to_string()).collect(),
        bbox,
        max_speed_kmh,
        counts: Counts {
            osm_ways_used: osm.ways.len() as u64,
            osm_nodes_used: topo.osm_nodes_used,
            dangling_node_refs: topo.dangling_node_refs,
            junctions: topo.junction_coords.len() as u64,
            directed_edges: topo.edges.len() as u64,
            shape_points,
            turn_restrictions: topo.forbidden.len() as u64,
            turn_restrictions_skipped: topo.restrictions_skipped,
            nodes_dropped_outside_largest_scc: topo.nodes_dropped,
        },
        tiles: entries,
    }
}

fn whole_degrees(d: f64) -> u16 {
    (d.round() as u16) % 360
}

fn start_bearing(pts: &[LatLon]) -> u16 {
    let mut walked = 0.0;
    for w in pts.windows(2) {
        walked += w[0].haversine_m(w[1]);
        if walked >= BEARING_SPAN_M {
            return whole_degrees(pts[0].bearing_deg(w[1]));
        }
    }
    whole_degrees(pts[0].bearing_deg(pts[pts.len() - 1]))
}

fn end_bearing(pts: &[LatLon]) -> u16 {
    let last = pts[pts.len() - 1];
    let mut walked = 0.0;
    for w in pts.windows(2).rev() {
        walked += w[0].haversine_m(w[1]);
        if walked >= BEARING_SPAN_M {
            return whole_degrees(w[0].bearing_deg(last));
        }
    }
    whole_degrees(pts[0].bearing_deg(last))
}

fn snap_grid(
    cell: Cell,
    segments: &[(u32, u32)],
    topo: &Topology,
    edge_addr: &[(u32, u32)],
) -> Result<SnapGrid, BuildError> {
    let bb = cell.bbox();
    let mid_lat = (bb.min_lat + bb.max_lat) / 2.0;
    let height_m =
        LatLon::new(bb.min_lat, bb.min_lon).haversine_m(LatLon::new(bb.max_lat, bb.min_lon));
    let width_m = LatLon::new(mid_lat, bb.min_lon).haversine_m(LatLon::new(mid_lat, bb.max_lon));
    let rows = ((height_m / SNAP_BUCKET_M).ceil() as u32).clamp(1, 64);
    let cols = ((width_m / SNAP_BUCKET_M).ceil() as u32).clamp(1, 64);
    let cell_lat = (bb.max_lat - bb.min_lat) / rows as f64;
    let cell_lon = (bb.max_lon - bb.min_lon) / cols as f64;
    let bucket_range = |lo: f64, hi: f64, min: f64, step: f64, n: u32| {
        let a = (((lo - min) / step).floor().max(0.0) as u32).min(n - 1);
        let b = (((hi - min) / step).floor().max(0.0) as u32).min(n - 1);
        a..=b
    };
    let mut buckets: Vec<Vec<SnapItem>> = vec![Vec::new(); (rows * cols) as usize];
    for &(e, s) in segments {
        let edge = &topo.edges[e as usize];
        let pts = &topo.chains[edge.chain as usize].points;
        // The stored shape of a reversed edge runs the other way.
        let seg = if edge.reversed {
            (pts.len() - 2 - s as usize) as u32
        } else {
            s
        };
        let (a, b) = (pts[s as usize], pts[s as usize + 1]);
        let (lat_lo, lat_hi) = (a.lat.min(b.lat), a.lat.max(b.lat));
        let (lon_lo, lon_hi) = (a.lon.min(b.lon), a.lon.max(b.lon));
        let (edge_tile, edge_local) = edge_addr[e as usize];
        for r in bucket_range(lat_lo, lat_hi, bb.min_lat, cell_lat, rows) {
            for c in bucket_range(lon_lo, lon_hi, bb.min_lon, cell_lon, cols) {
                buckets[(r * cols + c) as usize].push(SnapItem {
                    edge_tile,
                    edge_local,
                    segment: seg,
                });
            }
        }
    }
    let mut bucket_first = Vec::with_capacity(buckets.len() + 1);
    let mut items = Vec::with_capacity(buckets.iter().map(|b| b.len()).sum());
    for b in buckets {
        bucket_first.push(items.len() as u32);
        items.extend(b);
    }
    bucket_first.push(items.len() as u32);
    Ok(SnapGrid {
        min_lat: bb.min_lat,
        min_lon: bb.min_lon,
        cell_lat,
        cell_lon,
        rows,
        cols,
        bucket_first,
        items,
    })
}

/// Per-tile string table, so a street name is stored once per tile.
#[derive(Default)]
struct Interner {
    index: HashMap<String, u32>,
    strings: Vec<String>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
    fn into_strings(self) -> Vec<String> {
        self.strings
    }
}
