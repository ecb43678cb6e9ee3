//! The cluster's HTTP routes on a process ([`ClusterHost`]): status for anyone, membership and
//! forwarded writes behind the cluster secret.
//!
//! - `GET /cluster`: the process and every group it hosts; `GET /cluster/<g>`: one group;
//!   `GET /cluster/shards`: the shard map and, per shard, the leader this process sees.
//! - `POST /cluster/<g>/{init,learner,voters}`: membership of group `g`;
//!   `POST /cluster/{init,learner,voters}`: the same on every hosted group (a layout where each
//!   process hosts a replica of every group, as `meridian up` runs).
//! - `POST /cluster/<g>/write`: a batch a follower forwards to `g`'s leader.

use super::host::ClusterHost;
use super::network::{require_secret, UnknownGroup};
use super::node::{ClusterError, ClusterNode};
use super::shards::ShardId;
use super::{NodeId, PingBatch};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Reply};

#[derive(Deserialize)]
struct InitRequest {
    members: BTreeMap<NodeId, String>,
}

#[derive(Deserialize)]
struct LearnerRequest {
    id: NodeId,
    addr: String,
}

#[derive(Deserialize)]
struct VotersRequest {
    voters: BTreeSet<NodeId>,
}

/// A membership change, as the three admin calls ask for it.
enum Change {
    Init(InitRequest),
    Learner(LearnerRequest),
    Voters(VotersRequest),
}

impl Change {
    async fn apply(&self, node: &ClusterNode) -> Result<(), ClusterError> {
        match self {
            Change::Init(r) => node.initialize(r.members.clone()).await,
            Change::Learner(r) => node.add_learner(r.id, r.addr.clone()).await,
            Change::Voters(r) => node.change_voters(r.voters.clone()).await,
        }
    }
}

fn error_reply(status: StatusCode, message: String) -> warp::reply::Response {
    coded_reply(status, "ClusterError", message)
}

fn coded_reply(status: StatusCode, code: &str, message: String) -> warp::reply::Response {
    warp::reply::with_status(
        warp::reply::json(&serde_json::json!({"code": code, "message": message})),
        status,
    )
    .into_response()
}

/// A JSON body of `T` (at most `limit` bytes), or the 400 `InvalidValue` reply saying what is
/// wrong with it; warp's own JSON rejection would end as the route API's `InvalidUrl`.
fn json_body<T: serde::de::DeserializeOwned + Send>(
    limit: u64,
) -> impl Filter<Extract = (Result<T, Box<warp::reply::Response>>,), Error = warp::Rejection> + Clone
{
    warp::body::content_length_limit(limit)
        .and(warp::body::bytes())
        .map(|body: warp::hyper::body::Bytes| {
            serde_json::from_slice::<T>(&body).map_err(|e| {
                Box::new(coded_reply(
                    StatusCode::BAD_REQUEST,
                    "InvalidValue",
                    format!("malformed request body: {e}"),
                ))
            })
        })
}

/// A parsed request body, or the reply refusing it.
type Body<T> = Result<T, Box<warp::reply::Response>>;

/// Body limit of the membership calls (a few ids and addresses).
const ADMIN_BODY_LIMIT: u64 = 64 * 1024;

/// The membership call `name` (`init`, `learner`, `voters`) as a filter yielding its change.
fn change(
    name: &'static str,
) -> impl Filter<Extract = (Result<Change, Box<warp::reply::Response>>,), Error = warp::Rejection> + Clone
{
    let parse = move |body: warp::hyper::body::Bytes| -> Body<Change> {
        let bad = |e: serde_json::Error| {
            Box::new(coded_reply(
                StatusCode::BAD_REQUEST,
                "InvalidValue",
                format!("malformed request body: {e}"),
            ))
        };
        Ok(match name {
            "init" => Change::Init(serde_json::from_slice(&body).map_err(bad)?),
            "learner" => Change::Learner(serde_json::from_slice(&body).map_err(bad)?),
            _ => Change::Voters(serde_json::from_slice(&body).map_err(bad)?),
        })
    };
    warp::path(name)
        .and(warp::path::end())
        .and(warp::body::content_length_limit(ADMIN_BODY_LIMIT))
        .and(warp::body::bytes())
        .map(parse)
}

