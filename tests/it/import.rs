//! Import: every real extract imports, with the quirks the data README lists, into tiles that
//! validate and load lazily.

use crate::common::{extract, graph_dir, scratch_dir};
use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;

#[test]
fn imports_tiny_and_small_extracts_into_verified_tiles() {
    for name in [
        "tiny/sydney-2020-07",
        "tiny/boston-2020-08",
        "tiny/stockholm-2020-07",
        "small/harrisburg-2015-02",
        "small/baltimore-2015-02",
        "small/helsinki-centre-2019-04",
        "small/munchen-centre-2020-07",
        "small/liechtenstein-2015-07",
        "small/andorra-2021-10",
    ] {
        let dir = graph_dir(name);
        let store = GraphStore::open(&dir).unwrap();
        let m = store.manifest();
        assert!(m.counts.junctions > 10, "{name}: {:?}", m.counts);
        assert!(
            m.counts.directed_edges > m.counts.junctions,
            "{name}: {:?}",
            m.counts
        );
        assert_eq!(store.loaded_tiles(), 0, "{name}: tiles must load lazily");
        assert!(
            store.verify_checksums().unwrap().is_empty(),
            "{name}: checksum mismatch"
        );
        let mut nodes = 0u64;
        let mut edges = 0u64;
        for t in 0..store.tile_count() {
            let tile = store.tile(t).unwrap();
            assert_eq!(tile.geohash.as_str(), store.geohash(t));
            assert!(tile.geohash.starts_with(&m.tiles[t as usize].geohash[..1]));
            nodes += tile.node_count() as u64;
            edges += tile.edges.len() as u64;
            // Every edge's head exists.
            for e in tile.edges.iter() {
                let head = store.tile(e.target().tile).unwrap();
                assert!(e.target().local < head.node_count());
                assert!(e.length_m() >= 0.0 && e.speed_kmh() > 0.0);
            }
        }
        assert_eq!(nodes, m.counts.junctions, "{name}");
        assert_eq!(edges, m.counts.directed_edges, "{name}");
    }
}

#[test]
fn clipped_extract_with_dangling_refs_imports() {
    let store = GraphStore::open(graph_dir("small/helsinki-centre-2019-04")).unwrap();
    // The data README counts 828 missing nodes referenced by highway ways.
    assert!(store.manifest().counts.dangling_node_refs > 0);
}

#[test]
fn unsorted_extracts_keep_their_turn_restrictions() {
    // Baltimore is written out of order (a way after a relation); restrictions still resolve.
    let store = GraphStore::open(graph_dir("small/andorra-2021-10")).unwrap();
    assert!(store.manifest().counts.turn_restrictions > 0);
    let store = GraphStore::open(graph_dir("small/baltimore-2015-02")).unwrap();
    assert!(store.manifest().counts.junctions > 1000);
}

#[test]
fn corrupt_tile_is_refused_with_a_clear_error() {
    let src = graph_dir("tiny/sydney-2020-07");
    let dir = scratch_dir("corrupt");
    std::fs::create_dir_all(dir.join("tiles")).unwrap();
    std::fs::copy(src.join("manifest.json"), dir.join("manifest.json")).unwrap();
    let store = GraphStore::open(&src).unwrap();
    for e in &store.manifest().tiles {
        std::fs::copy(src.join(&e.file), dir.join(&e.file)).unwrap();
    }
    let victim = &store.manifest().tiles[0].file;
    let mut bytes = std::fs::read(dir.join(victim)).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(dir.join(victim), bytes).unwrap();
    let broken = GraphStore::open(&dir).unwrap();
    let err = broken
        .tile(0)
        .err()
        .expect("a truncated tile must not load");
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert_eq!(broken.verify_checksums().unwrap().len(), 1);
}

#[test]
fn bad_precision_and_missing_file_are_errors() {
    let out = scratch_dir("bad");
    let err = import(&BuildOptions {
        precision: 11,
        ..BuildOptions::new(extract("tiny/sydney-2020-07"), &out)
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("precision"));
    let err = import(&BuildOptions::new(out.join("nope.osm.pbf"), &out))
        .err()
        .unwrap();
    assert!(err.to_string().contains("nope.osm.pbf"));
}
