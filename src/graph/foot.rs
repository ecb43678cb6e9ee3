//! Walking profile: how OpenStreetMap tags are read for a person on foot.
//!
//! The only place that decides whether a walker may use a way, in which directions and at
//! what speed. It produces the same [`WayProfile`] the car profile does, so the rest of the
//! importer (topology, tiles) builds a foot graph exactly like a car graph; see
//! [`crate::mode::Profile`] for how an import picks one of the two.
//!
//! The rules, written down here from scratch (the numbers resemble OSRM's `foot.lua`, which
//! Meridian compares its walking routes with):
//!
//! * **Which ways**: every `highway=*` a car uses except motorways (pedestrians are banned from
//!   them everywhere), plus footways (sidewalks `footway=sidewalk` and crossings included),
//!   pedestrian streets, paths, steps, tracks, indoor corridors, platforms (`highway=platform`,
//!   `railway=platform`) and piers (`man_made=pier`). Cycleways and bridleways only where
//!   `foot=*` allows walking. Trunk roads, often expressways, only where a sidewalk on the
//!   carriageway is tagged (`sidewalk=both|left|right|yes`) and they are not motorway-like
//!   (`expressway=yes`); a way tagged `motorroad=yes` is not walked.
//! * **Access**: `foot=*` then `access=*`, each with its `:forward` / `:backward` forms; `no`,
//!   `private`, `agricultural`, `forestry`, `delivery`, `military`, `use_sidepath` close the
//!   way, and an explicit `foot=yes|designated|permissive|official` opens even the ways above
//!   that are not walked by default (a cycleway, a trunk road with `motorroad=yes`), but never
//!   a motorway.
//! * **Sidewalks mapped apart**: a road whose sidewalks are separate ways
//!   (`sidewalk=separate`, or each side `separate` or `no`) is walked on those ways, not on the
//!   carriageway, unless `foot=*` explicitly allows the carriageway.
//! * **Direction**: `oneway=*` binds vehicles, not walkers: only `oneway:foot` is read.
//! * **Speed**: [`WALKING_SPEED_KMH`]; steps [`STEPS_SPEED_KMH`]; loose or soft surfaces slow
//!   the walk ([`surface_factor`]).
//! * Turn restrictions do not bind walkers: the foot import reads none (see
//!   [`crate::mode::Profile::uses_turn_restrictions`]).

use crate::profile::{
    canonical_list, directional_tag, is_one_of, is_yes, tag, tag_with_suffix, Direction, RoadClass,
    WayProfile,
};

/// Walking pace on level ground, km/h.
pub const WALKING_SPEED_KMH: f32 = 5.0;

/// Pace on `highway=steps` (horizontal distance; climbing or descending a flight takes longer
/// than walking its length on the flat).
pub const STEPS_SPEED_KMH: f32 = 3.0;

/// Values of `foot=*` / `access=*` that close a way to walkers.
const FORBIDDEN: &[&str] = &[
    "no",
    "private",
    "agricultural",
    "forestry",
    "delivery",
    "military",
    "use_sidepath",
];

/// Values that open a way to walkers.
const ALLOWED: &[&str] = &[
    "yes",
    "designated",
    "permissive",
    "official",
    "foot",
    "destination",
    "customers",
];

/// What one access value means for a walker; `None` for values that say nothing about walking
/// (`access=bus`, `unknown`, garbage): the class default applies. For `a;b` the most
/// permissive recognised part wins.
fn classify(value: &str) -> Option<bool> {
    value
        .split(';')
        .filter_map(|part| {
            if is_one_of(part, ALLOWED) {
                Some(true)
            } else if is_one_of(part, FORBIDDEN) {
                Some(false)
            } else {
                None
            }
        })
        .max()
}

/// Walker access in one direction from `foot=*` then `access=*` (`Some(true)` open,
/// `Some(false)` closed, `None` not tagged).
fn foot_access(tags: &[(&str, &str)], direction: Direction) -> Option<bool> {
    ["foot", "access"]
        .iter()
        .find_map(|key| directional_tag(tags, key, direction).and_then(classify))
}

/// Whether `foot=*` itself (not `access`) opens the way in this direction.
fn foot_explicitly_allowed(tags: &[(&str, &str)], direction: Direction) -> bool {
    directional_tag(tags, "foot", direction).is_some_and(|v| {
        v.split(';')
            .any(|p| is_one_of(p, &["yes", "designated", "permissive", "official"]))
    })
}

