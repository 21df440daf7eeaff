//! A validator's custodian: follows committed, allowed access requests and releases this
//! validator's decryption share of each certificate's data key, SM2-encrypted to the
//! requester, in one `ReleaseShares` transaction per round (`docs/design/custody.md`).
//!
//! Before computing anything it runs the same check execution runs
//! ([`govchain_state::custody::check_release`]) against committed state: nothing is
//! released for a denied, unknown or expired request, a revoked certificate or grant, or
//! a requester whose key changed. Execution checks again when the release is ordered.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use govchain_consensus::Chain;
use govchain_crypto::{PrivateKey, PublicKey};
use govchain_custody::{Envelope, SecretShare};
use govchain_state::custody::{self, MAX_RELEASES};
use govchain_state::{BlockContext, Overlay, keys};
use govchain_types::{TxError, pb};
use tokio::sync::watch;

use crate::client::Signer;

/// How long a submitted release may take to commit before the next round retries.
const COMMIT_WAIT: Duration = Duration::from_secs(15);
/// Rounds also run on this tick, so a release lost in a leader change is retried.
const TICK: Duration = Duration::from_secs(2);
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

/// What one scan found.
#[derive(Debug, Default)]
struct Round {
    releases: Vec<pb::ShareRelease>,
    /// Lowest request seq not yet settled (released and committed, or refused).
    cursor: u64,
}

impl Custodian {
    /// Runs until `stop` turns true.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let signer = Signer {
            department: custody::validator_account(&self.validator_id),
            operator: String::new(),
            key: self.key.clone(),
        };
        let this = Arc::new(self);
        let mut commits = this.chain.subscribe();
        let mut cursor = load_cursor(&this.cursor_file);
        tracing::info!(validator = %this.validator_id, share = this.share.number(), from_request = cursor, "custodian started");
        loop {
            let scan = {
                let this = this.clone();
                tokio::task::spawn_blocking(move || this.scan(cursor)).await
            };
            match scan {
                Ok(Ok(round)) => {
                    if round.cursor != cursor {
                        cursor = round.cursor;
                        save_cursor(&this.cursor_file, cursor);
                    }
                    if !round.releases.is_empty() && !*stop.borrow() {
                        this.submit(&signer, round.releases).await;
                        continue;
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "custodian scan failed; retrying"),
                Err(e) => tracing::error!(error = %e, "custodian scan panicked; retrying"),
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = commits.recv() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Finds the requests this validator may release a share for, from `cursor` on, and
    /// computes each share (SM2-encrypted to its requester).
    fn scan(&self, cursor: u64) -> Result<Round, TxError> {
        let _span = tracing::debug_span!("custodian_scan", from = cursor).entered();
        let o = Overlay::new(self.chain.store().clone());
        let tip = self.chain.tip().header;
        let ctx = BlockContext {
            height: tip.height + 1,
            time_ms: tip.time_ms + WINDOW_MARGIN_MS,
            proposer: String::new(),
        };
        let mut round = Round {
            releases: vec![],
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
                    round.releases.push(release);
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
            if round.releases.len() == MAX_RELEASES {
                break;
            }
        }
        Ok(round)
    }

    fn release(
        &self,
        req: &pb::AccessRequest,
        cert: &pb::Certificate,
    ) -> Result<pb::ShareRelease, TxError> {
        // Admission checked the envelope when the certificate was published.
        let envelope = Envelope::parse(&cert.key_envelope)
            .map_err(|e| TxError::Internal(format!("certificate {}: {e}", cert.id)))?;
        let requester = PublicKey::from_sec1(&req.requester_key)
            .map_err(|e| TxError::Internal(format!("request {}: {e}", req.seq)))?;
        let share = zeroize::Zeroizing::new(self.share.decryption_share(&envelope));
        Ok(pb::ShareRelease {
            request: req.seq,
            encrypted_share: requester.encrypt(&share[..]),
        })
    }

    async fn submit(&self, signer: &Signer, releases: Vec<pb::ShareRelease>) {
        let n = releases.len();
        let first = releases.first().map_or(0, |r| r.request);
        let nonce = match self.chain.next_nonce(&signer.department, "") {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "custodian: no nonce");
                return;
            }
        };
        let tx = signer.sign(
            self.chain.chain_id(),
            nonce,
            pb::payload::Kind::Release(pb::ReleaseShares { releases }),
        );
        let result = self.chain.submit(vec![tx], true).await.pop();
        let receiver = match result {
            Some(Ok((_, Some(r)))) => r,
            Some(Err(e)) => {
                tracing::warn!(error = %e, releases = n, "custodian: release not admitted");
                tokio::time::sleep(TICK).await;
                return;
            }
            _ => return,
        };
        match tokio::time::timeout(COMMIT_WAIT, receiver).await {
            Ok(Ok(r)) if r.status == pb::TxStatus::Ok as i32 => {
                tracing::info!(
                    releases = n,
                    first_request = first,
                    height = r.height,
                    share = self.share.number(),
                    "released key shares"
                );
            }
            Ok(Ok(r)) => {
                tracing::warn!(releases = n, error = %r.error_message, "release transaction failed; the next round re-checks")
            }
            _ => tracing::warn!(
                releases = n,
                "release not committed in time; the next round re-checks"
            ),
        }
    }
}

/// The first request not yet settled, as kept in `file` (0 when there is none).
pub(crate) fn load_cursor(file: &std::path::Path) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Best effort: a lost cursor only makes the next start scan from an earlier request.
pub(crate) fn save_cursor(file: &std::path::Path, cursor: u64) {
    let tmp = file.with_extension("tmp");
    let r = std::fs::write(&tmp, cursor.to_string()).and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = r {
        tracing::warn!(error = %e, file = %file.display(), "cannot save a cursor");
    }
}
