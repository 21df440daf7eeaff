//! Governance: committee proposals and votes, and what an approved proposal does.
//!
//! Only management-committee members (genesis) may propose or vote. The proposer's own
//! proposal counts as its approval; no department votes twice. A proposal passes when
//! approvals reach the committee threshold (k of n), is rejected once enough members
//! reject that k can no longer be reached, and expires after its voting period (the
//! first vote after that records the expiry). Every outcome is an event in the receipt
//! of the transaction that caused it.

use govchain_crypto::sm3;
use govchain_types::{TxError, decode, pb, validate_dept_id};
use govchain_vm::Vm;

use crate::contracts::ContractHost;
use crate::genesis::Committee;
use crate::{BlockContext, Overlay, keys};

/// Voting period when a proposal does not set one, in blocks.
pub const DEFAULT_VOTING_PERIOD: u64 = 10_000;
/// Longest voting period, in blocks.
pub const MAX_VOTING_PERIOD: u64 = 1_000_000;

fn internal(e: impl std::fmt::Display) -> TxError {
    TxError::Internal(e.to_string())
}

fn committee(o: &Overlay) -> Result<Committee, TxError> {
    let raw = o
        .get(keys::COMMITTEE)
        .map_err(internal)?
        .ok_or_else(|| internal("committee missing from state"))?;
    serde_json::from_slice(&raw).map_err(internal)
}

fn member(o: &Overlay, sender: &str, action: &'static str) -> Result<Committee, TxError> {
    let c = committee(o)?;
    if !c.members.iter().any(|m| m == sender) {
        return Err(TxError::Unauthorized {
            who: sender.to_string(),
            action,
        });
    }
    Ok(c)
}

fn event(kind: &str, attrs: &[(&str, String)]) -> pb::Event {
    pb::Event {
        kind: kind.into(),
        attributes: attrs
            .iter()
            .map(|(k, v)| pb::Attribute {
                key: (*k).into(),
                value: v.clone(),
            })
            .collect(),
    }
}

fn load_proposal(o: &Overlay, id: u64) -> Result<pb::ProposalRecord, TxError> {
    let raw = o
        .get(&keys::proposal(id))
        .map_err(internal)?
        .ok_or_else(|| TxError::NotFound {
            what: format!("proposal {id}"),
        })?;
    decode("proposal", &raw)
}

/// A deployed contract's record.
pub fn contract(o: &Overlay, name: &str) -> Result<pb::ContractRecord, TxError> {
    let raw = o
        .get(&keys::contract(name))
        .map_err(internal)?
        .ok_or_else(|| TxError::NotFound {
            what: format!("contract '{name}'"),
        })?;
    decode("contract", &raw)
}

/// Opens a proposal.
pub(crate) fn propose(
    o: &mut Overlay,
    vm: &Vm<ContractHost>,
    ctx: &BlockContext,
    sender: &str,
    p: &pb::Proposal,
    events: &mut Vec<pb::Event>,
) -> Result<(), TxError> {
    let committee = member(o, sender, "propose")?;
    let period = match p.voting_period {
        0 => DEFAULT_VOTING_PERIOD,
        n if n > MAX_VOTING_PERIOD => {
            return Err(TxError::InvalidArgument {
                field: "voting_period",
                reason: format!("at most {MAX_VOTING_PERIOD} blocks"),
            });
        }
        n => n,
    };
    if p.description.len() > 2000 {
        return Err(TxError::InvalidArgument {
            field: "description",
            reason: "at most 2000 bytes".into(),
        });
    }
    let Some(pb::proposal::Action::Deploy(d)) = &p.action else {
        return Err(TxError::InvalidArgument {
            field: "proposal.action",
            reason: "missing".into(),
        });
    };
    if let Err(why) = validate_dept_id(&d.name) {
        return Err(TxError::InvalidArgument {
            field: "deploy.name",
            reason: format!("contract name {why}"),
        });
    }
    let prepared = vm.prepare(&d.code).map_err(|e| TxError::CodeRejected {
        reason: e.to_string(),
    })?;
    let code_hash = sm3(&d.code);
    let code_key = keys::code(&code_hash);
    if o.get(&code_key).map_err(internal)?.is_none() {
        o.put(code_key, prepared.code);
        o.put(
            keys::code_entries(&code_hash),
            serde_json::to_vec(&(prepared.calls, prepared.queries)).expect("json"),
        );
    }
    let id = o
        .get(keys::NEXT_PROPOSAL)
        .map_err(internal)?
        .map_or(Ok(1), |v| {
            v.as_slice()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| internal("corrupt proposal counter"))
        })?;
    o.put(
        keys::NEXT_PROPOSAL.to_vec(),
        (id + 1).to_be_bytes().to_vec(),
    );
    let mut rec = pb::ProposalRecord {
        id,
        proposer: sender.to_string(),
        created_height: ctx.height,
        expiry_height: ctx.height + period,
        description: p.description.clone(),
        status: pb::ProposalStatus::Open as i32,
        approvals: vec![sender.to_string()],
        rejections: vec![],
        contract: d.name.clone(),
        code_hash: code_hash.to_vec(),
        decided_height: 0,
    };
    events.push(event(
        "proposal_created",
        &[
            ("id", id.to_string()),
            ("contract", d.name.clone()),
            ("code_hash", hex::encode(code_hash)),
            ("expiry_height", rec.expiry_height.to_string()),
        ],
    ));
    decide(o, ctx, &committee, &mut rec, events)?;
    o.put(keys::proposal(id), govchain_types::encode(&rec));
    Ok(())
}

