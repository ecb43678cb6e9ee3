//! Network partitions between real `meridian serve` processes. Every node advertises the address
//! of a test-owned TCP proxy (`proxy.rs`), so all Raft traffic between nodes crosses links the
//! test can cut. Phones stream pings over websockets to all three nodes; one node (the leader, or
//! a follower) is cut off from both others in both directions while they stream, then healed.
//!
//! While it is cut off, the isolated node is a minority of one: no ping sent to it after the cut
//! is acked and it applies nothing, while the majority (electing a new leader if it lost the old
//! one) keeps acking. Phones on the isolated node that hear nothing for a while reconnect to
//! another node and resend what was not acked, as real clients do; one phone stays on the
//! isolated node throughout. After the heal the isolated node follows the majority's leader,
//! every ping is acked, and all three nodes apply each ping exactly once and agree on the hash.

use crate::common::scratch_dir;
use crate::processes::{drive, form_group, open, spawn_nodes, status, wait_until};
use crate::proxy::Net;
use futures_util::{SinkExt, StreamExt};
use meridian::cluster::node::WRITE_TIMEOUT;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Phones that move to another node when theirs goes quiet, plus one that stays put.
const DEVICES: u64 = 6;
const STUBBORN: u64 = DEVICES + 1;
const PINGS_PER_DEVICE: u64 = 300;
const SEND_EVERY: Duration = Duration::from_millis(50);
/// A phone with unacked pings and no ack for this long tries the next node.
const SILENCE: Duration = Duration::from_secs(2);
/// The partition lasts at least this long (and until the majority has shown progress): past
/// the node's write timeout, so the phone that stays on the isolated node hears `NotCommitted`.
const HOLD: Duration = Duration::from_secs(WRITE_TIMEOUT.as_secs() + 2);

const BEFORE: u8 = 0;
const DURING: u8 = 1;
const AFTER: u8 = 2;

/// Frames sent and acks heard by all phones so far, for the diagnosis of a stalled majority.
#[derive(Default)]
struct Progress {
    sent: AtomicUsize,
    acked: AtomicUsize,
}

#[derive(Default)]
struct PhoneLog {
    acked: BTreeSet<u64>,
    /// Acks received before, during and after the partition.
    acks_by_phase: [usize; 3],
    /// Acks from the isolated node while it was cut off (pings sent before the cut).
    victim_acks_during: usize,
    /// Acks from the isolated node, while cut off, for pings sent to it after the cut.
    violations: Vec<u64>,
    /// Pings sent (or resent) to the isolated node while it was cut off.
    sent_to_victim_during: usize,
    not_committed: usize,
    /// `NotCommitted` answers received while the partition lasted.
    not_committed_during: usize,
    reconnects: usize,
    /// Pings refused `RateLimited` (a resend burst after a reconnect), queued and sent again.
    rate_limited: usize,
}

