//! A validator's job runner (compute-to-data, `docs/design/compute.md`): follows the
//! committed compute jobs this validator executes (it runs a node of the certificate's
//! issuing department), collects the key shares validators released to it, opens the
//! document, runs the job's approved `job_<method>` read-only in the contract VM, and
//! posts only the result, signed with the validator key. The document never leaves this
//! process and is wiped after the run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use govchain_client::Entropy;
use govchain_client::shares::{open_document, verify_shares};
use govchain_consensus::Chain;
use govchain_crypto::PrivateKey;
use govchain_custody::{Envelope, KeySet};
use govchain_state::access::release;
use govchain_state::compute::{self, MAX_OUTPUT};
use govchain_state::contracts::certificate_view;
use govchain_state::custody;
use govchain_state::{BlockContext, Overlay, certs};
use govchain_types::{ExecError, pb};

use crate::follower::{Follower, Round, Seen, node_error, transact, walk};

/// Most results posted per round.
const MAX_PER_ROUND: usize = 64;
/// Rounds a job may fail to run (or its result be refused) before it is posted as failed.
const MAX_ATTEMPTS: u32 = 5;

/// A validator's job runner.
#[derive(Debug)]
pub struct JobRunner {
    /// The chain it follows and submits to.
    pub chain: Arc<Chain>,
    /// The validator it runs for.
    pub validator_id: String,
    /// The validator's key (results are signed with it, shares decrypted with it: an
    /// ElGamal decryption, `q·E1`, which the signing seam `Sm2Signer` does not offer, so
    /// a compute executor holds its key in memory).
    pub key: PrivateKey,
    /// File keeping the first request not yet settled (a restart resumes there).
    pub cursor_file: PathBuf,
    /// Rounds each unsettled job has been tried in.
    pub attempts: std::sync::Mutex<std::collections::BTreeMap<u64, u32>>,
    /// Randomness of the results' encryption to their requesters (the operating
    /// system's in a node).
    pub entropy: Entropy,
}

impl Follower for JobRunner {
    type Work = pb::ComputeResult;
    const NAME: &'static str = "job runner";

    fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    fn cursor_file(&self) -> &Path {
        &self.cursor_file
    }

    fn request(result: &pb::ComputeResult) -> u64 {
        result.request
    }

    /// Runs every job of this validator, from `cursor` on, whose key shares are in (and
    /// whose result is not in flight).
    fn scan(
        &self,
        cursor: u64,
        in_flight: &BTreeSet<u64>,
    ) -> Result<Round<pb::ComputeResult>, ExecError> {
        let o = Overlay::new(self.chain.store().clone());
        let mut round = Round {
            work: vec![],
            cursor,
        };
        // A validator removed by governance (or turned observer) runs nothing more.
        let voting = compute::validator(&o, &self.validator_id)?.is_some_and(|v| !v.observer);
        let Some(custody) = custody::key_set(&o)?.filter(|_| voting) else {
            return Ok(round);
        };
        let set = KeySet::from_bytes(&custody.public_key_set)
            .map_err(|e| node_error(format!("custody key set: {e}")))?;
        let window = release::window_ms(&custody);
        let tip = self.chain.tip().header;
        // Off chain, the clock may be read: an idle chain makes no blocks, and a job whose
        // shares never come must still end.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            .max(tip.time_ms);
        round.cursor = walk(&o, cursor, in_flight, |req| {
            let mine = req
                .job
                .as_ref()
                .is_some_and(|j| j.executor == self.validator_id);
            let settled = !mine
                || compute::result(&o, req.seq)?.is_some()
                || self.attempts(req.seq) >= 2 * MAX_ATTEMPTS && {
                    tracing::error!(
                        request = req.seq,
                        "the chain keeps refusing this compute job's result; skipping it"
                    );
                    true
                }
                || {
                    let expired = now > req.time_ms.saturating_add(window);
                    let attempts = self.attempts(req.seq);
                    let outcome = self.try_run(&o, &tip, &set, &req, expired);
                    // Waiting for key shares is not an attempt: under load they can take
                    // more than a few blocks, and scans run after every block.
                    if !matches!(outcome, Ok(None)) {
                        *self
                            .attempts
                            .lock()
                            .expect("attempts")
                            .entry(req.seq)
                            .or_default() += 1;
                    }
                    match outcome {
                        Ok(Some(result)) => round.work.push(result),
                        Ok(None) => {}
                        // A job that keeps failing on this node ends as failed, so neither
                        // the requester nor this scan waits for it forever.
                        Err(e) if expired || attempts >= MAX_ATTEMPTS => {
                            tracing::warn!(request = req.seq, error = %e, "giving up on a compute job");
                            let why = "the executor could not run the job";
                            let failed = self.failure(&req, &tip, why);
                            round.work.extend(failed);
                        }
                        Err(e) => {
                            tracing::warn!(request = req.seq, error = %e, "cannot run a compute job yet")
                        }
                    }
                    false
                };
            if settled && mine {
                self.attempts.lock().expect("attempts").remove(&req.seq);
            }
            Ok(Seen {
                settled,
                full: round.work.len() == MAX_PER_ROUND,
            })
        })?;
        Ok(round)
    }

