//! Offline bundles: one file with everything a device needs to route (and, with images, to show
//! the map) inside an area, with no server and no network.
//!
//! # Format (version 1)
//!
//! A bundle is a plain POSIX ustar archive, so `tar tf area.bundle` lists it and `tar xf`
//! unpacks it. Members, in this order:
//!
//! 1. `manifest.json`: the [`BundleManifest`]: format name and version, the area it was cut for
//!    (a geohash prefix or a bbox), the graph's name and version, the graph's whole manifest, the
//!    area and ring tiles, the image levels (or `null`: no images), `traffic` (see below), counts,
//!    and every other member with its size and sha256.
//! 2. `graph/manifest.json`: the graph's manifest, byte for byte as `meridian import` wrote it
//!    (it lists *all* tiles of the graph; the bundle holds only some).
//! 3. `graph/tiles/<geohash>.rkyv`: the graph tiles, unchanged: every tile whose cell intersects
//!    the area, plus the ring of tiles around those cells, which a search needs to cross the
//!    area's border and come back (a road leaving the area usually re-enters within a tile).
//! 4. `tiles/index.json` and `tiles/<precision>/<geohash>.png`, only when the bundle was made
//!    with `--tiles DIR`: the images of DIR at every level whose cell intersects the area, and a
//!    [`TileIndex`] listing just those.
//! 5. `traffic/profiles.bin`, only when made with `--profiles FILE`: the historical time-of-week
//!    profile file of the graph (`meridian traffic history`), whole; offline routes use it for
//!    their departure time.
//! 6. `places/places.rkyv`, when the graph directory has a places index: the part of it inside
//!    the area (addresses and places whose point lies in the area, streets whose extent meets
//!    it), as a complete index of its own ([`places::index::subset`]), so `meridian route
//!    --bundle` takes addresses. The manifest's `places` says how many entries it kept of how
//!    many; a bundle without it (made from a graph without an index, or by an older build)
//!    has no `places` key.
//!
//! A tar member's data starts on a 512-byte boundary, and a memory map starts on a page, so a
//! tile archive inside a mapped bundle is as aligned as rkyv needs (at most 16 bytes): the
//! store reads the tiles in place, nothing is extracted. [`Bundle::open`] checks every member's
//! size and sha256 against the manifest, and every tile against the graph manifest, before
//! anything is routed; a bundle shorter than its last member plus the end-of-archive blocks is
//! reported as truncated.
//!
//! `traffic` is `null` (routes use the free-flow speeds stored in the tiles) or
//! `{"profiles": "traffic/profiles.bin"}`. Readers refuse any other value, so traffic data a
//! build does not understand is never silently ignored.
//!
//! Tile indexes stay those of the whole graph, so edge ids, landmarks and the route answer are
//! the same as the server's; an edge whose head lies in a tile the bundle lacks is treated as
//! absent by the search (see `route::search`). Routes between points of the area are
//! therefore the full graph's routes unless the fastest one leaves the area by more than the
//! ring; then the bundle gives the fastest route that does not.

use super::image_path;
use super::index::{IndexError, TileIndex, TileLevel, INDEX_FILE};
use graph::manifest::{Manifest, ManifestError, MANIFEST_FILE};
use graph::store::{hex, sha256_hex};
use graph::tile::ArchivedTile;
use graph::{GraphStore, StoreError};
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spatial::geohash;
use spatial::{BBox, LatLon};
use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const BUNDLE_FORMAT: &str = "meridian-bundle";
pub const BUNDLE_FORMAT_VERSION: u32 = 1;
/// The first member.
pub const MANIFEST_MEMBER: &str = "manifest.json";
/// Graph files live under this folder, in the graph directory's layout.
pub const GRAPH_PREFIX: &str = "graph/";
/// Images and their index live under this folder, in a tiles directory's layout.
pub const IMAGES_PREFIX: &str = "tiles/";

