//! Cross-origin access for browser clients (Leaflet Routing Machine and the like), as
//! osrm-routed does it: every response carries `Access-Control-Allow-Origin`, and an `OPTIONS`
//! preflight to any path is answered `204 No Content` with the allowed methods and headers.
//! By default any origin may call the API (`*`); a deployment can name the origins it allows
//! instead (`meridian serve --cors-origin https://app.example`), and then the matching origin is
//! echoed with `Vary: Origin`, while other origins get no CORS headers (the browser blocks them).

use std::convert::Infallible;
use std::sync::Arc;
use warp::http::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

/// What osrm-routed allows; the API is read-only GETs, POST only for cluster administration.
const ALLOW_METHODS: &str = "GET, HEAD, POST, OPTIONS";
const ALLOW_HEADERS: &str = "X-Requested-With, Content-Type";
/// Browsers may cache a preflight answer this long (seconds).
const MAX_AGE_S: &str = "86400";

/// Which origins may read the API's answers from a browser.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Cors {
    /// `Access-Control-Allow-Origin: *` on every answer (osrm-routed's behaviour).
    #[default]
    AnyOrigin,
    /// Only these origins (`scheme://host[:port]`, compared exactly as browsers send them).
    Origins(Vec<String>),
}

/// A `--cors-origin` value that is not an origin.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid CORS origin {0:?}: expected \"*\" or scheme://host[:port], e.g. https://app.example"
)]
pub struct InvalidOrigin(pub String);

impl Cors {
    /// From the `--cors-origin` values: none or `*` = any origin, else the listed ones (a value
    /// may hold several, comma-separated).
    pub fn from_args(values: &[String]) -> Result<Cors, InvalidOrigin> {
        let mut origins = Vec::new();
        for v in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
            if v == "*" {
                return Ok(Cors::AnyOrigin);
            }
            let rest = v
                .strip_prefix("https://")
                .or_else(|| v.strip_prefix("http://"));
            match rest {
                Some(host)
                    if !host.is_empty()
                        && !host.contains('/')
                        && HeaderValue::from_str(v).is_ok() =>
                {
                    origins.push(v.to_string())
                }
                _ => return Err(InvalidOrigin(v.to_string())),
            }
        }
        Ok(if origins.is_empty() {
            Cors::AnyOrigin
        } else {
            Cors::Origins(origins)
        })
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if it is allowed.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        match self {
            Cors::AnyOrigin => Some(HeaderValue::from_static("*")),
            Cors::Origins(list) => {
                let origin = origin?.to_str().ok()?;
                list.iter()
                    .any(|o| o == origin)
                    .then(|| HeaderValue::from_str(origin).ok())
                    .flatten()
            }
        }
    }

    /// Adds the CORS headers to an answer for a request with `headers`.
    pub fn decorate(&self, request: &HeaderMap, mut response: Response) -> Response {
        let h = response.headers_mut();
        if let Cors::Origins(_) = self {
            // The answer depends on the Origin header: caches must not share it across origins.
            h.append(VARY, HeaderValue::from_static("Origin"));
        }
        if let Some(allow) = self.allow_origin(request.get(ORIGIN)) {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
            h.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
        }
        response
    }

    /// The answer to an `OPTIONS` preflight (headers added by [`Cors::decorate`]).
    fn preflight() -> Response {
        let mut r = Response::new(Default::default());
        *r.status_mut() = StatusCode::NO_CONTENT;
        r.headers_mut()
            .insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_S));
        r
    }
}

/// `inner` with CORS: `OPTIONS` on any path is a preflight, every answer gets the headers.
pub fn wrap<F>(
    cors: Arc<Cors>,
    inner: F,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone
where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let preflight = warp::options().map(Cors::preflight);
    warp::header::headers_cloned()
        .and(preflight.or(inner).unify())
        .map(move |headers: HeaderMap, response: Response| cors.decorate(&headers, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origin_arguments() {
        assert_eq!(Cors::from_args(&[]).unwrap(), Cors::AnyOrigin);
        assert_eq!(Cors::from_args(&["*".into()]).unwrap(), Cors::AnyOrigin);
        assert_eq!(
            Cors::from_args(&["https://a.example,http://b.example:8080".into()]).unwrap(),
            Cors::Origins(vec![
                "https://a.example".into(),
                "http://b.example:8080".into()
            ])
        );
        assert!(Cors::from_args(&["a.example".into()]).is_err());
        assert!(Cors::from_args(&["https://a.example/path".into()]).is_err());
    }

    #[test]
    fn echoes_only_listed_origins() {
        let cors = Cors::Origins(vec!["https://a.example".into()]);
        let a = HeaderValue::from_static("https://a.example");
        let b = HeaderValue::from_static("https://b.example");
        assert_eq!(cors.allow_origin(Some(&a)), Some(a.clone()));
        assert_eq!(cors.allow_origin(Some(&b)), None);
        assert_eq!(cors.allow_origin(None), None);
        assert_eq!(
            Cors::AnyOrigin.allow_origin(None),
            Some(HeaderValue::from_static("*"))
        );
    }
}
