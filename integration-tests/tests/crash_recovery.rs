//! SIGKILL a node repeatedly while it commits under load; every transaction it
//! acknowledged as committed must be there after restart, with a consistent chain.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use govchain_client::rpc::{GetStatusRequest, SubmitTxRequest, get_block_request::At};
use govchain_integration_tests::{Auditor, Network, NodeProcess, Signer, Submit, anchor, connect};
use govchain_types::pb;

/// Submits anchors one after another, waiting for each receipt, until told to stop or
/// the node goes away. Returns the hashes the node acknowledged as committed.
async fn load(
    endpoint: String,
    signer: Signer,
    tag: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let Ok(mut c) = connect(&endpoint).await else {
        return;
    };
    let Ok(status) = c.get_status(GetStatusRequest {}).await else {
        return;
    };
    let chain_id = status.into_inner().chain_id;
    let Ok(mut nonce) = signer.next_nonce(&endpoint).await else {
        return;
    };
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let tx = signer.sign(
            &chain_id,
            nonce,
            anchor(&format!("{tag}-{}-{i}", signer.department)),
        );
        match c
            .submit_tx(SubmitTxRequest {
                tx: Some(tx),
                wait: true,
            })
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                let receipt = r.receipt.expect("wait=true returns the receipt");
                assert_eq!(receipt.status, pb::TxStatus::Ok as i32, "{receipt:?}");
                acked.lock().unwrap().push(r.tx_hash);
                nonce += 1;
                i += 1;
            }
            Err(_) => return, // the node was killed
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transactions_survive_repeated_sigkill() {
    // given a single-validator network with syncing commits
    let net = Network::init(1).unwrap();
    let departments = ["tax", "real-estate", "civil-affairs", "bank"];
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut per_round = Vec::new();

    // when the node is SIGKILLed five times while it commits under load
    for round in 0..5u64 {
        let node = NodeProcess::start(&net, 1).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let before = acked.lock().unwrap().len();
        let tasks: Vec<_> = departments
            .iter()
            .map(|d| {
                tokio::spawn(load(
                    node.endpoint.clone(),
                    net.signer(d),
                    format!("r{round}"),
                    stop.clone(),
                    acked.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(700 + 230 * round)).await;
        node.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        per_round.push(acked.lock().unwrap().len() - before);
    }

    // then after a restart every acknowledged transaction is committed with an OK receipt
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let mut c = connect(&node.endpoint).await.unwrap();
    let auditor = Auditor::of(&net, &node.endpoint).await;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "too little load to mean anything: {per_round:?}"
    );
    for h in &acked {
        let r = c
            .get_tx(auditor.get_tx(h))
            .await
            .unwrap_or_else(|e| panic!("acknowledged tx {} lost: {e}", hex::encode(h)))
            .into_inner();
        assert_eq!(r.receipt.unwrap().status, pb::TxStatus::Ok as i32);
    }

    // and the chain links from genesis to the tip
    let tip = c
        .get_block(auditor.get_block(At::Latest(true)))
        .await
        .unwrap()
        .into_inner();
    let tip_height = tip.header.unwrap().height;
    let mut prev_hash = Vec::new();
    for h in 0..=tip_height {
        let b = c
            .get_block(auditor.get_block(At::Height(h)))
            .await
            .unwrap()
            .into_inner();
        let header = b.header.unwrap();
        assert_eq!(header.height, h);
        if h > 0 {
            assert_eq!(
                header.prev_hash,
                prev_hash,
                "block {h} does not link to {}",
                h - 1
            );
        }
        prev_hash = b.hash;
    }

    // and the restarted node still accepts writes
    let s = net.signer("housing");
    let status = c
        .get_status(GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let n = s.next_nonce(&node.endpoint).await.unwrap();
    let r = c
        .submit_tx(SubmitTxRequest {
            tx: Some(s.sign(&status.chain_id, n, anchor("after-restart"))),
            wait: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.receipt.unwrap().status, pb::TxStatus::Ok as i32);
    println!(
        "crash test: 5 SIGKILLs, acknowledged per round {per_round:?}, {} acknowledged in all, all found; tip height {tip_height}",
        acked.len()
    );
}
