//! `govchain bench`: committed throughput and latency of signed transactions, beside the
//! raw SM2 verification rate of the same machine measured in the same run.
//!
//! Without `--endpoint` the bench starts an embedded node (a fresh temporary chain with
//! the 'nanjing' departments) and drives it over gRPC on loopback, exactly as a client
//! would; with `--endpoint` it drives a running node, signing with the department keys
//! in `--home`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use govchain_api::rpc::{GetNonceRequest, GetStatusRequest, StreamBlocksRequest, SubmitTxsRequest};
use govchain_types::pb;
use indicatif::{ProgressBar, ProgressStyle};
use parking_lot::Mutex;
use rayon::prelude::*;
use serde_json::json;

use crate::client::{Signer, connect, rpc_error};
use crate::output::{emit, table};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchKind {
    /// Signed transactions through admission, ordering, execution and commit.
    Chain,
    /// Contract calls (instantiate + call + host) beside one SM2 verification.
    Contract,
    /// Access-gate decisions per second and audit query latency over the records.
    Gate,
    /// Threshold custody: share costs, and publish-to-readable latency on a node.
    Custody,
}

/// Options of `govchain bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "chain")]
    pub(crate) kind: BenchKind,
    /// `--kind contract`: the bench contract built by scripts/build-contracts.sh.
    #[arg(long, default_value = "contracts/artifacts/bench.wasm")]
    pub(crate) wasm: std::path::PathBuf,
    /// Transactions to submit (`--kind gate`: audit records to make).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) txs: usize,
    /// Transactions per SubmitTxs call (`--kind gate`: per block).
    #[arg(long, default_value_t = 1_000)]
    pub(crate) batch: usize,
    /// Embedded node only: skip fsync on commit (shows the cost of durability).
    #[arg(long)]
    pub(crate) no_sync: bool,
    /// Embedded node only: longest wait before pending transactions form a block, ms.
    #[arg(long, default_value_t = 50)]
    pub(crate) block_interval_ms: u64,
}

pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what:>10} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}} {{eta}}"
        ))
        .expect("template")
        .progress_chars("=> "),
    );
    pb
}

fn load_signers(keys: &Path) -> anyhow::Result<Vec<Signer>> {
    let mut out = Vec::new();
    for e in
        std::fs::read_dir(keys).with_context(|| format!("reading key folder {}", keys.display()))?
    {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "pem") {
            let dept = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            out.push(Signer {
                department: dept,
                operator: String::new(),
                key: crate::keyfile::load(&p)?,
            });
        }
    }
    out.sort_by(|a, b| a.department.cmp(&b.department));
    if out.is_empty() {
        bail!("no department keys (*.pem) in {}", keys.display());
    }
    Ok(out)
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the benchmark.
pub(crate) async fn run(
    endpoint: Option<&str>,
    home: &Path,
    args: BenchArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    if args.txs == 0 || args.batch == 0 {
        bail!("--txs and --batch must be positive");
    }
    match args.kind {
        BenchKind::Contract => return contract_bench(&args, json_out),
        BenchKind::Gate => return crate::gate_bench::run(&args, json_out),
        BenchKind::Custody => {
            return crate::custody_bench::run(endpoint, home, &args, json_out).await;
        }
        BenchKind::Chain => {}
    }
    let mut embedded = None;
    let (endpoint, home, mode) = match endpoint {
        Some(e) => (e.to_string(), home.to_path_buf(), "remote".to_string()),
        None => {
            let e = embedded.insert(Embedded::start(&args).await?);
            (
                e.endpoint.clone(),
                e.home.clone(),
                format!("embedded solo, sync={}", !args.no_sync),
            )
        }
    };
    let result = drive(&endpoint, &home.join("keys"), &args, json_out, &mode).await;
    if let Some(Embedded { node, .. }) = embedded {
        node.shutdown().await;
    }
    result
}

