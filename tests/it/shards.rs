//! A sharded cluster in one test: three nodes on real sockets, each hosting a member of both
//! shards' Raft groups of a map cut from the Liechtenstein extract. A phone navigating across
//! the shard border over one websocket gets every ping acked, each ping is applied in the group
//! of the shard it lies in (and only there), a resend of the whole drive is applied once, and
//! when one shard's group loses its quorum its pings are refused with `NotCommitted` naming the
//! shard while the other shard keeps acknowledging.

use crate::cluster::{start_cluster_with, wait_for, NodeOptions};
use crate::common::{junctions, router};
use crate::ingest::{authed, next, now_ms, send};
use meridian::cluster::shards::ShardMap;
use meridian::route::cut_shape;
use meridian::spatial::geohash::Cell;
use meridian::spatial::LatLon;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const GRAPH: &str = "small/liechtenstein-2015-07";

/// Two shards of the graph's tiles, about equal by edges.
pub fn two_shards() -> ShardMap {
    let r = router(GRAPH);
    let tiles: Vec<(Cell, u64)> = r
        .store
        .manifest()
        .tiles
        .iter()
        .map(|t| (t.geohash.parse().unwrap(), t.edges as u64))
        .collect();
    ShardMap::split(&tiles, 2).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_crosses_the_shard_border_and_a_shard_without_quorum_does_not_stop_the_other() {
    let shards = two_shards();
    let shard_of = |p: LatLon| shards.shard_of(p);
    let options = NodeOptions {
        shards: Some(shards.clone()),
        ..Default::default()
    };
    let nodes = start_cluster_with("shards", options).await;
    for n in &nodes {
        assert_eq!(n.host().groups().count(), 2);
    }

    // A drive from a junction of shard 0 to one of shard 1, navigated over one websocket.
    let r = router(GRAPH);
    let j = junctions(&r);
    let a = *j.iter().find(|p| shard_of(**p) == 0).unwrap();
    let b = *j.iter().rev().find(|p| shard_of(**p) == 1).unwrap();
    let mut ws = authed(nodes[0].ingest, 501).await;
    let t0 = now_ms() - 600_000;
    let first =
        json!({"type": "ping", "seq": 1, "ts": t0, "lat": a.lat, "lon": a.lon, "accuracy": 5.0});
    let route = crate::ingest::start_navigation(&mut ws, first.clone(), b).await;
    let line = meridian::route::polyline::decode(
        route["route"]["routes"][0]["geometry"].as_str().unwrap(),
        6,
    )
    .unwrap();
    let total: f64 = line.windows(2).map(|w| w[0].haversine_m(w[1])).sum();
    let mut fixes = vec![a];
    let mut d = 150.0;
    while d < total {
        fixes.push(*cut_shape(&line, 0.0, d).last().unwrap());
        d += 150.0;
    }
    fixes.push(*line.last().unwrap());
    let pings: Vec<Value> = fixes
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let seq = k as u64 + 1;
            json!({"type": "ping", "seq": seq, "ts": t0 + k as i64 * 1000, "lat": p.lat, "lon": p.lon, "accuracy": 5.0})
        })
        .collect();
    let mut expected: BTreeMap<u32, u64> = BTreeMap::new();
    for p in &fixes {
        *expected.entry(shard_of(*p)).or_default() += 1;
    }
    assert!(
        expected.len() == 2,
        "the drive must cross the border: {expected:?}"
    );
    for p in &pings[1..] {
        send(&mut ws, p.clone()).await;
    }
    let (mut acks, mut arrived, mut progress) = (1, false, 0);
    while acks < fixes.len() || !arrived {
        let m = next(&mut ws).await.expect("the connection stays open");
        match m["type"].as_str().unwrap() {
            "ack" => acks += 1,
            "progress" => progress += 1,
            "arrived" => arrived = true,
            "instruction" => {}
            other => panic!("unexpected {other}: {m}"),
        }
    }
    assert!(
        progress + 3 >= fixes.len(),
        "the session went on across the border: {progress} progress frames for {} fixes",
        fixes.len()
    );

    // Each group applied exactly its shard's pings, on every replica, and the replicas agree.
    let applied_everywhere = |expected: &BTreeMap<u32, u64>| {
        nodes.iter().all(|n| {
            n.host()
                .groups()
                .all(|g| g.status().pings_applied == expected[&g.group])
        })
    };
    wait_for(
        "every replica of each group to apply its shard's pings",
        Duration::from_secs(20),
        || applied_everywhere(&expected),
    )
    .await;
    for group in [0, 1] {
        let hashes: std::collections::BTreeSet<String> = nodes
            .iter()
            .map(|n| n.host().group(group).unwrap().status().state_hash)
            .collect();
        assert_eq!(hashes.len(), 1, "group {group}'s replicas disagree");
    }

    // A resend of the whole drive (to another node) is acked and applied once: the position
    // picks the same group every time, whose de-duplication knows the pings.
    let mut again = authed(nodes[2].ingest, 501).await;
    for p in &pings {
        send(&mut again, p.clone()).await;
    }
    let mut acked = 0;
    while acked < pings.len() {
        let m = next(&mut again).await.unwrap();
        assert_eq!(m["type"], "ack", "{m}");
        acked += 1;
    }
    assert!(applied_everywhere(&expected), "a resend was applied again");

    // The shard map and both groups are visible over HTTP.
    let client = reqwest::Client::new();
    let view: Value = client
        .get(format!("http://{}/cluster/shards", nodes[1].addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["shards"].as_array().unwrap().len(), 2, "{view}");
    assert!(view["shards"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["leader"].is_u64()));
    let host: Value = client
        .get(format!("http://{}/cluster", nodes[1].addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(host["groups"].as_array().unwrap().len(), 2, "{host}");
    let metrics = client
        .get(format!("http://{}/metrics", nodes[1].addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for group in [0, 1] {
        let line = format!(
            "meridian_pings_applied_total{{group=\"{group}\"}} {}",
            expected[&group]
        );
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }

    // Shard 1's group loses two of its three members (its cores stop on nodes 2 and 3; their
    // shard-0 members run on). Node 1 still hosts both groups: a ping in shard 1 is refused
    // with NotCommitted naming the shard, a ping in shard 0 sent after it is acked first.
    for n in &nodes[1..] {
        n.host().group(1).unwrap().raft.shutdown().await.unwrap();
    }
    let in_1 = *j.iter().find(|p| shard_of(**p) == 1).unwrap();
    let in_0 = *j.iter().rev().find(|p| shard_of(**p) == 0).unwrap();
    let mut ws = authed(nodes[0].ingest, 502).await;
    let t1 = now_ms() - 1_000;
    send(
        &mut ws,
        json!({"type": "ping", "seq": 1, "ts": t1, "lat": in_1.lat, "lon": in_1.lon}),
    )
    .await;
    send(
        &mut ws,
        json!({"type": "ping", "seq": 2, "ts": t1 + 500, "lat": in_0.lat, "lon": in_0.lon}),
    )
    .await;
    let m = next(&mut ws).await.unwrap();
    assert_eq!(
        (m["type"].as_str(), m["acked"].as_u64()),
        (Some("ack"), Some(2)),
        "{m}"
    );
    let m = next(&mut ws).await.unwrap();
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["code"], "NotCommitted", "{m}");
    assert_eq!(m["seq"], 1, "{m}");
    assert!(
        m["message"].as_str().unwrap().contains("shard 1"),
        "the refusal names the shard: {m}"
    );
    let group0 = nodes[0].host().group(0).unwrap().clone();
    wait_for(
        "shard 0's new ping applied",
        Duration::from_secs(10),
        || group0.state.has_applied(502, 2),
    )
    .await;
    assert!(!nodes[0].host().group(1).unwrap().state.has_applied(502, 1));
}

/// Four `meridian serve` processes, two shards with three voters each (shard 0 on nodes 1-3,
/// shard 1 on nodes 2-4, each other node a learner), formed as `meridian up --nodes 4
/// --shards 2` forms them. SIGKILL of nodes 3 and 4 takes shard 1's quorum: node 1 (a learner
/// of shard 1) refuses shard 1's pings with `NotCommitted` naming the shard and keeps acking
/// shard 0's; once the two are restarted, the resent ping is acked and applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_two_voters_of_one_shard_stops_only_that_shard() {
    use crate::processes::{open, spawn_n_nodes, wait_until, CLUSTER_SECRET};
    use futures_util::SinkExt;
    use meridian::cluster::admin_client::{form_group, spread_voters, Formed};
    use tokio_tungstenite::tungstenite::Message;

    let shards = two_shards();
    let root = crate::common::scratch_dir("shards-processes");
    std::fs::create_dir_all(&root).unwrap();
    let map_file = root.join("shards.json");
    shards.write(&map_file).unwrap();
    let map_arg = map_file.display().to_string();
    let mut nodes = spawn_n_nodes(&root, 4, |_| vec!["--shards".into(), map_arg.clone()]).await;
    let members: Vec<(u64, String)> = nodes.iter().map(|n| (n.id, n.http.to_string())).collect();
    let client = reqwest::Client::new();
    for g in [0, 1] {
        let voter_ids = spread_voters(g, 4, 3);
        let (voters, learners): (Vec<_>, Vec<_>) = members
            .iter()
            .cloned()
            .partition(|(id, _)| voter_ids.contains(id));
        let formed = form_group(
            &client,
            CLUSTER_SECRET,
            g,
            &voters,
            &learners,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(formed, Formed::Initialised);
    }
    // Node 1 follows shard 1 as a learner: its voters are 2-4.
    let node_1 = nodes[0].http;
    wait_until(
        "node 1 to learn shard 1's voters",
        Duration::from_secs(30),
        || {
            let client = client.clone();
            async move {
                let Ok(r) = client
                    .get(format!("http://{node_1}/cluster/1"))
                    .send()
                    .await
                else {
                    return false;
                };
                let view: Value = r.json().await.unwrap_or_default();
                view["voters"] == json!([2, 3, 4]) && view["state"] == "Learner"
            }
        },
    )
    .await;

    let r = router(GRAPH);
    let j = junctions(&r);
    let in_0 = *j.iter().find(|p| shards.shard_of(**p) == 0).unwrap();
    let in_1 = *j.iter().find(|p| shards.shard_of(**p) == 1).unwrap();
    let ping = |seq: u64, ts: i64, p: LatLon| json!({"type": "ping", "seq": seq, "ts": ts, "lat": p.lat, "lon": p.lon, "accuracy": 5.0});
    let frame = |v: Value| Message::Text(v.to_string().into());
    // Both shards ack through node 1 (a voter of shard 0, a learner of shard 1 that forwards).
    let mut ws = open(nodes[0].ingest, 601)
        .await
        .expect("node 1 takes the phone");
    let t0 = now_ms() - 60_000;
    ws.send(frame(ping(1, t0, in_0))).await.unwrap();
    ws.send(frame(ping(2, t0 + 1_000, in_1))).await.unwrap();
    let mut acked = std::collections::BTreeSet::new();
    while acked.len() < 2 {
        let m = next_frame(&mut ws).await;
        assert_eq!(m["type"], "ack", "{m}");
        acked.insert(m["acked"].as_u64().unwrap());
    }

    // Nodes 3 and 4 die: shard 1 keeps one voter of three.
    nodes[2].kill();
    nodes[3].kill();
    ws.send(frame(ping(3, t0 + 2_000, in_1))).await.unwrap();
    ws.send(frame(ping(4, t0 + 3_000, in_0))).await.unwrap();
    let m = next_frame(&mut ws).await;
    assert_eq!(
        (m["type"].as_str(), m["acked"].as_u64()),
        (Some("ack"), Some(4)),
        "{m}"
    );
    let m = next_frame(&mut ws).await;
    assert_eq!(
        (m["type"].as_str(), m["code"].as_str(), m["seq"].as_u64()),
        (Some("error"), Some("NotCommitted"), Some(3)),
        "{m}"
    );
    assert!(m["message"].as_str().unwrap().contains("shard 1"), "{m}");
    // The survivors' openraft lines about the dead members name the group they come from.
    wait_until(
        "a replication error in the survivors' logs",
        Duration::from_secs(30),
        || {
            let dirs: Vec<_> = nodes[..2].iter().map(|n| n.dir.join("serve.log")).collect();
            async move {
                let lines: Vec<String> = dirs
                    .iter()
                    .filter_map(|f| std::fs::read_to_string(f).ok())
                    .flat_map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>())
                    .filter(|l| l.contains("openraft") && l.contains("target=3"))
                    .collect();
                for l in &lines {
                    assert!(l.contains("cluster=meridian-group-"), "no group in: {l}");
                }
                !lines.is_empty()
            }
        },
    )
    .await;

    // Back with their files: shard 1 elects again and the phone's resend is applied.
    nodes[2].restart();
    nodes[3].restart();
    let applied_3 = |http: std::net::SocketAddr| {
        let client = client.clone();
        async move {
            client
                .get(format!("http://{http}/cluster/1"))
                .send()
                .await
                .ok()?
                .json::<Value>()
                .await
                .ok()?["pings_applied"]
                .as_u64()
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        ws.send(frame(ping(3, t0 + 2_000, in_1))).await.unwrap();
        let m = next_frame(&mut ws).await;
        if m["type"] == "ack" && m["acked"] == 3 {
            break;
        }
        assert_eq!(m["code"], "NotCommitted", "{m}");
        assert!(
            std::time::Instant::now() < deadline,
            "shard 1 did not come back: {m}"
        );
    }
    // Shard 1 applied its two pings on every member, the learner included.
    for n in &nodes {
        let http = n.http;
        wait_until(
            "shard 1's pings on every member",
            Duration::from_secs(30),
            || {
                let applied = applied_3(http);
                async move { applied.await == Some(2) }
            },
        )
        .await;
    }
}

/// The next text frame of a process's websocket, as JSON.
async fn next_frame(ws: &mut crate::processes::Ws) -> Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(t.as_str()).unwrap(),
        other => panic!("no frame: {other:?}"),
    }
}
