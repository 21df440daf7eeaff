//! The BFT fault suite's Byzantine validators (`docs/design/bft.md`, "Fault suite"):
//! four real node processes, one started with `GOVCHAIN_BYZANTINE=<fault>` (the
//! test-only `byzantine` build feature). After each fault the three honest validators
//! keep committing, nothing acknowledged is lost, they hold one block per height, each
//! decided by a certificate checked from the genesis keys, and what can be recorded as
//! evidence is on chain.

use std::time::{Duration, Instant};

use govchain_integration_tests::bft::{
    LIMIT, all_running, commit_anchors, converge, genesis_set, height, load, on_all, summary_row,
};
use govchain_integration_tests::{Auditor, Network, NodeProcess, cli_json, connect};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_equivocating_validator_is_caught_on_chain_and_the_others_go_on() {
    let (net, mut nodes) = network_with("equivocate").await;
    let set = genesis_set(&net);
    // Under load at the honest nodes, while node4 signs every vote and proposal twice.
    let mut committed = load(&net, "bank", "byz", 4, 10).await;
    // The evidence reaches the chain: an honest validator reports it, every honest node
    // executes it, and it names node4 and no one else.
    let start = Instant::now();
    let status = loop {
        let s = govchain_integration_tests::bft::status(&net, 2).await;
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
        let offence = check_evidence("it-bft", &set[0], r.evidence.as_ref().unwrap()).unwrap();
        assert_eq!((offence.height, offence.round), (r.height, r.round));
    }
    // The chain goes on after the evidence, and the honest three agree on every block.
    committed.extend(commit_anchors(&net, 3, "tax", "after-evidence", 10).await);
    let blocks = converge(&net, 1, &[2, 3], &set).await;
    for (h, (_, signers)) in &blocks {
        assert!(*signers >= 3, "block {h}: {signers} signers");
    }
    on_all(&net, &[1, 2, 3], &committed).await;
    // The operator sees it in `govchain status`.
    let out = cli_json(
        &net.endpoint(1),
        &net.root,
        &["status", "--as", "supervision"],
        &[],
    )
    .unwrap();
    assert!(out["evidence"]["count"].as_u64().unwrap() >= 1, "{out}");
    assert_eq!(out["evidence"]["recent"][0]["validator"], "node4");
    all_running(&mut nodes[..3]);
    summary_row(
        "byzantine: equivocating validator (votes and proposals signed twice)",
        &format!(
            "{} equivocation(s) of node4 recorded; {} blocks agreed by the honest three",
            status.evidence_count,
            blocks.len()
        ),
    );
}

