//! Websocket ingest of GPS pings (raw tokio-tungstenite with small buffers, so tens of thousands
//! of idle phones cost little memory).
//!
//! Protocol (JSON text frames):
//! 1. client → `{"type":"auth","device":42,"token":"<hex>"}`, where the token is the hex
//!    HMAC-SHA256 of the device id (decimal) under the server's ingest secret
//!    (`meridian token --device 42` prints it); server → `{"type":"ready","device":42}`.
//! 2. client → `{"type":"ping","seq":1,"ts":1700000000000,"lat":41.15,"lon":-8.61,"speed":12.5,
//!    "heading":90,"accuracy":5}` (`speed` m/s, `heading` degrees, `accuracy` metres optional) or
//!    `{"type":"pings","pings":[...]}`; sequence numbers start at 1 per device.
//!    Or, more cheaply, binary frames of 44-byte pings (see [`decode_binary_pings`]): same
//!    validation, same acks.
//! 3. server → `{"type":"ack","acked":1}` once the ping is committed by a quorum of the Raft
//!    group and fsynced. A client resends what was not acked (after a `NotCommitted` error on
//!    the same connection, or after reconnecting to any node); duplicates are applied once.
//!    A resent ping (seq not above the highest sent on the connection) is exempt from the
//!    timestamp-order check. The rate limit (50/s, burst 200) is per device over all its
//!    connections to this node (`rate_limit`). A ping the state machine refuses is not acked:
//!    error `PingTooOld` (more than 48 h older than the cluster's newest pings) or
//!    `TooManyGaps` (the device has 1,024 gaps in its applied seqs; send the missing ones
//!    first); see `cluster::dedup`.
//! 4. Errors → `{"type":"error","code":"...","message":"...","seq":1}`; a bad ping is refused alone,
//!    a bad token or an oversized frame closes the connection, and so does `NodeFailed` (this
//!    node's Raft core stopped: reconnect to another node and resend).
//! 5. Navigation on the same connection: client → `{"type":"navigate","destination":{"lat":..,
//!    "lon":..}}` (from the last ping's position) → server `{"type":"route","reason":"start",
//!    "route":{OSRM route, polyline6, steps}}`. The destination may be typed text instead
//!    (`"to": "Städtle 38, Vaduz"`; `to` and `destination` are the same field), and `from` (a
//!    point or text) starts the route elsewhere than the last ping; text is geocoded as
//!    `/search` does (rank 1, near the last ping), on the compute pool, and the route frame
//!    then says what was found (`"resolved": {"to": {"query", "display_name", "location"}}`);
//!    text that finds nothing is error `AddressNotFound`. Then after each ping `{"type":"progress",
//!    "distance_remaining":m,"duration_remaining":s,"eta":ms}`, each voice instruction of the route
//!    once, in order, as the device comes within its distance of its maneuver (`{"type":
//!    "instruction","step":i,"announcement":..,"ssml":..,"distance_along_geometry":m,"banner":
//!    {Mapbox banner}}`, before that ping's progress), a `route` with reason `reroute`
//!    when the device left the route, or `faster_route` (with `saving_s`) when traffic makes
//!    another route faster, and `{"type":"arrived"}`. `{"type":"end_navigation"}` stops it.
//!
//! This module is the websocket edge: frames, authentication and its per-address limit, and
//! navigation sessions. What happens to a ping (admission, matching, the log) is
//! [`super::pings`]'s.

use super::pings::{DeviceStream, PingPipeline};
use cluster::batcher::SubmitError;
use cluster::network::constant_time_eq;
use cluster::LoggedPing;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use route::navigation::{NavEvent, NavigationSession};
use route::now_ms;
use route::osrm::{route_response_with, Extras, Geometries, Overview, ResponseOptions};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use spatial::LatLon;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

pub use super::pings::PingMessage;
#[cfg(test)]
use super::pings::{validate, Refused, MAX_AGE_MS, MAX_FUTURE_MS, MAX_SPEED_MS};

/// Largest accepted frame or message: a few hundred pings.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Outgoing frames are buffered up to this before a write (the writer flushes explicitly).
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// A connection must authenticate this soon.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

