//! Validator set changes on a live BFT network of four real node processes. Governance
//! adds a fifth validator (prepared with `govchain init-node`, started from an empty
//! store): it catches up and then votes, which the chain needs once one of the first
//! four is stopped (five validators decide with four). Governance then removes the
//! stopped one, and the remaining four decide without it even with a second one
//! stopped (four decide with three). Every block of every node checks against the set
//! in force at its height, walked from genesis through both changes. In a second network
//! governance replaces a validator's compromised key: the node notices, restarts with the
//! new key and votes again, and the blocks certified with the old key still verify.

use std::time::{Duration, Instant};

use govchain_crypto::PublicKey;
use govchain_integration_tests::bft::{
    LIMIT, all_running, commit_anchors, converge, genesis_set, height, status, summary_row,
};
use govchain_integration_tests::{Network, NodeProcess, govchain, govern};
use govchain_proof::commit::ValidatorSet;
use serde_json::Value;

/// The voting validators node `i` reports, by id.
async fn voting(net: &Network, i: usize) -> Vec<String> {
    status(net, i)
        .await
        .validators
        .into_iter()
        .filter(|v| !v.observer)
        .map(|v| v.id)
        .collect()
}

/// Waits until node `i` reports `expected` as the voting validators.
async fn wait_voting(net: &Network, i: usize, expected: &[&str]) {
    let start = Instant::now();
    while voting(net, i).await != expected {
        assert!(
            start.elapsed() < LIMIT,
            "node{i} reports voting validators {:?}, not {expected:?}",
            voting(net, i).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn governance_adds_and_removes_validators_of_a_running_network() {
    let net = Network::init_bft(4, 0).unwrap();
    let mut nodes = Vec::new();
    for i in 1..=4 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    let mut sets = genesis_set(&net);
    commit_anchors(&net, 1, "tax", "before", 5).await;

    // a fifth node, prepared for the running network and started from an empty store:
    // the others refuse its calls until governance adds it
    let prepared: Value = serde_json::from_str(
        &govchain(&[
            "--json",
            "init-node",
            "--network",
            net.root.to_str().unwrap(),
            "--id",
            "node5",
            "--department",
            "tax",
            "--grpc-port",
            &(net.base_port + 40).to_string(),
            "--plain-keys",
        ])
        .unwrap(),
    )
    .unwrap();
    let key = prepared["public_key"].as_str().unwrap();
    let addr = prepared["addr"].as_str().unwrap();
    nodes.push(NodeProcess::start(&net, 5).await.unwrap());
    govern(
        &net,
        2,
        &[
            "add-validator",
            "--id",
            "node5",
            "--department",
            "tax",
            "--public-key",
            key,
            "--addr",
            addr,
        ],
    );
    wait_voting(&net, 1, &["node1", "node2", "node3", "node4", "node5"]).await;
    let five = ValidatorSet::new(
        sets[0]
            .ids()
            .map(|id| (id.to_string(), sets[0].key(id).unwrap().clone()))
            .chain([(
                "node5".to_string(),
                PublicKey::from_sec1(&hex::decode(key).unwrap()).unwrap(),
            )]),
    )
    .unwrap();
    sets.push(five.clone());

    // node5 catches up, then its vote is needed: with node1 stopped, five validators
    // decide only with all four others
    let start = Instant::now();
    while height(&net, 5).await < height(&net, 1).await {
        assert!(start.elapsed() < LIMIT, "node5 does not catch up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    nodes.remove(0).kill9(); // node1
    commit_anchors(&net, 2, "civil-affairs", "five", 5).await;

    // node1 goes: the four left decide with three of them
    govern(&net, 3, &["remove-validator", "--id", "node1"]);
    wait_voting(&net, 2, &["node2", "node3", "node4", "node5"]).await;
    let four = ValidatorSet::new(
        five.ids()
            .filter(|id| *id != "node1")
            .map(|id| (id.to_string(), five.key(id).unwrap().clone())),
    )
    .unwrap();
    sets.push(four);
    nodes.remove(0).kill9(); // node2
    commit_anchors(&net, 3, "housing", "four", 5).await;

    // every node's chain walks from genesis through both changes, node5's included
    let blocks = converge(&net, 3, &[4, 5], &sets).await;
    all_running(&mut nodes);
    // node5 started before governance added it: its job runner started once it was.
    let log = nodes[2].log_text();
    assert!(
        log.contains("now a voting validator: its job runner starts"),
        "node5's job runner did not start:\n{log}"
    );
    summary_row(
        "validator set changes: a 5th added and voting, one removed",
        &format!(
            "{} blocks, each certified by the set in force (walked from genesis)",
            blocks.len()
        ),
    );
}

/// Node `i`'s view of validator `id`'s block-signing key.
async fn key_of(net: &Network, i: usize, id: &str) -> Vec<u8> {
    status(net, i)
        .await
        .validators
        .into_iter()
        .find(|v| v.id == id)
        .map(|v| v.public_key)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn governance_replaces_a_validators_key_and_history_still_verifies() {
    let net = Network::init_bft(4, 0).unwrap();
    let mut nodes = Vec::new();
    for i in 1..=4 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    let mut sets = genesis_set(&net);
    commit_anchors(&net, 1, "tax", "before", 3).await;

    // node4's key is compromised: its operator makes a new one with its proof, and
    // governance replaces it
    let chain_id =
        serde_json::from_slice::<Value>(&std::fs::read(net.root.join("genesis.json")).unwrap())
            .unwrap()["chain_id"]
            .as_str()
            .unwrap()
            .to_string();
    let new = govchain_crypto::PrivateKey::generate();
    let public = new.public_key().to_sec1();
    let proof = new.sign(&govchain_types::key_rotation_message(
        &chain_id,
        "validator:node4",
        "",
        &public,
    ));
    govern(
        &net,
        2,
        &[
            "replace-key",
            "--department",
            "validator:node4",
            "--public-key",
            &hex::encode(&public),
            "--proof",
            &hex::encode(proof.to_bytes()),
        ],
    );
    let start = Instant::now();
    while key_of(&net, 1, "node4").await != public {
        assert!(start.elapsed() < LIMIT, "node4's key was not replaced");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sets.push(
        ValidatorSet::new(sets[0].ids().map(|id| {
            let key = if id == "node4" {
                new.public_key()
            } else {
                sets[0].key(id).unwrap().clone()
            };
            (id.to_string(), key)
        }))
        .unwrap(),
    );
    // node4, still holding the old key, says so; restarted with the new key it votes again
    let start = Instant::now();
    while !nodes[3]
        .log_text()
        .contains("governance replaced this validator's key")
    {
        assert!(
            start.elapsed() < LIMIT,
            "node4 did not notice:\n{}",
            nodes[3].log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    nodes.remove(3).kill9();
    std::fs::write(
        net.root.join("node4/validator.pem"),
        new.to_pkcs8_pem().as_bytes(),
    )
    .unwrap();
    nodes.push(NodeProcess::start(&net, 4).await.unwrap());
    // with node1 stopped, the chain goes on only because node4 votes with its new key
    nodes.remove(0).kill9();
    commit_anchors(&net, 2, "housing", "after", 3).await;
    // every block checks against the set in force at its height, through the change
    let blocks = converge(&net, 2, &[3, 4], &sets).await;
    all_running(&mut nodes);
    summary_row(
        "a validator's key replaced by governance",
        &format!(
            "{} blocks, the old key's certified before the change, the new key's after",
            blocks.len()
        ),
    );
}