/// No evidence was ever recorded (on node `i`).
async fn no_evidence(net: &Network, i: usize) {
    let s = govchain_integration_tests::bft::status(net, i).await;
    assert_eq!(
        s.evidence_count, 0,
        "an honest validator accused: {:?}",
        s.evidence
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn votes_under_another_validators_name_are_dropped_and_frame_nobody() {
    let (net, mut nodes) = network_with("impersonate").await;
    let set = genesis_set(&net);
    let committed = load(&net, "tax", "imp", 3, 10).await;
    let blocks = converge(&net, 1, &[2, 3, 4], &set).await;
    on_all(&net, &[1, 2, 3], &committed).await;
    // node4's copies naming node1 never reach a core: each honest node drops them at
    // the door, naming node4, and node1 (whose name they carry) is accused of nothing.
    for (i, n) in nodes.iter_mut().enumerate().take(3) {
        let log = n.log_text();
        assert!(
            log.lines()
                .any(|l| l.contains("names validator 'node1', not the sender")
                    && l.contains("peer=node4")),
            "node{} did not drop node4's votes in node1's name:\n{log}",
            i + 1
        );
        assert!(!n.exited(), "node{} exited:\n{log}", i + 1);
    }
    for i in 1..=3 {
        no_evidence(&net, i).await;
    }
    summary_row(
        "byzantine: votes signed under another validator's name",
        &format!(
            "{} blocks; node4's votes in node1's name dropped",
            blocks.len()
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proposer_with_its_clock_a_year_ahead_costs_only_its_rounds() {
    let (net, mut nodes) = network_with("clock-ahead").await;
    let set = genesis_set(&net);
    // Enough heights that node4 is the round-0 proposer of several.
    let committed = load(&net, "bank", "clock", 6, 5).await;
    let blocks = converge(&net, 1, &[2, 3], &set).await;
    on_all(&net, &[1, 2, 3], &committed).await;
    // No decided block carries node4's time: every block time is within the drift bound
    // (5 s) of the clock of the test, which shares the machine with the nodes.
    let latest = govchain_integration_tests::bft::block_times(&net, 1).await;
    let bound = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 5_000;
    for (h, t) in &latest {
        assert!(*t <= bound, "block {h} has time {t}, ahead of {bound}");
    }
    let refused = honest_logs_saying(&nodes, "within 5000 ms of this validator's clock");
    assert!(
        refused >= 2,
        "the honest validators refused node4's blocks for their time"
    );
    all_running(&mut nodes[..3]);
    summary_row(
        "byzantine: proposer's clock a year ahead",
        &format!(
            "{} blocks, none a year ahead; {refused} honest validators refused node4's",
            blocks.len()
        ),
    );
}

/// How many of the honest nodes' logs (nodes 1–3) say `what`.
fn honest_logs_saying(nodes: &[NodeProcess], what: &str) -> usize {
    nodes
        .iter()
        .take(3)
        .filter(|n| n.log_text().contains(what))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proposer_re_including_committed_transactions_costs_only_its_rounds() {
    let (net, mut nodes) = network_with("reinclude").await;
    let set = genesis_set(&net);
    let committed = load(&net, "civil-affairs", "re", 6, 5).await;
    let blocks = converge(&net, 1, &[2, 3], &set).await;
    on_all(&net, &[1, 2, 3], &committed).await;
    // Every committed transaction succeeded once: none was executed a second time as a
    // failure (what a raft leader could do: review finding, "re-included").
    let mut c = connect(&net.endpoint(1)).await.unwrap();
    let auditor = Auditor::of(&net, &net.endpoint(1)).await;
    for h in &committed {
        let r = c
            .get_tx(auditor.get_tx(h))
            .await
            .unwrap()
            .into_inner()
            .receipt
            .unwrap();
        assert_eq!(r.status, govchain_types::pb::TxStatus::Ok as i32, "{r:?}");
    }
    let refused = honest_logs_saying(&nodes, "committed in block");
    assert!(
        refused >= 2,
        "the honest validators refused node4's re-including blocks"
    );
    all_running(&mut nodes[..3]);
    summary_row(
        "byzantine: proposer re-including committed transactions",
        &format!(
            "{} blocks; {refused} honest validators refused node4's",
            blocks.len()
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proposer_over_the_block_caps_costs_only_its_rounds() {
    // A chain whose blocks hold at most 20 transactions.
    let net = Network::init_bft(4, 0).unwrap();
    let path = net.root.join("genesis.json");
    let mut g: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    g["params"]["max_block_txs"] = 20.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&g).unwrap()).unwrap();
    let mut nodes = Vec::new();
    for i in 1..=3 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    let env = [("GOVCHAIN_BYZANTINE", "oversized")];
    nodes.push(NodeProcess::start_with_env(&net, 4, &env).await.unwrap());
    let set = genesis_set(&net);
    // Bursts of 60: node4 proposes all of them in one block whenever it is the proposer.
    let committed = load(&net, "bank", "big", 4, 60).await;
    let blocks = converge(&net, 1, &[2, 3], &set).await;
    on_all(&net, &[1, 2, 3], &committed).await;
    let mut c = connect(&net.endpoint(1)).await.unwrap();
    let auditor = Auditor::of(&net, &net.endpoint(1)).await;
    for h in 1..=blocks.len() as u64 {
        let b = c
            .get_block(auditor.get_block(govchain_client::rpc::get_block_request::At::Height(h)))
            .await
            .unwrap()
            .into_inner();
        assert!(
            b.block.unwrap().txs.len() <= 20,
            "block {h} is over the cap"
        );
    }
    let refused = honest_logs_saying(&nodes, "over max_block_txs 20");
    assert!(
        refused >= 2,
        "the honest validators refused node4's oversized blocks"
    );
    all_running(&mut nodes[..3]);
    summary_row(
        "byzantine: proposer over max_block_txs",
        &format!(
            "{} blocks, none over 20 transactions; {refused} refused node4's",
            blocks.len()
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_catching_up_refuses_forged_answers_and_asks_another_peer() {
    let (net, mut nodes) = network_with("forged-catchup").await;
    let set = genesis_set(&net);
    let mut committed = commit_anchors(&net, 1, "tax", "before", 5).await;
    // node3 goes down; the others (node4 among them, voting honestly) decide on.
    let refused =
        |l: &str| l.contains("commit certificate that does not verify") && l.contains("peer=node4");
    let node3 = nodes.remove(2);
    let earlier = node3.log_text().lines().filter(|l| refused(l)).count();
    node3.kill9();
    for round in 0..4 {
        committed
            .extend(commit_anchors(&net, 1 + round % 2, "bank", &format!("down-{round}"), 5).await);
    }
    // node1 and node2 frozen (SIGSTOP): back up, node3 hears only node4, which claims
    // to be 1,000 heights ahead and serves blocks whose certificates hold one signature.
    // node3 commits none of them and passes node4 over.
    nodes[0].signal("STOP");
    nodes[1].signal("STOP");
    nodes.insert(2, NodeProcess::start(&net, 3).await.unwrap());
    let stored = height(&net, 3).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes[2].log_text().lines().filter(|l| refused(l)).count() == earlier {
        assert!(
            Instant::now() < deadline,
            "node3 did not refuse node4's forged blocks within 30 s:\n{}",
            nodes[2].log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        height(&net, 3).await,
        stored,
        "node3 committed a forged block"
    );
    // node1 and node2 back: node3 catches up from them, and the chain goes on.
    nodes[0].signal("CONT");
    nodes[1].signal("CONT");
    committed.extend(commit_anchors(&net, 2, "tax", "after", 5).await);
    let blocks = converge(&net, 1, &[2, 3], &set).await;
    on_all(&net, &[1, 2, 3], &committed).await;
    let log = nodes[2].log_text();
    assert!(!nodes[2].exited(), "node3 exited:\n{log}");
    summary_row(
        "byzantine: forged catch-up answers, claims 1,000 heights ahead",
        &format!(
            "node3 refused node4's forged blocks and caught up: {} blocks",
            blocks.len()
        ),
    );
}
