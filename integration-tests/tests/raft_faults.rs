//! A 3-validator raft network (plus an observer) of real node processes under a steady
//! transaction load, through faults: kill -9 the leader and restart it, kill a
//! follower, pause a node (SIGSTOP), cut a node off the others and heal it, restart the
//! whole cluster, and add an observer from empty (it catches up by snapshot).
//!
//! After each step every transaction a client saw committed is on every node, and all
//! nodes agree on height and tip (hence state root). Writes must resume within
//! `RESUME_LIMIT`. A summary table is printed at the end.
//!
//! Before the load, a node certificate for a node outside the set (issued by the
//! chain's CA) is refused, and one from another CA fails the handshake.
//!
//! Partitions: every node's Raft traffic goes through a proxy run by this test
//! (`govchain_integration_tests::partition`). Cutting node X closes and refuses every
//! connection from or to X.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use govchain_client::rpc::{GetBlockRequest, GetStatusRequest, GetTxRequest, SubmitTxRequest};
use govchain_consensus::raft::pb::RaftJson;
use govchain_consensus::raft::pb::raft_client::RaftClient;
use govchain_integration_tests::partition::{Partition, behind_proxy};
use govchain_integration_tests::{
    Network, NodeProcess, Signer, Submit, anchor, cli_json, connect, free_port, govchain,
};
use govchain_types::pb;

/// Longest time the cluster may take to commit writes again after a fault.
const RESUME_LIMIT: Duration = Duration::from_secs(20);
/// Longest time the nodes may take to agree again once the load pauses.
const CONVERGE_LIMIT: Duration = Duration::from_secs(60);

/// Puts a proxy in front of every node's Raft endpoint: nodes listen on their own
/// loopback address, genesis names the proxies. Small snapshot intervals make a late
/// observer catch up by snapshot.
async fn install_proxies(net: &Network, nodes: usize) -> Partition {
    let partition = Partition::default();
    let genesis_path = net.root.join("genesis.json");
    let mut genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&genesis_path).unwrap()).unwrap();
    for i in 1..=nodes {
        let settings = [("snapshot_every", 40), ("keep_logs", 5)];
        genesis["validators"][i - 1]["raft"]["addr"] =
            behind_proxy(net, i, "raft", &partition, &settings)
                .await
                .into();
    }
    std::fs::write(&genesis_path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
    partition
}

/// Client load: each task signs anchors as one department and submits them, waiting
/// for each receipt, to the nodes currently up (round robin, failing over on errors).
struct Load {
    acked: Arc<Mutex<Vec<Vec<u8>>>>,
    up: Arc<Mutex<Vec<String>>>,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    idle: Arc<Mutex<HashSet<String>>>,
}

impl Load {
    fn start(net: &Network, depts: &[&str], up: Vec<String>) -> Load {
        let load = Load {
            acked: Arc::default(),
            up: Arc::new(Mutex::new(up)),
            paused: Arc::default(),
            stop: Arc::default(),
            idle: Arc::default(),
        };
        for d in depts {
            let (signer, acked, up, paused, stop, idle) = (
                net.signer(d),
                load.acked.clone(),
                load.up.clone(),
                load.paused.clone(),
                load.stop.clone(),
                load.idle.clone(),
            );
            tokio::spawn(async move {
                client(signer, acked, up, paused, stop, idle).await;
            });
        }
        load
    }

