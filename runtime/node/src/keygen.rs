//! A custody holder's part in generating the custody key on chain
//! (`docs/design/threshold-sm2.md`, `govchain_state::keygen`): after each commit, and on
//! a tick, it reads the round and phase from committed state and sends what is its to
//! send: its dealing, its complaints (the dealers whose sub-share to it fails its
//! check), its answers to complaints against it, or, once a phase's time has run out
//! with holders missing, the phase's close. When the key exists it stops; the holder's
//! share is then [`own_share`], summed from chain data with its custody key, never
//! written to a file.

use std::sync::Arc;
use std::time::Duration;

use govchain_consensus::Chain;
use govchain_crypto::PrivateKey;
use govchain_custody::{SecretShare, keygen};
use govchain_state::Overlay;
use govchain_types::{ExecError, pb};
use tokio::sync::watch;

use crate::follower::{TICK, node_error, transact};
use pb::KeygenPhase as Phase;
use pb::custody_keygen::Step;

/// Holder `n` closes an expired phase `n` times this long after its end by its own
/// clock: a proposer whose clock is a little behind does not refuse the close, and
/// normally the lowest-numbered live holder alone sends it.
const CLOSE_MARGIN_MS: u64 = 1_000;

/// A custody holder taking part in key generation.
#[derive(Debug)]
pub struct Participant {
    /// The chain it follows and submits to.
    pub chain: Arc<Chain>,
    /// The validator it runs for.
    pub validator_id: String,
    /// The validator's signing key (its steps are signed with it).
    pub key: PrivateKey,
    /// The validator's custody key: its sub-shares are encrypted to it, and its dealing
    /// is derived from it.
    pub custody_key: PrivateKey,
    /// Its share number.
    pub number: u32,
}

impl Participant {
    /// Takes part until the key is generated (or `stop`).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut commits = self.chain.subscribe();
        loop {
            match self.next_step() {
                Ok(None) => {
                    tracing::info!(
                        share = self.number,
                        "custody key generated: key generation is over for this holder"
                    );
                    return;
                }
                Ok(Some(Some(step))) => {
                    let what = step_name(&step.step);
                    let round = step.round;
                    let done = transact(
                        "keygen",
                        &self.chain,
                        &self.validator_id,
                        &self.key,
                        vec![pb::payload::Kind::Keygen(step)],
                    )
                    .await;
                    if let Some(height) = done.first() {
                        tracing::info!(
                            round,
                            share = self.number,
                            step = what,
                            height,
                            "key generation step committed"
                        );
                    }
                }
                Ok(Some(None)) => {}
                Err(e) => tracing::warn!(error = %e, "key generation: reading state"),
            }
            tokio::select! {
                r = commits.recv() => {
                    if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return;
                    }
                }
                () = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// What this holder should send now: `None` once the key exists, `Some(None)` when
    /// it waits for others.
    fn next_step(&self) -> Result<Option<Option<pb::CustodyKeygen>>, ExecError> {
        let o = Overlay::new(self.chain.store().clone());
        let Some(st) = govchain_state::keygen::state(&o)? else {
            return Ok(None);
        };
        if st.phase() == Phase::KeygenDone {
            return Ok(None);
        }
        let round = st.round;
        let deals = govchain_state::keygen::deals(&o, round)?;
        let complaints = govchain_state::keygen::complaints(&o, round)?;
        let step = match st.phase() {
            Phase::KeygenDeal if !deals.iter().any(|d| d.dealer == self.number) => {
                Some(Step::Deal(self.deal(&o, &st)?))
            }
            Phase::KeygenComplain if !complaints.iter().any(|c| c.holder == self.number) => {
                Some(Step::Complaints(pb::KeygenComplaints {
                    against: self.bad_dealers(&deals),
                }))
            }
            Phase::KeygenAnswer => {
                let answers = govchain_state::keygen::answers(&o, round)?;
                complaints
                    .iter()
                    .filter(|c| c.against.contains(&self.number))
                    .find(|c| {
                        !answers
                            .iter()
                            .any(|a| a.dealer == self.number && a.holder == c.holder)
                    })
                    .map(|c| {
                        keygen::answer(
                            &self.custody_key,
                            self.chain.chain_id(),
                            round,
                            st.threshold,
                            c.holder,
                        )
                        .map(|s| {
                            Step::Answer(pb::KeygenAnswer {
                                holder: c.holder,
                                sub_share: s.to_vec(),
                            })
                        })
                        .map_err(node_error)
                    })
                    .transpose()?
            }
            _ => None,
        };
        let step = step.or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let margin = CLOSE_MARGIN_MS * u64::from(self.number);
            (st.phase_time_ms != 0 && now >= st.phase_time_ms + st.phase_ms + margin)
                .then_some(Step::Close(pb::KeygenClose {}))
        });
        Ok(Some(step.map(|s| pb::CustodyKeygen {
            round,
            step: Some(s),
        })))
    }

    fn deal(&self, o: &Overlay, st: &pb::KeygenState) -> Result<pb::KeygenDeal, ExecError> {
        let holders = st
            .holders
            .iter()
            .map(|&n| Ok((n, holder_key(o, n)?)))
            .collect::<Result<Vec<_>, ExecError>>()?;
        let d = keygen::deal(
            &self.custody_key,
            self.chain.chain_id(),
            st.round,
            st.threshold,
            &holders,
        )
        .map_err(node_error)?;
        Ok(pb::KeygenDeal {
            commitments: d.commitments,
            sub_shares: d.sub_shares,
        })
    }

    /// The dealers whose sub-share to this holder does not decrypt or does not match
    /// their commitments.
    fn bad_dealers(&self, deals: &[pb::KeygenDealRecord]) -> Vec<u32> {
        deals
            .iter()
            .filter(|d| d.dealer != self.number)
            .filter(|d| {
                let bad = govchain_state::keygen::sub_share_of(&self.custody_key, self.number, d).is_err();
                if bad {
                    tracing::warn!(dealer = d.dealer, validator = %d.validator, "complaining: its sub-share to this holder fails its check");
                }
                bad
            })
            .map(|d| d.dealer)
            .collect()
    }
}

