//! The agency gateway against real processes: a node, and a gateway per department
//! (`govchain gateway run`). The registry publishes through its gateway, the housing
//! authority asks and receives the document through its own, with API tokens, scopes,
//! an expired token, idempotent retries, problem details for bad input, failover past a
//! dead endpoint, and a gateway killed while its transaction waits for a block that
//! settles it after a restart, exactly once.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use govchain_integration_tests::gateway::{
    api, example, gateway_config, problem, run, start, token,
};
use govchain_integration_tests::http::{Answer, call, json_of};
use govchain_integration_tests::{Network, NodeProcess, free_port};
use serde_json::{Value, json};

const CITIZEN: &str = "320102199001011232";

fn deed(number: &str) -> Value {
    json!({
        "type": "property", "number": number, "subject_national_id": CITIZEN,
        "issued_on": "2024-05-01", "metadata": {"district": "鼓楼区", "usage": "住宅"},
        "document": B64.encode(format!("{{\"number\":\"{number}\",\"owner\":\"张三\"}}")),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against one set of processes (starting them is the cost)"
)]
async fn departments_publish_request_and_receive_through_their_gateways() {
    // given a node, and gateways for the registry (whose first endpoint is dead: it
    // fails over) and the housing authority
    let net = Network::init(1).unwrap();
    // Blocks wait up to 2 s for transactions, so a gateway can be stopped mid-flow.
    net.set_block_interval(1, 2000);
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let dead = format!("127.0.0.1:{}", free_port());
    let (reg_cfg, reg_port) = gateway_config(&net, "real-estate", &[dead, node.endpoint.clone()]);
    let (hou_cfg, hou_port) = gateway_config(&net, "housing", std::slice::from_ref(&node.endpoint));
    let publisher = token(&reg_cfg, "registry-system", "publish,read");
    let reader = token(&reg_cfg, "registry-reader", "read");
    let caseworker = token(&hou_cfg, "case-system", "request,read");
    let admin = token(&reg_cfg, "registry-admin", "admin");
    let reg = start(&reg_cfg, reg_port).await;
    let hou = start(&hou_cfg, hou_port).await;

    // no token, a wrong token, a token without the scope: refused, nothing published
    let r = call(
        reg.port,
        "POST",
        "/v1/certificates",
        &[],
        Some(deed("N-1").to_string().as_bytes()),
    );
    assert_eq!((r.0, problem(&r)), (401, "UNAUTHENTICATED".into()));
    let r = api(
        reg.port,
        &format!("gct_{}", "0".repeat(64)),
        "GET",
        "/v1/status",
        None,
        None,
    );
    assert_eq!((r.0, problem(&r)), (401, "UNAUTHENTICATED".into()));
    let r = api(
        reg.port,
        &reader,
        "POST",
        "/v1/certificates",
        None,
        Some(&deed("N-1")),
    );
    assert_eq!((r.0, problem(&r)), (403, "UNAUTHORIZED".into()));
    // an expired token: refused as no token, saying why
    let made = api(
        reg.port,
        &admin,
        "POST",
        "/v1/tokens",
        None,
        Some(&json!({"name": "short-lived", "scopes": ["read"], "valid_for": "3s"})),
    );
    assert_eq!(made.0, 201, "{}", String::from_utf8_lossy(&made.2));
    let short = json_of(&made)["token"].as_str().unwrap().to_string();
    assert_eq!(
        api(reg.port, &short, "GET", "/v1/status", None, None).0,
        200
    );
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let r = api(reg.port, &short, "GET", "/v1/status", None, None);
    assert_eq!((r.0, problem(&r)), (401, "UNAUTHENTICATED".into()));
    assert!(
        json_of(&r)["detail"].as_str().unwrap().contains("expired"),
        "{}",
        json_of(&r)
    );

    // an admin token cannot hand out the department's committee vote
    let r = api(
        reg.port,
        &admin,
        "POST",
        "/v1/tokens",
        None,
        Some(&json!({"name": "voter", "scopes": ["govern"]})),
    );
    assert_eq!((r.0, problem(&r)), (403, "UNAUTHORIZED".into()));

    // bad input: malformed JSON, an unknown field, a bad national id, an oversized body
    let auth = format!("Bearer {publisher}");
    let h = [("Authorization", auth.as_str())];
    let r = call(
        reg.port,
        "POST",
        "/v1/certificates",
        &h,
        Some(b"{\"type\": "),
    );
    assert_eq!((r.0, problem(&r)), (400, "INVALID_ARGUMENT".into()));
    let mut extra = deed("N-1");
    extra["colour"] = json!("red");
    let r = api(
        reg.port,
        &publisher,
        "POST",
        "/v1/certificates",
        None,
        Some(&extra),
    );
    assert!(
        json_of(&r)["detail"].as_str().unwrap().contains("colour"),
        "{}",
        json_of(&r)
    );
    let mut bad_id = deed("N-1");
    bad_id["subject_national_id"] = json!("320102199001011233");
    let r = api(
        reg.port,
        &publisher,
        "POST",
        "/v1/certificates",
        None,
        Some(&bad_id),
    );
    assert_eq!((r.0, problem(&r)), (400, "INVALID_SUBJECT".into()));
    let mut big = deed("N-1");
    big["document"] = json!(B64.encode(vec![7u8; 100_000]));
    let r = api(
        reg.port,
        &publisher,
        "POST",
        "/v1/certificates",
        None,
        Some(&big),
    );
    assert_eq!((r.0, problem(&r)), (413, "BODY_TOO_LARGE".into()));

    // the registry publishes; a retry with the same key is the same answer, not a
    // second transaction; the key with another body is refused
    let first = api(
        reg.port,
        &publisher,
        "POST",
        "/v1/certificates",
        Some("deed-1"),
        Some(&deed("N-1")),
    );
    assert_eq!(first.0, 201, "{}", String::from_utf8_lossy(&first.2));
    let published = json_of(&first);
    let again = api(
        reg.port,
        &publisher,
        "POST",
        "/v1/certificates",
        Some("deed-1"),
        Some(&deed("N-1")),
    );
    assert_eq!((again.0, json_of(&again)), (201, published.clone()));
    let other = api(
        reg.port,
        &publisher,
        "POST",
        "/v1/certificates",
        Some("deed-1"),
        Some(&deed("N-2")),
    );
    assert_eq!(
        (other.0, problem(&other)),
        (422, "IDEMPOTENCY_KEY_REUSED".into())
    );
    // a second publish of the number without a key is the chain's refusal
    let dup = api(
        reg.port,
        &publisher,
        "POST",
        "/v1/certificates",
        None,
        Some(&deed("N-1")),
    );
    assert_eq!(
        (dup.0, problem(&dup)),
        (409, "DUPLICATE_CERTIFICATE".into())
    );
    let cert = published["certificate_id"].as_str().unwrap().to_string();
    let listed = json_of(&api(
        reg.port,
        &reader,
        "GET",
        &format!("/v1/certificates?subject_national_id={CITIZEN}"),
        None,
        None,
    ));
    let ids: Vec<&str> = listed["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [cert.as_str()], "{listed}");

    // the housing authority asks, is allowed, and receives the document checked
    let asked = api(
        hou.port,
        &caseworker,
        "POST",
        "/v1/access-requests",
        Some("ask-1"),
        Some(&json!({"certificate_id": cert, "purpose": "housing_eligibility"})),
    );
    assert_eq!(asked.0, 201, "{}", String::from_utf8_lossy(&asked.2));
    let decision = json_of(&asked);
    assert_eq!(decision["decision"], "allow", "{decision}");
    let n = decision["request"].as_u64().unwrap();
    let doc = api(
        hou.port,
        &caseworker,
        "GET",
        &format!("/v1/access-requests/{n}/document?wait_ms=60000"),
        None,
        None,
    );
    assert_eq!(doc.0, 200, "{}", String::from_utf8_lossy(&doc.2));
    let doc = json_of(&doc);
    assert_eq!(
        B64.decode(doc["document"].as_str().unwrap()).unwrap(),
        b"{\"number\":\"N-1\",\"owner\":\"\xe5\xbc\xa0\xe4\xb8\x89\"}"
    );
    assert_eq!(doc["certificate"]["issuer"], "real-estate");
    // the housing authority paid for the read and sees it in its ledger and audit
    // records; the registry sees the read of its certificate, exported with proofs
    let points = json_of(&api(hou.port, &caseworker, "GET", "/v1/points", None, None));
    let last = points["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["kind"].as_str(), last["audit_seq"].as_u64()),
        (Some("read"), Some(n)),
        "{points}"
    );
    let mine = json_of(&api(
        hou.port,
        &caseworker,
        "GET",
        "/v1/audit?role=requester",
        None,
        None,
    ));
    assert!(
        mine["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["seq"] == n),
        "{mine}"
    );
    let export = json_of(&api(
        reg.port,
        &reader,
        "GET",
        "/v1/audit/export?role=owner",
        None,
        None,
    ));
    assert_eq!(export["format"], "govchain-audit-export/v2");
    assert!(
        export["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["record"]["seq"] == n),
        "{export}"
    );
    let r = api(
        hou.port,
        &caseworker,
        "GET",
        "/v1/audit?role=judge",
        None,
        None,
    );
    assert_eq!((r.0, problem(&r)), (400, "INVALID_ARGUMENT".into()));
    // the registry grants the tax bureau, then revokes the grant
    let g = api(
        reg.port,
        &publisher,
        "POST",
        &format!("/v1/certificates/{cert}/grants"),
        Some("grant-1"),
        Some(&json!({"grantee": "tax", "purpose": "tax_assessment"})),
    );
    assert_eq!(g.0, 201, "{}", String::from_utf8_lossy(&g.2));
    let grant_id = json_of(&g)["grant_id"].as_u64().unwrap();
    let r = api(
        reg.port,
        &publisher,
        "POST",
        &format!("/v1/certificates/{cert}/revocation"),
        None,
        Some(&json!({"grant_id": grant_id, "reason": "assessment closed"})),
    );
    assert_eq!(
        (r.0, json_of(&r)["grant_id"].as_u64()),
        (201, Some(grant_id)),
        "{}",
        String::from_utf8_lossy(&r.2)
    );
    // the housing authority cannot grant on the registry's certificate: its token has
    // no publish scope, and the chain would refuse it anyway
    let r = api(
        hou.port,
        &caseworker,
        "POST",
        &format!("/v1/certificates/{cert}/grants"),
        None,
        Some(&json!({"grantee": "housing", "purpose": "housing_eligibility"})),
    );
    assert_eq!((r.0, problem(&r)), (403, "UNAUTHORIZED".into()));

    // the registry owns the certificate but did not make request n: its gateway does
    // not open the document for it
    let made = api(
        reg.port,
        &admin,
        "POST",
        "/v1/tokens",
        None,
        Some(&json!({"name": "registry-requests", "scopes": ["request"]})),
    );
    assert_eq!(made.0, 201, "{}", String::from_utf8_lossy(&made.2));
    let requests = json_of(&made)["token"].as_str().unwrap().to_string();
    let r = api(
        reg.port,
        &requests,
        "GET",
        &format!("/v1/access-requests/{n}/document"),
        None,
        None,
    );
    assert_eq!((r.0, problem(&r)), (403, "UNAUTHORIZED".into()));
    assert!(
        !String::from_utf8_lossy(&r.2).contains("document\""),
        "nothing of it"
    );
    // a token revoked through the API is refused at once, the gateway running
    let r = api(
        reg.port,
        &reader,
        "POST",
        "/v1/tokens/registry-requests/revocation",
        None,
        None,
    );
    assert_eq!(
        (r.0, problem(&r)),
        (403, "UNAUTHORIZED".into()),
        "admin scope only"
    );
    let r = api(
        reg.port,
        &admin,
        "POST",
        "/v1/tokens/registry-requests/revocation",
        None,
        None,
    );
    assert_eq!(r.0, 200, "{}", String::from_utf8_lossy(&r.2));
    let r = api(reg.port, &requests, "GET", "/v1/status", None, None);
    assert_eq!((r.0, problem(&r)), (401, "UNAUTHENTICATED".into()));

    // two calls with one key at once: one publish, both answered with it or told to
    // retry
    let (port, t) = (reg.port, publisher.clone());
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || {
                api(
                    port,
                    &t,
                    "POST",
                    "/v1/certificates",
                    Some("deed-2"),
                    Some(&deed("N-2")),
                )
            })
        })
        .collect();
    let answers: Vec<Answer> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(answers.iter().any(|a| a.0 == 201), "one publishes");
    for a in &answers {
        assert!(
            a.0 == 201 || (a.0 == 409 && problem(a) == "BUSY"),
            "{}",
            String::from_utf8_lossy(&a.2)
        );
    }
    let listed = json_of(&api(
        reg.port,
        &reader,
        "GET",
        &format!("/v1/certificates?subject_national_id={CITIZEN}"),
        None,
        None,
    ));
    let numbers: Vec<&str> = listed["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["N-1", "N-2"], "{listed}");

    // an unknown purpose is the chain's refusal, with its code
    let r = api(
        hou.port,
        &caseworker,
        "POST",
        "/v1/access-requests",
        None,
        Some(&json!({"certificate_id": cert, "purpose": "curiosity"})),
    );
    assert_eq!((r.0, problem(&r)), (400, "UNKNOWN_PURPOSE".into()));

    // a gateway killed while its access request waits for a block settles it after a
    // restart from its journal, and the retry with the key gets that answer: one read,
    // paid once
    let port = hou.port;
    let token2 = caseworker.clone();
    let ask = json!({"certificate_id": cert, "purpose": "housing_eligibility"});
    let body = ask.clone();
    let pending = std::thread::spawn(move || {
        api(
            port,
            &token2,
            "POST",
            "/v1/access-requests",
            Some("ask-2"),
            Some(&body),
        )
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let config = hou.config.clone();
    drop(hou);
    assert!(
        pending.join().is_err(),
        "the first call is cut off, unanswered"
    );
    let hou = start(&config, hou_port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let settled = loop {
        let r = api(
            hou.port,
            &caseworker,
            "POST",
            "/v1/access-requests",
            Some("ask-2"),
            Some(&ask),
        );
        if r.0 == 201 {
            break json_of(&r);
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {}",
            String::from_utf8_lossy(&r.2)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(settled["decision"], "allow", "{settled}");
    let log = std::fs::read_to_string(hou.config.with_extension("log")).unwrap();
    assert!(
        log.contains("settled after a restart"),
        "from the journal: {log}"
    );
    let points = json_of(&api(hou.port, &caseworker, "GET", "/v1/points", None, None));
    let reads: Vec<u64> = points["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "read")
        .map(|e| e["audit_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        reads,
        [n, settled["request"].as_u64().unwrap()],
        "paid once each: {points}"
    );
    let op = json_of(&api(
        hou.port,
        &caseworker,
        "GET",
        "/v1/operations/ask-2",
        None,
        None,
    ));
    assert_eq!(op, settled, "the operation's answer is the call's");

    // the Python client's examples and the Java example, against the same gateways
    let reg_url = format!("http://127.0.0.1:{}", reg.port);
    let hou_url = format!("http://127.0.0.1:{}", hou.port);
    let env = [
        ("REGISTRY_URL", reg_url.as_str()),
        ("REGISTRY_TOKEN", publisher.as_str()),
        ("HOUSING_URL", hou_url.as_str()),
        ("HOUSING_TOKEN", caseworker.as_str()),
        ("CITIZEN", CITIZEN),
        ("NUMBER", "N-PY"),
    ];
    let py = example(
        &["python3", "clients/python/examples/publish_and_read.py"],
        &env,
    );
    let doc: Value = serde_json::from_str(py["document"].as_str().unwrap()).unwrap();
    assert_eq!(
        (py["decision"].as_str(), doc["number"].as_str()),
        (Some("allow"), Some("N-PY")),
        "{py}"
    );
    let cert_py = py["certificate_id"].as_str().unwrap().to_string();
    let java = run(
        &[
            "java",
            "clients/java/GatewayExample.java",
            &hou_url,
            &caseworker,
            &cert_py,
            "housing_eligibility",
        ],
        &[],
    );
    assert!(
        java.contains(": allow (") && java.contains("document {") && java.contains("\"N-PY\""),
        "{java}"
    );
    drop((reg, hou, node));
}
