//! Helpers of the tests of `bft` networks: the genesis validator set, anchors committed
//! and waited for, and every block checked against its commit certificate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use govchain_client::rpc::{BftHealth, GetStatusRequest, GetStatusResponse, SubmitTxsRequest};
use govchain_crypto::PublicKey;
use govchain_proof::commit::{ValidatorSet, verify_commit};
use govchain_types::pb;

use crate::{Network, NodeProcess, Submit, anchor, connect};

/// How long a test waits for anything.
pub const LIMIT: Duration = Duration::from_secs(120);

/// The genesis voting validator set (observers left out), from the network's genesis
/// file: the first of the sets [`blocks`] walks (a test that changes the set adds the
/// ones it makes).
pub fn genesis_set(net: &Network) -> Vec<ValidatorSet> {
    let g: serde_json::Value =
        serde_json::from_slice(&std::fs::read(net.root.join("genesis.json")).unwrap()).unwrap();
    let voting = g["validators"].as_array().unwrap().iter();
    ValidatorSet::new(voting.filter(|v| v["observer"] != true).map(|v| {
        let key = hex::decode(v["public_key"].as_str().unwrap()).unwrap();
        (
            v["id"].as_str().unwrap().to_string(),
            PublicKey::from_sec1(&key).unwrap(),
        )
    }))
    .map(|set| vec![set])
    .unwrap()
}

/// Submits `n` anchors of `dept` to node `at` and waits until each commits there.
pub async fn commit_anchors(
    net: &Network,
    at: usize,
    dept: &str,
    tag: &str,
    n: u64,
) -> Vec<[u8; 32]> {
    let hashes = submit_anchors(net, at, dept, tag, n).await;
    wait_committed(net, at, &hashes).await;
    hashes
}