/// The class of a way a walker might use, from `highway=*` or, for ways without it, from
/// `railway=platform` / `man_made=pier`.
fn walkable_class(tags: &[(&str, &str)]) -> Option<RoadClass> {
    match tag(tags, "highway") {
        Some(highway) => RoadClass::from_highway_any(highway),
        None if tag(tags, "railway").is_some_and(|v| v.eq_ignore_ascii_case("platform")) => {
            Some(RoadClass::Platform)
        }
        None if tag(tags, "man_made").is_some_and(|v| v.eq_ignore_ascii_case("pier")) => {
            Some(RoadClass::Pier)
        }
        None => None,
    }
}

/// Whether a walker may use a way of this class when no `foot=*` says so.
fn walked_by_default(class: RoadClass, tags: &[(&str, &str)]) -> bool {
    match class {
        RoadClass::Motorway | RoadClass::MotorwayLink => false,
        RoadClass::Cycleway | RoadClass::Bridleway => false,
        // Trunk roads are often expressways (Porto's VCI is one): walked only where a
        // sidewalk on the carriageway is tagged.
        RoadClass::Trunk | RoadClass::TrunkLink => {
            !tag(tags, "expressway").is_some_and(is_yes) && has_sidewalk_on_road(tags)
        }
        _ => true,
    }
}

/// What a road's sidewalk tags say about one side.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// A sidewalk on the carriageway, or nothing tagged.
    OnRoad,
    /// Mapped as its own way.
    Separate,
    /// No sidewalk on this side.
    None,
}

/// Whether the road's sidewalks are all mapped as separate ways (or absent), so that walkers
/// are routed on those ways rather than on the carriageway.
fn sidewalks_mapped_apart(tags: &[(&str, &str)]) -> bool {
    let general = tag_with_suffix(tags, "sidewalk", "both").or_else(|| tag(tags, "sidewalk"));
    let side = |name: &str| {
        let value = match tag_with_suffix(tags, "sidewalk", name) {
            Some(v) => v,
            None => match general {
                // `sidewalk=left` says the other side has none.
                Some(g) if is_one_of(g, &["left", "right"]) => {
                    if g.eq_ignore_ascii_case(name) {
                        "yes"
                    } else {
                        "no"
                    }
                }
                Some(g) => g,
                None => return Side::OnRoad,
            },
        };
        if value.eq_ignore_ascii_case("separate") {
            Side::Separate
        } else if is_one_of(value, &["no", "none"]) {
            Side::None
        } else {
            Side::OnRoad
        }
    };
    let (left, right) = (side("left"), side("right"));
    left != Side::OnRoad
        && right != Side::OnRoad
        && (left == Side::Separate || right == Side::Separate)
}

/// Whether a sidewalk on the carriageway itself is tagged (`sidewalk=both|left|right|yes`, or
/// `sidewalk:left|right|both=yes`).
fn has_sidewalk_on_road(tags: &[(&str, &str)]) -> bool {
    let on_road = |v: &str| is_one_of(v, &["both", "left", "right", "yes"]);
    tag(tags, "sidewalk").is_some_and(on_road)
        || ["both", "left", "right"]
            .iter()
            .any(|side| tag_with_suffix(tags, "sidewalk", side).is_some_and(on_road))
}

/// Tags that close a way to walkers outright.
fn is_blocked(tags: &[(&str, &str)]) -> bool {
    tag(tags, "impassable").is_some_and(is_yes)
        || tag(tags, "status").is_some_and(|s| s.eq_ignore_ascii_case("impassable"))
}

/// Speed factor of a `surface=*` for a walker (1 for paved and unknown surfaces).
pub fn surface_factor(surface: &str) -> f32 {
    match surface.trim().to_ascii_lowercase().as_str() {
        "fine_gravel" | "gravel" | "pebblestone" => 0.75,
        "mud" | "sand" => 0.5,
        _ => 1.0,
    }
}

