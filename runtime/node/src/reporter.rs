//! Puts the equivocations the BFT engine catches on chain, each as an `Evidence`
//! transaction from this validator's account (`docs/design/bft.md`, "Evidence").
//!
//! Every honest validator that saw an equivocation holds the evidence. So that one
//! report usually lands rather than one per validator (the later ones would fail as
//! already recorded), validators take turns: the k-th validator after the offender (in
//! the set's order) waits k turns, then reports only what is not recorded yet.

use std::sync::Arc;
use std::time::Duration;

use govchain_consensus::Chain;
use govchain_consensus::bft::Caught;
use govchain_crypto::SharedSigner;
use govchain_types::pb;
use tokio::sync::mpsc;

use crate::follower::transact;

/// One validator's turn: long enough for a report to be committed.
const TURN: Duration = Duration::from_secs(3);

/// Reports what `caught` brings until the engine stops.
pub(crate) async fn report(
    chain: Arc<Chain>,
    validator_id: String,
    key: SharedSigner,
    mut caught: mpsc::Receiver<Caught>,
) {
    while let Some((offence, evidence)) = caught.recv().await {
        let (chain, me, key) = (chain.clone(), validator_id.clone(), key.clone());
        tokio::spawn(async move {
            tokio::time::sleep(TURN * turn(&chain, &me, &offence.validator)).await;
            match govchain_state::evidence::is_recorded(chain.store(), &offence) {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "reading recorded evidence"),
            }
            let kind = pb::payload::Kind::Evidence(evidence);
            let done = transact("evidence reporter", &chain, &me, &key, vec![kind]).await;
            if let Some(height) = done.first() {
                tracing::warn!(
                    validator = %offence.validator,
                    height = offence.height,
                    round = offence.round,
                    step = offence.step,
                    recorded_at = height,
                    "reported a validator's equivocation on chain"
                );
            }
        });
    }
}

/// How many validators come between `offender` and `me` in the set's order (0 for the
/// first after the offender).
fn turn(chain: &Chain, me: &str, offender: &str) -> u32 {
    let o = govchain_state::Overlay::new(chain.store().clone());
    let ids: Vec<String> = govchain_state::voting_set(&o)
        .map(|set| set.ids().map(String::from).collect())
        .unwrap_or_default();
    let pos = |id: &str| ids.iter().position(|x| x == id);
    match (pos(me), pos(offender)) {
        (Some(m), Some(o)) => ((m + ids.len() - o - 1) % ids.len()) as u32,
        _ => 0,
    }
}
