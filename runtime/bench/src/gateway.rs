//! `govchain bench --kind gateway`: an access request through a department's gateway
//! (REST/JSON, the gateway signing, journaling and settling it) beside the same request
//! sent directly over gRPC by `govchain-client`, one at a time, alternating, on an
//! embedded solo node: the gateway's overhead at the same load
//! (`docs/design/gateway.md`; target: at most 25% over the direct path).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use govchain_client::{Client, Signer};
use govchain_gateway::GatewayConfig;
use govchain_gateway::tokens::{self, Scope};
use govchain_node::output::{emit, table};
use govchain_types::pb;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::load::Workload;
use crate::{BenchArgs, embedded, percentile};

/// Runs the comparison: `args.txs` requests each way (at most 2,000).
pub(crate) async fn run(args: &BenchArgs, json_out: bool) -> anyhow::Result<()> {
    let n = args.txs.min(2_000);
    let node = embedded(args, true).await?;
    let result = compare(&node.endpoint, &node.home, n, json_out).await;
    node.node.shutdown().await;
    let v = result?;
    emit(json_out, &v, || print(&v));
    Ok(())
}

async fn compare(
    endpoint: &str,
    home: &std::path::Path,
    n: usize,
    quiet: bool,
) -> anyhow::Result<Value> {
    let w = Workload::prepare(endpoint, home, 1, quiet).await?;
    let cert = w.cert("property").to_string();
    let genesis = govchain_node::network::network_genesis(&home.join("genesis.json"))?;
    let mut client = Client::connect_to(endpoint, &genesis.chain_id, &genesis.hash()).await?;
    // Another department sends directly (one account's nonces are counted by one sender):
    // the same gated read of the same certificate, for its own purpose.
    let signer = Signer::new(
        "bank",
        govchain_node::keyfile::load(&home.join("keys/bank.pem"))?,
    );

    // The housing authority's gateway, in this process, with a token of its own.
    let data = tempfile::tempdir()?;
    let store = govchain_gateway::store::Store::open(data.path())?;
    let token = tokens::create(&store, "bench", &[Scope::Request], "", 0)?;
    drop(store);
    let cfg = GatewayConfig {
        department: "housing".into(),
        network: home.to_path_buf(),
        keys: None,
        endpoints: vec![endpoint.to_string()],
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data.path().to_path_buf(),
        tls: None,
        max_body_bytes: 1 << 20,
        webhooks: Default::default(),
    };
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let gateway = tokio::spawn(govchain_gateway::run(
        cfg,
        move |a| {
            let _ = bound_tx.send(a);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = bound_rx.await.context("the gateway did not start")?;
    let body = json!({"certificate_id": cert, "purpose": "housing_eligibility"}).to_string();

    let (mut direct, mut via) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let payload = pb::payload::Kind::Request(pb::RequestAccess {
            cert_id: cert.clone(),
            purpose: "mortgage_review".into(),
        });
        client.submit(&signer, payload).await?.ok()?;
        direct.push(t.elapsed());
        let t = Instant::now();
        let status = post(addr, &token, &format!("bench-{i}"), &body).await?;
        if status != 201 {
            bail!("the gateway answered {status} to request {i}");
        }
        via.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    let _ = stop_tx.send(());
    let _ = gateway.await;
    direct.sort();
    via.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = |v: &[Duration]| v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    let overhead = mean(&via) / mean(&direct) - 1.0;
    Ok(json!({
        "kind": "gateway", "requests": n, "elapsed_s": elapsed.as_secs_f64(),
        "direct": {"mean_ms": mean(&direct), "p50_ms": ms(percentile(&direct, 0.5)), "p99_ms": ms(percentile(&direct, 0.99)), "per_s": 1e3 / mean(&direct)},
        "gateway": {"mean_ms": mean(&via), "p50_ms": ms(percentile(&via, 0.5)), "p99_ms": ms(percentile(&via, 0.99)), "per_s": 1e3 / mean(&via)},
        "overhead": overhead, "target_overhead": 0.25, "meets_target": overhead <= 0.25,
    }))
}

/// One `POST /v1/access-requests` to the gateway at `addr`: the HTTP status.
async fn post(
    addr: std::net::SocketAddr,
    token: &str,
    key: &str,
    body: &str,
) -> anyhow::Result<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let req = format!(
        "POST /v1/access-requests HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP answer: {head}"))
}

fn print(v: &Value) {
    let mut t = table(&["path", "requests/s", "mean ms", "p50 ms", "p99 ms"]);
    for (name, k) in [
        ("direct gRPC (govchain-client)", "direct"),
        ("through the gateway (REST)", "gateway"),
    ] {
        let f = |x: &str| format!("{:.1}", v[k][x].as_f64().unwrap_or_default());
        t.add_row([
            name.to_string(),
            f("per_s"),
            f("mean_ms"),
            f("p50_ms"),
            f("p99_ms"),
        ]);
    }
    println!("{t}");
    println!(
        "gateway overhead: {:+.1}% of the direct path's mean latency, one request at a time (target ≤ 25%: {})",
        v["overhead"].as_f64().unwrap_or_default() * 100.0,
        if v["meets_target"].as_bool().unwrap_or(false) {
            "yes"
        } else {
            "NO"
        }
    );
}
