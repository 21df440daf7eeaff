//! Governance: committee proposals and votes, and what an approved proposal does.
//!
//! Only management-committee members (genesis) may propose or vote. The proposer's own
//! proposal counts as its approval; no department votes twice. A proposal passes when
//! approvals reach the committee threshold (k of n), is rejected once enough members
//! reject that k can no longer be reached, and expires after its voting period (the
//! first vote after that records the expiry). Every outcome is an event in the receipt
//! of the transaction that caused it.
//!
//! Actions: deploy or upgrade contract code; add and remove policy lines (in force from
//! the next block); register certificate types and purposes; adjust a department's
//! points; change the points parameters.

use govchain_crypto::sm3;
use govchain_store::Records;
use govchain_types::event::{
    CertTypeRegistered, ContractDeployed, Event, PointsAdjusted, PointsParamsChanged,
    PolicyChanged, ProposalCreated, ProposalExpired, ProposalRejected, PurposeRegistered, Vote,
};
use govchain_types::{ExecError, TxError, pb, validate_dept_id};
use govchain_vm::Vm;

use crate::access::points;
use crate::access::policy::{self, PolicyLine};
use crate::contracts::ContractHost;
use crate::genesis::Committee;
use crate::internal;
use crate::{BlockContext, Overlay, certs, tables};

/// Voting period when a proposal does not set one, in blocks.
pub const DEFAULT_VOTING_PERIOD: u64 = 10_000;
/// Longest voting period, in blocks.
pub const MAX_VOTING_PERIOD: u64 = 1_000_000;

fn committee(o: &Overlay) -> Result<Committee, ExecError> {
    crate::genesis_record(o, &tables::COMMITTEE).map_err(internal)
}

fn member(o: &Overlay, sender: &str, action: &'static str) -> Result<Committee, ExecError> {
    let c = committee(o)?;
    if !c.members.iter().any(|m| m == sender) {
        return Err(TxError::Unauthorized {
            who: sender.to_string(),
            action,
        }
        .into());
    }
    Ok(c)
}

fn load_proposal(o: &Overlay, id: u64) -> Result<pb::ProposalRecord, ExecError> {
    o.read(&tables::PROPOSAL, id)
        .map_err(internal)?
        .ok_or_else(|| TxError::NotFound {
            what: format!("proposal {id}"),
        })
        .map_err(Into::into)
}

/// A deployed contract's record.
pub fn contract(o: &Overlay, name: &str) -> Result<pb::ContractRecord, ExecError> {
    o.read(&tables::CONTRACT, name)
        .map_err(internal)?
        .ok_or_else(|| TxError::NotFound {
            what: format!("contract '{name}'"),
        })
        .map_err(Into::into)
}