/// Submits `n` anchors of `dept` to node `at`; returns their hashes once admitted.
pub async fn submit_anchors(
    net: &Network,
    at: usize,
    dept: &str,
    tag: &str,
    n: u64,
) -> Vec<[u8; 32]> {
    let signer = net.signer(dept);
    let mut c = connect(&net.endpoint(at)).await.unwrap();
    let chain_id = c
        .get_status(GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .chain_id;
    let first = signer.next_nonce(&net.endpoint(at)).await.unwrap();
    let txs: Vec<pb::SignedTx> = (first..first + n)
        .map(|i| signer.sign(&chain_id, i, anchor(&format!("{tag}-{i}"))))
        .collect();
    let r = c
        .submit_txs(SubmitTxsRequest { txs: txs.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(r.results.iter().all(|r| r.error.is_none()), "{r:?}");
    txs.iter().map(|t| govchain_crypto::sm3(&t.body)).collect()
}

/// Waits until every transaction of `hashes` has a receipt on node `at`.
pub async fn wait_committed(net: &Network, at: usize, hashes: &[[u8; 32]]) {
    let mut c = connect(&net.endpoint(at)).await.unwrap();
    let auditor = crate::Auditor::of(net, &net.endpoint(at)).await;
    let start = Instant::now();
    for h in hashes {
        loop {
            let r = c
                .get_tx(auditor.get_tx(h))
                .await
                .ok()
                .map(|r| r.into_inner());
            if r.is_some_and(|r| r.receipt.is_some()) {
                break;
            }
            assert!(
                start.elapsed() < LIMIT,
                "node{at}: not committed within {LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Node `i`'s full status, as the auditor reads it.
pub async fn status(net: &Network, i: usize) -> GetStatusResponse {
    crate::Auditor::of(net, &net.endpoint(i))
        .await
        .status()
        .await
}

/// Node `i`'s engine health.
pub async fn health(net: &Network, i: usize) -> BftHealth {
    status(net, i)
        .await
        .bft
        .expect("a bft node reports its engine's health")
}

/// Waits until node `i`'s engine sees peer `peer` as `reachable`; returns the engine's
/// health then.
pub async fn wait_peer(net: &Network, i: usize, peer: &str, reachable: bool) -> BftHealth {
    let start = Instant::now();
    loop {
        let health = health(net, i).await;
        if health
            .peers
            .iter()
            .any(|p| p.id == peer && p.reachable == Some(reachable))
        {
            return health;
        }
        assert!(
            start.elapsed() < LIMIT,
            "node{i} never saw {peer} reachable = {reachable}: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Node `i`'s height.
pub async fn height(net: &Network, i: usize) -> u64 {
    status(net, i).await.height
}

/// Node `i`'s blocks from 1 to its tip, by height.
async fn all_blocks(net: &Network, i: usize) -> BTreeMap<u64, pb::Block> {
    let mut c = connect(&net.endpoint(i)).await.unwrap();
    let auditor = crate::Auditor::of(net, &net.endpoint(i)).await;
    let mut out = BTreeMap::new();
    for h in 1..=height(net, i).await {
        let b = c
            .get_block(auditor.get_block(govchain_client::rpc::get_block_request::At::Height(h)))
            .await
            .unwrap()
            .into_inner();
        out.insert(h, b.block.unwrap());
    }
    out
}

/// Node `i`'s blocks from 1 to its tip, by height: (hash, certificate signers), each
/// checked as a light client would: it names the set in force, and its certificate
/// holds precommits of more than 2/3 of that set. The set in force is `sets[0]` from
/// genesis, then the one of `sets` a block names as the next (a governance change).
pub async fn blocks(
    net: &Network,
    i: usize,
    sets: &[ValidatorSet],
) -> BTreeMap<u64, (Vec<u8>, usize)> {
    let mut set = &sets[0];
    let mut out = BTreeMap::new();
    for (h, block) in all_blocks(net, i).await {
        let hash = govchain_crypto::sm3(&block.header);
        let header: pb::BlockHeader =
            govchain_types::decode("block header", &block.header).unwrap();
        assert_eq!(
            header.validators_hash,
            set.hash(),
            "node{i}: block {h} names another set than the one in force"
        );
        let cert = block
            .commit
            .unwrap_or_else(|| panic!("node{i}: block {h} has no commit certificate"));
        let signers = verify_commit("it-bft", set, h, &hash, &cert)
            .unwrap_or_else(|e| panic!("node{i}: block {h}'s certificate: {e}"));
        if header.next_validators_hash != set.hash() {
            set = sets
                .iter()
                .find(|s| s.hash().as_slice() == header.next_validators_hash)
                .unwrap_or_else(|| panic!("node{i}: block {h} moves to a set no one made"));
        }
        out.insert(h, (hash.to_vec(), signers));
    }
    out
}

/// Waits until nodes `others` hold every block node `reference` holds, and checks on
/// the way that they hold the same block at every height. Returns the reference's.
pub async fn converge(
    net: &Network,
    reference: usize,
    others: &[usize],
    sets: &[ValidatorSet],
) -> BTreeMap<u64, (Vec<u8>, usize)> {
    let ours = blocks(net, reference, sets).await;
    let start = Instant::now();
    for &i in others {
        loop {
            let theirs = blocks(net, i, sets).await;
            for (h, (hash, _)) in &theirs {
                if let Some((mine, _)) = ours.get(h) {
                    assert_eq!(mine, hash, "node{i} holds another block at height {h}");
                }
            }
            if theirs.len() >= ours.len() {
                break;
            }
            assert!(
                start.elapsed() < LIMIT,
                "node{i} stays behind at {} of {}",
                theirs.len(),
                ours.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    ours
}

/// Node `i`'s block times from 1 to its tip, by height.
pub async fn block_times(net: &Network, i: usize) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for (h, block) in all_blocks(net, i).await {
        let header: pb::BlockHeader =
            govchain_types::decode("block header", &block.header).unwrap();
        out.insert(h, header.time_ms);
    }
    out
}

/// Commits `batches` batches of `n` anchors of `dept`, to nodes 1, 2 and 3 in turn;
/// returns their hashes.
pub async fn load(net: &Network, dept: &str, tag: &str, batches: usize, n: u64) -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    for b in 0..batches {
        out.extend(commit_anchors(net, 1 + b % 3, dept, &format!("{tag}-{b}"), n).await);
    }
    out
}

/// Waits until every transaction of `hashes` has a receipt on each of `nodes`.
pub async fn on_all(net: &Network, nodes: &[usize], hashes: &[[u8; 32]]) {
    for &i in nodes {
        wait_committed(net, i, hashes).await;
    }
}

/// Checks that none of `nodes` (node1, node2, … in order) has exited.
pub fn all_running(nodes: &mut [NodeProcess]) {
    for (i, n) in nodes.iter_mut().enumerate() {
        assert!(!n.exited(), "node{} exited:\n{}", i + 1, n.log_text());
    }
}

/// Adds a row to the fault suite's summary (`scripts/test.sh` prints it after the
/// tests; cargo shows a passing test's output only with `--nocapture`): the fault, and
/// what the honest validators did about it.
pub fn summary_row(fault: &str, outcome: &str) {
    use std::io::Write;
    // The test binary is <target>/debug/deps/<name>: the file goes to <target>/tmp, the
    // folder cargo gives integration tests (CARGO_TARGET_TMPDIR).
    let exe = std::env::current_exe().expect("test executable path");
    let target = exe.ancestors().nth(3).expect("target folder");
    let dir = target.join("tmp");
    std::fs::create_dir_all(&dir).expect("the target's tmp folder");
    let path = dir.join("bft-faults.txt");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("the fault summary file");
    // One write per row: rows of tests running at once do not interleave.
    f.write_all(format!("{fault}\t{outcome}\n").as_bytes())
        .expect("writing the fault summary");
}
