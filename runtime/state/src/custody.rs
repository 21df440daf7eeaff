//! Threshold custody of data keys on chain (`docs/design/custody.md`): the allowed
//! requests validators may release key shares for, the release transaction, and the one
//! check both execution and the validators' custodians apply before a release.
//!
//! A validator sends as the account `validator:<id>`, signed by its validator key, and
//! may send nothing but releases. A release takes two steps: the validator approves it
//! (execution checks the policy, grant, certificate and window in force), and once the
//! approval has committed it delivers its share, encrypted to the request's recipient
//! with a proof that execution checks against the validator's public key share: a wrong
//! share is refused (`BAD_KEY_SHARE`) and its validator named. A refused release has no
//! share in it, on chain or anywhere.

use govchain_store::{Records, Store};
use govchain_types::event::{Event, KeyReleased, ReleaseApproved};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use govchain_types::{ExecError, Hash, TxError, pb};

use crate::access::accounts::Account;
use crate::access::audit;
use crate::access::release::{check_release, refused};
use crate::{BlockContext, Overlay, StateWrites, VerifiedTx, internal, tables};

/// Most releases in one transaction.
pub const MAX_RELEASES: usize = 1_000;

/// The custody key set, once key generation has made it.
pub fn key_set(o: &Overlay) -> Result<Option<pb::CustodyKeySet>, ExecError> {
    o.read(&tables::CUSTODY, ()).map_err(internal)
}

/// Why there is no custody key set yet: the chain has no custody, or its key
/// generation is still running (naming its round and phase).
pub fn no_key_set(o: &Overlay) -> Result<String, ExecError> {
    Ok(match crate::keygen::state(o)? {
        None => {
            "this chain has no custody (genesis `custody`), so no one could decrypt a certificate"
                .into()
        }
        Some(k) => format!(
            "the validators have not generated the custody key yet (round {}, {} phase)",
            k.round,
            crate::keygen::phase_name(k.phase())
        ),
    })
}

/// An allowed access request kept for release.
pub fn request(o: &Overlay, seq: u64) -> Result<Option<pb::AccessRequest>, ExecError> {
    o.read(&tables::ACCESS_REQUEST, seq).map_err(internal)
}

/// The shares released for a request under the key set in force, by share number
/// (shares released before a resharing no longer combine with the new ones; the
/// custodians release again).
pub fn releases(o: &Overlay, seq: u64) -> Result<Vec<pb::ReleasedShare>, ExecError> {
    let round = key_set(o)?.map(|s| s.round);
    let all: Vec<pb::ReleasedShare> =
        crate::values(o, &tables::RELEASE, tables::RELEASE.within(seq))?;
    Ok(all
        .into_iter()
        .filter(|r| Some(r.key_round) == round)
        .collect())
}

/// Whether holder `share` has released its share for request `seq` under the key set
/// in force (round `round`).
pub fn released(o: &Overlay, seq: u64, share: u32, round: u64) -> Result<bool, ExecError> {
    Ok(o.read(&tables::RELEASE, (seq, share))
        .map_err(internal)?
        .is_some_and(|r| r.key_round == round))
}

/// Keeps an allowed request so validators can release key shares for it, encrypted to
/// `recipient_key`: the requester's own key, or for a compute job its executor's.
pub(crate) fn record_request(
    o: &mut Overlay,
    tx: &VerifiedTx,
    record: &pb::AuditRecord,
    recipient_key: Vec<u8>,
    job: Option<pb::ComputeSpec>,
) {
    let rec = pb::AccessRequest {
        seq: record.seq,
        cert_id: record.cert_id.clone(),
        requester: record.requester.clone(),
        operator: record.operator.clone(),
        purpose: record.purpose.clone(),
        height: record.height,
        time_ms: record.time_ms,
        grant_id: record.grant_id,
        tx_hash: tx.hash.to_vec(),
        requester_key: recipient_key,
        job,
    };
    o.write(&tables::ACCESS_REQUEST, record.seq, &rec);
}

/// The validator behind a `validator:<id>` sender, if it holds a custody share.
pub fn holder(o: &Overlay, sender: &str) -> Result<pb::Validator, ExecError> {
    let not_holder = |action| TxError::Unauthorized {
        who: sender.to_string(),
        action,
    };
    let Account::Validator(id) = Account::parse(sender) else {
        return Err(not_holder("release key shares (only validators do)").into());
    };
    let v = o
        .read(&tables::VALIDATOR, id)
        .map_err(internal)?
        .ok_or(not_holder("release key shares (not a validator)"))?;
    if v.observer || v.custody_share == 0 {
        return Err(
            not_holder("release key shares (this validator holds no custody share)").into(),
        );
    }
    Ok(v)
}