pub struct IngestContext {
    /// Admission, matching and the log; its router also serves navigation.
    pub pipeline: PingPipeline,
    /// The places index `navigate` geocodes typed addresses with.
    pub geocoder: Arc<super::geocode_api::Geocoder>,
    /// Navigation sessions search routes here, off the runtime that carries the acks.
    pub compute: Arc<super::ComputePool>,
    /// The foot graph's router, for `navigate` with `"profile": "foot"` (none: refused).
    pub foot: Option<Arc<route::Router>>,
    pub secret: Vec<u8>,
    /// Failed authentications per source address.
    pub auth_failures: super::rate_limit::AddressRates,
}

/// Hex HMAC-SHA256 of the device id under the ingest secret.
pub fn device_token(secret: &[u8], device: u64) -> String {
    graph::store::hex(&hmac_sha256(secret, device.to_string().as_bytes()))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Auth {
        device: u64,
        token: String,
    },
    Ping(PingMessage),
    Pings {
        pings: Vec<PingMessage>,
    },
    Navigate {
        /// Where to (`to` is the same field).
        #[serde(default, alias = "to")]
        destination: Option<WireEnd>,
        /// Where from; absent: the last ping's position.
        #[serde(default)]
        from: Option<WireEnd>,
        /// `driving` / `car` (the default) or `foot` / `walking`, as in OSRM URLs.
        #[serde(default)]
        profile: Option<String>,
    },
    EndNavigation,
}

/// A point as the navigate message writes it, `{"lat": .., "lon": ..}`.
#[derive(Clone, Copy, Deserialize)]
struct WirePoint {
    lat: f64,
    lon: f64,
}

/// One end of a navigation: a point, or an address (any text `/search` takes).
#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum WireEnd {
    Point(WirePoint),
    Address(String),
}

/// Why an end of a navigation could not be placed: an error frame's code and message.
struct Unplaced {
    code: &'static str,
    message: String,
}

/// An end placed on the map; `found` is set when it was typed text.
struct Placed {
    point: LatLon,
    found: Option<serde_json::Value>,
}

/// Places one end: a point is checked, text geocoded at rank 1 near `focus`. CPU work for
/// text: runs on the compute pool.
fn place(
    geocoder: &super::geocode_api::Geocoder,
    which: &str,
    end: &WireEnd,
    focus: Option<LatLon>,
) -> Result<Placed, Unplaced> {
    match end {
        WireEnd::Point(p) => {
            let point = LatLon::new(p.lat, p.lon);
            if !point.in_range() {
                return Err(Unplaced {
                    code: "InvalidCoordinate",
                    message: format!("{which} out of range"),
                });
            }
            Ok(Placed { point, found: None })
        }
        WireEnd::Address(text) => {
            let located = geocoder
                .locate(text, focus.map(|f| (f.lat, f.lon)))
                .map_err(|e| Unplaced {
                    code: match e.code {
                        super::ErrorCode::InvalidQuery => "InvalidMessage",
                        other => other.as_str(),
                    },
                    message: format!("{which}: {}", e.message),
                })?;
            let Some(located) = located else {
                return Err(Unplaced {
                    code: "AddressNotFound",
                    message: format!("no address or place matches {text:?} ({which})"),
                });
            };
            Ok(Placed {
                point: located.point,
                found: Some(json!({
                    "query": text,
                    "display_name": located.display_name,
                    "location": [located.point.lon, located.point.lat],
                })),
            })
        }
    }
}

/// Bytes of one ping in a binary frame.
pub const BINARY_PING_BYTES: usize = 44;

/// Pings of a binary frame: each `seq u64, ts i64 (ms), lat f64, lon f64, speed f32 (m/s),
/// heading f32 (degrees), accuracy f32 (metres)`, little endian, NaN for an absent optional
/// field. `None` unless the frame is a non-empty whole number of pings.
pub fn decode_binary_pings(bytes: &[u8]) -> Option<Vec<PingMessage>> {
    if bytes.is_empty() || bytes.len() % BINARY_PING_BYTES != 0 {
        return None;
    }
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    let f32_at = |b: &[u8], i: usize| {
        let v = f32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
        (!v.is_nan()).then_some(v)
    };
    let pings = bytes
        .chunks_exact(BINARY_PING_BYTES)
        .map(|b| PingMessage {
            seq: u64_at(b, 0),
            ts: u64_at(b, 8) as i64,
            lat: f64::from_bits(u64_at(b, 16)),
            lon: f64::from_bits(u64_at(b, 24)),
            speed: f32_at(b, 32),
            heading: f32_at(b, 36),
            accuracy: f32_at(b, 40),
        })
        .collect();
    Some(pings)
}