/// Tar blocks: member data starts on a multiple of this.
const BLOCK: usize = 512;
// In-place reading needs every archive's alignment to divide the block size.
const _: () = assert!(BLOCK % std::mem::align_of::<ArchivedTile>() == 0);
const _: () = assert!(std::mem::align_of::<ArchivedTile>() <= 16);

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("bundle {path} is truncated: {detail}")]
    Truncated { path: String, detail: String },
    #[error("bundle {path} is corrupt: member {member} {detail}")]
    Corrupt {
        path: String,
        member: String,
        detail: String,
    },
    #[error("{path} is not a Meridian bundle: {detail}")]
    NotABundle { path: String, detail: String },
    #[error("bundle {path} has format version {found}; this build reads version {expected}")]
    Version {
        path: String,
        found: u32,
        expected: u32,
    },
    #[error("bad area {given:?}: {reason}")]
    BadArea { given: String, reason: String },
    #[error("the area ({area}) holds no tile of graph {graph}")]
    EmptyArea { area: String, graph: String },
    #[error("point {lon},{lat} is outside the bundle's area ({area})")]
    OutsideArea { lat: f64, lon: f64, area: String },
    #[error(
        "graph tile {file} does not match its manifest entry; run `meridian verify` on the graph"
    )]
    GraphTile { file: String },
    #[error(
        "images in {dir} were drawn from graph version {found}, the graph is version {expected}"
    )]
    ImageVersion {
        dir: String,
        found: String,
        expected: String,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Places(#[from] places::PlacesError),
}

/// The region a bundle is cut for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// A geohash cell of any precision (1 to 12).
    Geohash(String),
    /// min_lon, min_lat, max_lon, max_lat (as in graph manifests), edges included.
    Bbox([f64; 4]),
}

impl Area {
    /// `"u0qu"` (a geohash prefix) or `"min_lon,min_lat,max_lon,max_lat"`.
    pub fn parse(text: &str) -> Result<Area, BundleError> {
        let bad = |reason: &str| BundleError::BadArea {
            given: text.to_string(),
            reason: reason.to_string(),
        };
        let text = text.trim();
        if !text.contains(',') {
            return if geohash::is_valid(text) {
                Ok(Area::Geohash(text.to_string()))
            } else {
                Err(bad(
                    "not a geohash (1-12 lowercase characters of 0-9 b-h j k m n p-z) nor a bbox",
                ))
            };
        }
        let v: Vec<f64> = text
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("a bbox is four numbers: min_lon,min_lat,max_lon,max_lat"))?;
        let [min_lon, min_lat, max_lon, max_lat] = v[..] else {
            return Err(bad(
                "a bbox is four numbers: min_lon,min_lat,max_lon,max_lat",
            ));
        };
        let lon_ok = |x: f64| (-180.0..=180.0).contains(&x);
        let lat_ok = |y: f64| (-90.0..=90.0).contains(&y);
        if !(lon_ok(min_lon) && lon_ok(max_lon) && lat_ok(min_lat) && lat_ok(max_lat)) {
            return Err(bad("coordinates out of range"));
        }
        if min_lon > max_lon || min_lat > max_lat {
            return Err(bad("min must not exceed max"));
        }
        Ok(Area::Bbox([min_lon, min_lat, max_lon, max_lat]))
    }

    /// The area's extent (for a geohash, its cell).
    pub fn bbox(&self) -> BBox {
        match self {
            Area::Geohash(h) => geohash::decode_bbox(h).unwrap_or_else(|_| BBox::empty()),
            Area::Bbox(b) => BBox::from_lon_lat_array(*b),
        }
    }

    /// True if `p` lies in the area (a geohash area: the point encodes into that cell).
    pub fn contains(&self, p: LatLon) -> bool {
        match self {
            Area::Geohash(h) => geohash::encode(p, h.len()).is_ok_and(|c| c == *h),
            Area::Bbox(_) => self.bbox().contains(p),
        }
    }

    /// True if the geohash cell `cell` (any precision) shares ground with the area.
    pub fn intersects_cell(&self, cell: &str) -> bool {
        match self {
            Area::Geohash(h) => cell.starts_with(h.as_str()) || h.starts_with(cell),
            Area::Bbox(_) => geohash::decode_bbox(cell).is_ok_and(|b| b.intersects(&self.bbox())),
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bbox();
        let extent = format!(
            "lon {:.5}..{:.5}, lat {:.5}..{:.5}",
            b.min_lon, b.max_lon, b.min_lat, b.max_lat
        );
        match self {
            Area::Geohash(h) => write!(f, "geohash cell {h}: {extent}"),
            Area::Bbox(_) => write!(f, "bbox {extent}"),
        }
    }
}

/// Which graph the bundle was cut from and which of its tiles it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleGraph {
    pub name: String,
    pub graph_version: String,
    /// Tiles whose cell intersects the area.
    pub area_tiles: Vec<String>,
    /// Tiles around those (one ring of neighbours), so searches can cross the area's border.
    pub ring_tiles: Vec<String>,
}

