//! The gateway's webhooks against real processes: a node, gateways for the registry,
//! the housing authority and the tax bureau, and receivers in the test. Each
//! department is told what concerns it, signed with its own HMAC-SM3 key (checked here
//! and by the Python client), and nothing of another's: its request allowed or denied,
//! its document ready, a grant to it revoked, its certificate read. A receiver that
//! fails is retried with backoff, and the delivery log shows every attempt; events
//! that commit while a gateway is down are delivered after it restarts, each once; a
//! delivery that failed every attempt is sent again by hand; a node killed while a
//! request waits in its mempool and started again: the request is done once and told;
//! a removed webhook receives nothing more.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use govchain_integration_tests::gateway::{
    Hook, Receiver, api, gateway_config, problem, run, start, token,
};
use govchain_integration_tests::http::json_of;
use govchain_integration_tests::{Network, NodeProcess, free_port};
use serde_json::{Value, json};

const CITIZEN: &str = "320102199001011232";

/// Checks a delivery's signature with `secret` as a receiver does: HMAC-SM3 over
/// event id, timestamp and body; the timestamp within a minute of now.
fn signed(h: &Hook, secret: &str) {
    let id = &h.headers["govchain-event-id"];
    let ts = &h.headers["govchain-timestamp"];
    let mac = govchain_crypto::hmac_sm3(
        secret.as_bytes(),
        &[id.as_bytes(), b".", ts.as_bytes(), b".", &h.body],
    );
    assert_eq!(
        h.headers["govchain-signature"],
        format!("hmac-sm3={}", hex::encode(mac))
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(ts.parse().unwrap()) < 60, "{ts}");
    assert_eq!(h.json()["id"].as_str(), Some(id.as_str()));
}

fn hook(url: &str, secret: &str, events: &[&str]) -> Value {
    json!({"url": url, "secret": secret, "events": events})
}

