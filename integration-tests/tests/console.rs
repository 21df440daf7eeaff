//! The supervisor console's HTTP API on a real node process: public routes, refusal
//! without a session, sign-in by the node's credential and by a department key's
//! signature over a one-time challenge, the Audit service's scope through the console,
//! a record's proof that verifies against genesis (and fails when tampered with), the
//! export (JSON with proofs, CSV), flows, insights and points.

use govchain_integration_tests::http::{
    header, http, http_from, http_to, json_of, key_sign_in, session_cookie,
};
use govchain_integration_tests::{Network, NodeProcess, cli_json};
use govchain_proof::{ExportFile, TrustAnchor, subject_id};
use serde_json::{Value, json};

const CITIZEN: &str = "320102199001011232";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against one set of node processes (starting them is the cost)"
)]
async fn console_api_signs_in_scopes_and_serves_verifiable_records() {
    // given a node with a published property title, one allowed and one denied read
    let net = Network::init(1).unwrap();
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let port = net.base_port + 2000;
    let cli = |args: &[&str]| cli_json(&node.endpoint, &net.root, args, &[]);
    let deed = net.root.join("deed.json");
    std::fs::write(
        &deed,
        json!({"number": "苏(2024)南京市不动产权第0077777号", "issued_on": "2024-05-01",
               "metadata": {"district": "鼓楼区", "usage": "住宅"}})
        .to_string(),
    )
    .unwrap();
    let r = cli(&[
        "cert",
        "publish",
        "--type",
        "property",
        "--subject",
        CITIZEN,
        "--file",
        deed.to_str().unwrap(),
        "--as",
        "real-estate",
    ])
    .unwrap();
    let cert = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "certificate_published")
        .unwrap()["attributes"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let allowed = cli(&[
        "cert",
        "request",
        &cert,
        "--purpose",
        "housing_eligibility",
        "--as",
        "housing",
    ])
    .unwrap();
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    let denied = cli(&[
        "cert",
        "request",
        &cert,
        "--purpose",
        "tax_assessment",
        "--as",
        "tax",
    ])
    .unwrap();
    assert_eq!(denied["decision"], "deny", "{denied}");

    // the public routes answer anyone; the genesis served hashes to the chain's
    let info = json_of(&http(port, "GET", "/api/v1/info", None, None));
    assert_eq!(info["chain_id"], "it-chain");
    assert_eq!(info["sign_in"], json!(["key", "credential"]));
    assert_eq!(info["credential_department"], "public-security");
    let g = http(port, "GET", "/api/v1/genesis", None, None);
    assert_eq!(g.0, 200);
    assert_eq!(
        info["genesis_hash"],
        hex::encode(govchain_crypto::sm3(&g.2))
    );
    let genesis_text = String::from_utf8(g.2).unwrap();
    let anchor = TrustAnchor::from_genesis_json(&genesis_text).unwrap();
    let openapi = json_of(&http(port, "GET", "/api/openapi.json", None, None));
    assert_eq!(openapi["openapi"], "3.1.0");
    let page = http(port, "GET", "/", None, None);
    assert_eq!(
        page.0,
        200,
        "the console page: {}",
        String::from_utf8_lossy(&page.2)
    );
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert!(header(&page, "content-security-policy").contains("default-src 'self'"));

    // when nobody is signed in, the data routes refuse with a stable error code
    for path in [
        "/api/v1/audit",
        "/api/v1/flows",
        "/api/v1/points",
        "/api/v1/insights",
        "/api/v1/audit/1",
        "/api/v1/salt",
    ] {
        let r = http(port, "GET", path, None, None);
        assert_eq!(r.0, 401, "{path}");
        assert_eq!(json_of(&r)["name"], "UNAUTHENTICATED", "{path}");
    }
    let r = http(
        port,
        "POST",
        "/api/v1/session",
        None,
        Some(&json!({"credential": "guess"})),
    );
    assert_eq!(r.0, 401);
    assert_eq!(json_of(&r)["message"], "wrong supervisor credential");

    // the node's credential signs its operator in with its department's view: a node's
    // operator is not the auditor
    let credential = std::fs::read_to_string(net.root.join("node1/console.credential")).unwrap();
    let r = http(
        port,
        "POST",
        "/api/v1/session",
        None,
        Some(&json!({"credential": credential.trim()})),
    );
    assert_eq!(r.0, 200, "{}", String::from_utf8_lossy(&r.2));
    assert!(header(&r, "set-cookie").contains("HttpOnly; SameSite=Strict"));
    let operator = session_cookie(&r);
    let me = json_of(&http(port, "GET", "/api/v1/session", Some(&operator), None));
    assert_eq!(
        (me["department"].clone(), me["auditor"].clone()),
        (json!("public-security"), json!(false))
    );
    // then a supervisor signs in with their own key (an operator of the auditor
    // department, `init --supervisors`) and sees every record
    let sup = key_session(port, &net, "supervision", "supervisor-1");
    let me = json_of(&http(port, "GET", "/api/v1/session", Some(&sup), None));
    assert_eq!(
        (
            me["department"].clone(),
            me["operator"].clone(),
            me["auditor"].clone()
        ),
        (json!("supervision"), json!("supervisor-1"), json!(true))
    );
    // the chain salt: in no public answer (the genesis only commits to it), to a
    // signed-in session, and the one the genesis commits to
    let salt = json_of(&http(port, "GET", "/api/v1/salt", Some(&sup), None))["salt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!genesis_text.contains(&salt) && !genesis_text.contains("chain_salt"));
    let salt = govchain_state::Genesis::from_json(&genesis_text)
        .unwrap()
        .check_salt(&salt)
        .unwrap();
    let subject = hex::encode(subject_id(&salt, CITIZEN).unwrap());
    let page = json_of(&http(
        port,
        "GET",
        &format!("/api/v1/audit?subject_id={subject}"),
        Some(&sup),
        None,
    ));
    let records = page["records"].as_array().unwrap();
    assert!(records.len() >= 2, "{page}");
    let deny_seq = records.iter().find(|r| r["decision"] == "deny").unwrap()["seq"]
        .as_u64()
        .unwrap();
    let by_purpose = json_of(&http(
        port,
        "GET",
        &format!("/api/v1/audit?subject_id={subject}&purpose=tax_assessment"),
        Some(&sup),
        None,
    ));
    assert_eq!(
        by_purpose["records"].as_array().unwrap().len(),
        1,
        "{by_purpose}"
    );
    // bad input names the parameter
    let r = http(
        port,
        "GET",
        "/api/v1/audit?subject_id=abc",
        Some(&sup),
        None,
    );
    assert_eq!(r.0, 400);
    assert!(
        json_of(&r)["message"]
            .as_str()
            .unwrap()
            .contains("'subject_id'")
    );
    let r = http(
        port,
        "GET",
        "/api/v1/audit?national_id=320102199001011232",
        Some(&sup),
        None,
    );
    assert_eq!(
        (r.0, json_of(&r)["name"].clone()),
        (400, json!("INVALID_ARGUMENT"))
    );
    assert!(
        json_of(&r)["message"]
            .as_str()
            .unwrap()
            .contains("unknown parameter")
    );

    // a record comes with its transaction, block and a proof that verifies against genesis
    let d = json_of(&http(
        port,
        "GET",
        &format!("/api/v1/audit/{deny_seq}"),
        Some(&sup),
        None,
    ));
    assert_eq!(d["record"]["requester"], "tax");
    assert_eq!(d["transaction"]["sender"], "tax");
    assert_eq!(d["transaction"]["payload"], "request access");
    assert_eq!(d["block"]["height"], d["record"]["height"]);
    let proof: ExportFile = serde_json::from_value(d["proof"].clone()).unwrap();
    assert_eq!(proof.verify(&anchor), Ok(1));
    let mut tampered = proof.clone();
    tampered.records[0].record.reason = "allowed after all".into();
    assert!(tampered.verify(&anchor).is_err());
    assert_eq!(
        http(port, "GET", "/api/v1/audit/999999", Some(&sup), None).0,
        404
    );

    // the export is the CLI's file format, or CSV
    let e = http(
        port,
        "GET",
        &format!("/api/v1/audit/export?subject_id={subject}"),
        Some(&sup),
        None,
    );
    assert!(header(&e, "content-disposition").contains("attachment"));
    let file: ExportFile = serde_json::from_slice(&e.2).unwrap();
    assert_eq!(file.verify(&anchor), Ok(records.len()));
    let csv = http(
        port,
        "GET",
        &format!("/api/v1/audit/export?subject_id={subject}&format=csv"),
        Some(&sup),
        None,
    );
    let csv = String::from_utf8(csv.2).unwrap();
    assert!(csv.starts_with("seq,height,time_ms,requester"), "{csv}");
    assert_eq!(csv.lines().count(), records.len() + 1);

    // flows, insights and points over the period
    let flows = json_of(&http(port, "GET", "/api/v1/flows", Some(&sup), None));
    let pair = |req: &str| {
        flows["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["requester"] == req && f["owner"] == "real-estate")
            .cloned()
    };
    assert_eq!(pair("housing").unwrap()["allowed"], 1, "{flows}");
    assert_eq!(pair("tax").unwrap()["denied"], 1, "{flows}");
    let ins = json_of(&http(port, "GET", "/api/v1/insights", Some(&sup), None));
    assert_eq!(ins["denied"][0]["seq"], deny_seq, "{ins}");
    let pts = json_of(&http(port, "GET", "/api/v1/points", Some(&sup), None));
    assert!(
        pts["balances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["department"] == "housing")
    );
    let hist = json_of(&http(
        port,
        "GET",
        "/api/v1/points/housing/history",
        Some(&sup),
        None,
    ));
    let last = hist["points"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].clone(), last["delta"].clone()),
        (json!("read"), json!(-5)),
        "{hist}"
    );
    let r = http(
        port,
        "GET",
        "/api/v1/points/nobody/history",
        Some(&sup),
        None,
    );
    assert_eq!(json_of(&r)["name"], "UNKNOWN_DEPARTMENT");

    // a department signs in with its key over a one-time challenge and sees its own only
    let key = govchain_crypto::PrivateKey::from_pem_any(
        &std::fs::read_to_string(net.root.join("keys/housing.pem")).unwrap(),
        None,
    )
    .unwrap();
    let origin = format!("http://127.0.0.1:{port}");
    let sign = |audience, origin: &str| key_sign_in(port, &key, "housing", "", audience, origin);
    let post = |body: &Value| http(port, "POST", "/api/v1/session", None, Some(body));
    // The signature names this node: one made for another node does not sign in here.
    let r = post(&sign(Some("node9"), &origin));
    assert_eq!(json_of(&r)["name"], "BAD_SIGNATURE", "another node");
    // It signs the page's origin, which the node compares with the Origin header: a
    // signature made on another site's page does not sign in here, and a page of
    // another site is refused before any signature counts.
    let r = post(&sign(None, "http://evil.example"));
    assert_eq!(json_of(&r)["name"], "BAD_SIGNATURE", "another origin");
    let body = sign(None, "http://evil.example");
    let r = http_from(
        port,
        "http://evil.example",
        "POST",
        "/api/v1/session",
        Some(&body),
    );
    assert_eq!(
        json_of(&r)["name"],
        "UNAUTHORIZED",
        "{}",
        String::from_utf8_lossy(&r.2)
    );
    assert!(!r.1.iter().any(|(k, _)| k == "set-cookie"), "no session");
    let body = sign(None, &origin);
    let r = post(&body);
    assert_eq!(r.0, 200, "{}", String::from_utf8_lossy(&r.2));
    let cookie = header(&r, "set-cookie");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP on loopback: {cookie}"
    );
    let housing = session_cookie(&r);
    let again = http(port, "POST", "/api/v1/session", None, Some(&body));
    assert_eq!(again.0, 401, "a challenge is used once");
    let mut forged = body.clone();
    forged["department"] = json!("supervision");
    let ch2 = json_of(&http(port, "POST", "/api/v1/session/challenge", None, None));
    forged["challenge"] = ch2["challenge"].clone();
    assert_eq!(
        json_of(&http(port, "POST", "/api/v1/session", None, Some(&forged)))["name"],
        "BAD_SIGNATURE"
    );
    // Naming no department, a department gets its own records (as requester or owner);
    // naming another one alone is refused.
    let mine = json_of(&http(port, "GET", "/api/v1/audit", Some(&housing), None));
    let mine = mine["records"].as_array().unwrap();
    assert!(!mine.is_empty());
    assert!(
        mine.iter()
            .all(|r| r["requester"] == "housing" || r["owner"] == "housing"),
        "{mine:?}"
    );
    let theirs = http(
        port,
        "GET",
        "/api/v1/audit?requester=bank",
        Some(&housing),
        None,
    );
    assert_eq!(theirs.0, 403, "another department's reads");
    let own = json_of(&http(
        port,
        "GET",
        "/api/v1/audit?requester=housing",
        Some(&housing),
        None,
    ));
    assert!(
        own["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["requester"] == "housing")
    );
    // Another department's record and a number that is no record get one answer:
    // audit numbers are sequential.
    let foreign = http(
        port,
        "GET",
        &format!("/api/v1/audit/{deny_seq}"),
        Some(&housing),
        None,
    );
    let missing = http(port, "GET", "/api/v1/audit/999999", Some(&housing), None);
    assert_eq!(foreign.0, 403);
    let words = |r: &govchain_integration_tests::http::Answer, seq: &str| {
        json_of(r)["message"].as_str().unwrap().replace(seq, "N")
    };
    assert_eq!(
        words(&foreign, &deny_seq.to_string()),
        words(&missing, "999999"),
        "missing and foreign records answer alike"
    );
    assert_eq!(missing.0, 403);
    let flows = json_of(&http(port, "GET", "/api/v1/flows", Some(&housing), None));
    assert!(
        flows["flows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["requester"] == "housing" || f["owner"] == "housing"),
        "{flows}"
    );
    // a department sees its own balance and ledger only: a ledger says whom it read
    // and who read it
    let p = json_of(&http(port, "GET", "/api/v1/points", Some(&housing), None));
    let balances = p["balances"].as_array().unwrap();
    assert!(
        !balances.is_empty() && balances.iter().all(|b| b["department"] == "housing"),
        "{p}"
    );
    let other = http(
        port,
        "GET",
        "/api/v1/points/tax/history",
        Some(&housing),
        None,
    );
    assert_eq!(
        (other.0, json_of(&other)["name"].clone()),
        (403, json!("UNAUTHORIZED"))
    );
    assert_eq!(
        http(
            port,
            "GET",
            "/api/v1/points/housing/history",
            Some(&housing),
            None
        )
        .0,
        200
    );
    // signing out ends the session
    assert_eq!(
        http(port, "DELETE", "/api/v1/session", Some(&housing), None).0,
        204
    );
    assert_eq!(
        http(port, "GET", "/api/v1/session", Some(&housing), None).0,
        401
    );

    // a page of another site that reaches the node by DNS rebinding names that site in
    // its Host header: refused before any route, the page, the genesis and the
    // node's metrics included
    // (or names an IP address: another server's, which an attacker's page may be on)
    for (host, path) in [
        ("evil.example", "/"),
        ("evil.example", "/api/v1/genesis"),
        ("evil.example", "/api/v1/info"),
        ("evil.example", "/metrics"),
        ("203.0.113.7", "/api/v1/session/challenge"),
    ] {
        let method = if path.ends_with("challenge") {
            "POST"
        } else {
            "GET"
        };
        let r = http_to(port, &format!("{host}:{port}"), method, path, None, None);
        assert_eq!(r.0, 403, "{path}");
        assert_eq!(json_of(&r)["name"], "UNAUTHORIZED", "{path}");
        assert!(!String::from_utf8_lossy(&r.2).contains("salt_commitment"));
    }
    assert_eq!(
        http_to(
            port,
            &format!("localhost:{port}"),
            "GET",
            "/api/v1/info",
            None,
            None
        )
        .0,
        200
    );

    // sign-in requests from one address are bounded: at most 20 a minute
    let refused = (0..=20)
        .map(|_| http(port, "POST", "/api/v1/session/challenge", None, None))
        .find(|r| r.0 == 429)
        .expect("the 21st sign-in request within a minute is refused");
    assert_eq!(json_of(&refused)["name"], "BUSY");

    // a node's config that names the auditor's department for its credential does not
    // make the operator a supervisor: the credential signs in as the department that
    // runs the node on chain, or not at all
    drop(node);
    let config = net.config(1);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("department = \"public-security\""), "{text}");
    std::fs::write(
        &config,
        text.replace(
            "department = \"public-security\"",
            "department = \"supervision\"",
        ),
    )
    .unwrap();
    let _node = NodeProcess::start(&net, 1).await.unwrap();
    let r = http(
        port,
        "POST",
        "/api/v1/session",
        None,
        Some(&json!({"credential": credential.trim()})),
    );
    assert_eq!(
        json_of(&r)["name"],
        "UNAUTHORIZED",
        "{}",
        String::from_utf8_lossy(&r.2)
    );
    assert!(!r.1.iter().any(|(k, _)| k == "set-cookie"), "no session");
}

/// A console session of `department`'s `operator` (its key `keys/<dept>.<operator>.pem`),
/// signed in over a one-time challenge; the session cookie.
fn key_session(port: u16, net: &Network, department: &str, operator: &str) -> String {
    let pem = std::fs::read_to_string(net.root.join(format!("keys/{department}.{operator}.pem")));
    let key = govchain_crypto::PrivateKey::from_pem_any(&pem.unwrap(), None).unwrap();
    let origin = format!("http://127.0.0.1:{port}");
    let body = key_sign_in(port, &key, department, operator, None, &origin);
    let r = http(port, "POST", "/api/v1/session", None, Some(&body));
    assert_eq!(r.0, 200, "{}", String::from_utf8_lossy(&r.2));
    session_cookie(&r)
}

#[test]
fn every_route_of_the_router_is_in_the_openapi_document() {
    let doc: Value = serde_json::from_str(govchain_api::console::OPENAPI).unwrap();
    let documented: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    let source = include_str!("../../runtime/api/src/console/mod.rs");
    let routed: Vec<&str> = source
        .split(".route(")
        .skip(1)
        .map(|s| s.split('"').nth(1).unwrap())
        .collect();
    assert!(routed.len() >= 10, "{routed:?}");
    for r in &routed {
        assert!(
            documented.iter().any(|d| d == r),
            "route {r} is not in openapi.json"
        );
    }
    for d in &documented {
        assert!(
            routed.contains(&d.as_str()),
            "openapi.json documents {d}, which no route serves"
        );
    }
}
