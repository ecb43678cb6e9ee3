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

/// Map images of `name` (its graph from [`graph_dir`]), written once per process.
pub fn tiles_dir(name: &str) -> PathBuf {
    static DIRS: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let dirs = DIRS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = dirs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = map.get(name) {
        return d.clone();
    }
    let store = GraphStore::open(graph_dir(name)).expect("open graph");
    let out = scratch_dir(&format!("{}-tiles", name.replace('/', "_")));
    fake_tiles::write(&store, &out);
    map.insert(name.to_string(), out.clone());
    out
}

/// Stand-in images until the renderer lands: one flat PNG per cell covering the graph's bbox.
mod fake_tiles {
    use meridian::graph::GraphStore;
    use meridian::spatial::geohash;
    use meridian::tiles::index::{TileIndex, TileLevel, INDEX_FORMAT_VERSION};
    use meridian::tiles::{image_path, DISPLAY_PRECISIONS, TILE_WIDTH_PX};
    use std::path::Path;

    pub fn write(store: &GraphStore, out: &Path) {
        let m = store.manifest();
        let [min_lon, min_lat, max_lon, max_lat] = m.bbox;
        let mut levels = Vec::new();
        for p in DISPLAY_PRECISIONS {
            let mut cells = std::collections::BTreeSet::new();
            let b = geohash::decode_bbox(&geohash::encode(min_lat, min_lon, p).unwrap()).unwrap();
            let (dlat, dlon) = (b.max_lat - b.min_lat, b.max_lon - b.min_lon);
            let mut lat = min_lat;
            while lat < max_lat + dlat {
                let mut lon = min_lon;
                while lon < max_lon + dlon {
                    cells.insert(geohash::encode(lat.min(max_lat), lon.min(max_lon), p).unwrap());
                    lon += dlon;
                }
                lat += dlat;
            }
            std::fs::create_dir_all(out.join(p.to_string())).unwrap();
            for (i, c) in cells.iter().enumerate() {
                let png = flat_png(TILE_WIDTH_PX, TILE_WIDTH_PX * 3 / 4, i as u8);
                std::fs::write(out.join(image_path(c)), png).unwrap();
            }
            levels.push(TileLevel {
                precision: p,
                width_px: TILE_WIDTH_PX,
                cells: cells.into_iter().collect(),
            });
        }
        TileIndex {
            format_version: INDEX_FORMAT_VERSION,
            graph: m.name.clone(),
            graph_version: m.graph_version.clone(),
            bbox: m.bbox,
            levels,
        }
        .write(out)
        .unwrap();
    }

    fn flat_png(w: u32, h: u32, shade: u8) -> Vec<u8> {
        let mut raw = Vec::new();
        for _ in 0..h {
            raw.push(0);
            for x in 0..w {
                raw.extend([200 + shade % 40, 210, if x % 64 == 0 { 90 } else { 190 }]);
            }
        }
        // zlib with stored (uncompressed) deflate blocks.
        let mut z = vec![0x78, 0x01];
        for (i, chunk) in raw.chunks(65535).enumerate() {
            let last = (i + 1) * 65535 >= raw.len();
            z.push(last as u8);
            z.extend((chunk.len() as u16).to_le_bytes());
            z.extend((!(chunk.len() as u16)).to_le_bytes());
            z.extend(chunk);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in &raw {
            a = (a + byte as u32) % 65521;
            b = (b + a) % 65521;
        }
        z.extend(((b << 16) | a).to_be_bytes());
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            png.extend((data.len() as u32).to_be_bytes());
            let mut crc = crc32fast::Hasher::new();
            crc.update(kind);
            crc.update(data);
            png.extend(kind);
            png.extend(data);
            png.extend(crc.finalize().to_be_bytes());
        };
        let mut ihdr = Vec::new();
        ihdr.extend(w.to_be_bytes());
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        chunk(b"IHDR", &ihdr);
        chunk(b"IDAT", &z);
        chunk(b"IEND", &[]);
        png
    }
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
