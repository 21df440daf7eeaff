//! A node's bounds on what one caller may cost it, against a real node process: a
//! batch over `api.limits.max_batch`, a contract query asking for more gas than
//! `api.limits.query_gas`, an address sending forged signatures (transactions or signed
//! reads, one budget per address). Each is refused with its stable code and leaves
//! nothing behind.

use govchain_client::rpc::{GetNonceRequest, QueryRequest, SubmitTxRequest, SubmitTxsRequest};
use govchain_client::{ChainClient, Client, Signer};
use govchain_integration_tests::{Network, NodeProcess, Submit, anchor};
use govchain_types::pb;

/// The stable code name a refusal carries.
fn code(s: &tonic::Status) -> &str {
    s.metadata()
        .get("x-govchain-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn next_nonce(net: &Network, endpoint: &str, dept: &str) -> u64 {
    net.signer(dept).next_nonce(endpoint).await.unwrap()
}

/// `n` anchors from `signer` with nonces from `from`; `forged`: signatures of another key.
fn anchors(chain_id: &str, signer: &Signer, from: u64, n: u64, forged: bool) -> Vec<pb::SignedTx> {
    let other = Signer::new("tax", govchain_crypto::PrivateKey::generate());
    (from..from + n)
        .map(|nonce| {
            let payload = anchor(&format!("limits-{nonce}"));
            let mut tx = signer.sign(chain_id, nonce, payload.clone());
            if forged {
                tx.signature = other.sign(chain_id, nonce, payload).signature;
            }
            tx
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_query_gas_and_forgeries_are_bounded_and_refusals_leave_nothing() {
    let net = Network::init(1).unwrap();
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let client = Client::connect(&node.endpoint).await.unwrap();
    let chain_id = client.chain_id().to_string();
    let tax = net.signer("tax");
    let mut chain = client.chain();

    // A batch over max_batch (1,000): refused whole, not one transaction admitted.
    let e = chain
        .submit_txs(SubmitTxsRequest {
            txs: anchors(&chain_id, &tax, 0, 1_001, false),
        })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "BATCH_TOO_LARGE", "{e}");
    assert!(e.message().contains("api.limits.max_batch"), "{e}");
    assert_eq!(next_nonce(&net, &node.endpoint, "tax").await, 0);

    // A query asking for more gas than query_gas: refused before it runs.
    let query = QueryRequest {
        contract: "housing-eligibility".into(),
        method: "application".into(),
        args: b"{}".to_vec(),
        gas_limit: 1_000_000_000,
    };
    let e = client
        .contracts()
        .query(
            client
                .signed(&tax, "/govchain.v1.Contracts/Query", query)
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), "INVALID_ARGUMENT", "{e}");
    assert!(e.message().contains("api.limits.query_gas"), "{e}");

    // 100 forged signatures (tax's registered key, another key's signatures): each
    // refused; then this address is refused before any verification, even for a
    // valid transaction, which is not admitted.
    let r = chain
        .submit_txs(SubmitTxsRequest {
            txs: anchors(&chain_id, &tax, 0, 100, true),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.results.iter().all(|s| s
            .error
            .as_ref()
            .is_some_and(|e| e.code == pb::ErrorCode::BadSignature as i32)),
        "{:?}",
        r.results.first()
    );
    let valid = anchors(&chain_id, &tax, 0, 1, false).remove(0);
    let e = chain
        .submit_tx(SubmitTxRequest {
            tx: Some(valid),
            wait: false,
        })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "TOO_MANY_BAD_SIGNATURES", "{e}");
    assert!(e.message().contains("api.limits.bad_signatures"), "{e}");
    // (read from another address: this one's signed reads are refused now too)
    let endpoint = node.endpoint.clone();
    let elsewhere = |ip: &str| {
        let (ip, endpoint) = (ip.parse().unwrap(), endpoint.clone());
        async move {
            tonic::transport::Endpoint::from_shared(endpoint)
                .unwrap()
                .local_address(Some(ip))
                .connect()
                .await
                .unwrap()
        }
    };
    let nonce = |c: &Client| {
        let m = GetNonceRequest {
            department: "tax".into(),
            operator: String::new(),
        };
        c.signed(&tax, "/govchain.v1.Chain/GetNonce", m).unwrap()
    };
    let e = chain.get_nonce(nonce(&client)).await.unwrap_err();
    assert_eq!(code(&e), "TOO_MANY_BAD_SIGNATURES", "{e}");
    let mut second = ChainClient::new(elsewhere("127.0.0.2").await);
    assert_eq!(
        second
            .get_nonce(nonce(&client))
            .await
            .unwrap()
            .into_inner()
            .next_nonce,
        0
    );

    // Forged signed reads count the same: 100 reads of tax's nonce signed by another
    // key from that second address, each BAD_SIGNATURE; then its reads are refused
    // before any verification, a valid one included; a third address is not.
    let forger = Signer::new("tax", govchain_crypto::PrivateKey::generate());
    for _ in 0..100 {
        let forged = client
            .signed(
                &forger,
                "/govchain.v1.Chain/GetNonce",
                GetNonceRequest {
                    department: "tax".into(),
                    operator: String::new(),
                },
            )
            .unwrap();
        let e = second.get_nonce(forged).await.unwrap_err();
        assert_eq!(code(&e), "BAD_SIGNATURE", "{e}");
    }
    let e = second.get_nonce(nonce(&client)).await.unwrap_err();
    assert_eq!(code(&e), "TOO_MANY_BAD_SIGNATURES", "{e}");
    let mut third = ChainClient::new(elsewhere("127.0.0.3").await);
    assert_eq!(
        third
            .get_nonce(nonce(&client))
            .await
            .unwrap()
            .into_inner()
            .next_nonce,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_read_is_taken_once_and_only_by_the_node_it_names() {
    use govchain_client::rpc::AuditQuery;
    use govchain_proof::signed_read::{AUTH_METADATA, ReadTo};
    let net = Network::init(1).unwrap();
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let client = Client::connect(&node.endpoint).await.unwrap();
    let auditor = net.signer("supervision");
    let path = "/govchain.v1.Audit/Query";
    let with_header = |value: tonic::metadata::MetadataValue<tonic::metadata::Ascii>| {
        let mut r = tonic::Request::new(AuditQuery::default());
        r.metadata_mut().insert(AUTH_METADATA, value);
        r
    };

    // Taken once: the same header again (a read seen on the wire) is refused.
    let req = client
        .signed(&auditor, path, AuditQuery::default())
        .unwrap();
    let header = req.metadata().get(AUTH_METADATA).unwrap().clone();
    client.audit().query(req).await.unwrap();
    let e = client.audit().query(with_header(header)).await.unwrap_err();
    assert_eq!(code(&e), "UNAUTHENTICATED", "{e}");
    assert!(e.message().contains("already taken"), "{e}");

    // Signed for another node: refused here.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let to = ReadTo {
        chain_id: client.chain_id(),
        audience: "node2",
        path,
        time_ms: now,
        nonce: &[9; 16],
    };
    let value = auditor.read_header(&to, &prost::Message::encode_to_vec(&AuditQuery::default()));
    let e = client
        .audit()
        .query(with_header(value.parse().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "BAD_SIGNATURE", "{e}");
    assert!(e.message().contains("another node"), "{e}");
}