/// Executes a validator's [`pb::ReleaseShares`]: its approvals (each checked against
/// the policy, grant, certificate and window in force) and its shares for requests it
/// approved in an earlier transaction (each checked against its proof). Everything is
/// checked before anything is written, so the transaction applies all of it or none.
pub(crate) fn release(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    r: &pb::ReleaseShares,
    ahead: &Verdicts,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let v = holder(o, &tx.body.sender)?;
    shape(r)?;
    let approved = r
        .approvals
        .iter()
        .map(|&seq| check_release(o, ctx, seq, v.custody_share))
        .collect::<Result<Vec<_>, _>>()?;
    let delivered = check_deliveries(o, tx, &v, &r.releases, ahead)?;
    for (req, _) in approved {
        let approval = pb::ReleaseApproval {
            request: req.seq,
            share: v.custody_share,
            validator: v.id.clone(),
            height: ctx.height,
            tx_hash: tx.hash.to_vec(),
        };
        o.write(
            &tables::RELEASE_APPROVAL,
            (req.seq, v.custody_share),
            &approval,
        );
        events.push(
            Event::from(ReleaseApproved {
                request: req.seq,
                share: v.custody_share,
                validator: v.id.clone(),
            })
            .to_pb(),
        );
    }
    let pb::CustodyKeySet {
        threshold, round, ..
    } = key_set(o)?.unwrap_or_default();
    for Delivery {
        release,
        request: req,
        cert,
        approved_at,
    } in delivered
    {
        let stored = pb::ReleasedShare {
            request: req.seq,
            share: v.custody_share,
            validator: v.id.clone(),
            encrypted_share: release.encrypted_share.clone(),
            height: ctx.height,
            tx_hash: tx.hash.to_vec(),
            key_round: round,
        };
        o.write(&tables::RELEASE, (req.seq, v.custody_share), &stored);
        let reason = format!(
            "key share {} (of {threshold} needed) released by validator {} ({}) for request {}{}, approved at height {approved_at}",
            v.custody_share,
            v.id,
            v.department,
            req.seq,
            req.job.as_ref().map_or_else(String::new, |j| format!(
                ", to compute job executor {} (not to {})",
                j.executor, req.requester
            ))
        );
        let record = audit::follow_up(
            ctx,
            &tx.hash,
            &req,
            &cert,
            pb::AuditAction::KeyRelease,
            reason,
        );
        audit::append(o, record)?;
        events.push(
            Event::from(KeyReleased {
                request: req.seq,
                share: v.custody_share,
                validator: v.id.clone(),
                requester: req.requester.clone(),
                cert: cert.id.clone(),
            })
            .to_pb(),
        );
    }
    Ok(())
}

/// What a release transaction must be before anything in it is looked up: not empty, at
/// most [`MAX_RELEASES`] approvals and releases, each request listed once.
fn shape(r: &pb::ReleaseShares) -> Result<(), ExecError> {
    let count = r.approvals.len() + r.releases.len();
    if count == 0 {
        return Err(TxError::MissingField {
            field: "approvals or releases".into(),
        }
        .into());
    }
    if count > MAX_RELEASES {
        return Err(TxError::InvalidArgument {
            field: "releases",
            reason: format!("at most {MAX_RELEASES} approvals and releases per transaction"),
        }
        .into());
    }
    let mut seen = BTreeSet::new();
    for seq in r
        .approvals
        .iter()
        .chain(r.releases.iter().map(|x| &x.request))
    {
        if !seen.insert(*seq) {
            return Err(TxError::InvalidArgument {
                field: "releases",
                reason: format!("request {seq} listed twice"),
            }
            .into());
        }
    }
    Ok(())
}

/// A share checked for delivery.
struct Delivery<'a> {
    release: &'a pb::ShareRelease,
    request: pb::AccessRequest,
    cert: pb::Certificate,
    approved_at: u64,
}

/// Validator `v`'s shares in a release transaction, with what their proofs are
/// checked against (read from state by [`gather`]).
struct Shares<'a> {
    deliveries: Vec<Delivery<'a>>,
    envelopes: Vec<govchain_custody::Envelope>,
    contexts: Vec<Vec<u8>>,
    /// The releasing validator (named in a refusal), its share number and its public
    /// key share under the key set in force.
    validator: String,
    number: u32,
    public: Vec<u8>,
}

