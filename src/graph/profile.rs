//! Car routing profile: how OpenStreetMap tags are read for cars.
//!
//! This module is the only place that decides whether a car may use a way, in
//! which directions, at what free-flow speed, and whether a turn-restriction
//! relation binds cars. Everything else in the graph builder works with the
//! [`WayProfile`] and [`RestrictionKind`] values produced here, so changing the
//! car's behaviour should only ever mean changing this file.
//!
//! The numbers (speeds per road class, the 0.8 factor applied to posted
//! limits, the country-code speed-limit table, the surface caps and the slow-down
//! for parking aisles and driveways) are defaults resembling common open-source
//! car profiles, in particular the car profile of OSRM, which Meridian uses as
//! its correctness reference. Only the facts (numbers and which tag values
//! count) were taken over; the rules are written down here from scratch.
//!
//! Tag keys and values are compared ASCII-case-insensitively after trimming
//! spaces, because real data contains `Yes`, ` no` and similar variants.
//! Empty values count as absent.

use std::fmt;

/// Speed used by the car when a way carries no usable speed limit and its
/// class is unknown to the table (only `highway=road`).
pub const UNKNOWN_ROAD_SPEED_KMH: f32 = 10.0;

/// Posted limits are multiplied by this factor: cars rarely drive at the limit
/// on average (junctions, traffic), so a 50 km/h street is routed at 40 km/h.
/// The same factor is not applied to the class defaults, which already are
/// average speeds.
pub const SPEED_REDUCTION: f32 = 0.8;

/// What `maxspeed=none` (no legal limit, e.g. German Autobahn) is taken to
/// mean before [`SPEED_REDUCTION`] applies, so it is routed at 112 km/h.
pub const MAXSPEED_NONE_KMH: f32 = 140.0;

/// What `maxspeed=walk` (walking pace) is taken to mean.
pub const MAXSPEED_WALK_KMH: f32 = 7.0;

/// A tagged limit above this is treated as a mapping error and ignored, so that
/// a typo such as `maxspeed=500` cannot turn a street into a racetrack.
pub const MAX_PLAUSIBLE_MAXSPEED_KMH: f32 = 200.0;

/// Bounds applied to every routing speed, so travel times stay finite and
/// positive whatever combination of factors was applied.
pub const MIN_SPEED_KMH: f32 = 1.0;
/// Upper bound of every routing speed, see [`MIN_SPEED_KMH`].
pub const MAX_SPEED_KMH: f32 = 200.0;

/// Speed factor for `service=parking_aisle|parking|driveway|alley|drive-through`:
/// such ways should only be used at the very start or end of a trip.
pub const MINOR_SERVICE_FACTOR: f32 = 0.5;

/// Speed factor for `oneway=alternating` (single-lane stretches controlled by
/// traffic lights): both directions are usable but each waits for its turn.
pub const ALTERNATING_FACTOR: f32 = 0.4;

/// Vehicle size checked against `maxheight`, `maxwidth`, `maxweight` and
/// `maxlength`: a large family car.
pub const VEHICLE_HEIGHT_M: f32 = 2.0;
/// Width of the car, see [`VEHICLE_HEIGHT_M`]; a way as narrow or narrower is closed.
pub const VEHICLE_WIDTH_M: f32 = 1.9;
/// Length of the car, see [`VEHICLE_HEIGHT_M`].
pub const VEHICLE_LENGTH_M: f32 = 4.8;
/// Weight of the car, see [`VEHICLE_HEIGHT_M`].
pub const VEHICLE_WEIGHT_KG: f32 = 2000.0;

const KM_PER_MILE: f32 = 1.609_344;
const KM_PER_NAUTICAL_MILE: f32 = 1.852;

/// Access keys from most to least specific; the first one present decides.
const ACCESS_HIERARCHY: [&str; 4] = ["motorcar", "motor_vehicle", "vehicle", "access"];

/// Transport modes that describe a private car, used for `oneway:*`,
/// `restriction:*` and `except=*`.
const CAR_MODES: [&str; 3] = ["motorcar", "motor_vehicle", "vehicle"];

/// Keys searched for a speed, in order; advisory limits win over legal ones
/// because they describe what drivers really do (curves, ramps).
const MAXSPEED_KEYS: [&str; 4] = [
    "maxspeed:advisory",
    "maxspeed",
    "source:maxspeed",
    "maxspeed:type",
];

// ---------------------------------------------------------------------------
// Road classes
// ---------------------------------------------------------------------------

/// Road class of a way, ordered from most to least important: first the classes cars use
/// (the first [`RoadClass::CAR`]), then the ways only walkers use (the foot profile,
/// [`crate::foot`]). New classes go at the end so stored `as_u8` values never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RoadClass {
    Motorway,
    MotorwayLink,
    Trunk,
    TrunkLink,
    Primary,
    PrimaryLink,
    Secondary,
    SecondaryLink,
    Tertiary,
    TertiaryLink,
    Unclassified,
    Residential,
    LivingStreet,
    Service,
    Road,
    /// `highway=footway` (sidewalks and crossings included: `footway=sidewalk|crossing`).
    Footway,
    /// `highway=pedestrian`: a pedestrian street or square.
    Pedestrian,
    /// `highway=path`.
    Path,
    /// `highway=steps`.
    Steps,
    /// `highway=track`.
    Track,
    /// `highway=cycleway`, walked only where `foot=*` allows it.
    Cycleway,
    /// `highway=bridleway`, walked only where `foot=*` allows it.
    Bridleway,
    /// Indoor `highway=corridor`, walked only where `foot=*` allows it.
    Corridor,
    /// `highway=platform`, `railway=platform`.
    Platform,
    /// `man_made=pier`.
    Pier,
}

impl RoadClass {
    /// The classes cars use, in `as_u8` order (the first values of [`RoadClass::ALL`]).
    pub const CAR: [RoadClass; 15] = [
        RoadClass::Motorway,
        RoadClass::MotorwayLink,
        RoadClass::Trunk,
        RoadClass::TrunkLink,
        RoadClass::Primary,
        RoadClass::PrimaryLink,
        RoadClass::Secondary,
        RoadClass::SecondaryLink,
        RoadClass::Tertiary,
        RoadClass::TertiaryLink,
        RoadClass::Unclassified,
        RoadClass::Residential,
        RoadClass::LivingStreet,
        RoadClass::Service,
        RoadClass::Road,
    ];

    /// Every class, in `as_u8` order.
    pub const ALL: [RoadClass; 25] = [
        RoadClass::Motorway,
        RoadClass::MotorwayLink,
        RoadClass::Trunk,
        RoadClass::TrunkLink,
        RoadClass::Primary,
        RoadClass::PrimaryLink,
        RoadClass::Secondary,
        RoadClass::SecondaryLink,
        RoadClass::Tertiary,
        RoadClass::TertiaryLink,
        RoadClass::Unclassified,
        RoadClass::Residential,
        RoadClass::LivingStreet,
        RoadClass::Service,
        RoadClass::Road,
        RoadClass::Footway,
        RoadClass::Pedestrian,
        RoadClass::Path,
        RoadClass::Steps,
        RoadClass::Track,
        RoadClass::Cycleway,
        RoadClass::Bridleway,
        RoadClass::Corridor,
        RoadClass::Platform,
        RoadClass::Pier,
    ];

    /// The class for a `highway=*` value, or `None` when cars do not use that
    /// kind of way (footway, cycleway, track, path, steps, construction,
    /// proposed, ...).
    pub fn from_highway(value: &str) -> Option<RoadClass> {
        let value = value.trim();
        RoadClass::CAR
            .into_iter()
            .find(|class| class.name().eq_ignore_ascii_case(value))
    }

