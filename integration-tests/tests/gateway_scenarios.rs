//! The three demo scenarios driven through the departments' gateways alone (REST/JSON,
//! the Python client's examples): a node operated by the tax bureau and a gateway per
//! department. The committee deploys the contracts and changes the policy through its
//! members' gateways; nothing is done with the CLI or over gRPC.

use govchain_integration_tests::gateway::{
    Gateway, api, example, gateway_config, problem, start, token,
};
use govchain_integration_tests::http::json_of;
use govchain_integration_tests::{Network, NodeProcess};
use serde_json::{Value, json};

const DEPARTMENTS: [&str; 7] = [
    "housing",
    "public-security",
    "civil-affairs",
    "real-estate",
    "tax",
    "social-security",
    "bank",
];

/// The port and token of `dept` in the gateways' spec.
fn spec_of(spec: &str, dept: &str) -> (u16, String) {
    let v: Value = serde_json::from_str(spec).unwrap();
    let url = v[dept]["url"].as_str().unwrap();
    (
        url.rsplit(':').next().unwrap().parse().unwrap(),
        v[dept]["token"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_scenarios_run_through_the_departments_gateways_alone() {
    // given a chain whose validator the tax bureau operates (compute jobs over its
    // certificates run there), 100 points per department, and every department's
    // gateway with a token for its systems (read, request, publish, govern)
    let net = Network::init_args(1, &["--operated-by", "tax", "--initial-points", "100"]).unwrap();
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let mut gateways: Vec<Gateway> = Vec::new();
    let mut spec = serde_json::Map::new();
    let mut clerk = String::new();
    for dept in DEPARTMENTS {
        let (config, port) = gateway_config(&net, dept, std::slice::from_ref(&node.endpoint));
        // Contract code travels base64 in a proposal.
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("max_body_bytes = 65536", "max_body_bytes = 1048576");
        std::fs::write(&config, text).unwrap();
        let t = token(&config, "systems", "read,request,publish,govern");
        if dept == "housing" {
            clerk = token(&config, "clerk", "read,publish");
        }
        gateways.push(start(&config, port).await);
        spec.insert(
            dept.into(),
            json!({"url": format!("http://127.0.0.1:{port}"), "token": t}),
        );
    }
    let spec = Value::Object(spec).to_string();

    // a token without the govern scope cannot propose; a bad proposal is refused before
    // anything is signed
    let housing = &spec_of(&spec, "housing");
    let deploy = json!({"action": {"deploy_contract": {"name": "x", "code": "not base64!"}}});
    let r = api(
        housing.0,
        &clerk,
        "POST",
        "/v1/proposals",
        None,
        Some(&deploy),
    );
    assert_eq!((r.0, problem(&r)), (403, "UNAUTHORIZED".into()));
    let r = api(
        housing.0,
        &housing.1,
        "POST",
        "/v1/proposals",
        None,
        Some(&deploy),
    );
    assert_eq!((r.0, problem(&r)), (400, "INVALID_ARGUMENT".into()));
    assert!(
        json_of(&r)["detail"].as_str().unwrap().contains("base64"),
        "{}",
        json_of(&r)
    );
    let r = api(
        housing.0,
        &housing.1,
        "GET",
        "/v1/proposals/seven",
        None,
        None,
    );
    assert_eq!((r.0, problem(&r)), (400, "INVALID_ARGUMENT".into()));
    let env = [("GOVCHAIN_GATEWAYS", spec.as_str()), ("RUN", "7")];
    let py = |name: &str| {
        let path = format!("clients/python/examples/{name}");
        example(&["python3", &path], &env)
    };

    // scenario 1: seven departments attest, the contract decides, the bank reads the
    // eligibility certificate
    let s1 = py("housing_eligibility.py");
    assert_eq!(
        (s1["eligible"].as_bool(), s1["homes_allowed"].as_u64()),
        (Some(true), Some(1)),
        "{s1}"
    );
    assert!(s1["reads"].as_u64().unwrap() >= 6, "{s1}");
    assert_eq!(s1["bank_decision"], "allow", "{s1}");
    assert_eq!(s1["bank_opened"], s1["certificate"], "{s1}");

    // scenario 2: the bank's read is denied, its approved model runs on the tax bureau's
    // node, and only the score comes back
    let s2 = py("compute_to_data.py");
    assert_eq!(s2["read"], "deny", "{s2}");
    assert_eq!(
        (s2["ok"].as_bool(), s2["code_is_approved"].as_bool()),
        (Some(true), Some(true)),
        "{s2}"
    );
    assert_eq!(s2["executor"], "node1", "{s2}");
    assert!(s2["result"]["recommendation"].is_string(), "{s2}");
    assert_eq!(s2["leaked"], json!([]), "{s2}");

    // scenario 3: the tax bureau reads until its points run out, shares, earns, reads
    // again
    let s3 = py("sharing_incentive.py");
    let n = |k: &str| s3[k].as_u64().unwrap_or_else(|| panic!("{k}: {s3}"));
    assert!(n("titles_assessed") >= 1, "{s3}");
    assert!(n("out_of_points") < 5, "{s3}");
    assert!(
        n("after_shared_reads") >= n("after_publishing") + 4 * 3,
        "{s3}"
    );
    assert_eq!(s3["read_again"], true, "{s3}");
    assert!(n("deed_tax_fen") > 0, "{s3}");
    drop((gateways, node));
}