/// Checks a proposal's action and stores what approval will need (deploy: the prepared
/// code). Returns a one-line summary, and for a deploy the contract name and code hash.
fn prepare_action(
    o: &mut Overlay,
    vm: &Vm<ContractHost>,
    action: &pb::proposal::Action,
) -> Result<(String, String, Vec<u8>), ExecError> {
    use pb::proposal::Action;
    match action {
        Action::Deploy(d) => {
            if let Err(why) = validate_dept_id(&d.name) {
                return Err(TxError::InvalidArgument {
                    field: "deploy.name",
                    reason: format!("contract name {why}"),
                }
                .into());
            }
            let prepared = vm.prepare(&d.code).map_err(|e| TxError::CodeRejected {
                reason: e.to_string(),
            })?;
            let code_hash = sm3(&d.code);
            if o.read(&tables::CODE, &code_hash)
                .map_err(internal)?
                .is_none()
            {
                o.write(&tables::CODE, &code_hash, &prepared.code);
                let entries = vec![prepared.calls, prepared.queries, prepared.jobs];
                o.write(&tables::CODE_ENTRIES, &code_hash, &entries);
            }
            Ok((
                format!(
                    "deploy contract '{}' ({})",
                    d.name,
                    hex::encode(&code_hash[..8])
                ),
                d.name.clone(),
                code_hash.to_vec(),
            ))
        }
        Action::Policy(change) => {
            if change.add.is_empty() && change.remove.is_empty() {
                return Err(TxError::MissingField {
                    field: "policy.add or policy.remove".into(),
                }
                .into());
            }
            let mut parts = Vec::new();
            for line in &change.add {
                let l = parse_line(line)?;
                l.check_refs(o)?;
                parts.push(format!("+[{}]", l.canonical()));
            }
            for line in &change.remove {
                let l = parse_line(line)?;
                if o.read(&tables::POLICY_LINE, &l.canonical())
                    .map_err(internal)?
                    .is_none()
                {
                    return Err(TxError::NotFound {
                        what: format!("policy line '{}'", l.canonical()),
                    }
                    .into());
                }
                parts.push(format!("-[{}]", l.canonical()));
            }
            Ok((format!("policy {}", parts.join(" ")), String::new(), vec![]))
        }
        Action::CertType(t) => {
            certs::validate_cert_type(o, t)?;
            Ok((
                format!(
                    "certificate type '{}' (price {}, reward {})",
                    t.id, t.price, t.publish_reward
                ),
                String::new(),
                vec![],
            ))
        }
        Action::Purpose(p) => {
            certs::validate_purpose(p)?;
            Ok((format!("purpose '{}'", p.id), String::new(), vec![]))
        }
        Action::AdjustPoints(a) => Ok((validate_adjustment(o, a)?, String::new(), vec![])),
        Action::Node(change) => Ok((crate::nodes::validate(o, change)?, String::new(), vec![])),
        Action::ReplaceKey(r) => Ok((
            crate::keys::validate(o, &key_change(r, 0))?,
            String::new(),
            vec![],
        )),
        Action::PointsParams(p) => {
            points::validate_params(p)?;
            Ok((
                format!(
                    "points params: {} free reads per {} ms, reward cap {}",
                    p.free_reads_per_period, p.period_ms, p.reward_cap_per_period
                ),
                String::new(),
                vec![],
            ))
        }
    }
}

/// Checks a points adjustment; returns its summary.
fn validate_adjustment(o: &Overlay, a: &pb::PointsAdjustment) -> Result<String, ExecError> {
    if o.read(&tables::DEPARTMENT, &a.department)
        .map_err(internal)?
        .is_none()
    {
        return Err(TxError::UnknownDepartment {
            department: a.department.clone(),
        }
        .into());
    }
    if a.delta == 0 {
        return Err(TxError::InvalidArgument {
            field: "adjust_points.delta",
            reason: "must not be 0".into(),
        }
        .into());
    }
    if a.reason.is_empty() || a.reason.len() > 256 {
        return Err(TxError::MissingField {
            field: "adjust_points.reason (1 to 256 bytes)".into(),
        }
        .into());
    }
    Ok(format!(
        "points {:+} to '{}': {}",
        a.delta, a.department, a.reason
    ))
}

fn parse_line(line: &str) -> Result<PolicyLine, ExecError> {
    PolicyLine::parse(line)
        .map_err(|reason| TxError::InvalidArgument {
            field: "policy line",
            reason,
        })
        .map_err(Into::into)
}

