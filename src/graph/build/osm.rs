//! Reads an OSM PBF into the raw material of a graph: the ways the [`Profile`] may use with
//! their way profile, its turn restrictions with a node via (cars only), and the coordinates of
//! the nodes those ways reference. Two passes (ways and relations, then only the needed nodes) so the input may
//! be in any order and memory stays proportional to the road network, not the whole file.

use super::BuildError;
use crate::mode::Profile;
use crate::profile::{RestrictionKind, WayProfile};
use indicatif::ProgressBar;
use osmpbf::{Element, ElementReader, RelMemberType};
use spatial::LatLon;
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub struct OsmWay {
    pub id: i64,
    pub refs: Vec<i64>,
    pub profile: WayProfile,
}

#[derive(Clone, Copy, Debug)]
pub struct OsmRestriction {
    pub kind: RestrictionKind,
    pub from_way: i64,
    pub via_node: i64,
    pub to_way: i64,
}

pub struct OsmData {
    pub ways: Vec<OsmWay>,
    pub restrictions: Vec<OsmRestriction>,
    /// Restrictions we cannot represent (via ways, missing members).
    pub restrictions_skipped: u64,
    /// Position of every node a kept way references and the file contains.
    pub node_coords: HashMap<i64, LatLon>,
    /// Road nodes tagged `highway=traffic_signals`.
    pub traffic_signals: HashSet<i64>,
    /// Road nodes tagged `barrier=toll_booth`: the edge through one is tolled.
    pub toll_booths: HashSet<i64>,
}

/// What a node's tags mark on the road: (traffic signal, toll booth).
fn node_marks<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> (bool, bool) {
    let (mut signal, mut booth) = (false, false);
    for (k, v) in tags {
        signal |= k == "highway" && v == "traffic_signals";
        booth |= k == "barrier" && v == "toll_booth";
    }
    (signal, booth)
}

pub fn read_pbf(
    path: &Path,
    profile: Profile,
    progress: &ProgressBar,
) -> Result<OsmData, BuildError> {
    let open = || {
        ElementReader::from_path(path).map_err(|e| BuildError::Pbf {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    };
    let pbf_error = |e: osmpbf::Error| BuildError::Pbf {
        path: path.display().to_string(),
        message: e.to_string(),
    };

    progress.set_message("pass 1/2: ways and restrictions");
    let mut ways = Vec::new();
    let mut restrictions = Vec::new();
    let mut restrictions_skipped = 0u64;
    let mut seen = 0u64;
    open()?
        .for_each(|element| {
            seen += 1;
            if seen % 65_536 == 0 {
                progress.set_position(seen);
            }
            match element {
                Element::Way(way) => {
                    let tags: Vec<(&str, &str)> = way.tags().collect();
                    if let Some(way_profile) = profile.way_profile(&tags) {
                        ways.push(OsmWay {
                            id: way.id(),
                            refs: way.refs().collect(),
                            profile: way_profile,
                        });
                    }
                }
                Element::Relation(rel) if profile.uses_turn_restrictions() => {
                    let tags: Vec<(&str, &str)> = rel.tags().collect();
                    let Some(kind) = profile.restriction(&tags) else {
                        return;
                    };
                    let (mut from, mut via, mut to) = (Vec::new(), Vec::new(), Vec::new());
                    let mut via_is_way = false;
                    for m in rel.members() {
                        let role = m.role().unwrap_or("");
                        match (role, m.member_type) {
                            ("from", RelMemberType::Way) => from.push(m.member_id),
                            ("to", RelMemberType::Way) => to.push(m.member_id),
                            ("via", RelMemberType::Node) => via.push(m.member_id),
                            ("via", RelMemberType::Way) => via_is_way = true,
                            _ => {}
                        }
                    }
                    if via_is_way || via.len() != 1 || from.is_empty() || to.is_empty() {
                        restrictions_skipped += 1;
                        return;
                    }
                    for &f in &from {
                        for &t in &to {
                            restrictions.push(OsmRestriction {
                                kind,
                                from_way: f,
                                via_node: via[0],
                                to_way: t,
                            });
                        }
                    }
                }
                _ => {}
            }
        })
        .map_err(pbf_error)?;

    progress.set_message("pass 2/2: node coordinates");
    let mut node_coords: HashMap<i64, LatLon> = HashMap::new();
    let mut traffic_signals: HashSet<i64> = HashSet::new();
    let mut toll_booths: HashSet<i64> = HashSet::new();
    for way in &ways {
        for &r in &way.refs {
            node_coords.insert(r, LatLon::new(f64::NAN, f64::NAN));
        }
    }
    open()?
        .for_each(|element| {
            seen += 1;
            if seen % 65_536 == 0 {
                progress.set_position(seen);
            }
            let (id, lat, lon, (signal, booth)) = match element {
                Element::Node(n) => (n.id(), n.lat(), n.lon(), node_marks(n.tags())),
                Element::DenseNode(n) => (n.id(), n.lat(), n.lon(), node_marks(n.tags())),
                _ => return,
            };
            if let Some(slot) = node_coords.get_mut(&id) {
                *slot = LatLon::new(lat, lon);
                if signal {
                    traffic_signals.insert(id);
                }
                if booth {
                    toll_booths.insert(id);
                }
            }
        })
        .map_err(pbf_error)?;
    progress.set_position(seen);
    // Dangling references (clipped extracts) stay out of the map; the topology splits ways there.
    node_coords.retain(|_, c| c.lat.is_finite() && c.lon.is_finite());
    Ok(OsmData {
        traffic_signals,
        toll_booths,
        ways,
        restrictions,
        restrictions_skipped,
        node_coords,
    })
}
