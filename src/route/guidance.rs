//! Turn-by-turn guidance: turns the pieces of road a leg traverses ([`PathSegment`]s) into
//! OSRM v1 route steps ([`Step`]) and a short leg summary.
//!
//! The rules:
//!
//! * The first step is a `depart`, the last an `arrive` of zero length at the final point.
//! * Segments are merged into one step while the road stays the same road: names are compared
//!   after normalisation (case, accents, abbreviations, particles) and refs as sets, see
//!   [`super::names`]. Going straight onto a road without name or ref is not announced either.
//! * Where the road changes, the junction decides the maneuver, from the roads that meet there
//!   ([`PathSegment::others`]) and the road classes:
//!   - onto a `*_link` from a road that is not one: `off ramp` from a motorway or trunk, `on
//!     ramp` onto a motorway or trunk link from another road; from a link onto a motorway or
//!     trunk, going about straight, unless it is the road the step was already on: `merge`;
//!   - two or more roads leaving within [`FORK_MAX_DEG`] of straight ahead, none of them
//!     obviously the road driven so far, ours not clearly the straightest, not counting service
//!     ways beside a street nor ramps beside the road one stays on: `fork`;
//!   - a left or right turn where nothing goes on ahead and the road taken goes on through the
//!     junction the other way (a T), the road driven so far going on by neither: `end of road`;
//!   - otherwise `turn` with a modifier, or `new name` when going straight or where there is
//!     no other road.
//! * A stretch of another name shorter than [`OSCILLATION_MAX_M`] between two pieces of one
//!   road (two `new name`s in a row, back to the first road) is folded away.
//! * On the same road, a bend of 45° or more at a node that offers other ways is a `continue`
//!   with a modifier where another road goes on ahead, else a `turn` (always a `turn` on an
//!   unnamed way). A node without other ways never starts a step on its own, except a merge.
//! * Consecutive roundabout segments become one `roundabout` step (with `exit`, the count of exits
//!   up to and including the one taken), and the step after it starts with `exit roundabout`
//!   (carrying the same `exit`, as OSRM does). A roundabout of radius 20 m or more (estimated
//!   from the arc driven) with a name of its own, not the name of a road through it, is a
//!   `rotary` (`rotary_name`) left by an `exit rotary`. A small roundabout (radius up to 14 m)
//!   left by one of its first three exits is a `roundabout turn`: one step with the exit and
//!   the overall direction, covering the road after it too, as OSRM does. OSRM only emits the exit instruction when asked
//!   for `roundabout_exits`; Meridian always does, so that each step covers one kind of road.
//!   As in OSRM, the roundabout step carries the name of the road taken at the exit, which is
//!   what clients announce ("take the 2nd exit onto …").
//! * Every intersection lists all the roads that leave the junction (`bearings`, with `entry`
//!   false for a turn a restriction forbids) plus the way the route came in by (`entry` false),
//!   and `classes` `["motorway"]` where the way out is a motorway or motorway link.
//!   Roads that only arrive there (one-way towards the junction) are not in the tiles' edge
//!   lists and are missing.
//!
//! Bearings and turn angles are measured on the geometry around each segment boundary, skipping
//! points closer than two metres to it so that tiny snapping pieces do not produce
//! random directions.

use graph::profile::RoadClass;
use serde::{Serialize, Serializer};
use spatial::LatLon;

use super::names::{self, NameChange};

/// Points closer than this to a boundary are ignored when measuring a bearing there.
const MIN_BEARING_SPAN_M: f64 = 2.0;

/// A first or last segment shorter than this is folded into its neighbour: a route that starts
/// half a metre before a junction should depart on the street it actually drives along.
const FOLD_END_PIECE_M: f64 = 1.0;

/// Turn angles below this (in absolute degrees) count as going straight.
const STRAIGHT_MAX_DEG: f64 = 20.0;
/// Below this a turn is "slight".
const SLIGHT_MAX_DEG: f64 = 45.0;
/// Below this a turn is a plain left/right.
const TURN_MAX_DEG: f64 = 135.0;
/// Below this a turn is "sharp"; from here on it is a U-turn.
const SHARP_MAX_DEG: f64 = 170.0;
/// Roads leaving within this of straight ahead are the branches of a fork.
const FORK_MAX_DEG: f64 = 40.0;
/// A branch this much straighter than every other is the obvious way on, not a fork.
const OBVIOUS_MARGIN_DEG: f64 = 20.0;
/// A named roundabout of at least this radius is a rotary.
const ROTARY_MIN_RADIUS_M: f64 = 20.0;
/// A roundabout of at most this radius, left by one of its first [`ROUNDABOUT_TURN_MAX_EXIT`]
/// exits, is taken like an intersection: a `roundabout turn`.
const ROUNDABOUT_TURN_MAX_RADIUS_M: f64 = 14.0;
const ROUNDABOUT_TURN_MAX_EXIT: u32 = 3;
/// A stretch of another name shorter than this between two pieces of one road is not announced.
const OSCILLATION_MAX_M: f64 = 200.0;

/// Another road leaving the junction at a segment's end: neither the one the route takes next
/// nor the way back.
#[derive(Clone, Debug)]
pub struct Road<'a> {
    /// Degrees clockwise from north, leaving the junction.
    pub bearing: u16,
    pub name: &'a str,
    pub reference: &'a str,
    pub class: Option<RoadClass>,
    /// False when a turn restriction forbids taking it from the road the route arrives by.
    pub entry: bool,
}

/// One traversed piece of road along a route leg, in travel order. The first and last may be
/// partial edges.
#[derive(Clone, Debug)]
pub struct PathSegment<'a> {
    /// Street name, `""` when unnamed (borrowed from the tile: no copy per edge).
    pub name: &'a str,
    /// Road ref like `"A28"`, `""` when none.
    pub reference: &'a str,
    /// Points in travel order, at least 2; consecutive segments share their boundary point.
    pub geometry: Vec<LatLon>,
    pub distance_m: f64,
    pub duration_s: f64,
    pub roundabout: bool,
    /// `highway=*` class of the road, when known.
    pub class: Option<RoadClass>,
    /// The other drivable ways leaving the node at this segment's end (excluding the one taken
    /// next and the way back); empty means there is no choice there (and at the leg's end).
    pub others: Vec<Road<'a>>,
    pub signs: Signs<'a>,
}

/// A road's signs in the direction driven (borrowed from the tile).
#[derive(Clone, Copy, Debug, Default)]
pub struct Signs<'a> {
    /// Signposted destinations, OSRM's form (`"A 28: Porto, Matosinhos"`), `""` when none.
    pub destinations: &'a str,
    /// `turn:lanes` arrows at the segment's end, OSM's `|`-separated form, `""` when none.
    pub turn_lanes: &'a str,
}

/// One lane of an intersection's approach, as OSRM writes it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Lane {
    /// OSRM's indications: `left`, `slight right`, `straight`, `uturn`, `none`, ...
    pub indications: Vec<&'static str>,
    /// Whether the route may take this lane for the turn it makes here.
    pub valid: bool,
}

/// OSRM's indication for one `turn:lanes` value (unknown values are `none`).
fn indication(value: &str) -> &'static str {
    match value.trim() {
        "left" => "left",
        "slight_left" => "slight left",
        "sharp_left" => "sharp left",
        "through" => "straight",
        "right" => "right",
        "slight_right" => "slight right",
        "sharp_right" => "sharp right",
        "reverse" => "uturn",
        _ => "none",
    }
}

/// Which side of the road an indication or modifier points to: -1 left, 0 on, 1 right.
fn side(direction: &str) -> i8 {
    match direction {
        "left" | "slight left" | "sharp left" | "uturn" => -1,
        "right" | "slight right" | "sharp right" => 1,
        _ => 0,
    }
}

/// The lanes of `turn_lanes` for a turn of `modifier`: a lane is valid when one of its arrows
/// is that turn; when no arrow is, the arrows to the same side (straight and unmarked lanes for
/// going on); when none is either, the unmarked lanes; when no lane fits at all, every lane
/// (arrows that call a bend a turn); `[]` without lane tags.
pub fn lanes_for(turn_lanes: &str, modifier: Modifier) -> Vec<Lane> {
    if turn_lanes.is_empty() {
        return Vec::new();
    }
    let want = modifier.as_str();
    let mut lanes: Vec<Lane> = turn_lanes
        .split('|')
        .map(|lane| {
            let mut indications: Vec<&'static str> = lane.split(';').map(indication).collect();
            indications.dedup();
            Lane {
                valid: indications.contains(&want),
                indications,
            }
        })
        .collect();
    if !lanes.iter().any(|l| l.valid) {
        for lane in &mut lanes {
            lane.valid = lane.indications.iter().any(|i| side(i) == side(want));
        }
    }
    if !lanes.iter().any(|l| l.valid) {
        // Unmarked lanes take the turns no arrow names.
        for lane in &mut lanes {
            lane.valid = lane.indications.contains(&"none");
        }
    }
    if !lanes.iter().any(|l| l.valid) {
        // The arrows and the road's shape disagree (a bend the arrows call a turn): the route
        // is the way the lanes go, so none is wrong.
        for lane in &mut lanes {
            lane.valid = true;
        }
    }
    lanes
}

/// One OSRM `RouteStep`.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub name: String,
    #[serde(rename = "ref", skip_serializing_if = "String::is_empty")]
    pub reference: String,
    pub distance: f64,
    pub duration: f64,
    /// Equal to `duration` for now.
    pub weight: f64,
    /// Points from this step's maneuver to the next one's; encoded elsewhere (written here as
    /// `[lon, lat]` pairs only to keep the field's place in the JSON).
    #[serde(serialize_with = "lon_lat_seq")]
    pub geometry: Vec<LatLon>,
    /// `"driving"`, or `"walking"` on a foot graph (set by the router).
    pub mode: &'static str,
    /// Always `"right"`.
    pub driving_side: &'static str,
    /// The name of the rotary, on `rotary` and `exit rotary` steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotary_name: Option<String>,
    /// Where the road of this step is signposted to, when it is.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub destinations: String,
    pub maneuver: Maneuver,
    pub intersections: Vec<Intersection>,
}

