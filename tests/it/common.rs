//! Shared test helpers: where the real extracts are, and importing one once per test process.

use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;
use meridian::route::Router;
use meridian::spatial::LatLon;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

pub fn shared_data() -> PathBuf {
    if let Ok(p) = std::env::var("MERIDIAN_SHARED_DATA") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// Path of an extract by its file stem, e.g. `"small/liechtenstein-2015-07"`.
pub fn extract(name: &str) -> PathBuf {
    let p = shared_data().join("osm").join(format!("{name}.osm.pbf"));
    assert!(
        p.exists(),
        "test data {} is missing; see README (Test data)",
        p.display()
    );
    p
}

/// A scratch directory under the target dir, unique per call.
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("meridian-test-{}-{label}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Imports `name` at the default precision once per process and returns its graph directory.
pub fn graph_dir(name: &str) -> PathBuf {
    static DIRS: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let dirs = DIRS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = dirs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = map.get(name) {
        return d.clone();
    }
    let out = scratch_dir(&name.replace('/', "_"));
    import(&BuildOptions::new(extract(name), &out))
        .unwrap_or_else(|e| panic!("import of {name} failed: {e}"));
    map.insert(name.to_string(), out.clone());
    out
}

/// Imports `name` with the foot profile once per process and returns its graph directory.
pub fn foot_graph_dir(name: &str) -> PathBuf {
    static DIRS: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let dirs = DIRS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = dirs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = map.get(name) {
        return d.clone();
    }
    let out = scratch_dir(&format!("{}-foot", name.replace('/', "_")));
    import(&BuildOptions {
        profile: meridian::graph::Profile::Foot,
        ..BuildOptions::new(extract(name), &out)
    })
    .unwrap_or_else(|e| panic!("foot import of {name} failed: {e}"));
    map.insert(name.to_string(), out.clone());
    out
}

/// A router (plain A*) on the foot graph of `name`.
pub fn foot_router(name: &str) -> Arc<Router> {
    let store = GraphStore::open(foot_graph_dir(name)).expect("open foot graph");
    Arc::new(Router::new(Arc::new(store)))
}

pub fn router(name: &str) -> Arc<Router> {
    let store = GraphStore::open(graph_dir(name)).expect("open graph");
    Arc::new(Router::new(Arc::new(store)))
}

/// Every junction position of a graph, in tile order.
pub fn junctions(router: &Router) -> Vec<LatLon> {
    let store = &router.store;
    let mut out = Vec::new();
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for n in 0..tile.node_count() {
            out.push(tile.node_location(n));
        }
    }
    out
}

/// Map images of `name` drawn by the renderer from its graph ([`graph_dir`]), once per process.
pub fn tiles_dir(name: &str) -> PathBuf {
    static DIRS: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let dirs = DIRS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = dirs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = map.get(name) {
        return d.clone();
    }
    let store = GraphStore::open(graph_dir(name)).expect("open graph");
    let out = scratch_dir(&format!("{}-tiles", name.replace('/', "_")));
    meridian::tiles::render::render(&store, &meridian::tiles::render::RenderOptions::new(&out))
        .unwrap_or_else(|e| panic!("rendering {name} failed: {e}"));
    map.insert(name.to_string(), out.clone());
    out
}

/// Whether an external program a test drives is installed. Missing is a failure when
/// `MERIDIAN_REQUIRE_TOOLS=1` (CI installs them), otherwise the caller skips with a notice.
pub fn tool_available(test: &str, paths: &[&str]) -> bool {
    let missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("MERIDIAN_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("{test}: {missing:?} not installed and MERIDIAN_REQUIRE_TOOLS=1");
    }
    eprintln!("SKIPPED {test}: {missing:?} not installed (set MERIDIAN_REQUIRE_TOOLS=1 to fail)");
    false
}

/// A loopback port nobody listens on right now (for programs that take a port, not a socket).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Meridian server on an ephemeral port with the map images of `name`.
pub async fn serve_with_tiles(name: &str) -> std::net::SocketAddr {
    use meridian::server::{serve_on, Limits, ServerOptions};
    let (router, tiles) = (router(name), tiles_dir(name));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServerOptions::from(Limits::default()).with_tiles(tiles);
    tokio::spawn(serve_on(router, listener, options, None));
    addr
}

/// [`graph_dir`] on a thread with a large stack: the import's strongly-connected-component
/// pass recurses deeply on Porto's graph in a debug build.
pub fn graph_dir_deep(name: &str) -> PathBuf {
    let name = name.to_string();
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || graph_dir(&name))
        .unwrap()
        .join()
        .unwrap()
}

/// `GET http://{addr}{path}`: the status and the JSON body (a body that is not JSON fails the
/// test, naming the path and showing the text).
pub async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
    (status, body)
}

/// A highway way of a PBF as the file has it: its tags and node ids.
pub struct PbfWay {
    pub tags: HashMap<String, String>,
    pub refs: Vec<i64>,
}

/// Every node's position and every `highway=*` way of extract `name`, read with osmpbf
/// (independently of the importer), for tests that check answers against the file itself.
pub fn pbf_highways(name: &str) -> (HashMap<i64, (f64, f64)>, Vec<PbfWay>) {
    use osmpbf::{Element, ElementReader};
    let mut nodes = HashMap::new();
    let mut ways = Vec::new();
    ElementReader::from_path(extract(name))
        .unwrap()
        .for_each(|el| match el {
            Element::Node(n) => {
                nodes.insert(n.id(), (n.lat(), n.lon()));
            }
            Element::DenseNode(n) => {
                nodes.insert(n.id(), (n.lat(), n.lon()));
            }
            Element::Way(w) => {
                let tags: HashMap<String, String> = w
                    .tags()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                if tags.contains_key("highway") {
                    ways.push(PbfWay {
                        tags,
                        refs: w.refs().collect(),
                    });
                }
            }
            Element::Relation(_) => {}
        })
        .unwrap();
    (nodes, ways)
}

/// Every intersection of every step of an OSRM route object.
pub fn route_intersections(route: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    route["legs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["steps"].as_array().unwrap())
        .flat_map(|s| s["intersections"].as_array().unwrap())
}

/// Serves `router` over real HTTP on a free loopback port (default limits, no cluster).
pub async fn serve_router(router: Arc<Router>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(meridian::server::serve_on(
        router,
        listener,
        meridian::server::Limits::default(),
        None,
    ));
    addr
}