/// A fresh one-validator chain of the 'nanjing' departments in a temporary folder,
/// started in this process, for benchmarks without `--endpoint`.
#[derive(Debug)]
pub(crate) struct Embedded {
    _dir: tempfile::TempDir,
    /// The network folder (keys, genesis).
    pub(crate) home: std::path::PathBuf,
    /// Its gRPC endpoint.
    pub(crate) endpoint: String,
    /// The node.
    pub(crate) node: crate::run::NodeHandle,
}

impl Embedded {
    pub(crate) async fn start(args: &BenchArgs) -> anyhow::Result<Self> {
        let opts = |out| crate::init::InitOptions {
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
        };
        Self::start_with(opts, !args.no_sync, "127.0.0.1:0".parse()?).await
    }

    /// A one-validator network written by `init` with the options `opts` gives for its
    /// folder, its node serving gRPC on `grpc` (no metrics).
    pub(crate) async fn start_with(
        opts: impl FnOnce(std::path::PathBuf) -> crate::init::InitOptions,
        sync: bool,
        grpc: std::net::SocketAddr,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("net");
        crate::init::init(&opts(home.clone()))?;
        let mut cfg = crate::config::NodeConfig::load(&home.join("node1/config.toml"))?;
        cfg.api.grpc = grpc;
        cfg.api.http = None;
        cfg.storage.sync = sync;
        let node = crate::run::start(&cfg).await?;
        Ok(Embedded {
            _dir: dir,
            home,
            endpoint: format!("http://{}", node.grpc),
            node,
        })
    }
}

