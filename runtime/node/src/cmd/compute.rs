//! `compute …`: compute-to-data jobs (`docs/design/compute.md`). A department asks for an
//! approved contract's job to run over a certificate on the data owner's node, and gets
//! the result, signed by that node; it never gets the document.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Subcommand;
use govchain_client::event::{Access, ComputeRequested};
use govchain_client::rpc::{GetReleasesRequest, GetReleasesResponse};
use govchain_client::{Client, ClientError};
use govchain_crypto::{PrivateKey, PublicKey, Signature};
use govchain_state::{Genesis, compute};
use govchain_types::pb;
use serde_json::{Value, json};

use crate::client::SignArgs;
use crate::cmd::chain::submit_quiet;
use crate::cmd::network_genesis;
use crate::output::{emit, kv};

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
        &sign.signer(home)?.key,
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

/// Waits up to `wait` for job `request`'s result, checks it against genesis alone (the
/// executor's SM2 signature, the job's code, the certificate's content hash) and
/// decrypts it with the requester's `key`: the output, or why the job failed.
pub(crate) async fn await_result(
    client: &Client,
    genesis: &Genesis,
    request: u64,
    wait: Duration,
    key: &PrivateKey,
) -> anyhow::Result<(GetReleasesResponse, Vec<u8>)> {
    let mut client = client.certificates();
    let started = Instant::now();
    let r = loop {
        let r = client
            .get_releases(GetReleasesRequest { request })
            .await
            .map_err(ClientError::from)?
            .into_inner();
        if r.result.is_some() {
            break r;
        }
        let job = r.request.as_ref().and_then(|q| q.job.as_ref());
        let Some(job) = job else {
            bail!("request {request} is a read, not a compute job");
        };
        if started.elapsed() >= wait {
            bail!(
                "job {request} has no result yet: {} key share(s) released to {}, {} needed",
                r.releases.len(),
                job.executor,
                r.custody.as_ref().map_or(0, |c| c.threshold)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let plain = check_result(genesis, request, &r, key)?;
    Ok((r, plain))
}

/// Checks the result of job `request` in `r` against genesis alone (the executor's SM2
/// signature, the job's code, the certificate's content hash) and decrypts it with the
/// requester's `key`: the output, or why the job failed.
pub(crate) fn check_result(
    genesis: &Genesis,
    request: u64,
    r: &GetReleasesResponse,
    key: &PrivateKey,
) -> anyhow::Result<Vec<u8>> {
    let req = r.request.clone().unwrap_or_default();
    let job = req.job.clone().unwrap_or_default();
    let res = r.result.clone().unwrap_or_default();
    let out = res.result.clone().unwrap_or_default();
    ensure!(
        out.request == request,
        "the node served the result of job {} for job {request}",
        out.request
    );
    ensure!(
        res.executor == job.executor,
        "the result is posted by {}, the job's executor is {}",
        res.executor,
        job.executor
    );
    let executor = genesis
        .validators
        .iter()
        .find(|v| v.id == res.executor)
        .with_context(|| {
            format!(
                "the executor {} is not a validator in genesis",
                res.executor
            )
        })?;
    PublicKey::from_sec1(&hex::decode(&executor.public_key)?)?
        .verify(
            &compute::result_digest(&genesis.chain_id, &out),
            &Signature::from_slice(&out.signature)?,
        )
        .context("the result's signature does not verify against the executor's genesis key")?;
    ensure!(
        out.code_hash == job.code_hash,
        "the result is for other code than the job's"
    );
    let cert = r.certificate.clone().unwrap_or_default();
    ensure!(
        cert.id == req.cert_id && (out.failed || out.input_hash == cert.content_hash),
        "the result was computed over another document than certificate {}",
        req.cert_id
    );
    let plain = key.decrypt(&out.output).with_context(|| {
        format!(
            "the result of job {request} is encrypted to {}'s key, not this one",
            req.requester
        )
    })?;
    ensure!(
        govchain_crypto::sm3(&plain).as_slice() == out.output_hash.as_slice(),
        "the decrypted result does not match the hash the executor signed"
    );
    Ok(plain)
}