    async fn submit(&self, results: Vec<pb::ComputeResult>) {
        let n = results.len();
        let payloads = results.into_iter().map(pb::payload::Kind::Result).collect();
        let done = transact(
            Self::NAME,
            &self.chain,
            &self.validator_id,
            &self.key,
            payloads,
        )
        .await;
        tracing::info!(posted = done.len(), of = n, "posted compute job results");
    }
}

impl JobRunner {
    /// Rounds job `request` has been run (or its result posted) in so far.
    fn attempts(&self, request: u64) -> u32 {
        let a = self.attempts.lock().expect("attempts");
        a.get(&request).copied().unwrap_or(0)
    }

    /// A signed failed result for job `req` saying `why` (to the requester only).
    fn failure(
        &self,
        req: &pb::AccessRequest,
        tip: &pb::BlockHeader,
        why: &str,
    ) -> Option<pb::ComputeResult> {
        let job = req.job.as_ref()?;
        let r = pb::ComputeResult {
            request: req.seq,
            code_hash: job.code_hash.clone(),
            state_height: tip.height,
            failed: true,
            ..Default::default()
        };
        self.seal(r, job, why.as_bytes()).ok()
    }

    /// Encrypts `plain` (the output, or why the job failed) to the requester and signs.
    fn seal(
        &self,
        mut r: pb::ComputeResult,
        job: &pb::ComputeSpec,
        plain: &[u8],
    ) -> Result<pb::ComputeResult, ExecError> {
        let requester = govchain_crypto::PublicKey::from_sec1(&job.requester_key)
            .map_err(|e| node_error(format!("request {}: requester key: {e}", r.request)))?;
        // The chain keeps a hiding commitment to the output, whose key travels to the
        // requester inside the encryption.
        let opening = self.entropy.seed();
        r.output = self
            .entropy
            .encrypt_to(&requester, &compute::seal_output(&opening, plain));
        r.output_hash = compute::output_commitment(&opening, plain).to_vec();
        let digest = compute::result_digest(self.chain.chain_id(), &r);
        r.signature = self.key.sign(&digest).to_bytes().to_vec();
        Ok(r)
    }

    /// The result of job `req` if it can be run (or can no longer be), `None` while its
    /// key shares are still coming.
    fn try_run(
        &self,
        o: &Overlay,
        tip: &pb::BlockHeader,
        set: &KeySet,
        req: &pb::AccessRequest,
        expired: bool,
    ) -> Result<Option<pb::ComputeResult>, ExecError> {
        let _span = tracing::info_span!("compute_job", request = req.seq).entered();
        let job = req
            .job
            .as_ref()
            .ok_or_else(|| node_error(format!("request {} is no job", req.seq)))?;
        let cert = certs::get(o, &req.cert_id)?;
        let envelope = Envelope::parse(&cert.key_envelope)
            .map_err(|e| node_error(format!("certificate {}: {e}", cert.id)))?;
        let releases = custody::releases(o, req.seq)?;
        let (_, good) = verify_shares(
            set,
            self.chain.chain_id(),
            &envelope,
            req,
            &releases,
            &self.key,
            &self.validator_id,
        );
        let mut result = pb::ComputeResult {
            request: req.seq,
            code_hash: job.code_hash.clone(),
            state_height: tip.height,
            ..Default::default()
        };
        let fail = |mut r: pb::ComputeResult, why: String| {
            r.failed = true;
            self.seal(r, job, why.as_bytes()).map(Some)
        };
        if good.len() < set.threshold() {
            if !expired {
                return Ok(None);
            }
            let why = format!(
                "only {} valid key share(s) of the {} needed were released within the request's window",
                good.len(),
                set.threshold()
            );
            return fail(result, why);
        }
        let doc = match open_document(set, &good, &envelope, &cert) {
            Ok(d) => d,
            Err(e) => return fail(result, e.to_string()),
        };
        result.input_hash = cert.content_hash.clone();
        let input = match job_input(&job.args, &certificate_view(&cert, req.seq), &doc) {
            Ok(i) => i,
            Err(e) => return fail(result, e),
        };
        let ctx = BlockContext {
            height: tip.height,
            time_ms: tip.time_ms,
            proposer: String::new(),
        };
        let mut input = input;
        let (outcome, gas) =
            self.chain
                .executor()
                .run_job(&ctx, req, std::mem::take(&mut *input))?;
        result.gas_used = gas;
        tracing::info!(contract = %job.contract, method = %job.method, gas, ok = outcome.is_ok(), "ran a compute job");
        match outcome {
            Ok(out) if out.len() > MAX_OUTPUT => fail(
                result,
                format!(
                    "the job's output of {} bytes exceeds {MAX_OUTPUT}",
                    out.len()
                ),
            ),
            Ok(out) if out.is_empty() => fail(result, "the job returned nothing".into()),
            Ok(out) => self.seal(result, job, &out).map(Some),
            Err(e) => fail(result, e.chars().take(MAX_OUTPUT / 4).collect()),
        }
    }
}

