//! The places index on disk: one rkyv archive, `places.rkyv`, in the graph directory.
//!
//! It holds every entry (address, street, place) with its display texts, a sorted vocabulary of
//! normalised tokens with one posting list of entry ids per token (the inverted index forward
//! search reads), every street way's shape, and a uniform lat/lon grid (CSR: cell offsets,
//! then items) over point entries and street segments for reverse geocoding.
//!
//! Why rkyv and not `fst` or `tantivy`: the project already reads its graph tiles as rkyv
//! archives, so the index costs no new dependency and is read in place after one validation;
//! a city's vocabulary is tens of thousands of tokens, small enough that a linear scan with a
//! bounded edit distance finds typo matches in well under a millisecond (`bench/RESULTS.md`),
//! which is what an fst's Levenshtein automaton would buy. `tantivy` would add a large
//! dependency tree and its own segment files for ranking we do ourselves.

use crate::extract::{Counts, Extracted, Kind, RawEntry};
use crate::normalize;
use crate::PlacesError;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of the index in a graph directory.
pub const FILE_NAME: &str = "places.rkyv";

/// Bumped whenever the archived layout changes; other versions are refused at open.
pub const FORMAT_VERSION: u32 = 1;

/// Fixed point degrees, 1e-7 (about 1 cm), as OSM stores them.
const SCALE: f64 = 1e7;

fn e7(v: f64) -> i32 {
    (v * SCALE).round() as i32
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Entry {
    /// [`Kind`] as u8.
    pub kind: u8,
    /// 0 node, 1 way.
    pub osm_type: u8,
    /// Nominatim's place rank (4 country … 30 house).
    pub rank: u8,
    pub osm_id: i64,
    pub lat_e7: i32,
    pub lon_e7: i32,
    /// `min_lat, max_lat, min_lon, max_lon`, 1e-7 degrees.
    pub bbox_e7: [i32; 4],
    /// 0..1, as Nominatim's `importance`.
    pub importance: f32,
    pub class: String,
    pub typ: String,
    pub name: String,
    pub housenumber: String,
    /// [`normalize::house_number`] of `housenumber`.
    pub hn_key: String,
    pub street: String,
    pub addr_place: String,
    pub suburb: String,
    pub city: String,
    pub postcode: String,
    /// Vocabulary ids of what the entry is called: its names, or an address's street.
    pub name_tokens: Vec<u32>,
    /// Vocabulary ids of where it is: street (of a POI), suburb, city, postcode.
    pub context_tokens: Vec<u32>,
}

/// A street way's shape, 1e-7 degrees, `(lat, lon)` pairs.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Shape {
    pub entry: u32,
    pub points: Vec<[i32; 2]>,
}

/// A uniform grid over the data's box; cell `(row, col)` lists `items[start[c]..start[c+1]]`.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Grid {
    pub min_lat: f64,
    pub min_lon: f64,
    pub cell_deg: f64,
    pub rows: u32,
    pub cols: u32,
    pub start: Vec<u32>,
    pub items: Vec<u32>,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PlacesFile {
    pub format_version: u32,
    /// The PBF it was read from.
    pub source: String,
    pub entries: Vec<Entry>,
    /// Sorted, distinct normalised tokens.
    pub vocabulary: Vec<String>,
    /// Per vocabulary token, the sorted ids of the entries that carry it.
    pub postings: Vec<Vec<u32>>,
    pub shapes: Vec<Shape>,
    /// Point entries (addresses and places), by entry id.
    pub points: Grid,
    /// Street segments, as pairs of items: `2k` is the shape, `2k + 1` the segment's index in it.
    pub segments: Grid,
}

/// Grid cell size: about 500 m, widened so a large extract stays under [`MAX_CELLS`].
const CELL_DEG: f64 = 0.005;
const MAX_CELLS: f64 = 4.0e6;

/// Builds a [`Grid`] over `[min_lat, max_lat, min_lon, max_lon]` from `(cell, item...)`.
struct GridBuilder {
    min_lat: f64,
    min_lon: f64,
    cell_deg: f64,
    rows: u32,
    cols: u32,
    cells: BTreeMap<u32, Vec<u32>>,
}

