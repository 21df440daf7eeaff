//! Who signs: a department, or one of its operators, and its SM2 key.

use govchain_crypto::{PrivateKey, Sm2Signer};
use govchain_proof::signed_read;
use govchain_types::pb;

/// A department (and optionally one of its operators) with its SM2 key.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The department.
    pub department: String,
    /// The operator, empty when the department's own key signs.
    pub operator: String,
    /// The key.
    pub key: PrivateKey,
}

impl Signer {
    /// The department's own key.
    pub fn new(department: impl Into<String>, key: PrivateKey) -> Self {
        Signer {
            department: department.into(),
            operator: String::new(),
            key,
        }
    }

    /// One of the department's operators.
    pub fn operator(
        department: impl Into<String>,
        operator: impl Into<String>,
        key: PrivateKey,
    ) -> Self {
        Signer {
            department: department.into(),
            operator: operator.into(),
            key,
        }
    }

    /// The nonce account: `department` or `department/operator`.
    pub fn account(&self) -> String {
        govchain_types::account_label(&self.department, &self.operator)
    }

    /// The body of a transaction from this signer (no expiry height; set
    /// `expiry_height` on it for one).
    pub fn body(&self, chain_id: &str, nonce: u64, payload: pb::payload::Kind) -> pb::TxBody {
        pb::TxBody {
            chain_id: chain_id.to_string(),
            sender: self.department.clone(),
            operator: self.operator.clone(),
            nonce,
            expiry_height: 0,
            payload: Some(pb::Payload {
                kind: Some(payload),
            }),
        }
    }

    /// Signs a transaction body.
    pub fn sign_body(&self, body: &pb::TxBody) -> pb::SignedTx {
        sign_body_with(body, &self.key)
    }

    /// Builds and signs a transaction.
    pub fn sign(&self, chain_id: &str, nonce: u64, payload: pb::payload::Kind) -> pb::SignedTx {
        self.sign_body(&self.body(chain_id, nonce, payload))
    }

    /// The `x-govchain-auth` header value of a signed read of `request` (encoded) sent
    /// as `to` says (`govchain_proof::signed_read`).
    pub fn read_header(&self, to: &signed_read::ReadTo<'_>, request: &[u8]) -> String {
        let bytes = signed_read::signing_bytes(to, request);
        let sig = self.key.sign(&bytes).to_bytes();
        signed_read::header_value(&self.department, &self.operator, to.time_ms, to.nonce, &sig)
    }
}

/// Signs a transaction body with `signer` (a key in memory or a cryptographic device).
pub fn sign_body_with(body: &pb::TxBody, signer: &dyn Sm2Signer) -> pb::SignedTx {
    let body = govchain_types::encode(body);
    pb::SignedTx {
        signature: signer.sign(&body).to_bytes().to_vec(),
        signer_pubkey: signer.public_key().to_sec1(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_verify_under_the_signers_key() {
        let s = Signer::operator("tax", "clerk-1", PrivateKey::generate());
        let tx = s.sign(
            "chain",
            4,
            pb::payload::Kind::Anchor(pb::Anchor {
                key: "k".into(),
                digest: vec![1; 32],
                note: String::new(),
            }),
        );
        let key = govchain_crypto::PublicKey::from_sec1(&tx.signer_pubkey).unwrap();
        let sig = govchain_crypto::Signature::from_slice(&tx.signature).unwrap();
        assert!(key.verify(&tx.body, &sig).is_ok());
        let body: pb::TxBody = govchain_types::decode("body", &tx.body).unwrap();
        assert_eq!((body.nonce, body.operator.as_str()), (4, "clerk-1"));
        assert_eq!(s.account(), "tax/clerk-1");
    }

    #[test]
    fn a_read_header_names_the_reader_time_and_nonce() {
        let s = Signer::new("audit", PrivateKey::generate());
        let to = signed_read::ReadTo {
            chain_id: "chain",
            audience: "node2",
            path: "/govchain.v1.Audit/Query",
            time_ms: 1_700_000_000_000,
            nonce: &[7; 16],
        };
        let h = s.read_header(&to, b"q");
        let parts: Vec<&str> = h.split(';').collect();
        assert_eq!(parts[..4], ["audit", "", "1700000000000", &"07".repeat(16)]);
        let sig = govchain_crypto::Signature::from_slice(&hex::decode(parts[4]).unwrap()).unwrap();
        let bytes = signed_read::signing_bytes(&to, b"q");
        assert!(s.key.public_key().verify(&bytes, &sig).is_ok());
        let elsewhere = signed_read::ReadTo {
            audience: "node3",
            ..to
        };
        let other = signed_read::signing_bytes(&elsewhere, b"q");
        assert!(
            s.key.public_key().verify(&other, &sig).is_err(),
            "bound to its node"
        );
    }
}
