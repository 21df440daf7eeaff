//! `govchain bench`: what the node sustains, measured beside the machine's own limits in
//! the same run, so that the ratios hold whatever the machine (docs/performance.md).
//!
//! - `chain` (default): signed certificate reads through the whole gate, submitted over
//!   gRPC to an embedded solo node (or `--endpoint`), beside V, the SM2 verifications per
//!   second on all cores over the same transaction bytes.
//! - `bft`: the same load on a cluster of real node processes on loopback, at its
//!   maximum and then at 80% of it (open loop) for commit latency, beside the V/n bound
//!   (each validator verifies every transaction once).
//! - `contract`: contract calls (instantiate + call, and a read through the gate) beside
//!   one SM2 verification.
//! - `gate`: gate decisions per second inside execution, and audit query latency.
//! - `custody`: threshold custody costs and publish-to-readable latency.
//! - `crypto`: SM2 verification, generic beside the per-key tables admission uses.
//! - `gateway`: an access request through a department's gateway beside the same sent
//!   directly over gRPC.
//! - `targets`: every scenario above that has a performance target, in one run, and the
//!   table of targets with the core count.

mod contract;
mod crypto;
mod custody;
mod gate;
mod gateway;
mod load;
mod net;
mod targets;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use govchain_node::embedded::Embedded;
use govchain_node::output::{emit, table};
use load::{LoadStats, Pace, Workload};

/// Points every department of a bench network starts with: the load must measure the
/// gate, not run the readers out of points.
const BENCH_POINTS: u64 = 1_000_000_000_000;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchKind {
    /// Signed certificate reads through admission, the gate, ordering and commit (solo).
    Chain,
    /// The same on a BFT cluster of node processes (Tendermint, SM2 votes): maximum,
    /// then latency at 80% of it, beside the V/n bound.
    Bft,
    /// Every scenario with a target, in one run, and the table of targets.
    Targets,
    /// Contract calls (instantiate + call + host, a gated read) beside one SM2 verify.
    Contract,
    /// Access-gate decisions per second and audit query latency over the records.
    Gate,
    /// Threshold custody: share costs, and publish-to-readable latency on a node.
    Custody,
    /// SM2 verification: generic vs per-key tables, one core and all, batches, builds.
    Crypto,
    /// An access request through a department's gateway beside the same sent directly.
    Gateway,
}

/// Options of `govchain bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "chain")]
    pub(crate) kind: BenchKind,
    /// `--kind contract|targets`: the bench contract built by scripts/build-contracts.sh.
    #[arg(long, default_value = "contracts/artifacts/bench.wasm")]
    pub(crate) wasm: std::path::PathBuf,
    /// Transactions to submit per run (`--kind gate`: audit records to make;
    /// `--kind contract`: calls of each kind).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) txs: usize,
    /// Transactions per SubmitTxs call (`--kind gate`: per block).
    #[arg(long, default_value_t = 1_000)]
    pub(crate) batch: usize,
    /// Certificates of each type read (household, marriage, property) published first.
    #[arg(long, default_value_t = 100)]
    pub(crate) certs: usize,
    /// Embedded node only: skip fsync on commit (shows the cost of durability).
    #[arg(long)]
    pub(crate) no_sync: bool,
    /// Longest wait before pending transactions form a block, ms (embedded and cluster).
    #[arg(long, default_value_t = 20)]
    pub(crate) block_interval_ms: u64,
    /// `--kind bft`: validators in the cluster.
    #[arg(long, default_value_t = 4)]
    pub(crate) validators: usize,
    /// Offer this many transactions per second (open loop) instead of as many as the
    /// node takes.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
}

impl BenchArgs {
    fn pace(&self) -> Pace {
        match self.rate {
            Some(per_sec) => Pace::Rate {
                per_sec,
                batch: paced_batch(per_sec),
            },
            None => Pace::Closed { batch: self.batch },
        }
    }
}

