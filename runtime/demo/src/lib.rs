//! `govchain demo`: the three government scenarios end to end, on an embedded
//! one-validator chain (run by the tax bureau, so its node executes compute jobs over tax
//! records) or on a running network (`--endpoint`, with its folder as `--home`).
//!
//! 1. Housing purchase eligibility (购房资格证明): seven departments attest, the
//!    `housing-eligibility` contract reads through the gate and decides.
//! 2. Compute-to-data: the bank's `risk-model` runs on the tax bureau's node over a tax
//!    payment certificate the bank may not read; the bank gets a signed score.
//! 3. Sharing incentive: the tax bureau reads property titles (`tax-assessment`) until
//!    its points run out, publishes its own records, earns from their reads, reads again.
//!
//! Every step checks what it expects; any surprise ends the demo with an error (non-zero
//! exit). The audit trail of the scenarios' citizens is exported with proofs and
//! verified against the validator keys in genesis.
//!
//! The script (`script/`) is written once against a `Driver` (`driver.rs`): here it drives a
//! node over gRPC (`remote.rs`); the golden test (`golden/`) replays the same script on
//! an in-process chain and pins every block it writes.

mod driver;
#[cfg(test)]
mod golden;
mod remote;
mod script;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use crate::driver::Driver;
use crate::remote::Remote;
use crate::script::{CONTRACTS, Script};

/// Options of `govchain demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The built contracts (`scripts/build-contracts.sh` writes them).
    #[arg(long, default_value = "contracts/artifacts")]
    pub(crate) contracts: PathBuf,
    /// After the demo, keep the embedded chain serving gRPC on this port so you can
    /// explore it with the other commands, and the supervisor console (and metrics) on
    /// this port + 2000 (Ctrl-C stops it).
    #[arg(long)]
    pub(crate) serve: Option<u16>,
}

/// `govchain demo`.
pub async fn run(
    endpoint: Option<&str>,
    home: &Path,
    args: DemoArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let code: Vec<(&str, Vec<u8>)> = CONTRACTS
        .iter()
        .map(|(name, file)| {
            let p = args.contracts.join(file);
            std::fs::read(&p)
                .with_context(|| format!("reading {} (build the contracts with scripts/build-contracts.sh, or pass --contracts)", p.display()))
                .map(|c| (*name, c))
        })
        .collect::<anyhow::Result<_>>()?;
    let embedded = match endpoint {
        Some(_) => None,
        None => {
            let grpc = format!("127.0.0.1:{}", args.serve.unwrap_or(0)).parse()?;
            let http = args
                .serve
                .map(|p| format!("127.0.0.1:{}", p.saturating_add(2000)).parse())
                .transpose()?;
            let node = govchain_node::embedded::Embedded::start_with(
                |out| govchain_node::init::InitOptions {
                    out,
                    validators: 1,
                    observers: 0,
                    threshold: None,
                    preset: "nanjing".into(),
                    chain_id: "govchain-demo".into(),
                    plain_keys: true,
                    base_port: 7545,
                    block_interval_ms: 50,
                    operated_by: vec!["tax".into()],
                    initial_points: None,
                    supervisors: vec![govchain_node::init::DEFAULT_SUPERVISOR.into()],
                },
                |c| {
                    c.api.grpc = grpc;
                    c.api.http = http;
                },
            )
            .await?;
            Some(node)
        }
    };
    let (endpoint, home) = match &embedded {
        Some(e) => (e.endpoint.clone(), e.home.clone()),
        None => (endpoint.unwrap_or_default().to_string(), home.to_path_buf()),
    };
    let remote = Remote::connect(&endpoint, &home).await?;
    let mut d = Script::new(remote, json_out);
    d.say(&intro(&d.d.parties().genesis, embedded.is_some()));
    d.all(&code).await?;
    d.say("\nAll three scenarios behaved as expected.");
    let console = embedded.as_ref().and_then(|e| e.node.http).map(|a| {
        json!({
            "url": format!("http://{a}/"),
            "credential_file": home.join("node1").join(govchain_node::init::CONSOLE_CREDENTIAL),
            "key_dir": home.join("keys"),
            "supervisor_key_file": govchain_node::init::operator_key_file(
                &home.join("keys"),
                "supervision",
                govchain_node::init::DEFAULT_SUPERVISOR,
            ),
        })
    });
    if let Some(c) = &console {
        d.report.insert("console".into(), c.clone());
    }
    d.report.insert(
        "citizens".into(),
        json!(d.citizens.iter().map(|c| json!({"name": c.name, "national_id": c.national_id, "subject_id": c.subject})).collect::<Vec<_>>()),
    );
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Object(d.report))?
        );
    }
    if let (Some(e), Some(_)) = (embedded, args.serve) {
        if let Some(c) = &console {
            eprintln!(
                "\nSupervisor console: {} — a supervisor signs in with their own key file {}, a department with its key file from {}, node1's operator with the credential in {} (its department's view).",
                c["url"].as_str().unwrap_or_default(),
                c["supervisor_key_file"].as_str().unwrap_or_default(),
                c["key_dir"].as_str().unwrap_or_default(),
                c["credential_file"].as_str().unwrap_or_default(),
            );
        }
        eprintln!(
            "\nThe demo chain keeps running on {} (network folder {}). In another terminal, e.g.:\n  govchain --endpoint {0} --home {1} audit query --requester bank --as supervision\n  govchain --endpoint {0} --home {1} points balance\n  govchain --endpoint {0} --home {1} contract list\nCtrl-C stops it; its folder is deleted then.",
            e.endpoint,
            e.home.display()
        );
        e.node.run_until_signal().await?;
    }
    Ok(())
}

/// What the demo runs on.
fn intro(g: &govchain_state::Genesis, embedded: bool) -> String {
    let custody = g.custody.as_ref().map_or(0, |c| c.threshold);
    let nodes: Vec<String> = g
        .validators
        .iter()
        .filter(|v| !v.observer)
        .map(|v| format!("{} ({})", v.id, v.department))
        .collect();
    format!(
        "govchain demo on chain '{}'{}: validators {}; data keys open with {custody} of {} custody shares.",
        g.chain_id,
        if embedded {
            " (embedded, run by the tax bureau)"
        } else {
            ""
        },
        nodes.join(", "),
        nodes.len()
    )
}
