//! Text instructions of route steps ("Turn right onto Rua de Santa Catarina", "At the roundabout,
//! take the 2nd exit", "You have arrived at your destination"), from a table per language.
//!
//! A language is data, not code: a JSON table embedded from this folder (`en.json`), listed in
//! [`TABLES`]. A table gives, per maneuver type and modifier (falling back to `default`),
//! templates keyed by the facts the step has:
//!
//! * `plain` (nothing known but the maneuver), `onto` (the road taken is named or has a ref);
//! * `exit` / `exit_onto` where a roundabout step counts its exit;
//! * `named…` variants (`named`, `named_onto`, `named_exit`, `named_exit_onto`) where a rotary
//!   has a name of its own;
//! * `waypoint` for arriving at an intermediate stop (`{nth}`);
//! * `upcoming_<key>` for the spoken announcement made ahead of the maneuver where the plain
//!   form would be wrong ahead of it ("You will arrive…" rather than "You have arrived…").
//!
//! The most specific template the table has wins: with a road, an exit and a rotary name,
//! `named_exit_onto`, then `named_exit`, and so on down to `plain`. Placeholders are `{road}`
//! (the table's `road` forms of name and ref), `{modifier}` (the table's `modifiers` word),
//! `{side}` (its `sides` word, for maneuvers that say left or right only), `{direction}` (the
//! compass direction of a `depart`, from `directions`, eight of them from north clockwise),
//! `{exit}` (an ordinal from `ordinals`), `{rotary}` and `{nth}`. The `spoken` forms wrap an
//! instruction for the voice: "In {distance}, {instruction}", distances in metres and
//! kilometres, "{first}, then {second}".
//!
//! Spoken and banner instructions (which maneuver to announce when, at what distance) are in
//! [`announce`].

pub mod announce;

use super::guidance::{ManeuverType, Modifier, Step};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The embedded tables: locale and JSON. A new language is a new file and a line here.
pub const TABLES: &[(&str, &str)] = &[("en", include_str!("en.json"))];

/// Why a language cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LanguageError {
    #[error("no instruction table for language {0:?} (there are: {1})")]
    Unknown(String, String),
    #[error("the instruction table {locale:?} is not valid: {message}")]
    Invalid { locale: String, message: String },
}

#[derive(Debug, Deserialize)]
struct RoadForms {
    name: String,
    #[serde(rename = "ref")]
    reference: String,
    name_ref: String,
}

#[derive(Debug, Deserialize)]
struct SpokenForms {
    in_distance: String,
    then: String,
    metres: String,
    kilometre: String,
    kilometres: String,
    continue_for: String,
    continue_for_onto: String,
}

/// One language's table, as the JSON file has it.
#[derive(Debug, Deserialize)]
struct Table {
    locale: String,
    /// Whether an instruction after a spoken prefix ("In 400 metres, …") starts lower-case.
    lowercase_after_prefix: bool,
    decimal_separator: String,
    ordinals: Vec<String>,
    ordinal_fallback: String,
    directions: Vec<String>,
    modifiers: HashMap<String, String>,
    sides: HashMap<String, String>,
    road: RoadForms,
    spoken: SpokenForms,
    /// Maneuver type → modifier (or `default`) → template key → template.
    maneuvers: HashMap<String, HashMap<String, HashMap<String, String>>>,
}

/// Every maneuver type the guidance emits; each must have a `default` with a `plain` form.
pub const MANEUVER_TYPES: [ManeuverType; 15] = [
    ManeuverType::Depart,
    ManeuverType::Turn,
    ManeuverType::NewName,
    ManeuverType::Continue,
    ManeuverType::EndOfRoad,
    ManeuverType::Fork,
    ManeuverType::Merge,
    ManeuverType::OnRamp,
    ManeuverType::OffRamp,
    ManeuverType::Roundabout,
    ManeuverType::ExitRoundabout,
    ManeuverType::Rotary,
    ManeuverType::ExitRotary,
    ManeuverType::RoundaboutTurn,
    ManeuverType::Arrive,
];

/// Every modifier; each must have a `modifiers` and a `sides` word.
pub const MODIFIERS: [Modifier; 8] = [
    Modifier::Uturn,
    Modifier::SharpRight,
    Modifier::Right,
    Modifier::SlightRight,
    Modifier::Straight,
    Modifier::SlightLeft,
    Modifier::Left,
    Modifier::SharpLeft,
];

/// Which stop an `arrive` ends at: the leg's index and how many legs the route has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    pub leg: usize,
    pub legs: usize,
}

impl Stop {
    /// A route of one leg.
    pub const ONLY: Stop = Stop { leg: 0, legs: 1 };

    fn intermediate(self) -> bool {
        self.leg + 1 < self.legs
    }
}