/// One OSRM `StepManeuver`.
#[derive(Clone, Debug, Serialize)]
pub struct Maneuver {
    /// Written `[lon, lat]`.
    #[serde(serialize_with = "lon_lat")]
    pub location: LatLon,
    /// Degrees clockwise from north of the travel direction just before the maneuver
    /// (0 for `depart`).
    pub bearing_before: u16,
    /// Degrees clockwise from north of the travel direction just after the maneuver
    /// (0 for `arrive`).
    pub bearing_after: u16,
    #[serde(rename = "type")]
    pub kind: ManeuverType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modifier: Option<Modifier>,
    /// Roundabouts and rotaries, on the entering and the exit step: the exit taken, counted
    /// from the entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<u32>,
}

/// OSRM's maneuver types that Meridian produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ManeuverType {
    #[serde(rename = "depart")]
    Depart,
    #[serde(rename = "turn")]
    Turn,
    #[serde(rename = "new name")]
    NewName,
    #[serde(rename = "continue")]
    Continue,
    #[serde(rename = "end of road")]
    EndOfRoad,
    #[serde(rename = "fork")]
    Fork,
    #[serde(rename = "merge")]
    Merge,
    #[serde(rename = "on ramp")]
    OnRamp,
    #[serde(rename = "off ramp")]
    OffRamp,
    #[serde(rename = "roundabout")]
    Roundabout,
    #[serde(rename = "exit roundabout")]
    ExitRoundabout,
    #[serde(rename = "rotary")]
    Rotary,
    #[serde(rename = "exit rotary")]
    ExitRotary,
    #[serde(rename = "roundabout turn")]
    RoundaboutTurn,
    #[serde(rename = "arrive")]
    Arrive,
}

/// OSRM's maneuver modifiers: the direction of a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Modifier {
    #[serde(rename = "uturn")]
    Uturn,
    #[serde(rename = "sharp right")]
    SharpRight,
    #[serde(rename = "right")]
    Right,
    #[serde(rename = "slight right")]
    SlightRight,
    #[serde(rename = "straight")]
    Straight,
    #[serde(rename = "slight left")]
    SlightLeft,
    #[serde(rename = "left")]
    Left,
    #[serde(rename = "sharp left")]
    SharpLeft,
}

impl ManeuverType {
    /// The name OSRM clients read in `maneuver.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ManeuverType::Depart => "depart",
            ManeuverType::Turn => "turn",
            ManeuverType::NewName => "new name",
            ManeuverType::Continue => "continue",
            ManeuverType::EndOfRoad => "end of road",
            ManeuverType::Fork => "fork",
            ManeuverType::Merge => "merge",
            ManeuverType::OnRamp => "on ramp",
            ManeuverType::OffRamp => "off ramp",
            ManeuverType::Roundabout => "roundabout",
            ManeuverType::ExitRoundabout => "exit roundabout",
            ManeuverType::Rotary => "rotary",
            ManeuverType::ExitRotary => "exit rotary",
            ManeuverType::RoundaboutTurn => "roundabout turn",
            ManeuverType::Arrive => "arrive",
        }
    }
}

impl Modifier {
    /// The name OSRM clients read in `maneuver.modifier`.
    pub fn as_str(self) -> &'static str {
        match self {
            Modifier::Uturn => "uturn",
            Modifier::SharpRight => "sharp right",
            Modifier::Right => "right",
            Modifier::SlightRight => "slight right",
            Modifier::Straight => "straight",
            Modifier::SlightLeft => "slight left",
            Modifier::Left => "left",
            Modifier::SharpLeft => "sharp left",
        }
    }
}

impl PartialEq<&str> for ManeuverType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<&str> for Modifier {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One OSRM `Intersection`: every road at the junction, sorted clockwise from north.
#[derive(Clone, Debug, Serialize)]
pub struct Intersection {
    /// Written `[lon, lat]`.
    #[serde(serialize_with = "lon_lat")]
    pub location: LatLon,
    pub bearings: Vec<u16>,
    /// Whether the route could leave by each road.
    pub entry: Vec<bool>,
    /// Index in `bearings` of the way the route arrives by; absent at `depart`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#in: Option<usize>,
    /// Index in `bearings` of the way the route leaves by; absent at `arrive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<usize>,
    /// OSRM's road classes of the way out: `motorway` (motorways and their links) only, as the
    /// toll and ferry flags are not listed here yet; absent when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<&'static str>,
    /// The lanes of the way in, where it has `turn:lanes`; absent otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<Lane>,
}

/// The OSRM classes of a road of class `class`.
fn classes_of(class: Option<RoadClass>) -> Vec<&'static str> {
    match class {
        Some(RoadClass::Motorway | RoadClass::MotorwayLink) => vec!["motorway"],
        _ => Vec::new(),
    }
}

/// A point in OSRM's JSON order, `[lon, lat]`.
fn lon_lat<S: Serializer>(p: &LatLon, s: S) -> Result<S::Ok, S::Error> {
    p.lon_lat().serialize(s)
}

fn lon_lat_seq<S: Serializer>(points: &[LatLon], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(points.iter().map(|p| p.lon_lat()))
}

/// A bearing as OSRM reports it: whole degrees, 0..=359.
fn whole_deg(bearing: f64) -> u16 {
    (bearing.round().rem_euclid(360.0) as u16) % 360
}

/// Signed turn from `before` to `after` in degrees, in `(-180, 180]`; positive is clockwise
/// (a right turn).
fn turn_angle(before: f64, after: f64) -> f64 {
    let d = (after - before).rem_euclid(360.0);
    if d > 180.0 {
        d - 360.0
    } else {
        d
    }
}

/// OSRM modifier for a signed turn angle.
fn modifier_for(angle: f64) -> Modifier {
    let a = angle.abs();
    let right = angle > 0.0;
    if a < STRAIGHT_MAX_DEG {
        Modifier::Straight
    } else if a < SLIGHT_MAX_DEG {
        if right {
            Modifier::SlightRight
        } else {
            Modifier::SlightLeft
        }
    } else if a < TURN_MAX_DEG {
        if right {
            Modifier::Right
        } else {
            Modifier::Left
        }
    } else if a < SHARP_MAX_DEG {
        if right {
            Modifier::SharpRight
        } else {
            Modifier::SharpLeft
        }
    } else {
        Modifier::Uturn
    }
}

/// `slight left` or `slight right`: the side of `angle` against the other branches' angles
/// (a branch right of all others keeps right), `straight` between branches.
fn side_of(angle: f64, others: &[f64]) -> Modifier {
    if others.is_empty() {
        return if angle < 0.0 {
            Modifier::SlightLeft
        } else {
            Modifier::SlightRight
        };
    }
    if others.iter().all(|&o| angle < o) {
        Modifier::SlightLeft
    } else if others.iter().all(|&o| angle > o) {
        Modifier::SlightRight
    } else {
        Modifier::Straight
    }
}

fn is_link(class: Option<RoadClass>) -> bool {
    matches!(
        class,
        Some(
            RoadClass::MotorwayLink
                | RoadClass::TrunkLink
                | RoadClass::PrimaryLink
                | RoadClass::SecondaryLink
                | RoadClass::TertiaryLink
        )
    )
}

/// Roads one leaves by an off ramp and joins by a merge.
fn is_highway(class: Option<RoadClass>) -> bool {
    matches!(class, Some(RoadClass::Motorway | RoadClass::Trunk))
}

/// Whether a road of class `other` is a minor way next to one of class `ours` (a driveway or
/// parking aisle beside a street): such a way never makes a fork.
fn minor_beside(other: Option<RoadClass>, ours: Option<RoadClass>) -> bool {
    let minor = |c: Option<RoadClass>| matches!(c, Some(RoadClass::Service | RoadClass::Track));
    minor(other) && !minor(ours)
}

/// The leg's geometry as one deduplicated polyline, with bearing look-ups around its points.
struct Line {
    points: Vec<LatLon>,
}

impl Line {
    /// Travel direction arriving at point `k`, from the last earlier point at least
    /// [`MIN_BEARING_SPAN_M`] away (or the first point if none is that far).
    fn bearing_into(&self, k: usize) -> Option<f64> {
        let p = self.points[k];
        let from = (0..k)
            .rev()
            .find(|&j| self.points[j].haversine_m(p) >= MIN_BEARING_SPAN_M)
            .or((k > 0).then_some(0))?;
        Some(self.points[from].bearing_deg(p))
    }

    /// Travel direction leaving point `k`, towards the first later point at least
    /// [`MIN_BEARING_SPAN_M`] away (or the last point if none is that far).
    fn bearing_out_of(&self, k: usize) -> Option<f64> {
        let p = self.points[k];
        let last = self.points.len() - 1;
        let to = (k + 1..=last)
            .find(|&j| p.haversine_m(self.points[j]) >= MIN_BEARING_SPAN_M)
            .or((k < last).then_some(last))?;
        Some(p.bearing_deg(self.points[to]))
    }

    /// Signed turn angle at point `k`; 0 where a side is unknown.
    fn turn_at(&self, k: usize) -> f64 {
        match (self.bearing_into(k), self.bearing_out_of(k)) {
            (Some(b), Some(a)) => turn_angle(b, a),
            _ => 0.0,
        }
    }

