//! The English table over every maneuver type and modifier the guidance emits, and the
//! announcement rule on made-up legs.

use super::announce::{leg_guidance, spoken_distance_m};
use super::*;
use crate::guidance::{Maneuver, Step};
use spatial::LatLon;

fn step(kind: ManeuverType, modifier: Option<Modifier>, name: &str, reference: &str) -> Step {
    Step {
        name: name.into(),
        reference: reference.into(),
        distance: 0.0,
        duration: 0.0,
        weight: 0.0,
        geometry: vec![LatLon::new(41.15, -8.61), LatLon::new(41.15, -8.61)],
        mode: "driving",
        driving_side: "right",
        rotary_name: None,
        destinations: String::new(),
        maneuver: Maneuver {
            location: LatLon::new(41.15, -8.61),
            bearing_before: 0,
            bearing_after: 0,
            kind,
            modifier,
            exit: None,
        },
        intersections: Vec::new(),
    }
}

fn en() -> &'static Language {
    Language::english()
}

fn text(kind: ManeuverType, modifier: Option<Modifier>, name: &str) -> String {
    en().instruction(&step(kind, modifier, name, ""), Stop::ONLY)
}

#[test]
fn every_embedded_table_parses_and_unknown_languages_are_refused() {
    for (locale, _) in TABLES {
        let lang = Language::get(locale).unwrap();
        assert_eq!(lang.locale(), *locale);
    }
    assert!(matches!(
        Language::get("xx"),
        Err(LanguageError::Unknown(l, list)) if l == "xx" && list.contains("en")
    ));
    let broken = TABLES[0].1.replace("\"north\",", "");
    assert!(matches!(
        Language::parse(&broken),
        Err(LanguageError::Invalid { .. })
    ));
    let unknown = TABLES[0].1.replace("Turn {modifier}\"", "Turn {modifer}\"");
    assert!(matches!(
        Language::parse(&unknown),
        Err(LanguageError::Invalid { message, .. }) if message.contains("modifer")
    ));
}