impl Shares<'_> {
    /// Every share's proof, in one batch: the first bad one named.
    fn verify(&self) -> Result<(), ExecError> {
        let checks: Vec<govchain_custody::ShareCheck<'_>> = self
            .deliveries
            .iter()
            .zip(&self.envelopes)
            .zip(&self.contexts)
            .map(|((d, envelope), context)| govchain_custody::ShareCheck {
                public: &self.public,
                number: self.number,
                bytes: &d.release.encrypted_share,
                envelope,
                recipient: &d.request.requester_key,
                context,
            })
            .collect();
        govchain_custody::verify_shares(&checks).map_err(|(i, e)| {
            TxError::BadKeyShare {
                validator: self.validator.clone(),
                request: self.deliveries[i].request.seq,
                reason: e.to_string(),
            }
            .into()
        })
    }

    /// SM3 of everything [`Shares::verify`] reads, each field length-prefixed: two
    /// batches with the same digest get the same verdict, refusal message included.
    fn digest(&self) -> Hash {
        let mut bytes = Vec::new();
        let mut put = |b: &[u8]| {
            bytes.extend_from_slice(&(b.len() as u64).to_be_bytes());
            bytes.extend_from_slice(b);
        };
        put(self.validator.as_bytes());
        put(&self.number.to_be_bytes());
        put(&self.public);
        for (d, context) in self.deliveries.iter().zip(&self.contexts) {
            put(&d.release.encrypted_share);
            put(&d.cert.key_envelope);
            put(&d.request.requester_key);
            put(context);
        }
        govchain_crypto::sm3(&bytes)
    }
}

/// Reads what validator `v`'s shares are checked against: each for a request whose
/// release it approved in a committed transaction, not yet delivered, with its
/// certificate's envelope, the recipient and the request. The policy was checked at the
/// approval, the decision point: a revocation after it is a revocation after the read.
fn gather<'a>(
    o: &Overlay,
    tx: &VerifiedTx,
    v: &pb::Validator,
    releases: &'a [pb::ShareRelease],
) -> Result<Shares<'a>, ExecError> {
    let custody = key_set(o)?.unwrap_or_default();
    let public = crate::keygen::public_share(&custody, v.custody_share).ok_or_else(|| {
        TxError::Unauthorized {
            who: tx.body.sender.clone(),
            action: "release key shares (its share number is not in the custody key set in force: a resharing to it has not ended)",
        }
    })?;
    let share = v.custody_share;
    let mut deliveries = Vec::with_capacity(releases.len());
    let mut envelopes = Vec::with_capacity(releases.len());
    for rel in releases {
        let seq = rel.request;
        let approval = o
            .read(&tables::RELEASE_APPROVAL, (seq, share))
            .map_err(internal)?
            .ok_or_else(|| {
                refused(
                    seq,
                    format!(
                        "validator {} has no committed approval of releasing share {share} for it (a share is delivered only once its approval has committed)",
                        v.id
                    ),
                )
            })?;
        // A share released under an earlier key set is replaced.
        if released(o, seq, share, custody.round)? {
            return Err(TxError::AlreadyExists {
                what: format!("share {share} for request {seq}"),
            }
            .into());
        }
        let req = request(o, seq)?
            .ok_or_else(|| internal(format!("approved request {seq} is not kept")))?;
        let cert = crate::certs::get(o, &req.cert_id)?;
        envelopes.push(
            govchain_custody::Envelope::parse(&cert.key_envelope)
                .map_err(|e| internal(format!("certificate {}: {e}", cert.id)))?,
        );
        deliveries.push(Delivery {
            release: rel,
            request: req,
            cert,
            approved_at: approval.height,
        });
    }
    let contexts = deliveries
        .iter()
        .map(|d| govchain_custody::release_context(&tx.body.chain_id, d.request.seq))
        .collect();
    Ok(Shares {
        deliveries,
        envelopes,
        contexts,
        validator: v.id.clone(),
        number: share,
        public: public.to_vec(),
    })
}

/// Checks validator `v`'s shares ([`gather`]) and their proofs against the validator's
/// public key share, or takes the verdict the block reached on the same inputs before
/// its transactions ran ([`check_ahead`]): it is a function of them alone.
fn check_deliveries<'a>(
    o: &Overlay,
    tx: &VerifiedTx,
    v: &pb::Validator,
    releases: &'a [pb::ShareRelease],
    ahead: &Verdicts,
) -> Result<Vec<Delivery<'a>>, ExecError> {
    if releases.is_empty() {
        return Ok(vec![]);
    }
    let shares = gather(o, tx, v, releases)?;
    match ahead.get(&shares.digest()) {
        Some(verdict) => verdict.clone()?,
        None => shares.verify()?,
    }
    Ok(shares.deliveries)
}

/// Verdicts on batches of key shares, by the SM3 digest of everything their check reads.
pub type Verdicts = BTreeMap<Hash, Result<(), ExecError>>;

