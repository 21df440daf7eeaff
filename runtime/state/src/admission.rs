//! Admission checks for signed transactions: everything that can be decided before
//! ordering, cheapest first, with the SM2 verification last. A transaction that passes
//! is a [`VerifiedTx`]; its signature is never verified again on this node.

use std::sync::Arc;

use govchain_crypto::{PublicKey, Signature, sm3};
use govchain_store::Store;
use govchain_types::{Hash, TxError, decode, pb};

use crate::internal;
use crate::{ChainParams, Result, StateError, keys};

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

/// `department` or `department/operator`.
pub fn account_label(dept: &str, operator: &str) -> String {
    if operator.is_empty() {
        dept.to_string()
    } else {
        format!("{dept}/{operator}")
    }
}

/// Reads chain-wide constants once and checks transactions against committed state.
#[derive(Debug, Clone)]
pub struct Admission {
    store: Arc<Store>,
    chain_id: String,
    params: ChainParams,
}

impl Admission {
    /// Loads chain id and parameters from committed state (genesis must be applied).
    pub fn new(store: Arc<Store>) -> Result<Self> {
        let chain_id = store
            .state(keys::CHAIN_ID)?
            .ok_or_else(|| StateError::Genesis("chain id missing from state".into()))?;
        Ok(Admission {
            chain_id: String::from_utf8_lossy(&chain_id).into_owned(),
            params: crate::json_record(store.state(keys::PARAMS)?, "c/params")?,
            store,
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
    ) -> std::result::Result<VerifiedTx, TxError> {
        let body = self.decode_body(&tx)?;
        if body.expiry_height != 0 && body.expiry_height < next_height {
            return Err(TxError::Expired {
                expiry: body.expiry_height,
                height: next_height,
            });
        }
        let registered = registered_key(&self.store, &body.sender, &body.operator)?;
        if registered != tx.signer_pubkey {
            return Err(TxError::KeyMismatch {
                account: account_label(&body.sender, &body.operator),
                presented: PublicKey::from_sec1(&tx.signer_pubkey)
                    .map(|k| k.fingerprint())
                    .unwrap_or_else(|_| "(not an SM2 key)".into()),
            });
        }
        self.verify_signatures(&tx, &body)?;
        let committed = committed_nonce(&self.store, &body.sender, &body.operator)?;
        if body.nonce < committed {
            return Err(TxError::NonceReplayed {
                account: account_label(&body.sender, &body.operator),
                expected: committed,
                got: body.nonce,
            });
        }
        Ok(VerifiedTx {
            hash: sm3(&tx.body),
            body,
            tx,
        })
    }

    /// The checks that depend on the transaction's bytes alone: size, encoding, chain,
    /// payload and SM2 signatures. A block from the leader is held to these only:
    /// whether a transaction's key, nonce or expiry still hold is decided by execution
    /// (a failed receipt), identically on every node, whatever each node's mempool held.
    pub fn verify(&self, tx: pb::SignedTx) -> std::result::Result<VerifiedTx, TxError> {
        let body = self.decode_body(&tx)?;
        self.verify_signatures(&tx, &body)?;
        Ok(VerifiedTx {
            hash: sm3(&tx.body),
            body,
            tx,
        })
    }

    fn decode_body(&self, tx: &pb::SignedTx) -> std::result::Result<pb::TxBody, TxError> {
        let size = prost::Message::encoded_len(tx);
        let max = self.params.max_tx_bytes as usize;
        if size > max {
            return Err(TxError::TooLarge { size, max });
        }
        let body: pb::TxBody = decode("transaction body", &tx.body)?;
        if body.chain_id != self.chain_id {
            return Err(TxError::WrongChain {
                expected: self.chain_id.clone(),
                got: body.chain_id,
            });
        }
        if body
            .payload
            .as_ref()
            .and_then(|p| p.kind.as_ref())
            .is_none()
        {
            return Err(TxError::MissingPayload);
        }
        Ok(body)
    }

    fn verify_signatures(
        &self,
        tx: &pb::SignedTx,
        body: &pb::TxBody,
    ) -> std::result::Result<(), TxError> {
        let key = PublicKey::from_sec1(&tx.signer_pubkey).map_err(|e| TxError::BadSignature {
            reason: format!("signer key: {e}"),
        })?;
        let sig = Signature::from_slice(&tx.signature).map_err(|e| TxError::BadSignature {
            reason: format!("signature encoding: {e}"),
        })?;
        key.verify(&tx.body, &sig)
            .map_err(|_| TxError::BadSignature {
                reason: "SM2 verification failed".into(),
            })?;
        if let Some(pb::payload::Kind::Publish(p)) =
            body.payload.as_ref().and_then(|p| p.kind.as_ref())
        {
            // The issuer's signature over the certificate, made with the same key: the
            // requester checks it again after decrypting, so it must be right on chain.
            let sig =
                Signature::from_slice(&p.issuer_signature).map_err(|e| TxError::BadSignature {
                    reason: format!("issuer_signature encoding: {e}"),
                })?;
            key.verify(&crate::certs::signing_bytes(&self.chain_id, p), &sig)
                .map_err(|_| TxError::BadSignature {
                    reason: "issuer_signature does not verify over the certificate".into(),
                })?;
            // Validators compute decryption shares of this envelope later: it must be a
            // well-formed, valid ciphertext of a 16-byte key (a pairing check).
            if p.key_envelope.is_empty() {
                return Err(TxError::MissingField {
                    field: "key_envelope".into(),
                });
            }
            govchain_custody::Envelope::parse(&p.key_envelope).map_err(|e| {
                TxError::InvalidArgument {
                    field: "key_envelope",
                    reason: e.to_string(),
                }
            })?;
        }
        Ok(())
    }

    /// Next nonce of an account according to committed state.
    pub fn committed_nonce(&self, dept: &str, operator: &str) -> std::result::Result<u64, TxError> {
        committed_nonce(&self.store, dept, operator)
    }
}

/// The SEC1 public key registered for an account in committed state: a department, one
/// of its operators, or a validator (`validator:<id>`, its block-signing key).
pub(crate) fn registered_key_in(
    get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>>,
    dept: &str,
    operator: &str,
) -> std::result::Result<Vec<u8>, TxError> {
    if let Some(id) = dept.strip_prefix(crate::custody::VALIDATOR_ACCOUNT) {
        let raw = get(&keys::validator(id))
            .map_err(internal)?
            .filter(|_| operator.is_empty())
            .ok_or_else(|| TxError::UnknownDepartment {
                department: dept.to_string(),
            })?;
        let v: pb::Validator = decode("validator record", &raw)?;
        return Ok(v.public_key);
    }
    let raw = get(&keys::department(dept))
        .map_err(internal)?
        .ok_or_else(|| TxError::UnknownDepartment {
            department: dept.to_string(),
        })?;
    let d: pb::Department = decode("department record", &raw)?;
    if operator.is_empty() {
        return Ok(d.public_key);
    }
    d.operators
        .into_iter()
        .find(|o| o.id == operator)
        .map(|o| o.public_key)
        .ok_or_else(|| TxError::UnknownOperator {
            department: dept.to_string(),
            operator: operator.to_string(),
        })
}

fn registered_key(
    store: &Store,
    dept: &str,
    operator: &str,
) -> std::result::Result<Vec<u8>, TxError> {
    registered_key_in(|k| Ok(store.state(k)?), dept, operator)
}

fn committed_nonce(store: &Store, dept: &str, operator: &str) -> std::result::Result<u64, TxError> {
    keys::counter(
        store
            .state(&keys::nonce(dept, operator))
            .map_err(internal)?,
    )
}