    /// Pauses the clients and waits until none has a request in flight.
    async fn pause(&self, clients: usize) {
        self.paused.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.idle.lock().unwrap().len() < clients {
            assert!(Instant::now() < deadline, "load clients did not pause");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn resume(&self) {
        self.idle.lock().unwrap().clear();
        self.paused.store(false, Ordering::SeqCst);
    }

    fn set_up(&self, up: Vec<String>) {
        *self.up.lock().unwrap() = up;
    }

    fn acked(&self) -> Vec<Vec<u8>> {
        self.acked.lock().unwrap().clone()
    }
}

async fn client(
    signer: Signer,
    acked: Arc<Mutex<Vec<Vec<u8>>>>,
    up: Arc<Mutex<Vec<String>>>,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    idle: Arc<Mutex<HashSet<String>>>,
) {
    let mut turn = 0usize;
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if paused.load(Ordering::SeqCst) {
            idle.lock().unwrap().insert(signer.department.clone());
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let endpoints = up.lock().unwrap().clone();
        turn += 1;
        let endpoint = endpoints[turn % endpoints.len()].clone();
        let Ok(Ok(mut c)) = tokio::time::timeout(Duration::from_secs(2), connect(&endpoint)).await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(Ok(status)) =
            tokio::time::timeout(Duration::from_secs(2), c.get_status(GetStatusRequest {})).await
        else {
            continue;
        };
        let chain_id = status.into_inner().chain_id;
        let Ok(Ok(mut nonce)) =
            tokio::time::timeout(Duration::from_secs(2), signer.next_nonce(&mut c)).await
        else {
            continue;
        };
        // Up to 20 transactions on this node, then the next one.
        for _ in 0..20 {
            if paused.load(Ordering::SeqCst) || stop.load(Ordering::SeqCst) {
                break;
            }
            seq += 1;
            let tx = signer.sign(
                &chain_id,
                nonce,
                anchor(&format!("load-{}-{seq}", signer.department)),
            );
            let req = SubmitTxRequest {
                tx: Some(tx),
                wait: true,
            };
            match tokio::time::timeout(Duration::from_secs(8), c.submit_tx(req)).await {
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    let receipt = r.receipt.expect("wait=true returns the receipt");
                    assert_eq!(receipt.status, pb::TxStatus::Ok as i32, "{receipt:?}");
                    acked.lock().unwrap().push(r.tx_hash);
                    nonce += 1;
                }
                _ => break, // node down, cut off or slow: fail over
            }
        }
    }
}

/// Submits probe writes (as `signer`) to the nodes in `up` until one commits; the time
/// it took.
async fn writes_resume(signer: &Signer, up: &[String], tag: &str) -> Duration {
    let start = Instant::now();
    let mut attempt = 0usize;
    loop {
        assert!(
            start.elapsed() < RESUME_LIMIT,
            "{tag}: no write committed within {RESUME_LIMIT:?}"
        );
        attempt += 1;
        let endpoint = &up[attempt % up.len()];
        let ok = async {
            let mut c = connect(endpoint).await.ok()?;
            let chain_id = c
                .get_status(GetStatusRequest {})
                .await
                .ok()?
                .into_inner()
                .chain_id;
            let nonce = signer.next_nonce(&mut c).await.ok()?;
            let tx = signer.sign(&chain_id, nonce, anchor(&format!("probe-{tag}-{attempt}")));
            let r = c
                .submit_tx(SubmitTxRequest {
                    tx: Some(tx),
                    wait: true,
                })
                .await
                .ok()?;
            r.into_inner()
                .receipt
                .filter(|r| r.status == pb::TxStatus::Ok as i32)
        };
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(3), ok).await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (height, tip hash, state root, role) of a node.
async fn tip(endpoint: &str) -> Option<(u64, Vec<u8>, Vec<u8>, String)> {
    let mut c = connect(endpoint).await.ok()?;
    let s = c.get_status(GetStatusRequest {}).await.ok()?.into_inner();
    let b = c
        .get_block(GetBlockRequest {
            at: Some(govchain_client::rpc::get_block_request::At::Height(
                s.height,
            )),
        })
        .await
        .ok()?
        .into_inner();
    let role = s.cluster.map(|c| c.role).unwrap_or_default();
    Some((s.height, s.tip_hash, b.header?.state_root, role))
}

/// Each node's state (running, or how it exited) and the last lines of its log.
fn explain(nodes: &mut [Option<NodeProcess>]) -> String {
    let mut out = String::new();
    for (i, n) in nodes.iter_mut().enumerate() {
        let Some(n) = n else { continue };
        let state = n.status().map_or("running".to_string(), |s| s.to_string());
        let log = n.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        out += &format!("--- node{i}: {state}, last lines of its log:\n{tail}\n");
    }
    out
}

/// `all` without `gone`.
fn except(all: &[String], gone: &str) -> Vec<String> {
    all.iter().filter(|e| *e != gone).cloned().collect()
}

/// The index a node's log is purged up to (0: nothing purged).
async fn purged(endpoint: &str) -> u64 {
    let Ok(mut c) = connect(endpoint).await else {
        return 0;
    };
    c.get_status(GetStatusRequest {})
        .await
        .ok()
        .and_then(|s| s.into_inner().cluster)
        .map_or(0, |c| c.purged_index)
}

/// Waits until every endpoint reports the same height and tip twice in a row; after
/// `CONVERGE_LIMIT`, the last tips seen.
async fn converge(endpoints: &[String]) -> Result<(u64, Vec<u8>, Vec<u8>), String> {
    let start = Instant::now();
    let mut last = None;
    loop {
        let mut tips = Vec::new();
        for e in endpoints {
            tips.push(tip(e).await);
        }
        let agreed = tips
            .iter()
            .all(|t| t.as_ref().map(|t| (t.0, &t.1)) == tips[0].as_ref().map(|t| (t.0, &t.1)));
        if agreed && let Some((h, hash, root, _)) = tips[0].clone() {
            if last.as_ref() == Some(&(h, hash.clone())) {
                // Same block everywhere, so the same state root: check it anyway.
                assert!(tips.iter().all(|t| t.as_ref().unwrap().2 == root));
                return Ok((h, hash, root));
            }
            last = Some((h, hash));
        } else {
            last = None;
        }
        if start.elapsed() > CONVERGE_LIMIT {
            return Err(format!(
                "nodes did not converge within {CONVERGE_LIMIT:?}: {tips:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// How many of `acked` every endpoint has committed (32 lookups in flight per node).
async fn found_everywhere(endpoints: &[String], acked: &[Vec<u8>]) -> usize {
    use futures::StreamExt;
    let mut found = usize::MAX;
    for e in endpoints {
        let c = connect(e).await.unwrap();
        let here = futures::stream::iter(acked.iter().cloned())
            .map(|h| {
                let mut c = c.clone();
                async move {
                    c.get_tx(GetTxRequest { tx_hash: h })
                        .await
                        .is_ok_and(|r| r.into_inner().receipt.is_some())
                }
            })
            .buffer_unordered(32)
            .filter(|ok| std::future::ready(*ok))
            .count()
            .await;
        found = found.min(here);
    }
    found
}

async fn leader(endpoints: &[(usize, String)]) -> usize {
    let start = Instant::now();
    loop {
        for (i, e) in endpoints {
            if let Some((_, _, _, role)) = tip(e).await
                && role == "leader"
            {
                return *i;
            }
        }
        assert!(start.elapsed() < RESUME_LIMIT, "no leader elected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prepares node4 as an observer with `govchain init-node` (behind a proxy like the
/// others), starts it, and has the committee approve `add-validator --observer`.
async fn add_observer(net: &Network, partition: &Partition, endpoints: &[String]) -> NodeProcess {
    let grpc_port = net.base_port + 30;
    let root = net.root.to_str().unwrap();
    let out = govchain(&[
        "--json",
        "init-node",
        "--network",
        root,
        "--id",
        "node4",
        "--department",
        "supervision",
        "--raft-id",
        "4",
        "--grpc-port",
        &grpc_port.to_string(),
        "--observer",
        "--plain-keys",
    ])
    .unwrap();
    let new: serde_json::Value = serde_json::from_str(&out).unwrap();
    let raft_addr = behind_proxy(net, 4, "raft", partition, &[]).await;
    let node = NodeProcess::start(net, 4).await.unwrap();

    let e = &endpoints[0];
    let public_key = new["public_key"].as_str().unwrap();
    let proposed = cli_json(
        e,
        &net.root,
        &[
            "gov",
            "propose",
            "add-validator",
            "--id",
            "node4",
            "--department",
            "supervision",
            "--public-key",
            public_key,
            "--raft-id",
            "4",
            "--raft-addr",
            &raft_addr,
            "--observer",
            "--description",
            "the supervision office follows the chain",
            "--as",
            "real-estate",
        ],
        &[],
    )
    .unwrap();
    let id = proposed["events"][0]["attributes"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for d in ["housing", "public-security", "social-security"] {
        cli_json(e, &net.root, &["gov", "approve", &id, "--as", d], &[]).unwrap();
    }
    node
}

/// A Raft client presenting the certificate in `dir` (`node.pem`, `node.key`), trusting
/// the CA in `ca`, dialing node `i`'s Raft endpoint.
async fn raft_call(net: &Network, i: usize, ca: &Path, dir: &Path) -> Result<(), tonic::Status> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let read = |p: PathBuf| std::fs::read(&p).unwrap();
    let cfg: toml::Table = std::fs::read_to_string(net.config(i))
        .unwrap()
        .parse()
        .unwrap();
    let listen = cfg["consensus"]["raft"]["listen"]
        .as_str()
        .unwrap()
        .to_string();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(ca.to_path_buf())))
        .identity(Identity::from_pem(
            read(dir.join("node.pem")),
            read(dir.join("node.key")),
        ))
        .domain_name(format!("node{i}"));
    let channel = Endpoint::from_shared(format!("https://{listen}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("{e:?}")))?;
    RaftClient::new(channel)
        .vote(RaftJson { json: "{}".into() })
        .await
        .map(|_| ())
}

/// A certificate of the chain's CA for a node outside the set is refused (and logged);
/// a certificate naming a member but issued by another CA fails the TLS handshake.
async fn outsiders_are_refused(net: &Network, node1: &NodeProcess) {
    let root = net.root.to_str().unwrap();
    let port = free_port().to_string();
    govchain(&[
        "init-node",
        "--network",
        root,
        "--id",
        "node9",
        "--department",
        "bank",
        "--raft-id",
        "9",
        "--grpc-port",
        &port,
        "--plain-keys",
    ])
    .unwrap();
    let ca = net.root.join("tls/ca.pem");
    let err = raft_call(net, 1, &ca, &net.root.join("node9/tls"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !node1.log_text().contains("refusing a peer") {
        assert!(
            Instant::now() < deadline,
            "the refusal is not in node1's log"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let other = Network::init_raft(2, 0).unwrap();
    let err = raft_call(net, 1, &ca, &other.root.join("node1/tls"))
        .await
        .unwrap_err();
    assert_ne!(err.code(), tonic::Code::Ok);
    assert_ne!(
        err.code(),
        tonic::Code::PermissionDenied,
        "stopped at the handshake: {err}"
    );
    // a member's own certificate passes both checks (the empty vote is then malformed)
    let err = raft_call(net, 1, &ca, &net.root.join("node2/tls"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
}

struct Row {
    step: &'static str,
    fault: String,
    resume: Duration,
    acked: usize,
    found: usize,
    height: u64,
    tip: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(
    clippy::too_many_lines,
    reason = "one fault sequence against one cluster of node processes (starting them is the cost)"
)]
async fn raft_cluster_survives_faults() {
    let t0 = Instant::now();
    let net = Network::init_raft(3, 0).unwrap();
    let partition = install_proxies(&net, 3).await;
    let mut nodes: Vec<Option<NodeProcess>> = vec![None, None, None, None, None];
    for (i, slot) in nodes.iter_mut().enumerate().take(4).skip(1) {
        *slot = Some(NodeProcess::start(&net, i).await.unwrap());
    }
    let validators: Vec<(usize, String)> = (1..=3).map(|i| (i, net.endpoint(i))).collect();
    let all3: Vec<String> = validators.iter().map(|(_, e)| e.clone()).collect();
    leader(&validators).await;
    outsiders_are_refused(&net, nodes[1].as_ref().unwrap()).await;
    // Governance below signs as the other committee members, so nonces never collide.
    let depts = ["bank", "tax", "civil-affairs"];
    let load = Load::start(&net, &depts, all3.clone());
    let probe = net.signer("supervision");
    let mut rows: Vec<Row> = Vec::new();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Checks a step: pause the load, wait for agreement, look up every acknowledged
    // transaction on every node, resume.
    macro_rules! check {
        ($step:expr, $fault:expr, $resume:expr, $endpoints:expr) => {{
            let at =
                |what: &str| eprintln!("[{:>5.1}s] {}: {what}", t0.elapsed().as_secs_f64(), $step);
            at("pausing the load");
            load.pause(depts.len()).await;
            at("waiting for the nodes to agree");
            let (height, hash, _) = match converge($endpoints).await {
                Ok(tip) => tip,
                Err(e) => panic!("{}: {e}\n{}", $step, explain(&mut nodes)),
            };
            let acked = load.acked();
            at("looking up acknowledged transactions");
            let found = found_everywhere($endpoints, &acked).await;
            assert_eq!(
                found,
                acked.len(),
                "{}: acknowledged transactions missing",
                $step
            );
            rows.push(Row {
                step: $step,
                fault: $fault,
                resume: $resume,
                acked: acked.len(),
                found,
                height,
                tip: hex::encode(&hash[..8]),
            });
            eprintln!(
                "[{:>5.1}s] {}: ok at height {height}, {} acknowledged, writes resumed in {:.2}s",
                t0.elapsed().as_secs_f64(),
                $step,
                acked.len(),
                $resume.as_secs_f64()
            );
            load.resume();
            tokio::time::sleep(Duration::from_secs(2)).await;
        }};
    }

    // 1. kill -9 the leader, then restart it.
    let l = leader(&validators).await;
    nodes[l].take().unwrap().kill9();
    let others = except(&all3, &net.endpoint(l));
    load.set_up(others.clone());
    let resume = writes_resume(&probe, &others, "kill-leader").await;
    nodes[l] = Some(NodeProcess::start(&net, l).await.unwrap());
    load.set_up(all3.clone());
    check!(
        "kill -9 leader",
        format!("node{l} killed, restarted"),
        resume,
        &all3
    );

    // 2. kill -9 a follower, then restart it.
    let l = leader(&validators).await;
    let f = (1..=3).find(|i| *i != l).unwrap();
    nodes[f].take().unwrap().kill9();
    let others = except(&all3, &net.endpoint(f));
    load.set_up(others.clone());
    let resume = writes_resume(&probe, &others, "kill-follower").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    nodes[f] = Some(NodeProcess::start(&net, f).await.unwrap());
    load.set_up(all3.clone());
    check!(
        "kill -9 follower",
        format!("node{f} killed, restarted"),
        resume,
        &all3
    );

    // 3. SIGSTOP the leader past the election timeout, then SIGCONT.
    let l = leader(&validators).await;
    nodes[l].as_ref().unwrap().signal("STOP");
    let others = except(&all3, &net.endpoint(l));
    load.set_up(others.clone());
    let resume = writes_resume(&probe, &others, "pause").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    nodes[l].as_ref().unwrap().signal("CONT");
    load.set_up(all3.clone());
    check!(
        "SIGSTOP/SIGCONT leader",
        format!("node{l} paused ~{}s", resume.as_secs() + 3),
        resume,
        &all3
    );

    // 4. Cut the leader off the others, then heal.
    let l = leader(&validators).await;
    partition.set(&[l]);
    let others = except(&all3, &net.endpoint(l));
    load.set_up(others.clone());
    let resume = writes_resume(&probe, &others, "partition").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    partition.set(&[]);
    load.set_up(all3.clone());
    check!(
        "partition leader",
        format!("node{l} cut off, healed"),
        resume,
        &all3
    );

    // 5. Restart the whole cluster (kill -9 every node).
    load.pause(depts.len()).await;
    for n in nodes.iter_mut() {
        if let Some(n) = n.take() {
            n.kill9();
        }
    }
    let down = Instant::now();
    for (i, slot) in nodes.iter_mut().enumerate().take(4).skip(1) {
        *slot = Some(NodeProcess::start(&net, i).await.unwrap());
    }
    let resume = down.elapsed() + writes_resume(&probe, &all3, "restart-all").await;
    load.resume();
    tokio::time::sleep(Duration::from_secs(2)).await;
    check!(
        "restart whole cluster",
        "all 3 killed, restarted".into(),
        resume,
        &all3
    );

    // 6. Add an observer from empty, by governance: `init-node` prepares it, the
    //    committee approves, the leader adds it as a learner. The leader's log was purged
    //    behind snapshots long ago, so it catches up by snapshot.
    let l = leader(&validators).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while purged(&net.endpoint(l)).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the leader never purged its log behind a snapshot"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started = Instant::now();
    let observer = add_observer(&net, &partition, &all3).await;
    nodes[4] = Some(observer);
    let all4: Vec<String> = (1..=4).map(|i| net.endpoint(i)).collect();
    check!(
        "add observer from empty",
        "node4 joined by governance".into(),
        started.elapsed(),
        &all4
    );
    let log = nodes[4].as_ref().unwrap().log_text();
    assert!(
        log.contains("snapshot installed"),
        "the observer did not catch up by snapshot:\n{log}"
    );
    let (_, _, _, role) = tip(&net.endpoint(4)).await.unwrap();
    assert_eq!(role, "learner", "an observer never votes");

    load.stop.store(true, Ordering::SeqCst);
    for (i, n) in nodes.iter_mut().enumerate() {
        if let Some(n) = n {
            assert!(!n.exited(), "node{i} exited:\n{}", n.log_text());
        }
    }
    use std::fmt::Write;
    let mut table = format!(
        "raft fault test: 3 validators + 1 observer, load from {} clients\n",
        depts.len()
    );
    let _ = writeln!(
        table,
        "| {:<24} | {:<28} | {:>13} | {:>6} | {:>6} | {:>6} | {:<16} |",
        "step", "fault", "writes resume", "acked", "found", "height", "tip"
    );
    for r in &rows {
        let _ = writeln!(
            table,
            "| {:<24} | {:<28} | {:>11.2} s | {:>6} | {:>6} | {:>6} | {:<16} |",
            r.step,
            r.fault,
            r.resume.as_secs_f64(),
            r.acked,
            r.found,
            r.height,
            r.tip
        );
    }
    println!("\n{table}");
    // cargo shows a passing test's output only with --nocapture: scripts/test.sh prints
    // this file.
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("raft-faults.txt"),
        table,
    )
    .unwrap();
}
