//! Four validators of a `bft` network as real node processes: every block is decided by
//! a commit certificate that an outside verifier checks from the genesis keys alone;
//! every node holds the same block at every height; a validator killed with SIGKILL
//! costs the others nothing (3 of 4 still decide), and once restarted it catches up
//! from its peers, checking each block's certificate.

use std::time::{Duration, Instant};

use govchain_client::rpc::GetTxRequest;
use govchain_integration_tests::bft::{LIMIT, blocks, commit_anchors, genesis_set};
use govchain_integration_tests::{Network, NodeProcess, connect};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_decide_every_block_by_certificate_and_survive_one_crash() {
    let net = Network::init_bft(4, 0).unwrap();
    let set = genesis_set(&net);
    let mut nodes = Vec::new();
    for i in 1..=4 {
        nodes.push(Some(NodeProcess::start(&net, i).await.unwrap()));
    }
    // Transactions submitted to any node reach whichever validator proposes.
    for (i, dept) in ["bank", "tax", "civil-affairs", "public-security"]
        .iter()
        .enumerate()
    {
        commit_anchors(&net, i + 1, dept, &format!("first-{dept}"), 20).await;
    }
    // One validator goes down hard; the other three (more than 2/3) keep deciding.
    nodes[3].take().unwrap().kill9();
    commit_anchors(&net, 1, "bank", "while-down", 20).await;
    // Back up, it catches up from its peers and decides with them again.
    nodes[3] = Some(NodeProcess::start(&net, 4).await.unwrap());
    commit_anchors(&net, 4, "tax", "after-restart", 20).await;

    let reference = blocks(&net, 1, &set).await;
    assert!(reference.len() >= 4, "{} blocks", reference.len());
    let start = Instant::now();
    for i in 2..=4 {
        loop {
            let theirs = blocks(&net, i, &set).await;
            let common = reference.len().min(theirs.len());
            for (h, (hash, _)) in theirs.iter().take(common) {
                assert_eq!(
                    &reference[h].0, hash,
                    "node{i} holds another block at height {h}"
                );
            }
            if theirs.len() >= reference.len() {
                break;
            }
            assert!(
                start.elapsed() < LIMIT,
                "node{i} stays behind at {} of {}",
                theirs.len(),
                reference.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for (h, (_, signers)) in &reference {
        assert!(*signers >= 3, "block {h}: {signers} signers");
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        let n = n.as_mut().unwrap();
        assert!(!n.exited(), "node{} exited:\n{}", i + 1, n.log_text());
    }
    println!(
        "{} blocks decided, each by a certificate of ≥ 3 of 4",
        reference.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_validator_and_a_restart_of_all_lose_nothing() {
    let net = Network::init_bft(4, 0).unwrap();
    let set = genesis_set(&net);
    let mut nodes = Vec::new();
    for i in 1..=4 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    let mut committed = commit_anchors(&net, 1, "bank", "before", 10).await;
    // A validator frozen mid-height (SIGSTOP): when it is a round's proposer, that round
    // times out and the next proposer goes on; the others never wait for it.
    nodes[1].signal("STOP");
    for round in 0..3 {
        committed.extend(commit_anchors(&net, 3, "tax", &format!("paused-{round}"), 5).await);
    }
    nodes[1].signal("CONT");
    // Every validator killed at once, then started again on its stored chain: what was
    // committed is there, and the chain goes on (each one's signing record keeps it from
    // signing anything else for a step it signed before the crash).
    for n in nodes.drain(..) {
        n.kill9();
    }
    for i in 1..=4 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    committed.extend(commit_anchors(&net, 2, "civil-affairs", "after", 10).await);
    let reference = blocks(&net, 1, &set).await;
    let start = Instant::now();
    for i in 2..=4 {
        loop {
            let theirs = blocks(&net, i, &set).await;
            for (h, (hash, _)) in &theirs {
                if let Some((ours, _)) = reference.get(h) {
                    assert_eq!(ours, hash, "node{i} holds another block at height {h}");
                }
            }
            if theirs.len() >= reference.len() {
                break;
            }
            assert!(start.elapsed() < LIMIT, "node{i} stays behind");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut c = connect(&net.endpoint(4)).await.unwrap();
    for h in &committed {
        let r = c
            .get_tx(GetTxRequest {
                tx_hash: h.to_vec(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(r.receipt.is_some(), "an acknowledged transaction is lost");
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        assert!(!n.exited(), "node{} exited:\n{}", i + 1, n.log_text());
    }
}
