//! Contracts end to end on a real node through the CLI: propose, committee approval,
//! call, query, list/show, verify.

use std::path::PathBuf;

use govchain_integration_tests::{Network, NodeProcess, cli_json};
use serde_json::Value;

fn artifact(name: &str) -> String {
    let p = PathBuf::from(manifest_dir())
        .join("../contracts/artifacts")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{}: build the contracts with scripts/build-contracts.sh",
        p.display()
    );
    p.to_str().unwrap().to_string()
}

fn event<'a>(receipt: &'a Value, kind: &str) -> &'a Value {
    receipt["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {receipt}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_by_committee_then_call_query_and_verify() {
    // given a node of the 'nanjing' network: 6 committee departments, 4 approvals needed
    let net = Network::init(1).unwrap();
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let cli = |args: &[&str]| cli_json(&node.endpoint, &net.root, args, &[]);
    let counter = artifact("counter");

    // when the tax bureau proposes the counter contract
    let r = cli(&[
        "contract",
        "propose",
        &counter,
        "--name",
        "counter",
        "--description",
        "demo counter",
        "--as",
        "tax",
    ])
    .unwrap();
    assert_eq!(event(&r, "proposal_created")["attributes"]["id"], "1");
    let open = cli(&["gov", "list", "--as", "tax"]).unwrap();
    assert_eq!(open["threshold"], 4);
    assert_eq!(
        open["proposals"][0]["approvals"],
        serde_json::json!(["tax"])
    );

    // then it cannot be called yet, a second vote and a non-member's vote are refused
    let early = cli(&[
        "contract",
        "call",
        "counter",
        "increment",
        "--args",
        r#"{"by":2}"#,
        "--as",
        "bank",
    ])
    .unwrap_err()
    .to_string();
    assert!(early.contains("NOT_FOUND"), "{early}");
    let twice = cli(&["gov", "approve", "1", "--as", "tax"])
        .unwrap_err()
        .to_string();
    assert!(twice.contains("ALREADY_EXISTS"), "{twice}");
    let outsider = cli(&["gov", "approve", "1", "--as", "bank"])
        .unwrap_err()
        .to_string();
    assert!(outsider.contains("UNAUTHORIZED"), "{outsider}");

    // when three more committee members approve, it is deployed
    cli(&["gov", "approve", "1", "--as", "public-security"]).unwrap();
    cli(&["gov", "approve", "1", "--as", "civil-affairs"]).unwrap();
    let r = cli(&["gov", "approve", "1", "--as", "real-estate"]).unwrap();
    assert_eq!(event(&r, "contract_deployed")["attributes"]["version"], "1");

    // then any department may call it, and anyone may query it
    let r = cli(&[
        "contract",
        "call",
        "counter",
        "increment",
        "--args",
        r#"{"by":2}"#,
        "--as",
        "bank",
    ])
    .unwrap();
    assert_eq!(r["status"], "OK");
    assert!(r["gas_used"].as_u64().unwrap() > 0);
    let q = cli(&["contract", "query", "counter", "get", "--as", "bank"]).unwrap();
    assert_eq!(q["output"], 2);
    let bad = cli(&[
        "contract",
        "call",
        "counter",
        "increment",
        "--args",
        r#"{"by":0}"#,
        "--as",
        "bank",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("CONTRACT_FAILED") && bad.contains("1 to 1000"),
        "{bad}"
    );

    // and list/show/verify describe exactly what was approved
    let list = cli(&["contract", "list", "--as", "tax"]).unwrap();
    assert_eq!(list[0]["name"], "counter");
    let show = cli(&["contract", "show", "counter", "--as", "tax"]).unwrap();
    assert_eq!(show["approvers"].as_array().unwrap().len(), 4);
    let code_hash = hex::encode(govchain_crypto::sm3(&std::fs::read(&counter).unwrap()));
    assert_eq!(show["code_hash"], code_hash.as_str());
    assert_eq!(
        cli(&["contract", "verify", "counter", &counter, "--as", "tax"]).unwrap()["matches"],
        true
    );
    assert!(
        cli(&[
            "contract",
            "verify",
            "counter",
            &artifact("abuse"),
            "--as",
            "tax"
        ])
        .is_err()
    );
}

/// The package folder, as cargo says when it runs this test (not as compiled: a shared
/// target folder may hold a binary built in another checkout).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("tests run under cargo")
}
