//! Equivocations recorded on chain, as `govchain status` and `tx get` show them.

use govchain_client::rpc::GetStatusResponse;
use govchain_node::output::{table, time_ms};
use govchain_types::pb;
use serde_json::{Value, json};

/// Who equivocated where, as `e` claims it (execution has checked the signatures of
/// what is on chain).
pub(super) fn claim_json(e: &pb::Evidence) -> Value {
    match &e.kind {
        Some(pb::evidence::Kind::Votes(d)) => {
            let v = d
                .first
                .as_ref()
                .and_then(|s| s.vote.clone())
                .unwrap_or_default();
            let step = match pb::VoteKind::try_from(v.kind) {
                Ok(pb::VoteKind::Precommit) => "precommit",
                _ => "prevote",
            };
            json!({"validator": v.validator, "height": v.height, "round": v.round, "step": step})
        }
        Some(pb::evidence::Kind::Proposals(d)) => {
            let p = d
                .first
                .as_ref()
                .and_then(|s| s.proposal.clone())
                .unwrap_or_default();
            json!({"validator": p.proposer, "height": p.height, "round": p.round, "step": "proposal"})
        }
        None => json!({}),
    }
}

/// The status report's `evidence` object.
pub(super) fn status_json(s: &GetStatusResponse) -> Value {
    json!({
        "count": s.evidence_count,
        "recent": s.evidence.iter().map(|r| json!({
            "validator": r.validator, "height": r.height, "round": r.round, "step": r.step,
            "reporter": r.reporter, "recorded_height": r.recorded_height,
            "recorded_time_ms": r.recorded_time_ms, "tx_hash": hex::encode(&r.tx_hash),
        })).collect::<Vec<_>>(),
    })
}

/// The status report's evidence line, and a table of the newest records if any.
pub(super) fn print_status(s: &GetStatusResponse) {
    if s.evidence_count == 0 {
        println!("evidence: no validator has been caught equivocating");
        return;
    }
    println!(
        "evidence: {} equivocation(s) recorded on chain{}",
        s.evidence_count,
        if s.evidence_count > s.evidence.len() as u64 {
            format!(" (the newest {} below)", s.evidence.len())
        } else {
            String::new()
        }
    );
    let mut t = table(&[
        "validator",
        "signed twice",
        "at height",
        "round",
        "reported by",
        "recorded",
    ]);
    for r in &s.evidence {
        t.add_row([
            r.validator.clone(),
            r.step.clone(),
            r.height.to_string(),
            r.round.to_string(),
            r.reporter.clone(),
            format!(
                "block {} ({})",
                r.recorded_height,
                time_ms(r.recorded_time_ms)
            ),
        ]);
    }
    println!("{t}");
}
