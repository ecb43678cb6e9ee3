//! `meridian up`: a local cluster on one machine. Starts one `meridian serve` process per node on
//! consecutive loopback ports, each hosting a member of every shard's Raft group (the shard map
//! is cut from the graph on first start and kept in the data directory), initialises the groups
//! on first start, prints where to send requests, and stops every node when interrupted or when
//! one of them dies.

use anyhow::{bail, Context, Result};
use meridian::cluster::admin_client::{form_group, spread_voters, Formed};
use meridian::cluster::shards::{ShardMap, SHARD_MAP_FILE};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Kills the children when dropped, so no node outlives the launcher.
struct Nodes(Vec<(u64, Child)>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What `up` runs: the graph, how many nodes on which ports, where their data goes, and how the
/// pings are sharded.
pub struct LocalCluster<'a> {
    pub graph: &'a Path,
    pub nodes: u64,
    /// Node i listens on 127.0.0.1:(base_port + i - 1), its ingest 100 ports above.
    pub base_port: u16,
    pub data_dir: &'a Path,
    /// Map images every node serves.
    pub tiles: Option<&'a Path>,
    pub no_foot: bool,
    pub shards: usize,
    /// Voters of each group (the other nodes are its learners).
    pub replicas: u64,
}

pub fn run_local_cluster(cluster: &LocalCluster<'_>) -> Result<()> {
    let &LocalCluster {
        graph,
        nodes,
        base_port,
        data_dir,
        tiles,
        no_foot,
        shards,
        replicas,
    } = cluster;
    if nodes == 0 {
        bail!("a cluster needs at least one node");
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let shard_map = shard_map(graph, data_dir, shards)?;
    let secret = stored_secret(data_dir, "MERIDIAN_CLUSTER_SECRET", "cluster-secret")?;
    let ingest_secret = stored_secret(data_dir, "MERIDIAN_INGEST_SECRET", "ingest-secret")?;
    let exe = std::env::current_exe().context("locating the meridian executable")?;
    let mut members = BTreeMap::new();
    let mut ingests = BTreeMap::new();
    let mut children = Nodes(Vec::new());
    for id in 1..=nodes {
        let addr = format!("127.0.0.1:{}", base_port as u64 + id - 1);
        let ingest = format!("127.0.0.1:{}", base_port as u64 + 100 + id - 1);
        let mut command = Command::new(&exe);
        command.arg("serve");
        if let Some(dir) = tiles {
            command.arg("--tiles").arg(dir);
        }
        if no_foot {
            command.arg("--no-foot");
        }
        if let Some(map) = &shard_map {
            command.arg("--shards").arg(map);
        }
        let child = command
            .arg("--graph")
            .arg(graph)
            .arg("--listen")
            .arg(&addr)
            .arg("--node-id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(data_dir.join(format!("node-{id}")))
            .arg("--ingest-listen")
            .arg(&ingest)
            .env("MERIDIAN_CLUSTER_SECRET", &secret)
            .env("MERIDIAN_INGEST_SECRET", &ingest_secret)
            .spawn()
            .with_context(|| format!("starting node {id}"))?;
        children.0.push((id, child));
        members.insert(id, addr);
        ingests.insert(id, ingest);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for addr in members.values() {
            wait_until_up(&client, addr).await?;
        }
        // Each group gets `replicas` voters, consecutive from another node each (the node
        // initialising it usually wins its first election, so the leaders spread); the other
        // nodes follow it as learners, so every node's routes see every shard's traffic.
        let (mut fresh, mut kept) = (0, 0);
        for g in 0..shards as u32 {
            let voters: Vec<(u64, String)> = spread_voters(g, nodes, replicas)
                .into_iter()
                .map(|id| (id, members[&id].clone()))
                .collect();
            let learners: Vec<(u64, String)> = members
                .iter()
                .filter(|(id, _)| !voters.iter().any(|(v, _)| v == *id))
                .map(|(id, a)| (*id, a.clone()))
                .collect();
            match form_group(&client, &secret, g, &voters, &learners, Duration::from_secs(60))
                .await?
            {
                Formed::Initialised => fresh += 1,
                Formed::AlreadyInitialised => kept += 1,
            }
        }
        let voters = replicas.min(nodes);
        if kept == 0 {
            eprintln!(
                "meridian: initialised a {nodes}-node cluster: {shards} Raft group{} of {voters} voter{}",
                if shards == 1 { "" } else { "s" },
                if voters == 1 { "" } else { "s" },
            );
        } else {
            eprintln!(
                "meridian: {kept} Raft group(s) recovered from the nodes' logs, {fresh} initialised"
            );
        }
        Ok::<_, anyhow::Error>(())
    })?;
    eprintln!("meridian: cluster of {nodes} nodes is up:");
    for (id, addr) in &members {
        eprintln!(
            "  node {id}: http://{addr}  (routes /route/v1/driving/...{}, status /cluster), pings ws://{}",
            if no_foot { "" } else { " and /route/v1/foot/..." },
            ingests[id]
        );
    }
    match tiles {
        Some(dir) => eprintln!(
            "meridian: map page: http://{}/ (images from {})",
            members[&1],
            dir.display()
        ),
        None => eprintln!(
            "meridian: map page: http://{}/ (no images: write them with `meridian render`)",
            members[&1]
        ),
    }
    eprintln!(
        "meridian: device tokens: MERIDIAN_INGEST_SECRET=$(cat {}) meridian token --device <id>",
        data_dir.join("ingest-secret").display()
    );
    eprintln!("meridian: Ctrl-C (or SIGTERM) stops all nodes");
    // Stop on a signal, or when any node exits; dropping `children` kills the rest.
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("meridian: stopping the cluster");
                    return Ok(());
                }
                _ = term.recv() => {
                    eprintln!("meridian: stopping the cluster");
                    return Ok(());
                }
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    for (id, child) in &mut children.0 {
                        if let Some(status) = child.try_wait()? {
                            bail!("node {id} exited ({status}); stopping the cluster");
                        }
                    }
                }
            }
        }
    })
}

