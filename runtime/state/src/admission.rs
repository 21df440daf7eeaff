//! Admission checks for signed transactions: everything that can be decided before
//! ordering, cheapest first, with the SM2 verification last. A transaction that passes
//! is a [`VerifiedTx`]; its signature is never verified again on this node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use govchain_crypto::fastverify::{self, KeyTableStats, KeyTables, PreparedKey};
use govchain_crypto::{PublicKey, Signature, sm3};
use govchain_store::{Records, Store};
use govchain_types::{ExecError, Hash, TxError, account_label, decode, pb};

use crate::access::accounts::registered_key_in;
use crate::internal;
use crate::tables::{CHAIN_ID, NONCE, PARAMS};
use crate::{ChainParams, Result};

/// A transaction whose encoding, chain, size, account key and signature were checked.
#[derive(Debug, Clone)]
pub struct VerifiedTx {
    /// SM3 of the body.
    pub hash: Hash,
    /// Decoded body.
    pub body: pb::TxBody,
    /// The transaction as submitted.
    pub tx: pb::SignedTx,
}

impl VerifiedTx {
    /// `department` or `department/operator`: the nonce account.
    pub fn account(&self) -> String {
        account_label(&self.body.sender, &self.body.operator)
    }
}

/// Reads chain-wide constants once and checks transactions against committed state.
#[derive(Debug, Clone)]
pub struct Admission {
    store: Arc<Store>,
    chain_id: String,
    params: ChainParams,
    /// Verification tables of registered keys, shared by every clone.
    tables: Arc<KeyTables>,
    /// Registered keys of the current admission height, shared by every clone.
    registry: Arc<Mutex<RegistryCache>>,
}

