//! `govchain bench --kind targets`: every scenario that has a performance target, in one
//! run on one machine, and the table of targets (docs/performance.md). Ratios of figures
//! from the same run cancel the machine's speed; no target is asserted here: the table
//! says whether each was met.

use std::process::Command;

use anyhow::{Context, bail};
use govchain_node::output::{emit, table};
use serde_json::{Value, json};

use crate::{BenchArgs, BenchKind, chain, cluster, contract, cores, crypto};

/// The solo read load again in a child process pinned to one core (`taskset -c 0`): its
/// thread pools then size themselves to one core, as on a one-core machine.
fn one_core(args: &BenchArgs) -> anyhow::Result<Value> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .args(["--json", "bench", "--kind", "chain"])
        .args(["--txs", &args.txs.to_string()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--certs", &args.certs.to_string()])
        .args(["--block-interval-ms", &args.block_interval_ms.to_string()])
        .output()
        .context("running the one-core bench under taskset (util-linux)")?;
    if !out.status.success() {
        bail!(
            "the one-core bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("reading the one-core bench's JSON")
}

/// One target: what, the measured value, the bound, whether a higher value is better.
struct Target {
    what: &'static str,
    value: f64,
    bound: f64,
    at_least: bool,
    unit: &'static str,
}

impl Target {
    fn met(&self) -> bool {
        if self.at_least {
            self.value >= self.bound
        } else {
            self.value <= self.bound
        }
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "the targets table: one measurement after another"
)]
pub(crate) async fn run(args: &BenchArgs, json_out: bool) -> anyhow::Result<()> {
    let quiet = json_out;
    let step = |s: &str| {
        if !quiet {
            eprintln!("== {s}");
        }
    };
    let home = std::path::Path::new(".");
    step("solo node, fsync on");
    let on = chain(None, home, args, true, quiet).await?;
    step("solo node, fsync off");
    let off = chain(None, home, args, false, quiet).await?;
    step("solo node on one core (child process under taskset)");
    let single = one_core(args)?;
    step("bft cluster of node processes");
    let bft_args = BenchArgs {
        kind: BenchKind::Bft,
        ..args.clone()
    };
    let cluster = cluster(&bft_args, quiet).await?;
    step("contract calls");
    let contract_args = BenchArgs {
        txs: args.txs.clamp(100, 5_000),
        ..args.clone()
    };
    let calls = contract::measure(&contract_args).await?;
    step("SM2 verification, generic and per-key tables");
    let sm2 = crypto::measure(args)?;

    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or_default();
    let solo = f(&on, "committed_tps");
    let v = f(&on, "sm2_verify_per_s");
    let targets = [
        Target {
            what: "solo: committed reads/s ÷ V",
            value: solo / v,
            bound: 1.5,
            at_least: true,
            unit: "",
        },
        Target {
            what: "solo: all cores ÷ one core",
            value: solo / f(&single, "committed_tps"),
            bound: 1.7,
            at_least: true,
            unit: "",
        },
        Target {
            what: "bft: committed reads/s ÷ V/n (every validator verifies each one)",
            value: f(&cluster, "ratio_tps_to_bound"),
            bound: 0.8,
            at_least: true,
            unit: "",
        },
        Target {
            what: "bft at 80% load: commit latency p50",
            value: f(&cluster["at_80_percent"], "latency_p50_ms"),
            bound: 100.0,
            at_least: false,
            unit: " ms",
        },
        Target {
            what: "bft at 80% load: commit latency p99",
            value: f(&cluster["at_80_percent"], "latency_p99_ms"),
            bound: 300.0,
            at_least: false,
            unit: " ms",
        },
        Target {
            what: "contract call with a gated read, p50 ÷ one SM2 verify",
            value: f(&calls, "ratio_read_call_to_verify"),
            bound: 0.25,
            at_least: false,
            unit: "",
        },
        Target {
            what: "SM2 verify on one core: generic ÷ per-key table",
            value: crypto::default_speedup(&sm2),
            bound: 3.0,
            at_least: true,
            unit: "",
        },
        Target {
            what: "fsync on ÷ fsync off",
            value: solo / f(&off, "committed_tps"),
            bound: 0.9,
            at_least: true,
            unit: "",
        },
    ];
    let value = json!({
        "cores": cores(),
        "txs": args.txs,
        "solo_fsync_on": on,
        "solo_fsync_off": off,
        "solo_one_core": single,
        "bft": cluster,
        "contract": calls,
        "crypto": sm2,
        "targets": targets.iter().map(|t| json!({
            "target": t.what,
            "value": t.value,
            "bound": t.bound,
            "at_least": t.at_least,
            "met": t.met(),
        })).collect::<Vec<_>>(),
    });
    emit(json_out, &value, || {
        println!(
            "{} cores; {} certificate reads per run; V = {:.0} SM2 verifications/s on all cores",
            cores(),
            args.txs,
            v
        );
        let mut t = table(&["run", "committed tx/s", "p50", "p99"]);
        for (name, r) in [
            ("solo, fsync on", &on),
            ("solo, fsync off", &off),
            ("solo, one core", &single),
            ("bft, maximum (batches of --batch)", &cluster),
            ("bft, 80% of the sustained rate", &cluster["at_80_percent"]),
        ] {
            t.add_row([
                name.to_string(),
                format!("{:.0}", f(r, "committed_tps")),
                format!("{:.1} ms", f(r, "latency_p50_ms")),
                format!("{:.1} ms", f(r, "latency_p99_ms")),
            ]);
        }
        t.add_row([
            "bft, sustained (reads with every key share released)".to_string(),
            format!("{:.0}", f(&cluster, "served_tps")),
            String::new(),
            String::new(),
        ]);
        println!("{t}");
        let mut t = table(&["target", "measured", "required", "met"]);
        for x in &targets {
            let bound = format!(
                "{} {}{}",
                if x.at_least { "≥" } else { "≤" },
                x.bound,
                x.unit
            );
            let digits = if x.unit.is_empty() { 2 } else { 1 };
            t.add_row([
                x.what.to_string(),
                format!("{:.*}{}", digits, x.value, x.unit),
                bound,
                if x.met() { "yes" } else { "NO" }.to_string(),
            ]);
        }
        println!("{t}");
    });
    Ok(())
}
