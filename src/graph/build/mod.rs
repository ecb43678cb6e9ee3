//! `meridian import`: OSM PBF → car or foot graph ([`BuildOptions::profile`]) → geohash tiles +
//! manifest in a graph directory.
//!
//! Steps: [`osm`] reads the file (two passes), [`topology`] builds junctions, chains, directed
//! edges, the largest strongly connected component and forbidden turns, [`tiling`] writes tiles.
//! Then, for the car graph, the `places` crate reads the file once more for addresses, streets
//! and places and writes the geocoding index (`places.rkyv`) beside the tiles (a foot graph is
//! served next to a car graph, whose index answers the geocoding).

pub mod ascii_map;
#[cfg(test)]
mod ascii_tests;
pub mod dimacs;
pub mod landmarks;
pub mod osm;
pub mod tiling;
pub mod topology;

use crate::manifest::Manifest;
use crate::mode::Profile;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default tile size: geohash precision 5 (about 4.9 km x 4.9 km at the equator, 3.7 km wide at
/// Porto's latitude). Measured on Porto (`bench/RESULTS.md`): 93 tiles, a query touches 11 at
/// the median; precision 6 touches ~100 and is 20% slower, precision 4 is 6 tiles for a city.
pub const DEFAULT_PRECISION: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot read OSM file {path}: {message}")]
    Pbf { path: String, message: String },
    #[error("I/O error in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("geometry error: {0}")]
    Geometry(String),
    #[error("cannot serialise a tile: {0}")]
    Serialize(String),
    #[error("geohash precision must be between 2 and 8, got {0}")]
    Precision(usize),
    #[error("{path} holds no {profile}-routable roads")]
    Empty { path: String, profile: Profile },
    #[error(transparent)]
    Places(#[from] places::PlacesError),
}

impl BuildError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        BuildError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

pub struct BuildOptions {
    pub input: PathBuf,
    pub out_dir: PathBuf,
    pub precision: usize,
    /// Landmarks for the A* heuristic (0 disables them).
    pub landmarks: usize,
    /// Show progress bars (off in tests and when stderr is not a terminal).
    pub progress: bool,
    /// Also write the geocoding index (`places.rkyv`) from the same file (car graphs only).
    pub places: bool,
    /// Who the graph is for (default: cars).
    pub profile: Profile,
}

impl BuildOptions {
    /// Defaults: precision [`DEFAULT_PRECISION`], [`landmarks::DEFAULT_LANDMARKS`], no progress,
    /// the car profile with its geocoding index.
    pub fn new(input: impl Into<PathBuf>, out_dir: impl Into<PathBuf>) -> Self {
        BuildOptions {
            input: input.into(),
            out_dir: out_dir.into(),
            precision: DEFAULT_PRECISION,
            landmarks: landmarks::DEFAULT_LANDMARKS,
            progress: false,
            places: true,
            profile: Profile::Car,
        }
    }
}

/// What an import did and how long each step took.
pub struct BuildReport {
    pub manifest: Manifest,
    pub read_time: Duration,
    /// Junction graph, strongly connected component, restrictions and landmarks.
    pub topology_time: Duration,
    pub tiling_time: Duration,
    /// The geocoding index, when [`BuildOptions::places`] asked for it.
    pub places: Option<places::IndexReport>,
    pub total_time: Duration,
}

pub fn import(opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    if !(2..=8).contains(&opts.precision) {
        return Err(BuildError::Precision(opts.precision));
    }
    let start = Instant::now();
    let progress = if opts.progress {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let osm = osm::read_pbf(&opts.input, opts.profile, &progress)?;
    let mut report = build(osm, opts, progress, start)?;
    let index = opts.out_dir.join(places::FILE_NAME);
    if opts.places && opts.profile == Profile::Car {
        report.places = Some(places::build_index(&opts.input, &opts.out_dir)?);
    } else if index.exists() {
        // An index of an earlier import must not be served with the new graph.
        std::fs::remove_file(&index).map_err(|e| BuildError::io(&index, e))?;
    }
    report.total_time = start.elapsed();
    Ok(report)
}

/// Imports roads already in memory (an [`ascii_map`] of a unit test, say); `opts.input` only
/// names the source in the manifest.
pub fn import_data(osm: osm::OsmData, opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    if !(2..=8).contains(&opts.precision) {
        return Err(BuildError::Precision(opts.precision));
    }
    build(osm, opts, ProgressBar::hidden(), Instant::now())
}

/// Topology, landmarks and tiles of what was read; `start` is when reading began.
fn build(
    osm: osm::OsmData,
    opts: &BuildOptions,
    progress: ProgressBar,
    start: Instant,
) -> Result<BuildReport, BuildError> {
    let read_time = start.elapsed();
    if osm.ways.is_empty() {
        return Err(BuildError::Empty {
            path: opts.input.display().to_string(),
            profile: opts.profile,
        });
    }

    progress.set_message("building topology");
    let t = Instant::now();
    let topo = topology::build_topology(&osm);
    progress.set_message("landmarks");
    let landmarks = landmarks::compute(&topo, opts.landmarks);
    let topology_time = t.elapsed();
    if topo.edges.is_empty() {
        return Err(BuildError::Empty {
            path: opts.input.display().to_string(),
            profile: opts.profile,
        });
    }

    let t = Instant::now();
    // Old tiles of a previous import must not survive next to the new manifest.
    let tiles_dir = opts.out_dir.join("tiles");
    if tiles_dir.exists() {
        std::fs::remove_dir_all(&tiles_dir).map_err(|e| BuildError::io(&tiles_dir, e))?;
    }
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| BuildError::io(&opts.out_dir, e))?;
    let name = opts
        .out_dir
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "graph".into());
    let source = opts.input.display().to_string();
    let manifest = tiling::write_tiles(
        &tiling::TilingInput {
            osm: &osm,
            topo: &topo,
            landmarks: &landmarks,
            precision: opts.precision,
            name: &name,
            source: &source,
            profile: opts.profile,
        },
        &opts.out_dir,
        &progress,
    )?;
    manifest
        .write(&opts.out_dir)
        .map_err(|e| BuildError::io(&opts.out_dir, e))?;
    progress.finish_and_clear();
    Ok(BuildReport {
        manifest,
        read_time,
        topology_time,
        tiling_time: t.elapsed(),
        places: None,
        total_time: start.elapsed(),
    })
}
