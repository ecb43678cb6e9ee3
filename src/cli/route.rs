//! `meridian route`: one route on a graph directory or an offline bundle, printed as the
//! server's OSRM JSON, with no server and no network.

use super::open_graph;
use anyhow::{bail, Context, Result};
use meridian::route::osrm::{route_response, Geometries, Overview, ResponseOptions};
use meridian::route::Router;
use meridian::spatial::LatLon;
use meridian::tiles::bundle::{self, Bundle};
use meridian::traffic::HistoricalProfiles;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct RouteArgs {
    /// Graph directory written by `meridian import`.
    #[arg(long, required_unless_present = "bundle", conflicts_with = "bundle")]
    pub graph: Option<PathBuf>,
    /// Offline bundle written by `meridian bundle` (points must lie in its area).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Two or more "lon,lat" points.
    #[arg(required = true, num_args = 2..)]
    pub points: Vec<String>,
    #[arg(long)]
    pub steps: bool,
    /// Departure time (unix seconds) for a bundle's historical profiles (default: now).
    #[arg(long)]
    pub depart: Option<i64>,
}

pub fn run(args: RouteArgs) -> Result<()> {
    let RouteArgs {
        graph,
        bundle,
        points,
        steps,
        depart,
    } = args;
    // A bundle is verified whole on open, so a damaged one fails here, before routing.
    let (store, bundle) = match (&graph, &bundle) {
        (_, Some(path)) => {
            let b = Bundle::open(path)?;
            (b.store(), Some(b))
        }
        (Some(graph), None) => (Arc::new(open_graph(graph)?), None),
        (None, None) => bail!("give --graph or --bundle"),
    };
    let mut router = Router::new(store.clone());
    if let Some(bytes) = bundle.as_ref().and_then(|b| b.profiles()) {
        let profiles = HistoricalProfiles::from_file_bytes(bytes, bundle::PROFILES_MEMBER, &store)
            .context("reading the bundle's traffic profiles")?;
        router = router.with_profiles(Arc::new(profiles));
    }
    let mut coords = Vec::new();
    for p in &points {
        let point = parse_point(p)?;
        if let Some(b) = &bundle {
            b.check_point(point)?;
        }
        coords.push(point);
    }
    let answer = router.route_at(&coords, steps, depart.map(|s| s * 1000))?;
    let opts = ResponseOptions {
        overview: Overview::Full,
        geometries: Geometries::Polyline,
        steps,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&route_response(&answer, &opts))?
    );
    Ok(())
}

/// `"lon,lat"` as a point, in range.
fn parse_point(p: &str) -> Result<LatLon> {
    let Some((lon, lat)) = p.split_once(',') else {
        bail!("point {p:?} is not \"lon,lat\"");
    };
    let (lon, lat): (f64, f64) = (
        lon.trim()
            .parse()
            .with_context(|| format!("bad longitude in {p:?}"))?,
        lat.trim()
            .parse()
            .with_context(|| format!("bad latitude in {p:?}"))?,
    );
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        bail!("point {p:?} is out of range");
    }
    Ok(LatLon::new(lat, lon))
}
