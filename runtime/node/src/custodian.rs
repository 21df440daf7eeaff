//! A validator's custodian: follows committed, allowed access requests and releases this
//! validator's decryption share of each certificate's data key, encrypted to the
//! request's recipient with its proof, in `ReleaseShares` transactions of
//! [`RELEASES_PER_TX`] shares (`docs/design/custody.md`).
//!
//! Before computing anything it runs the same check execution runs
//! ([`govchain_state::access::release::check_release`]) against committed state: nothing is
//! released for a denied, unknown or expired request, a revoked certificate or grant, or
//! a requester whose key changed. Execution checks again when the release is ordered,
//! and checks each share's proof against this validator's public key share.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use govchain_client::Entropy;
use govchain_consensus::Chain;
use govchain_crypto::PrivateKey;
use govchain_custody::{Envelope, SecretShare, release_context};
use govchain_state::access::release;
use govchain_state::custody::{self, MAX_RELEASES};
use govchain_state::{BlockContext, Overlay};
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
    pub key: PrivateKey,
    /// The validator's custody share.
    pub share: SecretShare,
    /// File keeping the first request not yet settled (a restart resumes there).
    pub cursor_file: PathBuf,
    /// Randomness of the released shares' encryption and proofs (the operating system's
    /// in a node).
    pub entropy: Entropy,
}

/// Shares per `ReleaseShares` transaction: a round's releases go out in transactions of
/// this many, so no one transaction makes a block slow to build and apply (a share costs
/// about 30 µs to execute, a read about 50 µs).
pub const RELEASES_PER_TX: usize = 64;

const _: () = assert!(RELEASES_PER_TX <= MAX_RELEASES);

/// Most shares released per round (the rest wait for the next scan, one block later).
const MAX_PER_ROUND: usize = 4 * RELEASES_PER_TX;

impl Follower for Custodian {
    type Work = pb::ShareRelease;
    const NAME: &'static str = "custodian";

    fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    fn cursor_file(&self) -> &Path {
        &self.cursor_file
    }

    fn request(release: &pb::ShareRelease) -> u64 {
        release.request
    }

    /// Finds the requests this validator may release a share for, from `cursor` on, and
    /// computes each share, sealed to its requester, leaving out the requests in flight.
    fn scan(
        &self,
        cursor: u64,
        in_flight: &BTreeSet<u64>,
    ) -> Result<Round<pb::ShareRelease>, ExecError> {
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
        round.cursor = walk(&o, cursor, in_flight, |req| {
            let settled = match release::check_release(&o, &ctx, req.seq, self.share.number())
                .and_then(|(req, cert)| self.release(&req, &cert))
            {
                Ok(release) => {
                    round.work.push(release);
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

    async fn submit(&self, releases: Vec<pb::ShareRelease>) {
        let (n, first) = (releases.len(), releases.first().map_or(0, |r| r.request));
        let payloads = release_payloads(releases);
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
                releases = n,
                transactions = done.len(),
                first_request = first,
                height,
                share = self.share.number(),
                "released key shares"
            );
        }
    }
}

/// The `ReleaseShares` transactions' payloads of a round's releases, [`RELEASES_PER_TX`]
/// each.
pub fn release_payloads(releases: Vec<pb::ShareRelease>) -> Vec<pb::payload::Kind> {
    releases
        .chunks(RELEASES_PER_TX)
        .map(|c| {
            pb::payload::Kind::Release(pb::ReleaseShares {
                releases: c.to_vec(),
            })
        })
        .collect()
}

impl Custodian {
    /// This validator's share of `cert`'s data key, released to `req`'s recipient.
    fn release(
        &self,
        req: &pb::AccessRequest,
        cert: &pb::Certificate,
    ) -> Result<pb::ShareRelease, ExecError> {
        let _span = tracing::trace_span!("release_share", request = req.seq).entered();
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
