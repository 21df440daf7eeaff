//! Four validators of a `bft` network as real node processes: every block is decided by
//! a commit certificate that an outside verifier checks from the genesis keys alone;
//! every node holds the same block at every height; a validator killed with SIGKILL
//! costs the others nothing (3 of 4 still decide), and once restarted it catches up
//! from its peers, checking each block's certificate.

use std::time::Duration;

use govchain_integration_tests::bft::{
    LIMIT, all_running, commit_anchors, converge, genesis_set, health, height, on_all,
    submit_anchors, summary_row, wait_peer,
};
use govchain_integration_tests::{Network, NodeProcess};

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
    // The others' status shows it down, and their decisions going on.
    let health = wait_peer(&net, 1, "node4", false).await;
    assert!(health.decided >= 1, "{health:?}");
    assert!(
        !health
            .peers
            .iter()
            .find(|p| p.id == "node4")
            .unwrap()
            .error
            .is_empty()
    );
    // Back up, it catches up from its peers and decides with them again.
    nodes[3] = Some(NodeProcess::start(&net, 4).await.unwrap());
    commit_anchors(&net, 4, "tax", "after-restart", 20).await;
    wait_peer(&net, 1, "node4", true).await;
    let health = wait_peer(&net, 4, "node1", true).await;
    assert!(health.height > 1, "{health:?}");

    let reference = converge(&net, 1, &[2, 3, 4], &set).await;
    assert!(reference.len() >= 4, "{} blocks", reference.len());
    for (h, (_, signers)) in &reference {
        assert!(*signers >= 3, "block {h}: {signers} signers");
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        let n = n.as_mut().unwrap();
        assert!(!n.exited(), "node{} exited:\n{}", i + 1, n.log_text());
    }
    summary_row(
        "crash: one validator killed (SIGKILL), restarted",
        &format!(
            "{} blocks, each by a certificate of ≥ 3 of 4; it caught up",
            reference.len()
        ),
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
    // A second one frozen: no quorum, so the height started on these anchors stays
    // undecided; within the propose timeout (3 s) each validator still running has
    // logged a proposal or the timeout, and its prevote.
    nodes[2].signal("STOP");
    let tip = height(&net, 1).await;
    submit_anchors(&net, 1, "bank", "cut-short", 3).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(height(&net, 1).await, tip, "decided without a quorum");
    // Every validator killed at once, then started again on its stored chain: what was
    // committed is there, the height cut short resumes from the write-ahead logs (each
    // validator where it was, its lock included) and the chain goes on; each one's
    // signing record keeps it from signing anything else for a step it signed before.
    for n in nodes.drain(..) {
        n.kill9();
    }
    for i in 1..=4 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    let resumed = health(&net, 1).await.resumed_entries;
    assert!(resumed > 0, "node1 did not resume from its write-ahead log");
    committed.extend(commit_anchors(&net, 2, "civil-affairs", "after", 10).await);
    converge(&net, 1, &[2, 3, 4], &set).await;
    on_all(&net, &[4], &committed).await;
    all_running(&mut nodes);
    summary_row(
        "crash: one validator frozen (SIGSTOP); all four killed mid-height, restarted",
        &format!(
            "{} acknowledged transactions all committed; node1 resumed from {resumed} log entries; the chain went on",
            committed.len()
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_and_an_observer_started_late_catch_up_from_genesis() {
    let net = Network::init_bft(4, 1).unwrap();
    let set = genesis_set(&net);
    let mut nodes = Vec::new();
    for i in 1..=3 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    // More blocks than one catch-up answer holds (64), one transaction each.
    let mut committed = Vec::new();
    for i in 0..70 {
        committed.extend(commit_anchors(&net, 1 + i % 3, "bank", &format!("early-{i}"), 1).await);
    }
    // node4 (a validator) and node5 (an observer) start from an empty store and fetch
    // every block from genesis, committing each only with a certificate of the set.
    nodes.push(NodeProcess::start(&net, 4).await.unwrap());
    nodes.push(NodeProcess::start(&net, 5).await.unwrap());
    committed.extend(commit_anchors(&net, 4, "tax", "late", 5).await);
    let blocks = converge(&net, 1, &[4, 5], &set).await;
    assert!(blocks.len() > 64, "{} blocks", blocks.len());
    on_all(&net, &[4, 5], &committed).await;
    // The observer never votes: no certificate carries its signature.
    for (h, (_, signers)) in &blocks {
        assert!(
            *signers >= 3 && *signers <= 4,
            "block {h}: {signers} signers"
        );
    }
    all_running(&mut nodes);
    summary_row(
        "crash: a validator and an observer start late, from an empty store",
        &format!("both caught up from genesis over {} blocks", blocks.len()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitions_stop_only_a_side_without_a_quorum_and_heal() {
    use govchain_integration_tests::bft::{height, submit_anchors, wait_committed};
    let net = Network::init_bft(4, 0).unwrap();
    let partition = govchain_integration_tests::partition::install_bft_proxies(&net, 4).await;
    let set = genesis_set(&net);
    let mut nodes = Vec::new();
    for i in 1..=4 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    let mut committed = commit_anchors(&net, 1, "bank", "before", 5).await;
    // 1 | 3: node4 alone decides nothing; the other three (more than 2/3) go on.
    partition.set(&[4]);
    let alone = height(&net, 4).await;
    committed.extend(commit_anchors(&net, 2, "tax", "three-of-four", 10).await);
    assert_eq!(height(&net, 4).await, alone, "node4 alone decided a block");
    // Healed, on a chain gone idle: node4 learns its peers' height from the tips they
    // send now and then, and catches up with no new block to show it.
    partition.set(&[]);
    let start = std::time::Instant::now();
    while height(&net, 4).await < height(&net, 1).await {
        assert!(
            start.elapsed() < LIMIT,
            "node4 stays behind on an idle chain"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let healed = submit_anchors(&net, 2, "tax", "healed", 5).await;
    wait_committed(&net, 4, &healed).await;
    committed.extend(healed);
    // Every node at one height first (the chain is idle), so that a height that moves
    // during the split is a block a side of two decided, not one decided before it.
    let start = std::time::Instant::now();
    loop {
        let mut heights = Vec::new();
        for i in 1..=4 {
            heights.push(height(&net, i).await);
        }
        if heights.iter().all(|h| *h == heights[0]) {
            break;
        }
        assert!(start.elapsed() < LIMIT, "nodes stay apart: {heights:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // 2 | 2: no side holds more than 2/3: what is submitted waits, on both sides.
    partition.set(&[3, 4]);
    let before: Vec<u64> = [height(&net, 1).await, height(&net, 3).await].to_vec();
    let waiting = [
        submit_anchors(&net, 1, "civil-affairs", "split-a", 5).await,
        submit_anchors(&net, 3, "public-security", "split-b", 5).await,
    ]
    .concat();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during: Vec<u64> = [height(&net, 1).await, height(&net, 3).await].to_vec();
    assert_eq!(before, during, "a side of two decided a block");
    // Healed: all of it commits, and every node holds the same blocks.
    partition.set(&[]);
    wait_committed(&net, 2, &waiting).await;
    committed.extend(waiting);
    let blocks = govchain_integration_tests::bft::converge(&net, 1, &[2, 3, 4], &set).await;
    for i in 1..=4 {
        wait_committed(&net, i, &committed).await;
    }
    all_running(&mut nodes);
    summary_row(
        "network: partitions 1 | 3 and 2 | 2, each healed",
        &format!(
            "only a side of three decided; {} blocks, {} transactions, all on all four",
            blocks.len(),
            committed.len()
        ),
    );
}
