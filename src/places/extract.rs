//! Reads the addresses, named streets and named places of an OSM PBF into [`Extracted`]: a
//! second, independent pass over the same file the road graph is built from.
//!
//! * **Addresses**: any node or way with `addr:housenumber` and `addr:street` or `addr:place`
//!   (building outlines included); a way stands at its centroid. Postcode, city and suburb come
//!   from `addr:*` when tagged, else from the nearest named `place=*` node.
//! * **Streets**: named `highway=*` ways, merged per name into one street where they touch or
//!   lie within [`STREET_MERGE_M`] of each other (OSM splits a street at every junction where a
//!   tag changes), keeping every way's shape for reverse geocoding.
//! * **Places**: named `place=*` nodes and ways, and named POIs (`amenity`, `shop`, `tourism`,
//!   `leisure`, `historic`, `office`, `craft`, `railway` stations, `public_transport`,
//!   `aeroway`, `natural`, named buildings), with their `name:*`, `alt_name`, `old_name` and
//!   `short_name` as extra names.
//!
//! Relations (multipolygon buildings) and `addr:interpolation` ways are not read yet.
//!
//! Two passes so the file may be in any order: tagged nodes and the ways of interest (with
//! their node ids) first, then the coordinates of only those nodes.

use crate::PlacesError;
use crate::{halfway_of, latlon};
use osmpbf::{Element, ElementReader};
use std::collections::HashMap;
use std::path::Path;

/// Ways of one street name closer than this are one street.
pub const STREET_MERGE_M: f64 = 100.0;

/// What an entry is: decides its importance and how a house number in the query treats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Address = 0,
    Street = 1,
    Place = 2,
}

impl Kind {
    pub fn from_u8(v: u8) -> Kind {
        match v {
            0 => Kind::Address,
            1 => Kind::Street,
            _ => Kind::Place,
        }
    }
}

/// OSM object type, as Nominatim names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsmType {
    Node = 0,
    Way = 1,
}

/// One searchable thing before indexing: texts as tagged, position in degrees.
#[derive(Clone, Debug)]
pub struct RawEntry {
    pub kind: Kind,
    pub osm_type: OsmType,
    pub osm_id: i64,
    /// `(lat, lon)`.
    pub point: (f64, f64),
    /// `min_lat, max_lat, min_lon, max_lon`.
    pub bbox: [f64; 4],
    /// OSM key and value that make it what it is (`amenity`/`cafe`, `highway`/`residential`,
    /// `place`/`house` for a bare address).
    pub class: String,
    pub typ: String,
    /// `name` (a street's name; empty for a bare address).
    pub name: String,
    /// `name:*`, `alt_name` and the like: searchable, not displayed.
    pub other_names: Vec<String>,
    pub housenumber: String,
    pub street: String,
    /// `addr:place` (an address on a square or hamlet with no street).
    pub addr_place: String,
    pub postcode: String,
    pub suburb: String,
    pub city: String,
}

/// A street's OSM way shape, for reverse geocoding.
#[derive(Clone, Debug)]
pub struct StreetShape {
    /// Index of its street in [`Extracted::entries`].
    pub entry: usize,
    pub points: Vec<(f64, f64)>,
}

#[derive(Default)]
pub struct Extracted {
    pub entries: Vec<RawEntry>,
    pub shapes: Vec<StreetShape>,
    pub counts: Counts,
}

/// What was read, for the import report and the index header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub addresses: u64,
    pub streets: u64,
    pub street_ways: u64,
    pub places: u64,
    /// Ways of interest with a node the file lacks (clipped extracts), kept with the rest.
    pub dangling_refs: u64,
}

/// POI keys whose named objects are searchable places (key = Nominatim's `category`).
const POI_KEYS: &[&str] = &[
    "amenity",
    "shop",
    "tourism",
    "leisure",
    "historic",
    "office",
    "craft",
    "railway",
    "public_transport",
    "aeroway",
    "natural",
    "man_made",
    "building",
];

