//! A validator's custodian: follows committed, allowed access requests and releases this
//! validator's decryption share of each certificate's data key in two steps
//! (`docs/design/custody.md`): it approves the release, and once the approval has
//! committed it computes the share, encrypted to the request's recipient with its proof.
//! Both go out in `ReleaseShares` transactions of [`RELEASES_PER_TX`] steps (one
//! transaction carries approvals for new requests and shares for approved ones).
//!
//! Before approving it runs the same check execution runs
//! ([`govchain_state::access::release::check_release`]) against committed state: nothing is
//! approved for a denied, unknown or expired request, a revoked certificate or grant, or
//! a requester whose key changed. Execution checks again when the approval is ordered,
//! and checks each share's proof against this validator's public key share. A share is
//! never computed for a release whose approval has not committed, so a release refused
//! (a grant revoked while the approval was in flight) leaves nothing to decrypt.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use govchain_client::Entropy;
use govchain_consensus::Chain;
use govchain_crypto::SharedSigner;
use govchain_custody::{Envelope, SecretShare, release_context};
use govchain_state::access::release;
use govchain_state::custody::{self, MAX_RELEASES};
use govchain_state::{BlockContext, Overlay, tables};
use govchain_store::Records;
use govchain_types::{ExecError, TxError, pb};

use crate::follower::{Follower, Round, Seen, node_error, transact, walk};

/// The custodian checks as if the release's block came this much later than the tip, so
/// a request about to leave its window is not released in a batch execution refuses.
const WINDOW_MARGIN_MS: u64 = 10_000;

/// A validator's custodian.
#[derive(Debug)]
pub struct Custodian {
    /// The chain it follows and submits to.
    pub chain: Arc<Chain>,
    /// The validator it runs for.
    pub validator_id: String,
    /// The validator's key (releases are signed with it).
    pub key: SharedSigner,
    /// The validator's custody share.
    pub share: SecretShare,
    /// The round of the key set the share belongs to.
    pub round: u64,
    /// File keeping the first request not yet settled (a restart resumes there).
    pub cursor_file: PathBuf,
    /// Randomness of the released shares' encryption and proofs (the operating system's
    /// in a node).
    pub entropy: Entropy,
}

/// One step of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Approve releasing this validator's share for the request.
    Approve(u64),
    /// Deliver the share of a request whose approval has committed.
    Deliver(pb::ShareRelease),
}

impl Step {
    /// The access request it is for.
    pub fn request(&self) -> u64 {
        match self {
            Step::Approve(seq) => *seq,
            Step::Deliver(r) => r.request,
        }
    }
}

/// Steps per `ReleaseShares` transaction: a round's steps go out in transactions of this
/// many, so no one transaction makes a block slow to build and apply (a share's proof
/// costs about 0.8 ms to check on every node, an approval about 30 µs).
pub const RELEASES_PER_TX: usize = 64;

const _: () = assert!(RELEASES_PER_TX <= MAX_RELEASES);

/// Most shares released per round (the rest wait for the next scan, one block later).
const MAX_PER_ROUND: usize = 4 * RELEASES_PER_TX;

impl Follower for Custodian {
    type Work = Step;
    const NAME: &'static str = "custodian";
    const NICENESS: i32 = 10;

    fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    fn cursor_file(&self) -> &Path {
        &self.cursor_file
    }

    fn request(step: &Step) -> u64 {
        step.request()
    }

    /// From `cursor` on, leaving out the requests in flight: approves the requests this
    /// validator may release a share for, and computes the share, encrypted to its
    /// recipient, of each request whose approval has committed.
    fn scan(&self, cursor: u64, in_flight: &BTreeSet<u64>) -> Result<Round<Step>, ExecError> {
        let _span = tracing::debug_span!("custodian_scan", from = cursor).entered();
        let o = Overlay::new(self.chain.store().clone());
        let tip = self.chain.tip().header;
        let ctx = BlockContext {
            height: tip.height + 1,
            time_ms: tip.time_ms + WINDOW_MARGIN_MS,
            proposer: String::new(),
        };
        let mut round = Round {
            work: vec![],
            cursor,
        };
        // A validator removed by governance (or turned observer) releases nothing more.
        if let Err(e) = custody::holder(
            &o,
            &govchain_state::access::accounts::validator_account(&self.validator_id),
        ) {
            tracing::debug!(error = %e, "not a custody share holder (any more)");
            return Ok(round);
        }
        // A resharing ended: this share no longer verifies (the worker is stopping).
        let Some(set) = custody::key_set(&o)?.filter(|s| s.round == self.round) else {
            return Ok(round);
        };
        let window = release::window_ms(&set);
        let share = self.share.number();
        round.cursor = walk(&o, cursor, in_flight, |req| {
            let key = (req.seq, share);
            let step = if custody::released(&o, req.seq, share, self.round)? {
                Err(TxError::AlreadyExists {
                    what: format!("share {share} for request {}", req.seq),
                }
                .into())
            } else if o
                .contains(&tables::RELEASE_APPROVAL, key)
                .map_err(node_error)?
            {
                // Released under an earlier key set: again with this one while the
                // request is in its window (its requester may not have read it).
                if o.contains(&tables::RELEASE, key).map_err(node_error)?
                    && ctx.time_ms > req.time_ms.saturating_add(window)
                {
                    Err(TxError::AlreadyExists {
                        what: format!(
                            "share {share} for request {} of an earlier key set",
                            req.seq
                        ),
                    }
                    .into())
                } else {
                    self.release(&o, &req).map(Step::Deliver)
                }
            } else {
                release::check_release(&o, &ctx, req.seq, share).map(|_| Step::Approve(req.seq))
            };
            let settled = match step {
                Ok(step) => {
                    round.work.push(step);
                    false
                }
                Err(ExecError::Tx(TxError::AlreadyExists { .. })) => true,
                Err(ExecError::Tx(TxError::ReleaseRefused { reason, .. })) => {
                    tracing::info!(request = req.seq, %reason, "not releasing a key share");
                    true
                }
                // One unreadable record must not stall every later request.
                Err(e) => {
                    tracing::warn!(request = req.seq, error = %e, "skipping a request the custodian cannot serve");
                    true
                }
            };
            Ok(Seen {
                settled,
                full: round.work.len() == MAX_PER_ROUND,
            })
        })?;
        Ok(round)
    }

