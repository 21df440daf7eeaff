//! `contract …` and `gov …`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_client::ContractsClient;
use govchain_client::rpc::{
    GetContractRequest, ListContractsRequest, ListProposalsRequest, QueryRequest,
};
use govchain_client::{Client, ClientError};
use govchain_node::output::{emit, kv, table};
use govchain_types::pb;
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::client::SignArgs;
use crate::cmd::chain::transact;

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
        /// Why, for the committee.
        #[arg(long, default_value = "")]
        description: String,
        /// Blocks the proposal stays open (0: the default, 10,000).
        #[arg(long, default_value_t = 0)]
        voting_period: u64,
        #[command(flatten)]
        sign: SignArgs,
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
    /// Run a read-only query (no transaction).
    Query {
        /// Contract name.
        name: String,
        /// Method.
        method: String,
        /// Arguments, JSON.
        #[arg(long, default_value = "null")]
        args: String,
    },
    /// Deployed contracts.
    List,
    /// One contract: code hash, version, approvers, deploy height, entry points.
    Show {
        /// Contract name.
        name: String,
    },
    /// Check that a local build is exactly the code deployed under `name`.
    Verify {
        /// Contract name.
        name: String,
        /// The locally built .wasm file.
        file: PathBuf,
    },
}

/// What every proposal takes besides its action.
#[derive(Debug, clap::Args)]
pub(crate) struct ProposeArgs {
    /// Why, for the committee.
    #[arg(long, default_value = "")]
    description: String,
    /// Blocks the proposal stays open (0: the default, 10,000).
    #[arg(long, default_value_t = 0)]
    voting_period: u64,
    #[command(flatten)]
    sign: SignArgs,
}