/// The bundle's images, when it has any.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleImages {
    /// The graph version the images were drawn from (always the bundle's graph version).
    pub graph_version: String,
    pub levels: Vec<ImageLevel>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageLevel {
    pub precision: usize,
    pub images: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleCounts {
    pub graph_tiles: usize,
    pub images: usize,
    /// Members besides `manifest.json`.
    pub members: usize,
    /// Bytes of member data besides `manifest.json` (the file is larger: tar headers, padding).
    pub member_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub size: u64,
    /// Hex sha256 of the member's bytes.
    pub sha256: String,
}

/// `manifest.json`, the first member of a bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleManifest {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    pub format_version: u32,
    /// The `meridian` build that wrote it.
    pub created_by: String,
    pub area: Area,
    pub graph: BundleGraph,
    /// The graph's manifest (the same as member `graph/manifest.json`).
    pub graph_manifest: Manifest,
    /// `null`: the bundle has no map images (it was made without `--tiles`).
    pub images: Option<BundleImages>,
    /// `null` (no historical profile: free-flow speeds) or `{"profiles": "<member>"}`.
    pub traffic: Option<serde_json::Value>,
    /// The area's places index; absent (not `null`, so older bundles read and compare as they
    /// were written) when the bundle has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub places: Option<BundlePlaces>,
    pub counts: BundleCounts,
    /// Every member after `manifest.json`, in archive order.
    pub members: Vec<Member>,
}

/// What `meridian bundle` was asked for.
#[derive(Clone, Debug)]
pub struct BundleOptions {
    pub graph_dir: PathBuf,
    pub area: Area,
    /// A tiles directory (`index.json` + `<precision>/<geohash>.png`) to take images from.
    pub tiles_dir: Option<PathBuf>,
    /// A historical profile file (`meridian traffic history`) of this graph, carried whole;
    /// the caller checks it belongs to the graph.
    pub profiles: Option<PathBuf>,
    pub out: PathBuf,
}

/// Member holding the historical traffic profiles, when the bundle has them.
pub const PROFILES_MEMBER: &str = "traffic/profiles.bin";

/// Member holding the area's places index, when the bundle has one.
pub const PLACES_MEMBER: &str = "places/places.rkyv";

/// The bundle's places index: which member, and how much of the graph's index it kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundlePlaces {
    /// Always [`PLACES_MEMBER`].
    pub index: String,
    /// Entries (addresses, streets, places) in the bundle's index.
    pub entries: usize,
    /// Entries in the graph's whole index (informative: nothing is derived from it, and the
    /// bundle cannot check it).
    pub of_entries: usize,
}

#[derive(Clone, Debug)]
pub struct BundleReport {
    pub manifest: BundleManifest,
    /// Size of the bundle file.
    pub bytes: u64,
    pub time: Duration,
}

/// Where a member's bytes come from while writing.
enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Streams a file through sha256; returns (size, hex digest).
fn hash_file(path: &Path) -> Result<(u64, String), BundleError> {
    let mut file = std::fs::File::open(path).map_err(read_err(path))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher).map_err(read_err(path))?;
    Ok((size, hex(&hasher.finalize())))
}

/// The graph tiles a bundle of `area` holds: (area tiles, ring tiles), as manifest indexes.
pub fn select_tiles(manifest: &Manifest, area: &Area) -> (Vec<u32>, Vec<u32>) {
    let mut inside = Vec::new();
    let mut ring = Vec::new();
    for (i, t) in manifest.tiles.iter().enumerate() {
        if area.intersects_cell(&t.geohash) {
            inside.push(i as u32);
        } else if geohash::neighbors(&t.geohash)
            .unwrap_or_default()
            .iter()
            .any(|n| area.intersects_cell(n))
        {
            ring.push(i as u32);
        }
    }
    (inside, ring)
}