impl GridBuilder {
    fn new(bbox: [f64; 4]) -> Self {
        let (h, w) = ((bbox[1] - bbox[0]).max(1e-6), (bbox[3] - bbox[2]).max(1e-6));
        let cell_deg = CELL_DEG.max((h * w / MAX_CELLS).sqrt());
        GridBuilder {
            min_lat: bbox[0],
            min_lon: bbox[2],
            cell_deg,
            rows: (h / cell_deg).floor() as u32 + 1,
            cols: (w / cell_deg).floor() as u32 + 1,
            cells: BTreeMap::new(),
        }
    }

    fn cell(&self, lat: f64, lon: f64) -> (u32, u32) {
        let r = ((lat - self.min_lat) / self.cell_deg).floor().max(0.0) as u32;
        let c = ((lon - self.min_lon) / self.cell_deg).floor().max(0.0) as u32;
        (r.min(self.rows - 1), c.min(self.cols - 1))
    }

    fn add_box(&mut self, bbox: [f64; 4], items: &[u32]) {
        let (r0, c0) = self.cell(bbox[0], bbox[2]);
        let (r1, c1) = self.cell(bbox[1], bbox[3]);
        for r in r0..=r1 {
            for c in c0..=c1 {
                self.cells
                    .entry(r * self.cols + c)
                    .or_default()
                    .extend_from_slice(items);
            }
        }
    }

    fn finish(self) -> Grid {
        let n = (self.rows * self.cols) as usize;
        let mut start = Vec::with_capacity(n + 1);
        let mut items = Vec::new();
        let mut cells = self.cells.into_iter().peekable();
        for c in 0..n as u32 {
            start.push(items.len() as u32);
            if cells.peek().is_some_and(|(k, _)| *k == c) {
                if let Some((_, v)) = cells.next() {
                    items.extend(v);
                }
            }
        }
        start.push(items.len() as u32);
        Grid {
            min_lat: self.min_lat,
            min_lon: self.min_lon,
            cell_deg: self.cell_deg,
            rows: self.rows,
            cols: self.cols,
            start,
            items,
        }
    }
}

/// Nominatim-like rank and importance of an entry.
fn rank_and_importance(e: &RawEntry) -> (u8, f32) {
    match e.kind {
        Kind::Address => (30, 0.1),
        Kind::Street => match e.typ.as_str() {
            "motorway" | "trunk" | "primary" => (26, 0.3),
            "secondary" | "tertiary" => (26, 0.25),
            "residential" | "unclassified" | "living_street" | "pedestrian" => (26, 0.2),
            _ => (27, 0.15),
        },
        Kind::Place if e.class == "place" => match e.typ.as_str() {
            "city" => (16, 0.75),
            "town" => (18, 0.6),
            "village" => (19, 0.5),
            "suburb" | "borough" => (20, 0.45),
            "hamlet" | "quarter" => (20, 0.4),
            "neighbourhood" => (22, 0.35),
            _ => (25, 0.3),
        },
        Kind::Place => match e.class.as_str() {
            "tourism" | "historic" | "railway" | "aeroway" => (30, 0.35),
            // Stops are often named after their street: the street comes first.
            "highway" | "public_transport" => (30, 0.1),
            _ => (30, 0.3),
        },
    }
}