    async fn submit(&self, steps: Vec<Step>) {
        let (n, first) = (steps.len(), steps.first().map_or(0, Step::request));
        let payloads = release_payloads(steps);
        let done = transact(
            Self::NAME,
            &self.chain,
            &self.validator_id,
            &self.key,
            payloads,
        )
        .await;
        if let Some(height) = done.last() {
            tracing::info!(
                steps = n,
                transactions = done.len(),
                first_request = first,
                height,
                share = self.share.number(),
                "released key shares"
            );
        }
    }
}

/// The `ReleaseShares` transactions' payloads of a round's steps, [`RELEASES_PER_TX`]
/// each.
pub fn release_payloads(steps: Vec<Step>) -> Vec<pb::payload::Kind> {
    steps
        .chunks(RELEASES_PER_TX)
        .map(|c| {
            let mut tx = pb::ReleaseShares::default();
            for step in c {
                match step {
                    Step::Approve(seq) => tx.approvals.push(*seq),
                    Step::Deliver(r) => tx.releases.push(r.clone()),
                }
            }
            pb::payload::Kind::Release(tx)
        })
        .collect()
}

impl Custodian {
    /// This validator's share of request `req`'s data key, released to its recipient.
    fn release(&self, o: &Overlay, req: &pb::AccessRequest) -> Result<pb::ShareRelease, ExecError> {
        let _span = tracing::trace_span!("release_share", request = req.seq).entered();
        let cert = govchain_state::certs::get(o, &req.cert_id)?;
        // Admission checked the envelope and its proof when the certificate was published.
        let envelope = Envelope::parse(&cert.key_envelope)
            .map_err(|e| node_error(format!("certificate {}: {e}", cert.id)))?;
        let encrypted_share = self
            .share
            .release(
                &envelope,
                &req.requester_key,
                &release_context(self.chain.chain_id(), req.seq),
                &self.entropy.seed(),
            )
            .map_err(|e| node_error(format!("request {}: {e}", req.seq)))?;
        Ok(pb::ShareRelease {
            request: req.seq,
            encrypted_share,
        })
    }
}

#[cfg(test)]
mod tests {
    use govchain_consensus::ChainConfig;
    use govchain_crypto::PrivateKey;
    use govchain_state::VerifiedTx;
    use govchain_state::genesis::nanjing_access;
    use govchain_state::local::LocalChain;

    use super::*;

    const T0: u64 = 1_780_000_000_000;

    /// A chain of the 'nanjing' departments (the local chain signs their transactions)
    /// with its custody key generated, and validator node1's custodian on it.
    fn custodian(dir: &Path) -> (LocalChain, Custodian) {
        let local = LocalChain::nanjing(
            govchain_store::Store::in_memory().unwrap(),
            T0,
            [9; 32],
            nanjing_access(),
        )
        .unwrap();
        let store = Arc::new(govchain_store::Store::open(&dir.join("db"), false).unwrap());
        let config = ChainConfig {
            mempool_capacity: 10,
            mempool_per_account: 10,
        };
        let share = local.custody_share().to_bytes();
        let chain = Chain::open(store, &local.genesis, config).unwrap();
        for r in commit(&chain, local.keygen_block().to_vec()) {
            assert_eq!(r.status, pb::TxStatus::Ok as i32, "{}", r.error_message);
        }
        let custodian = Custodian {
            chain,
            validator_id: "node1".into(),
            key: govchain_crypto::signer::in_memory(PrivateKey::generate()),
            share: SecretShare::from_bytes(1, share.as_ref()).unwrap(),
            round: 1,
            cursor_file: dir.join("cursor"),
            entropy: Entropy::Os,
        };
        (local, custodian)
    }

