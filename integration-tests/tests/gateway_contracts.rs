//! A contract called and queried through a department's gateway: a retried call is
//! done once, a read-only token queries but cannot call, and the chain's refusals come
//! back with their codes.

use govchain_integration_tests::gateway::{api, gateway_config, problem, start, token};
use govchain_integration_tests::http::json_of;
use govchain_integration_tests::{Network, NodeProcess, cli_json};
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
    drop((gw, node));
}