/// Tokenises entries, builds the vocabulary, postings and grids.
pub fn build(extracted: &Extracted, source: &str) -> PlacesFile {
    let mut vocab: BTreeMap<String, u32> = BTreeMap::new();
    let mut name_tok: Vec<Vec<String>> = Vec::with_capacity(extracted.entries.len());
    let mut ctx_tok: Vec<Vec<String>> = Vec::with_capacity(extracted.entries.len());
    for e in &extracted.entries {
        let mut names: Vec<String> = Vec::new();
        let base = match e.kind {
            Kind::Address if e.street.is_empty() => &e.addr_place,
            Kind::Address => &e.street,
            _ => &e.name,
        };
        names.extend(normalize::tokens(base));
        for other in &e.other_names {
            names.extend(normalize::tokens(other));
        }
        names.retain(|t| !normalize::is_numeric(t) || e.kind != Kind::Address);
        names.sort();
        names.dedup();
        let mut ctx: Vec<String> = Vec::new();
        if e.kind != Kind::Address {
            ctx.extend(normalize::tokens(&e.street));
        }
        if e.kind == Kind::Address && !e.street.is_empty() {
            ctx.extend(normalize::tokens(&e.addr_place));
        }
        for t in [&e.suburb, &e.city, &e.postcode] {
            ctx.extend(normalize::tokens(t));
        }
        ctx.retain(|t| !names.contains(t));
        ctx.sort();
        ctx.dedup();
        for t in names.iter().chain(&ctx) {
            let next = vocab.len() as u32;
            vocab.entry(t.clone()).or_insert(next);
        }
        name_tok.push(names);
        ctx_tok.push(ctx);
    }
    // Ids in sorted order of the tokens.
    let vocabulary: Vec<String> = vocab.keys().cloned().collect();
    let id_of = |t: &String| vocabulary.binary_search(t).unwrap_or(0) as u32;
    let mut postings: Vec<Vec<u32>> = vec![Vec::new(); vocabulary.len()];
    let mut entries = Vec::with_capacity(extracted.entries.len());
    let mut bbox = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for (i, e) in extracted.entries.iter().enumerate() {
        let name_tokens: Vec<u32> = name_tok[i].iter().map(id_of).collect();
        let context_tokens: Vec<u32> = ctx_tok[i].iter().map(id_of).collect();
        for &t in name_tokens.iter().chain(&context_tokens) {
            postings[t as usize].push(i as u32);
        }
        bbox[0] = bbox[0].min(e.bbox[0]);
        bbox[1] = bbox[1].max(e.bbox[1]);
        bbox[2] = bbox[2].min(e.bbox[2]);
        bbox[3] = bbox[3].max(e.bbox[3]);
        let (rank, importance) = rank_and_importance(e);
        entries.push(Entry {
            kind: e.kind as u8,
            osm_type: e.osm_type as u8,
            rank,
            osm_id: e.osm_id,
            lat_e7: e7(e.point.0),
            lon_e7: e7(e.point.1),
            bbox_e7: e.bbox.map(e7),
            importance,
            class: e.class.clone(),
            typ: e.typ.clone(),
            name: e.name.clone(),
            housenumber: e.housenumber.clone(),
            hn_key: normalize::house_number(&e.housenumber),
            street: e.street.clone(),
            addr_place: e.addr_place.clone(),
            suburb: e.suburb.clone(),
            city: e.city.clone(),
            postcode: e.postcode.clone(),
            name_tokens,
            context_tokens,
        });
    }
    if !bbox[0].is_finite() {
        bbox = [0.0; 4];
    }
    let mut points = GridBuilder::new(bbox);
    for (i, e) in extracted.entries.iter().enumerate() {
        if e.kind != Kind::Street {
            points.add_box([e.point.0, e.point.0, e.point.1, e.point.1], &[i as u32]);
        }
    }
    let mut segments = GridBuilder::new(bbox);
    let mut shapes = Vec::with_capacity(extracted.shapes.len());
    for (si, s) in extracted.shapes.iter().enumerate() {
        for (k, w) in s.points.windows(2).enumerate() {
            let b = [
                w[0].0.min(w[1].0),
                w[0].0.max(w[1].0),
                w[0].1.min(w[1].1),
                w[0].1.max(w[1].1),
            ];
            segments.add_box(b, &[si as u32, k as u32]);
        }
        shapes.push(Shape {
            entry: s.entry as u32,
            points: s.points.iter().map(|p| [e7(p.0), e7(p.1)]).collect(),
        });
    }
    PlacesFile {
        format_version: FORMAT_VERSION,
        source: source.to_string(),
        entries,
        vocabulary,
        postings,
        shapes,
        points: points.finish(),
        segments: segments.finish(),
    }
}

