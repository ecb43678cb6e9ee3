//! The whole ingest path under a real crash: three `meridian serve` processes form the Raft
//! group, phones stream pings over websockets to all three, and the leader's (or a follower's)
//! process is killed with SIGKILL mid-stream. Phones on the dead node reconnect to another node and resend what was
//! not acked; phones on the survivors just keep streaming. Every acked ping must be applied on
//! both survivors exactly once, the survivors must agree on the state hash, and the killed node,
//! restarted from its files, must catch up to the same state. The same again on a cluster of two
//! shards (each process hosting a member of both groups): counted and compared per group.

use crate::common::scratch_dir;
use crate::processes::{drive, groups, open, start_cluster, status, wait_until, GroupState};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const DEVICES: u64 = 6;
const PINGS_PER_DEVICE: u64 = 120;
/// Wall-clock pace of each phone (pings carry 1 s apart ping times: a replay after a tunnel).
const SEND_EVERY: Duration = Duration::from_millis(50);

/// What a phone saw: the seqs acked, and how often it had to reconnect.
#[derive(Default)]
struct PhoneLog {
    acked: BTreeSet<u64>,
    /// Seqs acked before the node was killed.
    acked_before_kill: BTreeSet<u64>,
    reconnects: usize,
    not_committed: usize,
}

