//! Offline bundles: a bundle of an area routes exactly like the full graph for points inside it
//! (library and `meridian route --bundle` against the HTTP server), and damaged bundles, points
//! outside the area and mismatched images are refused with clear messages.

use crate::common::{graph_dir, junctions, router, scratch_dir};
use meridian::graph::GraphStore;
use meridian::route::osrm::{route_response, Geometries, Overview, ResponseOptions};
use meridian::route::{RouteError, Router};
use meridian::server::{serve_on, Limits};
use meridian::spatial::geohash;
use meridian::spatial::LatLon;
use meridian::tiles::bundle::{write_bundle, Area, Bundle, BundleError, BundleOptions};
use meridian::tiles::index::TileIndex;
use meridian::tiles::render::{render, RenderOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const MAP: &str = "small/liechtenstein-2015-07";
/// Holds most of Liechtenstein's roads; the graph's tiles u0qex and u0qg8 (south) are neither in
/// it nor in its ring, so the bundle really lacks tiles.
const AREA: &str = "u0qu";

fn make_bundle(label: &str) -> PathBuf {
    bundle_of(MAP, AREA, label)
}

fn bundle_of(map: &str, area: &str, label: &str) -> PathBuf {
    let out = scratch_dir(label).join("area.bundle");
    let report = write_bundle(&BundleOptions {
        graph_dir: graph_dir(map),
        area: Area::parse(area).unwrap(),
        tiles_dir: None,
        profiles: None,
        out: out.clone(),
    })
    .unwrap();
    assert_eq!(report.bytes, std::fs::metadata(&out).unwrap().len());
    out
}

fn meridian(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn point_arg(p: LatLon) -> String {
    format!("{},{}", p.lon, p.lat)
}

/// Byte range of a member's data, found with the tar crate (as any tar reader would).
fn member_range(bundle: &Path, name: &str) -> std::ops::Range<usize> {
    let bytes = std::fs::read(bundle).unwrap();
    let mut archive = tar::Archive::new(std::io::Cursor::new(bytes));
    for e in archive.entries_with_seek().unwrap() {
        let e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let start = e.raw_file_position() as usize;
            return start..start + e.size() as usize;
        }
    }
    panic!("{name} not in {}", bundle.display());
}

/// True if every edge of the full graph's path, and its head, lies in a tile the bundle holds.
fn path_inside(full: &Router, bundle_store: &GraphStore, a: LatLon, b: LatLon) -> bool {
    let (_, paths) = full.route_with_paths(&[a, b], false).unwrap();
    paths.iter().flat_map(|p| &p.edges).all(|pe| {
        let head = full
            .store
            .tile(pe.edge.tile)
            .unwrap()
            .edge(pe.edge.local)
            .target_tile
            .to_native();
        bundle_store.has_tile(pe.edge.tile) && bundle_store.has_tile(head)
    })
}

/// Routes `pairs` random pairs of junctions of `area` on the full graph and on a bundle of the
/// area; returns (pairs equal, pairs whose fastest route leaves the bundle's tiles).
/// With `anywhere`, the junctions are taken from every tile the bundle holds, ring included
/// (the library does not check the area; the CLI does).
fn compare_with_full_graph(map: &str, area: &str, pairs: usize, anywhere: bool) -> (usize, usize) {
    let path = bundle_of(map, area, "roundtrip");
    let bundle = Bundle::open(&path).unwrap();
    let store = bundle.store();
    assert!(
        store.is_partial(),
        "the test needs tiles outside the bundle"
    );
    assert_eq!(bundle.manifest().traffic, None);
    assert_eq!(bundle.manifest().images, None);

    let full = router(map);
    let offline = Router::new(store.clone());
    let area = bundle.area().clone();
    let precision = store.manifest().geohash_precision;
    let held = |p: &LatLon| {
        let cell = geohash::encode(*p, precision).unwrap();
        store.tile_index(&cell).is_some_and(|t| store.has_tile(t))
    };
    let inside: Vec<LatLon> = junctions(&full)
        .into_iter()
        .filter(|p| if anywhere { held(p) } else { area.contains(*p) })
        .collect();
    assert!(
        inside.len() > 1000,
        "{} junctions in the area",
        inside.len()
    );

    let opts = ResponseOptions {
        overview: Overview::Full,
        geometries: Geometries::Polyline,
        steps: true,
    };
    let mut rng = StdRng::seed_from_u64(0xb0d1e);
    let (mut equal, mut leaving) = (0, 0);
    for _ in 0..pairs {
        let a = inside[rng.random_range(0..inside.len())];
        let b = inside[rng.random_range(0..inside.len())];
        let want = full.route(&[a, b], true);
        let got = offline.route(&[a, b], true);
        match want {
            Err(RouteError::NoRoute) => {
                assert!(matches!(got, Err(RouteError::NoRoute)), "{a:?} {b:?}");
            }
            Err(e) => panic!("full graph: {e}"),
            Ok(want) if path_inside(&full, &store, a, b) => {
                let got = got.unwrap_or_else(|e| panic!("{a:?} -> {b:?}: {e}"));
                assert_eq!(got.route.distance_m, want.route.distance_m, "{a:?} {b:?}");
                assert_eq!(got.route.duration_s, want.route.duration_s, "{a:?} {b:?}");
                assert_eq!(got.route.geometry, want.route.geometry, "{a:?} {b:?}");
                // A point at a junction may snap onto another of its roads (one of the full
                // graph's leads into a missing tile): the same route, another waypoint hint and
                // road name.
                let without_hints = |mut v: serde_json::Value| {
                    for w in v["waypoints"].as_array_mut().into_iter().flatten() {
                        if let Some(o) = w.as_object_mut() {
                            o.remove("hint");
                            o.remove("name");
                        }
                    }
                    v
                };
                assert_eq!(
                    without_hints(route_response(&got, &opts)),
                    without_hints(route_response(&want, &opts)),
                    "{a:?} {b:?}"
                );
                equal += 1;
            }
            // The fastest route leaves the bundle's tiles: from the same snapped edges, the
            // bundle's own can only be slower. (A junction may snap onto another of its roads
            // when the one the full graph picks leads into a missing tile.)
            Ok(want) => {
                leaving += 1;
                let same_snaps = [a, b]
                    .iter()
                    .all(|&p| full.snap(p).unwrap() == offline.snap(p).unwrap());
                match got {
                    Ok(got) if same_snaps => {
                        assert!(got.route.duration_s >= want.route.duration_s, "{a:?} {b:?}")
                    }
                    Ok(_) | Err(RouteError::NoRoute) => {}
                    Err(e) => panic!("{a:?} -> {b:?}: {e}"),
                }
            }
        }
    }
    eprintln!("{map} {area}: {equal} equal, {leaving} leave the bundle's tiles");
    (equal, leaving)
}

/// Andorra's four central tiles (about half its roads): searches from them run into the ring,
/// whose roads lead on into tiles the bundle lacks.
#[test]
fn bundle_routes_like_the_full_graph_inside_its_area() {
    let (equal, leaving) =
        compare_with_full_graph("small/andorra-2021-10", "1.50,42.50,1.57,42.57", 300, false);
    assert!(equal >= 200, "only {equal} of 300 pairs compared");
    assert!(leaving <= 15, "{leaving} of 300 routes leave the bundle");
}

#[test]
fn geohash_area_bundle_routes_like_the_full_graph() {
    let path = make_bundle("absent");
    let store = Bundle::open(&path).unwrap().store();
    let absent: Vec<&str> = (0..store.tile_count())
        .filter(|&t| !store.has_tile(t))
        .map(|t| store.geohash(t))
        .collect();
    assert_eq!(absent, ["u0qex", "u0qg8"]);
    let (equal, leaving) = compare_with_full_graph(MAP, AREA, 100, false);
    assert_eq!((equal, leaving), (100, 0));
}

/// Between points of the ring, fastest routes often run through tiles the bundle lacks: the
/// search must drive around them (or find no route), never fail on the missing tile.
#[test]
fn searches_treat_roads_into_missing_tiles_as_absent() {
    // (Points at junctions may start or end on any of their roads, so few fastest routes
    // need the missing tiles: enough pairs to meet several.)
    let (equal, leaving) = compare_with_full_graph(MAP, AREA, 900, true);
    assert!(equal >= 450, "{equal}");
    assert!(leaving >= 3, "only {leaving} routes needed a missing tile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_route_on_a_bundle_prints_the_servers_answer() {
    let path = make_bundle("cli");
    let full = router(MAP);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(
        full.clone(),
        listener,
        Limits {
            max_route_coordinates: 10,
            ..Limits::default()
        },
        None,
    ));
    let area = Area::parse(AREA).unwrap();
    let inside: Vec<LatLon> = junctions(&full)
        .into_iter()
        .filter(|p| area.contains(*p))
        .collect();
    let bundle_store = Bundle::open(&path).unwrap().store();
    let mut rng = StdRng::seed_from_u64(7);
    let mut compared = 0;
    while compared < 4 {
        let a = inside[rng.random_range(0..inside.len())];
        let b = inside[rng.random_range(0..inside.len())];
        if !path_inside(&full, &bundle_store, a, b) {
            continue;
        }
        let steps = compared % 2 == 0;
        let url = format!(
            "http://{addr}/route/v1/driving/{};{}?overview=full&geometries=polyline&steps={steps}",
            point_arg(a),
            point_arg(b)
        );
        let server: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        assert_eq!(server["code"], "Ok", "{server}");
        let mut args = vec![
            "route".to_string(),
            "--bundle".to_string(),
            path.display().to_string(),
            point_arg(a),
            point_arg(b),
        ];
        if steps {
            args.push("--steps".into());
        }
        let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
            meridian(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        assert!(ok, "{stderr}");
        let offline: Value = serde_json::from_str(&stdout).unwrap();
        let (s, o) = (&server["routes"][0], &offline["routes"][0]);
        assert_eq!(o["distance"], s["distance"]);
        assert_eq!(o["duration"], s["duration"]);
        assert_eq!(o["geometry"], s["geometry"]);
        assert_eq!(offline, server, "the whole answer");
        compared += 1;
    }
}

#[test]
fn corrupt_and_truncated_bundles_are_refused() {
    let good = make_bundle("damage");
    let dir = good.parent().unwrap().to_path_buf();
    let bytes = std::fs::read(&good).unwrap();
    let member = "graph/tiles/u0qu1.rkyv";
    let range = member_range(&good, member);
    let some_point = {
        let b = Area::parse(AREA).unwrap().bbox();
        let LatLon { lat, lon } = b.center();
        format!("{lon},{lat}")
    };

    // One flipped bit inside a tile.
    let mut flipped = bytes.clone();
    flipped[range.start + range.len() / 2] ^= 0x10;
    let corrupt = dir.join("corrupt.bundle");
    std::fs::write(&corrupt, &flipped).unwrap();
    match Bundle::open(&corrupt) {
        Err(BundleError::Corrupt { member: m, .. }) => assert_eq!(m, member),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a corrupt bundle was opened"),
    }
    let c = corrupt.display().to_string();
    let (ok, _, stderr) = meridian(&["route", "--bundle", &c, &some_point, &some_point]);
    assert!(!ok);
    assert!(
        stderr.contains("is corrupt") && stderr.contains(member),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // Cut inside that tile, cut at a member boundary, and cut inside the end-of-archive blocks.
    let cuts = [
        range.start + 100,
        range.end.div_ceil(512) * 512,
        bytes.len() - 600,
    ];
    for cut in cuts {
        let short = dir.join(format!("short-{cut}.bundle"));
        std::fs::write(&short, &bytes[..cut]).unwrap();
        match Bundle::open(&short) {
            Err(BundleError::Truncated { .. }) => {}
            Err(e) => panic!("cut at {cut}: wrong error: {e}"),
            Ok(_) => panic!("cut at {cut}: a truncated bundle was opened"),
        }
        let s = short.display().to_string();
        let (ok, _, stderr) = meridian(&["route", "--bundle", &s, &some_point, &some_point]);
        assert!(!ok);
        assert!(stderr.contains("is truncated"), "{stderr}");
    }

    // Not a bundle at all.
    let junk = dir.join("junk.bundle");
    std::fs::write(&junk, b"hello").unwrap();
    assert!(Bundle::open(&junk).is_err());

    // The untouched bundle still opens and checks out.
    let ok = Bundle::open(&good).unwrap();
    assert!(ok.store().verify_checksums().unwrap().is_empty());
}

#[test]
fn points_outside_the_area_are_refused() {
    let path = make_bundle("outside");
    let bundle = Bundle::open(&path).unwrap();
    let full = router(MAP);
    let all = junctions(&full);
    let area = bundle.area().clone();
    let inside = *all.iter().find(|p| area.contains(**p)).unwrap();
    let outside = *all.iter().find(|p| !area.contains(**p)).unwrap();
    assert!(bundle.check_point(inside).is_ok());
    match bundle.check_point(outside) {
        Err(e @ BundleError::OutsideArea { .. }) => {
            assert!(e.to_string().contains("geohash cell u0qu"), "{e}")
        }
        other => panic!("{:?}", other.err()),
    }
    let p = path.display().to_string();
    for pair in [[inside, outside], [outside, inside]] {
        let (ok, stdout, stderr) = meridian(&[
            "route",
            "--bundle",
            &p,
            &point_arg(pair[0]),
            &point_arg(pair[1]),
        ]);
        assert!(!ok, "{stdout}");
        assert!(
            stderr.contains("outside the bundle's area (geohash cell u0qu"),
            "{stderr}"
        );
    }
    // A bbox area names its box.
    let out = scratch_dir("bbox").join("b.bundle");
    write_bundle(&BundleOptions {
        graph_dir: graph_dir(MAP),
        area: Area::parse("9.50,47.12,9.56,47.18").unwrap(),
        tiles_dir: None,
        profiles: None,
        out: out.clone(),
    })
    .unwrap();
    let o = out.display().to_string();
    let (ok, _, stderr) = meridian(&["route", "--bundle", &o, "9.52,47.14", "9.60,47.14"]);
    assert!(!ok);
    assert!(
        stderr.contains("outside the bundle's area (bbox lon 9.50000..9.56000"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = meridian(&["route", "--bundle", &o, "9.52,47.14", "9.54,47.16"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\"code\": \"Ok\""));
}

#[test]
fn images_of_the_area_go_into_the_bundle() {
    let graph = graph_dir(MAP);
    let tiles = scratch_dir("images");
    let store = GraphStore::open(&graph).unwrap();
    render(&store, &RenderOptions::new(&tiles)).unwrap();
    let index = TileIndex::read(&tiles).unwrap();
    let out = scratch_dir("images-out").join("i.bundle");
    let opts = BundleOptions {
        graph_dir: graph.clone(),
        area: Area::parse(AREA).unwrap(),
        tiles_dir: Some(tiles.clone()),
        profiles: None,
        out: out.clone(),
    };
    write_bundle(&opts).unwrap();
    let bundle = Bundle::open(&out).unwrap();
    let sub: TileIndex =
        serde_json::from_slice(bundle.member("tiles/index.json").unwrap()).unwrap();
    let (mut inside, mut outside) = (0, 0);
    for level in &index.levels {
        let bundled = &sub.level(level.precision).unwrap().cells;
        for cell in &level.cells {
            let rendered = std::fs::read(tiles.join(meridian::tiles::image_path(cell))).unwrap();
            if cell.starts_with(AREA) {
                // Every image of the area is in the bundle, byte for byte.
                assert_eq!(bundle.image(cell), Some(&rendered[..]), "{cell}");
                assert!(bundled.contains(cell));
                inside += 1;
            } else if !AREA.starts_with(cell.as_str()) {
                assert_eq!(bundle.image(cell), None, "{cell} is outside the area");
                outside += 1;
            }
        }
    }
    assert!(
        inside > 10 && outside > 10,
        "{inside} inside, {outside} outside"
    );
    assert_eq!(
        bundle.manifest().counts.images,
        sub.levels.iter().map(|l| l.cells.len()).sum::<usize>()
    );

    // Images of another graph version are refused.
    let mut other = index.clone();
    other.graph_version = "0000".into();
    other.write(&tiles).unwrap();
    assert!(matches!(
        write_bundle(&opts),
        Err(BundleError::ImageVersion { .. })
    ));
}

#[test]
fn bundled_profiles_route_like_the_server_at_the_departure_time() {
    use meridian::graph::GlobalId;
    use meridian::traffic::history::time_of_week_bin;
    use meridian::traffic::HistoricalProfiles;
    use std::sync::Arc;

    // Monday 2026-11-23 08:30 UTC: a third of the roads crawl at 8 km/h in this bin.
    let depart_s: i64 = 1_795_422_600;
    let bin = time_of_week_bin(depart_s * 1000);
    let graph = graph_dir(MAP);
    let store = Arc::new(GraphStore::open(&graph).unwrap());
    let mut rng = StdRng::seed_from_u64(5);
    let mut bins = Vec::new();
    for t in 0..store.tile_count() {
        for l in 0..store.tile(t).unwrap().edges.len() as u32 {
            if rng.random_bool(0.33) {
                bins.push((GlobalId::new(t, l), bin, 8.0));
            }
        }
    }
    let profiles = Arc::new(HistoricalProfiles::from_bins(&store, bins).unwrap());
    let profile_file = scratch_dir("bundle-profiles").join("profiles.bin");
    profiles.write(&profile_file).unwrap();

    // Through the CLI, which checks the profiles belong to the graph.
    let out = scratch_dir("bundle-profiles-out").join("p.bundle");
    let (ok, _, err) = meridian(&[
        "bundle",
        "--graph",
        graph.to_str().unwrap(),
        "--area",
        AREA,
        "--profiles",
        profile_file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let bundle = Bundle::open(&out).unwrap();
    assert!(bundle.manifest().traffic.is_some());
    let offline_store = bundle.store();
    let offline_profiles =
        HistoricalProfiles::from_file_bytes(bundle.profiles().unwrap(), "profiles", &offline_store)
            .unwrap();
    let offline = Router::new(offline_store).with_profiles(Arc::new(offline_profiles));
    let full = Router::new(store.clone()).with_profiles(profiles);

    let area = bundle.area().clone();
    let inside: Vec<LatLon> = junctions(&full)
        .into_iter()
        .filter(|p| area.contains(*p))
        .collect();
    let opts = ResponseOptions {
        overview: Overview::Full,
        geometries: Geometries::Polyline,
        steps: false,
    };
    let (mut compared, mut slowed) = (0, 0);
    let mut attempts = 0;
    while compared < 60 {
        attempts += 1;
        assert!(
            attempts <= 600,
            "only {compared} of 600 pairs routed equally on the bundle"
        );
        let a = inside[rng.random_range(0..inside.len())];
        let b = inside[rng.random_range(0..inside.len())];
        let Ok(want) = full.route_at(&[a, b], false, Some(depart_s * 1000)) else {
            continue;
        };
        // Routes that leave the bundle's tiles may differ; the area tests cover that case.
        let Ok(got) = offline.route_at(&[a, b], false, Some(depart_s * 1000)) else {
            continue;
        };
        if got.route.duration_s != want.route.duration_s {
            assert!(got.route.duration_s >= want.route.duration_s);
            continue;
        }
        assert_eq!(route_response(&got, &opts), route_response(&want, &opts));
        let free = full
            .route_at(&[a, b], false, Some((depart_s + 86_400) * 1000))
            .unwrap();
        if want.route.duration_s > free.route.duration_s + 1.0 {
            slowed += 1;
        }
        compared += 1;
        if compared <= 3 {
            // The CLI on the bundle prints the same answer for that departure.
            let (ok, stdout, err) = meridian(&[
                "route",
                "--bundle",
                out.to_str().unwrap(),
                "--depart",
                &depart_s.to_string(),
                &point_arg(a),
                &point_arg(b),
            ]);
            assert!(ok, "{err}");
            let printed: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(printed, route_response(&want, &opts));
        }
    }
    assert!(slowed > 30, "only {slowed} of 60 routes felt the profiles");
}

#[test]
fn a_member_with_a_binary_name_is_named_escaped_not_as_raw_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let good = make_bundle("bundle-binary-name");
    let bad = good.with_file_name("binary-name.bundle");
    // The same members, plus one the manifest does not list, named with control bytes.
    let mut builder = tar::Builder::new(std::fs::File::create(&bad).unwrap());
    let mut archive = tar::Archive::new(std::fs::File::open(&good).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        builder.append_data(&mut header, path, &mut entry).unwrap();
    }
    let name = std::ffi::OsStr::from_bytes(b"graph/\x01\x1b[31m\x07\xfe.bin");
    let mut header = tar::Header::new_ustar();
    header.set_size(3);
    header.set_mode(0o644);
    builder.append_data(&mut header, name, &b"abc"[..]).unwrap();
    builder.finish().unwrap();
    drop(builder);

    let err = Bundle::open(&bad)
        .err()
        .expect("an unlisted member is refused");
    let message = err.to_string();
    assert!(matches!(err, BundleError::Corrupt { .. }), "{message}");
    assert!(message.contains("not listed"), "{message}");
    assert!(
        !message.chars().any(|c| c.is_control() || c == '\u{fffd}'),
        "raw bytes in {message:?}"
    );
    assert!(message.contains(r"\u{1}\u{1b}[31m\u{7}"), "{message}");
}

/// `meridian bundle` carries the area's places, and `meridian route --bundle` takes two real
/// addresses of the PBF (typed "street number"): the answer is the route between the points
/// the graph's whole index finds for them (the same JSON as `route --graph` by address and as
/// `route --bundle` by those coordinates), ending within 50 m of the houses. An address the
/// bundle's index lacks (outside the area) or nonsense exits non-zero with one sentence.
#[test]
fn cli_route_on_a_bundle_by_address() {
    let dir = scratch_dir("by-address");
    let path = dir.join("area.bundle");
    let graph = graph_dir(MAP);
    let (ok, stdout, stderr) = meridian(&[
        "bundle",
        "--graph",
        graph.to_str().unwrap(),
        "--area",
        AREA,
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("places index: "), "{stdout}");
    let bundle = Bundle::open(&path).unwrap();
    let places = bundle.manifest().places.clone().expect("a places index");
    let whole = meridian::places::PlacesIndex::open_in(&graph)
        .unwrap()
        .unwrap();
    assert_eq!(places.of_entries, whole.file().entries.len());
    assert!(
        places.entries > 0 && places.entries < places.of_entries,
        "{places:?}"
    );
    let in_bundle = bundle.places().unwrap().unwrap();
    eprintln!(
        "places: {} of {} entries, {} of {} bytes",
        places.entries,
        places.of_entries,
        in_bundle.size_bytes(),
        whole.size_bytes()
    );

    let area = Area::parse(AREA).unwrap();
    let inside = |p: (f64, f64)| area.contains(LatLon::new(p.0, p.1));
    let [(text_a, house_a), (text_b, house_b)] =
        crate::geocoding::address_pair(MAP, 41, 1_500.0, 6_000.0, inside);
    let bundle_arg = path.to_str().unwrap();
    let (ok, by_address, stderr) = meridian(&["route", "--bundle", bundle_arg, &text_a, &text_b]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&text_a) && stderr.contains(&text_b),
        "{stderr}"
    );
    let by_address: Value = serde_json::from_str(&by_address).unwrap();
    // The whole index's rank-1 points, routed by coordinates.
    let rank1 = |text: &str, focus: Option<(f64, f64)>| {
        let hits = whole.search(&meridian::places::Query {
            text,
            focus,
            limit: 1,
        });
        let (lat, lon) = whole.entry(hits[0].entry).point();
        LatLon::new(lat, lon)
    };
    let a = rank1(&text_a, None);
    let b = rank1(&text_b, Some((a.lat, a.lon)));
    let (ok, by_point, stderr) = meridian(&[
        "route",
        "--bundle",
        bundle_arg,
        &point_arg(a),
        &point_arg(b),
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(
        by_address,
        serde_json::from_str::<Value>(&by_point).unwrap(),
        "by address = by the whole index's points"
    );
    let (ok, on_graph, stderr) = meridian(&[
        "route",
        "--graph",
        graph.to_str().unwrap(),
        &text_a,
        &text_b,
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(
        by_address,
        serde_json::from_str::<Value>(&on_graph).unwrap()
    );
    let line =
        meridian::route::polyline::decode(by_address["routes"][0]["geometry"].as_str().unwrap(), 5)
            .unwrap();
    for (end, house) in [(line[0], house_a), (*line.last().unwrap(), house_b)] {
        let off = end.haversine_m(LatLon::new(house.0, house.1));
        assert!(off < 50.0, "route end {off:.0} m from the house");
    }

    // Not found: one sentence, non-zero exit.
    let (ok, _, stderr) = meridian(&["route", "--bundle", bundle_arg, "Qxzvw Jkqpz", &text_b]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no address or place matches \"Qxzvw Jkqpz\""),
        "{stderr}"
    );
    // A real street's name among words that match nothing: /search still lists the street
    // (it matched something), but it does not stand for the text, so routing refuses it.
    let mixed = "Landstrasse Qxzvw Jkqpz";
    let partial = in_bundle.search(&meridian::places::Query {
        text: mixed,
        focus: None,
        limit: 1,
    });
    assert!(
        !partial.is_empty(),
        "the index lists something for {mixed:?}"
    );
    let (ok, _, stderr) = meridian(&["route", "--bundle", bundle_arg, mixed, &text_b]);
    assert!(!ok, "{mixed:?} was taken for {stderr}");
    assert!(stderr.contains("no address or place matches"), "{stderr}");
    // A house outside the area: the graph's index has it, the bundle's does not (its street
    // may reach into the area: then, as /search does for an unmapped house, the street).
    let [(outside, house), _] = crate::geocoding::address_pair(MAP, 43, 0.0, 1e7, |p| !inside(p));
    let (ok, _, stderr) = meridian(&[
        "route",
        "--graph",
        graph.to_str().unwrap(),
        &outside,
        &text_b,
    ]);
    assert!(ok, "{stderr}");
    let hits = in_bundle.search(&meridian::places::Query {
        text: &outside,
        focus: None,
        limit: 5,
    });
    for h in hits {
        let e = in_bundle.entry(h.entry);
        let (lat, lon) = e.point();
        assert!(
            e.kind() != meridian::places::Kind::Address
                || LatLon::new(lat, lon).haversine_m(LatLon::new(house.0, house.1)) > 50.0,
            "the bundle holds {outside:?}, outside its area"
        );
    }
}