/// Opens a proposal.
pub(crate) fn propose(
    o: &mut Overlay,
    vm: &Vm<ContractHost>,
    ctx: &BlockContext,
    tx_hash: &[u8],
    sender: &str,
    p: &pb::Proposal,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let committee = member(o, sender, "propose")?;
    let period = match p.voting_period {
        0 => DEFAULT_VOTING_PERIOD,
        n if n > MAX_VOTING_PERIOD => {
            return Err(TxError::InvalidArgument {
                field: "voting_period",
                reason: format!("at most {MAX_VOTING_PERIOD} blocks"),
            }
            .into());
        }
        n => n,
    };
    if p.description.len() > 2000 {
        return Err(TxError::InvalidArgument {
            field: "description",
            reason: "at most 2000 bytes".into(),
        }
        .into());
    }
    let Some(action) = &p.action else {
        return Err(TxError::MissingField {
            field: "proposal.action".into(),
        }
        .into());
    };
    let (summary, contract, code_hash) = prepare_action(o, vm, action)?;
    let id = o
        .read_or_default(&tables::NEXT_PROPOSAL, ())
        .map_err(internal)?
        .max(1);
    o.write(&tables::NEXT_PROPOSAL, (), &(id + 1));
    let mut stored = p.clone();
    if let Some(pb::proposal::Action::Deploy(d)) = &mut stored.action {
        d.code.clear();
    }
    let mut rec = pb::ProposalRecord {
        id,
        proposer: sender.to_string(),
        created_height: ctx.height,
        expiry_height: ctx.height + period,
        description: p.description.clone(),
        status: pb::ProposalStatus::Open as i32,
        approvals: vec![sender.to_string()],
        rejections: vec![],
        contract,
        code_hash,
        decided_height: 0,
        action: summary.clone(),
        proposal: Some(stored),
    };
    events.push(
        Event::from(ProposalCreated {
            id,
            action: summary,
            expiry_height: rec.expiry_height,
        })
        .to_pb(),
    );
    decide(o, ctx, tx_hash, &committee, &mut rec, events)?;
    o.write(&tables::PROPOSAL, id, &rec);
    Ok(())
}

/// Records a vote.
pub(crate) fn vote(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx_hash: &[u8],
    sender: &str,
    v: &pb::Vote,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let committee = member(o, sender, "vote")?;
    let mut rec = load_proposal(o, v.proposal_id)?;
    if rec.status != pb::ProposalStatus::Open as i32 {
        let status =
            pb::ProposalStatus::try_from(rec.status).map_or("UNKNOWN", |s| s.as_str_name());
        return Err(TxError::ProposalClosed {
            id: rec.id,
            status: status.to_string(),
        }
        .into());
    }
    if ctx.height > rec.expiry_height {
        rec.status = pb::ProposalStatus::Expired as i32;
        rec.decided_height = ctx.height;
        events.push(Event::from(ProposalExpired { id: rec.id }).to_pb());
        o.write(&tables::PROPOSAL, rec.id, &rec);
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
        }
        .into());
    }
    if v.approve {
        rec.approvals.push(sender.to_string());
    } else {
        rec.rejections.push(sender.to_string());
    }
    events.push(
        Event::from(Vote {
            id: rec.id,
            department: sender.to_string(),
            approve: v.approve,
        })
        .to_pb(),
    );
    decide(o, ctx, tx_hash, &committee, &mut rec, events)?;
    o.write(&tables::PROPOSAL, rec.id, &rec);
    Ok(())
}

/// Closes the proposal if the votes decide it, and carries out an approved one. If
/// carrying it out fails (a burn beyond a balance), the vote fails and the proposal
/// stays open.
fn decide(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx_hash: &[u8],
    c: &Committee,
    rec: &mut pb::ProposalRecord,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let n = c.members.len();
    let k = c.threshold as usize;
    if rec.approvals.len() >= k {
        rec.status = pb::ProposalStatus::Approved as i32;
        rec.decided_height = ctx.height;
        apply(o, ctx, tx_hash, rec, events)?;
    } else if n - rec.rejections.len() < k {
        rec.status = pb::ProposalStatus::Rejected as i32;
        rec.decided_height = ctx.height;
        events.push(Event::from(ProposalRejected { id: rec.id }).to_pb());
    }
    Ok(())
}

