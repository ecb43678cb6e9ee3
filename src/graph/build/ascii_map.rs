//! Graphs for unit tests drawn as ASCII maps, in the spirit of OSRM's cucumber features and
//! Valhalla's gurka tests: every letter or digit of the drawing is an OSM node at its grid
//! position, the ways list which nodes they join and with which tags, and the result goes
//! through the real importer (car profile, topology, tiling) into a graph directory.
//!
//! ```text
//!     a---b---c
//!         |
//!         d
//! ```
//! `AsciiMap::parse(drawing, 20.0)?.way("abc", &[("highway", "primary")]).way("bd", ...)`.
//! Lines and spaces in the drawing are only for the reader; rows go south, columns east, one
//! character is `spacing_m` metres both ways.

use super::osm::{OsmData, OsmRestriction, OsmWay};
use super::{import_data, BuildError, BuildOptions, BuildReport};
use crate::profile::{car_way_profile, RestrictionKind};
use spatial::LatLon;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Where the drawing's top-left corner lies (any real place will do: central Vaduz).
const ORIGIN: LatLon = LatLon::new(47.14, 9.52);
const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum AsciiMapError {
    #[error("node '{0}' is drawn twice")]
    DuplicateNode(char),
    #[error("node '{0}' is not in the drawing")]
    UnknownNode(char),
    #[error("a way needs at least two nodes, got \"{0}\"")]
    ShortWay(String),
    #[error("way {0} is not routable by car with its tags")]
    NotCarRoutable(usize),
    #[error("restriction refers to way {0}, which does not exist")]
    UnknownWay(usize),
}

/// A drawn map and the ways and restrictions added to it.
pub struct AsciiMap {
    nodes: HashMap<char, LatLon>,
    ways: Vec<OsmWay>,
    restrictions: Vec<OsmRestriction>,
    signals: HashSet<i64>,
    error: Option<AsciiMapError>,
}

/// The OSM id of a drawn node (its character code) and of the i-th way added (1-based).
pub fn node_id(c: char) -> i64 {
    c as i64
}

pub fn way_id(index: usize) -> i64 {
    index as i64 + 1
}

impl AsciiMap {
    /// Reads the drawing: each ASCII letter or digit is a node, `spacing_m` metres from its
    /// neighbours in the grid. Indentation common to all lines is ignored.
    pub fn parse(drawing: &str, spacing_m: f64) -> Result<AsciiMap, AsciiMapError> {
        let lines: Vec<&str> = drawing.lines().collect();
        let indent = lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let metres_per_degree_lon = METRES_PER_DEGREE_LAT * ORIGIN.lat.to_radians().cos();
        let mut nodes = HashMap::new();
        for (row, line) in lines.iter().enumerate() {
            for (col, c) in line.chars().enumerate().skip(indent) {
                if !c.is_ascii_alphanumeric() {
                    continue;
                }
                let lat = ORIGIN.lat - row as f64 * spacing_m / METRES_PER_DEGREE_LAT;
                let lon = ORIGIN.lon + (col - indent) as f64 * spacing_m / metres_per_degree_lon;
                if nodes.insert(c, LatLon::new(lat, lon)).is_some() {
                    return Err(AsciiMapError::DuplicateNode(c));
                }
            }
        }
        Ok(AsciiMap {
            nodes,
            ways: Vec::new(),
            restrictions: Vec::new(),
            signals: HashSet::new(),
            error: None,
        })
    }

    /// Position of a drawn node.
    pub fn coordinate(&self, c: char) -> Result<LatLon, AsciiMapError> {
        self.nodes
            .get(&c)
            .copied()
            .ok_or(AsciiMapError::UnknownNode(c))
    }