#[test]
fn every_maneuver_and_modifier_reads_as_a_sentence() {
    for kind in MANEUVER_TYPES {
        for modifier in std::iter::once(None).chain(MODIFIERS.map(Some)) {
            for (name, reference) in [("", ""), ("Rua Nova", ""), ("", "A28"), ("Rua Nova", "A28")]
            {
                for exit in [None, Some(2)] {
                    let mut s = step(kind, modifier, name, reference);
                    s.maneuver.exit = exit;
                    for stop in [Stop::ONLY, Stop { leg: 0, legs: 2 }] {
                        for t in [en().instruction(&s, stop), en().upcoming(&s, stop)] {
                            let case = format!(
                                "{kind:?} {modifier:?} {name:?} {reference:?} {exit:?}: {t:?}"
                            );
                            assert!(
                                !t.is_empty() && !t.contains('{') && !t.contains("  "),
                                "{case}"
                            );
                            assert!(t.starts_with(char::is_uppercase), "{case}");
                            assert!(!t.ends_with(' ') && !t.ends_with(','), "{case}");
                            let has_road = !name.is_empty() || !reference.is_empty();
                            // Every form that can name the road does, except the arrival's.
                            if has_road && kind != ManeuverType::Arrive {
                                assert!(
                                    t.contains(if name.is_empty() { reference } else { name }),
                                    "{case}"
                                );
                            }
                            if exit.is_some()
                                && matches!(kind, ManeuverType::Roundabout | ManeuverType::Rotary)
                            {
                                assert!(t.contains("2nd exit"), "{case}");
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn english_instructions_read_as_written() {
    use ManeuverType as T;
    use Modifier as M;
    assert_eq!(
        text(T::Turn, Some(M::Right), "Rua X"),
        "Turn right onto Rua X"
    );
    assert_eq!(text(T::Turn, Some(M::SlightLeft), ""), "Turn slightly left");
    assert_eq!(text(T::Turn, Some(M::Uturn), ""), "Make a U-turn");
    assert_eq!(
        text(T::NewName, Some(M::Straight), "Avenida"),
        "Go on onto Avenida"
    );
    assert_eq!(
        text(T::Continue, Some(M::Left), "Rua X"),
        "Keep going left to stay on Rua X"
    );
    assert_eq!(
        text(T::EndOfRoad, Some(M::Left), ""),
        "At the end of the road, turn left"
    );
    assert_eq!(
        text(T::Fork, Some(M::SlightRight), "A3"),
        "At the fork, keep right onto A3"
    );
    assert_eq!(
        text(T::Merge, Some(M::SlightLeft), "A1"),
        "Merge left onto A1"
    );
    assert_eq!(
        text(T::OnRamp, Some(M::Right), ""),
        "Take the ramp on the right"
    );
    assert_eq!(
        text(T::OffRamp, Some(M::SlightRight), "Saída 5"),
        "Take the exit on the right onto Saída 5"
    );
    assert_eq!(
        text(T::ExitRoundabout, None, "Rua Y"),
        "Leave the roundabout onto Rua Y"
    );
    assert_eq!(
        text(T::RoundaboutTurn, Some(M::Left), "Rua Z"),
        "At the roundabout, turn left onto Rua Z"
    );
    assert_eq!(
        text(T::Arrive, None, "Rua Z"),
        "You have arrived at your destination"
    );
    let mut depart = step(T::Depart, None, "Rua de Cedofeita", "");
    depart.maneuver.bearing_after = 92;
    assert_eq!(
        en().instruction(&depart, Stop::ONLY),
        "Head east on Rua de Cedofeita"
    );
    depart.maneuver.bearing_after = 340;
    depart.name.clear();
    depart.reference = "N12".into();
    assert_eq!(en().instruction(&depart, Stop::ONLY), "Head north on N12");
    let both = step(T::Turn, Some(M::Left), "Via Norte", "N14");
    assert_eq!(
        en().instruction(&both, Stop::ONLY),
        "Turn left onto Via Norte (N14)"
    );
    let same = step(T::Turn, Some(M::Right), "EN 1-14", "EN 1-14");
    assert_eq!(
        en().instruction(&same, Stop::ONLY),
        "Turn right onto EN 1-14"
    );

    let mut round = step(T::Roundabout, None, "Rua Y", "");
    round.maneuver.exit = Some(3);
    assert_eq!(
        en().instruction(&round, Stop::ONLY),
        "At the roundabout, take the 3rd exit onto Rua Y"
    );
    let mut rotary = step(T::Rotary, None, "Rua Y", "");
    rotary.maneuver.exit = Some(1);
    rotary.rotary_name = Some("Rotunda da Boavista".into());
    assert_eq!(
        en().instruction(&rotary, Stop::ONLY),
        "At Rotunda da Boavista, take the 1st exit onto Rua Y"
    );
    rotary.name.clear();
    rotary.maneuver.exit = None;
    assert_eq!(
        en().instruction(&rotary, Stop::ONLY),
        "Go into Rotunda da Boavista"
    );
    let mut leave = step(T::ExitRotary, None, "Rua Y", "");
    leave.rotary_name = Some("Rotunda da Boavista".into());
    assert_eq!(
        en().instruction(&leave, Stop::ONLY),
        "Leave Rotunda da Boavista onto Rua Y"
    );

    let arrive = step(T::Arrive, None, "", "");
    assert_eq!(
        en().instruction(&arrive, Stop { leg: 1, legs: 3 }),
        "You have arrived at your 2nd stop"
    );
    assert_eq!(
        en().instruction(&arrive, Stop { leg: 2, legs: 3 }),
        "You have arrived at your destination"
    );
    assert_eq!(
        en().upcoming(&arrive, Stop::ONLY),
        "You will arrive at your destination"
    );
    assert_eq!(en().ordinal(21), "number 21");
}

#[test]
fn distances_are_said_rounded_down() {
    assert_eq!(spoken_distance_m(417.0), 400.0);
    assert_eq!(spoken_distance_m(180.0), 150.0);
    assert_eq!(spoken_distance_m(87.0), 80.0);
    assert_eq!(spoken_distance_m(1730.0), 1500.0);
    assert_eq!(spoken_distance_m(12_400.0), 12_000.0);
    assert_eq!(en().distance(400.0), "400 metres");
    assert_eq!(en().distance(1000.0), "1 kilometre");
    assert_eq!(en().distance(1500.0), "1.5 kilometres");
    assert_eq!(en().distance(12_000.0), "12 kilometres");
    assert_eq!(
        en().in_distance(400.0, "Turn right onto Rua X"),
        "In 400 metres, turn right onto Rua X"
    );
}

/// A leg: depart along 2 km of road at 14 m/s, turn right, 60 m, turn left, 500 m, arrive.
fn leg() -> Vec<Step> {
    let mut depart = step(ManeuverType::Depart, None, "Avenida da Boavista", "");
    depart.distance = 2000.0;
    depart.duration = 2000.0 / 14.0;
    let mut right = step(ManeuverType::Turn, Some(Modifier::Right), "Rua A", "");
    right.distance = 60.0;
    right.duration = 6.0;
    let mut left = step(ManeuverType::Turn, Some(Modifier::Left), "Rua B", "");
    left.distance = 500.0;
    left.duration = 50.0;
    let arrive = step(ManeuverType::Arrive, None, "Rua B", "");
    vec![depart, right, left, arrive]
}

#[test]
fn announcements_come_ahead_of_the_next_maneuver_scaled_to_speed() {
    let steps = leg();
    let g = leg_guidance(en(), &steps, Stop::ONLY);
    assert_eq!(g.len(), steps.len());
    let said = |k: usize| -> Vec<(f64, &str)> {
        g[k].voice
            .iter()
            .map(|v| (v.distance_along_geometry, v.announcement.as_str()))
            .collect()
    };
    // 14 m/s: early 30 s ahead (420 m, said 400 m), final 6 s (84 m); the 60 m step after the
    // turn is too short to announce apart, so its turn is chained.
    assert_eq!(
        said(0),
        vec![
            (2000.0, "Head north on Avenida da Boavista"),
            (400.0, "In 400 metres, turn right onto Rua A"),
            (84.0, "Turn right onto Rua A, then turn left onto Rua B"),
        ]
    );
    // A 60 m step: only the final one, clamped to the step.
    assert_eq!(said(1), vec![(60.0, "Turn left onto Rua B")]);
    // 10 m/s: early at 300 m, final at 60 m.
    assert_eq!(
        said(2),
        vec![
            (300.0, "In 300 metres, you will arrive at your destination"),
            (60.0, "You have arrived at your destination")
        ]
    );
    assert!(g[3].voice.is_empty() && g[3].banner.is_empty());
    for (k, s) in g.iter().enumerate().take(3) {
        for v in &s.voice {
            assert!(v.distance_along_geometry <= steps[k].distance);
            assert_eq!(
                v.ssml_announcement,
                format!("<speak>{}</speak>", v.announcement)
            );
        }
        assert_eq!(s.banner.len(), 1);
        assert_eq!(s.banner[0].distance_along_geometry, steps[k].distance);
        assert_eq!(
            s.banner[0].primary.kind,
            steps[k + 1].maneuver.kind.as_str()
        );
    }
    assert_eq!(g[0].banner[0].primary.text, "Rua A");
    assert_eq!(g[0].banner[0].primary.modifier, Some("right"));
    // Faster road, farther ahead: at 30 m/s the early one is 900 m out.
    let mut fast = leg();
    fast[0].duration = 2000.0 / 30.0;
    let g = leg_guidance(en(), &fast, Stop::ONLY);
    assert_eq!(g[0].voice[1].distance_along_geometry, 900.0);
    assert_eq!(g[0].voice[2].distance_along_geometry, 180.0);
}

#[test]
fn a_long_step_says_go_on_and_a_short_departure_is_said_with_its_turn() {
    let mut steps = leg();
    // The middle step becomes 5 km long at 20 m/s: "go on" at its start.
    steps[2].distance = 5000.0;
    steps[2].duration = 250.0;
    let g = leg_guidance(en(), &steps, Stop::ONLY);
    assert_eq!(
        g[2].voice[0].announcement,
        "Go on along Rua B for 5 kilometres"
    );
    assert_eq!(g[2].voice[0].distance_along_geometry, 5000.0);
    assert_eq!(
        g[2].voice[1].announcement,
        "In 600 metres, you will arrive at your destination"
    );
    // A 40 m departure: one announcement with the turn.
    let mut steps = leg();
    steps[0].distance = 40.0;
    steps[0].duration = 4.0;
    let g = leg_guidance(en(), &steps, Stop::ONLY);
    let said: Vec<&str> = g[0].voice.iter().map(|v| v.announcement.as_str()).collect();
    assert_eq!(said, vec!["Head north on Avenida da Boavista, then turn right onto Rua A, then turn left onto Rua B"]);
}

#[test]
fn banners_show_the_next_roads_signs_and_lanes() {
    let mut steps = leg();
    steps[1].destinations = "A 28: Porto, Matosinhos".into();
    steps[1].intersections = vec![crate::guidance::Intersection {
        location: LatLon::new(41.15, -8.61),
        bearings: vec![0, 90, 180],
        entry: vec![true, true, true],
        r#in: Some(2),
        out: Some(1),
        classes: Vec::new(),
        lanes: crate::guidance::lanes_for("left|through|right", Modifier::Right),
    }];
    let g = leg_guidance(en(), &steps, Stop::ONLY);
    let banner = &g[0].banner[0];
    let secondary = banner.secondary.as_ref().expect("destinations line");
    assert_eq!(secondary.text, "A 28: Porto, Matosinhos");
    let sub = banner.sub.as_ref().expect("lanes line");
    let lanes: Vec<(&str, Vec<&str>, Option<bool>)> = sub
        .components
        .iter()
        .map(|c| (c.kind, c.directions.clone(), c.active))
        .collect();
    assert_eq!(
        lanes,
        vec![
            ("lane", vec!["left"], Some(false)),
            ("lane", vec!["straight"], Some(false)),
            ("lane", vec!["right"], Some(true)),
        ]
    );
    let v = serde_json::to_value(banner).unwrap();
    assert_eq!(v["sub"]["components"][2]["active"], true);
    assert_eq!(
        v["sub"]["components"][2]["directions"],
        serde_json::json!(["right"])
    );
    assert!(v["primary"]["components"][0].get("active").is_none());
    // Without signs or lanes there is no second line.
    assert!(g[1].banner[0].secondary.is_none() && g[1].banner[0].sub.is_none());
}
