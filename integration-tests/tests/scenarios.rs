//! The three government scenarios on four real validator processes (bft, 3-of-4 key
//! custody; the audit records verify against certified headers): `govchain demo --endpoint` runs housing eligibility, compute-to-data (the
//! bank's model runs on node4, the tax bureau's node) and the sharing incentive with
//! every contract in the real runtime; then the compute job's result rules hold against
//! a real node: only its executor posts it, once.

use std::path::PathBuf;

use govchain_integration_tests::{Network, NodeProcess, Submit, cli_json};
use govchain_types::pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_all_three_scenarios_on_a_real_network() {
    // given four validators (node4 is run by the tax bureau) and the built contracts
    let net = Network::init_bft(4, 0).unwrap();
    let mut nodes = Vec::new();
    for i in 1..=4 {
        nodes.push(NodeProcess::start(&net, i).await.unwrap());
    }
    let endpoint = net.endpoint(1);
    let artifacts = PathBuf::from(manifest_dir()).join("../contracts/artifacts");

    // when the demo runs against it
    let report = cli_json(
        &endpoint,
        &net.root,
        &["demo", "--contracts", artifacts.to_str().unwrap()],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e:#}\nnode1 log:\n{}", nodes[0].log_text()));

    // then each scenario ended as the rules say
    let housing = &report["housing_eligibility"];
    assert_eq!(housing["decision"]["eligible"], true);
    assert_eq!(housing["decision"]["homes_allowed"], 1);
    assert!(
        housing["decision"]["certificate"]["number"]
            .as_str()
            .unwrap()
            .starts_with("宁房资〔2026〕第")
    );
    assert_eq!(housing["refused_decision"]["eligible"], false);
    let review = &report["mortgage_review"];
    assert_eq!(
        review["certificate"], housing["decision"]["certificate"]["number"],
        "the bank opened the eligibility certificate it read"
    );
    assert!(
        review["opened_with"].as_array().unwrap().len() >= 3,
        "a threshold of custodians' shares opened it: {review}"
    );
    let compute = &report["compute_to_data"];
    assert_eq!(
        compute["executor"], "node4",
        "the tax bureau's node runs the job"
    );
    assert!(compute["released_by"].as_array().unwrap().len() >= 3);
    assert!(
        ["A", "B", "C", "D"].contains(&compute["result"]["band"].as_str().unwrap()),
        "{compute}"
    );
    assert!(
        compute["result"].get("score").is_none(),
        "no score that gives months away"
    );
    let points = &report["sharing_incentive"]["tax_points"];
    assert!(points["out_of_points"].as_u64().unwrap() < 5);
    assert!(points["after_sharing"].as_u64().unwrap() > points["out_of_points"].as_u64().unwrap());
    assert!(report["audit"]["records_verified"].as_u64().unwrap() >= 16);

    // and the application (marital status, homes, loans, tax months) is answered to the
    // departments in it only: a signed query as housing (which opened it) or the bank
    // (which attested to the loans), not as another department (and an unsigned query
    // never reaches the contract)
    let app = housing["application"].as_str().unwrap();
    let args = format!(r#"{{"application":"{app}"}}"#);
    let query = |who: &[&str]| {
        let mut a = vec![
            "contract",
            "query",
            "housing-eligibility",
            "application",
            "--args",
            &args,
        ];
        a.extend_from_slice(who);
        cli_json(&endpoint, &net.root, &a, &[])
    };
    for who in ["housing", "bank"] {
        assert_eq!(
            query(&["--as", who]).unwrap()["output"]["application"],
            app,
            "{who}"
        );
    }
    let refused = query(&["--as", "supervision"]).unwrap_err().to_string();
    assert!(
        refused.contains("answered only to the departments"),
        "{refused}"
    );
    assert!(!refused.contains("married"), "{refused}");

    // and a job's result is the executor's alone, and final
    let job = compute["request"].as_u64().unwrap();
    for (id, expect) in [
        ("node1", pb::ErrorCode::Unauthorized),
        ("node4", pb::ErrorCode::AlreadyExists),
    ] {
        let result = pb::ComputeResult {
            request: job,
            output: br#"{"score":850}"#.to_vec(),
            ..Default::default()
        };
        let receipt = net
            .validator_signer(id)
            .submit(&endpoint, pb::payload::Kind::Result(result))
            .await
            .unwrap();
        assert_eq!(
            receipt.error_code, expect as u32,
            "{id}: {}",
            receipt.error_message
        );
    }
}

/// The package folder, as cargo says when it runs this test (not as compiled: a shared
/// target folder may hold a binary built in another checkout).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("tests run under cargo")
}