/// The entries `keep` selects, as a complete index of their own (for an offline bundle of an
/// area): their tokens (ids renumbered, the vocabulary still sorted), postings, street shapes
/// and both grids rebuilt over what is kept. Searches on it rank the kept entries as the
/// whole index would, except that word rarity (idf) is counted over the kept entries.
pub fn subset(file: &ArchivedPlacesFile, keep: impl Fn(&ArchivedEntry) -> bool) -> PlacesFile {
    let kept: Vec<u32> = (0..file.entries.len() as u32)
        .filter(|&i| keep(&file.entries[i as usize]))
        .collect();
    let mut new_entry = vec![u32::MAX; file.entries.len()];
    for (n, &old) in kept.iter().enumerate() {
        new_entry[old as usize] = n as u32;
    }
    // Tokens some kept entry carries, in the old (sorted) order.
    let mut used = vec![false; file.vocabulary.len()];
    for &old in &kept {
        let e = &file.entries[old as usize];
        for t in e.name_tokens.iter().chain(e.context_tokens.iter()) {
            used[t.to_native() as usize] = true;
        }
    }
    let mut new_token = vec![u32::MAX; used.len()];
    let mut vocabulary = Vec::new();
    let mut postings = Vec::new();
    for (t, _) in used.iter().enumerate().filter(|(_, u)| **u) {
        new_token[t] = vocabulary.len() as u32;
        vocabulary.push(file.vocabulary[t].to_string());
        postings.push(
            file.postings[t]
                .iter()
                .map(|e| new_entry[e.to_native() as usize])
                .filter(|&e| e != u32::MAX)
                .collect::<Vec<u32>>(),
        );
    }
    let remap = |ts: &rkyv::vec::ArchivedVec<rkyv::Archived<u32>>| -> Vec<u32> {
        ts.iter()
            .map(|t| new_token[t.to_native() as usize])
            .collect()
    };
    let mut bbox = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let entries: Vec<Entry> = kept
        .iter()
        .map(|&old| {
            let e = &file.entries[old as usize];
            let b = e.bbox();
            bbox = [
                bbox[0].min(b[0]),
                bbox[1].max(b[1]),
                bbox[2].min(b[2]),
                bbox[3].max(b[3]),
            ];
            Entry {
                kind: e.kind,
                osm_type: e.osm_type,
                rank: e.rank,
                osm_id: e.osm_id.to_native(),
                lat_e7: e.lat_e7.to_native(),
                lon_e7: e.lon_e7.to_native(),
                bbox_e7: [0, 1, 2, 3].map(|i| e.bbox_e7[i].to_native()),
                importance: e.importance.to_native(),
                class: e.class.to_string(),
                typ: e.typ.to_string(),
                name: e.name.to_string(),
                housenumber: e.housenumber.to_string(),
                hn_key: e.hn_key.to_string(),
                street: e.street.to_string(),
                addr_place: e.addr_place.to_string(),
                suburb: e.suburb.to_string(),
                city: e.city.to_string(),
                postcode: e.postcode.to_string(),
                name_tokens: remap(&e.name_tokens),
                context_tokens: remap(&e.context_tokens),
            }
        })
        .collect();
    if !bbox[0].is_finite() {
        bbox = [0.0; 4];
    }
    let mut points = GridBuilder::new(bbox);
    for (i, e) in entries.iter().enumerate() {
        if Kind::from_u8(e.kind) != Kind::Street {
            let (lat, lon) = (e.lat_e7 as f64 / SCALE, e.lon_e7 as f64 / SCALE);
            points.add_box([lat, lat, lon, lon], &[i as u32]);
        }
    }
    let mut segments = GridBuilder::new(bbox);
    let mut shapes = Vec::new();
    for s in file.shapes.iter() {
        let entry = new_entry[s.entry.to_native() as usize];
        if entry == u32::MAX {
            continue;
        }
        let si = shapes.len() as u32;
        for k in 0..s.points.len().saturating_sub(1) {
            let (a, b) = (s.point(k), s.point(k + 1));
            let cell = [a.0.min(b.0), a.0.max(b.0), a.1.min(b.1), a.1.max(b.1)];
            segments.add_box(cell, &[si, k as u32]);
        }
        shapes.push(Shape {
            entry,
            points: s
                .points
                .iter()
                .map(|p| [p[0].to_native(), p[1].to_native()])
                .collect(),
        });
    }
    PlacesFile {
        format_version: FORMAT_VERSION,
        source: file.source.to_string(),
        entries,
        vocabulary,
        postings,
        shapes,
        points: points.finish(),
        segments: segments.finish(),
    }
}

/// The index file's bytes.
pub fn to_bytes(file: &PlacesFile) -> Result<AlignedVec, PlacesError> {
    rkyv::to_bytes::<rkyv::rancor::Error>(file).map_err(|e| PlacesError::Serialize(e.to_string()))
}

/// What [`build_index`] wrote.
#[derive(Clone, Debug)]
pub struct IndexReport {
    pub path: PathBuf,
    pub bytes: u64,
    pub counts: Counts,
    pub tokens: usize,
    pub read_time: std::time::Duration,
    pub build_time: std::time::Duration,
}

