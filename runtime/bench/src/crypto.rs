//! `govchain bench --kind crypto`: SM2 verification the generic way (`sm2`'s
//! `VerifyingKey`) beside the per-key table verifier the node's admission uses, one core
//! and all cores, batches, and what a table costs to build and hold.

use std::time::Instant;

use govchain_crypto::fastverify::{DEFAULT_KEY_WINDOW, PreparedKey, verify_batch};
use govchain_crypto::{PrivateKey, PublicKey, Signature};
use govchain_node::output::{emit, table};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::{BenchArgs, cores};

/// Keys signing the bench's messages: a chain's small registered set.
const KEYS: usize = 16;
/// Signatures per batch, as admission verifies them.
const BATCH: usize = 32;

/// Signed messages over `KEYS` keys, about a read transaction's size.
struct Load {
    publics: Vec<PublicKey>,
    msgs: Vec<Vec<u8>>,
    sigs: Vec<Signature>,
}

impl Load {
    fn new(n: usize) -> Self {
        let keys: Vec<PrivateKey> = (0..KEYS).map(|_| PrivateKey::generate()).collect();
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| format!("{i:0>160}").into_bytes()).collect();
        let sigs = msgs
            .par_iter()
            .enumerate()
            .map(|(i, m)| keys[i % KEYS].sign(m))
            .collect();
        Load {
            publics: keys.iter().map(PrivateKey::public_key).collect(),
            msgs,
            sigs,
        }
    }
}

/// Microseconds per item of `n` items done by `f` on this thread.
fn per_item(n: usize, f: impl FnOnce() -> usize) -> anyhow::Result<f64> {
    let t = Instant::now();
    let ok = f();
    let el = t.elapsed();
    anyhow::ensure!(ok == n, "{} of {n} signatures failed to verify", n - ok);
    Ok(el.as_secs_f64() * 1e6 / n as f64)
}

pub(crate) fn measure(args: &BenchArgs) -> anyhow::Result<Value> {
    let n = args.txs.clamp(KEYS * BATCH, 200_000);
    let load = Load::new(n);
    let idx = |i: usize| i % KEYS;
    let generic_ok = |i: usize| {
        load.publics[idx(i)]
            .verify(&load.msgs[i], &load.sigs[i])
            .is_ok()
    };
    // One core.
    let generic = per_item(n, || (0..n).filter(|&i| generic_ok(i)).count())?;
    let mut windows = Vec::new();
    for window in [4, 6, 8] {
        let t = Instant::now();
        let prepared: Vec<PreparedKey> = load
            .publics
            .iter()
            .map(|p| PreparedKey::with_window(p, window))
            .collect();
        let build = t.elapsed() / KEYS as u32;
        let us = per_item(n, || {
            (0..n)
                .filter(|&i| {
                    prepared[idx(i)]
                        .verify(&load.msgs[i], &load.sigs[i])
                        .is_ok()
                })
                .count()
        })?;
        windows.push(json!({
            "window_bits": window,
            "verify_us": us,
            "speedup": generic / us,
            "build_ms": build.as_secs_f64() * 1e3,
            "table_bytes": prepared[0].table_bytes(),
        }));
    }
    let prepared: Vec<PreparedKey> = load.publics.iter().map(PreparedKey::new).collect();
    // The signatures that verify in the batch starting at `s`.
    let batch_ok = |s: usize| -> usize {
        let items: Vec<_> = (s..(s + BATCH).min(n))
            .map(|i| (&prepared[idx(i)], &load.msgs[i][..], &load.sigs[i]))
            .collect();
        verify_batch(&items).into_iter().filter(|v| *v).count()
    };
    let batched = per_item(n, || (0..n).step_by(BATCH).map(batch_ok).sum())?;
    // All cores.
    let all_generic = per_item(n, || {
        (0..n).into_par_iter().filter(|&i| generic_ok(i)).count()
    })?;
    let all_batched = per_item(n, || {
        (0..n).into_par_iter().step_by(BATCH).map(batch_ok).sum()
    })?;
    Ok(json!({
        "kind": "crypto",
        "signatures": n,
        "keys": KEYS,
        "cores": cores(),
        "default_window_bits": DEFAULT_KEY_WINDOW,
        "generic_verify_us": generic,
        "windows": windows,
        "batch": BATCH,
        "batch_verify_us": batched,
        "batch_speedup": generic / batched,
        "all_cores_generic_per_s": 1e6 / all_generic,
        "all_cores_batch_per_s": 1e6 / all_batched,
    }))
}

/// Generic ÷ table verify time on one core, at the default window.
pub(crate) fn default_speedup(v: &Value) -> f64 {
    v["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w["window_bits"] == v["default_window_bits"])
        .and_then(|w| w["speedup"].as_f64())
        .unwrap_or_default()
}

pub(crate) fn run(args: &BenchArgs, json_out: bool) -> anyhow::Result<()> {
    let v = measure(args)?;
    emit(json_out, &v, || print(&v));
    Ok(())
}

fn print(v: &Value) {
    let f = |key: &str| v[key].as_f64().unwrap_or_default();
    let generic = f("generic_verify_us");
    let mut t = table(&[
        "SM2 verify, one core",
        "µs each",
        "× generic",
        "table build",
        "table memory",
    ]);
    t.add_row([
        "generic (sm2 VerifyingKey)".to_string(),
        format!("{generic:.1}"),
        "1.00".into(),
        "-".into(),
        "-".into(),
    ]);
    for w in v["windows"].as_array().into_iter().flatten() {
        let bits = w["window_bits"].as_u64().unwrap_or_default();
        let default = if bits == v["default_window_bits"].as_u64().unwrap_or_default() {
            " (default)"
        } else {
            ""
        };
        t.add_row([
            format!("per-key table, {bits}-bit windows{default}"),
            format!("{:.1}", w["verify_us"].as_f64().unwrap_or_default()),
            format!("{:.2}", w["speedup"].as_f64().unwrap_or_default()),
            format!("{:.2} ms", w["build_ms"].as_f64().unwrap_or_default()),
            format!(
                "{:.0} KiB",
                w["table_bytes"].as_f64().unwrap_or_default() / 1024.0
            ),
        ]);
    }
    t.add_row([
        format!("per-key table, batches of {}", v["batch"]),
        format!("{:.1}", f("batch_verify_us")),
        format!("{:.2}", f("batch_speedup")),
        "-".into(),
        "-".into(),
    ]);
    println!("{t}");
    println!(
        "all {} cores: generic {:.0} verifies/s, batched tables {:.0} verifies/s ({:.2}×); {} signatures over {} keys",
        v["cores"],
        f("all_cores_generic_per_s"),
        f("all_cores_batch_per_s"),
        f("all_cores_batch_per_s") / f("all_cores_generic_per_s"),
        v["signatures"],
        v["keys"],
    );
}
