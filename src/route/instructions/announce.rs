//! Spoken and banner instructions of a leg's steps, in the shape of the Mapbox Directions v5
//! extension to OSRM v1 (`voiceInstructions`, `bannerInstructions`), which navigation SDKs
//! such as Ferrostar read.
//!
//! As in Mapbox's answers, the instructions of a step announce the maneuver that **ends** it
//! (the next step's), and `distanceAlongGeometry` counts metres back from that maneuver, so it
//! is at most the step's length. The `arrive` step has none: the step before announces it.
//!
//! When to speak, scaled to the step's speed `v` (its length over its duration; 10 m/s when it
//! has no duration) and clamped to its length `L`:
//!
//! * **final**: the maneuver itself ("Turn right onto Rua X"), [`FINAL_S`] seconds ahead at `v`
//!   but not closer than [`FINAL_MIN_M`] (always farther than a navigation session's arrival
//!   radius when the step allows); when the step after the maneuver is shorter than
//!   [`GAP_S`] seconds, the maneuver after it is chained ("…, then turn left").
//! * **early**: "In 400 metres, turn right onto Rua X", [`EARLY_S`] seconds ahead, the distance
//!   rounded down to what is said ([`spoken_distance_m`]: 10 m below 100 m, 50 m below 500,
//!   100 m below 1 km, 500 m below 5 km, whole kilometres beyond), and spoken at exactly that
//!   distance; left out unless it comes at least [`GAP_S`] seconds before the final one.
//! * **go on**: on a step that lasts [`GO_ON_MIN_S`] seconds more than its early announcement,
//!   "Go on along Rua X for 3 kilometres" right after the previous maneuver (again at the
//!   rounded distance).
//! * the **depart** step speaks its own maneuver at its start ("Head north on Rua X"); an
//!   announcement of the next maneuver within [`GAP_S`] seconds of that start is dropped, the
//!   final one then chained to it ("Head north on Rua X, then turn right").
//!
//! One banner per step, shown over the whole step (`distanceAlongGeometry` = `L`): the next
//! maneuver's type and modifier, the road it leads onto (its instruction when the road has no
//! name or ref), and for a roundabout the exit angle (`degrees`, 180 = straight through).

use super::{Language, Stop};
use crate::guidance::{ManeuverType, Step};
use serde::Serialize;

/// The final announcement comes this many seconds ahead of the maneuver…
pub const FINAL_S: f64 = 6.0;
/// …but not closer than this (when the step is longer).
pub const FINAL_MIN_M: f64 = 30.0;
/// The early announcement comes this many seconds ahead.
pub const EARLY_S: f64 = 30.0;
/// Two announcements closer than this (seconds at the step's speed) would overlap.
pub const GAP_S: f64 = 8.0;
/// A step lasting this much longer than its early announcement gets a "go on" at its start.
pub const GO_ON_MIN_S: f64 = 120.0;
/// Speed assumed on a step without duration, m/s.
const FALLBACK_SPEED: f64 = 10.0;

/// One Mapbox `voiceInstructions` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceInstruction {
    /// Metres before the maneuver (the end of the step) to speak at.
    pub distance_along_geometry: f64,
    pub announcement: String,
    pub ssml_announcement: String,
}

/// One Mapbox `bannerInstructions` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BannerInstruction {
    /// Metres before the maneuver to show it from.
    pub distance_along_geometry: f64,
    pub primary: BannerContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary: Option<BannerContent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<BannerContent>,
}

/// A banner's line: text, its components, and the maneuver it shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BannerContent {
    pub text: String,
    pub components: Vec<BannerComponent>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modifier: Option<&'static str>,
    /// Roundabouts: the exit's angle from the entry, 180 = straight through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degrees: Option<u16>,
    pub driving_side: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BannerComponent {
    pub text: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A `lane` component's arrows (OSRM's indications).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub directions: Vec<&'static str>,
    /// A `lane` component: whether it is a lane for the maneuver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl BannerComponent {
    fn text(text: String) -> Self {
        BannerComponent {
            text,
            kind: "text",
            directions: Vec::new(),
            active: None,
        }
    }
}

/// The spoken and visual instructions of one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepGuidance {
    /// Farthest from the maneuver first.
    pub voice: Vec<VoiceInstruction>,
    pub banner: Vec<BannerInstruction>,
}

/// A distance rounded down to what is worth saying.
pub fn spoken_distance_m(m: f64) -> f64 {
    let unit = match m {
        m if m < 100.0 => 10.0,
        m if m < 500.0 => 50.0,
        m if m < 1000.0 => 100.0,
        m if m < 5000.0 => 500.0,
        _ => 1000.0,
    };
    // A hair of slack so that 30 s at 30 m/s is 900 m, not 899.99….
    (m.max(0.0) / unit + 1e-9).floor() * unit
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The step's speed, m/s.
fn speed(step: &Step) -> f64 {
    if step.duration > 0.0 && step.distance > 0.0 {
        step.distance / step.duration
    } else {
        FALLBACK_SPEED
    }
}

/// SSML of a plain announcement: the text, escaped, in a `speak` element.
fn ssml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    format!("<speak>{escaped}</speak>")
}