/// Writes a bundle of `opts.area` (see the module doc for the format).
pub fn write_bundle(opts: &BundleOptions) -> Result<BundleReport, BundleError> {
    let started = Instant::now();
    let graph_manifest = Manifest::read(&opts.graph_dir)?;
    let (inside, ring) = select_tiles(&graph_manifest, &opts.area);
    if inside.is_empty() {
        return Err(BundleError::EmptyArea {
            area: opts.area.to_string(),
            graph: graph_manifest.name.clone(),
        });
    }

    let mut sources: Vec<(String, Source)> = Vec::new();
    let manifest_path = opts.graph_dir.join(MANIFEST_FILE);
    sources.push((
        format!("{GRAPH_PREFIX}{MANIFEST_FILE}"),
        Source::File(manifest_path),
    ));
    let mut tiles: Vec<u32> = inside.iter().chain(&ring).copied().collect();
    tiles.sort_unstable();
    for &i in &tiles {
        let entry = &graph_manifest.tiles[i as usize];
        sources.push((
            format!("{GRAPH_PREFIX}{}", entry.file),
            Source::File(opts.graph_dir.join(&entry.file)),
        ));
    }

    let traffic = opts.profiles.as_ref().map(|p| {
        sources.push((PROFILES_MEMBER.to_string(), Source::File(p.clone())));
        serde_json::json!({ "profiles": PROFILES_MEMBER })
    });

    let places = match places::PlacesIndex::open_in(&opts.graph_dir)? {
        None => None,
        Some(index) => {
            let (area, bbox) = (&opts.area, opts.area.bbox());
            let file = places::index::subset(index.file(), |e| {
                if e.kind() == places::Kind::Street {
                    // A street counts if its extent meets the area: part of it is inside.
                    let b = e.bbox();
                    b[0] <= bbox.max_lat
                        && b[1] >= bbox.min_lat
                        && b[2] <= bbox.max_lon
                        && b[3] >= bbox.min_lon
                } else {
                    let (lat, lon) = e.point();
                    area.contains(LatLon::new(lat, lon))
                }
            });
            let entries = file.entries.len();
            let bytes = places::index::to_bytes(&file)?;
            sources.push((PLACES_MEMBER.to_string(), Source::Bytes(bytes.to_vec())));
            Some(BundlePlaces {
                index: PLACES_MEMBER.to_string(),
                entries,
                of_entries: index.file().entries.len(),
            })
        }
    };

    let mut images = None;
    let mut image_count = 0;
    if let Some(dir) = &opts.tiles_dir {
        let index = TileIndex::read(dir)?;
        if index.graph_version != graph_manifest.graph_version {
            return Err(BundleError::ImageVersion {
                dir: dir.display().to_string(),
                found: index.graph_version,
                expected: graph_manifest.graph_version.clone(),
            });
        }
        let levels: Vec<TileLevel> = index
            .levels
            .iter()
            .map(|l| TileLevel {
                cells: l
                    .cells
                    .iter()
                    .filter(|c| opts.area.intersects_cell(c))
                    .cloned()
                    .collect(),
                ..l.clone()
            })
            .collect();
        let sub_index = TileIndex {
            levels: levels.clone(),
            ..index
        };
        let text = serde_json::to_vec(&sub_index).map_err(|e| BundleError::Write {
            path: opts.out.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        sources.push((format!("{IMAGES_PREFIX}{INDEX_FILE}"), Source::Bytes(text)));
        for level in &levels {
            for cell in &level.cells {
                let rel = image_path(cell);
                sources.push((
                    format!("{IMAGES_PREFIX}{rel}"),
                    Source::File(dir.join(&rel)),
                ));
            }
            image_count += level.cells.len();
        }
        images = Some(BundleImages {
            graph_version: graph_manifest.graph_version.clone(),
            levels: levels
                .iter()
                .map(|l| ImageLevel {
                    precision: l.precision,
                    images: l.cells.len(),
                })
                .collect(),
        });
    }

    // Hash everything first: the manifest, written first, lists every member's checksum.
    let mut members = Vec::with_capacity(sources.len());
    for (name, source) in &sources {
        let (size, sha256) = match source {
            Source::Bytes(b) => (b.len() as u64, sha256_hex(b)),
            Source::File(p) => hash_file(p)?,
        };
        members.push(Member {
            name: name.clone(),
            size,
            sha256,
        });
    }
    // Tiles must be exactly the ones the graph manifest describes.
    for (m, &i) in members[1..].iter().zip(&tiles) {
        let entry = &graph_manifest.tiles[i as usize];
        if m.sha256 != entry.sha256 {
            return Err(BundleError::GraphTile {
                file: opts.graph_dir.join(&entry.file).display().to_string(),
            });
        }
    }
    let geohashes = |v: &[u32]| -> Vec<String> {
        v.iter()
            .map(|&i| graph_manifest.tiles[i as usize].geohash.clone())
            .collect()
    };
    let manifest = BundleManifest {
        format: BUNDLE_FORMAT.to_string(),
        format_version: BUNDLE_FORMAT_VERSION,
        created_by: format!("meridian {}", env!("CARGO_PKG_VERSION")),
        area: opts.area.clone(),
        graph: BundleGraph {
            name: graph_manifest.name.clone(),
            graph_version: graph_manifest.graph_version.clone(),
            area_tiles: geohashes(&inside),
            ring_tiles: geohashes(&ring),
        },
        images,
        traffic,
        places,
        counts: BundleCounts {
            graph_tiles: tiles.len(),
            images: image_count,
            members: members.len(),
            member_bytes: members.iter().map(|m| m.size).sum(),
        },
        members,
        graph_manifest,
    };

    let out = &opts.out;
    let write_err = |source: std::io::Error| BundleError::Write {
        path: out.display().to_string(),
        source,
    };
    // Written next to the target and renamed, so a failed run never leaves a partial bundle.
    let tmp = out.with_extension("bundle-tmp");
    let file = std::fs::File::create(&tmp).map_err(write_err)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| write_err(e.into()))?;
    append(&mut tar, MANIFEST_MEMBER, text.len() as u64, &text[..]).map_err(write_err)?;
    for ((name, source), member) in sources.iter().zip(&manifest.members) {
        match source {
            Source::Bytes(b) => append(&mut tar, name, member.size, &b[..]).map_err(write_err)?,
            Source::File(p) => {
                let f = std::fs::File::open(p).map_err(read_err(p))?;
                // `take` + the size check in `append` catch a file that changed since hashing.
                append(&mut tar, name, member.size, f.take(member.size)).map_err(write_err)?;
            }
        }
    }
    let mut w = tar.into_inner().map_err(write_err)?;
    w.flush().map_err(write_err)?;
    w.into_inner()
        .map_err(|e| write_err(e.into_error()))?
        .sync_all()
        .map_err(write_err)?;
    std::fs::rename(&tmp, out).map_err(write_err)?;
    let bytes = std::fs::metadata(out).map_err(write_err)?.len();
    Ok(BundleReport {
        manifest,
        bytes,
        time: started.elapsed(),
    })
}

/// Appends one regular-file member with fixed metadata, so equal inputs give equal bundles.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    tar.append_data(&mut header, name, data)
}