/// Every `/cluster...` route of a process.
pub fn cluster_routes(
    host: Arc<ClusterHost>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let with_host = {
        let host = host.clone();
        move || {
            let host = host.clone();
            warp::any().map(move || host.clone())
        }
    };
    let group = {
        let host = host.clone();
        move || {
            let host = host.clone();
            warp::path::param::<ShardId>().and_then(move |id: ShardId| {
                let node = host.group(id).cloned();
                async move { node.ok_or_else(|| warp::reject::custom(UnknownGroup(id))) }
            })
        }
    };
    let get = warp::get().and(warp::path("cluster"));
    let host_status = get
        .and(warp::path::end())
        .and(with_host())
        .map(|h: Arc<ClusterHost>| warp::reply::json(&h.status()).into_response());
    let shards = get
        .and(warp::path("shards"))
        .and(warp::path::end())
        .and(with_host())
        .map(|h: Arc<ClusterHost>| warp::reply::json(&shards_view(&h)).into_response());
    let group_status = get
        .and(group())
        .and(warp::path::end())
        .map(|n: Arc<ClusterNode>| warp::reply::json(&n.status()).into_response());
    let admin = warp::post()
        .and(warp::path("cluster"))
        .and(require_secret(host.secret()));
    let membership = ["init", "learner", "voters"].map(|name| {
        let one = admin.clone().and(group()).and(change(name)).then(
            |n: Arc<ClusterNode>, change: Body<Change>| async move {
                let change = match change {
                    Ok(change) => change,
                    Err(reply) => return *reply,
                };
                match change.apply(&n).await {
                    Ok(()) => warp::reply::json(&n.status()).into_response(),
                    Err(e) => error_reply(StatusCode::CONFLICT, e.to_string()),
                }
            },
        );
        let every = admin.clone().and(with_host()).and(change(name)).then(
            |h: Arc<ClusterHost>, change: Body<Change>| async move {
                let change = match change {
                    Ok(change) => change,
                    Err(reply) => return *reply,
                };
                for n in h.groups() {
                    if let Err(e) = change.apply(n).await {
                        return error_reply(
                            StatusCode::CONFLICT,
                            format!("group {}: {e}", n.group),
                        );
                    }
                }
                warp::reply::json(&h.status()).into_response()
            },
        );
        one.or(every).unify().boxed()
    });
    // A follower's forwarded batch: commit here without forwarding again (no loops); the
    // follower retries elsewhere if this node is no longer the leader.
    let write = admin
        .and(group())
        .and(warp::path("write"))
        .and(warp::path::end())
        .and(json_body(64 * 1024 * 1024))
        .then(|n: Arc<ClusterNode>, batch: Body<PingBatch>| async move {
            let batch = match batch {
                Ok(batch) => batch,
                Err(reply) => return *reply,
            };
            match n.raft.client_write(batch).await {
                Ok(r) => warp::reply::json(&r.data).into_response(),
                Err(e) => error_reply(StatusCode::MISDIRECTED_REQUEST, e.to_string()),
            }
        });
    let [init, learner, voters] = membership;
    host_status
        .or(shards)
        .unify()
        .or(group_status)
        .unify()
        .or(init)
        .unify()
        .or(learner)
        .unify()
        .or(voters)
        .unify()
        .or(write)
        .unify()
}

/// `GET /cluster/shards`: the map, and for each shard the leader and voters this process sees
/// (`null` for a shard it hosts no replica of).
fn shards_view(host: &ClusterHost) -> serde_json::Value {
    let shards: Vec<serde_json::Value> = host
        .shards
        .shards()
        .iter()
        .map(|s| {
            let status = host.group(s.id).map(|n| n.status());
            serde_json::json!({
                "id": s.id,
                "prefixes": s.prefixes,
                "leader": status.as_ref().and_then(|st| st.leader),
                "leader_addr": status.as_ref().and_then(|st| st.leader.and_then(|l| st.members.get(&l).cloned())),
                "voters": status.as_ref().map(|st| st.voters.clone()),
                "pings_applied": status.as_ref().map(|st| st.pings_applied),
            })
        })
        .collect();
    serde_json::json!({
        "version": host.shards.version,
        "node": host.id,
        "shards": shards,
    })
}
