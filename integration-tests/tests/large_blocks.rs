//! Large transactions on a 4-validator BFT network of real node processes: blocks stay
//! within the chain's `max_block_bytes` (2 MiB by default) however much waits, so each
//! proposal reaches the validators well within the propose timeout, and transactions
//! submitted to one node are passed on to the others in calls that fit the message
//! limit.
//!
//! Three departments each send 40 transactions of about 230 KB (28 MB in all) in
//! batches of 20, one department per node. Each is an anchor whose note is far over the
//! anchor's 256-byte limit: admitted (it is within `max_tx_bytes`), committed with a
//! failed receipt.

use std::time::{Duration, Instant};

use govchain_client::rpc::{GetStatusRequest, SubmitTxsRequest};
use govchain_integration_tests::{Auditor, Network, NodeProcess, Submit, connect};
use govchain_types::pb;
use prost::Message;

const PER_DEPT: u64 = 40;
const NOTE: usize = 230_000;
const LIMIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blocks_of_large_transactions_stay_within_the_byte_limit() {
    let net = Network::init_bft(4, 0).unwrap();
    let mut nodes = Vec::new();
    for i in 1..=4 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    // The validators' key generation (small transactions) is over before the load.
    govchain_integration_tests::wait_for_custody_key(
        &net,
        &net.endpoint(1),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let mut c = connect(&net.endpoint(1)).await.unwrap();
    let start = Instant::now();
    let chain_id = c
        .get_status(GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .chain_id;

    let mut hashes = Vec::new();
    for (i, dept) in ["bank", "tax", "civil-affairs"].into_iter().enumerate() {
        let signer = net.signer(dept);
        let mut c = connect(&net.endpoint(i + 1)).await.unwrap();
        let first = signer.next_nonce(&net.endpoint(i + 1)).await.unwrap();
        let txs: Vec<pb::SignedTx> = (first..first + PER_DEPT)
            .map(|n| {
                let note = "x".repeat(NOTE);
                let payload = pb::payload::Kind::Anchor(pb::Anchor {
                    key: format!("{dept}-{n}"),
                    digest: vec![1; 32],
                    note,
                });
                signer.sign(&chain_id, n, payload)
            })
            .collect();
        for batch in txs.chunks(20) {
            let r = c
                .submit_txs(SubmitTxsRequest {
                    txs: batch.to_vec(),
                })
                .await
                .unwrap()
                .into_inner();
            for (res, t) in r.results.iter().zip(batch) {
                assert!(res.error.is_none(), "{dept}: {:?}", res.error);
                hashes.push((govchain_crypto::sm3(&t.body), t.encoded_len()));
            }
        }
    }

    // every transaction commits on every node
    let mut heights = std::collections::BTreeSet::new();
    for i in 1..=4 {
        let mut c = connect(&net.endpoint(i)).await.unwrap();
        let auditor = Auditor::of(&net, &net.endpoint(i)).await;
        for (h, _) in &hashes {
            loop {
                let r = c
                    .get_tx(auditor.get_tx(h))
                    .await
                    .ok()
                    .map(|r| r.into_inner());
                if let Some(r) = r.filter(|r| r.receipt.is_some()) {
                    let receipt = r.receipt.unwrap();
                    assert_eq!(receipt.status, pb::TxStatus::Failed as i32);
                    assert!(receipt.error_message.contains("anchor.note"), "{receipt:?}");
                    heights.insert(r.height);
                    break;
                }
                assert!(
                    start.elapsed() < LIMIT,
                    "node{i}: not all {} transactions committed within {LIMIT:?}",
                    hashes.len()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    // and no block holding them is over 2 MiB, so none holds more than 9 of them
    let mut counts = Vec::new();
    let mut c = c.max_decoding_message_size(64 << 20);
    let auditor = Auditor::of(&net, &net.endpoint(1)).await;
    for h in &heights {
        let b = c
            .get_block(auditor.get_block(govchain_client::rpc::get_block_request::At::Height(*h)))
            .await
            .unwrap()
            .into_inner();
        let bytes = b.block.unwrap().encoded_len();
        assert!(bytes <= 2 << 20, "block {h} is {bytes} bytes");
        counts.push(b.header.unwrap().tx_count);
    }
    let tx_bytes = hashes[0].1;
    assert!(
        counts.iter().all(|n| (*n as usize) * tx_bytes <= 2 << 20),
        "{counts:?}"
    );
    println!(
        "{} transactions of {tx_bytes} bytes committed in {} blocks ({counts:?}) in {:.1}s",
        hashes.len(),
        heights.len(),
        start.elapsed().as_secs_f64()
    );
    for (i, n) in nodes.iter_mut().enumerate() {
        assert!(!n.exited(), "node{} exited:\n{}", i + 1, n.log_text());
    }
}