/// Proposal actions (contract deployment is `contract propose`).
#[derive(Debug, Subcommand)]
pub(crate) enum ProposeCmd {
    /// Add casbin policy lines, e.g. 'p, tax, property, read, tax_assessment, allow'.
    PolicyAdd {
        /// Policy lines.
        #[arg(required = true)]
        lines: Vec<String>,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Remove casbin policy lines.
    PolicyRemove {
        /// Policy lines.
        #[arg(required = true)]
        lines: Vec<String>,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Register or update a certificate type (JSON: id, name, name_zh, issuers, fields,
    /// price, publish_reward).
    CertType {
        /// The type's JSON file.
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Register or update a purpose of use.
    Purpose {
        /// Purpose id, e.g. tax_assessment.
        id: String,
        /// What it is for.
        #[arg(long = "text")]
        text: String,
        /// The law or regulation that allows it.
        #[arg(long, default_value = "")]
        legal_basis: String,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Mint (positive) or burn (negative) a department's points.
    PointsAdjust {
        /// Department.
        #[arg(long)]
        dept: String,
        /// Points to add (negative: to remove).
        #[arg(long, allow_hyphen_values = true)]
        delta: i64,
        /// Why (an assessment result, a correction).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Set the free-read quota, its period and the publish-reward cap.
    PointsParams {
        /// Free reads per department per period.
        #[arg(long)]
        free_reads: u64,
        /// Period length in hours.
        #[arg(long, default_value_t = 24)]
        period_hours: u64,
        /// Most reward points per department per period.
        #[arg(long)]
        reward_cap: u64,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Add a validator (or, with --observer, an observer) node. `govchain init-node`
    /// prepares the node and prints this command with its values.
    AddValidator {
        /// Node id (its TLS certificate is issued to this name).
        #[arg(long)]
        id: String,
        /// Department that runs it.
        #[arg(long)]
        department: String,
        /// The node's SM2 block-signing public key, hex (SEC1).
        #[arg(long)]
        public_key: String,
        /// ip:port of its node-to-node endpoint, where its peers reach it.
        #[arg(long)]
        addr: String,
        /// A non-voting observer instead of a validator.
        #[arg(long)]
        observer: bool,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Remove a validator or observer node (a validator stops voting from the next
    /// height).
    RemoveValidator {
        /// Node id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        common: ProposeArgs,
    },
}

impl ProposeCmd {
    fn into_parts(self) -> anyhow::Result<(pb::proposal::Action, ProposeArgs)> {
        use pb::proposal::Action;
        Ok(match self {
            ProposeCmd::PolicyAdd { lines, common } => (
                Action::Policy(pb::PolicyChange {
                    add: lines,
                    remove: vec![],
                }),
                common,
            ),
            ProposeCmd::PolicyRemove { lines, common } => (
                Action::Policy(pb::PolicyChange {
                    add: vec![],
                    remove: lines,
                }),
                common,
            ),
            ProposeCmd::CertType { file, common } => {
                let t: govchain_state::genesis::GenesisCertType = serde_json::from_slice(
                    &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
                )
                .with_context(|| format!("{} is not a certificate type", file.display()))?;
                (Action::CertType(t.to_pb()), common)
            }
            ProposeCmd::Purpose {
                id,
                text,
                legal_basis,
                common,
            } => (
                Action::Purpose(pb::Purpose {
                    id,
                    description: text,
                    legal_basis,
                }),
                common,
            ),
            ProposeCmd::PointsAdjust {
                dept,
                delta,
                reason,
                common,
            } => (
                Action::AdjustPoints(pb::PointsAdjustment {
                    department: dept,
                    delta,
                    reason,
                }),
                common,
            ),
            ProposeCmd::AddValidator {
                id,
                department,
                public_key,
                addr,
                observer,
                common,
            } => (
                Action::Node(pb::NodeChange {
                    node: Some(pb::Validator {
                        id,
                        department,
                        public_key: hex::decode(public_key.trim_start_matches("0x"))
                            .context("--public-key is not hex")?,
                        observer,
                        addr,
                        custody_share: 0,
                    }),
                    remove: false,
                }),
                common,
            ),
            ProposeCmd::RemoveValidator { id, common } => (
                Action::Node(pb::NodeChange {
                    node: Some(pb::Validator {
                        id,
                        ..Default::default()
                    }),
                    remove: true,
                }),
                common,
            ),
            ProposeCmd::PointsParams {
                free_reads,
                period_hours,
                reward_cap,
                common,
            } => (
                Action::PointsParams(pb::PointsParams {
                    free_reads_per_period: free_reads,
                    period_ms: period_hours
                        .checked_mul(3_600_000)
                        .context("--period-hours is too large")?,
                    reward_cap_per_period: reward_cap,
                }),
                common,
            ),
        })
    }
}

/// Governance commands.
#[derive(Debug, Subcommand)]
pub(crate) enum GovCmd {
    /// Open a proposal: policy lines, certificate types, purposes, points, nodes.
    #[command(subcommand)]
    Propose(ProposeCmd),
    /// Proposals (open ones unless --all), approvals so far, expiry.
    List {
        /// Include closed proposals.
        #[arg(long)]
        all: bool,
    },
    /// Approve a proposal.
    Approve {
        /// Proposal id.
        id: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Reject a proposal.
    Reject {
        /// Proposal id.
        id: u64,
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

fn status_name(s: i32) -> &'static str {
    pb::ProposalStatus::try_from(s).map_or("UNKNOWN", |s| {
        s.as_str_name().trim_start_matches("PROPOSAL_STATUS_")
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
        ContractCmd::Propose {
            file,
            name,
            description,
            voting_period,
            sign,
        } => {
            let code =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let payload = pb::payload::Kind::Propose(pb::Proposal {
                action: Some(pb::proposal::Action::Deploy(pb::DeployContract {
                    name,
                    code,
                })),
                description,
                voting_period,
            });
            transact(endpoint, home, &sign, payload, json_out)
                .await
                .map(drop)
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
        ContractCmd::Query { name, method, args } => {
            let mut c = Client::connect(endpoint).await?.contracts();
            let r = c
                .query(QueryRequest {
                    contract: name,
                    method,
                    args: json_arg(&args)?,
                    gas_limit: 0,
                })
                .await
                .map_err(ClientError::from)?
                .into_inner();
            let output = String::from_utf8_lossy(&r.output).into_owned();
            let value = json!({"output": serde_json::from_str::<Value>(&output).unwrap_or(Value::String(output.clone())), "gas_used": r.gas_used, "height": r.height});
            emit(json_out, &value, || println!("{output}"));
            Ok(())
        }
        ContractCmd::List => {
            let mut c = contracts_client(endpoint).await?;
            let list = c
                .list_contracts(ListContractsRequest {})
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
        ContractCmd::Show { name } => {
            let c = get_contract(endpoint, &name).await?;
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
        ContractCmd::Verify { name, file } => {
            let c = get_contract(endpoint, &name).await?;
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

async fn contracts_client(endpoint: &str) -> anyhow::Result<ContractsClient<Channel>> {
    Ok(Client::connect(endpoint).await?.contracts())
}

async fn get_contract(endpoint: &str, name: &str) -> anyhow::Result<pb::ContractRecord> {
    let mut c = contracts_client(endpoint).await?;
    Ok(c.get_contract(GetContractRequest {
        name: name.to_string(),
    })
    .await
    .map_err(ClientError::from)?
    .into_inner())
}

/// Runs a governance command.
pub(crate) async fn gov(
    endpoint: &str,
    home: &std::path::Path,
    cmd: GovCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    match cmd {
        GovCmd::Propose(p) => {
            let (action, common) = p.into_parts()?;
            let payload = pb::payload::Kind::Propose(pb::Proposal {
                action: Some(action),
                description: common.description,
                voting_period: common.voting_period,
            });
            transact(endpoint, home, &common.sign, payload, json_out)
                .await
                .map(drop)
        }
        GovCmd::List { all } => {
            let mut c = Client::connect(endpoint).await?.governance();
            let r = c
                .list_proposals(ListProposalsRequest { open_only: !all })
                .await
                .map_err(ClientError::from)?
                .into_inner();
            let value = json!({
                "threshold": r.threshold, "committee": r.committee,
                "proposals": r.proposals.iter().map(|p| json!({
                    "id": p.id, "proposer": p.proposer, "status": status_name(p.status), "action": p.action, "contract": p.contract,
                    "code_hash": hex::encode(&p.code_hash), "approvals": p.approvals, "rejections": p.rejections,
                    "created_height": p.created_height, "expiry_height": p.expiry_height, "description": p.description,
                })).collect::<Vec<_>>(),
            });
            emit(json_out, &value, || {
                println!(
                    "committee: {} (approvals needed: {})",
                    r.committee.join(", "),
                    r.threshold
                );
                let mut t = table(&[
                    "id",
                    "status",
                    "action",
                    "proposer",
                    "approvals",
                    "rejections",
                    "expires at",
                ]);
                for p in &r.proposals {
                    t.add_row([
                        p.id.to_string(),
                        status_name(p.status).to_string(),
                        p.action.clone(),
                        p.proposer.clone(),
                        format!(
                            "{}/{} ({})",
                            p.approvals.len(),
                            r.threshold,
                            p.approvals.join(", ")
                        ),
                        p.rejections.join(", "),
                        p.expiry_height.to_string(),
                    ]);
                }
                println!("{t}");
            });
            Ok(())
        }
        GovCmd::Approve { id, sign } => vote(endpoint, home, id, true, &sign, json_out).await,
        GovCmd::Reject { id, sign } => vote(endpoint, home, id, false, &sign, json_out).await,
    }
}

async fn vote(
    endpoint: &str,
    home: &std::path::Path,
    proposal_id: u64,
    approve: bool,
    sign: &SignArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let payload = pb::payload::Kind::Vote(pb::Vote {
        proposal_id,
        approve,
    });
    transact(endpoint, home, sign, payload, json_out)
        .await
        .map(drop)
}