/// A phone streaming its pings, from node `start`. On a lost connection, or (unless
/// `stubborn`) `SILENCE` without an ack while pings are unacked, it reconnects to the next node
/// and resends everything not acked; `NotCommitted` is resent on the same connection.
async fn phone(
    device: u64,
    nodes: Vec<SocketAddr>,
    start: usize,
    victim: usize,
    stubborn: bool,
    phase: Arc<AtomicU8>,
    progress: Arc<Progress>,
) -> PhoneLog {
    let pings = drive(device, PINGS_PER_DEVICE);
    let mut log = PhoneLog::default();
    let mut node = start;
    let mut next_seq = 1u64;
    let deadline = Instant::now() + Duration::from_secs(90);
    'connection: loop {
        assert!(
            Instant::now() < deadline,
            "device {device}: {} of {PINGS_PER_DEVICE} pings acked in time",
            log.acked.len()
        );
        let Some(mut ws) = open(nodes[node], device).await else {
            node = (node + 1) % nodes.len();
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        // Phase in which each ping was last sent on this connection.
        let mut sent: HashMap<u64, u8> = HashMap::new();
        let unacked: Vec<Value> = (1..next_seq)
            .filter(|s| !log.acked.contains(s))
            .map(|s| pings[s as usize - 1].clone())
            .collect();
        if !unacked.is_empty() {
            let p = phase.load(Ordering::SeqCst);
            if node == victim && p == DURING {
                log.sent_to_victim_during += unacked.len();
            }
            for u in &unacked {
                sent.insert(u["seq"].as_u64().unwrap(), p);
            }
            let frame = json!({"type": "pings", "pings": unacked});
            if ws
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                continue 'connection;
            }
        }
        let mut last_progress = Instant::now();
        let mut tick = tokio::time::interval(SEND_EVERY);
        // Pings the node refused as over the device's rate: sent again, one per tick, before new
        // ones, as a phone that slows down when told to.
        let mut backlog: std::collections::VecDeque<u64> = std::collections::VecDeque::new();
        loop {
            if log.acked.len() as u64 == PINGS_PER_DEVICE {
                let _ = ws.close(None).await;
                return log;
            }
            tokio::select! {
                _ = tick.tick() => {
                    let waiting = sent.keys().any(|s| !log.acked.contains(s));
                    if !stubborn && waiting && last_progress.elapsed() > SILENCE {
                        break;
                    }
                    if let Some(seq) = backlog.pop_front() {
                        if !log.acked.contains(&seq) {
                            let mut frame = pings[seq as usize - 1].clone();
                            frame["type"] = json!("ping");
                            sent.insert(seq, phase.load(Ordering::SeqCst));
                            if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                                break;
                            }
                        }
                    } else if next_seq <= PINGS_PER_DEVICE {
                        let mut frame = pings[next_seq as usize - 1].clone();
                        frame["type"] = json!("ping");
                        let p = phase.load(Ordering::SeqCst);
                        if node == victim && p == DURING {
                            log.sent_to_victim_during += 1;
                        }
                        sent.insert(next_seq, p);
                        progress.sent.fetch_add(1, Ordering::SeqCst);
                        if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                            break;
                        }
                        next_seq += 1;
                    }
                }
                m = ws.next() => {
                    let text = match m {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(_)) => continue,
                        _ => break,
                    };
                    let m: Value = serde_json::from_str(text.as_str()).unwrap();
                    match m["type"].as_str() {
                        Some("ack") => {
                            let seq = m["acked"].as_u64().unwrap();
                            let now = phase.load(Ordering::SeqCst);
                            log.acked.insert(seq);
                            progress.acked.fetch_add(1, Ordering::SeqCst);
                            log.acks_by_phase[now as usize] += 1;
                            last_progress = Instant::now();
                            if node == victim && now == DURING {
                                log.victim_acks_during += 1;
                                if sent.get(&seq) == Some(&DURING) {
                                    log.violations.push(seq);
                                }
                            }
                        }
                        Some("error") if m["code"] == "NotCommitted" => {
                            log.not_committed += 1;
                            let seq = m["seq"].as_u64().unwrap();
                            let p = phase.load(Ordering::SeqCst);
                            if p == DURING {
                                log.not_committed_during += 1;
                            }
                            if node == victim && p == DURING {
                                log.sent_to_victim_during += 1;
                            }
                            sent.insert(seq, p);
                            let frame = json!({"type": "pings", "pings": [pings[seq as usize - 1]]});
                            if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                                break;
                            }
                        }
                        Some("error") if m["code"] == "RateLimited" => {
                            log.rate_limited += 1;
                            backlog.push_back(m["seq"].as_u64().unwrap());
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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    Leader,
    Follower,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_acks_nothing_and_the_majority_loses_no_acked_ping() {
    partition_under_load(Victim::Leader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_follower_acks_nothing_and_catches_up_after_the_heal() {
    partition_under_load(Victim::Follower).await;
}

fn term(s: &Value) -> u64 {
    s["term"].as_u64().unwrap()
}

fn applied(s: &Value) -> u64 {
    s["pings_applied"].as_u64().unwrap()
}

async fn partition_under_load(which: Victim) {
    let started = Instant::now();
    let root = scratch_dir("partition");
    let net = Net::bind(1..=3).await;
    // What is under test is the log under a partition; these nodes answer no routes, so they
    // build no overlay (in a debug build three customizers per publish compete for 2 cores).
    let nodes = spawn_nodes(&root, |id| {
        vec![
            "--advertise".into(),
            net.addr(id).to_string(),
            "--cluster-source-ip".into(),
            Net::source_ip(id).to_string(),
            "--no-overlay".into(),
        ]
    })
    .await;
    for n in &nodes {
        net.start(n.id, n.http);
    }
    let members: BTreeMap<u64, String> = nodes
        .iter()
        .map(|n| (n.id, net.addr(n.id).to_string()))
        .collect();
    let leader = form_group(&nodes, &members).await;
    let client = reqwest::Client::new();
    let first = status(&client, nodes[leader].http).await.unwrap();
    assert_eq!(
        serde_json::to_value(&members).unwrap(),
        first["members"],
        "members must be reached through the proxies"
    );
    let victim = match which {
        Victim::Leader => leader,
        Victim::Follower => (leader + 1) % 3,
    };
    let victim_id = nodes[victim].id;
    let majority: Vec<usize> = (0..3).filter(|&i| i != victim).collect();

    let phase = Arc::new(AtomicU8::new(BEFORE));
    let progress = Arc::new(Progress::default());
    let ingests: Vec<SocketAddr> = nodes.iter().map(|n| n.ingest).collect();
    let mut phones: Vec<_> = (1..=DEVICES)
        .map(|d| {
            let start = d as usize % 3;
            tokio::spawn(phone(
                d,
                ingests.clone(),
                start,
                victim,
                false,
                phase.clone(),
                progress.clone(),
            ))
        })
        .collect();
    phones.push(tokio::spawn(phone(
        STUBBORN,
        ingests.clone(),
        victim,
        victim,
        true,
        phase.clone(),
        progress.clone(),
    )));
    let total = (DEVICES + 1) * PINGS_PER_DEVICE;

    let victim_http = nodes[victim].http;
    wait_until("pings to flow", Duration::from_secs(60), || {
        let client = client.clone();
        async move {
            status(&client, victim_http)
                .await
                .is_some_and(|s| applied(&s) >= total / 6)
        }
    })
    .await;

    // Cut the victim off, both directions; `isolate` returns once its links carry nothing.
    let cut_at = Instant::now();
    net.isolate(victim_id).await;
    phase.store(DURING, Ordering::SeqCst);
    let majority_at_cut = status(&client, nodes[majority[0]].http).await.unwrap();

    // The majority has (or elects) a leader that is not the victim.
    let https: Vec<SocketAddr> = majority.iter().map(|&i| nodes[i].http).collect();
    wait_until(
        "the majority to agree on a leader",
        Duration::from_secs(20),
        || {
            let (client, https) = (client.clone(), https.clone());
            async move {
                let mut leaders = BTreeSet::new();
                for a in &https {
                    match status(&client, *a).await.and_then(|s| s["leader"].as_u64()) {
                        Some(l) if l != victim_id => leaders.insert(l),
                        _ => return false,
                    };
                }
                leaders.len() == 1
            }
        },
    )
    .await;
    let elected_after = cut_at.elapsed();
    let majority_leader = status(&client, https[0]).await.unwrap();
    let new_leader_id = majority_leader["leader"].as_u64().unwrap();
    if which == Victim::Leader {
        assert!(term(&majority_leader) > term(&first), "{majority_leader}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let victim_early = status(&client, victim_http).await.unwrap();

    // The majority keeps committing while the victim is cut off.
    let progress_from = applied(&majority_at_cut);
    let leader_http = nodes.iter().find(|n| n.id == new_leader_id).unwrap().http;
    let keep_applying_by = Instant::now() + Duration::from_secs(20);
    loop {
        if status(&client, leader_http)
            .await
            .is_some_and(|s| applied(&s) >= progress_from + 100)
        {
            break;
        }
        if Instant::now() >= keep_applying_by {
            let mut seen = Vec::new();
            for n in &nodes {
                seen.push((n.id, status(&client, n.http).await));
            }
            panic!(
                "the majority (leader {new_leader_id}) did not apply 100 pings in 20 s after the \
                 cut (from {progress_from}); phones sent {} and heard {} acks so far; nodes: \
                 {seen:?}",
                progress.sent.load(Ordering::SeqCst),
                progress.acked.load(Ordering::SeqCst),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(rest) = HOLD.checked_sub(cut_at.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let victim_late = status(&client, victim_http).await.unwrap();
    assert_eq!(
        applied(&victim_early),
        applied(&victim_late),
        "the isolated node applied pings: {victim_early} then {victim_late}"
    );
    let majority_late = status(&client, leader_http).await.unwrap();

    phase.store(AFTER, Ordering::SeqCst);
    net.heal();
    let partition_lasted = cut_at.elapsed();

    let mut logs = Vec::new();
    for p in phones {
        logs.push(p.await.expect("phone task"));
    }
    for l in &logs {
        assert_eq!(l.acked.len() as u64, PINGS_PER_DEVICE);
    }
    let violations: Vec<&u64> = logs.iter().flat_map(|l| &l.violations).collect();
    assert!(
        violations.is_empty(),
        "the isolated node acked pings sent to it while cut off: {violations:?}"
    );
    let sum = |f: &dyn Fn(&PhoneLog) -> usize| logs.iter().map(f).sum::<usize>();
    let by_phase = [0, 1, 2].map(|p| sum(&|l| l.acks_by_phase[p]));
    assert!(
        by_phase[1] > 0,
        "the majority must ack during the partition"
    );
    let sent_to_victim = sum(&|l| l.sent_to_victim_during);
    assert!(
        sent_to_victim > 0,
        "phones must have tried the isolated node"
    );
    let stubborn = logs.last().unwrap();
    assert!(
        stubborn.not_committed_during > 0,
        "the isolated node must answer NotCommitted within {WRITE_TIMEOUT:?}, not stay silent"
    );

    // Everything acked (every ping, in the end) is applied exactly once on all three nodes.
    let all: Vec<SocketAddr> = nodes.iter().map(|n| n.http).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let finals = loop {
        let mut seen = Vec::new();
        for a in &all {
            seen.push(status(&client, *a).await);
        }
        let done = seen.iter().all(|s| {
            s.as_ref().is_some_and(|s| {
                applied(s) == total && s["state_hash"] == seen[0].as_ref().unwrap()["state_hash"]
            })
        });
        if done {
            break seen.into_iter().map(Option::unwrap).collect::<Vec<_>>();
        }
        assert!(
            Instant::now() < deadline,
            "nodes did not all apply the {total} pings and agree: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The victim follows the majority's (current) leader, at the group's term.
    let back = &finals[victim];
    assert_eq!(back["state"], "Follower", "{back}");
    assert!(finals
        .iter()
        .all(|s| s["leader"] == back["leader"] && s["term"] == back["term"]));

    assert!(net.resets() > 0);

    eprintln!(
        "partition ({which:?} isolated, node {victim_id}): acks before/during/after {}/{}/{}, \
         {sent_to_victim} pings sent to the isolated node while cut off and none of them acked \
         then (the phone that stayed on it: {} NotCommitted while cut off, {} acks after the heal), \
         {} NotCommitted resends in all, {} RateLimited and sent again, {} reconnects, {} acks from the isolated node during the cut \
         (sent before it); new leader {new_leader_id} after {elected_after:?}; terms: start {}, \
         majority {}, isolated node {} -> {}, end {}; majority applied {} -> {} while cut; \
         partition {partition_lasted:?}, {} connections reset ({} of unknown origin); \
         whole test {:?}",
        by_phase[0],
        by_phase[1],
        by_phase[2],
        stubborn.not_committed_during,
        stubborn.acks_by_phase[2],
        sum(&|l| l.not_committed),
        sum(&|l| l.rate_limited),
        sum(&|l| l.reconnects),
        sum(&|l| l.victim_acks_during),
        term(&first),
        term(&majority_leader),
        term(&victim_early),
        term(&victim_late),
        term(back),
        progress_from,
        applied(&majority_late),
        net.resets(),
        net.unknown_sources(),
        started.elapsed(),
    );
}
