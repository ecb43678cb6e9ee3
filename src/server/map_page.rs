//! `GET /`: a self-contained map page. It draws the images of `/tiles/` by their geohash bounds,
//! routes between two clicked points with the service's own `/route` API, and lists the steps.
//!
//! The page is one HTML file with inline CSS and JavaScript compiled into the binary: no build
//! step, no CDN, nothing fetched from anywhere but this server (its Content-Security-Policy
//! says so too), so it works on an offline machine and behind any proxy.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;

/// The page's source.
pub const MAP_HTML: &str = include_str!("assets/map.html");

/// Only this origin: inline script and style are the page itself, images are tiles.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The page with its headers; `304` when the client already has this build's page.
pub fn respond(headers: &HeaderMap, head: bool) -> Response {
    let etag = page_etag();
    let matches = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| super::tile_files::if_none_match_matches(v, etag));
    let mut response = if matches {
        let mut r = Response::new(Default::default());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if head {
        Response::new(Default::default())
    } else {
        Response::new(MAP_HTML.into())
    };
    let h = response.headers_mut();
    if !matches {
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(
            warp::http::header::CONTENT_LENGTH,
            HeaderValue::from(MAP_HTML.len()),
        );
    }
    // Revalidate every time: the page changes with the binary, and a 304 is cheap.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(ETAG, v);
    }
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn page_etag() -> &'static str {
    static ETAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ETAG.get_or_init(|| super::tile_files::etag_of(MAP_HTML.as_bytes()))
}
