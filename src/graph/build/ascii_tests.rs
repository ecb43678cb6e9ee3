//! Tiling on small drawn maps (see [`super::ascii_map`]), imported by the real importer: each
//! test states one rule of how the graph is cut into geohash tiles, on roads long enough to
//! cross several tiles.

use super::ascii_map::AsciiMap;
use crate::nearby::visit_segments_near;
use crate::{GlobalId, GraphStore};
use spatial::geohash::Cell;
use spatial::LatLon;
use std::collections::BTreeSet;

const PRIMARY: &[(&str, &str)] = &[("highway", "primary")];
const RESIDENTIAL: &[(&str, &str)] = &[("highway", "residential")];

fn imported(map: &AsciiMap) -> (GraphStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    map.import(dir.path()).expect("the drawn map imports");
    (GraphStore::open(dir.path()).expect("the graph opens"), dir)
}

/// Two km a character: the roads cross tiles (3.3 km wide, 4.9 km high at precision 5 here).
fn crossing_map() -> AsciiMap {
    AsciiMap::parse(
        "
        a--b--c
              |
              |
              d
        ",
        2_000.0,
    )
    .unwrap()
    .way("abc", PRIMARY)
    .way("cd", RESIDENTIAL)
}

#[test]
fn nodes_live_in_the_tile_of_their_cell_and_edges_in_their_tail_nodes_tile() {
    let map = crossing_map();
    let (store, _dir) = imported(&map);
    let precision = store.manifest().geohash_precision;
    let mut junction_cells = BTreeSet::new();
    let mut junctions = 0;
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        let cell: Cell = store.geohash(t).parse().unwrap();
        for n in 0..tile.node_count() {
            let p = tile.node_location(n);
            assert_eq!(
                Cell::containing(p, precision).unwrap(),
                cell,
                "node {n} of {cell}"
            );
            junction_cells.insert(cell);
            junctions += 1;
        }
        for e in 0..tile.edges.len() as u32 {
            let edge = tile.edge(e);
            let shape: Vec<LatLon> = tile.shape(edge).collect();
            // The shape runs from the tail node (in this tile) to the head node (anywhere).
            assert_eq!(shape[0], tile.node_location(tile.edge_source(e)));
            let head = edge.target();
            let head_tile = store.tile(head.tile).unwrap();
            assert_eq!(*shape.last().unwrap(), head_tile.node_location(head.local));
            // Both roads are two-way: each edge's twin runs back and names it as its twin.
            let twin = edge.twin().expect("a two-way road");
            let back = store.tile(twin.tile).unwrap();
            assert_eq!(back.edge(twin.local).twin(), Some(GlobalId::new(t, e)));
        }
    }
    // Junctions are the way ends and the node two ways share: a, c and d, not b.
    assert_eq!(junctions, 3);
    // Cells the roads only pass through get a tile too (for snapping), so there are more tiles
    // than cells with a junction.
    assert!(
        store.tile_count() as usize > junction_cells.len(),
        "{} tiles, {} with junctions",
        store.tile_count(),
        junction_cells.len()
    );
}

#[test]
fn every_point_of_every_road_is_found_through_the_snap_grids() {
    let map = crossing_map();
    let (store, _dir) = imported(&map);
    let mut checked = 0;
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for e in 0..tile.edges.len() as u32 {
            let edge = tile.edge(e);
            let id = GlobalId::new(t, e);
            let road = [Some(id), edge.twin()];
            let shape: Vec<LatLon> = tile.shape(edge).collect();
            for w in shape.windows(2) {
                // Every 100 m along the segment, through whichever tiles it crosses.
                let steps = (w[0].haversine_m(w[1]) / 100.0).ceil() as usize;
                for k in 0..=steps {
                    let p = w[0].lerp(w[1], k as f64 / steps.max(1) as f64);
                    let mut found = false;
                    visit_segments_near(&store, p, 5.0, |hit| {
                        found |= road.contains(&Some(hit.edge)) && hit.projection.distance_m < 1.0;
                    })
                    .unwrap();
                    assert!(found, "{p:?} on edge {id:?} is not in the snap grid");
                    checked += 1;
                }
            }
        }
    }
    // 2 km + 2 km + 6 km of road, both directions, every 100 m.
    assert!(checked > 150, "{checked}");
}

#[test]
fn a_one_way_street_has_one_edge_and_no_twin() {
    let map = AsciiMap::parse("a-----b", 500.0)
        .unwrap()
        .way("ab", &[("highway", "primary"), ("oneway", "yes")])
        .way("ba", RESIDENTIAL);
    let (store, _dir) = imported(&map);
    let mut edges = Vec::new();
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for e in 0..tile.edges.len() as u32 {
            edges.push((tile.edge(e).twin(), tile.edge(e).speed_kmh()));
        }
    }
    // The one-way primary one way, the two-way residential both ways: three directed edges,
    // none of the one-way's paired with anything.
    assert_eq!(edges.len(), 3, "{edges:?}");
    assert_eq!(edges.iter().filter(|(twin, _)| twin.is_none()).count(), 1);
}