async fn drive(
    endpoint: &str,
    keys_dir: &Path,
    args: &BenchArgs,
    json_out: bool,
    mode: &str,
) -> anyhow::Result<()> {
    let signers = load_signers(keys_dir)?;
    let mut client = connect(endpoint).await?;
    let status = client
        .get_status(GetStatusRequest {})
        .await
        .map_err(rpc_error)?
        .into_inner();
    let mut nonces = Vec::new();
    for s in &signers {
        let n = client
            .get_nonce(GetNonceRequest {
                department: s.department.clone(),
                operator: String::new(),
            })
            .await
            .map_err(rpc_error)?
            .into_inner()
            .next_nonce;
        nonces.push(n);
    }
    let quiet = json_out;
    let run_tag = format!(
        "{:x}",
        status.height * 1_000_003 + status.mempool_size + std::process::id() as u64
    );

    // Sign every transaction up front (in parallel) so the run measures the node.
    let bar = progress(args.txs as u64, "signing");
    bar.set_draw_target(if quiet {
        indicatif::ProgressDrawTarget::hidden()
    } else {
        indicatif::ProgressDrawTarget::stderr()
    });
    let txs: Vec<pb::SignedTx> = (0..args.txs)
        .into_par_iter()
        .map(|i| {
            let who = i % signers.len();
            let nonce = nonces[who] + (i / signers.len()) as u64;
            let key = format!("bench-{run_tag}-{i}");
            let digest = govchain_crypto::sm3(key.as_bytes()).to_vec();
            let tx = signers[who].sign(
                &status.chain_id,
                nonce,
                pb::payload::Kind::Anchor(pb::Anchor {
                    key,
                    digest,
                    note: "govchain bench".into(),
                }),
            );
            bar.inc(1);
            tx
        })
        .collect();
    bar.finish_and_clear();
    let hashes: Vec<[u8; 32]> = txs.iter().map(|t| govchain_crypto::sm3(&t.body)).collect();

    // Follow commits.
    let committed: Arc<Mutex<HashMap<[u8; 32], Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(args.txs)));
    let mut stream = client
        .stream_blocks(StreamBlocksRequest {
            from_height: status.height + 1,
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    let bar = progress(args.txs as u64, "committed");
    bar.set_draw_target(if quiet {
        indicatif::ProgressDrawTarget::hidden()
    } else {
        indicatif::ProgressDrawTarget::stderr()
    });
    let follower = {
        let committed = committed.clone();
        let bar = bar.clone();
        let wanted: std::collections::HashSet<[u8; 32]> = hashes.iter().copied().collect();
        let total = args.txs;
        tokio::spawn(async move {
            let mut blocks = 0u64;
            while let Some(b) = stream.message().await.map_err(rpc_error)? {
                let now = Instant::now();
                let mut c = committed.lock();
                let mut ours = 0;
                for h in &b.tx_hashes {
                    if let Ok(h) = <[u8; 32]>::try_from(h.as_slice())
                        && wanted.contains(&h)
                    {
                        c.insert(h, now);
                        ours += 1;
                    }
                }
                if ours > 0 {
                    blocks += 1;
                }
                bar.set_position(c.len() as u64);
                if c.len() >= total {
                    break;
                }
            }
            anyhow::Ok(blocks)
        })
    };

    // Submit.
    let start = Instant::now();
    let mut submitted_at = Vec::with_capacity(args.txs);
    let mut rejected: HashMap<String, usize> = HashMap::new();
    for chunk in txs.chunks(args.batch) {
        let t = Instant::now();
        let r = client
            .submit_txs(SubmitTxsRequest {
                txs: chunk.to_vec(),
            })
            .await
            .map_err(rpc_error)?
            .into_inner();
        for res in r.results {
            submitted_at.push(t);
            if let Some(e) = res.error {
                *rejected.entry(e.message).or_default() += 1;
            }
        }
    }
    if !rejected.is_empty() {
        follower.abort();
        bail!("the node rejected transactions: {rejected:?}");
    }
    let blocks = tokio::time::timeout(Duration::from_secs(300), follower)
        .await
        .context("transactions were not all committed within 300 s")???;
    bar.finish_and_clear();
    let elapsed = {
        let c = committed.lock();
        c.values()
            .max()
            .map_or(Duration::ZERO, |last| *last - start)
    };
    let mut latencies: Vec<Duration> = {
        let c = committed.lock();
        hashes
            .iter()
            .zip(&submitted_at)
            .map(|(h, t)| c[h].saturating_duration_since(*t))
            .collect()
    };
    latencies.sort();
    let tps = args.txs as f64 / elapsed.as_secs_f64();

    // Raw SM2 verification on the same transaction bytes, all cores.
    let sample = &txs[..txs.len().min(20_000)];
    let t = Instant::now();
    let ok = sample
        .par_iter()
        .filter(|tx| {
            govchain_crypto::verify_sec1(&tx.signer_pubkey, &tx.body, &tx.signature).is_ok()
        })
        .count();
    let verify_elapsed = t.elapsed();
    if ok != sample.len() {
        bail!(
            "{} of {} signatures failed to verify",
            sample.len() - ok,
            sample.len()
        );
    }
    let verify_rate = sample.len() as f64 / verify_elapsed.as_secs_f64();
    let ratio = tps / verify_rate;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let value = json!({
        "mode": mode,
        "cores": cores,
        "txs": args.txs,
        "batch": args.batch,
        "blocks": blocks,
        "elapsed_s": elapsed.as_secs_f64(),
        "committed_tps": tps,
        "latency_p50_ms": ms(percentile(&latencies, 0.5)),
        "latency_p99_ms": ms(percentile(&latencies, 0.99)),
        "sm2_verify_per_s": verify_rate,
        "ratio_tps_to_verify": ratio,
    });
    emit(json_out, &value, || {
        let mut t = table(&["figure", "value"]);
        for (k, v) in [
            ("mode", mode.to_string()),
            ("cores", cores.to_string()),
            (
                "transactions",
                format!(
                    "{} in {} blocks (batches of {})",
                    args.txs, blocks, args.batch
                ),
            ),
            ("elapsed", format!("{:.2} s", elapsed.as_secs_f64())),
            ("committed throughput", format!("{tps:.0} tx/s")),
            (
                "commit latency p50",
                format!("{:.1} ms", ms(percentile(&latencies, 0.5))),
            ),
            (
                "commit latency p99",
                format!("{:.1} ms", ms(percentile(&latencies, 0.99))),
            ),
            ("SM2 verify, all cores (V)", format!("{verify_rate:.0} /s")),
            ("throughput / V", format!("{ratio:.2}")),
        ] {
            t.add_row([k.to_string(), v]);
        }
        println!("{t}");
    });
    Ok(())
}

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

/// Contract calls through the real runtime and host (a fresh instance per call, storage
/// in an overlay over RocksDB) beside single-core SM2 verification, in one run.
fn contract_bench(args: &BenchArgs, json_out: bool) -> anyhow::Result<()> {
    use govchain_state::contracts::{Caller, ContractHost};
    use govchain_state::{BlockContext, Overlay};
    use govchain_vm::{CallRequest, Vm};

    let code = std::fs::read(&args.wasm).with_context(|| {
        format!(
            "reading {} (build it with scripts/build-contracts.sh)",
            args.wasm.display()
        )
    })?;
    let vm = Vm::<ContractHost>::new().map_err(anyhow::Error::msg)?;
    let prepared = vm.prepare(&code)?;
    let code_hash = govchain_crypto::sm3(&code);
    let dir = tempfile::tempdir()?;
    let store = Arc::new(govchain_store::Store::open(dir.path(), false)?);
    let mut overlay = Some(Overlay::new(store));
    let mut gas = HashMap::new();
    let mut run = |method: &'static str| -> anyhow::Result<Vec<Duration>> {
        time_runs(args.txs, || {
            let host = ContractHost::new(
                overlay.take().expect("overlay"),
                "bench",
                Caller {
                    department: "tax".into(),
                    ..Caller::default()
                },
                BlockContext {
                    height: 1,
                    time_ms: 0,
                    proposer: String::new(),
                },
                None,
            );
            let req = CallRequest {
                code_hash,
                method,
                input: Vec::new(),
                gas_limit: 10_000_000,
                kind: govchain_vm::EntryKind::Call,
            };
            let out = vm.call(req, host, || Ok(prepared.code.clone()));
            let mut o = out.host.overlay;
            o.discard_tx();
            overlay = Some(o);
            gas.insert(method, out.gas_used);
            out.result
                .map(drop)
                .map_err(|e| anyhow::anyhow!("{method}: {e}"))
        })
    };
    let noop = run("noop")?;
    let write10 = run("write10")?;
    let key = govchain_crypto::PrivateKey::generate();
    let msgs: Vec<Vec<u8>> = (0..args.txs.min(5_000))
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
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (v50, n50, w50) = (
        percentile(&verify, 0.5),
        percentile(&noop, 0.5),
        percentile(&write10, 0.5),
    );
    let value = json!({
        "calls": args.txs,
        "empty_call_p50_us": us(n50), "empty_call_p99_us": us(percentile(&noop, 0.99)), "empty_call_gas": gas["noop"],
        "write10_call_p50_us": us(w50), "write10_call_p99_us": us(percentile(&write10, 0.99)), "write10_call_gas": gas["write10"],
        "sm2_verify_p50_us": us(v50),
        "ratio_empty_call_to_verify": us(n50) / us(v50),
        "ratio_write10_call_to_verify": us(w50) / us(v50),
        "instantiation": "InstancePre cached by code hash, fresh Store + instance per call (on-demand allocator)",
    });
    emit(json_out, &value, || {
        let mut t = table(&["figure", "p50", "p99", "gas", "÷ SM2 verify p50"]);
        t.add_row([
            "empty call (instantiate + call)".to_string(),
            format!("{:.1} µs", us(n50)),
            format!("{:.1} µs", us(percentile(&noop, 0.99))),
            gas["noop"].to_string(),
            format!("{:.2}", us(n50) / us(v50)),
        ]);
        t.add_row([
            "call with 10 storage writes".to_string(),
            format!("{:.1} µs", us(w50)),
            format!("{:.1} µs", us(percentile(&write10, 0.99))),
            gas["write10"].to_string(),
            format!("{:.2}", us(w50) / us(v50)),
        ]);
        t.add_row([
            "SM2 verify, one core".to_string(),
            format!("{:.1} µs", us(v50)),
            format!("{:.1} µs", us(percentile(&verify, 0.99))),
            "-".into(),
            "1.00".into(),
        ]);
        println!("{t}");
    });
    Ok(())
}
