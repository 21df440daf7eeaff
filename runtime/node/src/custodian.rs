//! A validator's custodian: follows committed, allowed access requests and releases this
//! validator's decryption share of each certificate's data key, SM2-encrypted to the
//! requester, in one `ReleaseShares` transaction per round (`docs/design/custody.md`).
//!
//! Before computing anything it runs the same check execution runs
//! ([`govchain_state::custody::check_release`]) against committed state: nothing is
//! released for a denied, unknown or expired request, a revoked certificate or grant, or
//! a requester whose key changed. Execution checks again when the release is ordered.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use govchain_consensus::Chain;
use govchain_crypto::{PrivateKey, PublicKey};
use govchain_custody::{Envelope, SecretShare};
use govchain_state::custody::{self, MAX_RELEASES};
use govchain_state::{BlockContext, Overlay, keys};
use govchain_types::{TxError, pb};

use crate::follower::{Follower, Round, transact};

/// The custodian checks as if the release's block came this much later than the tip, so
/// a request about to leave its window is not released in a batch execution refuses.
const WINDOW_MARGIN_MS: u64 = 10_000;

/// A validator's custodian.
#[derive(Debug)]
pub(crate) struct Custodian {
    pub(crate) chain: Arc<Chain>,
    pub(crate) validator_id: String,
    pub(crate) key: PrivateKey,
    pub(crate) share: SecretShare,
    /// File keeping the first request not yet settled (a restart resumes there).
    pub(crate) cursor_file: PathBuf,
}

impl Follower for Custodian {
    type Work = pb::ShareRelease;
    const NAME: &'static str = "custodian";

    fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    fn cursor_file(&self) -> &Path {
        &self.cursor_file
    }

    /// Finds the requests this validator may release a share for, from `cursor` on, and
    /// computes each share (SM2-encrypted to its requester).
    fn scan(&self, cursor: u64) -> Result<Round<pb::ShareRelease>, TxError> {
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
        if let Err(e) = custody::holder(&o, &custody::validator_account(&self.validator_id)) {
            tracing::debug!(error = %e, "not a custody share holder (any more)");
            return Ok(round);
        }
        let mut settled_so_far = true;
        let mut after = cursor.checked_sub(1).map(keys::access_request);
        while let Some((k, v)) = o
            .next(keys::ACCESS_REQUESTS, after.as_deref())
            .map_err(|e| TxError::Internal(e.to_string()))?
        {
            after = Some(k);
            let req: pb::AccessRequest = govchain_types::decode("access request", &v)?;
            let settled = match custody::check_release(&o, &ctx, req.seq, self.share.number())
                .and_then(|(req, cert)| self.release(&req, &cert))
            {
                Ok(release) => {
                    round.work.push(release);
                    false
                }
                Err(TxError::AlreadyExists { .. }) => true,
                Err(TxError::ReleaseRefused { reason, .. }) => {
                    tracing::info!(request = req.seq, %reason, "not releasing a key share");
                    true
                }
                // One unreadable record must not stall every later request.
                Err(e) => {
                    tracing::warn!(request = req.seq, error = %e, "skipping a request the custodian cannot serve");
                    true
                }
            };
            if settled && settled_so_far {
                round.cursor = req.seq + 1;
            } else {
                settled_so_far = false;
            }
            if round.work.len() == MAX_RELEASES {
                break;
            }
        }
        Ok(round)
    }

    async fn submit(&self, releases: Vec<pb::ShareRelease>) {
        let (n, first) = (releases.len(), releases.first().map_or(0, |r| r.request));
        let payload = pb::payload::Kind::Release(pb::ReleaseShares { releases });
        let done = transact(
            Self::NAME,
            &self.chain,
            &self.validator_id,
            &self.key,
            vec![payload],
        )
        .await;
        if let Some(height) = done.first() {
            tracing::info!(
                releases = n,
                first_request = first,
                height,
                share = self.share.number(),
                "released key shares"
            );
        }
    }
}

impl Custodian {
    fn release(
        &self,
        req: &pb::AccessRequest,
        cert: &pb::Certificate,
    ) -> Result<pb::ShareRelease, TxError> {
        // Admission checked the envelope when the certificate was published.
        let envelope = Envelope::from_committed(&cert.key_envelope)
            .map_err(|e| TxError::Internal(format!("certificate {}: {e}", cert.id)))?;
        let requester = PublicKey::from_sec1(&req.requester_key)
            .map_err(|e| TxError::Internal(format!("request {}: {e}", req.seq)))?;
        let share = zeroize::Zeroizing::new(self.share.decryption_share(&envelope));
        Ok(pb::ShareRelease {
            request: req.seq,
            encrypted_share: requester.encrypt(&share[..]),
        })
    }
}
