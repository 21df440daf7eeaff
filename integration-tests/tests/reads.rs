//! Every read is authenticated (issue 25): against a real node process, an outsider (no
//! signed-read header) gets `UNAUTHENTICATED` from every service but health and a
//! minimal status, and learns nothing from the status beyond which chain and node it
//! reached; the same reads signed by a department answer.

use govchain_client::Client;
use govchain_client::rpc::*;
use govchain_integration_tests::{Network, NodeProcess};

/// The stable code name a refusal carries.
fn code(s: &tonic::Status) -> String {
    s.metadata()
        .get("x-govchain-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn ok<T>(r: Result<T, tonic::Status>) -> Result<(), tonic::Status> {
    r.map(drop)
}

/// Every read of every service, unsigned, with what it answered.
async fn unsigned_reads(c: &Client) -> Vec<(&'static str, Result<(), tonic::Status>)> {
    let (mut chain, mut certs, mut points) = (c.chain(), c.certificates(), c.points());
    let (mut audit, mut contracts, mut gov) = (c.audit(), c.contracts(), c.governance());
    vec![
        ("GetTx", ok(chain.get_tx(GetTxRequest::default()).await)),
        (
            "GetBlock",
            ok(chain.get_block(GetBlockRequest::default()).await),
        ),
        (
            "GetNonce",
            ok(chain
                .get_nonce(GetNonceRequest {
                    department: "tax".into(),
                    operator: String::new(),
                })
                .await),
        ),
        (
            "StreamBlocks",
            ok(chain.stream_blocks(StreamBlocksRequest::default()).await),
        ),
        (
            "GetCertificate",
            ok(certs
                .get_certificate(GetCertificateRequest {
                    id: "property-1".into(),
                })
                .await),
        ),
        (
            "ListCertificates",
            ok(certs
                .list_certificates(ListCertificatesRequest {
                    cert_type: "property".into(),
                    ..Default::default()
                })
                .await),
        ),
        (
            "ListGrants",
            ok(certs.list_grants(ListGrantsRequest::default()).await),
        ),
        (
            "ListCertTypes",
            ok(certs.list_cert_types(ListCertTypesRequest {}).await),
        ),
        (
            "ListPurposes",
            ok(certs.list_purposes(ListPurposesRequest {}).await),
        ),
        ("GetPolicy", ok(certs.get_policy(GetPolicyRequest {}).await)),
        (
            "GetReleases",
            ok(certs.get_releases(GetReleasesRequest { request: 1 }).await),
        ),
        (
            "GetCustodyKey",
            ok(certs.get_custody_key(GetCustodyKeyRequest {}).await),
        ),
        ("GetKeygen", ok(certs.get_keygen(GetKeygenRequest {}).await)),
        (
            "GetBalances",
            ok(points.get_balances(GetBalancesRequest::default()).await),
        ),
        (
            "GetHistory",
            ok(points
                .get_history(GetHistoryRequest {
                    department: "tax".into(),
                    ..Default::default()
                })
                .await),
        ),
        ("Audit.Query", ok(audit.query(AuditQuery::default()).await)),
        (
            "Audit.Export",
            ok(audit.export(AuditQuery::default()).await),
        ),
        (
            "ListContracts",
            ok(contracts.list_contracts(ListContractsRequest {}).await),
        ),
        (
            "GetContract",
            ok(contracts
                .get_contract(GetContractRequest {
                    name: "housing-eligibility".into(),
                })
                .await),
        ),
        (
            "Contracts.Query",
            ok(contracts
                .query(QueryRequest {
                    contract: "housing-eligibility".into(),
                    method: "application".into(),
                    args: b"{}".to_vec(),
                    gas_limit: 0,
                })
                .await),
        ),
        (
            "ListProposals",
            ok(gov.list_proposals(ListProposalsRequest::default()).await),
        ),
        (
            "GetProposal",
            ok(gov.get_proposal(GetProposalRequest { id: 1 }).await),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_reads_nothing_but_health_and_a_minimal_status() {
    let net = Network::init(1).unwrap();
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let client = Client::connect(&node.endpoint).await.unwrap();

    // Every read without a signature: UNAUTHENTICATED, nothing in the answer.
    for (method, answer) in unsigned_reads(&client).await {
        let e = answer.expect_err(method);
        assert_eq!(code(&e), "UNAUTHENTICATED", "{method}: {e}");
        assert!(e.message().contains("signed"), "{method}: {e}");
    }

    // The status an outsider gets: which chain and node, how far; no members, no
    // validators or their addresses, no mempool, no evidence, no engine health.
    let s = client.status();
    assert_eq!(s.node_id, "node1");
    assert!(!s.tip_hash.is_empty() && !s.genesis_hash.is_empty() && !s.chain_id.is_empty());
    assert!(s.departments.is_empty() && s.validators.is_empty(), "{s:?}");
    assert!(
        s.evidence.is_empty() && s.bft.is_none() && s.mempool_size == 0,
        "{s:?}"
    );

    // A department's signed reads answer: the full status, the reference lists.
    let bank = net.signer("bank");
    let full = client.full_status(&bank).await.unwrap();
    assert!(full.departments.iter().any(|d| d.id == "bank"), "{full:?}");
    assert_eq!(full.validators.len(), 1);
    let types = client
        .certificates()
        .list_cert_types(
            client
                .signed(
                    &bank,
                    "/govchain.v1.Certificates/ListCertTypes",
                    ListCertTypesRequest {},
                )
                .unwrap(),
        )
        .await
        .unwrap()
        .into_inner();
    assert!(types.cert_types.iter().any(|t| t.id == "property"));

    // A department reads its own nonce, not another's (how many transactions it sent).
    let own = GetNonceRequest {
        department: "bank".into(),
        operator: String::new(),
    };
    client
        .chain()
        .get_nonce(
            client
                .signed(&bank, "/govchain.v1.Chain/GetNonce", own)
                .unwrap(),
        )
        .await
        .unwrap();
    let other = GetNonceRequest {
        department: "tax".into(),
        operator: String::new(),
    };
    let e = client
        .chain()
        .get_nonce(
            client
                .signed(&bank, "/govchain.v1.Chain/GetNonce", other)
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), "UNAUTHORIZED", "{e}");

    // A validator's account (its block key) reads its own nonce and nothing else.
    let node1 = net.validator_signer("node1");
    let own = GetNonceRequest {
        department: "validator:node1".into(),
        operator: String::new(),
    };
    client
        .chain()
        .get_nonce(
            client
                .signed(&node1, "/govchain.v1.Chain/GetNonce", own)
                .unwrap(),
        )
        .await
        .unwrap();
    let e = client
        .chain()
        .get_status(
            client
                .signed(&node1, "/govchain.v1.Chain/GetStatus", GetStatusRequest {})
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), "UNAUTHORIZED", "{e}");
}
