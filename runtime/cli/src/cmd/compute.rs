//! `compute …`: compute-to-data jobs (`docs/design/compute.md`). A department asks for an
//! approved contract's job to run over a certificate on the data owner's node, and gets
//! the result, signed by that node; it never gets the document.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_client::Client;
use govchain_client::event::{Access, ComputeRequested};
use govchain_node::network::{await_result, network_genesis};
use govchain_node::output::{emit, kv};
use govchain_types::pb;
use serde_json::{Value, json};

use crate::client::SignArgs;
use crate::cmd::chain::submit_quiet;

/// Compute job commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ComputeCmd {
    /// Ask for `<contract>.<method>` (a `job_` entry point) to run over a certificate on
    /// its owner's node; waits for the signed result.
    Run {
        /// Certificate id.
        cert: String,
        /// Approved contract.
        #[arg(long)]
        contract: String,
        /// Its job method.
        #[arg(long)]
        method: String,
        /// Arguments, JSON.
        #[arg(long, default_value = "null")]
        args: String,
        /// Purpose, as registered (the policy needs a `compute` line for it).
        #[arg(long)]
        purpose: String,
        /// Seconds to wait for the result (0: return after the request).
        #[arg(long, default_value_t = 60)]
        wait: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// A job's result, decrypted with the requester's key and checked against the
    /// executor's key in genesis.
    Result {
        /// The job's request id.
        request: u64,
        /// Seconds to wait for it.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
}

/// `govchain compute …`.
pub(crate) async fn compute(
    endpoint: &str,
    home: &Path,
    cmd: ComputeCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    let genesis = network_genesis(&home.join("genesis.json"))?;
    let (request, wait, sign) = match cmd {
        ComputeCmd::Run {
            cert,
            contract,
            method,
            args,
            purpose,
            wait,
            sign,
        } => {
            let args: Value = serde_json::from_str(&args).context("--args is not JSON")?;
            let payload = pb::payload::Kind::Compute(pb::ComputeJob {
                cert_id: cert,
                purpose,
                contract,
                method,
                args: args.to_string().into_bytes(),
            });
            let r = submit_quiet(endpoint, home, &sign, payload).await?;
            let access = r
                .event::<Access>()
                .context("the receipt holds no gate decision")?;
            if !access.allowed() {
                bail!("the gate denied the job: {}", access.reason);
            }
            let request = access.request;
            if !json_out {
                let executor = r.event::<ComputeRequested>().map(|e| e.executor.as_str());
                println!(
                    "job {request} allowed ({}); it runs on {}",
                    access.reason,
                    executor.unwrap_or_default()
                );
            }
            if wait == 0 {
                return Ok(());
            }
            (request, wait, sign)
        }
        ComputeCmd::Result {
            request,
            wait,
            sign,
        } => (request, wait, sign),
    };
    let (r, plain) = await_result(
        &Client::connect(endpoint).await?,
        &genesis,
        request,
        Duration::from_secs(wait),
        &sign.signer(home)?,
    )
    .await?;
    let res = r.result.clone().unwrap_or_default();
    let out = res.result.clone().unwrap_or_default();
    let text = String::from_utf8_lossy(&plain).into_owned();
    let output: Value = serde_json::from_slice(&plain).unwrap_or(Value::Null);
    let value = json!({
        "request": request, "executor": res.executor, "height": res.height,
        "ok": !out.failed, "output": if out.failed { Value::Null } else { output.clone() },
        "error": if out.failed { text.clone() } else { String::new() }, "gas_used": out.gas_used,
        "state_height": out.state_height,
        "code_hash": hex::encode(&out.code_hash), "input_hash": hex::encode(&out.input_hash),
        "signature_ok": true,
        "released_by": r.releases.iter().map(|s| s.validator.clone()).collect::<Vec<_>>(),
    });
    emit(json_out, &value, || {
        println!(
            "{}",
            kv(&[
                ("job", request.to_string()),
                (
                    "executor",
                    format!("{} (result at height {})", res.executor, res.height)
                ),
                (
                    "result",
                    if out.failed {
                        format!("FAILED: {text}")
                    } else {
                        output.to_string()
                    }
                ),
                ("gas", out.gas_used.to_string()),
                ("code", hex::encode(&out.code_hash)),
                (
                    "input",
                    format!(
                        "SM3 {} (the certificate's content hash)",
                        hex::encode(&out.input_hash)
                    )
                ),
                (
                    "signature",
                    "SM2 verified against the executor's key in genesis".into()
                ),
            ])
        );
    });
    Ok(())
}