/// Records a vote.
pub(crate) fn vote(
    o: &mut Overlay,
    ctx: &BlockContext,
    sender: &str,
    v: &pb::Vote,
    events: &mut Vec<pb::Event>,
) -> Result<(), TxError> {
    let committee = member(o, sender, "vote")?;
    let mut rec = load_proposal(o, v.proposal_id)?;
    if rec.status != pb::ProposalStatus::Open as i32 {
        let status =
            pb::ProposalStatus::try_from(rec.status).map_or("UNKNOWN", |s| s.as_str_name());
        return Err(TxError::ProposalClosed {
            id: rec.id,
            status: status.to_string(),
        });
    }
    if ctx.height > rec.expiry_height {
        rec.status = pb::ProposalStatus::Expired as i32;
        rec.decided_height = ctx.height;
        events.push(event("proposal_expired", &[("id", rec.id.to_string())]));
        o.put(keys::proposal(rec.id), govchain_types::encode(&rec));
        return Ok(());
    }
    if rec
        .approvals
        .iter()
        .chain(&rec.rejections)
        .any(|d| d == sender)
    {
        return Err(TxError::AlreadyExists {
            what: format!("a vote of '{sender}' on proposal {}", rec.id),
        });
    }
    if v.approve {
        rec.approvals.push(sender.to_string());
    } else {
        rec.rejections.push(sender.to_string());
    }
    events.push(event(
        "vote",
        &[
            ("id", rec.id.to_string()),
            ("department", sender.to_string()),
            ("approve", v.approve.to_string()),
        ],
    ));
    decide(o, ctx, &committee, &mut rec, events)?;
    o.put(keys::proposal(rec.id), govchain_types::encode(&rec));
    Ok(())
}

/// Closes the proposal if the votes decide it, and carries out an approved one.
fn decide(
    o: &mut Overlay,
    ctx: &BlockContext,
    c: &Committee,
    rec: &mut pb::ProposalRecord,
    events: &mut Vec<pb::Event>,
) -> Result<(), TxError> {
    let n = c.members.len();
    let k = c.threshold as usize;
    if rec.approvals.len() >= k {
        rec.status = pb::ProposalStatus::Approved as i32;
        rec.decided_height = ctx.height;
        let version = match contract(o, &rec.contract) {
            Ok(old) => old.version + 1,
            Err(TxError::NotFound { .. }) => 1,
            Err(e) => return Err(e),
        };
        let hash: [u8; 32] = rec
            .code_hash
            .as_slice()
            .try_into()
            .map_err(|_| internal("code hash"))?;
        let entries = o
            .get(&keys::code_entries(&hash))
            .map_err(internal)?
            .ok_or_else(|| internal("code entries missing"))?;
        let (calls, queries): (Vec<String>, Vec<String>) =
            serde_json::from_slice(&entries).map_err(internal)?;
        let record = pb::ContractRecord {
            name: rec.contract.clone(),
            code_hash: rec.code_hash.clone(),
            version,
            approvers: rec.approvals.clone(),
            deploy_height: ctx.height,
            proposal_id: rec.id,
            calls,
            queries,
        };
        o.put(
            keys::contract(&rec.contract),
            govchain_types::encode(&record),
        );
        events.push(event(
            "contract_deployed",
            &[
                ("contract", rec.contract.clone()),
                ("version", version.to_string()),
                ("code_hash", hex::encode(&rec.code_hash)),
                ("proposal", rec.id.to_string()),
            ],
        ));
    } else if n - rec.rejections.len() < k {
        rec.status = pb::ProposalStatus::Rejected as i32;
        rec.decided_height = ctx.height;
        events.push(event("proposal_rejected", &[("id", rec.id.to_string())]));
    }
    Ok(())
}