/// Encodes pings as a binary frame (the inverse of [`decode_binary_pings`]), for clients.
pub fn encode_binary_pings(pings: &[PingMessage]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pings.len() * BINARY_PING_BYTES);
    for p in pings {
        out.extend_from_slice(&p.seq.to_le_bytes());
        out.extend_from_slice(&p.ts.to_le_bytes());
        out.extend_from_slice(&p.lat.to_le_bytes());
        out.extend_from_slice(&p.lon.to_le_bytes());
        for v in [p.speed, p.heading, p.accuracy] {
            out.extend_from_slice(&v.unwrap_or(f32::NAN).to_le_bytes());
        }
    }
    out
}

fn error_frame(code: &str, message: &str, seq: Option<u64>) -> Message {
    Message::Text(
        json!({"type": "error", "code": code, "message": message, "seq": seq})
            .to_string()
            .into(),
    )
}

/// Accepts websocket connections forever.
pub async fn serve_ingest(listener: TcpListener, ctx: Arc<IngestContext>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            handle(stream, peer.ip(), ctx).await;
        });
    }
}

struct Connection {
    /// The authenticated device's pings so far; `None` before authentication.
    stream: Option<DeviceStream>,
    navigation: Option<Navigation>,
}

/// A navigation session and the graph it routes on.
struct Navigation {
    session: NavigationSession,
    router: Arc<route::Router>,
}

impl Navigation {
    /// A walker's pings say nothing about car traffic: they go into the log unmatched.
    fn walking(&self) -> bool {
        self.router.profile() == graph::Profile::Foot
    }
}

impl Connection {
    fn device(&self) -> Option<u64> {
        self.stream.as_ref().map(DeviceStream::device)
    }
}

/// Counts a websocket connection as open for as long as it lives.
struct OpenConnection(Arc<super::metrics::Metrics>);