/// Highway values that are not streets a person would name as one.
const NOT_STREETS: &[&str] = &[
    "platform",
    "bus_stop",
    "elevator",
    "services",
    "rest_area",
    "construction",
    "proposed",
    "abandoned",
];

fn tag<'a>(tags: &'a [(&'a str, &'a str)], key: &str) -> &'a str {
    tags.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

fn other_names(tags: &[(&str, &str)]) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .filter(|(k, _)| {
            k.starts_with("name:")
                || matches!(*k, "alt_name" | "old_name" | "short_name" | "official_name")
        })
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What a tagged object is, if anything searchable: an address, a named place or POI (both
/// kinds may come from one object: a shop with its address), a street (ways only).
fn classify(tags: &[(&str, &str)], is_way: bool) -> Vec<(Kind, String, String)> {
    let mut out = Vec::new();
    let name = tag(tags, "name");
    let hn = tag(tags, "addr:housenumber");
    let located = !(tag(tags, "addr:street").is_empty() && tag(tags, "addr:place").is_empty());
    if !hn.is_empty() && located {
        let class = if is_way && !tag(tags, "building").is_empty() {
            ("building", tag(tags, "building"))
        } else {
            ("place", "house")
        };
        out.push((Kind::Address, class.0.to_string(), class.1.to_string()));
    }
    if name.is_empty() {
        return out;
    }
    let highway = tag(tags, "highway");
    if is_way && !highway.is_empty() && !NOT_STREETS.contains(&highway) {
        out.push((Kind::Street, "highway".into(), highway.into()));
        return out;
    }
    let place = tag(tags, "place");
    if !place.is_empty() {
        out.push((Kind::Place, "place".into(), place.into()));
        return out;
    }
    // A named highway node is a stop or a crossing: a POI like the others.
    let keys = POI_KEYS
        .iter()
        .copied()
        .chain((!is_way).then_some("highway"));
    for key in keys {
        let v = tag(tags, key);
        if !v.is_empty() && v != "no" {
            out.push((Kind::Place, key.into(), v.into()));
            break;
        }
    }
    out
}

fn raw_entry(
    kind: Kind,
    class: String,
    typ: String,
    tags: &[(&str, &str)],
    osm_type: OsmType,
    osm_id: i64,
) -> RawEntry {
    let is_address = kind == Kind::Address;
    RawEntry {
        kind,
        osm_type,
        osm_id,
        point: (f64::NAN, f64::NAN),
        bbox: [f64::NAN; 4],
        class,
        typ,
        // A bare address has no name of its own (a shop's address entry does not take the shop's).
        name: if is_address {
            String::new()
        } else {
            tag(tags, "name").to_string()
        },
        other_names: if is_address {
            Vec::new()
        } else {
            other_names(tags)
        },
        housenumber: tag(tags, "addr:housenumber").to_string(),
        street: tag(tags, "addr:street").to_string(),
        addr_place: tag(tags, "addr:place").to_string(),
        postcode: tag(tags, "addr:postcode").to_string(),
        suburb: tag(tags, "addr:suburb").to_string(),
        city: tag(tags, "addr:city").to_string(),
    }
}

/// A street way: its entry, node ids and the points found for them.
type StreetWay = (usize, Vec<i64>, Vec<(f64, f64)>);

/// A way kept for the second pass.
struct PendingWay {
    entry: usize,
    refs: Vec<i64>,
}

/// Reads `path` (two passes) into entries and street shapes, with localities filled in.
pub fn read_pbf(path: &Path) -> Result<Extracted, PlacesError> {
    let open = || {
        ElementReader::from_path(path).map_err(|e| PlacesError::Pbf {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    };
    let pbf_error = |e: osmpbf::Error| PlacesError::Pbf {
        path: path.display().to_string(),
        message: e.to_string(),
    };

    let mut entries: Vec<RawEntry> = Vec::new();
    let mut pending: Vec<PendingWay> = Vec::new();
    open()?
        .for_each(|element| {
            let (tags, osm_type, id, point, refs): (Vec<(&str, &str)>, _, _, _, Vec<i64>) =
                match &element {
                    Element::Node(n) => (
                        n.tags().collect(),
                        OsmType::Node,
                        n.id(),
                        (n.lat(), n.lon()),
                        Vec::new(),
                    ),
                    Element::DenseNode(n) => (
                        n.tags().collect(),
                        OsmType::Node,
                        n.id(),
                        (n.lat(), n.lon()),
                        Vec::new(),
                    ),
                    Element::Way(w) => (
                        w.tags().collect(),
                        OsmType::Way,
                        w.id(),
                        (f64::NAN, f64::NAN),
                        w.refs().collect(),
                    ),
                    _ => return,
                };
            if tags.is_empty() {
                return;
            }
            for (kind, class, typ) in classify(&tags, osm_type == OsmType::Way) {
                let mut e = raw_entry(kind, class, typ, &tags, osm_type, id);
                if osm_type == OsmType::Node {
                    e.point = point;
                    e.bbox = [point.0, point.0, point.1, point.1];
                } else {
                    pending.push(PendingWay {
                        entry: entries.len(),
                        refs: refs.clone(),
                    });
                }
                entries.push(e);
            }
        })
        .map_err(pbf_error)?;

    let mut coords: HashMap<i64, (f64, f64)> = HashMap::new();
    for w in &pending {
        for &r in &w.refs {
            coords.insert(r, (f64::NAN, f64::NAN));
        }
    }
    open()?
        .for_each(|element| {
            let (id, lat, lon) = match element {
                Element::Node(n) => (n.id(), n.lat(), n.lon()),
                Element::DenseNode(n) => (n.id(), n.lat(), n.lon()),
                _ => return,
            };
            if let Some(slot) = coords.get_mut(&id) {
                *slot = (lat, lon);
            }
        })
        .map_err(pbf_error)?;

    let mut counts = Counts::default();
    // Way shapes of street entries, by entry, before streets are merged.
    let mut street_ways: Vec<StreetWay> = Vec::new();
    for w in pending {
        let points: Vec<(f64, f64)> = w
            .refs
            .iter()
            .filter_map(|r| coords.get(r).copied())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        if points.len() < w.refs.len() {
            counts.dangling_refs += 1;
        }
        if points.is_empty() {
            continue;
        }
        let e = &mut entries[w.entry];
        e.bbox = bbox_of(&points);
        e.point = if e.kind == Kind::Street {
            halfway_of(&points).unwrap_or(points[0])
        } else {
            centroid(&points)
        };
        if e.kind == Kind::Street {
            street_ways.push((w.entry, w.refs, points));
        }
    }
    let mut extracted = merge_streets(entries, street_ways);
    assign_localities(&mut extracted.entries);
    for e in &extracted.entries {
        match e.kind {
            Kind::Address => counts.addresses += 1,
            Kind::Street => counts.streets += 1,
            Kind::Place => counts.places += 1,
        }
    }
    counts.street_ways = extracted.shapes.len() as u64;
    extracted.counts = counts;
    Ok(extracted)
}

fn bbox_of(points: &[(f64, f64)]) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in points {
        b[0] = b[0].min(p.0);
        b[1] = b[1].max(p.0);
        b[2] = b[2].min(p.1);
        b[3] = b[3].max(p.1);
    }
    b
}

/// Area centroid of a closed ring (building outline), or the middle of an open way.
pub fn centroid(points: &[(f64, f64)]) -> (f64, f64) {
    let closed = points.len() >= 4 && points.first() == points.last();
    if !closed {
        return halfway_of(points).unwrap_or(points[0]);
    }
    // Shoelace formula in a frame centred on the first point (degrees; the cosine cancels out).
    let o = points[0];
    let (mut area, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for w in points.windows(2) {
        let (x0, y0) = (w[0].1 - o.1, w[0].0 - o.0);
        let (x1, y1) = (w[1].1 - o.1, w[1].0 - o.0);
        let cross = x0 * y1 - x1 * y0;
        area += cross;
        cx += (x0 + x1) * cross;
        cy += (y0 + y1) * cross;
    }
    if area.abs() < 1e-18 {
        let n = (points.len() - 1) as f64;
        let (sy, sx) = points[..points.len() - 1]
            .iter()
            .fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
        return (sy / n, sx / n);
    }
    (o.0 + cy / (3.0 * area), o.1 + cx / (3.0 * area))
}

/// One street entry per group of same-named ways that share a node or lie within
/// [`STREET_MERGE_M`]; each group keeps all its ways' shapes.
fn merge_streets(entries: Vec<RawEntry>, ways: Vec<StreetWay>) -> Extracted {
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (entry, _, _)) in ways.iter().enumerate() {
        by_name
            .entry(crate::normalize::tokens(&entries[*entry].name).join(" "))
            .or_default()
            .push(i);
    }
    let mut out = Extracted::default();
    let mut is_street = vec![false; entries.len()];
    for (entry, _, _) in &ways {
        is_street[*entry] = true;
    }
    // Streets come out of the groups below; other entries pass through, except ways whose
    // nodes are all missing from the file (no position).
    for (i, e) in entries.iter().enumerate() {
        if !is_street[i] && e.kind != Kind::Street && e.point.0.is_finite() && e.point.1.is_finite()
        {
            out.entries.push(e.clone());
        }
    }
    let mut names: Vec<&String> = by_name.keys().collect();
    names.sort();
    for name in names {
        let group = &by_name[name];
        let mut parent: Vec<usize> = (0..group.len()).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let mut node_owner: HashMap<i64, usize> = HashMap::new();
        for (gi, &wi) in group.iter().enumerate() {
            for &r in &ways[wi].1 {
                if let Some(&other) = node_owner.get(&r) {
                    let (a, b) = (find(&mut parent, gi), find(&mut parent, other));
                    parent[a] = b;
                } else {
                    node_owner.insert(r, gi);
                }
            }
        }
        let boxes: Vec<[f64; 4]> = group.iter().map(|&wi| bbox_of(&ways[wi].2)).collect();
        for a in 0..group.len() {
            for b in a + 1..group.len() {
                if bbox_gap_m(&boxes[a], &boxes[b]) <= STREET_MERGE_M {
                    let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                    parent[ra] = rb;
                }
            }
        }
        let mut components: HashMap<usize, Vec<usize>> = HashMap::new();
        for gi in 0..group.len() {
            let root = find(&mut parent, gi);
            components.entry(root).or_default().push(gi);
        }
        let mut components: Vec<Vec<usize>> = components.into_values().collect();
        components.sort();
        for members in components {
            // The longest way names the street's type and OSM id.
            let longest = *members
                .iter()
                .max_by_key(|&&gi| ways[group[gi]].2.len())
                .unwrap_or(&members[0]);
            let mut street = entries[ways[group[longest]].0].clone();
            let all: Vec<(f64, f64)> = members
                .iter()
                .flat_map(|&gi| ways[group[gi]].2.iter().copied())
                .collect();
            street.bbox = bbox_of(&all);
            // The shape point nearest the mean of all points: on the street, near its middle.
            let n = all.len() as f64;
            let mean = all
                .iter()
                .fold((0.0, 0.0), |a, p| (a.0 + p.0 / n, a.1 + p.1 / n));
            street.point = all
                .iter()
                .copied()
                .min_by(|a, b| {
                    let m = latlon(mean);
                    latlon(*a)
                        .haversine_m(m)
                        .total_cmp(&latlon(*b).haversine_m(m))
                })
                .unwrap_or(street.point);
            for &gi in &members {
                let e = &entries[ways[group[gi]].0];
                street.other_names.extend(e.other_names.iter().cloned());
            }
            street.other_names.sort();
            street.other_names.dedup();
            let index = out.entries.len();
            out.entries.push(street);
            for &gi in &members {
                out.shapes.push(StreetShape {
                    entry: index,
                    points: ways[group[gi]].2.clone(),
                });
            }
        }
    }
    out
}

/// Distance between two boxes in metres (0 when they overlap).
fn bbox_gap_m(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let dlat = (a[0] - b[1]).max(b[0] - a[1]).max(0.0);
    let dlon = (a[2] - b[3]).max(b[2] - a[3]).max(0.0);
    let lat = (a[0] + a[1]) / 2.0;
    latlon((lat, 0.0)).haversine_m(latlon((lat + dlat, dlon)))
}

/// How far from a `place=*` node its name still applies, by its type.
fn locality_radius_m(place: &str) -> Option<(bool, f64)> {
    // (is a city-level locality, radius)
    Some(match place {
        "city" => (true, 15_000.0),
        "town" => (true, 6_000.0),
        "village" => (true, 2_500.0),
        "hamlet" => (true, 1_000.0),
        "suburb" | "borough" => (false, 2_500.0),
        "quarter" => (false, 1_500.0),
        "neighbourhood" => (false, 800.0),
        _ => return None,
    })
}

/// Fills `city` and `suburb` where `addr:*` does not give them, from the nearest named place
/// node within its radius (the extract has no boundaries to test against).
fn assign_localities(entries: &mut [RawEntry]) {
    let places: Vec<(bool, f64, (f64, f64), String)> = entries
        .iter()
        .filter(|e| e.kind == Kind::Place && e.class == "place" && e.osm_type == OsmType::Node)
        .filter_map(|e| {
            let (city_level, r) = locality_radius_m(&e.typ)?;
            Some((city_level, r, e.point, e.name.clone()))
        })
        .collect();
    if places.is_empty() {
        return;
    }
    for e in entries.iter_mut() {
        if e.kind == Kind::Place && e.class == "place" {
            continue;
        }
        let mut best: [Option<(f64, &str)>; 2] = [None, None];
        for (city_level, radius, point, name) in &places {
            let d = latlon(e.point).haversine_m(latlon(*point));
            // Relative distance, so a city wins over a hamlet at the same distance.
            let rel = d / radius;
            if rel > 1.0 {
                continue;
            }
            let slot = &mut best[usize::from(*city_level)];
            if slot.is_none_or(|(r, _)| rel < r) {
                *slot = Some((rel, name));
            }
        }
        if e.city.is_empty() {
            if let Some((_, name)) = best[1] {
                e.city = name.to_string();
            }
        }
        if e.suburb.is_empty() {
            if let Some((_, name)) = best[0] {
                if *name != e.city {
                    e.suburb = name.to_string();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centroid_of_a_square_is_its_middle() {
        let sq = [(0.0, 0.0), (0.0, 2.0), (2.0, 2.0), (2.0, 0.0), (0.0, 0.0)];
        let c = centroid(&sq);
        assert!(
            (c.0 - 1.0).abs() < 1e-12 && (c.1 - 1.0).abs() < 1e-12,
            "{c:?}"
        );
    }

    #[test]
    fn a_shop_with_an_address_is_both() {
        let tags = [
            ("shop", "bakery"),
            ("name", "Padaria"),
            ("addr:housenumber", "12"),
            ("addr:street", "Rua Formosa"),
        ];
        let kinds: Vec<Kind> = classify(&tags, false).into_iter().map(|k| k.0).collect();
        assert_eq!(kinds, [Kind::Address, Kind::Place]);
        let street = [("highway", "residential"), ("name", "Rua Formosa")];
        assert_eq!(classify(&street, true)[0].0, Kind::Street);
        // A number without a street or place is not an address.
        assert!(classify(&[("addr:housenumber", "3")], false).is_empty());
    }
}