/// Reads the PBF's places and writes [`FILE_NAME`] into `dir` (atomically: a temporary file
/// renamed into place, so a server never opens a half-written index).
pub fn build_index(pbf: &Path, dir: &Path) -> Result<IndexReport, PlacesError> {
    let t = std::time::Instant::now();
    let extracted = crate::extract::read_pbf(pbf)?;
    let read_time = t.elapsed();
    let t = std::time::Instant::now();
    let file = build(&extracted, &pbf.display().to_string());
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&file)
        .map_err(|e| PlacesError::Serialize(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| PlacesError::io(dir, e))?;
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    std::fs::write(&tmp, &bytes).map_err(|e| PlacesError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| PlacesError::io(&path, e))?;
    Ok(IndexReport {
        path,
        bytes: bytes.len() as u64,
        counts: extracted.counts,
        tokens: file.vocabulary.len(),
        read_time,
        build_time: t.elapsed(),
    })
}

/// An index read from disk and validated once; searches read the archive in place.
pub struct PlacesIndex {
    bytes: AlignedVec,
    path: PathBuf,
}

impl std::fmt::Debug for PlacesIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlacesIndex")
            .field("path", &self.path)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl PlacesIndex {
    /// Opens `dir/places.rkyv`; `Ok(None)` when the directory has none (a graph imported before
    /// geocoding existed).
    pub fn open_in(dir: &Path) -> Result<Option<PlacesIndex>, PlacesError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Ok(None);
        }
        Self::open(&path).map(Some)
    }

    pub fn open(path: &Path) -> Result<PlacesIndex, PlacesError> {
        let raw = std::fs::read(path).map_err(|e| PlacesError::io(path, e))?;
        Self::from_bytes(&raw, path)
    }

    /// An index from its file's bytes (a bundle member, say), validated as [`Self::open`]
    /// does; `path` names where they came from in errors.
    pub fn from_bytes(raw: &[u8], path: &Path) -> Result<PlacesIndex, PlacesError> {
        let mut bytes = AlignedVec::with_capacity(raw.len());
        bytes.extend_from_slice(raw);
        let invalid = |message: String| PlacesError::Invalid {
            path: path.display().to_string(),
            message,
        };
        let file = rkyv::access::<ArchivedPlacesFile, rkyv::rancor::Error>(&bytes)
            .map_err(|e| invalid(format!("not a places index: {e}")))?;
        if file.format_version.to_native() != FORMAT_VERSION {
            return Err(invalid(format!(
                "format version {} (expected {FORMAT_VERSION}); import the map again",
                file.format_version.to_native()
            )));
        }
        check_consistency(file).map_err(invalid)?;
        Ok(PlacesIndex {
            bytes,
            path: path.to_path_buf(),
        })
    }

    pub fn file(&self) -> &ArchivedPlacesFile {
        // SAFETY: the bytes were validated by `rkyv::access` in `open` and are never modified.
        unsafe { rkyv::access_unchecked::<ArchivedPlacesFile>(&self.bytes) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn entry(&self, id: u32) -> &ArchivedEntry {
        &self.file().entries[id as usize]
    }
}

/// Cross-references (token ids, entry ids, grid offsets) the searches index with, checked once
/// so that a damaged file is refused at open instead of panicking a query.
fn check_consistency(f: &ArchivedPlacesFile) -> Result<(), String> {
    let (n_entries, n_tokens, n_shapes) = (f.entries.len(), f.vocabulary.len(), f.shapes.len());
    if f.postings.len() != n_tokens {
        return Err("postings do not match the vocabulary".into());
    }
    for e in f.entries.iter() {
        if e.name_tokens
            .iter()
            .chain(e.context_tokens.iter())
            .any(|t| t.to_native() as usize >= n_tokens)
        {
            return Err("an entry names a token outside the vocabulary".into());
        }
    }
    for p in f.postings.iter() {
        if p.iter().any(|e| e.to_native() as usize >= n_entries) {
            return Err("a posting names an entry that does not exist".into());
        }
    }
    for s in f.shapes.iter() {
        if s.entry.to_native() as usize >= n_entries || s.points.is_empty() {
            return Err("a street shape is empty or names no entry".into());
        }
    }
    for (grid, pairs) in [(&f.points, false), (&f.segments, true)] {
        let cells = grid.rows.to_native() as usize * grid.cols.to_native() as usize;
        if grid.start.len() != cells + 1
            || grid.cell_deg.to_native().is_nan()
            || grid.cell_deg.to_native() <= 0.0
        {
            return Err("a grid's cell table has the wrong size".into());
        }
        let starts: Vec<u32> = grid.start.iter().map(|s| s.to_native()).collect();
        if starts.windows(2).any(|w| w[0] > w[1])
            || starts.last().copied().unwrap_or(0) as usize != grid.items.len()
        {
            return Err("a grid's cell offsets are out of order".into());
        }
        if pairs {
            if grid.items.len() % 2 != 0 || starts.iter().any(|s| s % 2 != 0) {
                return Err("the segment grid is not made of pairs".into());
            }
            for pair in grid.items.chunks(2) {
                let (s, k) = (pair[0].to_native() as usize, pair[1].to_native() as usize);
                if s >= n_shapes || k + 1 >= f.shapes[s].points.len() {
                    return Err("the segment grid names a segment that does not exist".into());
                }
            }
        } else if grid
            .items
            .iter()
            .any(|e| e.to_native() as usize >= n_entries)
        {
            return Err("the point grid names an entry that does not exist".into());
        }
    }
    Ok(())
}

impl ArchivedEntry {
    pub fn kind(&self) -> Kind {
        Kind::from_u8(self.kind)
    }

    /// `(lat, lon)` in degrees.
    pub fn point(&self) -> (f64, f64) {
        (
            self.lat_e7.to_native() as f64 / SCALE,
            self.lon_e7.to_native() as f64 / SCALE,
        )
    }

    /// `min_lat, max_lat, min_lon, max_lon` in degrees.
    pub fn bbox(&self) -> [f64; 4] {
        let b = &self.bbox_e7;
        [0, 1, 2, 3].map(|i| b[i].to_native() as f64 / SCALE)
    }

    /// `"node"` or `"way"`, as Nominatim's `osm_type`.
    pub fn osm_type_name(&self) -> &'static str {
        if self.osm_type == 0 {
            "node"
        } else {
            "way"
        }
    }

    /// The street an address or POI is on, or a street's own name.
    pub fn road(&self) -> &str {
        if self.kind() == Kind::Street {
            self.name.as_str()
        } else {
            self.street.as_str()
        }
    }

    /// Nominatim-style one-line name: most specific part first.
    pub fn display_name(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        match self.kind() {
            Kind::Address => {
                parts.push(self.housenumber.as_str());
                parts.push(if self.street.is_empty() {
                    self.addr_place.as_str()
                } else {
                    self.street.as_str()
                });
                if !self.street.is_empty() {
                    parts.push(self.addr_place.as_str());
                }
            }
            Kind::Street => parts.push(self.name.as_str()),
            Kind::Place => {
                parts.push(self.name.as_str());
                if !self.housenumber.is_empty() {
                    parts.push(self.housenumber.as_str());
                }
                parts.push(self.street.as_str());
            }
        }
        parts.extend([
            self.suburb.as_str(),
            self.city.as_str(),
            self.postcode.as_str(),
        ]);
        let mut out: Vec<&str> = Vec::new();
        for p in parts {
            if !p.is_empty() && !out.contains(&p) {
                out.push(p);
            }
        }
        out.join(", ")
    }
}

