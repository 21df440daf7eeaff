//! `govchain bench --kind contract`: contract calls through the real runtime and host
//! (instantiate + call, storage in an overlay over RocksDB, and a read through the access
//! gate), beside one SM2 verification on one core, in one run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use govchain_node::output::{emit, table};
use govchain_state::genesis::nanjing_access;
use govchain_state::local::{CallBench, LocalChain};
use govchain_types::pb;
use serde_json::{Value, json};

use crate::{BenchArgs, percentile};

/// Times `n` runs of `f` (after one warm-up run) and returns the sorted durations.
fn time_runs(n: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Vec<Duration>> {
    f()?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times)
}

/// One row of the table.
struct Row {
    what: &'static str,
    times: Vec<Duration>,
    gas: u64,
}

/// Measures the calls; returns the JSON figures (the gated read's p50 ÷ one verify's
/// p50 is `ratio_read_call_to_verify`). Runs on a blocking thread of the runtime, as the
/// node's blocks do, so that each call runs on the thread that makes it.
pub(crate) async fn measure(args: &BenchArgs) -> anyhow::Result<Value> {
    let args = args.clone();
    tokio::task::spawn_blocking(move || measure_here(&args)).await?
}

fn measure_here(args: &BenchArgs) -> anyhow::Result<Value> {
    let code = std::fs::read(&args.wasm).with_context(|| {
        format!(
            "reading {} (build it with scripts/build-contracts.sh)",
            args.wasm.display()
        )
    })?;
    // A chain with one property title for the gated read.
    let dir = tempfile::tempdir()?;
    let mut access = nanjing_access();
    access.initial_points = 1_000_000_000_000;
    let store = govchain_store::Store::open(dir.path(), false)?;
    let mut chain = LocalChain::nanjing(store, 1_795_392_000_000, [1; 32], access)?;
    let (cert_id, publish) = chain.property_title(
        "苏(2024)南京市不动产权第0000001号",
        govchain_crypto::sm3(b"bench citizen"),
    );
    let (receipts, _) = chain.block(&[publish], 1_000)?;
    anyhow::ensure!(
        receipts[0].status == pb::TxStatus::Ok as i32,
        "publishing the bench certificate failed: {}",
        receipts[0].error_message
    );
    let read_args = serde_json::to_vec(&json!({
        "cert_id": cert_id,
        "purpose": "housing_eligibility",
    }))?;
    let mut bench = CallBench::new(&chain, &code, "housing")?;
    let mut gas = HashMap::new();
    let mut run = |method: &'static str, input: &[u8], gated: bool| {
        time_runs(args.txs, || {
            let used = bench
                .call(method, input, gated)
                .map_err(anyhow::Error::msg)?;
            gas.insert(method, used);
            Ok(())
        })
    };
    let noop = run("noop", b"", false)?;
    let write10 = run("write10", b"", false)?;
    let read = run("read", &read_args, true)?;
    let key = govchain_crypto::PrivateKey::generate();
    let msgs: Vec<Vec<u8>> = (0..args.txs.clamp(100, 5_000))
        .map(|i| format!("tx body {i}").into_bytes())
        .collect();
    let sigs: Vec<_> = msgs.iter().map(|m| key.sign(m)).collect();
    let public = key.public_key();
    let mut i = 0;
    let verify = time_runs(msgs.len(), || {
        i = (i + 1) % msgs.len();
        public
            .verify(&msgs[i], &sigs[i])
            .map_err(anyhow::Error::from)
    })?;
    let rows = [
        Row {
            what: "empty call (instantiate + call)",
            gas: gas["noop"],
            times: noop,
        },
        Row {
            what: "call with 10 storage writes",
            gas: gas["write10"],
            times: write10,
        },
        Row {
            what: "call reading a certificate (gate + audit)",
            gas: gas["read"],
            times: read,
        },
    ];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let v50 = us(percentile(&verify, 0.5));
    Ok(json!({
        "kind": "contract",
        "calls": args.txs,
        "instantiation": "InstancePre cached by code hash, fresh Store + instance per call",
        "sm2_verify_p50_us": v50,
        "sm2_verify_p99_us": us(percentile(&verify, 0.99)),
        "ratio_read_call_to_verify": us(percentile(&rows[2].times, 0.5)) / v50,
        "rows": rows.iter().map(|r| json!({
            "call": r.what,
            "p50_us": us(percentile(&r.times, 0.5)),
            "p99_us": us(percentile(&r.times, 0.99)),
            "gas": r.gas,
            "ratio_to_verify": us(percentile(&r.times, 0.5)) / v50,
        })).collect::<Vec<_>>(),
    }))
}

pub(crate) async fn run(args: &BenchArgs, json_out: bool) -> anyhow::Result<()> {
    let v = measure(args).await?;
    emit(json_out, &v, || {
        let mut t = table(&["call", "p50", "p99", "gas", "÷ SM2 verify p50"]);
        for r in v["rows"].as_array().into_iter().flatten() {
            t.add_row([
                r["call"].as_str().unwrap_or_default().to_string(),
                format!("{:.1} µs", r["p50_us"].as_f64().unwrap_or_default()),
                format!("{:.1} µs", r["p99_us"].as_f64().unwrap_or_default()),
                r["gas"].to_string(),
                format!("{:.2}", r["ratio_to_verify"].as_f64().unwrap_or_default()),
            ]);
        }
        t.add_row([
            "SM2 verify, one core".to_string(),
            format!(
                "{:.1} µs",
                v["sm2_verify_p50_us"].as_f64().unwrap_or_default()
            ),
            format!(
                "{:.1} µs",
                v["sm2_verify_p99_us"].as_f64().unwrap_or_default()
            ),
            "-".into(),
            "1.00".into(),
        ]);
        println!("{t}");
    });
    Ok(())
}
