//! The BFT fault suite's Byzantine validators (`docs/design/bft.md`, "Fault suite"):
//! four real node processes, one started with `GOVCHAIN_BYZANTINE=<fault>` (the
//! test-only `byzantine` build feature). After each fault the three honest validators
//! keep committing, nothing acknowledged is lost, they hold one block per height, each
//! decided by a certificate checked from the genesis keys, and what can be recorded as
//! evidence is on chain.

use std::time::{Duration, Instant};

use govchain_client::rpc::{GetStatusRequest, GetTxRequest};
use govchain_integration_tests::bft::{LIMIT, commit_anchors, converge, genesis_set};
use govchain_integration_tests::{Network, NodeProcess, cli_json, connect};
use govchain_proof::evidence::check_evidence;

/// Starts four validators, node4 with `fault`.
async fn network_with(fault: &str) -> (Network, Vec<NodeProcess>) {
    let net = Network::init_bft(4, 0).unwrap();
    let mut nodes = Vec::new();
    for i in 1..=3 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    let env = [("GOVCHAIN_BYZANTINE", fault)];
    nodes.push(NodeProcess::start_with_env(&net, 4, &env).await.unwrap());
    (net, nodes)
}

/// Every transaction in `committed` has a receipt on each honest node.
async fn none_lost(net: &Network, committed: &[[u8; 32]]) {
    for i in 1..=3 {
        let mut c = connect(&net.endpoint(i)).await.unwrap();
        for h in committed {
            let r = c
                .get_tx(GetTxRequest {
                    tx_hash: h.to_vec(),
                })
                .await
                .unwrap()
                .into_inner();
            assert!(
                r.receipt.is_some(),
                "node{i} lost an acknowledged transaction"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_equivocating_validator_is_caught_on_chain_and_the_others_go_on() {
    let (net, mut nodes) = network_with("equivocate").await;
    let set = genesis_set(&net);
    // Under load at the honest nodes, while node4 signs every vote and proposal twice.
    let mut committed = Vec::new();
    for round in 0..4 {
        let at = 1 + round % 3;
        committed.extend(commit_anchors(&net, at, "bank", &format!("byz-{round}"), 10).await);
    }
    // The evidence reaches the chain: an honest validator reports it, every honest node
    // executes it, and it names node4 and no one else.
    let start = Instant::now();
    let status = loop {
        let s = connect(&net.endpoint(2))
            .await
            .unwrap()
            .get_status(GetStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if s.evidence_count > 0 {
            break s;
        }
        assert!(start.elapsed() < LIMIT, "no evidence recorded");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for r in &status.evidence {
        assert_eq!(r.validator, "node4", "an honest validator accused: {r:?}");
        assert_ne!(r.reporter, "node4");
        // Anyone can check it from the genesis keys alone.
        let offence = check_evidence("it-bft", &set, r.evidence.as_ref().unwrap()).unwrap();
        assert_eq!((offence.height, offence.round), (r.height, r.round));
    }
    // The chain goes on after the evidence, and the honest three agree on every block.
    committed.extend(commit_anchors(&net, 3, "tax", "after-evidence", 10).await);
    let blocks = converge(&net, 1, &[2, 3], &set).await;
    for (h, (_, signers)) in &blocks {
        assert!(*signers >= 3, "block {h}: {signers} signers");
    }
    none_lost(&net, &committed).await;
    // The operator sees it in `govchain status`.
    let out = cli_json(&net.endpoint(1), &net.root, &["status"], &[]).unwrap();
    assert!(out["evidence"]["count"].as_u64().unwrap() >= 1, "{out}");
    assert_eq!(out["evidence"]["recent"][0]["validator"], "node4");
    for (i, n) in nodes.iter_mut().enumerate().take(3) {
        assert!(!n.exited(), "node{} exited:\n{}", i + 1, n.log_text());
    }
    println!(
        "{} equivocation(s) of node4 recorded; {} blocks agreed by the honest three",
        status.evidence_count,
        blocks.len()
    );
}