/// `{"args": …, "certificate": …, "document": …}` built from the raw bytes, so the
/// decrypted document is copied only into buffers that are wiped when dropped.
fn job_input(args: &[u8], view: &[u8], doc: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    use serde::de::IgnoredAny;
    serde_json::from_slice::<IgnoredAny>(doc)
        .map_err(|e| format!("the certificate's document is not JSON: {e}"))?;
    let args: &[u8] = if args.is_empty() { b"null" } else { args };
    serde_json::from_slice::<IgnoredAny>(args)
        .map_err(|e| format!("the job's arguments are not JSON: {e}"))?;
    let mut input =
        zeroize::Zeroizing::new(Vec::with_capacity(args.len() + view.len() + doc.len() + 48));
    for part in [
        &b"{\"args\":"[..],
        args,
        b",\"certificate\":",
        view,
        b",\"document\":",
        doc,
        b"}",
    ] {
        input.extend_from_slice(part);
    }
    Ok(input)
}

#[cfg(test)]
mod conformance {
    //! Conformance vector `compute.job_result` (`conformance/vectors.json`): the result
    //! the job runner posts for a job, signed over `compute::result_digest`.

    use super::*;
    use crate::conformance::{genesis, harness, key};

    const FILE: &str = "runtime/node/src/jobs.rs";

    #[test]
    fn every_vector_of_this_file_is_checked() {
        harness::assert_file_covered(FILE, &["compute.job_result"]);
    }

    #[test]
    fn compute_job_result() {
        let v = harness::vector("compute.job_result");
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(govchain_store::Store::open(&dir.path().join("db"), false).unwrap());
        let config = govchain_consensus::ChainConfig {
            mempool_capacity: 10,
            mempool_per_account: 10,
        };
        let runner = JobRunner {
            chain: Chain::open(store, &genesis(), config).unwrap(),
            validator_id: v.text("executor").into(),
            key: key(v.text("executor_key")),
            cursor_file: dir.path().join("cursor"),
            attempts: Default::default(),
            entropy: Entropy::Os,
        };
        let requester = key(v.text("requester_key"));
        let job = pb::ComputeSpec {
            contract: v.text("contract").into(),
            method: v.text("method").into(),
            args: v.text("args").as_bytes().to_vec(),
            code_hash: v.bytes("code_hash"),
            executor: v.text("executor").into(),
            requester_key: requester.public_key().to_sec1(),
        };
        let result = pb::ComputeResult {
            request: v.u64("request"),
            code_hash: v.bytes("code_hash"),
            input_hash: v.bytes("input_hash"),
            gas_used: v.u64("gas_used"),
            state_height: v.u64("state_height"),
            ..Default::default()
        };
        let output = v.text("output").as_bytes();
        let sealed = runner.seal(result, &job, output).unwrap();
        // The output is encrypted to the requester afresh each time behind a fresh
        // commitment key, and the digest and signature cover it: what is pinned is the
        // commitment under the vector's key. The signature must verify over
        // `compute.result_digest` under the genesis chain id.
        let opened = requester.decrypt(&sealed.output).unwrap();
        assert_eq!(
            compute::open_output(&opened, &sealed.output_hash),
            Some(output)
        );
        assert_ne!(sealed.output_hash, govchain_crypto::sm3(output), "hiding");
        v.check(
            "output_hash",
            compute::output_commitment(&v.bytes("opening"), output),
        );
        let digest = compute::result_digest(&genesis().chain_id, &sealed);
        let signature = govchain_crypto::Signature::from_slice(&sealed.signature).unwrap();
        key(v.text("executor_key"))
            .public_key()
            .verify(&digest, &signature)
            .expect("the result's signature verifies over its digest");
        v.finish();
    }
}