/// The errors of one bundle being opened. Member names and tar errors come from the file: they
/// are shown escaped, never as raw bytes.
struct Refusals<'a> {
    path: &'a str,
}

impl Refusals<'_> {
    fn truncated(&self, detail: String) -> BundleError {
        BundleError::Truncated {
            path: self.path.to_string(),
            detail: printable(&detail),
        }
    }

    fn corrupt(&self, member: &str, detail: String) -> BundleError {
        BundleError::Corrupt {
            path: self.path.to_string(),
            member: printable(member),
            detail: printable(&detail),
        }
    }

    fn not_a_bundle(&self, detail: String) -> BundleError {
        BundleError::NotABundle {
            path: self.path.to_string(),
            detail: printable(&detail),
        }
    }
}

/// Every member's name and byte range in the mapped file, in order, by its tar header (the tar
/// crate checks header checksums).
fn locate_members(
    map: &Mmap,
    refuse: &Refusals<'_>,
) -> Result<Vec<(String, Range<usize>)>, BundleError> {
    let mut located: Vec<(String, Range<usize>)> = Vec::new();
    let mut archive = tar::Archive::new(std::io::Cursor::new(&map[..]));
    let entries = archive
        .entries_with_seek()
        .map_err(|e| refuse.not_a_bundle(e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| match located.last() {
            // A header cut by the end of the file: the bundle is short, not damaged.
            Some((name, r)) if r.end.div_ceil(BLOCK) * BLOCK + BLOCK > map.len() => {
                refuse.truncated(format!("the file ends after member {name}"))
            }
            Some((name, _)) => {
                refuse.corrupt(name, format!("is followed by a bad tar header: {e}"))
            }
            None => refuse.not_a_bundle(e.to_string()),
        })?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let start = entry.raw_file_position() as usize;
        let end = start.saturating_add(entry.size() as usize);
        located.push((name, start..end));
    }
    Ok(located)
}