/// Interpret a way's tags for walkers. Returns `None` when a walker may not use the way.
pub fn foot_way_profile(tags: &[(&str, &str)]) -> Option<WayProfile> {
    let class = walkable_class(tags)?;
    if matches!(class, RoadClass::Motorway | RoadClass::MotorwayLink) || is_blocked(tags) {
        return None;
    }
    let motorroad = tag(tags, "motorroad").is_some_and(is_yes);
    let carriageway_left_out = RoadClass::CAR.contains(&class) && sidewalks_mapped_apart(tags);
    let direction_open = |direction: Direction| {
        // An explicit `foot=yes` opens what the defaults below leave out.
        foot_explicitly_allowed(tags, direction)
            || (!motorroad
                && !carriageway_left_out
                && foot_access(tags, direction) != Some(false)
                && walked_by_default(class, tags))
    };
    let (mut forward, mut backward) = (
        direction_open(Direction::Forward),
        direction_open(Direction::Backward),
    );
    match tag_with_suffix(tags, "oneway", "foot") {
        Some(v) if is_one_of(v, &["yes", "1", "true"]) => backward = false,
        Some(v) if is_one_of(v, &["-1", "reverse"]) => forward = false,
        _ => {}
    }
    if !forward && !backward {
        return None;
    }

    let mut speed = if class == RoadClass::Steps {
        STEPS_SPEED_KMH
    } else {
        WALKING_SPEED_KMH
    };
    if let Some(surface) = tag(tags, "surface") {
        speed *= surface_factor(surface);
    }

    let reference = tag(tags, "ref").map(canonical_list).unwrap_or_default();
    let name = match tag(tags, "name") {
        Some(name) => name.to_string(),
        None => reference.clone(),
    };
    Some(WayProfile {
        class,
        forward,
        backward,
        forward_speed_kmh: speed,
        backward_speed_kmh: speed,
        // Walkers go around a roundabout on its sidewalk: no "take the n-th exit" steps.
        roundabout: false,
        toll: false,
        ferry: false,
        name,
        reference,
        signs: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(tags: &[(&str, &str)]) -> Option<(bool, bool)> {
        foot_way_profile(tags).map(|p| (p.forward, p.backward))
    }

    #[test]
    fn pedestrian_ways_are_walked_both_ways_at_walking_speed() {
        for highway in [
            "footway",
            "pedestrian",
            "path",
            "track",
            "living_street",
            "residential",
            "service",
            "primary",
            "unclassified",
            "corridor",
            "platform",
        ] {
            let way =
                foot_way_profile(&[("highway", highway)]).unwrap_or_else(|| panic!("{highway}"));
            assert!(way.forward && way.backward, "{highway}");
            assert_eq!(way.forward_speed_kmh, WALKING_SPEED_KMH, "{highway}");
            assert_eq!(way.class.name(), highway);
        }
        let sidewalk =
            foot_way_profile(&[("highway", "footway"), ("footway", "sidewalk")]).unwrap();
        assert_eq!(sidewalk.class, RoadClass::Footway);
        let crossing =
            foot_way_profile(&[("highway", "footway"), ("footway", "crossing")]).unwrap();
        assert_eq!(crossing.class, RoadClass::Footway);
        assert_eq!(
            foot_way_profile(&[("railway", "platform")]).unwrap().class,
            RoadClass::Platform
        );
        assert_eq!(
            foot_way_profile(&[("man_made", "pier")]).unwrap().class,
            RoadClass::Pier
        );
    }

    #[test]
    fn steps_and_soft_surfaces_are_slower() {
        let steps = foot_way_profile(&[("highway", "steps")]).unwrap();
        assert_eq!(steps.forward_speed_kmh, STEPS_SPEED_KMH);
        const { assert!(STEPS_SPEED_KMH < WALKING_SPEED_KMH) };
        let gravel = foot_way_profile(&[("highway", "path"), ("surface", "gravel")]).unwrap();
        assert_eq!(gravel.forward_speed_kmh, WALKING_SPEED_KMH * 0.75);
        let sand = foot_way_profile(&[("highway", "path"), ("surface", "Sand")]).unwrap();
        assert_eq!(sand.forward_speed_kmh, WALKING_SPEED_KMH * 0.5);
        let asphalt = foot_way_profile(&[("highway", "path"), ("surface", "asphalt")]).unwrap();
        assert_eq!(asphalt.forward_speed_kmh, WALKING_SPEED_KMH);
    }

    #[test]
    fn motorways_are_never_walked() {
        assert_eq!(walk(&[("highway", "motorway")]), None);
        assert_eq!(walk(&[("highway", "motorway_link")]), None);
        assert_eq!(walk(&[("highway", "motorway"), ("foot", "yes")]), None);
        // Motorway-like trunk roads neither, unless walking is explicitly allowed.
        assert_eq!(walk(&[("highway", "trunk"), ("motorroad", "yes")]), None);
        assert_eq!(walk(&[("highway", "trunk"), ("expressway", "yes")]), None);
        assert_eq!(walk(&[("highway", "trunk_link"), ("sidewalk", "no")]), None);
        assert_eq!(walk(&[("highway", "trunk")]), None);
        assert_eq!(
            walk(&[
                ("highway", "trunk"),
                ("sidewalk", "both"),
                ("expressway", "yes")
            ]),
            None
        );
        assert_eq!(walk(&[("highway", "primary"), ("motorroad", "yes")]), None);
        assert_eq!(
            walk(&[("highway", "trunk"), ("motorroad", "yes"), ("foot", "yes")]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[("highway", "trunk"), ("sidewalk", "right")]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[("highway", "trunk_link"), ("sidewalk:left", "yes")]),
            Some((true, true))
        );
    }

    #[test]
    fn oneways_bind_vehicles_not_walkers() {
        assert_eq!(
            walk(&[("highway", "residential"), ("oneway", "yes")]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[("highway", "primary"), ("junction", "roundabout")]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[("highway", "footway"), ("oneway:foot", "yes")]),
            Some((true, false))
        );
        assert_eq!(
            walk(&[("highway", "footway"), ("oneway:foot", "-1")]),
            Some((false, true))
        );
        assert_eq!(
            walk(&[
                ("highway", "residential"),
                ("oneway", "yes"),
                ("oneway:foot", "no")
            ]),
            Some((true, true))
        );
        assert!(
            !foot_way_profile(&[("highway", "primary"), ("junction", "roundabout")])
                .unwrap()
                .roundabout
        );
    }

    #[test]
    fn foot_and_access_tags() {
        assert_eq!(walk(&[("highway", "footway"), ("foot", "no")]), None);
        assert_eq!(walk(&[("highway", "service"), ("access", "private")]), None);
        assert_eq!(
            walk(&[("highway", "residential"), ("foot", "private")]),
            None
        );
        assert_eq!(
            walk(&[("highway", "primary"), ("foot", "use_sidepath")]),
            None
        );
        assert_eq!(
            walk(&[("highway", "track"), ("access", "agricultural")]),
            None
        );
        // The more specific key wins.
        assert_eq!(
            walk(&[
                ("highway", "service"),
                ("access", "private"),
                ("foot", "yes")
            ]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[
                ("highway", "pedestrian"),
                ("access", "no"),
                ("foot", "designated")
            ]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[("highway", "service"), ("access", "destination")]),
            Some((true, true))
        );
        // Vehicle bans do not concern walkers.
        assert_eq!(
            walk(&[
                ("highway", "pedestrian"),
                ("motor_vehicle", "no"),
                ("vehicle", "no")
            ]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[("highway", "footway"), ("foot:backward", "no")]),
            Some((true, false))
        );
        assert_eq!(
            walk(&[("highway", "path"), ("foot", "no;yes")]),
            Some((true, true))
        );
    }

    #[test]
    fn cycleways_only_with_foot_allowed() {
        assert_eq!(walk(&[("highway", "cycleway")]), None);
        assert_eq!(walk(&[("highway", "cycleway"), ("access", "yes")]), None);
        assert_eq!(walk(&[("highway", "bridleway")]), None);
        assert_eq!(
            walk(&[("highway", "cycleway"), ("foot", "designated")]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[("highway", "bridleway"), ("foot", "yes")]),
            Some((true, true))
        );
    }

    #[test]
    fn separately_mapped_sidewalks() {
        assert_eq!(
            walk(&[("highway", "primary"), ("sidewalk", "separate")]),
            None
        );
        assert_eq!(
            walk(&[("highway", "residential"), ("sidewalk:both", "separate")]),
            None
        );
        assert_eq!(
            walk(&[
                ("highway", "secondary"),
                ("sidewalk:left", "separate"),
                ("sidewalk:right", "no")
            ]),
            None
        );
        // A sidewalk on the carriageway on one side keeps the road walkable.
        assert_eq!(
            walk(&[
                ("highway", "secondary"),
                ("sidewalk:left", "separate"),
                ("sidewalk:right", "yes")
            ]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[("highway", "secondary"), ("sidewalk", "both")]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[("highway", "secondary"), ("sidewalk", "no")]),
            Some((true, true))
        );
        assert_eq!(
            walk(&[
                ("highway", "primary"),
                ("sidewalk", "separate"),
                ("foot", "yes")
            ]),
            Some((true, true))
        );
    }

    #[test]
    fn not_ways_for_walkers() {
        for tags in [
            &[("highway", "construction")][..],
            &[("highway", "proposed")],
            &[("highway", "raceway")],
            &[("highway", "bus_guideway")],
            &[("building", "yes")],
            &[("railway", "rail")],
            &[("highway", "footway"), ("impassable", "yes")],
            &[("highway", "path"), ("status", "impassable")],
        ] {
            assert_eq!(walk(tags), None, "{tags:?}");
        }
    }
}
