//! `GET /tiles/index.json` and `GET /tiles/<precision>/<geohash>.png`: the map images of a
//! tiles directory (see [`tiles`]) served the way a static host or CDN would serve them.
//!
//! Paths are parsed strictly, never joined as given: the precision must be 1–12 written without
//! leading zeros and the file name exactly that many geohash characters plus `.png`, so `..`,
//! percent-encoded slashes or absolute paths cannot name anything outside the directory.
//!
//! Images of one graph version never change, so they get a year of `immutable` caching and a
//! strong `ETag` derived from their SHA-256; the index names the graph version and may be
//! replaced by a new rendering, so it is cached briefly. ETags are kept per file (checked
//! against size and modification time) so a revalidation costs a `stat`, not a hash.

use dashmap::DashMap;
use serde_json::json;
use sha2::{Digest, Sha256};
use spatial::geohash;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tiles::index::INDEX_FILE;
use warp::filters::BoxedFilter;
use warp::http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

/// Caching of images: they never change within a graph version, and a new version has new
/// ETags (and usually a new URL prefix at the CDN).
pub const IMAGE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// Caching of `index.json`: short, since re-rendering replaces it in place.
pub const INDEX_CACHE_CONTROL: &str = "public, max-age=60";

/// What a path under `/tiles/` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TileRequest {
    Index,
    Image { geohash: String },
}

impl TileRequest {
    /// Path of the file relative to the tiles directory.
    pub fn relative_path(&self) -> String {
        match self {
            TileRequest::Index => INDEX_FILE.to_string(),
            TileRequest::Image { geohash } => tiles::image_path(geohash),
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            TileRequest::Index => "application/json",
            TileRequest::Image { .. } => "image/png",
        }
    }

    fn cache_control(&self) -> &'static str {
        match self {
            TileRequest::Index => INDEX_CACHE_CONTROL,
            TileRequest::Image { .. } => IMAGE_CACHE_CONTROL,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TilePathError {
    #[error("expected index.json or <precision>/<geohash>.png")]
    Shape,
    #[error("precision must be 1 to 12 without leading zeros")]
    Precision,
    #[error("the image name must be a geohash of the directory's precision followed by .png")]
    Name,
}

/// Parses the path after `/tiles/` (raw, not percent-decoded: `%2F` simply fails the alphabet).
pub fn parse_tile_path(tail: &str) -> Result<TileRequest, TilePathError> {
    if tail == INDEX_FILE {
        return Ok(TileRequest::Index);
    }
    let (dir, file) = tail.split_once('/').ok_or(TilePathError::Shape)?;
    let precision = parse_precision(dir)?;
    let hash = file.strip_suffix(".png").ok_or(TilePathError::Name)?;
    // `is_valid` checks the alphabet (lowercase base32 only, so no '.', '/', '%') and length.
    if hash.len() != precision || !geohash::is_valid(hash) {
        return Err(TilePathError::Name);
    }
    Ok(TileRequest::Image {
        geohash: hash.to_string(),
    })
}

fn parse_precision(s: &str) -> Result<usize, TilePathError> {
    let canonical = !s.is_empty() && s.len() <= 2 && !s.starts_with('0');
    if !canonical || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TilePathError::Precision);
    }
    match s.parse::<usize>() {
        Ok(p) if (1..=geohash::MAX_PRECISION).contains(&p) => Ok(p),
        _ => Err(TilePathError::Precision),
    }
}

/// True if an `If-None-Match` value matches `etag`: `*`, or any listed tag by the weak
/// comparison RFC 9110 prescribes for this header (a `W/` prefix is ignored).
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    let etag = etag.trim_start_matches("W/");
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || (!candidate.is_empty() && candidate.trim_start_matches("W/") == etag)
    })
}

/// Strong ETag of a file's bytes: the first 128 bits of its SHA-256, quoted.
pub fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", graph::store::hex(&digest[..16]))
}

/// A file's ETag and the metadata it was computed for.
#[derive(Clone, Debug)]
struct CachedTag {
    len: u64,
    modified: Option<SystemTime>,
    etag: String,
}

/// A tiles directory and the ETags computed so far.
#[derive(Debug)]
pub struct TileFiles {
    dir: PathBuf,
    etags: DashMap<String, CachedTag>,
}

impl TileFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TileFiles {
            dir: dir.into(),
            etags: DashMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `/tiles/...` routes (GET and HEAD).
    pub fn routes(self: Arc<Self>) -> BoxedFilter<(Response,)> {
        warp::path("tiles")
            .and(warp::path::tail())
            .and(warp::method())
            .and(warp::header::headers_cloned())
            .and_then(
                move |tail: warp::path::Tail, method: Method, headers: HeaderMap| {
                    let files = self.clone();
                    async move {
                        if method != Method::GET && method != Method::HEAD {
                            return Err(warp::reject::not_found());
                        }
                        let inm = if_none_match(&headers);
                        let head = method == Method::HEAD;
                        Ok(files.respond(tail.as_str(), head, inm.as_deref()).await)
                    }
                },
            )
            .boxed()
    }