/// Transactions per call of an open-loop load: one call every 10 ms.
fn paced_batch(per_sec: f64) -> usize {
    ((per_sec / 100.0).round() as usize).max(1)
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs the benchmark.
pub async fn run(
    endpoint: Option<&str>,
    home: &Path,
    args: BenchArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    if args.txs == 0 || args.batch == 0 || args.certs == 0 {
        bail!("--txs, --batch and --certs must be positive");
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--rate must be a positive number of transactions per second");
    }
    match args.kind {
        BenchKind::Chain => {
            let v = chain(endpoint, home, &args, !args.no_sync, json_out).await?;
            emit(json_out, &v, || print_figures(&v));
            Ok(())
        }
        BenchKind::Bft => {
            let v = cluster(&args, json_out).await?;
            emit(json_out, &v, || print_figures(&v));
            Ok(())
        }
        BenchKind::Targets => targets::run(&args, json_out).await,
        BenchKind::Contract => contract::run(&args, json_out).await,
        BenchKind::Gate => gate::run(&args, json_out),
        BenchKind::Custody => custody::run(endpoint, home, &args, json_out).await,
        BenchKind::Crypto => crypto::run(&args, json_out),
        BenchKind::Gateway => gateway::run(&args, json_out).await,
    }
}

/// The figures of a load run, as JSON.
fn load_figures(stats: &LoadStats) -> Value {
    json!({
        "txs": stats.txs,
        "blocks": stats.blocks,
        "elapsed_s": stats.elapsed.as_secs_f64(),
        "committed_tps": stats.tps(),
        "latency_p50_ms": stats.p50_ms(),
        "latency_p99_ms": stats.p99_ms(),
    })
}

/// Certificate reads on an embedded solo node (fsync per block as `sync` says), or on
/// `endpoint`; then V on the same transactions, once the embedded node has stopped.
pub(crate) async fn chain(
    endpoint: Option<&str>,
    home: &Path,
    args: &BenchArgs,
    sync: bool,
    quiet: bool,
) -> anyhow::Result<Value> {
    let embedded = match endpoint {
        Some(_) => None,
        None => Some(embedded(args, sync).await?),
    };
    let (ep, home, mode) = match (&embedded, endpoint) {
        (Some(e), _) => (
            e.endpoint.clone(),
            e.home.clone(),
            format!("embedded solo, fsync {}", if sync { "on" } else { "off" }),
        ),
        (None, Some(ep)) => (ep.to_string(), home.to_path_buf(), format!("remote {ep}")),
        (None, None) => unreachable!("one of the two is set"),
    };
    let result = async {
        let mut w = Workload::prepare(&ep, &home, args.certs, quiet).await?;
        let txs = w.reads(args.txs);
        let stats = load::run(&ep, w.reader(), &txs, args.pace(), "committed", quiet).await?;
        anyhow::Ok((txs, stats))
    }
    .await;
    if let Some(e) = embedded {
        e.node.shutdown().await;
    }
    let (txs, stats) = result?;
    let v = load::verify_rate(&txs[..txs.len().min(20_000)])?;
    let mut out = load_figures(&stats);
    out["mode"] = json!(mode);
    out["cores"] = json!(cores());
    out["batch"] = json!(args.batch);
    out["sm2_verify_per_s"] = json!(v);
    out["ratio_tps_to_verify"] = json!(stats.tps() / v);
    Ok(out)
}

/// The read load on a cluster of `--validators` node processes (`--kind bft`): as fast
/// as it takes (and until every key share of those reads is released: the sustained
/// rate), then at 80% of the sustained rate (open loop, calls every 10 ms), submitted
/// to node1 (which passes it on to every validator).
pub(crate) async fn cluster(args: &BenchArgs, quiet: bool) -> anyhow::Result<Value> {
    let mut net =
        net::LocalNet::start(args.validators, args.block_interval_ms, BENCH_POINTS).await?;
    let ep = net.endpoints[0].clone();
    let mut w = Workload::prepare(&ep, &net.home, args.certs, quiet).await?;
    let txs = w.reads(args.txs);
    let cpu0 = net.cpu_seconds();
    let began = Instant::now();
    let max = load::run(&ep, w.reader(), &txs, args.pace(), "max load", quiet).await;
    let max = net.explain(max)?;
    // A read is served once every validator has released its key share for it: the
    // custodians go on after the last commit (a burst leaves them behind), and what
    // the cluster sustains is reads with their releases, not commits alone.
    let released = net.wait_released(&ep, &txs, Duration::from_secs(900)).await;
    let idle = net.explain(released)?;
    let served = max.txs as f64 / (idle - began).as_secs_f64();
    let cpu1 = net.cpu_seconds();
    // Clients send small calls, not 1,000-transaction batches: 80% of what the cluster
    // sustains, offered in calls every 10 ms.
    let rate = 0.8 * served.min(max.tps());
    let txs = w.reads(args.txs);
    let at80 = load::run(
        &ep,
        w.reader(),
        &txs,
        Pace::Rate {
            per_sec: rate,
            batch: paced_batch(rate),
        },
        "80% load",
        quiet,
    )
    .await;
    let at80 = net.explain(at80)?;
    drop(net);
    let v = load::verify_rate(&txs[..txs.len().min(20_000)])?;
    let cpu_us: Vec<f64> = cpu0
        .iter()
        .zip(&cpu1)
        .map(|(a, b)| (b - a) / max.txs as f64 * 1e6)
        .collect();
    let mut out = load_figures(&max);
    out["mode"] = json!(format!(
        "bft, {} validator processes on loopback (load sent to node1)",
        args.validators
    ));
    // Every validator verifies every transaction once: the cluster cannot pass V/n.
    let bound = v / args.validators as f64;
    out["bound_tps"] = json!(bound);
    out["ratio_tps_to_bound"] = json!(max.tps() / bound);
    out["cores"] = json!(cores());
    out["batch"] = json!(args.batch);
    out["sm2_verify_per_s"] = json!(v);
    out["ratio_tps_to_verify"] = json!(max.tps() / v);
    out["node_cpu_us_per_tx"] = json!(cpu_us);
    out["served_tps"] = json!(served);
    out["at_80_percent"] = load_figures(&at80);
    out["at_80_percent"]["offered_tps"] = json!(rate);
    Ok(out)
}

fn print_figures(v: &Value) {
    let f = |k: &str| v[k].as_f64().unwrap_or_default();
    let mut rows = vec![
        ("mode", v["mode"].as_str().unwrap_or_default().to_string()),
        ("cores", v["cores"].to_string()),
        (
            "transactions",
            format!(
                "{} certificate reads in {} blocks (batches of {})",
                v["txs"], v["blocks"], v["batch"]
            ),
        ),
        ("elapsed", format!("{:.2} s", f("elapsed_s"))),
        (
            "committed throughput",
            format!("{:.0} tx/s", f("committed_tps")),
        ),
        (
            "commit latency p50",
            format!("{:.1} ms", f("latency_p50_ms")),
        ),
        (
            "commit latency p99",
            format!("{:.1} ms", f("latency_p99_ms")),
        ),
        (
            "SM2 verify, all cores (V)",
            format!("{:.0} /s", f("sm2_verify_per_s")),
        ),
        ("throughput / V", format!("{:.2}", f("ratio_tps_to_verify"))),
    ];
    if v["bound_tps"].is_number() {
        rows.push((
            "bound V/n (each validator verifies each tx)",
            format!("{:.0} tx/s", f("bound_tps")),
        ));
        rows.push((
            "throughput / bound",
            format!("{:.2}", f("ratio_tps_to_bound")),
        ));
    }
    if let Some(cpu) = v["node_cpu_us_per_tx"].as_array() {
        let each: Vec<String> = cpu
            .iter()
            .enumerate()
            .map(|(i, c)| format!("node{} {:.0} µs", i + 1, c.as_f64().unwrap_or_default()))
            .collect();
        rows.push(("CPU per read, key releases included", each.join(", ")));
    }
    if v["served_tps"].is_number() {
        rows.push((
            "sustained (key shares released)",
            format!("{:.0} reads/s", f("served_tps")),
        ));
    }
    let at80 = &v["at_80_percent"];
    if at80.is_object() {
        let g = |k: &str| at80[k].as_f64().unwrap_or_default();
        rows.push((
            "at 80% load",
            format!(
                "{:.0} tx/s offered, {:.0} committed, p50 {:.1} ms, p99 {:.1} ms",
                g("offered_tps"),
                g("committed_tps"),
                g("latency_p50_ms"),
                g("latency_p99_ms")
            ),
        ));
    }
    let mut t = table(&["figure", "value"]);
    for (k, val) in rows {
        t.add_row([k.to_string(), val]);
    }
    println!("{t}");
}

/// A fresh one-validator 'nanjing' chain for a benchmark without `--endpoint`.
pub(crate) async fn embedded(args: &BenchArgs, sync: bool) -> anyhow::Result<Embedded> {
    let opts = |out| govchain_node::init::InitOptions {
        out,
        validators: 1,
        observers: 0,
        threshold: None,
        preset: "nanjing".into(),
        chain_id: "govchain-bench".into(),
        plain_keys: true,
        base_port: 7545,
        block_interval_ms: args.block_interval_ms,
        operated_by: vec![],
        initial_points: Some(BENCH_POINTS),
        supervisors: vec![govchain_node::init::DEFAULT_SUPERVISOR.into()],
    };
    Embedded::start_with(opts, |c| {
        c.api.grpc = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        c.api.http = None;
        c.storage.sync = sync;
        // The bench offers bursts from a few departments.
        c.mempool.per_account = c.mempool.capacity;
    })
    .await
}