    /// The class for any `highway=*` value a walker may use (car classes included), or `None`
    /// (construction, proposed, raceway, bus_guideway, ...).
    pub fn from_highway_any(value: &str) -> Option<RoadClass> {
        let value = value.trim();
        RoadClass::ALL
            .into_iter()
            .find(|class| class.name().eq_ignore_ascii_case(value))
    }

    /// Compact representation for storage in the graph.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Inverse of [`RoadClass::as_u8`]; `None` for out-of-range bytes.
    pub fn from_u8(v: u8) -> Option<RoadClass> {
        RoadClass::ALL.get(usize::from(v)).copied()
    }

    /// The OSM `highway=*` value of this class, e.g. `"primary_link"`.
    pub fn name(self) -> &'static str {
        match self {
            RoadClass::Motorway => "motorway",
            RoadClass::MotorwayLink => "motorway_link",
            RoadClass::Trunk => "trunk",
            RoadClass::TrunkLink => "trunk_link",
            RoadClass::Primary => "primary",
            RoadClass::PrimaryLink => "primary_link",
            RoadClass::Secondary => "secondary",
            RoadClass::SecondaryLink => "secondary_link",
            RoadClass::Tertiary => "tertiary",
            RoadClass::TertiaryLink => "tertiary_link",
            RoadClass::Unclassified => "unclassified",
            RoadClass::Residential => "residential",
            RoadClass::LivingStreet => "living_street",
            RoadClass::Service => "service",
            RoadClass::Road => "road",
            RoadClass::Footway => "footway",
            RoadClass::Pedestrian => "pedestrian",
            RoadClass::Path => "path",
            RoadClass::Steps => "steps",
            RoadClass::Track => "track",
            RoadClass::Cycleway => "cycleway",
            RoadClass::Bridleway => "bridleway",
            RoadClass::Corridor => "corridor",
            RoadClass::Platform => "platform",
            RoadClass::Pier => "pier",
        }
    }

    /// Average free-flow car speed when the way has no usable speed limit (ways cars never
    /// use get [`UNKNOWN_ROAD_SPEED_KMH`]).
    ///
    /// Links are much slower than their main roads because they are short and
    /// mostly consist of the curve and the merge.
    pub fn default_speed_kmh(self) -> f32 {
        match self {
            RoadClass::Motorway => 90.0,
            RoadClass::MotorwayLink => 45.0,
            RoadClass::Trunk => 85.0,
            RoadClass::TrunkLink => 40.0,
            RoadClass::Primary => 65.0,
            RoadClass::PrimaryLink => 30.0,
            RoadClass::Secondary => 55.0,
            RoadClass::SecondaryLink => 25.0,
            RoadClass::Tertiary => 40.0,
            RoadClass::TertiaryLink => 20.0,
            RoadClass::Unclassified => 25.0,
            RoadClass::Residential => 25.0,
            RoadClass::LivingStreet => 10.0,
            RoadClass::Service => 15.0,
            RoadClass::Road
            | RoadClass::Footway
            | RoadClass::Pedestrian
            | RoadClass::Path
            | RoadClass::Steps
            | RoadClass::Track
            | RoadClass::Cycleway
            | RoadClass::Bridleway
            | RoadClass::Corridor
            | RoadClass::Platform
            | RoadClass::Pier => UNKNOWN_ROAD_SPEED_KMH,
        }
    }

    /// Whether this is a `*_link` ramp/slip road.
    pub fn is_link(self) -> bool {
        matches!(
            self,
            RoadClass::MotorwayLink
                | RoadClass::TrunkLink
                | RoadClass::PrimaryLink
                | RoadClass::SecondaryLink
                | RoadClass::TertiaryLink
        )
    }
}

impl fmt::Display for RoadClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------
// Tag lookup helpers
// ---------------------------------------------------------------------------

/// Direction of travel relative to the way's node order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

impl Direction {
    fn suffix(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

/// Value of `key`, trimmed; `None` when absent or empty.
pub(crate) fn tag<'t>(tags: &[(&'t str, &'t str)], key: &str) -> Option<&'t str> {
    tags.iter()
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Value of `base:suffix` without building the key string (this runs for
/// every way of the planet).
pub(crate) fn tag_with_suffix<'t>(
    tags: &[(&'t str, &'t str)],
    base: &str,
    suffix: &str,
) -> Option<&'t str> {
    tags.iter()
        .find(|(k, _)| {
            let k = k.trim().as_bytes();
            k.len() == base.len() + 1 + suffix.len()
                && k[..base.len()].eq_ignore_ascii_case(base.as_bytes())
                && k[base.len()] == b':'
                && k[base.len() + 1..].eq_ignore_ascii_case(suffix.as_bytes())
        })
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// `key:forward` / `key:backward`, falling back to plain `key`.
pub(crate) fn directional_tag<'t>(
    tags: &[(&'t str, &'t str)],
    key: &str,
    direction: Direction,
) -> Option<&'t str> {
    tag_with_suffix(tags, key, direction.suffix()).or_else(|| tag(tags, key))
}

/// The first of `keys` that is present, each tried directionally first.
fn first_directional_tag<'t>(
    tags: &[(&'t str, &'t str)],
    keys: &[&str],
    direction: Direction,
) -> Option<&'t str> {
    keys.iter()
        .find_map(|key| directional_tag(tags, key, direction))
}

pub(crate) fn is_one_of(value: &str, candidates: &[&str]) -> bool {
    let value = value.trim();
    candidates.iter().any(|c| c.eq_ignore_ascii_case(value))
}

pub(crate) fn is_yes(value: &str) -> bool {
    is_one_of(value, &["yes", "true", "1"])
}

/// Splits a leading decimal number (`.` or `,` as separator) off `s`.
fn leading_number(s: &str) -> Option<(f32, &str)> {
    let s = s.trim_start();
    let mut end = 0;
    let mut seen_separator = false;
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() {
            end = i + 1;
        } else if (c == '.' || c == ',') && !seen_separator {
            seen_separator = true;
        } else {
            break;
        }
    }
    if end == 0 {
        return None;
    }
    let number: f32 = s[..end].replace(',', ".").parse().ok()?;
    number.is_finite().then_some((number, s[end..].trim()))
}

// ---------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------

/// How an access value (`access=*`, `motorcar=*`, ...) treats a private car.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CarAccess {
    /// Cars may not use the way.
    Forbidden,
    /// Usable, but only to reach something on it (`destination`, `customers`).
    /// The way stays routable; the graph may penalise entering it.
    DestinationOnly,
    /// Open to cars.
    Allowed,
}

/// Classifies one access value. Values such as `no;private` are resolved to
/// their most permissive recognised part, so `yes;private` is open. Unknown
/// values are treated as open, as there is no reason to assume a ban.
pub fn classify_access(value: &str) -> CarAccess {
    value
        .split(';')
        .filter_map(classify_single_access)
        .max()
        .unwrap_or(CarAccess::Allowed)
}

fn classify_single_access(value: &str) -> Option<CarAccess> {
    const ALLOWED: &[&str] = &[
        "yes",
        "permissive",
        "designated",
        "motorcar",
        "motor_vehicle",
        "vehicle",
        "hov",
    ];
    // Open to the public only to reach a place on the way.
    const DESTINATION: &[&str] = &["destination", "customers", "unknown"];
    // Closed to an ordinary car: nobody, other vehicle kinds, or people who
    // hold a special right (owners, residents, permits, deliveries).
    const FORBIDDEN: &[&str] = &[
        "no",
        "private",
        "agricultural",
        "forestry",
        "emergency",
        "emergency_vehicle",
        "psv",
        "bus",
        "taxi",
        "share_taxi",
        "minibus",
        "foot",
        "bicycle",
        "restricted",
        "military",
        "official",
        "delivery",
        "permit",
        "residents",
    ];
    if is_one_of(value, ALLOWED) {
        Some(CarAccess::Allowed)
    } else if is_one_of(value, DESTINATION) {
        Some(CarAccess::DestinationOnly)
    } else if is_one_of(value, FORBIDDEN) {
        Some(CarAccess::Forbidden)
    } else {
        None
    }
}

