//! Evidence of equivocation on chain (`docs/design/bft.md`, "Evidence"): a voting
//! validator reports two contradicting signatures of another (or of itself); execution
//! checks them from the signer's key alone (`govchain_proof::evidence`) and records the
//! offence once per validator, height, round and step.

use govchain_proof::evidence::{Offence, check_evidence};
use govchain_store::{Records, Store};
use govchain_types::event::{Equivocation, Event};
use govchain_types::{ExecError, TxError, pb};

use crate::access::accounts::Account;
use crate::{BlockContext, Overlay, VerifiedTx, internal, tables};

/// The record key of `offence`: (validator, (height, (round, step tag))).
fn key(offence: &Offence) -> (&str, (u64, (u32, char))) {
    let tag = match offence.step {
        "prevote" => 'p',
        "precommit" => 'c',
        _ => 'o',
    };
    (
        offence.validator.as_str(),
        (offence.height, (offence.round, tag)),
    )
}

/// Whether `offence` is recorded in the committed state.
pub fn is_recorded(store: &Store, offence: &Offence) -> crate::Result<bool> {
    Ok(store.read(&tables::EVIDENCE, key(offence))?.is_some())
}

/// Executes a validator's [`pb::Evidence`] report.
pub(crate) fn report(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    evidence: &pb::Evidence,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let sender = tx.body.sender.as_str();
    let set = crate::voting_set(o)?;
    let reporter = match Account::parse(sender) {
        Account::Validator(id) if set.key(id).is_some() => id.to_string(),
        _ => {
            return Err(TxError::Unauthorized {
                who: sender.to_string(),
                action: "report evidence (only voting validators do)",
            }
            .into());
        }
    };
    let chain_id = o
        .read(&tables::CHAIN_ID, ())
        .map_err(internal)?
        .unwrap_or_default();
    let invalid = |reason: String| TxError::InvalidArgument {
        field: "evidence",
        reason,
    };
    let offence = check_evidence(&chain_id, &set, evidence).map_err(|e| invalid(e.0))?;
    if offence.height >= ctx.height {
        return Err(invalid(format!(
            "it is for height {}; evidence is about heights before this block's ({})",
            offence.height, ctx.height
        ))
        .into());
    }
    if o.read(&tables::EVIDENCE, key(&offence))
        .map_err(internal)?
        .is_some()
    {
        return Err(TxError::AlreadyExists {
            what: format!(
                "evidence of {}'s {} at height {} round {}",
                offence.validator, offence.step, offence.height, offence.round
            ),
        }
        .into());
    }
    let record = pb::EvidenceRecord {
        validator: offence.validator.clone(),
        height: offence.height,
        round: offence.round,
        step: offence.step.into(),
        evidence: Some(evidence.clone()),
        reporter: reporter.clone(),
        recorded_height: ctx.height,
        recorded_time_ms: ctx.time_ms,
        tx_hash: tx.hash.to_vec(),
    };
    o.write(&tables::EVIDENCE, key(&offence), &record);
    tracing::warn!(
        validator = %offence.validator,
        height = offence.height,
        round = offence.round,
        step = offence.step,
        reporter = %reporter,
        "evidence recorded: a validator signed two contradicting messages"
    );
    events.push(
        Event::from(Equivocation {
            validator: offence.validator,
            height: offence.height,
            round: offence.round,
            step: offence.step.into(),
            reporter,
        })
        .to_pb(),
    );
    Ok(())
}