    /// The answer to a request for `tail` (the path after `/tiles/`).
    pub async fn respond(&self, tail: &str, head: bool, if_none_match: Option<&str>) -> Response {
        let request = match parse_tile_path(tail) {
            Ok(r) => r,
            Err(e) => return not_found(&format!("no such map image: {e}")),
        };
        let rel = request.relative_path();
        let path = self.dir.join(&rel);
        let meta = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => m,
            _ => return not_found(&format!("no map image {rel} on this server")),
        };
        let modified = meta.modified().ok();
        let cached = self
            .etags
            .get(&rel)
            .filter(|c| c.len == meta.len() && c.modified == modified)
            .map(|c| c.etag.clone());
        // A revalidation with a known ETag needs no read at all.
        if let (Some(etag), Some(inm)) = (&cached, if_none_match) {
            if if_none_match_matches(inm, etag) {
                return not_modified(&request, etag);
            }
        }
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(_) => return not_found(&format!("no map image {rel} on this server")),
        };
        let etag = match cached {
            Some(e) if bytes.len() as u64 == meta.len() => e,
            _ => {
                let etag = etag_of(&bytes);
                self.etags.insert(
                    rel,
                    CachedTag {
                        len: bytes.len() as u64,
                        modified,
                        etag: etag.clone(),
                    },
                );
                etag
            }
        };
        if if_none_match.is_some_and(|inm| if_none_match_matches(inm, &etag)) {
            return not_modified(&request, &etag);
        }
        let len = bytes.len();
        let mut response = if head {
            Response::new(Default::default())
        } else {
            Response::new(bytes.into())
        };
        let h = response.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(request.content_type()),
        );
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        set_cache_headers(h, &request, &etag);
        response
    }
}

/// Every `If-None-Match` header of a request joined into one list (they may be repeated).
fn if_none_match(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn set_cache_headers(h: &mut HeaderMap, request: &TileRequest, etag: &str) {
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(request.cache_control()),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(ETAG, v);
    }
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

fn not_modified(request: &TileRequest, etag: &str) -> Response {
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    set_cache_headers(response.headers_mut(), request, etag);
    response
}

/// 404 in the OSRM error shape the rest of the API uses.
pub fn not_found(message: &str) -> Response {
    warp::reply::with_status(
        warp::reply::json(&json!({"code": "NotFound", "message": message})),
        StatusCode::NOT_FOUND,
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_canonical_paths() {
        assert_eq!(parse_tile_path("index.json"), Ok(TileRequest::Index));
        assert_eq!(
            parse_tile_path("5/u0mt2.png"),
            Ok(TileRequest::Image {
                geohash: "u0mt2".into()
            })
        );
        for bad in [
            "",
            "5",
            "5/",
            "05/u0mt2.png",
            "0/.png",
            "13/u0mt2u0mt2u0m.png",
            "5/u0mt.png",
            "5/u0mt2a.png",
            "5/u0mta.png", // 'a' is not in the alphabet
            "5/U0MT2.png",
            "5/u0mt2.PNG",
            "5/u0mt2.png/",
            "5/u0mt2",
            "../5/u0mt2.png",
            "5/../index.json",
            "5/..%2F..png",
            "5%2Fu0mt2.png",
            "/etc/passwd",
            "//etc/passwd",
            "5//u0mt2.png",
            "+5/u0mt2.png",
            "index.json/",
            "./index.json",
        ] {
            assert!(parse_tile_path(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn if_none_match_lists_weak_tags_and_star() {
        let tag = "\"abc\"";
        assert!(if_none_match_matches("\"abc\"", tag));
        assert!(if_none_match_matches("\"x\", \"abc\"", tag));
        assert!(if_none_match_matches("W/\"abc\"", tag));
        assert!(if_none_match_matches("*", tag));
        assert!(!if_none_match_matches("\"abcd\"", tag));
        assert!(!if_none_match_matches("abc", tag));
        assert!(!if_none_match_matches("", tag));
    }

    #[tokio::test]
    async fn etags_are_cached_per_file_and_follow_replacements() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("5")).unwrap();
        let path = dir.path().join("5/u0mt2.png");
        std::fs::write(&path, b"first").unwrap();
        let files = TileFiles::new(dir.path());
        let tag = |r: &Response| r.headers()[ETAG].to_str().unwrap().to_string();
        let first = files.respond("5/u0mt2.png", false, None).await;
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(tag(&first), etag_of(b"first"));
        assert_eq!(files.etags.len(), 1);
        let revalidated = files
            .respond("5/u0mt2.png", false, Some(&tag(&first)))
            .await;
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
        // A re-rendered file (other size) gets a new tag; the old one no longer matches.
        std::fs::write(&path, b"second version").unwrap();
        let replaced = files
            .respond("5/u0mt2.png", false, Some(&tag(&first)))
            .await;
        assert_eq!(replaced.status(), StatusCode::OK);
        assert_eq!(tag(&replaced), etag_of(b"second version"));
        assert_eq!(files.etags.len(), 1);
        let missing = files.respond("5/u0mt3.png", false, None).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn etags_are_quoted_and_content_derived() {
        let a = etag_of(b"one");
        assert_eq!(a.len(), 34);
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_ne!(a, etag_of(b"two"));
        assert_eq!(a, etag_of(b"one"));
    }
}
