//! The `code` of every HTTP error answer, as OSRM names them (clients switch on these), with
//! the HTTP status each one is sent with; one mapping from routing failures to codes.

use route::RouteError;
use warp::http::StatusCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Not a URL of any service, a bad escape, or not a GET.
    InvalidUrl,
    InvalidService,
    InvalidVersion,
    /// Unknown profile, wrong list counts, indexes out of range.
    InvalidOptions,
    /// Malformed query string or coordinates, unknown option.
    InvalidQuery,
    /// A value out of range or of the wrong kind.
    InvalidValue,
    /// More coordinates, cells or results than the server's limits.
    TooBig,
    NoSegment,
    NoRoute,
    /// `/trip`: some point cannot reach another.
    NoTrips,
    /// `/match`: no two consecutive trace points could be matched.
    NoMatch,
    /// A valid option Meridian does not apply yet.
    NotImplemented,
    /// The compute pool is full: retry after the `Retry-After` seconds.
    Busy,
    InternalError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidUrl => "InvalidUrl",
            ErrorCode::InvalidService => "InvalidService",
            ErrorCode::InvalidVersion => "InvalidVersion",
            ErrorCode::InvalidOptions => "InvalidOptions",
            ErrorCode::InvalidQuery => "InvalidQuery",
            ErrorCode::InvalidValue => "InvalidValue",
            ErrorCode::TooBig => "TooBig",
            ErrorCode::NoSegment => "NoSegment",
            ErrorCode::NoRoute => "NoRoute",
            ErrorCode::NoTrips => "NoTrips",
            ErrorCode::NoMatch => "NoMatch",
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::Busy => "Busy",
            ErrorCode::InternalError => "InternalError",
        }
    }

    /// The HTTP status the code is answered with: 400 for what the client can fix, 503 when
    /// busy, 500 for our own failures.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<&RouteError> for ErrorCode {
    fn from(e: &RouteError) -> Self {
        match e {
            RouteError::NoSegment(_) => ErrorCode::NoSegment,
            RouteError::NoRoute => ErrorCode::NoRoute,
            // Only `algorithm=overlay` on a server started without `--overlay` asks for it.
            RouteError::NoOverlay => ErrorCode::InvalidValue,
            RouteError::Store(_) => ErrorCode::InternalError,
        }
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