    /// The intersection at point `k`, with the other roads leaving there.
    fn intersection(&self, k: usize, others: &[Road<'_>]) -> Intersection {
        intersection_at(
            self.points[k],
            self.bearing_into(k),
            self.bearing_out_of(k),
            others,
        )
    }
}

/// What a bearing of an intersection is.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    In,
    Out,
    /// Both: a U-turn leaves by the way it came in.
    InOut,
    Other(bool),
}

fn intersection_at(
    location: LatLon,
    before: Option<f64>,
    after: Option<f64>,
    others: &[Road<'_>],
) -> Intersection {
    let back = before.map(|b| whole_deg(b + 180.0));
    let out = after.map(whole_deg);
    let mut roads: Vec<(u16, Role)> = Vec::with_capacity(others.len() + 2);
    match (back, out) {
        (Some(b), Some(o)) if b == o => roads.push((b, Role::InOut)),
        _ => {
            roads.extend(back.map(|b| (b, Role::In)));
            roads.extend(out.map(|o| (o, Role::Out)));
        }
    }
    roads.extend(
        others
            .iter()
            .map(|r| (r.bearing % 360, Role::Other(r.entry))),
    );
    if roads.is_empty() {
        // A zero-length leg: still give clients one well-formed bearing.
        roads.push((0, Role::Other(true)));
    }
    roads.sort_by_key(|r| r.0);
    let position = |want: &[Role]| roads.iter().position(|r| want.contains(&r.1));
    let in_idx = position(&[Role::In, Role::InOut]);
    let out_idx = position(&[Role::Out, Role::InOut]);
    // Where the route goes on, turning back onto the road it came by is not offered; at
    // depart/arrive the lone road of the route is.
    let entry = roads
        .iter()
        .map(|r| match r.1 {
            Role::Out | Role::InOut => true,
            Role::In => out_idx.is_none(),
            Role::Other(entry) => entry,
        })
        .collect();
    Intersection {
        location,
        bearings: roads.iter().map(|r| r.0).collect(),
        entry,
        r#in: in_idx,
        out: out_idx,
        classes: Vec::new(),
        lanes: Vec::new(),
    }
}

/// A segment mapped onto the deduplicated [`Line`]: it covers points `start..=end`, and its
/// `start` is the previous piece's `end`.
#[derive(Clone, Debug)]
struct Piece<'s, 'a> {
    signs: Signs<'a>,
    name: &'a str,
    reference: &'a str,
    roundabout: bool,
    class: Option<RoadClass>,
    others: &'s [Road<'a>],
    distance: f64,
    duration: f64,
    start: usize,
    end: usize,
}

fn flatten<'s, 'a>(segments: &'s [PathSegment<'a>]) -> (Line, Vec<Piece<'s, 'a>>) {
    let mut points: Vec<LatLon> = Vec::new();
    let mut pieces: Vec<Piece<'_, '_>> = Vec::with_capacity(segments.len());
    for seg in segments {
        let start = points.len().saturating_sub(1);
        for &p in &seg.geometry {
            if points.last() != Some(&p) {
                points.push(p);
            }
        }
        pieces.push(Piece {
            signs: seg.signs,
            name: seg.name,
            reference: seg.reference,
            roundabout: seg.roundabout,
            class: seg.class,
            others: &seg.others,
            distance: seg.distance_m,
            duration: seg.duration_s,
            start,
            end: points.len().saturating_sub(1),
        });
    }
    (Line { points }, pieces)
}

/// Folds negligible first/last pieces into their neighbour (see [`FOLD_END_PIECE_M`]), keeping
/// their distance and duration so totals do not change.
fn fold_end_pieces(pieces: &mut Vec<Piece<'_, '_>>) {
    while pieces.len() > 1 && pieces[0].distance < FOLD_END_PIECE_M {
        let first = pieces.remove(0);
        let next = &mut pieces[0];
        next.start = first.start;
        next.distance += first.distance;
        next.duration += first.duration;
    }
    while pieces.len() > 1 && pieces[pieces.len() - 1].distance < FOLD_END_PIECE_M {
        let last = pieces.pop().expect("more than one piece");
        let prev = pieces.last_mut().expect("more than one piece");
        prev.end = last.end;
        prev.others = last.others;
        prev.distance += last.distance;
        prev.duration += last.duration;
    }
}

/// What happens at the boundary in front of a piece.
enum Boundary {
    /// Same step goes on.
    Merge,
    /// A new step starts with this maneuver type and modifier.
    Step(ManeuverType, Option<Modifier>),
}

/// The maneuver at the boundary between `prev` and `next`, for a step so far on the road
/// `current` (name, ref).
fn classify(
    line: &Line,
    current: (&str, &str),
    prev: &Piece<'_, '_>,
    next: &Piece<'_, '_>,
) -> Boundary {
    let k = next.start;
    let angle = line.turn_at(k);
    match (prev.roundabout, next.roundabout) {
        // Exit count and modifier need the whole roundabout; filled in afterwards.
        (false, true) => return Boundary::Step(ManeuverType::Roundabout, None),
        (true, true) => return Boundary::Merge,
        (true, false) => {
            return Boundary::Step(ManeuverType::ExitRoundabout, Some(modifier_for(angle)))
        }
        (false, false) => {}
    }
    let change = names::compare(current, (next.name, next.reference));
    let road_goes_on =
        |r: &Road<'_>| names::compare(current, (r.name, r.reference)) == NameChange::Same;
    // Angles of the other roads relative to the travel direction arriving here.
    let rel: Vec<(f64, &Road<'_>)> = match line.bearing_into(k) {
        Some(b) => prev
            .others
            .iter()
            .map(|r| (turn_angle(b, f64::from(r.bearing)), r))
            .collect(),
        None => Vec::new(),
    };
    let choice = !prev.others.is_empty();

    // Ramps: leaving onto a link, and joining a motorway or trunk from one.
    // An on ramp leads to a motorway or trunk; a primary_link between two streets is a turn.
    let ramp_to_highway = matches!(
        next.class,
        Some(RoadClass::MotorwayLink | RoadClass::TrunkLink)
    );
    let off = is_highway(prev.class);
    if choice
        && is_link(next.class)
        && !is_link(prev.class)
        && (off || ramp_to_highway)
        && angle.abs() < TURN_MAX_DEG
    {
        let kind = if off {
            ManeuverType::OffRamp
        } else {
            ManeuverType::OnRamp
        };
        let modifier = if angle.abs() < SLIGHT_MAX_DEG {
            let near: Vec<f64> = rel
                .iter()
                .map(|r| r.0)
                .filter(|a| a.abs() < SLIGHT_MAX_DEG)
                .collect();
            side_of(angle, &near)
        } else {
            modifier_for(angle)
        };
        return Boundary::Step(kind, Some(modifier));
    }
    if is_link(prev.class)
        && is_highway(next.class)
        && change != NameChange::Same
        && angle.abs() < SLIGHT_MAX_DEG
    {
        let modifier = if angle < 0.0 {
            Modifier::SlightLeft
        } else {
            Modifier::SlightRight
        };
        return Boundary::Step(ManeuverType::Merge, Some(modifier));
    }

    if choice && angle.abs() < FORK_MAX_DEG {
        // The other branches about as straight as ours (driveways beside a street, and ramps
        // leaving a road one stays on, do not count).
        let ramp_beside = |r: &Road<'_>| is_link(r.class) && !is_link(next.class);
        let branches: Vec<(f64, &Road<'_>)> = rel
            .iter()
            .copied()
            .filter(|(a, r)| {
                r.entry
                    && a.abs() < FORK_MAX_DEG
                    && !minor_beside(r.class, next.class)
                    && !ramp_beside(r)
            })
            .collect();
        if !branches.is_empty() {
            let we_go_on = change != NameChange::Different;
            let it_goes_on = branches.iter().any(|(_, r)| road_goes_on(r));
            let angles: Vec<f64> = branches.iter().map(|b| b.0).collect();
            // Ours is the obvious way on: about straight, and clearly straighter than the rest.
            let obvious = angle.abs() < STRAIGHT_MAX_DEG
                && angles
                    .iter()
                    .all(|a| a.abs() >= angle.abs() + OBVIOUS_MARGIN_DEG);
            match (we_go_on, it_goes_on) {
                // The road simply goes on: the rules for the same road below decide.
                (true, false) => {}
                // Leaving the road that goes on by a slight branch.
                (false, true) => {
                    let modifier = match modifier_for(angle) {
                        Modifier::Straight => side_of(angle, &angles),
                        m => m,
                    };
                    return Boundary::Step(ManeuverType::Turn, Some(modifier));
                }
                _ if obvious => {}
                _ => return Boundary::Step(ManeuverType::Fork, Some(side_of(angle, &angles))),
            }
        }
    }

    let unnamed = |r: (&str, &str)| r.0.trim().is_empty() && r.1.trim().is_empty();
    let ahead = rel.iter().any(|(a, _)| a.abs() < FORK_MAX_DEG);
    if choice && (SLIGHT_MAX_DEG..TURN_MAX_DEG).contains(&angle.abs()) && !ahead {
        // A T: the road taken goes on through the junction the other way, nothing ahead.
        let through = rel.iter().any(|(a, r)| {
            a.signum() != angle.signum()
                && (SLIGHT_MAX_DEG..TURN_MAX_DEG).contains(&a.abs())
                && (names::compare((next.name, next.reference), (r.name, r.reference))
                    == NameChange::Same
                    || unnamed((next.name, next.reference)) && unnamed((r.name, r.reference)))
        });
        let goes_on = !unnamed(current) && rel.iter().any(|(_, r)| road_goes_on(r));
        if through && change != NameChange::Same && !goes_on {
            return Boundary::Step(ManeuverType::EndOfRoad, Some(modifier_for(angle)));
        }
    }

    match change {
        NameChange::Different if angle.abs() < STRAIGHT_MAX_DEG => {
            Boundary::Step(ManeuverType::NewName, Some(Modifier::Straight))
        }
        // Where there is no other way, the bend is not a choice: only the name is news.
        NameChange::Different if !choice && angle.abs() < TURN_MAX_DEG => {
            Boundary::Step(ManeuverType::NewName, Some(modifier_for(angle)))
        }
        NameChange::Different => Boundary::Step(ManeuverType::Turn, Some(modifier_for(angle))),
        NameChange::Unnamed if choice && angle.abs() >= STRAIGHT_MAX_DEG => {
            Boundary::Step(ManeuverType::Turn, Some(modifier_for(angle)))
        }
        // Staying on a named road that bends while another road goes on ahead: `continue`;
        // an unnamed way, or a bend with nothing ahead, is announced as a plain turn.
        NameChange::Same if choice && angle.abs() >= SLIGHT_MAX_DEG => {
            let kind = if ahead && !unnamed(current) {
                ManeuverType::Continue
            } else {
                ManeuverType::Turn
            };
            Boundary::Step(kind, Some(modifier_for(angle)))
        }
        _ => Boundary::Merge,
    }
}

/// A step before its geometry is cut: pieces `first..=last` and the maneuver that starts it.
struct Plan<'a> {
    first: usize,
    last: usize,
    kind: ManeuverType,
    modifier: Option<Modifier>,
    exit: Option<u32>,
    name: &'a str,
    reference: &'a str,
    rotary_name: Option<&'a str>,
}

