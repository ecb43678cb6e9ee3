//! A test-owned TCP proxy in front of each cluster node's HTTP port, so a test can partition a
//! group of real `meridian serve` processes on real sockets. Each node advertises its proxy's
//! address in the members map, so every Raft RPC (and every write a follower forwards to the
//! leader) from node A to node B is a TCP connection from A's process to B's proxy.
//!
//! A cut is per directed link (A → B: the connections A opens to B). The proxy tells the
//! connecting node by its source address: each node makes its cluster connections from a
//! loopback address of its own ([`Net::source_ip`], passed as `serve --cluster-source-ip`), so
//! the peer address of an accepted connection names its node with no lookup that could lag
//! under load. On a cut link, new connections are reset at once (`SO_LINGER` 0, so the caller
//! sees a refused connection, not a hang), and open ones are reset on both sides. A connection
//! from any other address is reset and counted ([`Net::unknown_sources`]): nothing of unknown
//! origin slips past a cut.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Node ids.
pub type Id = u64;

struct Shared {
    /// Directed links (from, to) that are cut.
    cut: watch::Sender<BTreeSet<(Id, Id)>>,
    /// Open proxied connections per directed link.
    open: Mutex<BTreeMap<(Id, Id), usize>>,
    /// Source address → node id.
    sources: BTreeMap<IpAddr, Id>,
    unknown: AtomicUsize,
    resets: AtomicUsize,
}

/// The proxies of one cluster and the switchboard that cuts and heals links.
pub struct Net {
    shared: Arc<Shared>,
    addrs: BTreeMap<Id, SocketAddr>,
    listeners: Mutex<BTreeMap<Id, TcpListener>>,
}

impl Net {
    /// Binds one proxy port per node id; [`Net::start`] connects them to the nodes.
    pub async fn bind(ids: impl IntoIterator<Item = Id>) -> Net {
        let mut addrs = BTreeMap::new();
        let mut listeners = BTreeMap::new();
        let mut sources = BTreeMap::new();
        for id in ids {
            sources.insert(Net::source_ip(id), id);
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.insert(id, l.local_addr().unwrap());
            listeners.insert(id, l);
        }
        Net {
            shared: Arc::new(Shared {
                cut: watch::Sender::new(BTreeSet::new()),
                open: Mutex::new(BTreeMap::new()),
                sources,
                unknown: AtomicUsize::new(0),
                resets: AtomicUsize::new(0),
            }),
            addrs,
            listeners: Mutex::new(listeners),
        }
    }

    /// The address node `id` is reached at through its proxy.
    pub fn addr(&self, id: Id) -> SocketAddr {
        self.addrs[&id]
    }