/// Car access of a way in one direction. The most specific key wins
/// (`motorcar` over `motor_vehicle` over `vehicle` over `access`), and at each
/// level `key:forward`/`key:backward` wins over `key`. No tag at all means open.
pub fn car_access(tags: &[(&str, &str)], direction: Direction) -> CarAccess {
    first_directional_tag(tags, &ACCESS_HIERARCHY, direction)
        .map_or(CarAccess::Allowed, classify_access)
}

// ---------------------------------------------------------------------------
// Way profile
// ---------------------------------------------------------------------------

/// What the car profile makes of one OSM way.
#[derive(Clone, Debug, PartialEq)]
pub struct WayProfile {
    pub class: RoadClass,
    /// Drivable in the way's node order.
    pub forward: bool,
    /// Drivable against the way's node order.
    pub backward: bool,
    /// Free-flow speed used for routing in each direction, finite and > 0.
    pub forward_speed_kmh: f32,
    pub backward_speed_kmh: f32,
    /// `junction=roundabout` or `junction=circular`.
    pub roundabout: bool,
    /// `toll=yes` or `toll:motorcar=yes` (what `exclude=toll` avoids).
    pub toll: bool,
    /// `route=ferry` (a ferry line drawn on a car-class highway; `exclude=ferry` avoids it).
    pub ferry: bool,
    /// `name`, falling back to `ref` (e.g. "A28"), else "".
    pub name: String,
    /// `ref` (multiple refs joined as "A1; E40"), or "".
    pub reference: String,
    /// Signposts and lane markings, per direction of travel.
    pub signs: WaySigns,
}

/// What a way's signs say to a driver in each direction: where it leads (`destination`,
/// `destination:ref`, as OSRM writes them: `"A 28: Porto, Matosinhos"`) and its lanes' turn
/// arrows at the way's end (`turn:lanes`, OSM's `|`-separated form, `""` when untagged).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WaySigns {
    pub destinations_forward: String,
    pub destinations_backward: String,
    pub turn_lanes_forward: String,
    pub turn_lanes_backward: String,
}