/// The first member, the bundle manifest: present, whole, exactly as meridian writes it, of
/// this format and version, and naming only data this build knows.
fn read_manifest(
    map: &Mmap,
    located: &[(String, Range<usize>)],
    refuse: &Refusals<'_>,
) -> Result<BundleManifest, BundleError> {
    let Some((first, first_range)) = located.first().cloned() else {
        return Err(refuse.not_a_bundle("it holds no members".into()));
    };
    if first != MANIFEST_MEMBER {
        return Err(refuse.not_a_bundle(format!(
            "its first member is {first:?}, not {MANIFEST_MEMBER}"
        )));
    }
    if first_range.end > map.len() {
        return Err(refuse.truncated(format!("member {MANIFEST_MEMBER} is cut short")));
    }
    let manifest: BundleManifest =
        serde_json::from_slice(&map[first_range.clone()]).map_err(|e| {
            refuse.corrupt(
                MANIFEST_MEMBER,
                format!("is not a valid bundle manifest: {e}"),
            )
        })?;
    // The manifest has no checksum of its own, and serde reads a misspelt optional key as
    // absent (a flipped byte in "traffic" would silently drop the profiles): it must be
    // exactly what the writer makes of the values read.
    if serde_json::to_vec_pretty(&manifest).ok().as_deref() != Some(&map[first_range]) {
        return Err(refuse.corrupt(
            MANIFEST_MEMBER,
            "is not in the form meridian writes (edited or damaged)".into(),
        ));
    }
    if manifest.format != BUNDLE_FORMAT {
        return Err(refuse.not_a_bundle(format!("format {:?}", manifest.format)));
    }
    if manifest.format_version != BUNDLE_FORMAT_VERSION {
        return Err(BundleError::Version {
            path: refuse.path.to_string(),
            found: manifest.format_version,
            expected: BUNDLE_FORMAT_VERSION,
        });
    }
    // `traffic` is null or names the profile member; anything else this build would ignore.
    if let Some(traffic) = &manifest.traffic {
        let names_member = traffic == &serde_json::json!({ "profiles": PROFILES_MEMBER })
            && manifest.members.iter().any(|m| m.name == PROFILES_MEMBER);
        if !names_member {
            return Err(refuse.corrupt(
                MANIFEST_MEMBER,
                format!("names traffic data this build does not know: {traffic}"),
            ));
        }
    }
    if let Some(p) = &manifest.places {
        let names_member =
            p.index == PLACES_MEMBER && manifest.members.iter().any(|m| m.name == PLACES_MEMBER);
        if !names_member {
            return Err(refuse.corrupt(
                MANIFEST_MEMBER,
                format!("names a places index this build does not know: {}", p.index),
            ));
        }
    }
    Ok(manifest)
}

/// The members after the manifest: all listed ones present, whole and with their checksums, no
/// others, and the end-of-archive blocks after them. Returns their ranges by name.
fn check_members(
    map: &Mmap,
    manifest: &BundleManifest,
    members: &[(String, Range<usize>)],
    refuse: &Refusals<'_>,
) -> Result<HashMap<String, Range<usize>>, BundleError> {
    let by_name: HashMap<String, Range<usize>> = members.iter().cloned().collect();
    let mut end_of_data = 0;
    for m in &manifest.members {
        let Some(range) = by_name.get(&m.name) else {
            return Err(refuse.truncated(format!("member {} is missing", m.name)));
        };
        if range.len() as u64 != m.size {
            return Err(refuse.corrupt(
                &m.name,
                format!("has {} bytes, the manifest says {}", range.len(), m.size),
            ));
        }
        if range.end > map.len() {
            return Err(refuse.truncated(format!(
                "member {} ends at byte {}, the file has {}",
                m.name,
                range.end,
                map.len()
            )));
        }
        if sha256_hex(&map[range.clone()]) != m.sha256 {
            return Err(refuse.corrupt(&m.name, "fails its sha256 check".into()));
        }
        end_of_data = end_of_data.max(range.end);
    }
    let listed: std::collections::HashSet<&str> =
        manifest.members.iter().map(|m| m.name.as_str()).collect();
    if let Some((name, _)) = members.iter().find(|(n, _)| !listed.contains(n.as_str())) {
        return Err(refuse.corrupt(name, "is not listed in the manifest".into()));
    }
    // A writer ends the archive with two zero blocks after the padded last member.
    let expected_len = end_of_data.div_ceil(BLOCK) * BLOCK + 2 * BLOCK;
    if map.len() < expected_len {
        return Err(refuse.truncated(format!(
            "it has {} bytes, its members and end-of-archive blocks need {expected_len}",
            map.len()
        )));
    }
    Ok(by_name)
}

/// Where each tile of a graph manifest lies in the mapped bundle (`None`: not bundled).
type TileRanges = Vec<Option<Range<usize>>>;

