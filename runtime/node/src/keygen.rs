//! A custody holder's part in generating the custody key on chain, and in resharing it
//! when governance changes the holders (`docs/design/threshold-sm2.md`,
//! `govchain_state::keygen`): after each commit, and on a tick, it reads the round and
//! phase from committed state and sends what is its to send: its dealing (of a fresh
//! secret, or in a resharing of its current share), its complaints (the dealers whose
//! sub-share to it fails its check), its answers to complaints against it, or, once a
//! phase's time has run out with holders missing, the phase's close. The holder's share
//! of the key set in force is [`own_share`], summed from chain data with its custody
//! key, never written to a file.

use std::sync::Arc;
use std::time::Duration;

use govchain_consensus::Chain;
use govchain_crypto::{PrivateKey, SharedSigner};
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
    pub key: SharedSigner,
    /// The validator's custody keys: the one in its key file and, while a rotation
    /// runs, the next one (`<file>.next`). Sub-shares are encrypted to, and its dealing
    /// derived from, the one state registers for it; its share to reshare is summed
    /// with the one its current share was dealt to.
    pub custody_keys: Vec<PrivateKey>,
}

impl Participant {
    /// Takes part in every round it deals or receives in, until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut commits = self.chain.subscribe();
        loop {
            match self.next_step() {
                Ok(Some(step)) => {
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
                        tracing::info!(round, step = what, height, "key generation step committed");
                    }
                }
                Ok(None) => {}
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

    /// What this holder should send now, if anything.
    fn next_step(&self) -> Result<Option<pb::CustodyKeygen>, ExecError> {
        let o = Overlay::new(self.chain.store().clone());
        let Some(st) = govchain_state::keygen::state(&o)? else {
            return Ok(None);
        };
        let number = own_number(&o, &self.validator_id)?;
        let registered = if number == 0 {
            None
        } else {
            let key = holder_key(&o, number)?;
            self.custody_keys
                .iter()
                .find(|k| k.public_key().to_sec1() == key)
        };
        let Some(custody_key) = registered else {
            if number != 0 {
                // Complaining with the wrong key would have every dealer reveal this
                // holder's sub-shares.
                tracing::warn!(
                    share = number,
                    "no custody key file holds the key state registers for this holder: it takes no part"
                );
            }
            return Ok(None);
        };
        let dealer = govchain_state::keygen::dealers(&st).contains(&number);
        if st.phase() == Phase::KeygenDone || !(dealer || st.holders.contains(&number)) {
            return Ok(None);
        }
        let round = st.round;
        let deals = govchain_state::keygen::deals(&o, round)?;
        let complaints = govchain_state::keygen::complaints(&o, round)?;
        let step = match st.phase() {
            Phase::KeygenDeal if dealer && !deals.iter().any(|d| d.dealer == number) => {
                Some(Step::Deal(self.deal(&o, &st, number, custody_key)?))
            }
            Phase::KeygenComplain
                if st.holders.contains(&number)
                    && !complaints.iter().any(|c| c.holder == number) =>
            {
                Some(Step::Complaints(pb::KeygenComplaints {
                    against: self.bad_dealers(custody_key, &st, number, &deals),
                }))
            }
            Phase::KeygenAnswer => {
                let answers = govchain_state::keygen::answers(&o, round)?;
                complaints
                    .iter()
                    .filter(|c| c.against.contains(&number))
                    .find(|c| {
                        !answers
                            .iter()
                            .any(|a| a.dealer == number && a.holder == c.holder)
                    })
                    .map(|c| {
                        let share = self.dealt_share(&o, &st, number)?;
                        let dealt = share
                            .as_ref()
                            .map_or(keygen::Dealt::Fresh, keygen::Dealt::Share);
                        keygen::answer(
                            custody_key,
                            self.chain.chain_id(),
                            round,
                            st.threshold,
                            dealt,
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
            let margin = CLOSE_MARGIN_MS * u64::from(number);
            (st.phase_time_ms != 0 && now >= st.phase_time_ms + st.phase_ms + margin)
                .then_some(Step::Close(pb::KeygenClose {}))
        });
        Ok(step.map(|s| pb::CustodyKeygen {
            round,
            step: Some(s),
        }))
    }

    /// In a resharing, the share this dealer deals: its share of the key set in force.
    fn dealt_share(
        &self,
        o: &Overlay,
        st: &pb::KeygenState,
        number: u32,
    ) -> Result<Option<SecretShare>, ExecError> {
        if st.dealers.is_empty() {
            return Ok(None);
        }
        own_share(o, &self.custody_keys, number)
            .map_err(|e| node_error(format!("this holder's share to reshare: {e:#}")))?
            .map(Some)
            .ok_or_else(|| node_error("a resharing without a key set in force"))
    }

    fn deal(
        &self,
        o: &Overlay,
        st: &pb::KeygenState,
        number: u32,
        custody_key: &PrivateKey,
    ) -> Result<pb::KeygenDeal, ExecError> {
        let holders = st
            .holders
            .iter()
            .map(|&n| Ok((n, holder_key(o, n)?)))
            .collect::<Result<Vec<_>, ExecError>>()?;
        let share = self.dealt_share(o, st, number)?;
        let d = keygen::deal(
            custody_key,
            self.chain.chain_id(),
            st.round,
            st.threshold,
            share
                .as_ref()
                .map_or(keygen::Dealt::Fresh, keygen::Dealt::Share),
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
    fn bad_dealers(
        &self,
        custody_key: &PrivateKey,
        st: &pb::KeygenState,
        number: u32,
        deals: &[pb::KeygenDealRecord],
    ) -> Vec<u32> {
        deals
            .iter()
            .filter(|d| d.dealer != number)
            .filter(|d| {
                let bad = govchain_state::keygen::sub_share_of(custody_key, number, &st.holders, d).is_err();
                if bad {
                    tracing::warn!(dealer = d.dealer, validator = %d.validator, "complaining: its sub-share to this holder fails its check");
                }
                bad
            })
            .map(|d| d.dealer)
            .collect()
    }
}

/// The custody share number state registers for validator `id` (0 for none).
pub fn own_number(o: &Overlay, id: &str) -> Result<u32, ExecError> {
    Ok(govchain_state::compute::validator(o, id)?
        .filter(|v| !v.observer)
        .map_or(0, |v| v.custody_share))
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
    custody_keys: &[PrivateKey],
    number: u32,
) -> anyhow::Result<Option<SecretShare>> {
    Ok(own_share_with(o, custody_keys, number)?.map(|(share, _)| share))
}

/// [`own_share`], with the index in `custody_keys` of the key it was summed with.
fn own_share_with(
    o: &Overlay,
    custody_keys: &[PrivateKey],
    number: u32,
) -> anyhow::Result<Option<(SecretShare, usize)>> {
    let Some(set) = govchain_state::custody::key_set(o)? else {
        return Ok(None);
    };
    let deals = govchain_state::keygen::deals(o, set.round)?;
    let answers = govchain_state::keygen::answers(o, set.round)?;
    let mut failure = String::from("no custody key");
    for (i, key) in custody_keys.iter().enumerate() {
        match govchain_state::keygen::holder_share(key, number, &set, &deals, &answers) {
            Ok(share) => return Ok(Some((share, i))),
            Err(e) => failure = e,
        }
    }
    Err(anyhow::Error::msg(failure))
}

/// Waits (bounded by `stop`) until this validator holds a share of the key set in
/// force: its record has a share number, the set a public share for it, and
/// [`own_share`] sums a share that matches. Returns the share, the set's round, and
/// the index in `custody_keys` of the key it was summed with.
pub async fn share_in_force(
    chain: &Arc<Chain>,
    custody_keys: &[PrivateKey],
    validator_id: &str,
    stop: &mut watch::Receiver<bool>,
) -> Option<(SecretShare, u64, usize)> {
    let mut commits = chain.subscribe();
    let mut failed_round = None;
    loop {
        let o = Overlay::new(chain.store().clone());
        let set = govchain_state::custody::key_set(&o).ok().flatten();
        let number = own_number(&o, validator_id).unwrap_or(0);
        if let Some(set) = set.filter(|s| {
            Some(s.round) != failed_round
                && govchain_state::keygen::public_share(s, number).is_some()
        }) {
            match own_share_with(&o, custody_keys, number) {
                Ok(Some((share, key))) => return Some((share, set.round, key)),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, round = set.round, "this validator's custody share: it releases nothing until the holders reshare");
                    failed_round = Some(set.round);
                }
            }
        }
        tokio::select! {
            _ = commits.recv() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return None,
        }
    }
}

/// A stop signal for work done with the share of key set round `round` as holder
/// `number`: set when `stop` is, when the key set in force changes (a resharing ended),
/// or when this validator no longer holds that number.
pub fn until_reshared(
    chain: &Arc<Chain>,
    validator_id: &str,
    round: u64,
    number: u32,
    mut stop: watch::Receiver<bool>,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let (chain, id) = (chain.clone(), validator_id.to_string());
    tokio::spawn(async move {
        let mut commits = chain.subscribe();
        loop {
            let o = Overlay::new(chain.store().clone());
            let set_round = govchain_state::custody::key_set(&o)
                .ok()
                .flatten()
                .map(|s| s.round);
            if set_round != Some(round) || own_number(&o, &id).ok() != Some(number) {
                tracing::info!(
                    round,
                    share = number,
                    "the custody key set changed: this share stops"
                );
                let _ = tx.send(true);
                return;
            }
            tokio::select! {
                _ = commits.recv() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = tx.closed() => return,
                _ = stop.changed() => {
                    let _ = tx.send(true);
                    return;
                }
            }
        }
    });
    rx
}