/// The signs of a way with tags `tags`, drivable `forward` / `backward` (a plain `turn:lanes`
/// counts for the one direction of a oneway; on a two-way road only the `:forward` /
/// `:backward` forms are clear).
pub fn way_signs(tags: &[(&str, &str)], forward: bool, backward: bool) -> WaySigns {
    let destination = |dir: &str| {
        let places = tag(tags, &format!("destination:{dir}"))
            .or_else(|| tag(tags, "destination"))
            .map(|v| {
                v.split(';')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let refs = tag(tags, &format!("destination:ref:{dir}"))
            .or_else(|| tag(tags, "destination:ref"))
            .map(canonical_list)
            .unwrap_or_default();
        match (refs.is_empty(), places.is_empty()) {
            (false, false) => format!("{refs}: {places}"),
            (false, true) => refs,
            _ => places,
        }
    };
    let lanes = |dir: &str, alone: bool| {
        tag(tags, &format!("turn:lanes:{dir}"))
            .or_else(|| tag(tags, "turn:lanes").filter(|_| alone))
            .unwrap_or_default()
            .to_string()
    };
    WaySigns {
        destinations_forward: if forward {
            destination("forward")
        } else {
            String::new()
        },
        destinations_backward: if backward {
            destination("backward")
        } else {
            String::new()
        },
        turn_lanes_forward: if forward {
            lanes("forward", !backward)
        } else {
            String::new()
        },
        turn_lanes_backward: if backward {
            lanes("backward", !forward)
        } else {
            String::new()
        },
    }
}

/// Interpret a way's tags for cars. Returns `None` when a car may not use the
/// way at all.
pub fn car_way_profile(tags: &[(&str, &str)]) -> Option<WayProfile> {
    // Checked first: most ways in a planet file are not roads at all.
    let class = RoadClass::from_highway(tag(tags, "highway")?)?;

    if is_blocked(tags) {
        return None;
    }

    let (mut forward, mut backward) = oneway_directions(tags, class)?;
    forward &= car_access(tags, Direction::Forward) != CarAccess::Forbidden
        && fits_vehicle(tags, Direction::Forward);
    backward &= car_access(tags, Direction::Backward) != CarAccess::Forbidden
        && fits_vehicle(tags, Direction::Backward);
    if !forward && !backward {
        return None;
    }

    let forward_speed_kmh = way_speed_kmh(tags, class, Direction::Forward)?;
    let backward_speed_kmh = way_speed_kmh(tags, class, Direction::Backward)?;

    let reference = tag(tags, "ref").map(canonical_list).unwrap_or_default();
    let name = match tag(tags, "name") {
        Some(name) => name.to_string(),
        None => reference.clone(),
    };
    let roundabout =
        tag(tags, "junction").is_some_and(|j| is_one_of(j, &["roundabout", "circular"]));
    // A car's own toll tag wins over the general one (`toll=yes` + `toll:motorcar=no`).
    let toll = tag(tags, "toll:motorcar")
        .or_else(|| tag(tags, "toll"))
        .is_some_and(is_yes);
    let ferry = tag(tags, "route").is_some_and(|r| r.eq_ignore_ascii_case("ferry"));
    let signs = way_signs(tags, forward, backward);

    Some(WayProfile {
        class,
        forward,
        backward,
        forward_speed_kmh,
        backward_speed_kmh,
        roundabout,
        toll,
        ferry,
        name,
        reference,
        signs,
    })
}

/// Tags that close a car-class way outright, whatever its access tags say.
fn is_blocked(tags: &[(&str, &str)]) -> bool {
    // Squares and plazas drawn as closed highways are not streets to drive
    // along their outline.
    if tag(tags, "area").is_some_and(is_yes) || tag(tags, "impassable").is_some_and(is_yes) {
        return true;
    }
    if tag(tags, "status").is_some_and(|s| s.eq_ignore_ascii_case("impassable")) {
        return true;
    }
    if tag(tags, "service").is_some_and(|s| s.eq_ignore_ascii_case("emergency_access")) {
        return true;
    }
    // `construction=*` on a real highway marks works that close it, except
    // for values that say the road stays open.
    if tag(tags, "construction").is_some_and(|c| !is_one_of(c, &["no", "widening", "minor"])) {
        return true;
    }
    tag(tags, "smoothness").is_some_and(|s| s.eq_ignore_ascii_case("impassable"))
}

/// Which directions the oneway rules allow, or `None` for ways whose direction
/// changes over the day (`oneway=reversible`), which a static graph cannot
/// represent.
fn oneway_directions(tags: &[(&str, &str)], class: RoadClass) -> Option<(bool, bool)> {
    let oneway = CAR_MODES
        .iter()
        .find_map(|mode| tag_with_suffix(tags, "oneway", mode))
        .or_else(|| tag(tags, "oneway"));
    match oneway {
        Some(v) if is_one_of(v, &["yes", "1", "true"]) => return Some((true, false)),
        Some(v) if is_one_of(v, &["-1", "reverse"]) => return Some((false, true)),
        Some(v) if is_one_of(v, &["no", "0", "false", "alternating"]) => return Some((true, true)),
        Some(v) if v.eq_ignore_ascii_case("reversible") => return None,
        _ => {}
    }
    // Oneway is implied on motorways and roundabouts unless tagged otherwise.
    // Motorway links are deliberately not included: current reference
    // profiles do not imply it for them, and mappers tag their direction.
    let implied = class == RoadClass::Motorway
        || tag(tags, "junction").is_some_and(|j| is_one_of(j, &["roundabout", "circular"]));
    Some((true, !implied))
}

/// Whether the car passes the way's physical and legal size limits.
fn fits_vehicle(tags: &[(&str, &str)], direction: Direction) -> bool {
    let limit = |keys: &[&str], parse: fn(&str) -> Option<f32>| {
        first_directional_tag(tags, keys, direction).and_then(parse)
    };
    let too_low = limit(&["maxheight:physical", "maxheight"], parse_length_m)
        .is_some_and(|h| h < VEHICLE_HEIGHT_M);
    let too_narrow = limit(
        &["maxwidth:physical", "maxwidth", "width", "est_width"],
        parse_length_m,
    )
    .is_some_and(|w| w <= VEHICLE_WIDTH_M);
    let too_short = limit(&["maxlength"], parse_length_m).is_some_and(|l| l < VEHICLE_LENGTH_M);
    let too_light = limit(&["maxweightrating", "maxweight"], parse_weight_kg)
        .is_some_and(|w| w < VEHICLE_WEIGHT_KG);
    !(too_low || too_narrow || too_short || too_light)
}

/// Routing speed in one direction: the posted limit scaled by
/// [`SPEED_REDUCTION`] (whether above or below the class default) or else the
/// class default, capped by surface quality, then slowed on minor service
/// ways and alternating single-lane stretches. `None` means impassable.
fn way_speed_kmh(tags: &[(&str, &str)], class: RoadClass, direction: Direction) -> Option<f32> {
    let posted = MAXSPEED_KEYS
        .iter()
        .find_map(|key| directional_tag(tags, key, direction).and_then(parse_maxspeed));
    let mut speed = match posted {
        Some(limit) => limit * SPEED_REDUCTION,
        None => class.default_speed_kmh(),
    };

    for cap in [
        tag(tags, "surface").and_then(surface_speed_cap_kmh),
        tag(tags, "tracktype").and_then(tracktype_speed_cap_kmh),
        tag(tags, "smoothness").and_then(smoothness_speed_cap_kmh),
    ]
    .into_iter()
    .flatten()
    {
        speed = speed.min(cap);
    }

    if tag(tags, "service").is_some_and(is_minor_service) {
        speed *= MINOR_SERVICE_FACTOR;
    }
    if tag(tags, "oneway").is_some_and(|o| o.eq_ignore_ascii_case("alternating")) {
        speed *= ALTERNATING_FACTOR;
    }

    if !speed.is_finite() || speed <= 0.0 {
        return None;
    }
    Some(speed.clamp(MIN_SPEED_KMH, MAX_SPEED_KMH))
}

/// Service ways meant for reaching a parking space or a house, not for
/// getting through.
pub fn is_minor_service(service: &str) -> bool {
    is_one_of(
        service,
        &[
            "parking_aisle",
            "parking",
            "driveway",
            "alley",
            "drive-through",
            "drive-thru",
        ],
    )
}

/// Top speed a car reaches on a `surface=*`; `None` means no cap.
pub fn surface_speed_cap_kmh(surface: &str) -> Option<f32> {
    let cap = match surface.trim().to_ascii_lowercase().as_str() {
        "cement" | "compacted" | "fine_gravel" => 80.0,
        "paving_stones" | "metal" | "bricks" => 60.0,
        "grass" | "wood" | "sett" | "grass_paver" | "gravel" | "unpaved" | "ground" | "dirt"
        | "pebblestone" | "tartan" => 40.0,
        "cobblestone" | "clay" | "snow" => 30.0,
        "earth" | "stone" | "rocky" | "sand" | "ice" => 20.0,
        "laterite" => 15.0,
        "mud" => 10.0,
        _ => return None,
    };
    Some(cap)
}

/// Top speed on a `tracktype=grade1..5`; `None` means no cap.
pub fn tracktype_speed_cap_kmh(tracktype: &str) -> Option<f32> {
    let cap = match tracktype.trim().to_ascii_lowercase().as_str() {
        "grade1" => 60.0,
        "grade2" => 40.0,
        "grade3" => 30.0,
        "grade4" => 25.0,
        "grade5" => 20.0,
        _ => return None,
    };
    Some(cap)
}

/// Top speed on a `smoothness=*`; `None` means no cap. `impassable` is not
/// listed here: [`car_way_profile`] closes such ways.
pub fn smoothness_speed_cap_kmh(smoothness: &str) -> Option<f32> {
    let cap = match smoothness.trim().to_ascii_lowercase().as_str() {
        "intermediate" => 80.0,
        "bad" => 40.0,
        "very_bad" => 20.0,
        "horrible" => 10.0,
        "very_horrible" => 5.0,
        _ => return None,
    };
    Some(cap)
}

/// `A1;E40` and `A1 ; E40` both become `A1; E40`, the form shown to users.
pub(crate) fn canonical_list(value: &str) -> String {
    value
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses a length such as `2.1`, `2,1 m`, `210 cm`, `6'6"` or `7 ft` into
/// metres. Values meaning "no limit" (`none`, `default`, ...) and anything
/// unreadable give `None`, i.e. no restriction.
fn parse_length_m(value: &str) -> Option<f32> {
    let (number, rest) = leading_number(value)?;
    let metres = if let Some(inches) = rest.strip_prefix('\'') {
        let inches = leading_number(inches).map_or(0.0, |(n, _)| n);
        (number * 12.0 + inches) * 0.0254
    } else {
        match rest.to_ascii_lowercase().as_str() {
            "" | "m" => number,
            "cm" => number / 100.0,
            "ft" | "feet" => number * 0.3048,
            _ => return None,
        }
    };
    (metres > 0.0).then_some(metres)
}

/// Parses a weight such as `3.5`, `3.5 t`, `1500 kg` or `4000 lbs` into
/// kilograms; a bare number is in tonnes as OSM documents.
fn parse_weight_kg(value: &str) -> Option<f32> {
    let (number, rest) = leading_number(value)?;
    let kilograms = match rest.to_ascii_lowercase().as_str() {
        "" | "t" | "tonne" | "tonnes" => number * 1000.0,
        "kg" => number,
        "lb" | "lbs" => number * 0.453_592_37,
        "st" => number * 907.184_7,
        _ => return None,
    };
    (kilograms > 0.0).then_some(kilograms)
}

// ---------------------------------------------------------------------------
// maxspeed
// ---------------------------------------------------------------------------

/// Limits implied by a country-coded value (`XX:urban`, ...) where the country
/// differs from the general defaults below. Keys are lower case.
const COUNTRY_MAXSPEEDS: &[(&str, f32)] = &[
    ("at:rural", 100.0),
    ("at:trunk", 100.0),
    ("ar:urban", 40.0),
    ("ar:rural", 110.0),
    ("be:motorway", 120.0),
    ("be-bru:rural", 70.0),
    ("be-bru:urban", 30.0),
    ("be-vlg:rural", 70.0),
    ("bg:motorway", 140.0),
    ("by:urban", 60.0),
    ("by:motorway", 110.0),
    ("ca-on:rural", 80.0),
    ("ch:rural", 80.0),
    ("ch:trunk", 100.0),
    ("ch:motorway", 120.0),
    ("de:living_street", 7.0),
    ("de:rural", 100.0),
    ("dk:rural", 80.0),
    ("es:trunk", 90.0),
    ("fr:rural", 80.0),
    ("gb:nsl_single", 60.0 * KM_PER_MILE),
    ("gb:nsl_dual", 70.0 * KM_PER_MILE),
    ("gb:motorway", 70.0 * KM_PER_MILE),
    ("lv:living_street", 20.0),
    ("nl:rural", 80.0),
    ("nl:trunk", 100.0),
    ("no:rural", 80.0),
    ("no:motorway", 110.0),
    ("ph:urban", 40.0),
    ("ph:rural", 80.0),
    ("ph:motorway", 100.0),
    ("pl:rural", 100.0),
    ("pl:expressway", 120.0),
    ("pl:motorway", 140.0),
    ("ro:trunk", 100.0),
    ("ru:living_street", 20.0),
    ("ru:urban", 60.0),
    ("ru:motorway", 110.0),
    ("uk:nsl_single", 60.0 * KM_PER_MILE),
    ("uk:nsl_dual", 70.0 * KM_PER_MILE),
    ("uk:motorway", 70.0 * KM_PER_MILE),
    ("za:urban", 60.0),
    ("za:rural", 100.0),
];

/// Country-coded values that state there is no general limit. They are not
/// treated like `none`: the class default (an average speed) applies.
const COUNTRY_NO_GENERAL_LIMIT: &[&str] = &["de:motorway"];

/// General limits by zone type for countries not listed above.
fn generic_zone_maxspeed(zone: &str) -> Option<f32> {
    match zone {
        "urban" => Some(50.0),
        "rural" => Some(90.0),
        "trunk" => Some(110.0),
        "motorway" => Some(130.0),
        _ => {
            // `zone30`, `zone:30`: the number is the limit.
            let digits = zone.strip_prefix("zone")?.trim_start_matches(':');
            let (limit, rest) = leading_number(digits)?;
            rest.is_empty().then_some(limit)
        }
    }
}

/// Parse an OSM maxspeed value into km/h.
///
/// Understood: `50`, `50 km/h`, `50kmh`, `30 mph` (converted), `10 knots`,
/// `none` ([`MAXSPEED_NONE_KMH`]), `walk` ([`MAXSPEED_WALK_KMH`]) and
/// country-coded values such as `PT:urban`, `DE:rural`, `FR:motorway`,
/// `RU:living_street`, `GB:nsl_single` or `DE:zone30`. For `a;b` only `a` is
/// read. `DE:motorway` (no general limit) gives `None`, so the motorway
/// default applies, as in the reference profile.
///
/// Returns `None` when the value is unusable (`signals`, `variable`, garbage,
/// zero, or above [`MAX_PLAUSIBLE_MAXSPEED_KMH`]); then the class default applies.
pub fn parse_maxspeed(value: &str) -> Option<f32> {
    let first = value.split(';').next()?.trim();
    let kmh = if let Some((number, unit)) = leading_number(first) {
        let unit = unit.to_ascii_lowercase();
        let unit = unit.as_str();
        match unit {
            "" | "km/h" | "kmh" | "kph" | "kmph" | "km/hr" => number,
            "mph" | "mp/h" => number * KM_PER_MILE,
            "knots" | "knot" | "kn" => number * KM_PER_NAUTICAL_MILE,
            _ => return None,
        }
    } else {
        let lower = first.to_ascii_lowercase();
        match lower.as_str() {
            "none" => MAXSPEED_NONE_KMH,
            "walk" => MAXSPEED_WALK_KMH,
            _ => country_maxspeed(&lower)?,
        }
    };
    (kmh.is_finite() && kmh > 0.0 && kmh <= MAX_PLAUSIBLE_MAXSPEED_KMH).then_some(kmh)
}

/// `xx:zone` or `xx-yy:zone` (lower case) to km/h.
fn country_maxspeed(lower: &str) -> Option<f32> {
    if COUNTRY_NO_GENERAL_LIMIT.contains(&lower) {
        return None;
    }
    if let Some(&(_, kmh)) = COUNTRY_MAXSPEEDS.iter().find(|(key, _)| *key == lower) {
        return Some(kmh);
    }
    let (country, zone) = lower.split_once(':')?;
    let code = country.split('-').next()?;
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    generic_zone_maxspeed(zone.trim())
}

// ---------------------------------------------------------------------------
// Turn restrictions
// ---------------------------------------------------------------------------

/// A turn restriction relation's meaning for cars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestrictionKind {
    /// The described turn is forbidden (`no_*`).
    No,
    /// The described turn is the only one allowed (`only_*`).
    Only,
}

/// From a `type=restriction` relation's tags, whether and how it restricts cars.
///
/// The most specific key wins: `restriction:motorcar`, then
/// `restriction:motor_vehicle`, `restriction:vehicle`, then `restriction`.
/// Relations exempting cars (`except=motorcar`, `motor_vehicle` or `vehicle`),
/// relations only for other modes (`restriction:hgv`, `type=restriction:bus`)
/// and time-dependent ones (`restriction:conditional`, not supported yet) give
/// `None`, as do unknown values such as `no_right_turn_on_red`.
pub fn car_restriction(tags: &[(&str, &str)]) -> Option<RestrictionKind> {
    let relation_type = tag(tags, "type")?;
    if !relation_type.eq_ignore_ascii_case("restriction") {
        // Older tagging puts the mode into the type: `type=restriction:hgv`.
        let (prefix, mode) = relation_type.split_once(':')?;
        if !prefix.trim().eq_ignore_ascii_case("restriction") || !is_one_of(mode, &CAR_MODES) {
            return None;
        }
    }

    let exempts_cars = tag(tags, "except")
        .is_some_and(|except| except.split(';').any(|mode| is_one_of(mode, &CAR_MODES)));
    if exempts_cars {
        return None;
    }

    let value = CAR_MODES
        .iter()
        .find_map(|mode| tag_with_suffix(tags, "restriction", mode))
        .or_else(|| tag(tags, "restriction"))?;
    restriction_kind(value)
}

fn restriction_kind(value: &str) -> Option<RestrictionKind> {
    const NO: &[&str] = &[
        "no_left_turn",
        "no_right_turn",
        "no_straight_on",
        "no_u_turn",
        "no_entry",
        "no_exit",
    ];
    const ONLY: &[&str] = &[
        "only_left_turn",
        "only_right_turn",
        "only_straight_on",
        "only_u_turn",
    ];
    if is_one_of(value, NO) {
        Some(RestrictionKind::No)
    } else if is_one_of(value, ONLY) {
        Some(RestrictionKind::Only)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(tags: &[(&str, &str)]) -> WayProfile {
        car_way_profile(tags).unwrap_or_else(|| panic!("expected a car way for {tags:?}"))
    }

    fn close(actual: f32, expected: f32) -> bool {
        (actual - expected).abs() < 0.01
    }

    #[track_caller]
    fn assert_close(actual: f32, expected: f32) {
        assert!(close(actual, expected), "{actual} != {expected}");
    }

    #[test]
    fn every_class_has_its_default_speed() {
        let expected = [
            ("motorway", 90.0),
            ("motorway_link", 45.0),
            ("trunk", 85.0),
            ("trunk_link", 40.0),
            ("primary", 65.0),
            ("primary_link", 30.0),
            ("secondary", 55.0),
            ("secondary_link", 25.0),
            ("tertiary", 40.0),
            ("tertiary_link", 20.0),
            ("unclassified", 25.0),
            ("residential", 25.0),
            ("living_street", 10.0),
            ("service", 15.0),
            ("road", 10.0),
        ];
        assert_eq!(expected.len(), RoadClass::CAR.len());
        assert_eq!(RoadClass::ALL[..RoadClass::CAR.len()], RoadClass::CAR);
        for (highway, speed) in expected {
            let class = RoadClass::from_highway(highway).unwrap();
            assert_eq!(class.name(), highway);
            assert_close(class.default_speed_kmh(), speed);
            let way = profile(&[("highway", highway)]);
            assert_eq!(way.class, class);
            assert_close(way.forward_speed_kmh, speed);
            assert_close(way.backward_speed_kmh, speed);
        }
    }

    #[test]
    fn class_round_trips_and_order() {
        for (i, class) in RoadClass::ALL.into_iter().enumerate() {
            assert_eq!(class.as_u8() as usize, i);
            assert_eq!(RoadClass::from_u8(class.as_u8()), Some(class));
        }
        assert_eq!(RoadClass::from_u8(RoadClass::ALL.len() as u8), None);
        // Stored values of the car classes never move.
        assert_eq!(RoadClass::Road.as_u8(), 14);
        assert_eq!(RoadClass::Footway.as_u8(), 15);
        assert_eq!(RoadClass::from_highway_any("Steps"), Some(RoadClass::Steps));
        assert_eq!(RoadClass::from_highway("steps"), None);
        assert!(RoadClass::Motorway < RoadClass::Primary);
        assert!(RoadClass::Service < RoadClass::Road);
        assert!(RoadClass::TrunkLink.is_link());
        assert!(!RoadClass::Trunk.is_link());
        assert_eq!(
            RoadClass::from_highway(" Primary_Link "),
            Some(RoadClass::PrimaryLink)
        );
        assert_eq!(RoadClass::PrimaryLink.to_string(), "primary_link");
    }

    #[test]
    fn non_car_highways_are_rejected() {
        for highway in [
            "footway",
            "cycleway",
            "track",
            "path",
            "steps",
            "pedestrian",
            "bridleway",
            "construction",
            "proposed",
            "bus_guideway",
            "platform",
            "",
        ] {
            assert_eq!(RoadClass::from_highway(highway), None, "{highway}");
            assert_eq!(car_way_profile(&[("highway", highway)]), None, "{highway}");
        }
        assert_eq!(car_way_profile(&[("building", "yes")]), None);
        assert_eq!(car_way_profile(&[]), None);
    }

    #[test]
    fn blocking_tags() {
        for extra in [
            ("area", "yes"),
            ("impassable", "yes"),
            ("status", "impassable"),
            ("service", "emergency_access"),
            ("construction", "yes"),
            ("smoothness", "impassable"),
            ("oneway", "reversible"),
        ] {
            assert_eq!(
                car_way_profile(&[("highway", "service"), extra]),
                None,
                "{extra:?}"
            );
        }
        // Works that keep the road open do not close it.
        assert!(car_way_profile(&[("highway", "primary"), ("construction", "minor")]).is_some());
        // A proposed upgrade of an existing road is irrelevant.
        assert!(car_way_profile(&[("highway", "tertiary"), ("proposed", "secondary")]).is_some());
        assert!(car_way_profile(&[("highway", "primary"), ("area", "no")]).is_some());
    }

    #[test]
    fn access_precedence() {
        let allowed = |tags: &[(&str, &str)]| car_way_profile(tags).is_some();
        assert!(allowed(&[
            ("highway", "residential"),
            ("access", "no"),
            ("motorcar", "yes")
        ]));
        assert!(allowed(&[
            ("highway", "residential"),
            ("access", "no"),
            ("motor_vehicle", "yes")
        ]));
        assert!(allowed(&[
            ("highway", "residential"),
            ("vehicle", "no"),
            ("motor_vehicle", "destination")
        ]));
        assert!(!allowed(&[
            ("highway", "residential"),
            ("access", "yes"),
            ("motorcar", "no")
        ]));
        assert!(!allowed(&[
            ("highway", "residential"),
            ("access", "yes"),
            ("motor_vehicle", "no")
        ]));
        assert!(!allowed(&[("highway", "residential"), ("vehicle", "no")]));
        assert!(!allowed(&[("highway", "service"), ("access", "private")]));
        assert!(!allowed(&[("highway", "service"), ("access", " Private ")]));
        assert!(allowed(&[
            ("highway", "residential"),
            ("access", "destination")
        ]));
        for open in [
            "yes",
            "permissive",
            "designated",
            "customers",
            "discouraged",
        ] {
            assert!(
                allowed(&[("highway", "service"), ("access", open)]),
                "{open}"
            );
        }
        for closed in [
            "no",
            "agricultural",
            "forestry",
            "emergency",
            "psv",
            "delivery",
            "military",
        ] {
            assert!(
                !allowed(&[("highway", "unclassified"), ("motor_vehicle", closed)]),
                "{closed}"
            );
        }
        // Multi-values resolve to the most permissive recognised part.
        assert!(allowed(&[
            ("highway", "service"),
            ("access", "yes;private")
        ]));
        assert!(!allowed(&[
            ("highway", "service"),
            ("access", "agricultural;forestry")
        ]));
        assert_eq!(classify_access("destination"), CarAccess::DestinationOnly);
        assert_eq!(
            car_access(&[("access", "no"), ("motorcar", "yes")], Direction::Forward),
            CarAccess::Allowed
        );
    }

    #[test]
    fn directional_access_makes_a_oneway() {
        let way = profile(&[("highway", "residential"), ("motor_vehicle:backward", "no")]);
        assert!(way.forward);
        assert!(!way.backward);
        let way = profile(&[
            ("highway", "residential"),
            ("vehicle:forward", "no"),
            ("motorcar", "yes"),
        ]);
        // A more specific key beats a directional but less specific one.
        assert!(way.forward && way.backward);
        assert_eq!(
            car_way_profile(&[
                ("highway", "residential"),
                ("access:forward", "no"),
                ("access:backward", "no")
            ]),
            None
        );
    }

    #[test]
    fn oneway_variants() {
        let dirs = |tags: &[(&str, &str)]| {
            let way = profile(tags);
            (way.forward, way.backward)
        };
        assert_eq!(dirs(&[("highway", "primary")]), (true, true));
        for yes in ["yes", "1", "true", " Yes "] {
            assert_eq!(
                dirs(&[("highway", "primary"), ("oneway", yes)]),
                (true, false),
                "{yes}"
            );
        }
        for reverse in ["-1", "reverse"] {
            assert_eq!(
                dirs(&[("highway", "primary"), ("oneway", reverse)]),
                (false, true)
            );
        }
        for no in ["no", "0", "false"] {
            assert_eq!(
                dirs(&[("highway", "primary"), ("oneway", no)]),
                (true, true)
            );
        }
        // Implied on motorways and roundabouts.
        assert_eq!(dirs(&[("highway", "motorway")]), (true, false));
        assert_eq!(
            dirs(&[("highway", "tertiary"), ("junction", "roundabout")]),
            (true, false)
        );
        assert_eq!(
            dirs(&[("highway", "tertiary"), ("junction", "circular")]),
            (true, false)
        );
        // ... unless explicitly denied.
        assert_eq!(
            dirs(&[("highway", "motorway"), ("oneway", "no")]),
            (true, true)
        );
        assert_eq!(
            dirs(&[
                ("highway", "tertiary"),
                ("junction", "roundabout"),
                ("oneway", "no")
            ]),
            (true, true)
        );
        assert_eq!(
            dirs(&[("highway", "motorway"), ("oneway", "-1")]),
            (false, true)
        );
        // Unreadable values fall back to the implied rule.
        assert_eq!(
            dirs(&[("highway", "motorway"), ("oneway", "perhaps")]),
            (true, false)
        );
        assert_eq!(
            dirs(&[("highway", "primary"), ("oneway", "perhaps")]),
            (true, true)
        );
        // Mode-specific oneway overrides the general one.
        assert_eq!(
            dirs(&[
                ("highway", "primary"),
                ("oneway", "yes"),
                ("oneway:motorcar", "no")
            ]),
            (true, true)
        );
        assert_eq!(
            dirs(&[("highway", "primary"), ("oneway:motor_vehicle", "-1")]),
            (false, true)
        );
        // Bicycle exceptions do not concern cars.
        assert_eq!(
            dirs(&[
                ("highway", "residential"),
                ("oneway", "yes"),
                ("oneway:bicycle", "no")
            ]),
            (true, false)
        );
        assert_eq!(
            car_way_profile(&[("highway", "primary"), ("oneway:motorcar", "reversible")]),
            None
        );
    }

    #[test]
    fn toll_and_ferry_flags() {
        assert!(profile(&[("highway", "motorway"), ("toll", "yes")]).toll);
        assert!(profile(&[("highway", "primary"), ("toll:motorcar", "yes")]).toll);
        assert!(
            !profile(&[
                ("highway", "primary"),
                ("toll", "yes"),
                ("toll:motorcar", "no")
            ])
            .toll
        );
        assert!(!profile(&[("highway", "primary"), ("toll", "no")]).toll);
        assert!(!profile(&[("highway", "primary")]).toll);
        assert!(profile(&[("highway", "unclassified"), ("route", "ferry")]).ferry);
        assert!(!profile(&[("highway", "unclassified")]).ferry);
        // A ferry line without a car highway class is not a road for the car import.
        assert_eq!(
            car_way_profile(&[("route", "ferry"), ("motor_vehicle", "yes")]),
            None
        );
    }

    #[test]
    fn alternating_is_slow_but_usable() {
        let way = profile(&[("highway", "secondary"), ("oneway", "alternating")]);
        assert!(way.forward && way.backward);
        assert_close(way.forward_speed_kmh, 55.0 * ALTERNATING_FACTOR);
    }

    #[test]
    fn roundabout_flag() {
        assert!(profile(&[("highway", "primary"), ("junction", "roundabout")]).roundabout);
        assert!(profile(&[("highway", "primary"), ("junction", "Circular")]).roundabout);
        assert!(!profile(&[("highway", "primary"), ("junction", "yes")]).roundabout);
    }

    #[test]
    fn maxspeed_numbers_and_units() {
        assert_eq!(parse_maxspeed("50"), Some(50.0));
        assert_eq!(parse_maxspeed(" 50 km/h"), Some(50.0));
        assert_eq!(parse_maxspeed("50kmh"), Some(50.0));
        assert_eq!(parse_maxspeed("50;30"), Some(50.0));
        assert_close(parse_maxspeed("7.5").unwrap(), 7.5);
        assert_close(parse_maxspeed("30 mph").unwrap(), 48.28);
        assert_close(parse_maxspeed("30mph").unwrap(), 48.28);
        assert_close(parse_maxspeed("10 knots").unwrap(), 18.52);
        assert_eq!(parse_maxspeed("none"), Some(MAXSPEED_NONE_KMH));
        assert_eq!(parse_maxspeed("None"), Some(140.0));
        assert_eq!(parse_maxspeed("walk"), Some(MAXSPEED_WALK_KMH));
    }

    #[test]
    fn maxspeed_country_codes() {
        assert_eq!(parse_maxspeed("PT:urban"), Some(50.0));
        assert_eq!(parse_maxspeed("pt:rural"), Some(90.0));
        assert_eq!(parse_maxspeed("PT:motorway"), Some(130.0));
        assert_eq!(parse_maxspeed("DE:rural"), Some(100.0));
        assert_eq!(parse_maxspeed("DE:urban"), Some(50.0));
        assert_eq!(parse_maxspeed("DE:living_street"), Some(7.0));
        assert_eq!(parse_maxspeed("FR:motorway"), Some(130.0));
        assert_eq!(parse_maxspeed("FR:rural"), Some(80.0));
        assert_eq!(parse_maxspeed("CH:trunk"), Some(100.0));
        assert_eq!(parse_maxspeed("RU:living_street"), Some(20.0));
        assert_eq!(parse_maxspeed("RU:urban"), Some(60.0));
        assert_eq!(parse_maxspeed("BE-BRU:urban"), Some(30.0));
        assert_eq!(parse_maxspeed("CA-QC:urban"), Some(50.0));
        assert_close(parse_maxspeed("GB:nsl_single").unwrap(), 96.56);
        assert_close(parse_maxspeed("UK:nsl_dual").unwrap(), 112.65);
        assert_eq!(parse_maxspeed("DE:zone30"), Some(30.0));
        assert_eq!(parse_maxspeed("DE:zone:20"), Some(20.0));
        // No general limit on German motorways: the class default applies.
        assert_eq!(parse_maxspeed("DE:motorway"), None);
        assert_eq!(parse_maxspeed("FR:living_street"), None);
    }

    #[test]
    fn maxspeed_garbage() {
        for bad in [
            "",
            "signals",
            "variable",
            "fast",
            "50 furlongs",
            "0",
            "-30",
            "999",
            "nan",
            "urban",
            "DEU:urban",
            "1:urban",
            "DE:",
        ] {
            assert_eq!(parse_maxspeed(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tagged_maxspeed_is_scaled_and_replaces_the_default() {
        let way = profile(&[("highway", "trunk"), ("maxspeed", "60")]);
        assert_close(way.forward_speed_kmh, 48.0);
        // Higher than the class default is respected too.
        let way = profile(&[("highway", "residential"), ("maxspeed", "90")]);
        assert_close(way.forward_speed_kmh, 72.0);
        let way = profile(&[("highway", "living_street"), ("maxspeed", "FR:urban")]);
        assert_close(way.forward_speed_kmh, 40.0);
        let way = profile(&[("highway", "motorway"), ("maxspeed", "none")]);
        assert_close(way.forward_speed_kmh, 112.0);
        // Unusable values fall back to the class default.
        let way = profile(&[("highway", "primary"), ("maxspeed", "signals")]);
        assert_close(way.forward_speed_kmh, 65.0);
        // Unusable maxspeed falls through to the zone in source:maxspeed.
        let way = profile(&[
            ("highway", "primary"),
            ("maxspeed", "signals"),
            ("source:maxspeed", "DE:urban"),
        ]);
        assert_close(way.forward_speed_kmh, 40.0);
        let way = profile(&[
            ("highway", "primary"),
            ("maxspeed:advisory", "30"),
            ("maxspeed", "50"),
        ]);
        assert_close(way.forward_speed_kmh, 24.0);
    }

    #[test]
    fn directional_maxspeed() {
        let way = profile(&[
            ("highway", "primary"),
            ("maxspeed:forward", "50"),
            ("maxspeed:backward", "30"),
        ]);
        assert_close(way.forward_speed_kmh, 40.0);
        assert_close(way.backward_speed_kmh, 24.0);

        let way = profile(&[
            ("highway", "primary"),
            ("maxspeed", "70"),
            ("maxspeed:backward", "50"),
        ]);
        assert_close(way.forward_speed_kmh, 56.0);
        assert_close(way.backward_speed_kmh, 40.0);

        let way = profile(&[("highway", "primary"), ("maxspeed:forward", "30")]);
        assert_close(way.forward_speed_kmh, 24.0);
        assert_close(way.backward_speed_kmh, 65.0);
    }

    #[test]
    fn service_surface_and_clamps() {
        let way = profile(&[("highway", "service"), ("service", "parking_aisle")]);
        assert_close(way.forward_speed_kmh, 7.5);
        let way = profile(&[("highway", "service"), ("service", "Driveway")]);
        assert_close(way.forward_speed_kmh, 7.5);
        let way = profile(&[("highway", "service"), ("service", "drive-through")]);
        assert_close(way.forward_speed_kmh, 7.5);
        let way = profile(&[("highway", "service"), ("service", "alley")]);
        assert_close(way.forward_speed_kmh, 7.5);
        let way = profile(&[("highway", "primary"), ("surface", "gravel")]);
        assert_close(way.forward_speed_kmh, 40.0);
        let way = profile(&[("highway", "primary"), ("surface", "asphalt")]);
        assert_close(way.forward_speed_kmh, 65.0);
        let way = profile(&[
            ("highway", "unclassified"),
            ("tracktype", "grade4"),
            ("smoothness", "horrible"),
        ]);
        assert_close(way.forward_speed_kmh, 10.0);
        // Tiny limits stay positive.
        let way = profile(&[
            ("highway", "service"),
            ("maxspeed", "1"),
            ("service", "alley"),
        ]);
        assert_close(way.forward_speed_kmh, MIN_SPEED_KMH);
        // Implausible limits are ignored rather than trusted.
        let way = profile(&[("highway", "residential"), ("maxspeed", "500")]);
        assert_close(way.forward_speed_kmh, 25.0);
        let way = profile(&[("highway", "motorway"), ("maxspeed", "200")]);
        assert!(way.forward_speed_kmh <= MAX_SPEED_KMH && way.forward_speed_kmh.is_finite());
    }

    #[test]
    fn vehicle_size_limits() {
        let open =
            |extra: (&str, &str)| car_way_profile(&[("highway", "residential"), extra]).is_some();
        assert!(!open(("maxheight", "1.9")));
        assert!(!open(("maxheight", "6'")));
        assert!(open(("maxheight", "6'8\"")));
        assert!(open(("maxheight", "2.1 m")));
        assert!(open(("maxheight", "default")));
        assert!(!open(("maxwidth", "1,8")));
        assert!(open(("width", "5")));
        assert!(!open(("maxweight", "1.5")));
        assert!(open(("maxweight", "3.5 t")));
        assert!(!open(("maxweight", "1500 kg")));
        assert!(!open(("maxlength", "4")));
        let way = profile(&[("highway", "residential"), ("maxheight:forward", "1.8")]);
        assert!(!way.forward && way.backward);
    }

    #[test]
    fn names_and_refs() {
        let way = profile(&[
            ("highway", "motorway"),
            ("ref", "A28"),
            ("name", "Autoestrada do Norte"),
        ]);
        assert_eq!(way.name, "Autoestrada do Norte");
        assert_eq!(way.reference, "A28");
        let way = profile(&[("highway", "motorway"), ("ref", "A1;E40")]);
        assert_eq!(way.name, "A1; E40");
        assert_eq!(way.reference, "A1; E40");
        let way = profile(&[("highway", "residential")]);
        assert_eq!(way.name, "");
        assert_eq!(way.reference, "");
    }

    #[test]
    fn signposts_and_lane_arrows_per_direction() {
        let link = profile(&[
            ("highway", "motorway_link"),
            ("oneway", "yes"),
            ("destination", "Porto;Matosinhos"),
            ("destination:ref", "A28"),
            ("turn:lanes", "left|through;right"),
        ]);
        assert_eq!(link.signs.destinations_forward, "A28: Porto, Matosinhos");
        assert_eq!(link.signs.turn_lanes_forward, "left|through;right");
        assert_eq!(
            link.signs.destinations_backward, "",
            "a oneway has no backward signs"
        );
        // On a two-way road a plain turn:lanes says nothing clear; the suffixed forms do.
        let street = profile(&[
            ("highway", "primary"),
            ("turn:lanes", "left|through"),
            ("turn:lanes:backward", "through|right"),
            ("destination:forward", "Centro"),
        ]);
        assert_eq!(street.signs.turn_lanes_forward, "");
        assert_eq!(street.signs.turn_lanes_backward, "through|right");
        assert_eq!(street.signs.destinations_forward, "Centro");
        assert_eq!(street.signs.destinations_backward, "");
        let only_ref = profile(&[("highway", "trunk"), ("destination:ref", "IC1;A1")]);
        assert_eq!(only_ref.signs.destinations_forward, "IC1; A1");
    }

    #[test]
    fn tolerant_keys_and_values() {
        let way = profile(&[
            (" highway ", " Primary "),
            ("Oneway", "YES"),
            ("maxspeed", " 50 "),
        ]);
        assert_eq!(way.class, RoadClass::Primary);
        assert!(way.forward && !way.backward);
        assert_close(way.forward_speed_kmh, 40.0);
        // Empty values count as absent.
        assert!(profile(&[("highway", "primary"), ("oneway", "")]).backward);
    }

    fn restriction(tags: &[(&str, &str)]) -> Option<RestrictionKind> {
        car_restriction(tags)
    }

    #[test]
    fn restriction_values() {
        for value in [
            "no_left_turn",
            "no_right_turn",
            "no_straight_on",
            "no_u_turn",
            "no_entry",
            "no_exit",
        ] {
            assert_eq!(
                restriction(&[("type", "restriction"), ("restriction", value)]),
                Some(RestrictionKind::No),
                "{value}"
            );
        }
        for value in [
            "only_left_turn",
            "only_right_turn",
            "only_straight_on",
            "only_u_turn",
        ] {
            assert_eq!(
                restriction(&[("type", "restriction"), ("restriction", value)]),
                Some(RestrictionKind::Only),
                "{value}"
            );
        }
        assert_eq!(
            restriction(&[("type", " Restriction"), ("restriction", " No_Left_Turn ")]),
            Some(RestrictionKind::No)
        );
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                ("restriction", "no_right_turn_on_red")
            ]),
            None
        );
        assert_eq!(
            restriction(&[("type", "restriction"), ("restriction", "give_way")]),
            None
        );
        assert_eq!(restriction(&[("type", "restriction")]), None);
        assert_eq!(
            restriction(&[("type", "route"), ("restriction", "no_left_turn")]),
            None
        );
        assert_eq!(restriction(&[("restriction", "no_left_turn")]), None);
    }

    #[test]
    fn restriction_modes_and_exceptions() {
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                ("restriction", "no_left_turn"),
                ("except", "psv;bicycle")
            ]),
            Some(RestrictionKind::No)
        );
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                ("restriction", "no_left_turn"),
                ("except", "bicycle; motorcar")
            ]),
            None
        );
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                ("restriction", "no_left_turn"),
                ("except", "motor_vehicle")
            ]),
            None
        );
        // The car-specific key takes precedence over the general one.
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                ("restriction", "no_left_turn"),
                ("restriction:motorcar", "only_straight_on")
            ]),
            Some(RestrictionKind::Only)
        );
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                ("restriction:motor_vehicle", "no_u_turn")
            ]),
            Some(RestrictionKind::No)
        );
        // Other modes only.
        assert_eq!(
            restriction(&[("type", "restriction"), ("restriction:hgv", "no_left_turn")]),
            None
        );
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                ("restriction:bus", "only_right_turn")
            ]),
            None
        );
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                ("restriction:hgv", "only_straight_on"),
                ("restriction", "no_left_turn")
            ]),
            Some(RestrictionKind::No)
        );
        assert_eq!(
            restriction(&[("type", "restriction:hgv"), ("restriction", "no_left_turn")]),
            None
        );
        assert_eq!(
            restriction(&[
                ("type", "restriction:motorcar"),
                ("restriction", "no_left_turn")
            ]),
            Some(RestrictionKind::No)
        );
        // Conditional restrictions are not supported yet.
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                (
                    "restriction:conditional",
                    "no_left_turn @ (Mo-Fr 07:00-09:00)"
                )
            ]),
            None
        );
        assert_eq!(
            restriction(&[
                ("type", "restriction"),
                (
                    "restriction:motorcar:conditional",
                    "no_left_turn @ (22:00-06:00)"
                )
            ]),
            None
        );
    }
}