impl Admission {
    /// Loads chain id and parameters from committed state (genesis must be applied).
    pub fn new(store: Arc<Store>) -> Result<Self> {
        Ok(Admission {
            chain_id: crate::genesis_record(&*store, &CHAIN_ID)?,
            params: crate::genesis_record(&*store, &PARAMS)?,
            store,
            tables: Arc::new(KeyTables::default()),
            registry: Arc::default(),
        })
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The chain parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// Decodes and checks `tx` for inclusion at `next_height`, verifying its signature.
    /// Nonce ordering against pending transactions is the mempool's part; this checks
    /// only that the nonce was not already committed.
    pub fn check(
        &self,
        tx: pb::SignedTx,
        next_height: u64,
    ) -> std::result::Result<VerifiedTx, ExecError> {
        self.check_batch(vec![tx], next_height)
            .pop()
            .expect("one result per transaction")
    }

    /// [`Admission::check`] of several transactions, their signatures verified together
    /// (one shared field inversion): one result per transaction, in order, each the
    /// verdict it gets alone.
    pub fn check_batch(
        &self,
        txs: Vec<pb::SignedTx>,
        next_height: u64,
    ) -> Vec<std::result::Result<VerifiedTx, ExecError>> {
        let staged = txs
            .into_iter()
            .map(|tx| {
                let body = self.decode_body(&tx)?;
                if body.expiry_height != 0 && body.expiry_height < next_height {
                    return Err(TxError::Expired {
                        expiry: body.expiry_height,
                        height: next_height,
                    }
                    .into());
                }
                let registered = self.registered_at(next_height, &body.sender, &body.operator)?;
                if registered != tx.signer_pubkey {
                    return Err(TxError::KeyMismatch {
                        account: account_label(&body.sender, &body.operator),
                        presented: PublicKey::from_sec1(&tx.signer_pubkey)
                            .map(|k| k.fingerprint())
                            .unwrap_or_else(|_| "(not an SM2 key)".into()),
                    }
                    .into());
                }
                self.stage(tx, body, |_, _| true)
            })
            .collect();
        self.finish(staged, |v| {
            let committed = committed_nonce(&self.store, &v.body.sender, &v.body.operator)?;
            if v.body.nonce < committed {
                return Err(TxError::NonceReplayed {
                    account: account_label(&v.body.sender, &v.body.operator),
                    expected: committed,
                    got: v.body.nonce,
                }
                .into());
            }
            Ok(())
        })
    }

    /// The checks that depend on the transaction's bytes alone: size, encoding, chain,
    /// payload and SM2 signatures. A block from the leader is held to these only:
    /// whether a transaction's key, nonce or expiry still hold is decided by execution
    /// (a failed receipt), identically on every node, whatever each node's mempool held.
    pub fn verify(&self, tx: pb::SignedTx) -> std::result::Result<VerifiedTx, ExecError> {
        self.verify_batch(vec![tx])
            .pop()
            .expect("one result per transaction")
    }

    /// [`Admission::verify`] of several transactions, their signatures verified together.
    /// A signer whose key is registered on chain gets (or reuses) a prepared table; any
    /// other key is verified the generic way and leaves nothing behind.
    pub fn verify_batch(
        &self,
        txs: Vec<pb::SignedTx>,
    ) -> Vec<std::result::Result<VerifiedTx, ExecError>> {
        let staged = txs
            .into_iter()
            .map(|tx| {
                let body = self.decode_body(&tx)?;
                // A held table is used as it is; otherwise only the key registered for
                // the account in committed state earns one.
                let registered = |body: &pb::TxBody, sec1: &[u8]| {
                    registered_key_in(&*self.store, &body.sender, &body.operator)
                        .is_ok_and(|k| k == sec1)
                };
                self.stage(tx, body, registered)
            })
            .collect();
        self.finish(staged, |_| Ok(()))
    }

    /// The key registered for an account, as admission at `next_height` sees it. Read
    /// once per account and height: a block committed in between can make it stale by
    /// one block, as it could before (admission is a pre-check; execution checks the key
    /// again when it executes the transaction).
    fn registered_at(
        &self,
        next_height: u64,
        dept: &str,
        operator: &str,
    ) -> std::result::Result<Vec<u8>, ExecError> {
        let account = (dept.to_string(), operator.to_string());
        {
            let mut cache = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            if cache.height != next_height {
                *cache = RegistryCache {
                    height: next_height,
                    keys: HashMap::new(),
                };
            } else if let Some(k) = cache.keys.get(&account) {
                return Ok(k.clone());
            }
        }
        let key = registered_key_in(&*self.store, dept, operator)?;
        let mut cache = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if cache.height == next_height {
            cache.keys.insert(account, key.clone());
        }
        Ok(key)
    }

    /// Memory and hit counts of the per-key verification tables.
    pub fn key_table_stats(&self) -> KeyTableStats {
        self.tables.stats()
    }

    /// Everything about one transaction but the SM2 arithmetic: the signer's key (with
    /// its table if one is held, or if `registered` says the key is the account's on
    /// chain: asked only when no table is held), and the signatures to verify.
    fn stage(
        &self,
        tx: pb::SignedTx,
        body: pb::TxBody,
        registered: impl FnOnce(&pb::TxBody, &[u8]) -> bool,
    ) -> std::result::Result<Staged, ExecError> {
        let sig = Signature::from_slice(&tx.signature).map_err(|e| TxError::BadSignature {
            reason: format!("signature encoding: {e}"),
        })?;
        let mut checks = vec![SigCheck {
            msg: None,
            sig,
            failure: "SM2 verification failed",
        }];
        if let Some(pb::payload::Kind::Publish(p)) =
            body.payload.as_ref().and_then(|p| p.kind.as_ref())
        {
            // The issuer's signature over the certificate, made with the same key: the
            // requester checks it again after decrypting, so it must be right on chain.
            let sig =
                Signature::from_slice(&p.issuer_signature).map_err(|e| TxError::BadSignature {
                    reason: format!("issuer_signature encoding: {e}"),
                })?;
            checks.push(SigCheck {
                msg: Some(crate::certs::signing_bytes(&self.chain_id, p)),
                sig,
                failure: "issuer_signature does not verify over the certificate",
            });
            // Validators release shares of this envelope later: it must be an SM2
            // ciphertext of a 16-byte key whose publisher proves it made it for this
            // certificate (else `r·C1` of another's envelope would get shares that
            // unblind into that envelope's key).
            if p.key_envelope.is_empty() {
                return Err(TxError::MissingField {
                    field: "key_envelope".into(),
                }
                .into());
            }
            let context = govchain_custody::envelope_context(
                &self.chain_id,
                &govchain_proof::certificate::cert_id(&p.cert_type, &p.number),
            );
            govchain_custody::Envelope::parse(&p.key_envelope)
                .and_then(|e| e.verify_proof(&p.key_envelope_proof, &context))
                .map_err(|e| TxError::InvalidArgument {
                    field: "key_envelope",
                    reason: e.to_string(),
                })?;
        }
        let key = match self.tables.get_sec1(&tx.signer_pubkey) {
            Some(prepared) => SignerKey::Prepared(prepared),
            None => {
                let key =
                    PublicKey::from_sec1(&tx.signer_pubkey).map_err(|e| TxError::BadSignature {
                        reason: format!("signer key: {e}"),
                    })?;
                if registered(&body, &tx.signer_pubkey) {
                    SignerKey::Prepared(self.tables.prepare(&key))
                } else {
                    SignerKey::Generic(key)
                }
            }
        };
        Ok(Staged {
            tx,
            body,
            key,
            checks,
        })
    }

    /// Verifies the staged transactions' signatures (the prepared ones in one batch, the
    /// rest one by one), then runs `last` on each that verified.
    fn finish(
        &self,
        staged: Vec<std::result::Result<Staged, ExecError>>,
        last: impl Fn(&VerifiedTx) -> std::result::Result<(), ExecError>,
    ) -> Vec<std::result::Result<VerifiedTx, ExecError>> {
        let mut items = Vec::new();
        for st in staged.iter().flatten() {
            if let SignerKey::Prepared(prepared) = &st.key {
                for c in &st.checks {
                    items.push((&**prepared, c.msg(&st.tx), &c.sig));
                }
            }
        }
        let mut verdicts = fastverify::verify_batch(&items).into_iter();
        staged
            .into_iter()
            .map(|st| {
                let st = st?;
                // Every verdict of this transaction is taken before any is judged: the
                // batch's verdicts are in order, and one left behind would become the
                // next transaction's.
                let oks: Vec<bool> = st
                    .checks
                    .iter()
                    .map(|c| match &st.key {
                        SignerKey::Prepared(_) => {
                            verdicts.next().expect("one verdict per batched signature")
                        }
                        SignerKey::Generic(key) => key.verify(c.msg(&st.tx), &c.sig).is_ok(),
                    })
                    .collect();
                if let Some((c, _)) = st.checks.iter().zip(oks).find(|(_, ok)| !ok) {
                    return Err(TxError::BadSignature {
                        reason: c.failure.into(),
                    }
                    .into());
                }
                let v = VerifiedTx {
                    hash: sm3(&st.tx.body),
                    body: st.body,
                    tx: st.tx,
                };
                last(&v)?;
                Ok(v)
            })
            .collect()
    }

    fn decode_body(&self, tx: &pb::SignedTx) -> std::result::Result<pb::TxBody, ExecError> {
        let size = prost::Message::encoded_len(tx);
        let max = self.params.max_tx_bytes as usize;
        if size > max {
            return Err(TxError::TooLarge { size, max }.into());
        }
        let body: pb::TxBody = decode("transaction body", &tx.body)?;
        if body.chain_id != self.chain_id {
            return Err(TxError::WrongChain {
                expected: self.chain_id.clone(),
                got: body.chain_id,
            }
            .into());
        }
        if body
            .payload
            .as_ref()
            .and_then(|p| p.kind.as_ref())
            .is_none()
        {
            return Err(TxError::MissingPayload.into());
        }
        Ok(body)
    }

    /// Next nonce of an account according to committed state.
    pub fn committed_nonce(
        &self,
        dept: &str,
        operator: &str,
    ) -> std::result::Result<u64, ExecError> {
        committed_nonce(&self.store, dept, operator)
    }
}

/// A transaction whose signatures are still to be verified.
struct Staged {
    tx: pb::SignedTx,
    body: pb::TxBody,
    key: SignerKey,
    checks: Vec<SigCheck>,
}

/// How a signer's signatures are verified.
enum SignerKey {
    /// With its table, in the batch.
    Prepared(Arc<PreparedKey>),
    /// The generic way: a key not registered on chain.
    Generic(PublicKey),
}

/// Registered keys read from committed state, for one admission height: the accounts
/// signing at a height are few, and each transaction would otherwise read and decode
/// its department's record.
#[derive(Debug, Default)]
struct RegistryCache {
    height: u64,
    keys: HashMap<(String, String), Vec<u8>>,
}

/// One signature of a transaction: over its body (`msg: None`) or over other bytes.
struct SigCheck {
    msg: Option<Vec<u8>>,
    sig: Signature,
    failure: &'static str,
}

impl SigCheck {
    fn msg<'a>(&'a self, tx: &'a pb::SignedTx) -> &'a [u8] {
        self.msg.as_deref().unwrap_or(&tx.body)
    }
}

fn committed_nonce(
    store: &Store,
    dept: &str,
    operator: &str,
) -> std::result::Result<u64, ExecError> {
    store
        .read_or_default(&NONCE, (dept, operator))
        .map_err(internal)
}