impl OpenConnection {
    fn new(metrics: Arc<super::metrics::Metrics>) -> Self {
        metrics.connection_opened();
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

/// Whether a connection goes on after a frame.
enum Flow {
    Continue,
    Close,
}

async fn handle(stream: TcpStream, peer: std::net::IpAddr, ctx: Arc<IngestContext>) {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let _open = OpenConnection::new(ctx.pipeline.metrics.clone());
    let (sink, mut source) = ws.split();
    let (out, outgoing) = mpsc::channel::<Message>(1024);
    let writer = tokio::spawn(write_frames(sink, outgoing));
    let mut conn = Connection {
        stream: None,
        navigation: None,
    };
    let deadline = tokio::time::Instant::now() + AUTH_TIMEOUT;
    loop {
        let next = if conn.stream.is_none() {
            match tokio::time::timeout_at(deadline, source.next()).await {
                Ok(m) => m,
                Err(_) => {
                    let _ = out
                        .send(error_frame(
                            "Unauthorized",
                            "authenticate within 10 s",
                            None,
                        ))
                        .await;
                    break;
                }
            }
        } else {
            source.next().await
        };
        // A node whose Raft core stopped can commit nothing: say so and close at once, so the
        // phone resends to another node instead of waiting for a timeout per ping.
        if conn.stream.is_some() && matches!(next, Some(Ok(Message::Text(_) | Message::Binary(_))))
        {
            if let Some(why) = ctx.pipeline.node_failure() {
                let message = format!("this node has failed, reconnect to another node: {why}");
                let _ = out.send(error_frame("NodeFailed", &message, None)).await;
                break;
            }
        }
        let flow = match next {
            None | Some(Ok(Message::Close(_))) => Flow::Close,
            Some(Ok(Message::Text(text))) => match serde_json::from_str(text.as_str()) {
                Ok(message) => on_message(&ctx, &mut conn, peer, message, &out).await,
                Err(e) => {
                    let _ = out
                        .send(error_frame("InvalidMessage", &e.to_string(), None))
                        .await;
                    Flow::Continue
                }
            },
            Some(Ok(Message::Binary(bytes))) => on_binary(&ctx, &mut conn, &bytes, &out).await,
            Some(Ok(_)) => Flow::Continue,
            Some(Err(e)) => {
                let code = match e {
                    tokio_tungstenite::tungstenite::Error::Capacity(_) => "FrameTooLarge",
                    _ => "ProtocolError",
                };
                let _ = out.send(error_frame(code, &e.to_string(), None)).await;
                Flow::Close
            }
        };
        if matches!(flow, Flow::Close) {
            break;
        }
    }
    let _ = out.send(Message::Close(None)).await;
    drop(out);
    let _ = writer.await;
}

/// Sends a connection's frames; frames queued together (the acks of one batch) go out in one
/// write and one flush.
async fn write_frames(
    mut sink: futures_util::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<TcpStream>,
        Message,
    >,
    mut outgoing: mpsc::Receiver<Message>,
) {
    'write: while let Some(first) = outgoing.recv().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            let closing = matches!(m, Message::Close(_));
            if sink.feed(m).await.is_err() || closing {
                let _ = sink.flush().await;
                break 'write;
            }
            next = outgoing.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

/// A binary frame: whole packed pings of an authenticated device.
async fn on_binary(
    ctx: &Arc<IngestContext>,
    conn: &mut Connection,
    bytes: &[u8],
    out: &mpsc::Sender<Message>,
) -> Flow {
    if conn.stream.is_none() {
        let _ = out
            .send(error_frame("Unauthorized", "send auth first", None))
            .await;
        return Flow::Close;
    }
    match decode_binary_pings(bytes) {
        Some(pings) => accept_and_submit(ctx, conn, pings, out).await,
        None => {
            let message = format!(
                "a binary frame holds whole {BINARY_PING_BYTES}-byte pings, not {} bytes",
                bytes.len()
            );
            let _ = out
                .send(error_frame("InvalidMessage", &message, None))
                .await;
        }
    }
    Flow::Continue
}

/// Admits a frame's pings one by one and submits those accepted together.
async fn accept_and_submit(
    ctx: &Arc<IngestContext>,
    conn: &mut Connection,
    pings: Vec<PingMessage>,
    out: &mpsc::Sender<Message>,
) {
    let mut accepted = Vec::with_capacity(pings.len());
    for p in pings {
        accepted.extend(accept_ping(ctx, conn, p, out).await);
    }
    submit_and_ack(ctx, accepted, out);
}

/// A JSON message: authentication first (limited per address), then pings and navigation.
async fn on_message(
    ctx: &Arc<IngestContext>,
    conn: &mut Connection,
    peer: std::net::IpAddr,
    message: ClientMessage,
    out: &mpsc::Sender<Message>,
) -> Flow {
    match (message, conn.device()) {
        (ClientMessage::Auth { .. }, None) if !ctx.auth_failures.has_token(peer) => {
            ctx.pipeline.metrics.ping_refused("RateLimited");
            let _ = out
                .send(error_frame(
                    "RateLimited",
                    "too many failed authentications from this address; retry in a few seconds",
                    None,
                ))
                .await;
            return Flow::Close;
        }
        (ClientMessage::Auth { device, token }, None) => {
            let expected = device_token(&ctx.secret, device);
            if token.len() != expected.len()
                || !constant_time_eq(token.as_bytes(), expected.as_bytes())
            {
                ctx.auth_failures.take(peer);
                let _ = out
                    .send(error_frame("Unauthorized", "bad device token", None))
                    .await;
                return Flow::Close;
            }
            conn.stream = Some(DeviceStream::new(device));
            let ready = json!({"type": "ready", "device": device}).to_string();
            let _ = out.send(Message::Text(ready.into())).await;
        }
        (ClientMessage::Auth { .. }, Some(_)) => {
            let _ = out
                .send(error_frame("InvalidMessage", "already authenticated", None))
                .await;
        }
        (_, None) => {
            let _ = out
                .send(error_frame("Unauthorized", "send auth first", None))
                .await;
            return Flow::Close;
        }
        (ClientMessage::Ping(p), Some(_)) => accept_and_submit(ctx, conn, vec![p], out).await,
        (ClientMessage::Pings { pings }, Some(_)) => accept_and_submit(ctx, conn, pings, out).await,
        (
            ClientMessage::Navigate {
                destination,
                from,
                profile,
            },
            Some(_),
        ) => start_navigation(ctx, conn, destination, from, profile, out).await,
        (ClientMessage::EndNavigation, Some(_)) => {
            conn.navigation = None;
            let ended = json!({"type": "navigation_ended"}).to_string();
            let _ = out.send(Message::Text(ended.into())).await;
        }
    }
    Flow::Continue
}

/// Admits a ping, feeds an active navigation session, and matches it: the ping as it goes into
/// the log, or `None` when it was refused (its error frame is already sent).
async fn accept_ping(
    ctx: &Arc<IngestContext>,
    conn: &mut Connection,
    p: PingMessage,
    out: &mpsc::Sender<Message>,
) -> Option<LoggedPing> {
    let stream = conn.stream.as_mut()?;
    let admitted = match ctx.pipeline.admit(stream, &p, now_ms()) {
        Ok(a) => a,
        Err(refused) => {
            let _ = out
                .send(error_frame(refused.code, &refused.message, Some(p.seq)))
                .await;
            return None;
        }
    };
    // A resend leaves the session where it is (and in `conn`).
    let walking = conn.navigation.as_ref().is_some_and(Navigation::walking);
    let navigation = if admitted.resend {
        None
    } else {
        conn.navigation.take()
    };
    if let Some(navigation) = navigation {
        follow(ctx, conn, navigation, &p, out).await;
    }
    Some(if walking {
        ctx.pipeline.unmatched(&admitted.ping)
    } else {
        ctx.pipeline.matched(&admitted.ping)
    })
}

/// Moves a navigation session on by one position. Progress is cheap, a reroute is a route
/// search: both run on the compute pool, and the session travels there and back.
async fn follow(
    ctx: &Arc<IngestContext>,
    conn: &mut Connection,
    navigation: Navigation,
    p: &PingMessage,
    out: &mpsc::Sender<Message>,
) {
    let Navigation {
        mut session,
        router,
    } = navigation;
    let kept = router.clone();
    let (position, ts, accuracy) = (p.position(), p.ts, p.accuracy.unwrap_or(10.0) as f64);
    let moved = ctx
        .compute
        .run(move || {
            let events = session.on_position(&router, position, ts, accuracy);
            (session, events)
        })
        .await;
    match moved {
        Ok((session, events)) => {
            match events {
                Ok(events) => {
                    for e in events {
                        let _ = out.send(nav_frame(&e)).await;
                    }
                }
                Err(e) => {
                    let _ = out
                        .send(error_frame("NavigationFailed", &e.to_string(), Some(p.seq)))
                        .await;
                }
            }
            if !session.finished {
                conn.navigation = Some(Navigation {
                    session,
                    router: kept,
                });
            }
        }
        Err(e) => {
            let _ = out
                .send(error_frame("NavigationFailed", &e.to_string(), Some(p.seq)))
                .await;
        }
    }
}

/// Submits a frame's accepted pings to the log in one task and acks each once committed.
fn submit_and_ack(ctx: &Arc<IngestContext>, pings: Vec<LoggedPing>, out: &mpsc::Sender<Message>) {
    if pings.is_empty() {
        return;
    }
    let ctx = ctx.clone();
    let out = out.clone();
    tokio::spawn(async move {
        for (seq, result) in ctx.pipeline.submit(pings).await {
            ctx.pipeline.count(&result);
            let frame = match result {
                Ok(()) => Message::Text(format!(r#"{{"type":"ack","acked":{seq}}}"#).into()),
                Err(e @ SubmitError::NotCommitted(_)) => {
                    error_frame("NotCommitted", &e.to_string(), Some(seq))
                }
                Err(e @ SubmitError::NodeFailed(_)) => {
                    error_frame("NodeFailed", &e.to_string(), Some(seq))
                }
                Err(SubmitError::Refused(reason)) => {
                    error_frame(reason.code(), &reason.message(), Some(seq))
                }
            };
            if out.send(frame).await.is_err() {
                return;
            }
        }
    });
}

/// The router a `navigate` message's profile names, or why there is none.
fn navigation_router(
    ctx: &IngestContext,
    profile: Option<&str>,
) -> Result<Arc<route::Router>, String> {
    let car = &ctx.pipeline.router;
    let Some(name) = profile else {
        return Ok(car.clone());
    };
    match graph::Profile::from_url_name(name) {
        Some(graph::Profile::Car) => Ok(car.clone()),
        Some(graph::Profile::Foot) => ctx.foot.clone().ok_or_else(|| {
            format!("profile {name:?} is not served here: this server has no foot graph")
        }),
        None => Err(format!(
            "unknown profile {name:?}; the profiles are \"driving\" (or \"car\") and \"foot\" (or \"walking\")"
        )),
    }
}

async fn start_navigation(
    ctx: &IngestContext,
    conn: &mut Connection,
    destination: Option<WireEnd>,
    from: Option<WireEnd>,
    profile: Option<String>,
    out: &mpsc::Sender<Message>,
) {
    let router = match navigation_router(ctx, profile.as_deref()) {
        Ok(router) => router,
        Err(message) => {
            let code = super::ErrorCode::InvalidOptions.as_str();
            let _ = out.send(error_frame(code, &message, None)).await;
            return;
        }
    };
    let Some(destination) = destination else {
        let message =
            "navigate needs \"destination\" (or \"to\"): {\"lat\":..,\"lon\":..} or an address";
        let _ = out.send(error_frame("InvalidMessage", message, None)).await;
        return;
    };
    let last = conn.stream.as_ref().and_then(DeviceStream::last_position);
    if from.is_none() && last.is_none() {
        let _ = out
            .send(error_frame(
                "NoPosition",
                "send a ping before asking to navigate (or give \"from\")",
                None,
            ))
            .await;
        return;
    }
    let ts = conn
        .stream
        .as_ref()
        .and_then(DeviceStream::last_ts)
        .unwrap_or_else(now_ms);
    let (session_router, geocoder) = (router.clone(), ctx.geocoder.clone());
    // Geocoding scans the vocabulary and routing searches the graph: both on the pool.
    let started = ctx
        .compute
        .run(move || {
            let origin = match &from {
                Some(end) => place(&geocoder, "from", end, last)?,
                None => Placed {
                    point: last.expect("checked above"),
                    found: None,
                },
            };
            let dest = place(&geocoder, "destination", &destination, Some(origin.point))?;
            let mut resolved = serde_json::Map::new();
            for (key, placed) in [("from", &origin), ("to", &dest)] {
                if let Some(found) = &placed.found {
                    resolved.insert(key.into(), found.clone());
                }
            }
            NavigationSession::start(&session_router, origin.point, dest.point, ts)
                .map(|(session, event)| (session, event, resolved))
                .map_err(|e| Unplaced {
                    code: super::ErrorCode::from(&e).as_str(),
                    message: e.to_string(),
                })
        })
        .await;
    let frame = match started {
        Err(e) => error_frame(
            super::ErrorCode::InternalError.as_str(),
            &e.to_string(),
            None,
        ),
        Ok(Err(e)) => error_frame(e.code, &e.message, None),
        Ok(Ok((session, event, resolved))) => {
            conn.navigation = Some(Navigation { session, router });
            let mut frame = nav_value(&event);
            if !resolved.is_empty() {
                frame["resolved"] = serde_json::Value::Object(resolved);
            }
            Message::Text(frame.to_string().into())
        }
    };
    let _ = out.send(frame).await;
}

/// The websocket frame of a navigation event.
fn nav_frame(e: &NavEvent) -> Message {
    Message::Text(nav_value(e).to_string().into())
}

fn nav_value(e: &NavEvent) -> serde_json::Value {
    match e {
        NavEvent::Route {
            reason,
            answer,
            saving_s,
        } => {
            let opts = ResponseOptions {
                overview: Overview::Full,
                geometries: Geometries::Polyline6,
                steps: true,
            };
            // What a navigation SDK reads: the spoken and banner instructions of every step.
            let extras = Extras {
                voice_instructions: true,
                banner_instructions: true,
                ..Extras::default()
            };
            json!({"type": "route", "reason": reason.as_str(), "saving_s": saving_s, "route": route_response_with(answer, &opts, &extras)})
        }
        NavEvent::Progress {
            distance_remaining_m,
            duration_remaining_s,
            eta_ms,
        } => json!({
            "type": "progress",
            "distance_remaining": (distance_remaining_m * 10.0).round() / 10.0,
            "duration_remaining": (duration_remaining_s * 10.0).round() / 10.0,
            "eta": eta_ms,
        }),
        NavEvent::Arrived => json!({"type": "arrived"}),
        NavEvent::Instruction {
            step,
            announcement,
            ssml,
            distance_along_geometry,
            banner,
        } => json!({
            "type": "instruction",
            "step": step,
            "announcement": announcement,
            "ssml": ssml,
            "distance_along_geometry": distance_along_geometry,
            "banner": banner,
        }),
    }
}

#[cfg(test)]
#[path = "ingest_properties.rs"]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex = graph::store::hex(&mac);
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