/// The bundled graph: its manifest member equals the copy in the bundle manifest, each tile
/// member is the tile that manifest describes, and every tile of the area and its ring is
/// there. Returns the graph manifest and each tile's range (`None`: not bundled).
fn graph_tiles(
    map: &Mmap,
    manifest: &BundleManifest,
    by_name: &HashMap<String, Range<usize>>,
    refuse: &Refusals<'_>,
) -> Result<(Manifest, TileRanges), BundleError> {
    let graph_member = format!("{GRAPH_PREFIX}{MANIFEST_FILE}");
    let graph_range = by_name
        .get(&graph_member)
        .ok_or_else(|| refuse.truncated(format!("member {graph_member} is missing")))?;
    let graph_manifest: Manifest = serde_json::from_slice(&map[graph_range.clone()])
        .map_err(|e| refuse.corrupt(&graph_member, format!("is not a graph manifest: {e}")))?;
    if graph_manifest != manifest.graph_manifest
        || graph_manifest.graph_version != manifest.graph.graph_version
    {
        return Err(refuse.corrupt(
            &graph_member,
            "differs from the graph manifest in manifest.json".into(),
        ));
    }
    let listed: HashMap<&str, &Member> = manifest
        .members
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();
    let mut ranges = vec![None; graph_manifest.tiles.len()];
    for (i, entry) in graph_manifest.tiles.iter().enumerate() {
        let name = format!("{GRAPH_PREFIX}{}", entry.file);
        if let Some(range) = by_name.get(&name) {
            if listed
                .get(name.as_str())
                .is_none_or(|m| m.sha256 != entry.sha256)
            {
                return Err(refuse.corrupt(
                    &name,
                    format!(
                        "is not tile {} of graph version {}",
                        entry.geohash, graph_manifest.graph_version
                    ),
                ));
            }
            ranges[i] = Some(range.clone());
        }
    }
    for g in manifest
        .graph
        .area_tiles
        .iter()
        .chain(&manifest.graph.ring_tiles)
    {
        let held = graph_manifest
            .tiles
            .iter()
            .position(|t| &t.geohash == g)
            .is_some_and(|i| ranges[i].is_some());
        if !held {
            return Err(refuse.truncated(format!("graph tile {g} is missing")));
        }
    }
    Ok((graph_manifest, ranges))
}

/// An opened, verified bundle: its manifest, members located in the mapped file, and a graph
/// store reading the bundled tiles in place.
pub struct Bundle {
    path: PathBuf,
    map: Arc<Mmap>,
    manifest: BundleManifest,
    members: HashMap<String, Range<usize>>,
    store: Arc<GraphStore>,
}

impl Bundle {
    /// Maps the bundle and verifies it (every member's size and sha256, the graph manifest, each
    /// tile against it); a corrupt or truncated bundle is refused with the member named.
    pub fn open(path: impl AsRef<Path>) -> Result<Bundle, BundleError> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path).map_err(read_err(&path))?;
        // SAFETY: bundles are written once (to a temporary name, then renamed) and only read.
        let map = Arc::new(unsafe { Mmap::map(&file) }.map_err(read_err(&path))?);
        let shown = path.display().to_string();
        let refuse = Refusals { path: &shown };
        let located = locate_members(&map, &refuse)?;
        let manifest = read_manifest(&map, &located, &refuse)?;
        let by_name = check_members(&map, &manifest, &located[1..], &refuse)?;
        let (graph_manifest, ranges) = graph_tiles(&map, &manifest, &by_name, &refuse)?;
        if let Err(why) = check_summary(&manifest, &graph_manifest) {
            return Err(refuse.corrupt(MANIFEST_MEMBER, why));
        }
        let store = GraphStore::open_mapped(&path, graph_manifest, map.clone(), ranges)?;
        let bundle = Bundle {
            path,
            map,
            manifest,
            members: by_name,
            store: Arc::new(store),
        };
        // The places count is checked against the index it counts (the index is validated
        // too); `of_entries`, the graph's whole count, is only informative.
        if let Some(p) = &bundle.manifest.places {
            let kept = bundle.places()?.map_or(0, |i| i.file().entries.len());
            if kept != p.entries || p.entries > p.of_entries {
                return Err(refuse.corrupt(
                    MANIFEST_MEMBER,
                    format!(
                        "says its places index holds {} of {} entries; it holds {kept}",
                        p.entries, p.of_entries
                    ),
                ));
            }
        }
        Ok(bundle)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn manifest(&self) -> &BundleManifest {
        &self.manifest
    }

    pub fn area(&self) -> &Area {
        &self.manifest.area
    }

    /// The graph store over the bundled tiles (shares the bundle's mapping).
    pub fn store(&self) -> Arc<GraphStore> {
        self.store.clone()
    }

    /// A member's bytes, read in place.
    pub fn member(&self, name: &str) -> Option<&[u8]> {
        self.members.get(name).map(|r| &self.map[r.clone()])
    }

    /// The historical profile file's bytes, if the bundle has profiles.
    pub fn profiles(&self) -> Option<&[u8]> {
        self.member(PROFILES_MEMBER)
    }

    /// The area's places index (validated now), or `None` when the bundle has none.
    pub fn places(&self) -> Result<Option<places::PlacesIndex>, BundleError> {
        let Some(bytes) = self.member(PLACES_MEMBER) else {
            return Ok(None);
        };
        let label = self.path.join(PLACES_MEMBER);
        Ok(Some(places::PlacesIndex::from_bytes(bytes, &label)?))
    }

    /// The PNG image of a cell, if the bundle has one.
    pub fn image(&self, cell: &str) -> Option<&[u8]> {
        self.member(&format!("{IMAGES_PREFIX}{}", image_path(cell)))
    }

    /// Size of the bundle file.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Refuses a point outside the area: the bundle only promises routes inside it.
    pub fn check_point(&self, p: LatLon) -> Result<(), BundleError> {
        if self.manifest.area.contains(p) {
            Ok(())
        } else {
            Err(BundleError::OutsideArea {
                lat: p.lat,
                lon: p.lon,
                area: self.manifest.area.to_string(),
            })
        }
    }
}