    /// Adds a way through the named nodes, in order, with OSM tags (the car profile reads them
    /// as the importer does). Errors surface at [`AsciiMap::osm_data`] / [`AsciiMap::import`].
    pub fn way(mut self, nodes: &str, tags: &[(&str, &str)]) -> Self {
        let index = self.ways.len();
        let refs: Result<Vec<i64>, _> = nodes
            .chars()
            .map(|c| self.coordinate(c).map(|_| node_id(c)))
            .collect();
        let outcome = match (refs, car_way_profile(tags)) {
            (Err(e), _) => Err(e),
            (Ok(r), _) if r.len() < 2 => Err(AsciiMapError::ShortWay(nodes.into())),
            (Ok(_), None) => Err(AsciiMapError::NotCarRoutable(index)),
            (Ok(refs), Some(profile)) => Ok(OsmWay {
                id: way_id(index),
                refs,
                profile,
            }),
        };
        match outcome {
            Ok(way) => self.ways.push(way),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// A turn restriction from way `from` (0-based, in the order added) over node `via` into
    /// way `to`: `No` forbids that turn, `Only` forbids every other.
    pub fn restriction(mut self, kind: RestrictionKind, from: usize, via: char, to: usize) -> Self {
        let check = [from, to]
            .into_iter()
            .find(|&w| w >= self.ways.len())
            .map(AsciiMapError::UnknownWay)
            .or_else(|| self.coordinate(via).err());
        match check {
            Some(e) => {
                self.error.get_or_insert(e);
            }
            None => self.restrictions.push(OsmRestriction {
                kind,
                from_way: way_id(from),
                via_node: node_id(via),
                to_way: way_id(to),
            }),
        }
        self
    }

    /// Marks a node `highway=traffic_signals`.
    pub fn signal(mut self, c: char) -> Self {
        match self.coordinate(c) {
            Ok(_) => {
                self.signals.insert(node_id(c));
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// What the PBF reader would have produced for this map.
    pub fn osm_data(&self) -> Result<OsmData, AsciiMapError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let used: HashSet<i64> = self.ways.iter().flat_map(|w| w.refs.clone()).collect();
        Ok(OsmData {
            ways: self
                .ways
                .iter()
                .map(|w| OsmWay {
                    id: w.id,
                    refs: w.refs.clone(),
                    profile: w.profile.clone(),
                })
                .collect(),
            restrictions: self.restrictions.clone(),
            restrictions_skipped: 0,
            node_coords: self
                .nodes
                .iter()
                .map(|(&c, &p)| (node_id(c), p))
                .filter(|(id, _)| used.contains(id))
                .collect(),
            traffic_signals: self.signals.clone(),
            toll_booths: HashSet::new(),
        })
    }

    /// Imports the map into `out_dir` with the real importer (precision and landmarks as
    /// `BuildOptions::new` sets them), ready for `GraphStore::open`.
    pub fn import(&self, out_dir: &Path) -> Result<BuildReport, BuildError> {
        let osm = self
            .osm_data()
            .map_err(|e| BuildError::Geometry(format!("ASCII map: {e}")))?;
        import_data(osm, &BuildOptions::new("ascii-map", out_dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &[(&str, &str)] = &[("highway", "primary")];

    #[test]
    fn letters_become_nodes_on_a_metric_grid() {
        let map = AsciiMap::parse("  a-b\n    |\n    c", 10.0).unwrap();
        let (a, b, c) = (
            map.coordinate('a').unwrap(),
            map.coordinate('b').unwrap(),
            map.coordinate('c').unwrap(),
        );
        let east = a.haversine_m(b);
        let south = b.haversine_m(c);
        assert!((east - 20.0).abs() < 0.1, "{east}");
        assert!((south - 20.0).abs() < 0.1, "{south}");
        assert!(b.lat > c.lat && b.lon > a.lon);
    }

    #[test]
    fn bad_maps_are_clear_errors() {
        assert_eq!(
            AsciiMap::parse("a a", 10.0).err(),
            Some(AsciiMapError::DuplicateNode('a'))
        );
        let map = AsciiMap::parse("a-b", 10.0).unwrap();
        let e = |m: AsciiMap| m.osm_data().err();
        assert_eq!(
            e(AsciiMap::parse("a-b", 10.0).unwrap().way("az", PRIMARY)),
            Some(AsciiMapError::UnknownNode('z'))
        );
        assert_eq!(
            e(map.way("ab", &[("highway", "footway")])),
            Some(AsciiMapError::NotCarRoutable(0))
        );
        assert_eq!(
            e(AsciiMap::parse("a-b", 10.0).unwrap().way("a", PRIMARY)),
            Some(AsciiMapError::ShortWay("a".into()))
        );
        assert_eq!(
            e(AsciiMap::parse("a-b", 10.0)
                .unwrap()
                .way("ab", PRIMARY)
                .restriction(RestrictionKind::No, 0, 'b', 3)),
            Some(AsciiMapError::UnknownWay(3))
        );
    }

    #[test]
    fn a_chain_of_degree_two_nodes_becomes_one_edge_each_way() {
        let map = AsciiMap::parse("a-b-c-d\n|     |\ne-----f", 30.0)
            .unwrap()
            .way("abcd", PRIMARY)
            .way("dfea", PRIMARY);
        let osm = map.osm_data().unwrap();
        let topo = super::super::topology::build_topology(&osm);
        // A ring has no junction of degree 3: the importer keeps the way ends a and d (where
        // the two ways meet) as junctions, and b, c, e, f only as shape points.
        assert_eq!(
            topo.junction_osm_ids.len(),
            2,
            "{:?}",
            topo.junction_osm_ids
        );
        assert_eq!(topo.edges.len(), 4);
    }
}
