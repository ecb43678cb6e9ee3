//! The whole ingest path under a real crash: three `meridian serve` processes form the Raft
//! group, phones stream pings over websockets to all three, and the leader's (or a follower's)
//! process is killed with SIGKILL mid-stream. Phones on the dead node reconnect to another node and resend what was
//! not acked; phones on the survivors just keep streaming. Every acked ping must be applied on
//! both survivors exactly once, the survivors must agree on the state hash, and the killed node,
//! restarted from its files, must catch up to the same state.

use crate::common::scratch_dir;
use crate::processes::{drive, open, start_cluster, status, wait_until};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::BTreeSet;
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
    kill_under_load(Victim::Leader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_follower_process_under_websocket_load_loses_no_acked_ping() {
    kill_under_load(Victim::Follower).await;
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    Leader,
    Follower,
}

async fn kill_under_load(victim: Victim) {
    let root = scratch_dir("process-crash");
    let (mut nodes, leader) = start_cluster(&root, |_| Vec::new()).await;
    let client = reqwest::Client::new();
    let killed_node = match victim {
        Victim::Leader => leader,
        Victim::Follower => (leader + 1) % 3,
    };

    // Phones on every node, the leader's included.
    let killed = Arc::new(AtomicBool::new(false));
    let ingests: Vec<SocketAddr> = nodes.iter().map(|n| n.ingest).collect();
    let phones: Vec<_> = (1..=DEVICES)
        .map(|d| {
            let pings = drive(d, PINGS_PER_DEVICE);
            tokio::spawn(phone(d, pings, ingests.clone(), killed.clone()))
        })
        .collect();
    // Kill the victim once a good share of the pings is applied there.
    let victim_addr = nodes[killed_node].http;
    wait_until("pings to flow", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            status(&client, victim_addr)
                .await
                .and_then(|s| s["pings_applied"].as_u64())
                .is_some_and(|n| n >= DEVICES * PINGS_PER_DEVICE / 4)
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
         {reconnects} reconnects, {not_committed} NotCommitted resends, {total} pings in all"
    );
    assert!(acked_before_kill > 0 && (acked_before_kill as u64) < total);
    assert!(
        reconnects >= 1,
        "phones on the killed node must have reconnected"
    );
    for l in &logs {
        assert_eq!(l.acked.len() as u64, PINGS_PER_DEVICE);
    }

    // Every ping (so every acked one) is applied exactly once on both survivors, which agree.
    let survivors: Vec<SocketAddr> = (0..3)
        .filter(|&i| i != killed_node)
        .map(|i| nodes[i].http)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let hash = loop {
        let mut seen = Vec::new();
        for a in &survivors {
            let s = status(&client, *a).await;
            seen.push(s.map(|s| (s["pings_applied"].as_u64(), s["state_hash"].clone())));
        }
        if seen
            .iter()
            .all(|s| s.as_ref().is_some_and(|(n, _)| *n == Some(total)))
            && seen[0].as_ref().map(|s| &s.1) == seen[1].as_ref().map(|s| &s.1)
        {
            break seen[0].as_ref().unwrap().1.as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "survivors did not apply all {total} pings and agree: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The killed node restarts from its files and catches up to the same state.
    nodes[killed_node].restart();
    let back = nodes[killed_node].http;
    wait_until(
        "the restarted node to catch up",
        Duration::from_secs(60),
        || {
            let (client, hash) = (client.clone(), hash.clone());
            async move {
                status(&client, back).await.is_some_and(|s| {
                    s["pings_applied"].as_u64() == Some(total) && s["state_hash"] == hash.as_str()
                })
            }
        },
    )
    .await;
    let s = status(&client, back).await.unwrap();
    assert!(s["live_edges"].as_u64().unwrap() > 0, "{s}");
}