    /// The loopback address node `id` makes its cluster connections from (127.0.0.0/8 is all
    /// local on Linux, so each node can have one of its own).
    pub fn source_ip(id: Id) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            1,
            u8::try_from(id).expect("small node ids"),
        ))
    }

    /// Starts forwarding node `id`'s proxy to `target`, the node's own listening address.
    pub fn start(&self, id: Id, target: SocketAddr) {
        let listener = self
            .listeners
            .lock()
            .unwrap()
            .remove(&id)
            .expect("bound once");
        tokio::spawn(accept_loop(listener, id, target, self.shared.clone()));
    }

    /// Cuts the given directed links and returns once no connection on them is open.
    pub async fn cut(&self, links: impl IntoIterator<Item = (Id, Id)>) {
        let links: Vec<(Id, Id)> = links.into_iter().collect();
        self.shared
            .cut
            .send_modify(|c| c.extend(links.iter().copied()));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let open: usize = {
                let open = self.shared.open.lock().unwrap();
                links
                    .iter()
                    .map(|l| open.get(l).copied().unwrap_or(0))
                    .sum()
            };
            if open == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{open} connections on cut links stay open"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Cuts node `id` off from every other node, both directions.
    pub async fn isolate(&self, id: Id) {
        let others: Vec<Id> = self.addrs.keys().copied().filter(|&o| o != id).collect();
        let links: Vec<(Id, Id)> = others.iter().flat_map(|&o| [(id, o), (o, id)]).collect();
        self.cut(links).await;
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.shared.cut.send_modify(|c| c.clear());
    }

    /// Connections refused because they came from no node's source address.
    pub fn unknown_sources(&self) -> usize {
        self.shared.unknown.load(Ordering::SeqCst)
    }

    /// Connections reset by a cut (refused at accept or cut while open).
    pub fn resets(&self) -> usize {
        self.shared.resets.load(Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, to: Id, target: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((inbound, peer)) = listener.accept().await else {
            continue;
        };
        let from = shared.sources.get(&peer.ip()).copied();
        let shared = shared.clone();
        tokio::spawn(async move {
            match from {
                Some(from) => relay(inbound, from, to, target, &shared).await,
                // Fail closed: traffic of unknown origin never passes (the caller retries).
                None => {
                    shared.unknown.fetch_add(1, Ordering::SeqCst);
                    reset(&inbound, &shared);
                }
            }
        });
    }
}

/// Forwards one connection until either side closes it or its link is cut.
async fn relay(mut inbound: TcpStream, from: Id, to: Id, target: SocketAddr, shared: &Shared) {
    let link = (from, to);
    let mut cut = shared.cut.subscribe();
    if cut.borrow_and_update().contains(&link) {
        reset(&inbound, shared);
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        reset(&inbound, shared);
        return;
    };
    *shared.open.lock().unwrap().entry(link).or_default() += 1;
    let was_cut = {
        let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
        tokio::pin!(copy);
        loop {
            tokio::select! {
                _ = &mut copy => break false,
                changed = cut.changed() => {
                    if changed.is_err() || cut.borrow_and_update().contains(&link) {
                        break true;
                    }
                }
            }
        }
    };
    if was_cut {
        reset(&outbound, shared);
        reset(&inbound, shared);
    }
    drop((inbound, outbound));
    *shared.open.lock().unwrap().get_mut(&link).unwrap() -= 1;
}

/// Makes the close a reset: the peer's next read or write fails at once.
fn reset(s: &TcpStream, shared: &Shared) {
    let _ = s.set_zero_linger();
    shared.resets.fetch_add(1, Ordering::SeqCst);
}

/// The switchboard itself, with this test process playing node 1 and an echo server as node 2:
/// a cut 1 → 2 resets the open connection and refuses new ones, a cut 2 → 1 does not touch
/// them, and a heal lets new connections through again.
#[tokio::test]
async fn cuts_one_directed_link_and_heals() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let net = Net::bind([1, 2]).await;
    net.start(2, echo_addr);
    // This process plays node 1: its connections come from node 1's source address.
    let connect = || async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(Net::source_ip(1), 0)).unwrap();
        socket.connect(net.addr(2)).await.unwrap()
    };
    let roundtrip = |mut s: TcpStream| async move {
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        Ok::<TcpStream, std::io::Error>(s)
    };
    let open = roundtrip(connect().await).await.unwrap();
    net.cut([(2, 1)]).await;
    let open = roundtrip(open).await.expect("2 → 1 is another link");
    net.cut([(1, 2)]).await;
    assert!(roundtrip(open).await.is_err(), "the open connection is cut");
    let fresh = connect().await;
    assert!(
        roundtrip(fresh).await.is_err(),
        "new connections are refused"
    );
    net.heal();
    roundtrip(connect().await).await.expect("healed");
    assert_eq!(net.unknown_sources(), 0);
    // A connection from another address is nobody's: refused.
    let stranger = TcpStream::connect(net.addr(2)).await.unwrap();
    assert!(roundtrip(stranger).await.is_err());
    assert_eq!(net.unknown_sources(), 1);
}