/// The manifest's derived fields agree with what they are derived from: the area selects
/// exactly the listed area and ring tiles (a damaged area that still parses would otherwise
/// move where `check_point` lets routes in), and the name and counts are those of the graph
/// and the member list.
fn check_summary(manifest: &BundleManifest, graph: &Manifest) -> Result<(), String> {
    let (inside, ring) = select_tiles(graph, &manifest.area);
    let names = |ids: &[u32]| -> Vec<String> {
        ids.iter()
            .map(|&i| graph.tiles[i as usize].geohash.clone())
            .collect()
    };
    if names(&inside) != manifest.graph.area_tiles || names(&ring) != manifest.graph.ring_tiles {
        return Err(format!(
            "its area ({}) does not select the tiles it lists",
            manifest.area
        ));
    }
    let c = &manifest.counts;
    let images = manifest
        .images
        .as_ref()
        .map_or(0, |i| i.levels.iter().map(|l| l.images).sum());
    let consistent = manifest.graph.name == graph.name
        && (manifest.images.as_ref()).is_none_or(|i| i.graph_version == graph.graph_version)
        && c.graph_tiles == inside.len() + ring.len()
        && c.images == images
        && c.members == manifest.members.len()
        && c.member_bytes == manifest.members.iter().map(|m| m.size).sum::<u64>();
    if !consistent {
        return Err("its graph name or counts do not match its contents".into());
    }
    Ok(())
}

/// `s` fit for an error message: control characters escaped, at most 200 characters.
fn printable(s: &str) -> String {
    const MAX_CHARS: usize = 200;
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() || c == '\u{fffd}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_parse_and_contain() {
        let a = Area::parse("u0qu").unwrap();
        let b = a.bbox();
        let c = b.center();
        assert!(a.contains(c));
        assert!(!a.contains(LatLon::new(c.lat + 1.0, c.lon)));
        assert!(a.intersects_cell("u0qu3"));
        assert!(a.intersects_cell("u0q"));
        assert!(!a.intersects_cell("u0qv"));
        let bb = Area::parse("9.5, 47.1, 9.6,47.2").unwrap();
        assert_eq!(bb, Area::Bbox([9.5, 47.1, 9.6, 47.2]));
        assert!(bb.contains(LatLon::new(47.15, 9.55)));
        assert!(!bb.contains(LatLon::new(47.25, 9.55)));
        for bad in [
            "U0QU",
            "u0qa",
            "",
            "1,2,3",
            "9.6,47.1,9.5,47.2",
            "0,0,0,100",
        ] {
            assert!(Area::parse(bad).is_err(), "{bad}");
        }
        assert!(a.to_string().starts_with("geohash cell u0qu: lon "));
    }
}
