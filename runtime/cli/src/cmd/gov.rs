//! `gov …`: proposals (policy lines, certificate types, purposes, points, nodes, keys)
//! and the committee's votes.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use govchain_client::rpc::ListProposalsRequest;
use govchain_client::{Client, ClientError};
use govchain_node::output::{emit, proposal_json, proposal_status, table};
use govchain_types::pb;
use serde_json::json;

use crate::client::SignArgs;
use crate::cmd::chain::transact;

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

/// Submits a proposal of `action` and prints its receipt.
pub(crate) async fn propose(
    endpoint: &str,
    home: &std::path::Path,
    action: pb::proposal::Action,
    common: ProposeArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let payload = pb::payload::Kind::Propose(pb::Proposal {
        action: Some(action),
        description: common.description,
        voting_period: common.voting_period,
    });
    transact(endpoint, home, &common.sign, payload, json_out)
        .await
        .map(drop)
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
        /// Make it a custody holder with this SM2 custody key, hex (SEC1; `init-node`
        /// prints it): the current holders reshare the custody key to it.
        #[arg(long)]
        custody_key: Option<String>,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Give a custody holder a new custody key (its operator wrote it beside the current
    /// one as `custody.key.next` and restarted the node): the holders reshare, the holder
    /// receiving its new share under the new key, and its node then replaces the old key
    /// file with the new one.
    RotateCustodyKey {
        /// Node id.
        #[arg(long)]
        id: String,
        /// The new custody key, hex (SEC1; `govchain keys show custody.key.next`).
        #[arg(long)]
        custody_key: String,
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
    /// Replace a lost or compromised department, operator or validator key (the new
    /// key's holder makes --public-key and --proof with `govchain keys prove`).
    ReplaceKey {
        /// Department, or `validator:<id>` for a validator's block-signing key.
        #[arg(long)]
        department: String,
        /// The operator whose key is replaced (none: the department's own key).
        #[arg(long, default_value = "")]
        operator_id: String,
        /// The new key, hex (SEC1).
        #[arg(long)]
        public_key: String,
        /// The new key's registration proof, hex.
        #[arg(long)]
        proof: String,
        #[command(flatten)]
        common: ProposeArgs,
    },
    /// Revoke an operator: its key is refused from the approving block on.
    RevokeOperator {
        /// Department.
        #[arg(long)]
        department: String,
        /// The operator revoked.
        #[arg(long)]
        operator_id: String,
        #[command(flatten)]
        common: ProposeArgs,
    },
}

/// Hex (with or without `0x`) given as option `what`.
fn unhex(hex: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    hex::decode(hex.trim_start_matches("0x")).with_context(|| format!("{what} is not hex"))
}

impl ProposeCmd {
    /// The action of a key replacement or operator revocation.
    fn key_parts(self) -> anyhow::Result<(pb::proposal::Action, ProposeArgs)> {
        use pb::proposal::Action;
        Ok(match self {
            ProposeCmd::ReplaceKey {
                department,
                operator_id: operator,
                public_key,
                proof,
                common,
            } => (
                Action::ReplaceKey(pb::KeyReplacement {
                    department,
                    operator,
                    public_key: unhex(&public_key, "--public-key")?,
                    proof: unhex(&proof, "--proof")?,
                }),
                common,
            ),
            ProposeCmd::RevokeOperator {
                department,
                operator_id: operator,
                common,
            } => {
                let revoke = pb::KeyReplacement {
                    department,
                    operator,
                    ..Default::default()
                };
                (Action::ReplaceKey(revoke), common)
            }
            _ => anyhow::bail!("not a key proposal"),
        })
    }

    /// The node-set proposals' action.
    fn node_parts(self) -> anyhow::Result<(pb::proposal::Action, ProposeArgs)> {
        use pb::proposal::Action;
        Ok(match self {
            ProposeCmd::AddValidator {
                id,
                department,
                public_key,
                addr,
                observer,
                custody_key,
                common,
            } => (
                Action::Node(pb::NodeChange {
                    node: Some(pb::Validator {
                        id,
                        department,
                        public_key: unhex(&public_key, "--public-key")?,
                        observer,
                        addr,
                        custody_key: custody_key
                            .map(|k| unhex(&k, "--custody-key"))
                            .transpose()?
                            .unwrap_or_default(),
                        ..Default::default()
                    }),
                    remove: false,
                    rotate_custody_key: false,
                }),
                common,
            ),
            ProposeCmd::RotateCustodyKey {
                id,
                custody_key,
                common,
            } => (
                Action::Node(pb::NodeChange {
                    node: Some(pb::Validator {
                        id,
                        custody_key: unhex(&custody_key, "--custody-key")?,
                        ..Default::default()
                    }),
                    remove: false,
                    rotate_custody_key: true,
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
                    rotate_custody_key: false,
                }),
                common,
            ),
            _ => anyhow::bail!("not a node proposal"),
        })
    }

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
            cmd @ (ProposeCmd::AddValidator { .. }
            | ProposeCmd::RotateCustodyKey { .. }
            | ProposeCmd::RemoveValidator { .. }) => cmd.node_parts()?,
            cmd @ (ProposeCmd::ReplaceKey { .. } | ProposeCmd::RevokeOperator { .. }) => {
                cmd.key_parts()?
            }
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
        #[command(flatten)]
        sign: SignArgs,
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
            propose(endpoint, home, action, common, json_out).await
        }
        GovCmd::List { all, sign } => {
            let client = Client::connect(endpoint).await?;
            let request = sign.read(
                home,
                &client,
                "/govchain.v1.Governance/ListProposals",
                ListProposalsRequest { open_only: !all },
            )?;
            let r = client
                .governance()
                .list_proposals(request)
                .await
                .map_err(ClientError::from)?
                .into_inner();
            let value = json!({
                "threshold": r.threshold, "committee": r.committee,
                "proposals": r.proposals.iter().map(proposal_json).collect::<Vec<_>>(),
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
                        proposal_status(p.status).to_string(),
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
