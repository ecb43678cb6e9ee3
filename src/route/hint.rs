//! Snap hints (OSRM's `hint` on waypoints, sent back in `hints=`): a token naming where a
//! coordinate was snapped, so a later request with the same coordinate (a client re-routing
//! from a dragged marker, say) skips the search for the nearest road.
//!
//! The token is 21 bytes in URL-safe base64 without padding: the first 4 bytes of the graph
//! version (a hint from another graph build is ignored), the edge's tile and local index, the
//! metres along it (all little endian), and whether the other direction may be used too. A
//! hint that does not decode, names an edge this graph does not have, or lies farther from its
//! coordinate than the snap radius is ignored and the coordinate is snapped as usual.

use super::cut_shape;
use super::snap::Snap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use graph::{GlobalId, GraphStore};
use spatial::LatLon;

const LEN: usize = 21;

/// The graph build a hint belongs to: the first 4 bytes of the graph version.
fn graph_tag(store: &GraphStore) -> u32 {
    let v = &store.manifest().graph_version;
    v.get(..8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

/// The hint of a snap.
pub fn encode(store: &GraphStore, snap: &Snap) -> String {
    let mut b = Vec::with_capacity(LEN);
    b.extend_from_slice(&graph_tag(store).to_le_bytes());
    b.extend_from_slice(&snap.edge.tile.to_le_bytes());
    b.extend_from_slice(&snap.edge.local.to_le_bytes());
    b.extend_from_slice(&snap.along_m.to_le_bytes());
    b.push(u8::from(snap.twin.is_some()));
    URL_SAFE_NO_PAD.encode(b)
}

/// The snap a hint names for `point`, if the hint is valid here and within `max_radius_m`.
pub fn decode(store: &GraphStore, hint: &str, point: LatLon, max_radius_m: f64) -> Option<Snap> {
    let b = URL_SAFE_NO_PAD.decode(hint.trim_end_matches('=')).ok()?;
    if b.len() != LEN {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    if word(0) != graph_tag(store) {
        return None;
    }
    let (tile_index, local) = (word(4), word(8));
    let mut along = [0u8; 8];
    along.copy_from_slice(&b[12..20]);
    let along_m = f64::from_le_bytes(along);
    if tile_index >= store.tile_count() || !store.has_tile(tile_index) {
        return None;
    }
    let tile = store.tile(tile_index).ok()?;
    if local as usize >= tile.edges.len() {
        return None;
    }
    let edge = tile.edge(local);
    let length = edge.length_m() as f64;
    if !(0.0..=length).contains(&along_m)
        || edge.flags & graph::tile::flags::SNAPPABLE == 0
        || !store.has_tile(edge.target().tile)
    {
        return None;
    }
    let shape: Vec<LatLon> = tile.shape(edge).collect();
    let location = cut_shape(&shape, along_m, along_m)[0];
    let distance_m = point.haversine_m(location);
    if distance_m > max_radius_m {
        return None;
    }
    let twin = edge.twin().filter(|_| b[20] == 1);
    Some(Snap {
        location,
        distance_m,
        edge: GlobalId::new(tile_index, local),
        along_m,
        edge_length_m: length,
        twin,
        name: tile.name(edge.name_index()).to_string(),
        // As the snap the hint was made from: its junction's roads unless a bearing or an
        // approach had dropped a direction (a one-way road has only one to keep).
        junction: if twin.is_some() || edge.twin().is_none() {
            super::snap::junction_edges(
                store,
                GlobalId::new(tile_index, local),
                along_m,
                graph::Exclude::NONE,
            )
            .ok()?
        } else {
            Vec::new()
        },
    })
}
