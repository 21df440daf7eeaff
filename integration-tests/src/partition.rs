//! Network partitions between node processes: every node's node-to-node traffic goes
//! through a proxy run by the test (the addresses in genesis are the proxies'), and every
//! node sends from its own loopback address (127.0.0.1x), so a proxy knows who calls.
//! Cutting a group of nodes off the rest closes and refuses every connection between the
//! two sides.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::Network;

/// Node `i`'s own loopback address.
pub fn node_ip(i: usize) -> IpAddr {
    format!("127.0.0.{}", 10 + i).parse().unwrap()
}

/// The fault proxies: which nodes are on the cut-off side.
#[derive(Clone, Debug)]
pub struct Partition {
    cut: Arc<Mutex<HashSet<IpAddr>>>,
    changed: watch::Sender<u64>,
}

impl Default for Partition {
    fn default() -> Self {
        Partition {
            cut: Arc::default(),
            changed: watch::channel(0).0,
        }
    }
}

impl Partition {
    /// Whether traffic between `a` and `b` is cut: one is on the cut-off side, the
    /// other is not.
    fn blocked(&self, a: IpAddr, b: IpAddr) -> bool {
        let cut = self.cut.lock().unwrap();
        cut.contains(&a) != cut.contains(&b)
    }

    /// Cuts nodes `cut` off the others (they still reach each other); `&[]` heals.
    pub fn set(&self, cut: &[usize]) {
        *self.cut.lock().unwrap() = cut.iter().map(|i| node_ip(*i)).collect();
        self.changed.send_modify(|n| *n += 1);
    }
}

/// Forwards `listen` to `target` unless the caller and the target are on two sides.
async fn proxy(listen: TcpListener, target: SocketAddr, p: Partition) {
    loop {
        let Ok((mut inbound, peer)) = listen.accept().await else {
            return;
        };
        if p.blocked(peer.ip(), target.ip()) {
            continue; // dropped: the caller sees a reset
        }
        let p = p.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(target).await else {
                return;
            };
            let mut changed = p.changed.subscribe();
            loop {
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
                    r = changed.changed() => {
                        if r.is_err() || p.blocked(peer.ip(), target.ip()) {
                            return; // both sides closed
                        }
                    }
                }
            }
        });
    }
}

/// Moves node `i`'s node-to-node listener (`[consensus.bft]`) to its own loopback
/// address and puts a proxy in front of it; returns the proxy's address, the one peers
/// dial.
pub async fn behind_proxy(net: &Network, i: usize, p: &Partition) -> String {
    let cfg_path = net.config(i);
    let mut cfg: toml::Table = std::fs::read_to_string(&cfg_path).unwrap().parse().unwrap();
    let section = cfg
        .get_mut("consensus")
        .and_then(|c| c.get_mut("bft"))
        .and_then(|r| r.as_table_mut())
        .unwrap();
    let port: SocketAddr = section["listen"].as_str().unwrap().parse().unwrap();
    let listen = SocketAddr::new(node_ip(i), port.port());
    section.insert("listen".into(), listen.to_string().into());
    std::fs::write(&cfg_path, toml::to_string(&cfg).unwrap()).unwrap();
    let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(proxy(l, listen, p.clone()));
    addr
}

/// Puts every validator of a `bft` network behind a proxy (genesis names the proxies).
pub async fn install_bft_proxies(net: &Network, nodes: usize) -> Partition {
    let partition = Partition::default();
    let genesis_path = net.root.join("genesis.json");
    let mut genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&genesis_path).unwrap()).unwrap();
    for i in 1..=nodes {
        genesis["validators"][i - 1]["addr"] = behind_proxy(net, i, &partition).await.into();
    }
    std::fs::write(&genesis_path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
    partition
}