    fn commit(chain: &Chain, txs: Vec<VerifiedTx>) -> Vec<pb::Receipt> {
        let time = chain.tip().header.time_ms + 1_000;
        let b = chain
            .produce_block(txs, time, "node1", &PrivateKey::generate())
            .unwrap();
        b.receipts.clone()
    }

    fn attr(r: &pb::Receipt, kind: &str, key: &str) -> String {
        assert_eq!(r.status, pb::TxStatus::Ok as i32, "{}", r.error_message);
        let e = r.events.iter().find(|e| e.kind == kind).unwrap();
        e.attributes
            .iter()
            .find(|a| a.key == key)
            .unwrap()
            .value
            .clone()
    }

    /// Publishes a property title and grants tax a read of it; then `dept` asks to read
    /// it for `purpose`. Returns the certificate, the grant and the request.
    fn read(
        local: &mut LocalChain,
        chain: &Chain,
        dept: &str,
        purpose: &str,
    ) -> (String, u64, u64) {
        let (cert, txs) = local.title_granted_to_tax();
        let r = commit(chain, txs.to_vec());
        let grant: u64 = attr(&r[1], "grant_created", "grant").parse().unwrap();
        let read = local.tx(
            dept,
            pb::payload::Kind::Request(pb::RequestAccess {
                cert_id: cert.clone(),
                purpose: purpose.into(),
            }),
        );
        let r = commit(chain, vec![read]);
        (
            cert,
            grant,
            attr(&r[0], "access", "request").parse().unwrap(),
        )
    }

    fn submit(local: &mut LocalChain, chain: &Chain, steps: Vec<Step>) -> Vec<pb::Receipt> {
        let txs = release_payloads(steps)
            .into_iter()
            .map(|p| local.tx("validator:node1", p))
            .collect();
        commit(chain, txs)
    }

    /// The race the two steps close: the custodian scans while tax's grant is live, the
    /// registry revokes the grant, and the custodian's transaction comes after. It is
    /// refused, and it carries no share: nothing tax could decrypt is on chain or in the
    /// custodian's hands. (In one step, as before, that refused transaction held tax's
    /// decryption share.)
    #[test]
    fn a_release_refused_for_a_revoked_grant_leaves_the_requester_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut local, custodian) = custodian(dir.path());
        let chain = custodian.chain.clone();
        let (cert, grant_id, request) = read(&mut local, &chain, "tax", "tax_assessment");

        // the custodian scans while the grant is live
        let round = custodian.scan(0, &BTreeSet::new()).unwrap();
        assert_eq!(round.work, [Step::Approve(request)]);
        // the grant is revoked before the custodian's transaction is ordered
        let revoke = local.tx(
            "real-estate",
            pb::payload::Kind::Revoke(pb::Revoke {
                cert_id: cert,
                grant_id,
                reason: "assessment done".into(),
            }),
        );
        commit(&chain, vec![revoke]);
        for p in release_payloads(round.work.clone()) {
            let pb::payload::Kind::Release(r) = p else {
                panic!("{p:?}")
            };
            assert!(r.releases.is_empty(), "a share left before its approval");
        }
        let r = submit(&mut local, &chain, round.work);
        assert_eq!(r[0].error_code, pb::ErrorCode::ReleaseRefused as u32);
        assert!(
            r[0].error_message.contains("revoked"),
            "{}",
            r[0].error_message
        );
        // nothing approved or released, and the custodian is done with the request
        let o = Overlay::new(chain.store().clone());
        assert!(!o.contains(&tables::RELEASE_APPROVAL, (request, 1)).unwrap());
        assert!(custody::releases(&o, request).unwrap().is_empty());
        let round = custodian.scan(0, &BTreeSet::new()).unwrap();
        assert!(round.work.is_empty(), "{:?}", round.work);
        assert_eq!(round.cursor, request + 1);
    }

    /// An allowed read: approved in one round, its share delivered in the next (and
    /// taken by execution), then settled.
    #[test]
    fn an_approved_release_is_delivered_in_the_next_round() {
        let dir = tempfile::tempdir().unwrap();
        let (mut local, custodian) = custodian(dir.path());
        let chain = custodian.chain.clone();
        let (_, _, request) = read(&mut local, &chain, "housing", "housing_eligibility");

        let round = custodian.scan(0, &BTreeSet::new()).unwrap();
        assert_eq!(round.work, [Step::Approve(request)]);
        let r = submit(&mut local, &chain, round.work);
        assert_eq!(
            attr(&r[0], "release_approved", "request"),
            request.to_string()
        );
        let round = custodian.scan(0, &BTreeSet::new()).unwrap();
        assert!(
            matches!(&round.work[..], [Step::Deliver(d)] if d.request == request),
            "{:?}",
            round.work
        );
        assert_eq!(round.cursor, 0, "not settled before its share commits");
        let r = submit(&mut local, &chain, round.work);
        assert_eq!(attr(&r[0], "key_released", "requester"), "housing");
        let round = custodian.scan(0, &BTreeSet::new()).unwrap();
        assert!(round.work.is_empty(), "{:?}", round.work);
        assert_eq!(round.cursor, request + 1);
    }
}
