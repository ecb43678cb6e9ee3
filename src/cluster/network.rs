//! Raft RPC over HTTP: the client side openraft calls ([`HttpNetworkFactory`]) and the warp
//! routes that answer it ([`raft_routes`]). A process may host several groups (one per shard),
//! so the group id is in every RPC path: `/raft/<group>/{append,vote,snapshot}`. Every request
//! carries the cluster secret in a header; a node without it is refused with 401 before anything
//! reaches Raft.

use super::shards::ShardId;
use super::{NodeId, Raft, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Reply};

/// Header carrying the shared cluster secret on every node-to-node request.
pub const SECRET_HEADER: &str = "x-meridian-cluster-secret";

#[derive(Clone)]
pub struct HttpNetworkFactory {
    client: reqwest::Client,
    secret: Arc<str>,
    group: ShardId,
}

impl HttpNetworkFactory {
    /// RPCs of `group` carry `secret`; they are made from `source_ip` when given.
    pub fn new(secret: &str, source_ip: Option<std::net::IpAddr>, group: ShardId) -> Self {
        HttpNetworkFactory {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(4)
                .local_address(source_ip)
                .build()
                .expect("an HTTP client with default TLS-less settings always builds"),
            secret: secret.into(),
            group,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetworkFactory {
    type Network = HttpNetwork;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> HttpNetwork {
        HttpNetwork {
            target,
            addr: node.addr.clone(),
            client: self.client.clone(),
            secret: self.secret.clone(),
            group: self.group,
        }
    }
}

pub struct HttpNetwork {
    target: NodeId,
    addr: String,
    client: reqwest::Client,
    secret: Arc<str>,
    group: ShardId,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RpcFailure(String);

impl HttpNetwork {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let url = format!("http://{}/raft/{}/{path}", self.addr, self.group);
        let response = self
            .client
            .post(&url)
            .header(SECRET_HEADER, &*self.secret)
            .timeout(option.hard_ttl())
            .json(request)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        if response.status() != StatusCode::OK {
            let failure = RpcFailure(format!("{url} answered {}", response.status()));
            return Err(RPCError::Network(NetworkError::new(&failure)));
        }
        let result: Result<Resp, RaftError<NodeId, E>> = response
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for HttpNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("vote", &rpc, &option).await
    }
}

/// Passes only requests that carry the cluster secret; others get 401.
pub fn require_secret(
    secret: Arc<str>,
) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>(SECRET_HEADER)
        .and_then(move |given: Option<String>| {
            let ok = given.is_some_and(|g| constant_time_eq(g.as_bytes(), secret.as_bytes()));
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(warp::reject::custom(Unauthorized))
                }
            }
        })
        .untuple_one()
}

/// Rejection for a missing or wrong cluster secret.
#[derive(Debug)]
pub struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}

/// Compares without stopping at the first difference, so timing does not leak the secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// `POST /raft/<group>/{append,vote,snapshot}`: the server side of [`HttpNetwork`] for the
/// groups this process hosts; another group is 404 (the caller's openraft retries).
pub fn raft_routes(
    groups: BTreeMap<ShardId, Raft>,
    secret: Arc<str>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let groups = Arc::new(groups);
    let group = move || {
        let groups = groups.clone();
        warp::path::param::<ShardId>().and_then(move |id: ShardId| {
            let raft = groups.get(&id).cloned();
            async move { raft.ok_or_else(|| warp::reject::custom(UnknownGroup(id))) }
        })
    };
    let base = warp::post()
        .and(warp::path("raft"))
        .and(require_secret(secret));
    let append = base
        .clone()
        .and(group())
        .and(warp::path("append"))
        .and(warp::path::end())
        .and(warp::body::content_length_limit(256 * 1024 * 1024).and(warp::body::json()))
        .then(
            |raft: Raft, req: AppendEntriesRequest<TypeConfig>| async move {
                warp::reply::json(&raft.append_entries(req).await).into_response()
            },
        );
    let vote = base
        .clone()
        .and(group())
        .and(warp::path("vote"))
        .and(warp::path::end())
        .and(warp::body::json())
        .then(|raft: Raft, req: VoteRequest<NodeId>| async move {
            warp::reply::json(&raft.vote(req).await).into_response()
        });
    let snapshot = base
        .and(group())
        .and(warp::path("snapshot"))
        .and(warp::path::end())
        .and(warp::body::content_length_limit(1024 * 1024 * 1024).and(warp::body::json()))
        .then(
            |raft: Raft, req: InstallSnapshotRequest<TypeConfig>| async move {
                warp::reply::json(&raft.install_snapshot(req).await).into_response()
            },
        );
    append.or(vote).unify().or(snapshot).unify()
}

/// Rejection for an RPC or admin call naming a group this process does not host.
#[derive(Debug)]
pub struct UnknownGroup(pub ShardId);
impl warp::reject::Reject for UnknownGroup {}

/// Turns an [`Unauthorized`] rejection into a 401 JSON answer and an [`UnknownGroup`] into 404.
pub fn unauthorized_reply(r: &warp::Rejection) -> Option<warp::reply::Response> {
    if let Some(UnknownGroup(id)) = r.find::<UnknownGroup>() {
        return Some(
            warp::reply::with_status(
                warp::reply::json(&serde_json::json!({
                    "code": "UnknownGroup",
                    "message": format!("this process hosts no replica of group {id}"),
                })),
                StatusCode::NOT_FOUND,
            )
            .into_response(),
        );
    }
    r.find::<Unauthorized>().map(|_| {
        warp::reply::with_status(
            warp::reply::json(&serde_json::json!({
                "code": "Unauthorized",
                "message": "missing or wrong cluster secret",
            })),
            StatusCode::UNAUTHORIZED,
        )
        .into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn secret_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