impl ArchivedShape {
    pub fn point(&self, i: usize) -> (f64, f64) {
        let p = &self.points[i];
        (
            p[0].to_native() as f64 / SCALE,
            p[1].to_native() as f64 / SCALE,
        )
    }
}

impl ArchivedGrid {
    /// Items of the cells overlapping a box around `(lat, lon)` of `half_deg` (lat, lon).
    pub fn items_near(
        &self,
        lat: f64,
        lon: f64,
        half_deg: (f64, f64),
    ) -> impl Iterator<Item = &rkyv::Archived<u32>> {
        let (rows, cols) = (self.rows.to_native() as i64, self.cols.to_native() as i64);
        let (min_lat, min_lon, cell) = (
            self.min_lat.to_native(),
            self.min_lon.to_native(),
            self.cell_deg.to_native(),
        );
        let to_cell = |v: f64, origin: f64| ((v - origin) / cell).floor() as i64;
        let r0 = to_cell(lat - half_deg.0, min_lat).clamp(0, rows - 1);
        let r1 = to_cell(lat + half_deg.0, min_lat).clamp(-1, rows - 1);
        let c0 = to_cell(lon - half_deg.1, min_lon).clamp(0, cols - 1);
        let c1 = to_cell(lon + half_deg.1, min_lon).clamp(-1, cols - 1);
        (r0..=r1).flat_map(move |r| {
            (c0..=c1).flat_map(move |c| {
                let cell = (r * cols + c) as usize;
                let (a, b) = (
                    self.start[cell].to_native() as usize,
                    self.start[cell + 1].to_native() as usize,
                );
                self.items[a..b].iter()
            })
        })
    }
}