fn step_name(step: &Option<Step>) -> &'static str {
    match step {
        Some(Step::Deal(_)) => "deal",
        Some(Step::Complaints(_)) => "complaints",
        Some(Step::Answer(_)) => "answer",
        Some(Step::Close(_)) => "close",
        None => "none",
    }
}

/// Holder `number`'s custody key as state registers it.
fn holder_key(o: &Overlay, number: u32) -> Result<Vec<u8>, ExecError> {
    o.records(
        &govchain_state::tables::VALIDATOR,
        govchain_state::tables::VALIDATOR.all(),
        None,
    )
    .filter_map(Result::ok)
    .map(|(_, v)| v)
    .find(|v| v.custody_share == number)
    .map(|v| v.custody_key)
    .ok_or_else(|| node_error(format!("no validator holds custody share {number}")))
}

/// This holder's custody share, once the key is generated: the sum of the sub-shares
/// the qualified dealers sent it (or revealed, answering its complaint), checked
/// against its public share in state. `None` before the key exists.
///
/// # Errors
/// If a qualified dealer's sub-share to this holder is bad and was not revealed (the
/// holder did not complain in time): this holder's share does not match its public
/// share, and it must not release anything.
pub fn own_share(
    o: &Overlay,
    custody_key: &PrivateKey,
    number: u32,
) -> anyhow::Result<Option<SecretShare>> {
    let Some(set) = govchain_state::custody::key_set(o)? else {
        return Ok(None);
    };
    let deals = govchain_state::keygen::deals(o, set.round)?;
    let answers = govchain_state::keygen::answers(o, set.round)?;
    let share = govchain_state::keygen::holder_share(custody_key, number, &set, &deals, &answers)
        .map_err(anyhow::Error::msg)?;
    Ok(Some(share))
}

/// Waits (bounded by `stop`) until [`own_share`] has a share.
pub async fn share_when_generated(
    chain: &Arc<Chain>,
    custody_key: &PrivateKey,
    number: u32,
    stop: &mut watch::Receiver<bool>,
) -> Option<SecretShare> {
    let mut commits = chain.subscribe();
    loop {
        match own_share(&Overlay::new(chain.store().clone()), custody_key, number) {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "this validator's custody share");
                return None;
            }
        }
        tokio::select! {
            _ = commits.recv() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return None,
        }
    }
}
