//! Road graphs of the 9th DIMACS Implementation Challenge (`USA-road-t.NY.gr` arcs with travel
//! times, `USA-road-d.NY.co` coordinates; plain or gzipped) as importer input, so the same tiles,
//! landmarks and overlay are built for them as for an OSM extract: the benchmarks' largest graph
//! and the way to check that a search's cost holds as maps grow.
//!
//! Each pair of nodes joined by arcs becomes one two-node way, drivable in the directions that
//! have an arc. DIMACS graphs have no road classes, names or turn restrictions: every way is
//! `unclassified`, unnamed, and free to turn. Lengths come from the coordinates (as for OSM);
//! the travel-time file gives the speeds: each arc's speed relative to the graph's median speed
//! (its distance over its time), scaled so that the median arc runs at [`MEDIAN_SPEED_KMH`].

use super::osm::{OsmData, OsmWay};
use super::{import_data, BuildError, BuildOptions, BuildReport};
use crate::profile::{RoadClass, WayProfile};
use spatial::LatLon;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Speed of the median arc: the files' times are in units of their own.
pub const MEDIAN_SPEED_KMH: f32 = 40.0;

fn open(path: &Path) -> Result<Box<dyn BufRead>, BuildError> {
    let file = std::fs::File::open(path).map_err(|e| BuildError::io(path, e))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::new(reader)))
}

fn bad(path: &Path, line: usize, what: &str) -> BuildError {
    BuildError::Pbf {
        path: path.display().to_string(),
        message: format!("line {line}: {what}"),
    }
}

/// The `v id x y` lines: positions in millionths of a degree (x is the longitude).
fn read_coordinates(path: &Path) -> Result<HashMap<i64, LatLon>, BuildError> {
    let mut coords = HashMap::new();
    for (i, line) in open(path)?.lines().enumerate() {
        let line = line.map_err(|e| BuildError::io(path, e))?;
        let mut f = line.split_ascii_whitespace();
        if f.next() != Some("v") {
            continue;
        }
        let mut num = || -> Result<i64, BuildError> {
            f.next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(path, i + 1, "a `v id x y` line needs three integers"))
        };
        let (id, x, y) = (num()?, num()?, num()?);
        let p = LatLon::new(y as f64 / 1e6, x as f64 / 1e6);
        if !p.in_range() {
            return Err(bad(path, i + 1, "coordinate out of range"));
        }
        coords.insert(id, p);
    }
    Ok(coords)
}

/// The `a from to weight` lines, the smallest weight of parallel arcs kept.
fn read_arcs(path: &Path) -> Result<BTreeMap<(i64, i64), u64>, BuildError> {
    let mut arcs = BTreeMap::new();
    for (i, line) in open(path)?.lines().enumerate() {
        let line = line.map_err(|e| BuildError::io(path, e))?;
        let mut f = line.split_ascii_whitespace();
        if f.next() != Some("a") {
            continue;
        }
        let mut num = || -> Result<u64, BuildError> {
            f.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
                bad(
                    path,
                    i + 1,
                    "an `a from to weight` line needs three integers",
                )
            })
        };
        let (u, v, w) = (num()? as i64, num()? as i64, num()?);
        if u != v {
            let slot = arcs.entry((u, v)).or_insert(w);
            *slot = (*slot).min(w);
        }
    }
    Ok(arcs)
}

