//! The agency gateway against real processes: a node, and a gateway per department
//! (`govchain gateway run`). The registry publishes through its gateway, the housing
//! authority asks and receives the document through its own, with API tokens, scopes,
//! idempotent retries, problem details for bad input, failover past a dead endpoint,
//! and a gateway killed while its transaction waits for a block that settles it after
//! a restart, exactly once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use govchain_integration_tests::http::{Answer, call, json_of};
use govchain_integration_tests::{Network, NodeProcess, free_port, govchain, govchain_bin};
use serde_json::{Value, json};

const CITIZEN: &str = "320102199001011232";

/// A gateway process.
struct Gateway {
    child: Child,
    port: u16,
    config: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `<root>/<dept>-gateway.toml` for `dept` on a free port with `endpoints`.
fn gateway_config(net: &Network, dept: &str, endpoints: &[String]) -> (PathBuf, u16) {
    let port = free_port();
    let config = net.root.join(format!("{dept}-gateway.toml"));
    let text = format!(
        "department = \"{dept}\"\nnetwork = \".\"\nendpoints = {endpoints:?}\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{dept}-gateway\"\nmax_body_bytes = 65536\n"
    );
    std::fs::write(&config, text).unwrap();
    (config, port)
}

/// Starts the gateway of `config` and waits for its port.
async fn start(config: &Path, port: u16) -> Gateway {
    let log = std::fs::File::create(config.with_extension("log")).unwrap();
    let child = Command::new(govchain_bin())
        .args(["gateway", "run", "--config", config.to_str().unwrap()])
        .env("GOVCHAIN_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "gateway did not start: {}",
            std::fs::read_to_string(config.with_extension("log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Gateway {
        child,
        port,
        config: config.to_path_buf(),
    }
}

/// A token of the gateway of `config`.
fn token(config: &Path, name: &str, scopes: &str) -> String {
    let out = govchain(&[
        "--json",
        "gateway",
        "token",
        "create",
        "--config",
        config.to_str().unwrap(),
        "--name",
        name,
        "--scope",
        scopes,
    ])
    .unwrap();
    serde_json::from_str::<Value>(&out).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A call with `token` (and an idempotency key), JSON `body`.
fn api(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(k) = key {
        headers.push(("Idempotency-Key", k));
    }
    let body = body.map(Value::to_string);
    call(
        port,
        method,
        path,
        &headers,
        body.as_deref().map(str::as_bytes),
    )
}

fn problem(r: &Answer) -> String {
    let ct =
        r.1.iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str());
    assert_eq!(
        ct,
        Some("application/problem+json"),
        "{}",
        String::from_utf8_lossy(&r.2)
    );
    json_of(r)["name"].as_str().unwrap().to_string()
}

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
    let config = net.config(1);
    // Blocks wait up to 2 s for transactions, so a gateway can be stopped mid-flow.
    let slow = std::fs::read_to_string(&config)
        .unwrap()
        .replace("block_interval_ms = 20", "block_interval_ms = 2000");
    std::fs::write(&config, slow).unwrap();
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let dead = format!("127.0.0.1:{}", free_port());
    let (reg_cfg, reg_port) = gateway_config(&net, "real-estate", &[dead, node.endpoint.clone()]);
    let (hou_cfg, hou_port) = gateway_config(&net, "housing", std::slice::from_ref(&node.endpoint));
    let publisher = token(&reg_cfg, "registry-system", "publish,read");
    let reader = token(&reg_cfg, "registry-reader", "read");
    let caseworker = token(&hou_cfg, "case-system", "request,read");
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

    // a gateway killed while its publish waits for a block settles it after a restart:
    // one certificate, and the retry with the key gets the first answer
    let port = reg.port;
    let token2 = publisher.clone();
    let pending = std::thread::spawn(move || {
        api(
            port,
            &token2,
            "POST",
            "/v1/certificates",
            Some("deed-3"),
            Some(&deed("N-3")),
        )
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let config = reg.config.clone();
    drop(reg);
    let _ = pending.join();
    let reg = start(&config, reg_port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let settled = loop {
        let r = api(
            reg.port,
            &publisher,
            "POST",
            "/v1/certificates",
            Some("deed-3"),
            Some(&deed("N-3")),
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
    assert_eq!(numbers, ["N-1", "N-3"], "exactly once: {listed} {settled}");
    // (settled by the restarted gateway from its journal, not signed again by the retry)
    let log = std::fs::read_to_string(reg.config.with_extension("log")).unwrap();
    assert!(log.contains("settled after a restart"), "{log}");
    drop((reg, hou, node));
}