/// The shard map file the nodes run with (`None`: one shard): the one kept in `data_dir` from
/// the first start, else `shards` cut from the graph's tiles and kept. A kept map of another
/// shard count is an error: moving prefixes between groups is an offline operation (README).
fn shard_map(graph: &Path, data_dir: &Path, shards: usize) -> Result<Option<std::path::PathBuf>> {
    let path = data_dir.join(SHARD_MAP_FILE);
    if path.is_file() {
        let kept = ShardMap::read(&path)?;
        if kept.shards().len() != shards {
            bail!(
                "the cluster in {} was started with {} shard(s) (its map is {}); start it with \
                 --shards {} or give it another --data-dir",
                data_dir.display(),
                kept.shards().len(),
                path.display(),
                kept.shards().len()
            );
        }
        return Ok(Some(path));
    }
    if shards == 1 {
        return Ok(None);
    }
    if data_dir.join("node-1").exists() {
        bail!(
            "the cluster in {} was started unsharded; start it without --shards or give it \
             another --data-dir",
            data_dir.display()
        );
    }
    let store = super::open_graph(graph)?;
    let tiles: Vec<(meridian::spatial::geohash::Cell, u64)> = store
        .manifest()
        .tiles
        .iter()
        .filter_map(|t| Some((t.geohash.parse().ok()?, u64::from(t.edges))))
        .collect();
    let map = ShardMap::split(&tiles, shards)?;
    map.write(&path)
        .with_context(|| format!("writing the shard map {}", path.display()))?;
    for s in map.shards() {
        eprintln!(
            "meridian: shard {}: prefixes {}",
            s.id,
            s.prefixes
                .iter()
                .map(|p| if p.is_empty() {
                    "\"\" (the rest)".to_string()
                } else {
                    p.clone()
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(Some(path))
}

async fn wait_until_up(client: &reqwest::Client, addr: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("http://{addr}/health")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("node at {addr} did not come up within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A secret of the cluster: from the environment, or generated once and kept (mode 0600)
/// beside the nodes' data so restarts reuse it.
fn stored_secret(data_dir: &Path, env: &str, file: &str) -> Result<String> {
    if let Ok(s) = std::env::var(env) {
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let path = data_dir.join(file);
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(s.trim().to_string());
    }
    let mut bytes = [0u8; 24];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for a secret")?;
    let secret = meridian::graph::store::hex(&bytes);
    std::fs::write(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret)
}
