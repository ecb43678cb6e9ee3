//! `annotations=nodes` over real HTTP on Liechtenstein: one OSM node id per geometry point, read
//! back against the PBF itself (with osmpbf, independently of the importer): every interior
//! point lies exactly on its node, and every two consecutive nodes are neighbours on one OSM
//! highway way, so a client can join the route to OSM ways as it does with OSRM's answers.

use crate::common::{get, junctions, pbf_highways, router, serve_router};
use std::collections::{HashMap, HashSet};

const NAME: &str = "small/liechtenstein-2015-07";

/// Node positions by OSM id.
type Positions = HashMap<i64, (f64, f64)>;

/// Every node's position and every pair of neighbouring nodes on a highway way (both ways).
fn read_pbf() -> (Positions, HashSet<(i64, i64)>) {
    let (nodes, ways) = pbf_highways(NAME);
    let mut pairs = HashSet::new();
    for w in &ways {
        for p in w.refs.windows(2) {
            pairs.insert((p[0], p[1]));
            pairs.insert((p[1], p[0]));
        }
    }
    (nodes, pairs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_nodes_are_the_osm_nodes_under_the_geometry() {
    let r = router(NAME);
    let points = junctions(&r);
    let addr = serve_router(r).await;
    let (osm_nodes, neighbours) = tokio::task::spawn_blocking(read_pbf).await.unwrap();

    let (mut routes, mut checked_points) = (0, 0);
    for i in 0..40 {
        let (a, b) = (
            points[(i * 7919) % points.len()],
            points[(i * 104_729 + 13) % points.len()],
        );
        let path = format!(
            "/route/v1/driving/{},{};{},{}?overview=full&geometries=geojson&annotations=nodes,distance",
            a.lon, a.lat, b.lon, b.lat
        );
        let (status, body) = get(addr, &path).await;
        if status != 200 {
            continue;
        }
        let route = &body["routes"][0];
        let coords = route["geometry"]["coordinates"].as_array().unwrap();
        let ann = &route["legs"][0]["annotation"];
        let nodes: Vec<i64> = ann["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let distances = ann["distance"].as_array().unwrap();
        assert_eq!(nodes.len(), coords.len(), "{path}: one node per point");
        assert_eq!(
            distances.len() + 1,
            nodes.len(),
            "{path}: one distance per segment"
        );
        for (k, (id, c)) in nodes.iter().zip(coords).enumerate() {
            let &(lat, lon) = osm_nodes
                .get(id)
                .unwrap_or_else(|| panic!("{path}: node {id} is not in the PBF"));
            // Interior points are the nodes themselves; the ends are the snapped points.
            if k > 0 && k + 1 < nodes.len() {
                let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
                assert!(
                    (x - lon).abs() < 2e-6 && (y - lat).abs() < 2e-6,
                    "{path}: point {k} ({y},{x}) is not on node {id} ({lat},{lon})"
                );
                checked_points += 1;
            }
        }
        for w in nodes.windows(2) {
            if w[0] != w[1] {
                assert!(
                    neighbours.contains(&(w[0], w[1])),
                    "{path}: nodes {} and {} are not neighbours on an OSM way",
                    w[0],
                    w[1]
                );
            }
        }
        routes += 1;
    }
    assert!(
        routes >= 30 && checked_points > 1_000,
        "{routes} routes, {checked_points} points"
    );

    let (a, b) = (points[5], points[points.len() / 3]);
    let coords = format!("{},{};{},{}", a.lon, a.lat, b.lon, b.lat);
    let (status, body) = get(
        addr,
        &format!("/route/v1/driving/{coords}?annotations=true"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["routes"][0]["legs"][0]["annotation"]["nodes"].is_array(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_datasources_name_the_segments_on_live_traffic() {
    use meridian::graph::GlobalId;
    use meridian::traffic::LiveTraffic;
    let r = router(NAME);
    // Live speeds on every other edge (by a hash of its id), fresh now.
    let now = meridian::route::now_ms();
    let live = LiveTraffic::new();
    let mut by_nodes: HashMap<(i64, i64), GlobalId> = HashMap::new();
    let mut slowed = HashSet::new();
    for t in 0..r.store.tile_count() {
        let tile = r.store.tile(t).unwrap();
        for l in 0..tile.edges.len() as u32 {
            let id = GlobalId::new(t, l);
            let edge = tile.edge(l);
            let ids: Vec<i64> = tile.shape_osm_ids(edge).collect();
            for w in ids.windows(2) {
                by_nodes.insert((w[0], w[1]), id);
            }
            if (t.wrapping_mul(31) ^ l.wrapping_mul(2_654_435_761)) % 2 == 0 {
                live.observe(id, edge.speed_kmh() * 0.5, now);
                slowed.insert(id);
            }
        }
    }
    r.traffic
        .publish(live.snapshot(&r.store, now, meridian::traffic::live::DEFAULT_FRESH_MS));
    let points = junctions(&r);
    let addr = serve_router(r).await;

    let (mut on_live, mut on_profile) = (0, 0);
    for i in 0..30 {
        let (a, b) = (
            points[(i * 7907) % points.len()],
            points[(i * 104_723 + 5) % points.len()],
        );
        let path = format!(
            "/route/v1/driving/{},{};{},{}?annotations=datasources,nodes",
            a.lon, a.lat, b.lon, b.lat
        );
        let (status, body) = get(addr, &path).await;
        if status != 200 {
            continue;
        }
        let ann = &body["routes"][0]["legs"][0]["annotation"];
        assert_eq!(
            ann["metadata"]["datasource_names"],
            serde_json::json!(["profile", "historical", "live"])
        );
        let nodes: Vec<i64> = ann["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let sources = ann["datasources"].as_array().unwrap();
        assert_eq!(sources.len() + 1, nodes.len(), "{path}");
        for (k, source) in sources.iter().enumerate() {
            let Some(edge) = by_nodes.get(&(nodes[k], nodes[k + 1])) else {
                continue;
            };
            let expected = if slowed.contains(edge) { 2 } else { 0 };
            assert_eq!(source.as_u64(), Some(expected), "{path}: segment {k}");
            if expected == 2 {
                on_live += 1;
            } else {
                on_profile += 1;
            }
        }
    }
    assert!(
        on_live > 100 && on_profile > 100,
        "{on_live} live, {on_profile} profile segments"
    );
}
