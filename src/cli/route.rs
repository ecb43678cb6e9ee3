//! `meridian route`: one route on a graph directory or an offline bundle, printed as the
//! server's OSRM JSON, with no server and no network. A point is `lon,lat` or an address,
//! geocoded (rank 1, as `/search` ranks) with the graph's or the bundle's places index.

use super::open_graph;
use anyhow::{bail, Context, Result};
use meridian::places;
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
    /// Two or more points: "lon,lat" or an address ("Städtle 38, Vaduz").
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
    // Loaded only if some point is an address.
    let mut index: Option<places::PlacesIndex> = None;
    let mut coords: Vec<LatLon> = Vec::new();
    for p in &points {
        let point = if looks_like_point(p) {
            parse_point(p)?
        } else {
            if index.is_none() {
                index = Some(match (&bundle, &graph) {
                    (Some(b), _) => b.places()?.with_context(|| {
                        format!(
                            "bundle {} has no places index, so {p:?} cannot be looked up; give lon,lat points or make the bundle again",
                            b.path().display()
                        )
                    })?,
                    (None, Some(g)) => places::PlacesIndex::open_in(g)?.with_context(|| {
                        format!(
                            "graph {} has no places index, so {p:?} cannot be looked up; give lon,lat points or import the map again",
                            g.display()
                        )
                    })?,
                    (None, None) => bail!("give --graph or --bundle"),
                });
            }
            let index = index.as_ref().expect("loaded above");
            // Near the previous point: the second address of a trip is likely close by.
            let focus = coords.last().map(|c| (c.lat, c.lon));
            let found = locate(index, p, focus)?;
            eprintln!(
                "meridian: {p:?} is {} ({:.6},{:.6})",
                found.1, found.0.lon, found.0.lat
            );
            found.0
        };
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

/// Two numbers separated by a comma: meant as `lon,lat` (and refused if out of range), not
/// as an address.
fn looks_like_point(p: &str) -> bool {
    p.split_once(',')
        .is_some_and(|(a, b)| a.trim().parse::<f64>().is_ok() && b.trim().parse::<f64>().is_ok())
}

/// The rank-1 place for an address, with its display name; an error sentence if none (or if
/// rank 1 matches too little of the text: [`places::search::MIN_MATCHED`]).
fn locate(
    index: &places::PlacesIndex,
    text: &str,
    focus: Option<(f64, f64)>,
) -> Result<(LatLon, String)> {
    if text.trim().is_empty() {
        bail!("an empty point or address was given");
    }
    let hits = index.search(&places::Query {
        text,
        focus,
        limit: 1,
    });
    // Rank 1 only if it stands for what was typed, not for one common word of it.
    let Some(hit) = hits
        .first()
        .filter(|h| h.matched >= places::search::MIN_MATCHED)
    else {
        bail!("no address or place matches {text:?} (nor is it a lon,lat point)");
    };
    let e = index.entry(hit.entry);
    let (lat, lon) = e.point();
    Ok((LatLon::new(lat, lon), e.display_name()))
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
