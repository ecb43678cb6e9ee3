//! Which graph answers an OSRM request: `/{service}/v1/{profile}/...` names the traveller,
//! `driving` / `car` the car graph and `foot` / `walking` the foot graph (when the server has
//! one, see [`super::ServerOptions::with_foot`]). Each service's handler then checks the name
//! against the graph it was handed, so a profile the server does not route is refused with
//! OSRM's error shape rather than answered on the wrong graph.

use super::route_api::ApiError;
use crate::ErrorCode;
use graph::Profile;
use route::Router;
use std::sync::Arc;

/// The routers of a server: always a car graph's (the default), optionally a foot graph's.
#[derive(Clone)]
pub struct Routers {
    pub car: Arc<Router>,
    pub foot: Option<Arc<Router>>,
}

impl From<Arc<Router>> for Routers {
    /// A car graph alone.
    fn from(car: Arc<Router>) -> Self {
        Routers { car, foot: None }
    }
}

impl Routers {
    /// The router for the profile segment of an OSRM path: the foot router for `foot` /
    /// `walking` when there is one, else the car router (whose handler refuses a profile it
    /// does not serve).
    pub fn for_path(&self, path: &str) -> &Arc<Router> {
        let named = path
            .trim_start_matches('/')
            .split('/')
            .nth(2)
            .and_then(Profile::from_url_name);
        match (named, &self.foot) {
            (Some(Profile::Foot), Some(foot)) => foot,
            _ => &self.car,
        }
    }
}

/// Refuses a URL profile name the graph `served` is not for, as OSRM refuses an unknown
/// profile (`InvalidOptions`).
pub fn check_profile(name: &str, served: Profile) -> Result<(), ApiError> {
    match Profile::from_url_name(name) {
        Some(p) if p == served => Ok(()),
        Some(p) => Err(ApiError::bad(
            ErrorCode::InvalidOptions,
            format!(
                "Profile {name:?} is not served here: this server has no {p} graph (it routes {:?})",
                served.url_names()[0]
            ),
        )),
        None => Err(ApiError::bad(
            ErrorCode::InvalidOptions,
            format!(
                "Unknown profile {name:?}; the profiles are \"driving\" (or \"car\") and \"foot\" (or \"walking\"), this graph routes {:?}",
                served.url_names()[0]
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_against_the_graph() {
        assert!(check_profile("driving", Profile::Car).is_ok());
        assert!(check_profile("car", Profile::Car).is_ok());
        assert!(check_profile("foot", Profile::Foot).is_ok());
        assert!(check_profile("walking", Profile::Foot).is_ok());
        for (name, served) in [
            ("foot", Profile::Car),
            ("walking", Profile::Car),
            ("driving", Profile::Foot),
            ("bike", Profile::Car),
            ("", Profile::Car),
            ("Driving", Profile::Car),
        ] {
            let e = check_profile(name, served).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOptions, "{name}");
            assert_eq!(e.status, 400);
        }
    }
}
