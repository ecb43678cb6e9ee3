//! Which traveller a graph is built for: a car ([`crate::profile`]) or a walker
//! ([`crate::foot`]). Each profile is its own graph directory (`meridian import --profile
//! foot`), versioned like any graph; the manifest records the profile so that a router knows
//! which turn rules to apply without being told.

use crate::profile::{car_restriction, car_way_profile, RestrictionKind, WayProfile};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The default, and what a manifest without a `profile` field holds.
    #[default]
    Car,
    Foot,
}

impl Profile {
    /// The name `meridian import --profile` and the manifest use.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Car => "car",
            Profile::Foot => "foot",
        }
    }

    /// The profile an OSRM URL names (`/route/v1/{profile}/...`): `driving` or `car`, `foot`
    /// or `walking`; `None` for any other.
    pub fn from_url_name(name: &str) -> Option<Profile> {
        match name {
            "driving" | "car" => Some(Profile::Car),
            "foot" | "walking" => Some(Profile::Foot),
            _ => None,
        }
    }

    /// The URL names of this profile, the OSRM one first.
    pub fn url_names(self) -> [&'static str; 2] {
        match self {
            Profile::Car => ["driving", "car"],
            Profile::Foot => ["foot", "walking"],
        }
    }

    /// For `skip_serializing_if`: car manifests stay as they were before profiles existed.
    pub fn is_car(&self) -> bool {
        *self == Profile::Car
    }

    /// What this profile makes of a way (`None`: not usable).
    pub fn way_profile(self, tags: &[(&str, &str)]) -> Option<WayProfile> {
        match self {
            Profile::Car => car_way_profile(tags),
            Profile::Foot => crate::foot::foot_way_profile(tags),
        }
    }

    /// Whether turn restriction relations bind this traveller (walkers may turn anywhere).
    pub fn uses_turn_restrictions(self) -> bool {
        self == Profile::Car
    }

    /// A restriction relation's meaning for this traveller.
    pub fn restriction(self, tags: &[(&str, &str)]) -> Option<RestrictionKind> {
        if self.uses_turn_restrictions() {
            car_restriction(tags)
        } else {
            None
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;

    /// `car` / `driving` or `foot` / `walking`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::from_url_name(s.trim())
            .ok_or_else(|| format!("unknown profile {s:?} (car or foot)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [Profile::Car, Profile::Foot] {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
            for n in p.url_names() {
                assert_eq!(Profile::from_url_name(n), Some(p));
            }
        }
        assert_eq!(Profile::from_url_name("bike"), None);
        assert!("cycling".parse::<Profile>().is_err());
        assert_eq!(Profile::default(), Profile::Car);
    }

    #[test]
    fn walkers_ignore_turn_restrictions() {
        let tags = [("type", "restriction"), ("restriction", "no_left_turn")];
        assert_eq!(Profile::Car.restriction(&tags), Some(RestrictionKind::No));
        assert_eq!(Profile::Foot.restriction(&tags), None);
    }
}
