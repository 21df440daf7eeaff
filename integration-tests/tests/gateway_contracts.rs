//! A contract called and queried through a department's gateway: a retried call is
//! done once, a read-only token queries but cannot call, and the chain's refusals come
//! back with their codes; the receipt the gateway answered from is proven from genesis,
//! and a tampered proof is refused.

use govchain_integration_tests::gateway::{api, gateway_config, problem, start, token};
use govchain_integration_tests::http::json_of;
use govchain_integration_tests::{Network, NodeProcess, cli_json};
use govchain_types::pb;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_call_through_the_gateway_is_done_once_and_queried_as_its_operator() {
    // given the counter contract deployed by the committee, and the bank's gateway
    let net = Network::init(1).unwrap();
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let cli = |args: &[&str]| cli_json(&node.endpoint, &net.root, args, &[]);
    let wasm = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contracts/artifacts/counter.wasm");
    let wasm = wasm.to_str().unwrap();
    cli(&[
        "contract",
        "propose",
        wasm,
        "--name",
        "counter",
        "--description",
        "demo counter",
        "--as",
        "tax",
    ])
    .unwrap();
    for dept in ["public-security", "civil-affairs", "real-estate"] {
        cli(&["gov", "approve", "1", "--as", dept]).unwrap();
    }
    let (cfg, port) = gateway_config(&net, "bank", std::slice::from_ref(&node.endpoint));
    let writer = token(&cfg, "loan-system", "publish,read");
    let reader = token(&cfg, "loan-reports", "read");
    let gw = start(&cfg, port).await;

    // when the loan system calls it, and retries with the same key
    let by = json!({"method": "increment", "args": {"by": 2}});
    let first = api(
        gw.port,
        &writer,
        "POST",
        "/v1/contracts/counter/calls",
        Some("inc-1"),
        Some(&by),
    );
    assert_eq!(first.0, 201, "{}", String::from_utf8_lossy(&first.2));
    let again = api(
        gw.port,
        &writer,
        "POST",
        "/v1/contracts/counter/calls",
        Some("inc-1"),
        Some(&by),
    );
    assert_eq!(json_of(&again), json_of(&first), "the first answer");

    // then it counted once, and a read-only token queries it but cannot call it
    let q = api(
        gw.port,
        &reader,
        "POST",
        "/v1/contracts/counter/queries",
        None,
        Some(&json!({"method": "get"})),
    );
    assert_eq!(
        json_of(&q)["output"],
        2,
        "{}",
        String::from_utf8_lossy(&q.2)
    );
    let r = api(
        gw.port,
        &reader,
        "POST",
        "/v1/contracts/counter/calls",
        None,
        Some(&by),
    );
    assert_eq!((r.0, problem(&r)), (403, "UNAUTHORIZED".into()));
    // a contract's refusal is the chain's, with its code; an unknown contract too
    let zero = json!({"method": "increment", "args": {"by": 0}});
    let r = api(
        gw.port,
        &writer,
        "POST",
        "/v1/contracts/counter/calls",
        None,
        Some(&zero),
    );
    assert_eq!((r.0, problem(&r)), (400, "CONTRACT_FAILED".into()));
    let r = api(
        gw.port,
        &writer,
        "POST",
        "/v1/contracts/nothing/queries",
        None,
        Some(&json!({"method": "get"})),
    );
    assert_eq!((r.0, problem(&r)), (404, "NOT_FOUND".into()));
    let r = api(
        gw.port,
        &writer,
        "POST",
        "/v1/compute-jobs",
        None,
        Some(
            &json!({"certificate_id": "x", "purpose": "loan_risk", "contract": "counter", "method": "get"}),
        ),
    );
    assert_eq!(
        (r.0, problem(&r)),
        (403, "UNAUTHORIZED".into()),
        "compute jobs need the request scope"
    );

    // the gateway took the call's receipt only as proven from genesis; the same proof,
    // tampered with, is refused
    let hash = hex::decode(json_of(&first)["tx_hash"].as_str().unwrap()).unwrap();
    tampered_receipt_proofs_are_refused(&net, &node.endpoint, &hash).await;
    drop((gw, node));
}

/// The receipt of transaction `hash` proven from genesis, and the same proof refused,
/// naming what fails, when its receipt, certificate, transaction or chain is changed: a
/// node cannot make up an outcome.
async fn tampered_receipt_proofs_are_refused(net: &Network, endpoint: &str, hash: &[u8]) {
    let auditor = govchain_integration_tests::Auditor::of(net, endpoint).await;
    let got = auditor
        .client
        .chain()
        .get_tx(auditor.signed(
            "/govchain.v1.Chain/GetTx",
            pb::GetTxRequest {
                tx_hash: hash.to_vec(),
                prove: true,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let proof = got.proof.unwrap();
    let genesis = std::fs::read_to_string(net.root.join("genesis.json")).unwrap();
    let anchor = govchain_proof::TrustAnchor::from_genesis_json(&genesis).unwrap();
    let verify =
        |p: &pb::ReceiptProof, h: &[u8]| govchain_proof::receipt::verify_receipt(&anchor, p, h);
    assert_eq!(verify(&proof, hash).unwrap(), got.receipt.unwrap());
    let mut failed = proof.clone();
    let mut receipt: pb::Receipt = prost::Message::decode(failed.receipt.as_slice()).unwrap();
    receipt.status = pb::TxStatus::Failed as i32;
    failed.receipt = prost::Message::encode_to_vec(&receipt);
    assert!(verify(&failed, hash).unwrap_err().contains("not in block"));
    let mut uncertified = proof.clone();
    uncertified.header.as_mut().unwrap().commit = None;
    assert!(
        verify(&uncertified, hash)
            .unwrap_err()
            .contains("no commit certificate")
    );
    let other = govchain_crypto::sm3(b"another transaction");
    assert!(verify(&proof, &other).unwrap_err().contains("not of"));
    let mut elsewhere = proof;
    elsewhere.chain_id = "another-chain".into();
    assert!(
        verify(&elsewhere, hash)
            .unwrap_err()
            .contains("genesis is of")
    );
}