fn with_retries(config: &std::path::Path) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str("\n[webhooks]\nfirst_retry_ms = 200\nmax_attempts = 3\ntimeout_ms = 3000\n");
    std::fs::write(config, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against one set of processes (starting them is the cost)"
)]
async fn each_department_is_told_what_concerns_it_signed_retried_and_once() {
    // given a node and three departments' gateways
    let net = Network::init(1).unwrap();
    // Blocks wait up to 300 ms for transactions, so the node can be killed while one
    // is in flight.
    net.set_block_interval(1, 300);
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let endpoint = std::slice::from_ref(&node.endpoint);
    let (reg_cfg, reg_port) = gateway_config(&net, "real-estate", endpoint);
    let (hou_cfg, hou_port) = gateway_config(&net, "housing", endpoint);
    let (tax_cfg, tax_port) = gateway_config(&net, "tax", endpoint);
    with_retries(&hou_cfg);
    let reg_admin = token(&reg_cfg, "registry-admin", "admin");
    let publisher = token(&reg_cfg, "registry-system", "publish,read");
    let hou_admin = token(&hou_cfg, "housing-admin", "admin");
    let caseworker = token(&hou_cfg, "case-system", "request,read");
    let assessor = token(&tax_cfg, "assessment", "request");
    let reg = start(&reg_cfg, reg_port).await;
    let hou = start(&hou_cfg, hou_port).await;
    let tax = start(&tax_cfg, tax_port).await;

    // a webhook needs the admin scope, a long key and known events
    let (hou_secret, reg_secret) = ("h".repeat(40), "r".repeat(48));
    let housing_rx = Receiver::start(0, &[500]);
    let registry_rx = Receiver::start(0, &[]);
    let r = api(
        hou.port,
        &caseworker,
        "POST",
        "/v1/webhooks",
        None,
        Some(&hook(&housing_rx.url(), &hou_secret, &[])),
    );
    assert_eq!((r.0, problem(&r)), (403, "UNAUTHORIZED".into()));
    for bad in [
        hook(&housing_rx.url(), "short", &[]),
        hook(&housing_rx.url(), &hou_secret, &["access.maybe"]),
        hook("ftp://127.0.0.1/x", &hou_secret, &[]),
    ] {
        let r = api(
            hou.port,
            &hou_admin,
            "POST",
            "/v1/webhooks",
            None,
            Some(&bad),
        );
        assert_eq!((r.0, problem(&r)), (400, "INVALID_ARGUMENT".into()));
    }
    assert_eq!(
        json_of(&api(
            hou.port,
            &hou_admin,
            "GET",
            "/v1/webhooks",
            None,
            None
        ))["webhooks"],
        json!([])
    );
    let made = api(
        hou.port,
        &hou_admin,
        "POST",
        "/v1/webhooks",
        None,
        Some(&hook(&housing_rx.url(), &hou_secret, &[])),
    );
    assert_eq!(made.0, 201, "{}", String::from_utf8_lossy(&made.2));
    let housing_hook = json_of(&made)["id"].as_str().unwrap().to_string();
    assert!(json_of(&made).get("secret").is_none());
    let made = api(
        reg.port,
        &reg_admin,
        "POST",
        "/v1/webhooks",
        None,
        Some(&hook(&registry_rx.url(), &reg_secret, &[])),
    );
    assert_eq!(made.0, 201, "{}", String::from_utf8_lossy(&made.2));

    // the registry publishes; the housing authority is allowed (its receiver fails
    // the first delivery: retried) and denied; the tax bureau reads under a grant
    let deed = json!({
        "type": "property", "number": "W-1", "subject_national_id": CITIZEN,
        "issued_on": "2024-05-01", "metadata": {"district": "鼓楼区", "usage": "住宅"},
        "document": B64.encode(b"deed W-1"),
    });
    let r = api(
        reg.port,
        &publisher,
        "POST",
        "/v1/certificates",
        None,
        Some(&deed),
    );
    assert_eq!(r.0, 201, "{}", String::from_utf8_lossy(&r.2));
    let cert = json_of(&r)["certificate_id"].as_str().unwrap().to_string();
    let ask = |port, token: &str, purpose: &str| {
        let r = api(
            port,
            token,
            "POST",
            "/v1/access-requests",
            None,
            Some(&json!({"certificate_id": cert, "purpose": purpose})),
        );
        assert_eq!(r.0, 201, "{}", String::from_utf8_lossy(&r.2));
        json_of(&r)["request"].as_u64().unwrap()
    };
    let allowed = ask(hou.port, &caseworker, "housing_eligibility");
    let denied = ask(hou.port, &caseworker, "tax_assessment");
    let grant = |grantee: &str, key: &str| {
        let g = api(
            reg.port,
            &publisher,
            "POST",
            &format!("/v1/certificates/{cert}/grants"),
            Some(key),
            Some(&json!({"grantee": grantee, "purpose": "tax_assessment"})),
        );
        assert_eq!(g.0, 201, "{}", String::from_utf8_lossy(&g.2));
        json_of(&g)["grant_id"].as_u64().unwrap()
    };
    let revoke = |grant_id: u64| {
        let r = api(
            reg.port,
            &publisher,
            "POST",
            &format!("/v1/certificates/{cert}/revocation"),
            None,
            Some(&json!({"grant_id": grant_id, "reason": "case closed"})),
        );
        assert_eq!(r.0, 201, "{}", String::from_utf8_lossy(&r.2));
    };
    grant("tax", "grant-tax");
    let taxed = ask(tax.port, &assessor, "tax_assessment");

    // the housing authority is told: allowed (after one failed delivery), denied,
    // its document ready
    let is = |kind: &'static str, request: u64| {
        move |e: &Value| e["type"] == kind && e["data"]["request"] == request
    };
    let h = housing_rx
        .wait_for("access.allowed", is("access.allowed", allowed))
        .await;
    signed(&h, &hou_secret);
    assert_eq!(h.headers["govchain-event-type"], "access.allowed");
    let e = h.json();
    assert_eq!(
        (
            e["department"].as_str(),
            e["data"]["certificate_id"].as_str()
        ),
        (Some("housing"), Some(cert.as_str())),
        "{e}"
    );
    let h = housing_rx
        .wait_for("access.denied", is("access.denied", denied))
        .await;
    signed(&h, &hou_secret);
    let h = housing_rx
        .wait_for("document.ready", is("document.ready", allowed))
        .await;
    signed(&h, &hou_secret);
    let path = h.json()["data"]["document"].as_str().unwrap().to_string();
    let doc = api(hou.port, &caseworker, "GET", &path, None, None);
    assert_eq!(doc.0, 200, "{}", String::from_utf8_lossy(&doc.2));
    // the registry is told of both reads of its certificate, with its own key
    for (request, by) in [(allowed, "housing"), (taxed, "tax")] {
        let h = registry_rx
            .wait_for("certificate.read", is("certificate.read", request))
            .await;
        signed(&h, &reg_secret);
        assert_eq!(h.json()["data"]["requester"], by);
    }
    // the delivery log shows the failed attempt and the retry
    let log = json_of(&api(
        hou.port,
        &hou_admin,
        "GET",
        &format!("/v1/webhooks/{housing_hook}/deliveries"),
        None,
        None,
    ));
    let first = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_id"] == format!("access.allowed:{allowed}"))
        .unwrap_or_else(|| panic!("{log}"))
        .clone();
    assert_eq!(first["state"], "delivered", "{first}");
    let statuses: Vec<u64> = first["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 200], "{first}");

    // while the housing gateway is down, a grant to it is made and revoked: told after
    // its restart
    drop(hou);
    let granted = grant("housing", "grant-housing");
    revoke(granted);
    let hou = start(&hou_cfg, hou_port).await;
    let h = housing_rx
        .wait_for("grant.revoked", |e| {
            e["type"] == "grant.revoked" && e["data"]["grant_id"] == granted
        })
        .await;
    signed(&h, &hou_secret);
    assert_eq!(h.json()["data"]["grantor"], "real-estate");

    // the registry, subscribed to every type, was told only of reads of its certificate
    let told: Vec<Value> = registry_rx.got().iter().map(Hook::json).collect();
    assert!(
        told.iter()
            .all(|e| e["type"] == "certificate.read" && e["department"] == "real-estate"),
        "{told:?}"
    );
    // nothing of another department's reached the housing authority, and each of its
    // events was delivered once
    let got: Vec<Value> = housing_rx
        .got()
        .iter()
        .filter(|h| h.answered == 200)
        .map(Hook::json)
        .collect();
    assert!(
        got.iter().all(|e| e["department"] == "housing"
            && e["data"]["request"] != taxed
            && e["type"] != "certificate.read"),
        "{got:?}"
    );
    let ids: BTreeSet<&str> = got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), got.len(), "{got:?}");
    // the Python client checks a delivery the same way
    let last = housing_rx.got().last().unwrap().clone();
    let checked = run(
        &[
            "python3",
            "-c",
            "import json, os, sys; from govchain_gateway import verify_webhook; \
             e = verify_webhook(os.environ['SECRET'], json.loads(os.environ['HEADERS']), \
             os.environ['BODY'].encode()); print(e['id']); \
             bad = dict(json.loads(os.environ['HEADERS'])); bad['govchain-timestamp'] = '1'; \
             print(verify_webhook(os.environ['SECRET'], bad, os.environ['BODY'].encode()) is None)",
        ],
        &[
            ("SECRET", &hou_secret),
            ("HEADERS", &serde_json::to_string(&last.headers).unwrap()),
            ("BODY", std::str::from_utf8(&last.body).unwrap()),
        ],
    );
    assert_eq!(
        checked.lines().collect::<Vec<_>>(),
        [last.json()["id"].as_str().unwrap(), "True"]
    );

    // a receiver that is down: every attempt fails, then one retry by hand delivers
    let down = free_port();
    let r = api(
        hou.port,
        &hou_admin,
        "POST",
        "/v1/webhooks",
        None,
        Some(&hook(
            &format!("http://127.0.0.1:{down}/x"),
            &hou_secret,
            &["access.allowed"],
        )),
    );
    let later_hook = json_of(&r)["id"].as_str().unwrap().to_string();
    let again = ask(hou.port, &caseworker, "housing_eligibility");
    let log_of = |id: &str| {
        json_of(&api(
            hou.port,
            &hou_admin,
            "GET",
            &format!("/v1/webhooks/{id}/deliveries"),
            None,
            None,
        ))["deliveries"]
            .as_array()
            .unwrap()
            .clone()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let failed = loop {
        let log = log_of(&later_hook);
        if let Some(d) = log.iter().find(|d| d["state"] == "failed") {
            break d.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed["event_id"], format!("access.allowed:{again}"));
    // three attempts, the waits between them doubling from first_retry_ms (200 ms)
    let at: Vec<u64> = failed["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["at_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(at.len(), 3, "{failed}");
    assert!(at[1] - at[0] >= 200 && at[2] - at[1] >= 400, "{failed}");
    let mended = Receiver::start(down, &[]);
    let seq = failed["seq"].as_u64().unwrap();
    let r = api(
        hou.port,
        &hou_admin,
        "POST",
        &format!("/v1/webhooks/{later_hook}/deliveries/{seq}/retry"),
        None,
        None,
    );
    assert_eq!(r.0, 200, "{}", String::from_utf8_lossy(&r.2));
    let h = mended
        .wait_for("the retried delivery", is("access.allowed", again))
        .await;
    signed(&h, &hou_secret);

    // the node is killed while an access request waits in its mempool, and started
    // again: the gateway sends the same transaction again, it is done once, and its
    // event is delivered. (For this step blocks wait up to 5 s: the request is
    // surely in the mempool, not in a block, when the node dies.)
    let reads = || {
        let ledger = json_of(&api(hou.port, &caseworker, "GET", "/v1/points", None, None));
        ledger["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "read")
            .count()
    };
    let before = reads();
    let interval = |node: NodeProcess, ms: u64| {
        node.kill9();
        net.set_block_interval(1, ms);
    };
    interval(node, 5000);
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let (port, t) = (hou.port, caseworker.clone());
    let body = json!({"certificate_id": cert, "purpose": "housing_eligibility"});
    let in_flight = std::thread::spawn(move || {
        api(
            port,
            &t,
            "POST",
            "/v1/access-requests",
            Some("ask-restart"),
            Some(&body),
        )
    });
    // Journaled (the operation is pending) and admitted (the node counts its nonce).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while api(
        hou.port,
        &caseworker,
        "GET",
        "/v1/operations/ask-restart",
        None,
        None,
    )
    .0 != 202
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the request was never journaled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    interval(node, 300);
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let r = in_flight.join().unwrap();
    assert!(
        r.0 == 201 || r.0 == 202,
        "{}",
        String::from_utf8_lossy(&r.2)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let done = loop {
        let op = api(
            hou.port,
            &caseworker,
            "GET",
            "/v1/operations/ask-restart",
            None,
            None,
        );
        if op.0 == 201 {
            break json_of(&op);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&op.2)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let restarted = done["request"].as_u64().unwrap();
    mended
        .wait_for(
            "the event of the request made across the restart",
            is("access.allowed", restarted),
        )
        .await;
    assert_eq!(reads(), before + 1, "paid once");

    // a removed webhook receives nothing more
    let r = api(
        hou.port,
        &hou_admin,
        "DELETE",
        &format!("/v1/webhooks/{housing_hook}"),
        None,
        None,
    );
    assert_eq!(r.0, 200, "{}", String::from_utf8_lossy(&r.2));
    let before = housing_rx.got().len();
    let last = ask(hou.port, &caseworker, "housing_eligibility");
    mended
        .wait_for("the next event", is("access.allowed", last))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(housing_rx.got().len(), before);
    let r = api(
        hou.port,
        &hou_admin,
        "GET",
        &format!("/v1/webhooks/{housing_hook}/deliveries"),
        None,
        None,
    );
    assert_eq!((r.0, problem(&r)), (404, "NOT_FOUND".into()));
    drop((reg, tax, node));
}