/// The radius of the ring driven from point `from` to `to`, from its length and how far the
/// heading turns; `None` when it turns too little to tell.
fn ring_radius_m(line: &Line, from: usize, to: usize) -> Option<f64> {
    let pts = &line.points[from..=to];
    let mut length = 0.0;
    let mut turned = 0.0;
    let mut heading: Option<f64> = None;
    for w in pts.windows(2) {
        let d = w[0].haversine_m(w[1]);
        if d < 0.5 {
            continue;
        }
        length += d;
        let b = w[0].bearing_deg(w[1]);
        if let Some(h) = heading {
            turned += turn_angle(h, b);
        }
        heading = Some(b);
    }
    let turned = turned.abs().to_radians();
    (turned >= 30f64.to_radians()).then(|| length / turned)
}

fn plan_steps<'a>(line: &Line, pieces: &[Piece<'_, 'a>]) -> Vec<Plan<'a>> {
    let mut plans = vec![Plan {
        first: 0,
        last: 0,
        kind: ManeuverType::Depart,
        modifier: None,
        exit: None,
        name: pieces[0].name,
        reference: pieces[0].reference,
        rotary_name: None,
    }];
    for i in 1..pieces.len() {
        let current = plans.last().expect("depart plan");
        match classify(
            line,
            (current.name, current.reference),
            &pieces[i - 1],
            &pieces[i],
        ) {
            Boundary::Merge => plans.last_mut().expect("depart plan").last = i,
            Boundary::Step(kind, modifier) => plans.push(Plan {
                first: i,
                last: i,
                kind,
                modifier,
                exit: None,
                name: pieces[i].name,
                reference: pieces[i].reference,
                rotary_name: None,
            }),
        }
    }
    for p in 0..plans.len() {
        if plans[p].kind != ManeuverType::Roundabout {
            continue;
        }
        let plan = &mut plans[p];
        let ring = &pieces[plan.first];
        // A big roundabout with a name of its own (not a copied ref, nor the name of the road
        // that enters or leaves it) is a rotary.
        let own = ring.name != ring.reference && !ring.name.trim().is_empty();
        let road_name = |i: Option<usize>| {
            i.and_then(|i| pieces.get(i))
                .is_some_and(|p| names::compare((ring.name, ""), (p.name, "")) == NameChange::Same)
        };
        let through_road = road_name(plan.first.checked_sub(1)) || road_name(Some(plan.last + 1));
        let radius = ring_radius_m(line, ring.start, pieces[plan.last].end);
        let big = radius.is_none_or(|r| r >= ROTARY_MIN_RADIUS_M);
        let small = radius.is_some_and(|r| r <= ROUNDABOUT_TURN_MAX_RADIUS_M);
        if own && !through_road && big {
            plan.kind = ManeuverType::Rotary;
            plan.rotary_name = Some(ring.name);
        }
        let entry = pieces[plan.first].start;
        let leave = pieces[plan.last].end;
        let before = line.bearing_into(entry);
        match pieces.get(plan.last + 1) {
            Some(exit_road) => {
                // Every roundabout node with a way out before the leaving node is an exit passed;
                // the leaving node is always one.
                let passed = pieces[plan.first..plan.last]
                    .iter()
                    .filter(|p| !p.others.is_empty())
                    .count() as u32;
                plan.exit = Some(passed + 1);
                plan.name = exit_road.name;
                plan.reference = exit_road.reference;
                let after = line.bearing_out_of(leave);
                plan.modifier = before
                    .zip(after)
                    .map(|(b, a)| modifier_for(turn_angle(b, a)));
                if small
                    && plan.kind == ManeuverType::Roundabout
                    && passed < ROUNDABOUT_TURN_MAX_EXIT
                {
                    plan.kind = ManeuverType::RoundaboutTurn;
                }
                let (exit, rotary_name) = (plan.exit, plan.rotary_name);
                if let Some(next) = plans.get_mut(p + 1) {
                    if next.kind == ManeuverType::ExitRoundabout {
                        next.exit = exit;
                        if rotary_name.is_some() {
                            next.kind = ManeuverType::ExitRotary;
                            next.rotary_name = rotary_name;
                        }
                    }
                }
            }
            None => {
                // The leg ends on the roundabout: no exit, direction towards the end point.
                let towards_end = line.bearing_into(leave);
                plan.modifier = before
                    .zip(towards_end)
                    .map(|(b, a)| modifier_for(turn_angle(b, a)));
            }
        }
    }
    // A short stretch of another name between two pieces of the same road (a bridge, a square
    // the road crosses) announced as two name changes is no maneuver at all.
    let mut p = 1;
    while p + 1 < plans.len() {
        let (before, here, after) = (&plans[p - 1], &plans[p], &plans[p + 1]);
        let short: f64 = pieces[here.first..=here.last]
            .iter()
            .map(|q| q.distance)
            .sum();
        if here.kind == ManeuverType::NewName
            && after.kind == ManeuverType::NewName
            && short < OSCILLATION_MAX_M
            && names::compare(
                (before.name, before.reference),
                (after.name, after.reference),
            ) == NameChange::Same
        {
            let last = after.last;
            plans.drain(p..p + 2);
            plans[p - 1].last = last;
        } else {
            p += 1;
        }
    }
    // A roundabout turn is one maneuver, as in OSRM: the road after the ring is in its step.
    let mut p = 1;
    while p < plans.len() {
        if plans[p].kind == ManeuverType::ExitRoundabout
            && plans[p - 1].kind == ManeuverType::RoundaboutTurn
        {
            let exit_plan = plans.remove(p);
            plans[p - 1].last = exit_plan.last;
        } else {
            p += 1;
        }
    }
    // A leg that departs on a roundabout leaves it by an exit counted from the start.
    for p in 1..plans.len() {
        if plans[p].kind == ManeuverType::ExitRoundabout && plans[p].exit.is_none() {
            let prev = &plans[p - 1];
            let passed = pieces[prev.first..prev.last]
                .iter()
                .filter(|q| q.roundabout && !q.others.is_empty())
                .count() as u32;
            plans[p].exit = Some(passed + 1);
        }
    }
    plans
}