/// A language ready to write instructions.
#[derive(Debug)]
pub struct Language {
    table: Table,
}

impl Language {
    /// Parses and checks a table: every maneuver type with a `plain` default, every modifier
    /// with its words, eight directions, ordinals, and templates that only use known
    /// placeholders.
    pub fn parse(json: &str) -> Result<Language, LanguageError> {
        let table: Table = serde_json::from_str(json).map_err(|e| LanguageError::Invalid {
            locale: "?".into(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| LanguageError::Invalid {
            locale: table.locale.clone(),
            message,
        };
        if table.directions.len() != 8 {
            return Err(invalid(format!(
                "directions has {} entries, not 8",
                table.directions.len()
            )));
        }
        if table.ordinals.is_empty() {
            return Err(invalid("ordinals is empty".into()));
        }
        for m in MODIFIERS {
            for (what, words) in [("modifiers", &table.modifiers), ("sides", &table.sides)] {
                if !words.contains_key(m.as_str()) {
                    return Err(invalid(format!("{what} has no word for {:?}", m.as_str())));
                }
            }
        }
        for kind in MANEUVER_TYPES {
            let plain = table
                .maneuvers
                .get(kind.as_str())
                .and_then(|by_modifier| by_modifier.get("default"))
                .and_then(|forms| forms.get("plain"));
            if plain.is_none() {
                return Err(invalid(format!(
                    "maneuver {:?} has no default plain form",
                    kind.as_str()
                )));
            }
        }
        const KNOWN: [&str; 9] = [
            "road",
            "modifier",
            "side",
            "direction",
            "exit",
            "rotary",
            "nth",
            "distance",
            "instruction",
        ];
        for (kind, by_modifier) in &table.maneuvers {
            for forms in by_modifier.values() {
                for template in forms.values() {
                    if let Some(p) = placeholders(template).find(|p| !KNOWN.contains(p)) {
                        return Err(invalid(format!(
                            "maneuver {kind:?}: unknown placeholder {{{p}}} in {template:?}"
                        )));
                    }
                }
            }
        }
        Ok(Language { table })
    }

    /// The language of `locale` (an embedded table), parsed once.
    pub fn get(locale: &str) -> Result<&'static Language, LanguageError> {
        static PARSED: OnceLock<Vec<Result<Language, LanguageError>>> = OnceLock::new();
        let parsed = PARSED.get_or_init(|| {
            TABLES
                .iter()
                .map(|(_, json)| Language::parse(json))
                .collect()
        });
        match TABLES.iter().position(|(l, _)| *l == locale) {
            Some(i) => parsed[i].as_ref().map_err(Clone::clone),
            None => Err(LanguageError::Unknown(
                locale.into(),
                TABLES
                    .iter()
                    .map(|(l, _)| *l)
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// English, the default; its table is checked by the unit tests.
    pub fn english() -> &'static Language {
        Language::get("en").expect("the embedded English table is valid")
    }

    pub fn locale(&self) -> &str {
        &self.table.locale
    }

    /// The instruction of `step`'s maneuver, as written on a list or a banner.
    pub fn instruction(&self, step: &Step, stop: Stop) -> String {
        self.render(step, stop, false)
    }

    /// The instruction said ahead of the maneuver ("you will arrive…" where it differs).
    pub fn upcoming(&self, step: &Step, stop: Stop) -> String {
        self.render(step, stop, true)
    }

    /// The road a step drives onto, as the table writes name and ref; empty when neither.
    pub fn road(&self, step: &Step) -> String {
        let forms = &self.table.road;
        // A ref given as the name too ("EN 1-14 (EN 1-14)") is said once.
        let reference = if step.reference == step.name {
            ""
        } else {
            step.reference.as_str()
        };
        match (step.name.is_empty(), reference.is_empty()) {
            (false, false) => fill(&forms.name_ref, &[("name", &step.name), ("ref", reference)]),
            (false, true) => fill(&forms.name, &[("name", &step.name)]),
            (true, false) => fill(&forms.reference, &[("ref", reference)]),
            (true, true) => String::new(),
        }
    }

    fn render(&self, step: &Step, stop: Stop, upcoming: bool) -> String {
        let kind = step.maneuver.kind;
        let by_modifier = &self.table.maneuvers[kind.as_str()];
        let modifier = step.maneuver.modifier;
        // The modifier's own forms first, then the type's defaults.
        let forms: Vec<&HashMap<String, String>> = modifier
            .and_then(|m| by_modifier.get(m.as_str()))
            .into_iter()
            .chain(by_modifier.get("default"))
            .collect();
        let road = self.road(step);
        let rotary = step.rotary_name.as_deref().filter(|r| !r.is_empty());
        let exit = step.maneuver.exit.filter(|&e| e > 0);
        let waypoint = kind == ManeuverType::Arrive && stop.intermediate();
        // The most specific key first; each fact the step lacks rules out the keys that need it.
        let mut keys: Vec<String> = Vec::new();
        for named in [true, false] {
            for with_exit in [true, false] {
                for onto in [true, false] {
                    if (named && rotary.is_none())
                        || (with_exit && exit.is_none())
                        || (onto && road.is_empty())
                    {
                        continue;
                    }
                    let mut parts = Vec::new();
                    if named {
                        parts.push("named");
                    }
                    if with_exit {
                        parts.push("exit");
                    }
                    if onto {
                        parts.push("onto");
                    }
                    keys.push(if parts.is_empty() {
                        "plain".into()
                    } else {
                        parts.join("_")
                    });
                }
            }
        }
        if waypoint {
            keys.insert(0, "waypoint".into());
        }
        let template = forms
            .iter()
            .find_map(|forms| {
                keys.iter().find_map(|k| {
                    upcoming
                        .then(|| forms.get(&format!("upcoming_{k}")))
                        .flatten()
                        .or_else(|| forms.get(k))
                })
            })
            .expect("parse checked a default plain form");
        let modifier_key = modifier.unwrap_or(Modifier::Straight).as_str();
        let exit_text = exit.map(|e| self.ordinal(e)).unwrap_or_default();
        let nth = self.ordinal(stop.leg as u32 + 1);
        let direction = self.direction(step.maneuver.bearing_after);
        fill(
            template,
            &[
                ("road", &road),
                ("modifier", &self.table.modifiers[modifier_key]),
                ("side", &self.table.sides[modifier_key]),
                ("direction", direction),
                ("exit", &exit_text),
                ("rotary", rotary.unwrap_or("")),
                ("nth", &nth),
            ],
        )
    }

    /// "1st", "2nd", … from the table, past its list the fallback form.
    pub fn ordinal(&self, n: u32) -> String {
        match self.table.ordinals.get((n as usize).wrapping_sub(1)) {
            Some(o) => o.clone(),
            None => fill(&self.table.ordinal_fallback, &[("n", &n.to_string())]),
        }
    }

    /// The compass direction of a bearing (eight sectors of 45°, north centred on 0°).
    pub fn direction(&self, bearing: u16) -> &str {
        let sector = ((f64::from(bearing) + 22.5) / 45.0).floor() as usize % 8;
        &self.table.directions[sector]
    }

    /// A distance as said: metres below a kilometre, else kilometres with one decimal where
    /// it has one. The caller rounds (see [`announce::spoken_distance_m`]).
    pub fn distance(&self, metres: f64) -> String {
        let spoken = &self.table.spoken;
        if metres < 1000.0 {
            return fill(
                &spoken.metres,
                &[("n", &format!("{}", metres.round() as i64))],
            );
        }
        let km = (metres / 100.0).round() / 10.0;
        if km == 1.0 {
            return spoken.kilometre.clone();
        }
        let n = if km.fract() == 0.0 {
            format!("{}", km as i64)
        } else {
            format!("{km:.1}").replace('.', &self.table.decimal_separator)
        };
        fill(&spoken.kilometres, &[("n", &n)])
    }

    /// "In {distance}, {instruction}".
    pub fn in_distance(&self, metres: f64, instruction: &str) -> String {
        fill(
            &self.table.spoken.in_distance,
            &[
                ("distance", &self.distance(metres)),
                ("instruction", &self.after_prefix(instruction)),
            ],
        )
    }

    /// "{first}, then {second}".
    pub fn then(&self, first: &str, second: &str) -> String {
        fill(
            &self.table.spoken.then,
            &[("first", first), ("second", &self.after_prefix(second))],
        )
    }

    /// "Go on for {distance}", along the step's road when it has one.
    pub fn continue_for(&self, step: &Step, metres: f64) -> String {
        let road = self.road(step);
        let template = if road.is_empty() {
            &self.table.spoken.continue_for
        } else {
            &self.table.spoken.continue_for_onto
        };
        fill(
            template,
            &[("road", &road), ("distance", &self.distance(metres))],
        )
    }

    /// An instruction placed after a prefix: lower-case first letter where the language wants.
    fn after_prefix(&self, instruction: &str) -> String {
        if !self.table.lowercase_after_prefix {
            return instruction.to_string();
        }
        let mut chars = instruction.chars();
        match chars.next() {
            Some(c) => c.to_lowercase().chain(chars).collect(),
            None => String::new(),
        }
    }
}

/// The `{name}` placeholders of a template.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

/// Replaces each `{key}` of `template` by its value.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                match values.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(key);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
