//! Map images: rendering a real extract writes exactly the cells its roads cross, as valid PNGs
//! whose road pixels lie where the graph's roads are; output is deterministic; route answers
//! name images that exist; street names are drawn along their streets, each label whole inside
//! its image and clear of the others.

use crate::common::{graph_dir, junctions, router, scratch_dir};
use meridian::graph::GraphStore;
use meridian::spatial::geohash;
use meridian::spatial::geometry::project_onto_segment;
use meridian::spatial::LatLon;
use meridian::tiles::index::TileIndex;
use meridian::tiles::labels::{PlacedLabel, MAX_PER_NAME};
use meridian::tiles::render::{
    labels_of, pixel_of, render, RenderError, RenderOptions, BACKGROUND,
};
use meridian::tiles::{image_path, DISPLAY_PRECISIONS, ROUTE_TILE_PRECISION, TILE_WIDTH_PX};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::OnceLock;
use tiny_skia::Pixmap;

/// Two points.
type Segment = (LatLon, LatLon);

const MAP: &str = "small/helsinki-centre-2019-04";

/// Every road shape of the graph, as polylines.
fn road_shapes(store: &GraphStore) -> Vec<Vec<LatLon>> {
    let mut shapes = Vec::new();
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for e in 0..tile.edges.len() as u32 {
            shapes.push(tile.shape(tile.edge(e)).collect());
        }
    }
    shapes
}

/// Rendered once per test process; shared by the tests below.
fn rendered() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let store = GraphStore::open(graph_dir(MAP)).unwrap();
        let out = scratch_dir("render");
        let stats = render(&store, &RenderOptions::new(&out)).unwrap();
        assert!(stats.images() > 0);
        out
    })
}