/// Builds the OSRM steps of one leg: a `depart`, the maneuvers in between, and an `arrive`.
/// Returns no steps for a leg without segments or geometry.
pub fn build_steps(segments: &[PathSegment<'_>]) -> Vec<Step> {
    let (line, mut pieces) = flatten(segments);
    if pieces.is_empty() || line.points.is_empty() {
        return Vec::new();
    }
    fold_end_pieces(&mut pieces);
    let plans = plan_steps(&line, &pieces);

    let mut steps = Vec::with_capacity(plans.len() + 1);
    for plan in &plans {
        let covered = &pieces[plan.first..=plan.last];
        let (start, end) = (covered[0].start, covered[covered.len() - 1].end);
        let mut geometry = line.points[start..=end].to_vec();
        if geometry.len() == 1 {
            // Zero-length step: a line string still needs two points.
            geometry.push(geometry[0]);
        }
        let distance: f64 = covered.iter().map(|p| p.distance).sum();
        let duration: f64 = covered.iter().map(|p| p.duration).sum();
        let depart = plan.kind == ManeuverType::Depart;
        let before = if depart {
            None
        } else {
            line.bearing_into(start)
        };
        let after = line.bearing_out_of(start);
        let at_start: &[Road<'_>] = match plan.first.checked_sub(1) {
            Some(p) if !depart => pieces[p].others,
            _ => &[],
        };
        let mut first = intersection_at(line.points[start], before, after, at_start);
        first.classes = classes_of(covered[0].class);
        if let (Some(p), Some(b), Some(a)) = (plan.first.checked_sub(1), before, after) {
            // The lanes of the road arriving at the maneuver, for the turn it makes.
            let turn = plan
                .modifier
                .unwrap_or_else(|| modifier_for(turn_angle(b, a)));
            first.lanes = lanes_for(pieces[p].signs.turn_lanes, turn);
        }
        let mut intersections = vec![first];
        // Nodes passed without a maneuver but where other ways leave.
        intersections.extend(
            covered
                .windows(2)
                .filter(|w| !w[0].others.is_empty())
                .map(|w| Intersection {
                    classes: classes_of(w[1].class),
                    lanes: lanes_for(w[0].signs.turn_lanes, modifier_for(line.turn_at(w[0].end))),
                    ..line.intersection(w[0].end, w[0].others)
                }),
        );
        steps.push(Step {
            name: plan.name.to_string(),
            reference: plan.reference.to_string(),
            distance,
            duration,
            weight: duration,
            geometry,
            mode: "driving",
            driving_side: "right",
            rotary_name: plan.rotary_name.map(str::to_string),
            destinations: covered[0].signs.destinations.to_string(),
            maneuver: Maneuver {
                location: line.points[start],
                bearing_before: before.map_or(0, whole_deg),
                bearing_after: after.map_or(0, whole_deg),
                kind: plan.kind,
                modifier: plan.modifier,
                exit: plan.exit,
            },
            intersections,
        });
    }

    let last_k = line.points.len() - 1;
    let last_point = line.points[last_k];
    let before = line.bearing_into(last_k);
    let last_piece = &pieces[pieces.len() - 1];
    steps.push(Step {
        name: last_piece.name.to_string(),
        reference: last_piece.reference.to_string(),
        distance: 0.0,
        duration: 0.0,
        weight: 0.0,
        geometry: vec![last_point, last_point],
        mode: "driving",
        driving_side: "right",
        rotary_name: None,
        destinations: String::new(),
        maneuver: Maneuver {
            location: last_point,
            bearing_before: before.map_or(0, whole_deg),
            bearing_after: 0,
            kind: ManeuverType::Arrive,
            modifier: None,
            exit: None,
        },
        intersections: vec![intersection_at(last_point, before, None, &[])],
    });
    steps
}

/// OSRM-like leg summary: the names of the (up to) two named roads with the most distance on
/// this leg, in the order they are first driven, joined by `", "`. Empty when no road is named.
pub fn leg_summary(segments: &[PathSegment<'_>]) -> String {
    // (name, total metres, first position), in order of first appearance.
    let mut roads: Vec<(&str, f64, usize)> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        if seg.name.is_empty() {
            continue;
        }
        match roads.iter_mut().find(|r| r.0 == seg.name) {
            Some(road) => road.1 += seg.distance_m,
            None => roads.push((seg.name, seg.distance_m, i)),
        }
    }
    // Stable sort: equal lengths keep travel order.
    roads.sort_by(|a, b| b.1.total_cmp(&a.1));
    roads.truncate(2);
    roads.sort_by_key(|r| r.2);
    roads.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metres per degree of latitude on the model sphere.
    const M_PER_DEG: f64 = spatial::coord::EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
    const ORIGIN: LatLon = LatLon::new(41.15, 8.6);

    /// A point `east_m`/`north_m` metres from [`ORIGIN`] (flat approximation, fine at 100 m).
    fn at(east_m: f64, north_m: f64) -> LatLon {
        let lat = ORIGIN.lat + north_m / M_PER_DEG;
        let lon = ORIGIN.lon + east_m / (M_PER_DEG * ORIGIN.lat.to_radians().cos());
        LatLon::new(lat, lon)
    }

    /// A segment through points given as (metres east, metres north) of [`ORIGIN`].
    /// The other roads at the segment's end leave at `others` (bearings), all named
    /// "Rua Lateral", residential.
    fn seg<'a>(name: &'a str, points: &[(f64, f64)], others: &[u16]) -> PathSegment<'a> {
        let geometry: Vec<LatLon> = points.iter().map(|&(e, n)| at(e, n)).collect();
        let distance_m = geometry.windows(2).map(|w| w[0].haversine_m(w[1])).sum();
        PathSegment {
            signs: Default::default(),
            name,
            reference: "",
            geometry,
            distance_m,
            duration_s: distance_m / 10.0,
            roundabout: false,
            class: Some(RoadClass::Residential),
            others: others.iter().map(|&b| road(b, "Rua Lateral")).collect(),
        }
    }

    fn road(bearing: u16, name: &str) -> Road<'_> {
        Road {
            bearing,
            name,
            reference: "",
            class: Some(RoadClass::Residential),
            entry: true,
        }
    }

    fn ring<'a>(name: &'a str, points: &[(f64, f64)], others: &[u16]) -> PathSegment<'a> {
        PathSegment {
            signs: Default::default(),
            roundabout: true,
            ..seg(name, points, others)
        }
    }

    /// A segment of road class `class` named `name` with ref `reference`.
    fn classed<'a>(
        class: RoadClass,
        name: &'a str,
        reference: &'a str,
        points: &[(f64, f64)],
        others: Vec<Road<'a>>,
    ) -> PathSegment<'a> {
        PathSegment {
            signs: Default::default(),
            reference,
            class: Some(class),
            others,
            ..seg(name, points, &[])
        }
    }

    fn kinds(steps: &[Step]) -> Vec<(&'static str, Option<&'static str>)> {
        steps
            .iter()
            .map(|s| {
                (
                    s.maneuver.kind.as_str(),
                    s.maneuver.modifier.map(Modifier::as_str),
                )
            })
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn bearing_of_due_east_segment_is_90() {
        assert_eq!(whole_deg(at(0.0, 0.0).bearing_deg(at(100.0, 0.0))), 90);
        assert_eq!(
            whole_deg(LatLon::new(0.0, 0.0).bearing_deg(LatLon::new(0.0, 1.0))),
            90
        );
        assert_eq!(whole_deg(at(0.0, 0.0).bearing_deg(at(0.0, 100.0))), 0);
        assert_eq!(whole_deg(at(0.0, 0.0).bearing_deg(at(-100.0, 0.0))), 270);
        // 359.6° rounds up to north, not to 360.
        assert_eq!(whole_deg(359.6), 0);
    }

    #[test]
    fn haversine_of_one_degree_of_latitude() {
        let d = LatLon::new(0.0, 0.0).haversine_m(LatLon::new(1.0, 0.0));
        assert!((d - M_PER_DEG).abs() < 1e-6, "{d}");
    }

    #[test]
    fn lanes_valid_for_the_turn_taken() {
        let lanes = lanes_for("left|through|through;right|", Modifier::Right);
        let shown: Vec<(Vec<&str>, bool)> = lanes
            .iter()
            .map(|l| (l.indications.clone(), l.valid))
            .collect();
        assert_eq!(
            shown,
            vec![
                (vec!["left"], false),
                (vec!["straight"], false),
                (vec!["straight", "right"], true),
                (vec!["none"], false),
            ]
        );
        // No arrow is exactly the turn: the lanes to its side are.
        let lanes = lanes_for("slight_left|through", Modifier::Left);
        assert_eq!(
            lanes.iter().map(|l| l.valid).collect::<Vec<_>>(),
            [true, false]
        );
        // Going on: straight and unmarked lanes.
        let lanes = lanes_for("left|none|right", Modifier::Straight);
        assert_eq!(
            lanes.iter().map(|l| l.valid).collect::<Vec<_>>(),
            [false, true, false]
        );
        // A turn no arrow names goes by the unmarked lanes.
        let lanes = lanes_for("left|none", Modifier::SlightRight);
        assert_eq!(
            lanes.iter().map(|l| l.valid).collect::<Vec<_>>(),
            [false, true]
        );
        assert!(lanes_for("", Modifier::Right).is_empty());
    }

    #[test]
    fn modifiers_by_angle() {
        assert_eq!(modifier_for(5.0), "straight");
        assert_eq!(modifier_for(-19.0), "straight");
        assert_eq!(modifier_for(30.0), "slight right");
        assert_eq!(modifier_for(-30.0), "slight left");
        assert_eq!(modifier_for(90.0), "right");
        assert_eq!(modifier_for(-90.0), "left");
        assert_eq!(modifier_for(150.0), "sharp right");
        assert_eq!(modifier_for(-150.0), "sharp left");
        assert_eq!(modifier_for(179.0), "uturn");
        assert_eq!(turn_angle(350.0, 10.0), 20.0);
        assert_eq!(turn_angle(10.0, 350.0), -20.0);
    }

    #[test]
    fn straight_road_in_two_segments_is_depart_and_arrive() {
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (50.0, 0.0)], &[0]),
            seg("Rua A", &[(50.0, 0.0), (120.0, 0.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(kinds(&steps), vec![("depart", None), ("arrive", None)]);
        let depart = &steps[0];
        assert_eq!(depart.name, "Rua A");
        assert_eq!(depart.maneuver.bearing_before, 0);
        assert_eq!(depart.maneuver.bearing_after, 90);
        assert_eq!(depart.maneuver.location, segs[0].geometry[0]);
        assert_eq!(
            depart.geometry,
            vec![at(0.0, 0.0), at(50.0, 0.0), at(120.0, 0.0)]
        );
        assert!(close(
            depart.distance,
            segs[0].distance_m + segs[1].distance_m
        ));
        assert_eq!(depart.weight, depart.duration);
        // The junction passed on the way is listed, the depart point first.
        assert_eq!(depart.intersections.len(), 2);
        assert_eq!(depart.intersections[0].bearings, vec![90]);
        assert_eq!(depart.intersections[0].out, Some(0));
        assert_eq!(depart.intersections[0].r#in, None);
        // Every road at the junction: the side road north too.
        assert_eq!(depart.intersections[1].bearings, vec![0, 90, 270]);
        assert_eq!(depart.intersections[1].r#in, Some(2));
        assert_eq!(depart.intersections[1].out, Some(1));
        assert_eq!(depart.intersections[1].entry, vec![true, true, false]);

        let arrive = &steps[1];
        assert_eq!(arrive.maneuver.location, at(120.0, 0.0));
        assert_eq!(arrive.geometry, vec![at(120.0, 0.0), at(120.0, 0.0)]);
        assert_eq!(arrive.distance, 0.0);
        assert_eq!(arrive.duration, 0.0);
        assert_eq!(arrive.maneuver.bearing_before, 90);
        assert_eq!(arrive.maneuver.bearing_after, 0);
        assert_eq!(arrive.intersections[0].bearings, vec![270]);
        assert_eq!(arrive.intersections[0].r#in, Some(0));
        assert_eq!(arrive.intersections[0].out, None);
    }

    #[test]
    fn l_shaped_right_turn_onto_another_street() {
        // East along Rua A, then south (clockwise: right) on Rua B.
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[0, 90]),
            seg("Rua B", &[(100.0, 0.0), (100.0, -80.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![("depart", None), ("turn", Some("right")), ("arrive", None)]
        );
        let turn = &steps[1];
        assert_eq!(turn.name, "Rua B");
        assert_eq!(turn.maneuver.location, at(100.0, 0.0));
        assert_eq!(turn.maneuver.bearing_before, 90);
        assert_eq!(turn.maneuver.bearing_after, 180);
        // The depart step ends where the turn begins: they share that point.
        assert_eq!(steps[0].geometry.last(), Some(&turn.maneuver.location));
        assert_eq!(turn.geometry, vec![at(100.0, 0.0), at(100.0, -80.0)]);
        let x = &turn.intersections[0];
        assert_eq!(x.bearings, vec![0, 90, 180, 270]);
        assert_eq!(x.entry, vec![true, true, true, false]);
        assert_eq!((x.r#in, x.out), (Some(3), Some(2)));
    }

    #[test]
    fn left_turn() {
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[90]),
            seg("Rua C", &[(100.0, 0.0), (100.0, 80.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![("depart", None), ("turn", Some("left")), ("arrive", None)]
        );
        assert_eq!(steps[1].maneuver.bearing_after, 0);
    }

    #[test]
    fn slight_turn_with_name_change() {
        // About 30° to the right of due east.
        let segs = [
            // Another road leaves 15° further right: the slight right is a choice.
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[135]),
            seg("Rua D", &[(100.0, 0.0), (186.6, -50.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![
                ("depart", None),
                ("turn", Some("slight right")),
                ("arrive", None)
            ]
        );
        assert_eq!(steps[1].maneuver.bearing_after, 120);
    }

    #[test]
    fn straight_name_change_is_new_name() {
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[]),
            seg("Avenida E", &[(100.0, 0.0), (200.0, 5.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![
                ("depart", None),
                ("new name", Some("straight")),
                ("arrive", None)
            ]
        );
        assert_eq!(steps[1].name, "Avenida E");
    }

    #[test]
    fn ref_change_alone_starts_a_step() {
        let mut a = seg("", &[(0.0, 0.0), (100.0, 0.0)], &[]);
        a.reference = "A28";
        let mut b = seg("", &[(100.0, 0.0), (200.0, 0.0)], &[]);
        b.reference = "A4";
        let steps = build_steps(&[a, b]);
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].reference, "A4");
        assert_eq!(steps[1].maneuver.kind, "new name");
    }

    #[test]
    fn same_name_sharp_bend_at_junction_is_continue() {
        // East, then back west-south-west: about 150° to the right.
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[90]),
            seg("Rua A", &[(100.0, 0.0), (13.4, -50.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![
                ("depart", None),
                ("continue", Some("sharp right")),
                ("arrive", None)
            ]
        );
        assert_eq!(steps[1].name, "Rua A");
    }

    #[test]
    fn same_name_bends_without_a_choice_are_merged() {
        // A right-angle bend, then a hairpin, both at nodes with no other way out.
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[]),
            seg("Rua A", &[(100.0, 0.0), (100.0, -100.0)], &[]),
            seg("Rua A", &[(100.0, -100.0), (110.0, 0.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(kinds(&steps), vec![("depart", None), ("arrive", None)]);
        assert_eq!(steps[0].geometry.len(), 4);
        assert_eq!(steps[0].intersections.len(), 1);
    }

    #[test]
    fn same_name_slight_bend_at_junction_is_merged() {
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[0, 90, 180]),
            seg("Rua A", &[(100.0, 0.0), (186.6, -50.0)], &[]),
        ];
        assert_eq!(build_steps(&segs).len(), 2);
    }

    /// East along Rua A into a roundabout of radius ~20 m around (120, 0), driven
    /// counter-clockwise from its west node (100, 0) via south (120, -20) and east (140, 0) to
    /// north (120, 20), then north on Rua N. Exits at the south node (passed) and north (taken).
    fn roundabout_route() -> Vec<PathSegment<'static>> {
        vec![
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[]),
            ring("", &[(100.0, 0.0), (105.9, -14.1), (120.0, -20.0)], &[180]),
            ring("", &[(120.0, -20.0), (134.1, -14.1), (140.0, 0.0)], &[]),
            ring("", &[(140.0, 0.0), (134.1, 14.1), (120.0, 20.0)], &[270]),
            seg("Rua N", &[(120.0, 20.0), (120.0, 120.0)], &[]),
        ]
    }

    #[test]
    fn roundabout_collapses_and_counts_exits() {
        let segs = roundabout_route();
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![
                ("depart", None),
                ("roundabout", Some("left")),
                ("exit roundabout", Some("right")),
                ("arrive", None)
            ]
        );
        let rb = &steps[1];
        assert_eq!(rb.maneuver.exit, Some(2));
        assert_eq!(rb.maneuver.location, at(100.0, 0.0));
        assert_eq!(rb.maneuver.bearing_before, 90);
        // Named after the road taken at the exit, like OSRM.
        assert_eq!(rb.name, "Rua N");
        let ring_m: f64 = segs[1..4].iter().map(|s| s.distance_m).sum();
        assert!(close(rb.distance, ring_m));
        assert_eq!(rb.geometry.first(), Some(&at(100.0, 0.0)));
        assert_eq!(rb.geometry.last(), Some(&at(120.0, 20.0)));
        assert_eq!(rb.geometry.len(), 7);
        // Entry plus the passed exit at the south node.
        assert_eq!(rb.intersections.len(), 2);
        assert_eq!(rb.intersections[1].location, at(120.0, -20.0));

        let out = &steps[2];
        assert_eq!(out.maneuver.location, at(120.0, 20.0));
        // The exit step carries the exit taken too, as in OSRM.
        assert_eq!(out.maneuver.exit, Some(2));
        assert_eq!(out.maneuver.bearing_after, 0);
        assert_eq!(out.name, "Rua N");
    }

    #[test]
    fn leg_departing_on_a_roundabout_counts_its_exit_from_the_start() {
        let segs = roundabout_route()[1..].to_vec();
        let steps = build_steps(&segs);
        assert_eq!(steps[1].maneuver.kind, "exit roundabout");
        assert_eq!(steps[1].maneuver.exit, Some(2));
    }

    #[test]
    fn leg_ending_inside_a_roundabout_has_no_exit() {
        let segs = roundabout_route()[..3].to_vec();
        let steps = build_steps(&segs);
        assert_eq!(steps[1].maneuver.kind, "roundabout");
        assert_eq!(steps[1].maneuver.exit, None);
        assert_eq!(steps[1].name, "");
        assert_eq!(steps.len(), 3);
    }

    #[test]
    fn step_distances_and_durations_sum_to_the_leg() {
        for segs in [
            roundabout_route(),
            vec![
                seg("Rua A", &[(0.0, 0.0), (0.4, 0.0)], &[180]),
                seg("Rua B", &[(0.4, 0.0), (100.0, 0.0)], &[90, 180]),
                seg("Rua C", &[(100.0, 0.0), (100.0, 90.0)], &[]),
                seg("Rua C", &[(100.0, 90.0), (100.0, 90.5)], &[]),
            ],
        ] {
            let steps = build_steps(&segs);
            let total_m: f64 = segs.iter().map(|s| s.distance_m).sum();
            let total_s: f64 = segs.iter().map(|s| s.duration_s).sum();
            assert!(close(steps.iter().map(|s| s.distance).sum(), total_m));
            assert!(close(steps.iter().map(|s| s.duration).sum(), total_s));
            assert!(close(steps.iter().map(|s| s.weight).sum(), total_s));
            // Each step starts where the previous one ended, and no point repeats.
            for w in steps.windows(2) {
                assert_eq!(w[0].geometry.last(), Some(&w[1].maneuver.location));
            }
            for s in &steps[..steps.len() - 1] {
                assert!(s.geometry.windows(2).all(|w| w[0] != w[1]));
            }
        }
    }

    #[test]
    fn tiny_first_piece_departs_on_the_street_driven() {
        // Snapped 0.4 m before the corner of Rua A: departing on Rua A would be noise.
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (0.4, 0.0)], &[180]),
            seg("Rua B", &[(0.4, 0.0), (100.0, 0.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(kinds(&steps), vec![("depart", None), ("arrive", None)]);
        assert_eq!(steps[0].name, "Rua B");
        assert_eq!(steps[0].maneuver.location, at(0.0, 0.0));
    }

    #[test]
    fn bearings_skip_points_within_two_metres() {
        // A 0.5 m kink pointing north right at the corner must not decide the bearing.
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0), (100.0, 0.5)], &[90]),
            seg("Rua B", &[(100.0, 0.5), (100.0, -80.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(steps[1].maneuver.bearing_before, 90);
        assert_eq!(steps[1].maneuver.modifier, Some(Modifier::Right));
    }

    #[test]
    fn zero_length_leg_still_departs_and_arrives() {
        let steps = build_steps(&[seg("Rua A", &[(5.0, 5.0), (5.0, 5.0)], &[])]);
        assert_eq!(kinds(&steps), vec![("depart", None), ("arrive", None)]);
        assert_eq!(steps[0].geometry, vec![at(5.0, 5.0), at(5.0, 5.0)]);
        assert_eq!(steps[0].distance, 0.0);
        assert_eq!(steps[0].intersections[0].bearings, vec![0]);
    }

    #[test]
    fn empty_leg_has_no_steps() {
        assert!(build_steps(&[]).is_empty());
        assert_eq!(leg_summary(&[]), "");
    }

    #[test]
    fn summary_picks_the_two_longest_named_roads_in_travel_order() {
        let segs = [
            seg("Rua Curta", &[(0.0, 0.0), (10.0, 0.0)], &[]),
            seg("Avenida Longa", &[(10.0, 0.0), (300.0, 0.0)], &[]),
            seg("", &[(300.0, 0.0), (900.0, 0.0)], &[]),
            seg("Rua Media", &[(900.0, 0.0), (1000.0, 0.0)], &[]),
            seg("Rua Media", &[(1000.0, 0.0), (1100.0, 0.0)], &[]),
            seg("Rua Curta", &[(1100.0, 0.0), (1150.0, 0.0)], &[]),
        ];
        assert_eq!(leg_summary(&segs), "Avenida Longa, Rua Media");
        assert_eq!(leg_summary(&segs[..2]), "Rua Curta, Avenida Longa");
        assert_eq!(leg_summary(&segs[2..3]), "");
    }

    #[test]
    fn serialises_with_osrm_field_names() {
        let steps = build_steps(&roundabout_route());
        let v = serde_json::to_value(&steps[1]).unwrap();
        assert_eq!(v["maneuver"]["type"], "roundabout");
        assert_eq!(v["maneuver"]["exit"], 2);
        assert_eq!(v["mode"], "driving");
        assert_eq!(v["driving_side"], "right");
        assert!(v.get("ref").is_none());
        assert!(v["intersections"][0].get("in").is_some());
        let depart = serde_json::to_value(&steps[0]).unwrap();
        assert!(depart["maneuver"].get("modifier").is_none());
        assert!(depart["maneuver"].get("exit").is_none());
        assert!(depart["intersections"][0].get("in").is_none());
        let mut a = seg("", &[(0.0, 0.0), (100.0, 0.0)], &[]);
        a.reference = "A28";
        let v = serde_json::to_value(&build_steps(&[a])[0]).unwrap();
        assert_eq!(v["ref"], "A28");
        // Locations and geometry in OSRM's order, [lon, lat].
        let p = at(0.0, 0.0);
        assert_eq!(v["maneuver"]["location"], serde_json::json!([p.lon, p.lat]));
        assert_eq!(v["geometry"][0], serde_json::json!([p.lon, p.lat]));
    }
    #[test]
    fn spelling_variants_of_one_street_are_one_step() {
        let segs = [
            seg(
                "Rua Dr. Alfredo Magalhães",
                &[(0.0, 0.0), (100.0, 0.0)],
                &[0],
            ),
            seg(
                "Rua do Doutor Alfredo de Magalhães",
                &[(100.0, 0.0), (200.0, 5.0)],
                &[180],
            ),
            seg(
                "RUA DOUTOR ALFREDO MAGALHAES",
                &[(200.0, 5.0), (300.0, 5.0)],
                &[],
            ),
        ];
        let steps = build_steps(&segs);
        assert_eq!(kinds(&steps), vec![("depart", None), ("arrive", None)]);
        assert_eq!(steps[0].name, "Rua Dr. Alfredo Magalhães");
        // The junctions passed are still listed.
        assert_eq!(steps[0].intersections.len(), 3);
    }

    #[test]
    fn unnamed_piece_between_two_roads_is_not_announced() {
        // Rua A, an unnamed piece straight on, Rua A again: one step.
        let back = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[]),
            seg("", &[(100.0, 0.0), (150.0, 0.0)], &[]),
            seg("Rua A", &[(150.0, 0.0), (250.0, 0.0)], &[]),
        ];
        assert_eq!(
            kinds(&build_steps(&back)),
            vec![("depart", None), ("arrive", None)]
        );
        // Rua A, unnamed, Rua B: one new name, compared with Rua A.
        let on = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[]),
            seg("", &[(100.0, 0.0), (150.0, 0.0)], &[]),
            seg("Rua B", &[(150.0, 0.0), (250.0, 0.0)], &[]),
        ];
        let steps = build_steps(&on);
        assert_eq!(
            kinds(&steps),
            vec![
                ("depart", None),
                ("new name", Some("straight")),
                ("arrive", None)
            ]
        );
        assert_eq!(steps[0].name, "Rua A");
        assert_eq!(steps[1].name, "Rua B");
        assert_eq!(steps[1].maneuver.location, at(150.0, 0.0));
    }

    #[test]
    fn shared_ref_keeps_the_road_when_one_side_has_no_name_of_its_own() {
        // The tiles store the ref as the name of a way without one.
        let a = classed(
            RoadClass::Trunk,
            "EN 14",
            "EN 14",
            &[(0.0, 0.0), (100.0, 0.0)],
            vec![],
        );
        let b = classed(
            RoadClass::Trunk,
            "Via Norte",
            "EN 14",
            &[(100.0, 0.0), (200.0, 0.0)],
            vec![],
        );
        let c = classed(
            RoadClass::Trunk,
            "EN 14",
            "EN 14",
            &[(200.0, 0.0), (300.0, 0.0)],
            vec![],
        );
        assert_eq!(build_steps(&[a, b, c]).len(), 2);
        // Two names of their own are two roads, whatever the ref.
        let d = classed(
            RoadClass::Primary,
            "Rua Dom Pedro V",
            "EN 14",
            &[(0.0, 0.0), (100.0, 0.0)],
            vec![],
        );
        let e = classed(
            RoadClass::Primary,
            "Rua da Espinhosa",
            "EN 14",
            &[(100.0, 0.0), (200.0, 0.0)],
            vec![],
        );
        assert_eq!(build_steps(&[d, e])[1].maneuver.kind, "new name");
    }

    #[test]
    fn t_junction_where_the_road_ends_is_end_of_road() {
        // East on Rua A into a T: Rua T runs north-south, nothing ahead.
        let segs = [
            PathSegment {
                signs: Default::default(),
                others: vec![road(0, "Rua T")],
                ..seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[])
            },
            seg("Rua T", &[(100.0, 0.0), (100.0, -80.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![
                ("depart", None),
                ("end of road", Some("right")),
                ("arrive", None)
            ]
        );
        assert_eq!(steps[1].intersections[0].bearings, vec![0, 180, 270]);
        assert_eq!(steps[1].intersections[0].entry, vec![true, true, false]);
        // With a road going on ahead it is a plain turn.
        let cross = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[0, 90]),
            seg("Rua T", &[(100.0, 0.0), (100.0, -80.0)], &[]),
        ];
        assert_eq!(build_steps(&cross)[1].maneuver.kind, "turn");
        // Where Rua A itself goes on to the left, leaving it to the right is a turn.
        let bend = [
            PathSegment {
                signs: Default::default(),
                others: vec![road(0, "Rua A")],
                ..seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[])
            },
            seg("Rua T", &[(100.0, 0.0), (100.0, -80.0)], &[]),
        ];
        assert_eq!(build_steps(&bend)[1].maneuver.kind, "turn");
    }

    #[test]
    fn split_into_two_similar_branches_is_a_fork() {
        // East on Rua A; Rua B leaves 25° right (taken), Rua C 25° left.
        let segs = [
            PathSegment {
                signs: Default::default(),
                others: vec![road(65, "Rua C")],
                ..seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[])
            },
            seg("Rua B", &[(100.0, 0.0), (190.6, -42.3)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![
                ("depart", None),
                ("fork", Some("slight right")),
                ("arrive", None)
            ]
        );
        // Where Rua A goes on by one branch, taking it is no step, taking the other a turn.
        let stay = [
            PathSegment {
                signs: Default::default(),
                others: vec![road(65, "Rua C")],
                ..seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[])
            },
            seg("Rua A", &[(100.0, 0.0), (190.6, -42.3)], &[]),
        ];
        assert_eq!(build_steps(&stay).len(), 2);
        let leave = [
            PathSegment {
                signs: Default::default(),
                others: vec![road(65, "Rua A")],
                ..seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[])
            },
            seg("Rua B", &[(100.0, 0.0), (190.6, -42.3)], &[]),
        ];
        assert_eq!(
            kinds(&build_steps(&leave))[1],
            ("turn", Some("slight right"))
        );
        // A driveway beside the street is no branch of a fork.
        let mut driveway = road(65, "");
        driveway.class = Some(RoadClass::Service);
        let segs = [
            PathSegment {
                signs: Default::default(),
                others: vec![driveway],
                ..seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[])
            },
            seg("Rua B", &[(100.0, 0.0), (190.6, -42.3)], &[]),
        ];
        assert_eq!(
            kinds(&build_steps(&segs))[1],
            ("turn", Some("slight right"))
        );
    }

    #[test]
    fn ramps_and_merges_follow_the_road_classes() {
        let main_on = |class| Road {
            class: Some(class),
            ..road(90, "A 1")
        };
        // Off the motorway onto a link 20° to the right while the motorway goes on.
        let off = [
            classed(
                RoadClass::Motorway,
                "A 1",
                "A 1",
                &[(0.0, 0.0), (100.0, 0.0)],
                vec![main_on(RoadClass::Motorway)],
            ),
            classed(
                RoadClass::MotorwayLink,
                "",
                "",
                &[(100.0, 0.0), (194.0, -34.2)],
                vec![],
            ),
        ];
        let steps = build_steps(&off);
        assert_eq!(kinds(&steps)[1], ("off ramp", Some("slight right")));
        // The motorway and its link carry OSRM's `motorway` class; other roads none.
        assert_eq!(steps[0].intersections[0].classes, vec!["motorway"]);
        assert_eq!(steps[1].intersections[0].classes, vec!["motorway"]);
        let v = serde_json::to_value(&steps[1].intersections[0]).unwrap();
        assert_eq!(v["classes"], serde_json::json!(["motorway"]));
        // From a city street onto a link: on ramp.
        let on = [
            classed(
                RoadClass::Primary,
                "Rua A",
                "",
                &[(0.0, 0.0), (100.0, 0.0)],
                vec![main_on(RoadClass::Primary)],
            ),
            classed(
                RoadClass::MotorwayLink,
                "",
                "",
                &[(100.0, 0.0), (194.0, -34.2)],
                vec![],
            ),
        ];
        let steps = build_steps(&on);
        assert_eq!(kinds(&steps)[1], ("on ramp", Some("slight right")));
        assert!(steps[0].intersections[0].classes.is_empty());
        let v = serde_json::to_value(&steps[0].intersections[0]).unwrap();
        assert!(v.get("classes").is_none());
        // From the link onto the motorway, bending left into it: merge, no choice needed.
        let merge = [
            classed(
                RoadClass::MotorwayLink,
                "",
                "",
                &[(0.0, 0.0), (100.0, 0.0)],
                vec![],
            ),
            classed(
                RoadClass::Motorway,
                "A 1",
                "A 1",
                &[(100.0, 0.0), (194.0, 34.2)],
                vec![],
            ),
        ];
        assert_eq!(
            kinds(&build_steps(&merge))[1],
            ("merge", Some("slight left"))
        );
        // A primary_link between two streets is no ramp.
        let minor = [
            classed(
                RoadClass::Primary,
                "Rua A",
                "",
                &[(0.0, 0.0), (100.0, 0.0)],
                vec![main_on(RoadClass::Primary)],
            ),
            classed(
                RoadClass::PrimaryLink,
                "",
                "",
                &[(100.0, 0.0), (186.6, -50.0)],
                vec![],
            ),
        ];
        assert_eq!(
            kinds(&build_steps(&minor))[1],
            ("turn", Some("slight right"))
        );
        // A link that meets a city street at a right angle is a turn.
        let end = [
            classed(
                RoadClass::MotorwayLink,
                "",
                "",
                &[(0.0, 0.0), (100.0, 0.0)],
                vec![road(90, "Rua B")],
            ),
            classed(
                RoadClass::Primary,
                "Rua B",
                "",
                &[(100.0, 0.0), (100.0, -80.0)],
                vec![],
            ),
        ];
        assert_eq!(kinds(&build_steps(&end))[1], ("turn", Some("right")));
    }

    #[test]
    fn named_roundabout_is_a_rotary() {
        let mut segs = roundabout_route();
        for s in &mut segs[1..4] {
            s.name = "Rotunda da Boavista";
        }
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![
                ("depart", None),
                ("rotary", Some("left")),
                ("exit rotary", Some("right")),
                ("arrive", None)
            ]
        );
        assert_eq!(steps[1].rotary_name.as_deref(), Some("Rotunda da Boavista"));
        assert_eq!(steps[1].name, "Rua N");
        assert_eq!(steps[2].maneuver.exit, Some(2));
        let v = serde_json::to_value(&steps[1]).unwrap();
        assert_eq!(v["rotary_name"], "Rotunda da Boavista");
        // An unnamed roundabout has no rotary_name field.
        let plain = serde_json::to_value(&build_steps(&roundabout_route())[1]).unwrap();
        assert!(plain.get("rotary_name").is_none());
    }

    #[test]
    fn forbidden_turn_is_not_an_entry() {
        let mut no_left = road(0, "Rua F");
        no_left.entry = false;
        let segs = [
            PathSegment {
                signs: Default::default(),
                others: vec![no_left, road(90, "Rua A")],
                ..seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[])
            },
            seg("Rua B", &[(100.0, 0.0), (100.0, -80.0)], &[]),
        ];
        let x = &build_steps(&segs)[1].intersections[0];
        assert_eq!(x.bearings, vec![0, 90, 180, 270]);
        assert_eq!(x.entry, vec![false, true, true, false]);
        assert_eq!((x.r#in, x.out), (Some(3), Some(2)));
    }
    #[test]
    fn clearly_straighter_branch_or_a_ramp_beside_is_no_fork() {
        // Unnamed ways: ours 5° right, the other 35° left: the obvious way on, no step.
        let obvious = [
            PathSegment {
                signs: Default::default(),
                others: vec![road(55, "")],
                ..seg("", &[(0.0, 0.0), (100.0, 0.0)], &[])
            },
            seg("", &[(100.0, 0.0), (199.6, -8.7)], &[]),
        ];
        assert_eq!(build_steps(&obvious).len(), 2);
        // Staying on the motorway while a link leaves 10° to the right: no fork.
        let ramp = Road {
            class: Some(RoadClass::MotorwayLink),
            ..road(100, "")
        };
        let stay = [
            classed(
                RoadClass::Motorway,
                "A 1",
                "A 1",
                &[(0.0, 0.0), (100.0, 0.0)],
                vec![ramp],
            ),
            classed(
                RoadClass::Motorway,
                "A 1",
                "A 1",
                &[(100.0, 0.0), (200.0, 0.0)],
                vec![],
            ),
        ];
        assert_eq!(build_steps(&stay).len(), 2);
    }

    #[test]
    fn link_back_onto_the_same_road_is_no_merge() {
        // A link piece inside the motorway's own junction, then the same motorway again.
        let segs = [
            classed(
                RoadClass::Motorway,
                "A 1",
                "A 1",
                &[(0.0, 0.0), (100.0, 0.0)],
                vec![],
            ),
            classed(
                RoadClass::MotorwayLink,
                "A 1",
                "A 1",
                &[(100.0, 0.0), (200.0, 0.0)],
                vec![],
            ),
            classed(
                RoadClass::Motorway,
                "A 1",
                "A 1",
                &[(200.0, 0.0), (300.0, 5.0)],
                vec![],
            ),
        ];
        assert_eq!(build_steps(&segs).len(), 2);
    }

    #[test]
    fn bend_on_an_unnamed_way_is_a_turn_and_on_a_named_one_with_a_road_ahead_a_continue() {
        let bend = |name: &'static str, others: &[u16]| {
            [
                seg(name, &[(0.0, 0.0), (100.0, 0.0)], others),
                seg(name, &[(100.0, 0.0), (100.0, -80.0)], &[]),
            ]
        };
        assert_eq!(
            kinds(&build_steps(&bend("", &[90])))[1],
            ("turn", Some("right"))
        );
        assert_eq!(
            kinds(&build_steps(&bend("Rua A", &[90])))[1],
            ("continue", Some("right"))
        );
        // Nothing ahead: the named road's bend is announced as a turn.
        assert_eq!(
            kinds(&build_steps(&bend("Rua A", &[0])))[1],
            ("turn", Some("right"))
        );
    }

    #[test]
    fn small_roundabout_is_a_roundabout_turn_and_a_through_named_one_no_rotary() {
        // Radius 8 m: too small for a rotary, whatever its name; taken like a crossing.
        let r = 8.0;
        let c = |deg: f64| {
            (
                100.0 + r - r * deg.to_radians().cos(),
                -r * deg.to_radians().sin(),
            )
        };
        let segs = vec![
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[]),
            ring("Rotunda Pequena", &[c(0.0), c(45.0), c(90.0)], &[180]),
            ring("Rotunda Pequena", &[c(90.0), c(135.0), c(180.0)], &[]),
            seg("Rua N", &[c(180.0), (c(180.0).0 + 100.0, 0.0)], &[]),
        ];
        let steps = build_steps(&segs);
        assert_eq!(
            kinds(&steps),
            vec![
                ("depart", None),
                ("roundabout turn", Some("straight")),
                ("arrive", None)
            ]
        );
        assert_eq!(steps[1].maneuver.exit, Some(2));
        assert_eq!(steps[1].name, "Rua N");
        assert!(steps[1].rotary_name.is_none());
        let total: f64 = segs[1..].iter().map(|s| s.distance_m).sum();
        assert!(close(steps[1].distance, total));
        // A big ring named like the avenue that runs through it is that avenue, not a rotary.
        let mut through = roundabout_route();
        for s in &mut through[1..4] {
            s.name = "Rua N";
        }
        assert_eq!(build_steps(&through)[1].maneuver.kind, "roundabout");
    }
    #[test]
    fn name_change_at_a_bend_without_choice_is_new_name_with_a_modifier() {
        let segs = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[]),
            seg("Rua B", &[(100.0, 0.0), (100.0, -80.0)], &[]),
        ];
        assert_eq!(kinds(&build_steps(&segs))[1], ("new name", Some("right")));
        // With another road there, the same bend is a turn.
        let choice = [
            seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[0]),
            seg("Rua B", &[(100.0, 0.0), (100.0, -80.0)], &[]),
        ];
        assert_eq!(kinds(&build_steps(&choice))[1], ("turn", Some("right")));
    }

    #[test]
    fn short_stretch_of_another_name_between_one_road_is_folded() {
        let route = |bridge_m: f64| {
            vec![
                seg("Rua A", &[(0.0, 0.0), (100.0, 0.0)], &[0]),
                seg("Ponte X", &[(100.0, 0.0), (100.0 + bridge_m, 0.0)], &[0]),
                seg(
                    "Rua A",
                    &[(100.0 + bridge_m, 0.0), (300.0 + bridge_m, 0.0)],
                    &[],
                ),
            ]
        };
        assert_eq!(
            kinds(&build_steps(&route(150.0))),
            vec![("depart", None), ("arrive", None)]
        );
        let long = build_steps(&route(400.0));
        assert_eq!(long.len(), 4);
        assert_eq!(long[1].name, "Ponte X");
        let total: f64 = route(150.0).iter().map(|s| s.distance_m).sum();
        assert!(close(build_steps(&route(150.0))[0].distance, total));
    }
}