/// Carries out an approved proposal.
fn apply(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx_hash: &[u8],
    rec: &pb::ProposalRecord,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    use pb::proposal::Action;
    let action = rec
        .proposal
        .as_ref()
        .and_then(|p| p.action.as_ref())
        .ok_or_else(|| internal("proposal without action"))?;
    let id = rec.id;
    match action {
        Action::Deploy(_) => deploy(o, ctx, rec, events),
        Action::Policy(change) => {
            let mut added = Vec::new();
            let mut removed = Vec::new();
            for line in &change.remove {
                let l = parse_line(line)?.canonical();
                o.remove(&tables::POLICY_LINE, &l);
                removed.push(l);
            }
            for line in &change.add {
                let l = parse_line(line)?;
                l.check_refs(o)?;
                o.write(&tables::POLICY_LINE, &l.canonical(), &());
                added.push(l.canonical());
            }
            let version = policy::version(o).map_err(internal)? + 1;
            o.write(&tables::POLICY_VERSION, (), &version);
            events.push(
                Event::from(PolicyChanged {
                    proposal: id,
                    version,
                    added: added.join("; "),
                    removed: removed.join("; "),
                    effective_height: ctx.height + 1,
                })
                .to_pb(),
            );
            Ok(())
        }
        Action::CertType(t) => {
            certs::validate_cert_type(o, t)?;
            o.write(&tables::CERT_TYPE, &t.id, t);
            events.push(
                Event::from(CertTypeRegistered {
                    proposal: id,
                    cert_type: t.id.clone(),
                })
                .to_pb(),
            );
            Ok(())
        }
        Action::Purpose(p) => {
            o.write(&tables::PURPOSE, &p.id, p);
            events.push(
                Event::from(PurposeRegistered {
                    proposal: id,
                    purpose: p.id.clone(),
                })
                .to_pb(),
            );
            Ok(())
        }
        Action::AdjustPoints(a) => {
            let cause = points::Cause {
                ctx,
                tx_hash,
                kind: points::LedgerKind::Adjust,
                counterparty: "governance",
                audit_seq: 0,
                note: &a.reason,
            };
            points::adjust(o, &cause, &a.department, a.delta)?;
            events.push(
                Event::from(PointsAdjusted {
                    proposal: id,
                    department: a.department.clone(),
                    delta: a.delta,
                })
                .to_pb(),
            );
            Ok(())
        }
        Action::Node(change) => crate::nodes::apply(o, id, change, events),
        Action::ReplaceKey(r) => crate::keys::apply(o, ctx, tx_hash, &key_change(r, id), events),
        Action::PointsParams(p) => {
            o.write(&tables::POINTS_PARAMS, (), p);
            events.push(Event::from(PointsParamsChanged { proposal: id }).to_pb());
            Ok(())
        }
    }
}

/// The key change a replacement proposal (`id`; 0 while it is proposed) makes.
fn key_change(r: &pb::KeyReplacement, id: u64) -> crate::keys::KeyChange<'_> {
    crate::keys::KeyChange {
        department: &r.department,
        operator: &r.operator,
        public_key: &r.public_key,
        proof: &r.proof,
        proposal: id,
    }
}

/// Deploys (or upgrades) the contract of an approved deploy proposal.
fn deploy(
    o: &mut Overlay,
    ctx: &BlockContext,
    rec: &pb::ProposalRecord,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let version = match contract(o, &rec.contract) {
        Ok(old) => old.version + 1,
        Err(ExecError::Tx(TxError::NotFound { .. })) => 1,
        Err(e) => return Err(e),
    };
    let hash: [u8; 32] = rec
        .code_hash
        .as_slice()
        .try_into()
        .map_err(|_| internal("code hash"))?;
    // [calls, queries] before compute jobs existed; [calls, queries, jobs] since.
    let mut lists = o
        .read(&tables::CODE_ENTRIES, &hash)
        .map_err(internal)?
        .ok_or_else(|| internal("code entries missing"))?;
    lists.resize(3, vec![]);
    let jobs = lists.pop().unwrap_or_default();
    let queries = lists.pop().unwrap_or_default();
    let calls = lists.pop().unwrap_or_default();
    let record = pb::ContractRecord {
        name: rec.contract.clone(),
        code_hash: rec.code_hash.clone(),
        version,
        approvers: rec.approvals.clone(),
        deploy_height: ctx.height,
        proposal_id: rec.id,
        calls,
        queries,
        jobs,
    };
    o.write(&tables::CONTRACT, &rec.contract, &record);
    events.push(
        Event::from(ContractDeployed {
            contract: rec.contract.clone(),
            version,
            code_hash: hex::encode(&rec.code_hash),
            proposal: rec.id,
        })
        .to_pb(),
    );
    Ok(())
}