/// The graph of `arcs` (a travel-time `.gr`) at the positions of `coordinates` (`.co`).
pub fn read(arcs: &Path, coordinates: &Path) -> Result<OsmData, BuildError> {
    let coords = read_coordinates(coordinates)?;
    let times = read_arcs(arcs)?;
    // Metres per time unit of each arc with a position at both ends and a positive time.
    let rate = |(u, v): (i64, i64), t: u64| -> Option<f64> {
        let (a, b) = (coords.get(&u)?, coords.get(&v)?);
        (t > 0).then(|| a.haversine_m(*b) / t as f64)
    };
    let mut rates: Vec<f64> = times
        .iter()
        .filter_map(|(&k, &t)| rate(k, t))
        .filter(|r| *r > 0.0)
        .collect();
    if rates.is_empty() {
        return Err(BuildError::Empty {
            path: arcs.display().to_string(),
            profile: crate::Profile::Car,
        });
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let speed = |k: (i64, i64)| -> f32 {
        let r = times.get(&k).and_then(|&t| rate(k, t)).unwrap_or(median);
        ((r / median) as f32 * MEDIAN_SPEED_KMH).clamp(5.0, 130.0)
    };
    let mut ways = Vec::new();
    for &(u, v) in times.keys() {
        let (a, b) = (u.min(v), u.max(v));
        if (a, b) != (u, v) && times.contains_key(&(a, b)) {
            continue; // this pair's way was made from its other arc
        }
        if !coords.contains_key(&a) || !coords.contains_key(&b) {
            continue;
        }
        let (forward, backward) = (times.contains_key(&(a, b)), times.contains_key(&(b, a)));
        ways.push(OsmWay {
            id: ways.len() as i64 + 1,
            refs: vec![a, b],
            profile: WayProfile {
                class: RoadClass::Unclassified,
                forward,
                backward,
                forward_speed_kmh: if forward {
                    speed((a, b))
                } else {
                    MEDIAN_SPEED_KMH
                },
                backward_speed_kmh: if backward {
                    speed((b, a))
                } else {
                    MEDIAN_SPEED_KMH
                },
                roundabout: false,
                toll: false,
                ferry: false,
                name: String::new(),
                reference: String::new(),
                signs: Default::default(),
            },
        });
    }
    let used: HashSet<i64> = ways.iter().flat_map(|w| w.refs.iter().copied()).collect();
    Ok(OsmData {
        ways,
        restrictions: Vec::new(),
        restrictions_skipped: 0,
        node_coords: coords
            .into_iter()
            .filter(|(id, _)| used.contains(id))
            .collect(),
        traffic_signals: HashSet::new(),
        toll_booths: HashSet::new(),
    })
}

/// Imports a DIMACS graph into `opts.out_dir` (no geocoding index: DIMACS has no addresses).
pub fn import(
    arcs: &Path,
    coordinates: &Path,
    opts: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    let osm = read(arcs, coordinates)?;
    let opts = BuildOptions {
        input: arcs.to_path_buf(),
        out_dir: opts.out_dir.clone(),
        precision: opts.precision,
        landmarks: opts.landmarks,
        progress: false,
        places: false,
        profile: crate::Profile::Car,
    };
    import_data(osm, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_arcs_and_coordinates_into_two_node_ways() {
        let dir = tempfile::tempdir().unwrap();
        let co = dir.path().join("g.co");
        let gr = dir.path().join("g.gr");
        std::fs::write(
            &co,
            "c test\np aux sp co 3\nv 1 -73530767 41085396\nv 2 -73530538 41086098\nv 3 -73529000 41086098\n",
        )
        .unwrap();
        // 1 <-> 2 both ways (twice as fast one way), 2 -> 3 only, a self loop dropped.
        std::fs::write(&gr, "p sp 3 4\na 1 2 100\na 2 1 50\na 2 3 100\na 3 3 7\n").unwrap();
        let osm = read(&gr, &co).unwrap();
        assert_eq!(osm.ways.len(), 2);
        let w12 = &osm.ways[0].profile;
        assert_eq!(osm.ways[0].refs, vec![1, 2]);
        assert!(w12.forward && w12.backward);
        assert!((w12.backward_speed_kmh / w12.forward_speed_kmh - 2.0).abs() < 1e-3);
        let w23 = &osm.ways[1].profile;
        assert!(w23.forward && !w23.backward);
        assert_eq!(osm.node_coords.len(), 3);
        std::fs::write(&gr, "a 1 2 x\n").unwrap();
        assert!(read(&gr, &co).is_err());
    }
}