/// The key shares of a block's release transactions, checked before its transactions
/// run, each transaction's batch on a thread of the pool, against the state the block
/// starts from. Transactions run one after the other; their share proofs, most of a
/// block's execution under reads, need not. A release whose inputs an earlier
/// transaction of the block changed (a resharing that ended) has another digest and is
/// checked when it runs.
///
/// Only what could deliver is checked ahead, so that a block costs no more than it did
/// checked in place: a release transaction in good shape (at most [`MAX_RELEASES`]
/// entries, each request once) whose nonce follows its sender's, delivering shares no
/// earlier transaction of the block delivers. Anything else is left to execution, which
/// refuses most of it before any proof.
pub fn check_ahead(store: &Arc<Store>, base: &[Arc<StateWrites>], txs: &[VerifiedTx]) -> Verdicts {
    use rayon::prelude::*;
    let start = Overlay::over(store.clone(), base.to_vec());
    let mut next_nonce: BTreeMap<&str, u64> = BTreeMap::new();
    let mut delivering = BTreeSet::new();
    let mut ahead = Vec::new();
    for tx in txs {
        // Releases come from validator accounts, which send key generation steps, results
        // and evidence too: their nonces are followed through all of them.
        let sender = tx.body.sender.as_str();
        if !matches!(Account::parse(sender), Account::Validator(_)) {
            continue;
        }
        let expected = match next_nonce.get(sender) {
            Some(n) => *n,
            None => match start.read_or_default(&tables::NONCE, (sender, &tx.body.operator)) {
                Ok(n) => n,
                Err(_) => continue,
            },
        };
        if tx.body.nonce != expected {
            continue;
        }
        next_nonce.insert(sender, expected + 1);
        let Some(pb::payload::Kind::Release(r)) =
            tx.body.payload.as_ref().and_then(|p| p.kind.as_ref())
        else {
            continue;
        };
        if r.releases.is_empty() || shape(r).is_err() {
            continue;
        }
        if r.releases
            .iter()
            .all(|x| delivering.insert((sender, x.request)))
        {
            ahead.push((tx, r));
        }
    }
    ahead
        .par_iter()
        .filter_map(|(tx, r)| {
            let o = Overlay::over(store.clone(), base.to_vec());
            let v = holder(&o, &tx.body.sender).ok()?;
            let shares = gather(&o, tx, &v, &r.releases).ok()?;
            Some((shares.digest(), shares.verify()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Change = dyn Fn(&mut Shares<'_>);

    /// A verdict is taken from the digest of its inputs: each input the check reads
    /// must change the digest, and bytes moved between two inputs must too.
    #[test]
    fn a_share_batch_digest_covers_every_input_the_check_reads() {
        let release = pb::ShareRelease {
            request: 7,
            encrypted_share: vec![1; 8],
        };
        let other = pb::ShareRelease {
            request: 7,
            encrypted_share: vec![9; 8],
        };
        let shares = |release: &pb::ShareRelease, f: &Change| {
            let mut s = Shares {
                deliveries: vec![Delivery {
                    release,
                    request: pb::AccessRequest {
                        seq: 7,
                        requester_key: b"ab".to_vec(),
                        ..Default::default()
                    },
                    cert: pb::Certificate {
                        key_envelope: vec![2; 8],
                        ..Default::default()
                    },
                    approved_at: 3,
                }],
                envelopes: vec![],
                contexts: vec![b"c".to_vec()],
                validator: "node1".into(),
                number: 1,
                public: vec![4; 8],
            };
            f(&mut s);
            s.digest()
        };
        let base = shares(&release, &|_| {});
        assert_ne!(
            shares(&other, &|_| {}),
            base,
            "the share bytes are not in the digest"
        );
        let changes: [(&str, &Change); 7] = [
            ("validator", &|s| s.validator = "node2".into()),
            ("number", &|s| s.number = 2),
            ("public share", &|s| s.public[0] = 5),
            ("envelope", &|s| s.deliveries[0].cert.key_envelope[0] = 3),
            ("recipient", &|s| {
                s.deliveries[0].request.requester_key = b"ax".to_vec()
            }),
            ("context", &|s| s.contexts[0] = b"d".to_vec()),
            ("a byte moved from the recipient to the context", &|s| {
                s.deliveries[0].request.requester_key = b"a".to_vec();
                s.contexts[0] = b"bc".to_vec();
            }),
        ];
        for (what, change) in changes {
            assert_ne!(
                shares(&release, change),
                base,
                "{what} is not in the digest"
            );
        }
        // what the check does not read (the approval's height) leaves it as it is
        assert_eq!(shares(&release, &|s| s.deliveries[0].approved_at = 9), base);
    }
}
