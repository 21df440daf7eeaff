//! `contract …`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_client::rpc::{GetContractRequest, ListContractsRequest, QueryRequest};
use govchain_client::{Client, ClientError};
use govchain_node::output::{emit, kv, table};
use govchain_types::pb;
use serde_json::{Value, json};

use crate::client::SignArgs;
use crate::cmd::chain::transact;
use crate::cmd::gov::{ProposeArgs, propose};

/// Contract commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ContractCmd {
    /// Propose deploying (or upgrading) contract code; committee approval deploys it.
    Propose {
        /// The .wasm file.
        file: PathBuf,
        /// Contract name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Call a method of a deployed contract (a transaction; waits for the receipt).
    Call {
        /// Contract name.
        name: String,
        /// Method.
        method: String,
        /// Arguments, JSON.
        #[arg(long, default_value = "null")]
        args: String,
        /// Gas limit (0: the default).
        #[arg(long, default_value_t = 0)]
        gas: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Run a read-only query (no transaction), signed: it runs as the signing
    /// department, and a contract may answer only some (the housing contract answers an
    /// application only to its departments).
    Query {
        /// Contract name.
        name: String,
        /// Method.
        method: String,
        /// Arguments, JSON.
        #[arg(long, default_value = "null")]
        args: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Deployed contracts.
    List {
        #[command(flatten)]
        sign: SignArgs,
    },
    /// One contract: code hash, version, approvers, deploy height, entry points.
    Show {
        /// Contract name.
        name: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Check that a local build is exactly the code deployed under `name`.
    Verify {
        /// Contract name.
        name: String,
        /// The locally built .wasm file.
        file: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
    },
}

fn contract_json(c: &pb::ContractRecord) -> Value {
    json!({
        "name": c.name, "code_hash": hex::encode(&c.code_hash), "version": c.version,
        "approvers": c.approvers, "deploy_height": c.deploy_height, "proposal": c.proposal_id,
        "calls": c.calls, "queries": c.queries,
    })
}

fn json_arg(args: &str) -> anyhow::Result<Vec<u8>> {
    serde_json::from_str::<Value>(args).with_context(|| format!("--args is not JSON: {args}"))?;
    Ok(args.as_bytes().to_vec())
}

/// Runs a contract command.
#[expect(clippy::too_many_lines, reason = "one arm per subcommand")]
pub(crate) async fn contract(
    endpoint: &str,
    home: &std::path::Path,
    cmd: ContractCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    match cmd {
        ContractCmd::Propose { file, name, common } => {
            let code =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let deploy = pb::proposal::Action::Deploy(pb::DeployContract { name, code });
            propose(endpoint, home, deploy, common, json_out).await
        }
        ContractCmd::Call {
            name,
            method,
            args,
            gas,
            sign,
        } => {
            let payload = pb::payload::Kind::Call(pb::ContractCall {
                contract: name,
                method,
                args: json_arg(&args)?,
                gas_limit: gas,
            });
            transact(endpoint, home, &sign, payload, json_out)
                .await
                .map(drop)
        }
        ContractCmd::Query {
            name,
            method,
            args,
            sign,
        } => {
            let client = Client::connect(endpoint).await?;
            let q = QueryRequest {
                contract: name,
                method,
                args: json_arg(&args)?,
                gas_limit: 0,
            };
            let request = sign.read(home, &client, "/govchain.v1.Contracts/Query", q)?;
            let r = client
                .contracts()
                .query(request)
                .await
                .map_err(ClientError::from)?
                .into_inner();
            let output = String::from_utf8_lossy(&r.output).into_owned();
            let value = json!({"output": serde_json::from_str::<Value>(&output).unwrap_or(Value::String(output.clone())), "gas_used": r.gas_used, "height": r.height});
            emit(json_out, &value, || println!("{output}"));
            Ok(())
        }
        ContractCmd::List { sign } => {
            let client = Client::connect(endpoint).await?;
            let request = sign.read(
                home,
                &client,
                "/govchain.v1.Contracts/ListContracts",
                ListContractsRequest {},
            )?;
            let list = client
                .contracts()
                .list_contracts(request)
                .await
                .map_err(ClientError::from)?
                .into_inner()
                .contracts;
            emit(
                json_out,
                &Value::Array(list.iter().map(contract_json).collect()),
                || {
                    let mut t = table(&[
                        "contract",
                        "version",
                        "code hash",
                        "deployed at",
                        "approvers",
                    ]);
                    for c in &list {
                        t.add_row([
                            c.name.clone(),
                            c.version.to_string(),
                            hex::encode(&c.code_hash),
                            c.deploy_height.to_string(),
                            c.approvers.join(", "),
                        ]);
                    }
                    println!("{t}");
                },
            );
            Ok(())
        }
        ContractCmd::Show { name, sign } => {
            let c = get_contract(endpoint, home, &sign, &name).await?;
            emit(json_out, &contract_json(&c), || {
                println!(
                    "{}",
                    kv(&[
                        ("contract", c.name.clone()),
                        ("version", c.version.to_string()),
                        ("code hash (SM3)", hex::encode(&c.code_hash)),
                        ("deployed at height", c.deploy_height.to_string()),
                        ("proposal", c.proposal_id.to_string()),
                        ("approvers", c.approvers.join(", ")),
                        ("calls", c.calls.join(", ")),
                        ("queries", c.queries.join(", ")),
                    ])
                );
            });
            Ok(())
        }
        ContractCmd::Verify { name, file, sign } => {
            let c = get_contract(endpoint, home, &sign, &name).await?;
            let local = govchain_crypto::sm3(
                &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            );
            let matches = local.as_slice() == c.code_hash.as_slice();
            let value = json!({"contract": name, "deployed": hex::encode(&c.code_hash), "local": hex::encode(local), "matches": matches});
            emit(json_out, &value, || {
                println!(
                    "{}",
                    kv(&[
                        ("deployed code hash", hex::encode(&c.code_hash)),
                        ("local build hash", hex::encode(local)),
                        (
                            "result",
                            if matches {
                                "MATCH: the local build is the deployed code".into()
                            } else {
                                "MISMATCH".to_string()
                            }
                        ),
                    ])
                );
            });
            if !matches {
                bail!("{} is not the code deployed as '{name}'", file.display());
            }
            Ok(())
        }
    }
}

async fn get_contract(
    endpoint: &str,
    home: &Path,
    sign: &SignArgs,
    name: &str,
) -> anyhow::Result<pb::ContractRecord> {
    let client = Client::connect(endpoint).await?;
    let request = sign.read(
        home,
        &client,
        "/govchain.v1.Contracts/GetContract",
        GetContractRequest {
            name: name.to_string(),
        },
    )?;
    Ok(client
        .contracts()
        .get_contract(request)
        .await
        .map_err(ClientError::from)?
        .into_inner())
}