fn voice(distance_m: f64, text: String) -> VoiceInstruction {
    VoiceInstruction {
        distance_along_geometry: round1(distance_m),
        ssml_announcement: ssml(&text),
        announcement: text,
    }
}

/// The exit angle of a roundabout entered at `entry` and left at `exit` (the `exit roundabout`
/// step after it), 180 = straight through, turning the way right-hand traffic goes round.
fn exit_degrees(entry: &Step, exit: &Step) -> u16 {
    let before = i32::from(entry.maneuver.bearing_before);
    let after = i32::from(exit.maneuver.bearing_after);
    (before - after + 180).rem_euclid(360) as u16
}

/// The instructions of every step of one leg (`stop` says which leg, for the arrival's words).
pub fn leg_guidance(lang: &Language, steps: &[Step], stop: Stop) -> Vec<StepGuidance> {
    (0..steps.len())
        .map(|k| step_guidance(lang, steps, k, stop))
        .collect()
}

fn step_guidance(lang: &Language, steps: &[Step], k: usize, stop: Stop) -> StepGuidance {
    let step = &steps[k];
    let Some(next) = steps.get(k + 1) else {
        return StepGuidance::default();
    };
    if step.maneuver.kind == ManeuverType::Arrive {
        return StepGuidance::default();
    }
    let v = speed(step);
    let length = step.distance.max(0.0);
    let gap = v * GAP_S;

    let next_text = lang.instruction(next, stop);
    // A maneuver right after the next one is said with it.
    let chained = match steps.get(k + 2) {
        Some(after) if next.distance < speed(next) * GAP_S => {
            lang.then(&next_text, &lang.instruction(after, stop))
        }
        _ => next_text.clone(),
    };
    let final_m = length.min((v * FINAL_S).max(FINAL_MIN_M));
    let early_m = spoken_distance_m(length.min(v * EARLY_S));
    let mut said: Vec<(f64, String)> = Vec::new();
    if early_m - final_m >= gap {
        said.push((
            early_m,
            lang.in_distance(early_m, &lang.upcoming(next, stop)),
        ));
    }
    let depart = step.maneuver.kind == ManeuverType::Depart;
    if !depart {
        let go_on_m = spoken_distance_m(length);
        let below = said.first().map_or(final_m, |s| s.0);
        if go_on_m - below >= v * GO_ON_MIN_S {
            said.insert(0, (go_on_m, lang.continue_for(step, go_on_m)));
        }
    }
    if final_m > 0.0 {
        said.push((final_m, chained.clone()));
    }
    if depart {
        let own = lang.instruction(step, stop);
        // The final announcement would overlap the departure's: both are said as one.
        let text = if final_m <= 0.0 || final_m > length - gap {
            said.clear();
            lang.then(&own, &chained)
        } else {
            said.retain(|(m, _)| *m <= length - gap);
            own
        };
        said.insert(0, (length, text));
    }

    let road = lang.road(next);
    let degrees = match next.maneuver.kind {
        ManeuverType::Roundabout | ManeuverType::Rotary => steps
            .get(k + 2)
            .filter(|e| {
                matches!(
                    e.maneuver.kind,
                    ManeuverType::ExitRoundabout | ManeuverType::ExitRotary
                )
            })
            .map(|e| exit_degrees(next, e)),
        _ => None,
    };
    let text = if road.is_empty() { next_text } else { road };
    let line = |text: String, components: Vec<BannerComponent>| BannerContent {
        text,
        components,
        kind: next.maneuver.kind.as_str(),
        modifier: next.maneuver.modifier.map(|m| m.as_str()),
        degrees,
        driving_side: step.driving_side,
    };
    // Where the next road is signposted to, as the second line.
    let secondary = (!next.destinations.is_empty()).then(|| {
        line(
            next.destinations.clone(),
            vec![BannerComponent::text(next.destinations.clone())],
        )
    });
    // The lanes at the maneuver, the ones to take active, as the sub line navigation SDKs draw.
    let lanes = next
        .intersections
        .first()
        .map_or(&[][..], |i| i.lanes.as_slice());
    let sub = (!lanes.is_empty()).then(|| {
        line(
            String::new(),
            lanes
                .iter()
                .map(|l| BannerComponent {
                    text: String::new(),
                    kind: "lane",
                    directions: l.indications.clone(),
                    active: Some(l.valid),
                })
                .collect(),
        )
    });
    let banner = BannerInstruction {
        distance_along_geometry: round1(length),
        primary: line(text.clone(), vec![BannerComponent::text(text)]),
        secondary,
        sub,
    };
    StepGuidance {
        voice: said.into_iter().map(|(m, text)| voice(m, text)).collect(),
        banner: vec![banner],
    }
}