#[test]
fn images_cover_exactly_the_cells_roads_cross() {
    let store = GraphStore::open(graph_dir(MAP)).unwrap();
    let shapes = road_shapes(&store);
    let dir = rendered();
    let index = TileIndex::read(dir).unwrap();
    assert_eq!(index.graph_version, store.manifest().graph_version);
    for p in DISPLAY_PRECISIONS {
        let expected: BTreeSet<String> = shapes
            .iter()
            .flat_map(|s| geohash::cells_along(s, p))
            .map(|c| c.to_string())
            .collect();
        let level = index.level(p).unwrap();
        let listed: BTreeSet<String> = level.cells.iter().cloned().collect();
        assert_eq!(listed, expected, "index cells at precision {p}");
        let on_disk: BTreeSet<String> = std::fs::read_dir(dir.join(p.to_string()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let files: BTreeSet<String> = expected.iter().map(|c| format!("{c}.png")).collect();
        assert_eq!(on_disk, files, "files at precision {p}");
    }
}

fn is_background(pixmap: &Pixmap, x: f32, y: f32) -> Option<bool> {
    let (x, y) = (x.floor(), y.floor());
    if x < 0.0 || y < 0.0 {
        return None;
    }
    let px = pixmap.pixel(x as u32, y as u32)?;
    Some([px.red(), px.green(), px.blue()] == BACKGROUND)
}

#[test]
fn road_pixels_fall_where_the_roads_are() {
    let store = GraphStore::open(graph_dir(MAP)).unwrap();
    let shapes = road_shapes(&store);
    let dir = rendered();
    let mut rng = StdRng::seed_from_u64(7);
    for p in DISPLAY_PRECISIONS {
        // Segments by cell, to find the nearest road of a pixel quickly.
        let mut segments: HashMap<String, Vec<Segment>> = HashMap::new();
        for s in &shapes {
            for w in s.windows(2) {
                for c in geohash::cells_along(w, p) {
                    segments
                        .entry(c.to_string())
                        .or_default()
                        .push((w[0], w[1]));
                }
            }
        }
        // How far from a road centre line drawing may reach: the widest road's half width plus
        // casing and anti-aliasing, in metres at this precision's pixel size.
        let reach_m = if p >= 6 { 25.0 } else { 60.0 };
        let (mut road_checked, mut empty_checked) = (0, 0);
        let cells: Vec<&String> = segments.keys().collect();
        for cell in cells {
            let png = std::fs::read(dir.join(image_path(cell))).unwrap();
            let pixmap = Pixmap::decode_png(&png).unwrap();
            let (_, _, w, h) = pixel_of(cell, TILE_WIDTH_PX, LatLon::new(0.0, 0.0)).unwrap();
            assert_eq!((pixmap.width(), pixmap.height()), (w, h), "{cell} size");
            let bbox = geohash::decode_bbox(cell).unwrap();
            // Road centre points inside the cell are not background.
            for &(a, b) in &segments[cell] {
                let mid = LatLon::new((a.lat + b.lat) / 2.0, (a.lon + b.lon) / 2.0);
                if !bbox.contains(mid) {
                    continue;
                }
                let (x, y, _, _) = pixel_of(cell, TILE_WIDTH_PX, mid).unwrap();
                if let Some(bg) = is_background(&pixmap, x, y) {
                    assert!(!bg, "{cell}: road point {mid:?} drawn as background");
                    road_checked += 1;
                }
            }
            // Pixels far from every road (in this cell and its neighbours) are background.
            let near: Vec<&Segment> = std::iter::once(cell.clone())
                .chain(geohash::neighbors(cell).unwrap())
                .filter_map(|c| segments.get(&c))
                .flatten()
                .collect();
            for _ in 0..300 {
                let (fx, fy) = (rng.random::<f64>(), rng.random::<f64>());
                let point = LatLon::new(
                    bbox.max_lat - fy * (bbox.max_lat - bbox.min_lat),
                    bbox.min_lon + fx * (bbox.max_lon - bbox.min_lon),
                );
                let nearest = near
                    .iter()
                    .map(|(a, b)| project_onto_segment(point, *a, *b).distance_m)
                    .fold(f64::INFINITY, f64::min);
                if nearest < reach_m {
                    continue;
                }
                let (x, y, _, _) = pixel_of(cell, TILE_WIDTH_PX, point).unwrap();
                if let Some(bg) = is_background(&pixmap, x, y) {
                    assert!(
                        bg,
                        "{cell}: {point:?} is {nearest:.0} m from any road but drawn"
                    );
                    empty_checked += 1;
                }
            }
        }
        assert!(
            road_checked > 100,
            "precision {p}: {road_checked} road pixels checked"
        );
        assert!(
            empty_checked > 100,
            "precision {p}: {empty_checked} empty pixels checked"
        );
    }
}

#[test]
fn rendering_is_deterministic_and_keeps_graph_versions_apart() {
    let store = GraphStore::open(graph_dir(MAP)).unwrap();
    let out = scratch_dir("render-again");
    render(
        &store,
        &RenderOptions {
            threads: 1,
            ..RenderOptions::new(&out)
        },
    )
    .unwrap();
    let first = rendered();
    let index = TileIndex::read(&out).unwrap();
    let mut with_text = 0;
    for p in DISPLAY_PRECISIONS {
        for cell in &index.level(p).unwrap().cells {
            let a = std::fs::read(first.join(image_path(cell))).unwrap();
            let b = std::fs::read(out.join(image_path(cell))).unwrap();
            assert!(a == b, "{cell} differs between two renders");
            let pixmap = Pixmap::decode_png(&a).unwrap();
            with_text += usize::from(dark_pixels(&pixmap).next().is_some());
        }
    }
    // The comparison covers labels, not only roads.
    assert!(with_text >= 5, "only {with_text} images have text");
    // A directory holding another graph version's images is refused, not overwritten.
    let mut other = index.clone();
    other.graph_version = "someotherversion".into();
    other.write(&out).unwrap();
    match render(&store, &RenderOptions::new(&out)) {
        Err(RenderError::OtherGraphVersion { found, .. }) => assert_eq!(found, "someotherversion"),
        other => panic!("expected OtherGraphVersion, got {other:?}"),
    }
}

#[test]
fn route_answers_name_images_that_exist() {
    let router = router(MAP);
    let dir = rendered();
    let nodes = junctions(&router);
    let mut rng = StdRng::seed_from_u64(11);
    let mut routed = 0;
    let mut attempts = 0;
    while routed < 30 {
        attempts += 1;
        assert!(attempts <= 300, "only {routed} of 300 pairs routed");
        let a = nodes[rng.random_range(0..nodes.len())];
        let b = nodes[rng.random_range(0..nodes.len())];
        // A clipped extract has a few junctions only turn restrictions lead out of.
        let Ok(answer) = router.route(&[a, b], false) else {
            continue;
        };
        routed += 1;
        let tiles = &answer.route.tiles;
        assert!(!tiles.is_empty());
        assert_eq!(
            tiles,
            &geohash::cells_along(&answer.route.geometry, ROUTE_TILE_PRECISION)
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
        );
        for cell in tiles {
            assert_eq!(cell.len(), ROUTE_TILE_PRECISION);
            assert!(
                dir.join(image_path(cell)).is_file(),
                "route names {cell} but no image exists"
            );
        }
    }
}

/// Pixels as dark as label text: no road colour is (the darkest casing has a light channel).
fn dark_pixels(pixmap: &Pixmap) -> impl Iterator<Item = (u32, u32)> + '_ {
    let w = pixmap.width();
    pixmap
        .pixels()
        .iter()
        .enumerate()
        .filter_map(move |(i, px)| {
            let dark = px.red() < 0x60 && px.green() < 0x60 && px.blue() < 0x60;
            dark.then(|| (i as u32 % w, i as u32 / w))
        })
}

/// Whether pixel (x, y) lies in the label's box, grown by `grow` px.
fn in_box(label: &PlacedLabel, x: f32, y: f32, grow: f32) -> bool {
    let (s, c) = label.angle.sin_cos();
    let (dx, dy) = (x - label.centre.0, y - label.centre.1);
    let along = dx * c + dy * s;
    let across = -dx * s + dy * c;
    along.abs() <= label.half_len + grow && across.abs() <= label.half_height + grow
}

/// Distance in pixels from a point to a polyline.
fn distance_to(points: &[(f32, f32)], (x, y): (f32, f32)) -> f32 {
    points
        .windows(2)
        .map(|w| {
            let ((ax, ay), (bx, by)) = (w[0], w[1]);
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 {
                (((x - ax) * dx + (y - ay) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            ((ax + t * dx - x).powi(2) + (ay + t * dy - y).powi(2)).sqrt()
        })
        .fold(f32::INFINITY, f32::min)
}

/// Every edge shape carrying `name`, read from the graph tiles (not through the renderer).
fn shapes_named(store: &GraphStore, name: &str) -> Vec<Vec<LatLon>> {
    let mut shapes = Vec::new();
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for e in 0..tile.edges.len() as u32 {
            let edge = tile.edge(e);
            if tile.name(edge.name_index()) == name {
                shapes.push(tile.shape(edge).collect());
            }
        }
    }
    shapes
}

#[test]
fn labels_are_whole_apart_and_the_only_dark_pixels() {
    let store = GraphStore::open(graph_dir(MAP)).unwrap();
    let dir = rendered();
    let index = TileIndex::read(dir).unwrap();
    let mut total = 0;
    for p in DISPLAY_PRECISIONS {
        for cell in &index.level(p).unwrap().cells {
            let labels = labels_of(&store, cell, TILE_WIDTH_PX).unwrap();
            let pixmap =
                Pixmap::decode_png(&std::fs::read(dir.join(image_path(cell))).unwrap()).unwrap();
            let (w, h) = (pixmap.width() as f32, pixmap.height() as f32);
            let mut per_name: HashMap<&str, usize> = HashMap::new();
            for (i, a) in labels.iter().enumerate() {
                *per_name.entry(&a.name).or_default() += 1;
                for (x, y) in a.corners() {
                    assert!(
                        (0.0..=w).contains(&x) && (0.0..=h).contains(&y),
                        "{cell}: {a:?} reaches past the border"
                    );
                }
                for b in &labels[i + 1..] {
                    assert!(!a.overlaps(b, 0.0), "{cell}: {a:?} overlaps {b:?}");
                }
            }
            for (name, n) in per_name {
                assert!(n <= MAX_PER_NAME, "{cell}: {name} labelled {n} times");
            }
            // Text is drawn exactly where the labels were placed: every dark pixel is inside
            // a label's box (anti-aliasing may reach one pixel out), and each label has some.
            let mut inked = vec![0usize; labels.len()];
            for (x, y) in dark_pixels(&pixmap) {
                let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
                let owner = labels.iter().position(|l| in_box(l, cx, cy, 1.0));
                let Some(i) = owner else {
                    panic!("{cell}: dark pixel ({x}, {y}) outside every label");
                };
                inked[i] += 1;
            }
            for (label, n) in labels.iter().zip(&inked) {
                assert!(*n >= 10, "{cell}: {label:?} has only {n} dark pixels");
            }
            total += labels.len();
        }
    }
    assert!(total >= 20, "only {total} labels in the whole extract");
}

#[test]
fn a_known_street_is_labelled_along_itself() {
    // Mannerheimintie, Helsinki's main artery, runs diagonally through the extract.
    const STREET: &str = "Mannerheimintie";
    let store = GraphStore::open(graph_dir(MAP)).unwrap();
    let shapes = shapes_named(&store, STREET);
    assert!(!shapes.is_empty(), "{STREET} is not in the graph");
    let dir = rendered();
    for p in DISPLAY_PRECISIONS {
        let cells: BTreeSet<String> = shapes
            .iter()
            .flat_map(|s| geohash::cells_along(s, p))
            .map(|c| c.to_string())
            .collect();
        let mut labelled = 0;
        for cell in &cells {
            let labels = labels_of(&store, cell, TILE_WIDTH_PX).unwrap();
            let pixmap =
                Pixmap::decode_png(&std::fs::read(dir.join(image_path(cell))).unwrap()).unwrap();
            let lines: Vec<Vec<(f32, f32)>> = shapes
                .iter()
                .map(|s| {
                    s.iter()
                        .map(|&pt| {
                            let (x, y, _, _) = pixel_of(cell, TILE_WIDTH_PX, pt).unwrap();
                            (x, y)
                        })
                        .collect()
                })
                .collect();
            for label in labels.iter().filter(|l| l.name == STREET) {
                labelled += 1;
                // On the street, and turned along it: both ends of the text lie on it too.
                let (s, c) = label.angle.sin_cos();
                let (cx, cy) = label.centre;
                let ends = [-1.0, 0.0, 1.0].map(|k| {
                    let d = k * (label.half_len - 2.0);
                    (cx + c * d, cy + s * d)
                });
                for point in ends {
                    let off = lines
                        .iter()
                        .map(|l| distance_to(l, point))
                        .fold(f32::INFINITY, f32::min);
                    assert!(
                        off <= 3.0,
                        "{cell}: {STREET} label point {point:?} {off:.1} px off the street"
                    );
                }
                let ink = dark_pixels(&pixmap)
                    .filter(|&(x, y)| in_box(label, x as f32 + 0.5, y as f32 + 0.5, 0.0))
                    .count();
                assert!(ink >= 30, "{cell}: {STREET} label has {ink} dark pixels");
            }
        }
        assert!(
            labelled >= 1,
            "{STREET} has no label at precision {p} in {cells:?}"
        );
    }
}