/// A phone as a real client behaves: streams its pings, and on a lost connection reconnects to
/// the next node and resends everything sent but not acked; a `NotCommitted` error is resent on
/// the same connection. Returns once every ping is acked.
async fn phone(
    device: u64,
    pings: Vec<Value>,
    nodes: Vec<SocketAddr>,
    killed: Arc<AtomicBool>,
) -> PhoneLog {
    let mut log = PhoneLog::default();
    let mut node = device as usize % nodes.len();
    let mut next_seq = 1u64; // next never-sent ping
    let deadline = Instant::now() + Duration::from_secs(120);
    'connection: loop {
        assert!(
            Instant::now() < deadline,
            "device {device}: not all pings acked in time"
        );
        let Some(mut ws) = open(nodes[node], device).await else {
            node = (node + 1) % nodes.len();
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let unacked: Vec<Value> = (1..next_seq)
            .filter(|s| !log.acked.contains(s))
            .map(|s| pings[s as usize - 1].clone())
            .collect();
        if !unacked.is_empty() {
            let frame = json!({"type": "pings", "pings": unacked});
            if ws
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                continue 'connection;
            }
        }
        let mut tick = tokio::time::interval(SEND_EVERY);
        loop {
            if next_seq > PINGS_PER_DEVICE && log.acked.len() as u64 == PINGS_PER_DEVICE {
                let _ = ws.close(None).await;
                return log;
            }
            tokio::select! {
                _ = tick.tick(), if next_seq <= PINGS_PER_DEVICE => {
                    let mut frame = pings[next_seq as usize - 1].clone();
                    frame["type"] = json!("ping");
                    if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                        break;
                    }
                    next_seq += 1;
                }
                m = tokio::time::timeout(Duration::from_secs(10), ws.next()) => {
                    let text = match m {
                        Ok(Some(Ok(Message::Text(t)))) => t,
                        Ok(Some(Ok(_))) => continue,
                        // Closed, reset, or silent for 10 s: try another node.
                        _ => break,
                    };
                    let m: Value = serde_json::from_str(text.as_str()).unwrap();
                    match m["type"].as_str() {
                        Some("ack") => {
                            let seq = m["acked"].as_u64().unwrap();
                            log.acked.insert(seq);
                            if !killed.load(Ordering::SeqCst) {
                                log.acked_before_kill.insert(seq);
                            }
                        }
                        Some("error") if m["code"] == "NotCommitted" => {
                            log.not_committed += 1;
                            let seq = m["seq"].as_u64().unwrap();
                            let frame = json!({"type": "pings", "pings": [pings[seq as usize - 1]]});
                            if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                                break;
                            }
                        }
                        _ => panic!("device {device}: unexpected frame {m}"),
                    }
                }
            }
        }
        log.reconnects += 1;
        node = (node + 1) % nodes.len();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_process_under_websocket_load_loses_no_acked_ping() {
    kill_under_load(Victim::Leader, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_follower_process_under_websocket_load_loses_no_acked_ping() {
    kill_under_load(Victim::Follower, 1).await;
}

/// Two shards: the killed process leads group 0 (and usually group 1: both were initialised
/// from the same node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_process_of_a_sharded_cluster_loses_no_acked_ping_in_any_group() {
    kill_under_load(Victim::Leader, 2).await;
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    Leader,
    Follower,
}

async fn kill_under_load(victim: Victim, shards: usize) {
    let root = scratch_dir(&format!("process-crash-{shards}"));
    std::fs::create_dir_all(&root).unwrap();
    let map = match shards {
        1 => meridian::cluster::shards::ShardMap::single(),
        _ => crate::shards::two_shards(),
    };
    // One shard is the default layout (no --shards); two come from a map file.
    let args = if shards > 1 {
        let map_file = root.join("shards.json");
        map.write(&map_file).unwrap();
        vec!["--shards".to_string(), map_file.display().to_string()]
    } else {
        Vec::new()
    };
    let (mut nodes, leader) = start_cluster(&root, |_| args.clone()).await;
    let client = reqwest::Client::new();
    // Every group of every node knows its leader before the phones start.
    let https: Vec<SocketAddr> = nodes.iter().map(|n| n.http).collect();
    wait_until("a leader in every group", Duration::from_secs(30), || {
        let (client, https) = (client.clone(), https.clone());
        async move {
            for a in &https {
                let Some(host) = crate::processes::host_status(&client, *a).await else {
                    return false;
                };
                let led = host["groups"]
                    .as_array()
                    .is_some_and(|g| g.len() == shards && g.iter().all(|g| g["leader"].is_u64()));
                if !led {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let killed_node = match victim {
        Victim::Leader => leader,
        Victim::Follower => (leader + 1) % 3,
    };

    // Phones on every node, the leader's included.
    let killed = Arc::new(AtomicBool::new(false));
    let ingests: Vec<SocketAddr> = nodes.iter().map(|n| n.ingest).collect();
    // Which group each ping belongs to, by the same map the nodes use.
    let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
    let phones: Vec<_> = (1..=DEVICES)
        .map(|d| {
            let pings = drive(d, PINGS_PER_DEVICE);
            for p in &pings {
                let at = meridian::spatial::LatLon::new(
                    p["lat"].as_f64().unwrap(),
                    p["lon"].as_f64().unwrap(),
                );
                *expected.entry(u64::from(map.shard_of(at))).or_default() += 1;
            }
            tokio::spawn(phone(d, pings, ingests.clone(), killed.clone()))
        })
        .collect();
    if shards > 1 {
        assert_eq!(expected.len(), shards, "pings in every shard: {expected:?}");
    }
    // Kill the victim once a good share of the pings is applied there.
    let victim_addr = nodes[killed_node].http;
    wait_until("pings to flow", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            groups(&client, victim_addr).await.is_some_and(|g| {
                g.iter().map(|g| g.1).sum::<u64>() >= DEVICES * PINGS_PER_DEVICE / 4
            })
        }
    })
    .await;
    nodes[killed_node].kill();
    killed.store(true, Ordering::SeqCst);

    let mut logs = Vec::new();
    for p in phones {
        logs.push(p.await.expect("phone task"));
    }
    let total = DEVICES * PINGS_PER_DEVICE;
    let acked_before_kill: usize = logs.iter().map(|l| l.acked_before_kill.len()).sum();
    let reconnects: usize = logs.iter().map(|l| l.reconnects).sum();
    let not_committed: usize = logs.iter().map(|l| l.not_committed).sum();
    eprintln!(
        "process crash ({victim:?}): {acked_before_kill} pings acked before the kill, \
         {reconnects} reconnects, {not_committed} NotCommitted resends, {total} pings in all \
         ({expected:?} by group)"
    );
    assert!(acked_before_kill > 0 && (acked_before_kill as u64) < total);
    assert!(
        reconnects >= 1,
        "phones on the killed node must have reconnected"
    );
    for l in &logs {
        assert_eq!(l.acked.len() as u64, PINGS_PER_DEVICE);
    }

    // Every ping (so every acked one) is applied exactly once, in its shard's group, on both
    // survivors, which agree group by group.
    let survivors: Vec<SocketAddr> = (0..3)
        .filter(|&i| i != killed_node)
        .map(|i| nodes[i].http)
        .collect();
    let agreed = |seen: &[Option<Vec<GroupState>>]| {
        let applied = |g: &Vec<GroupState>| -> BTreeMap<u64, u64> {
            g.iter().map(|(id, n, _)| (*id, *n)).collect()
        };
        seen.iter()
            .all(|s| s.as_ref().is_some_and(|g| applied(g) == expected))
            && seen[0] == seen[1]
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let hashes = loop {
        let mut seen = Vec::new();
        for a in &survivors {
            seen.push(groups(&client, *a).await);
        }
        if agreed(&seen) {
            break seen[0].clone().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "survivors did not apply all {total} pings ({expected:?} by group) and agree: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The killed node restarts from its files and catches up to the same state in every group.
    nodes[killed_node].restart();
    let back = nodes[killed_node].http;
    wait_until(
        "the restarted node to catch up",
        Duration::from_secs(60),
        || {
            let (client, hashes) = (client.clone(), hashes.clone());
            async move { groups(&client, back).await == Some(hashes) }
        },
    )
    .await;
    let s = status(&client, back).await.unwrap();
    assert!(s["live_edges"].as_u64().unwrap() > 0, "{s}");
}
