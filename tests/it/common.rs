//! Shared test helpers: where the real extracts are, and importing one once per test process.

use meridian::graph::build::{import, BuildOptions};
use meridian::graph::GraphStore;
use meridian::route::Router;
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

pub fn router(name: &str) -> Arc<Router> {
    let store = GraphStore::open(graph_dir(name)).expect("open graph");
    Arc::new(Router::new(Arc::new(store)))
}

/// Every junction position of a graph, `(lat, lon)`, in tile order.
pub fn junctions(router: &Router) -> Vec<(f64, f64)> {
    let store = &router.store;
    let mut out = Vec::new();
    for t in 0..store.tile_count() {
        let tile = store.tile(t).unwrap();
        for n in 0..tile.node_count() {
            out.push(tile.node_position(n));
        }
    }
    out
}
