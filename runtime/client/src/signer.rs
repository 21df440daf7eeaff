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

    /// The `x-govchain-auth` header value of a signed read of `request` (encoded) at
    /// method `path` and Unix time `time_ms` (`govchain_proof::signed_read`).
    pub fn read_header(&self, chain_id: &str, path: &str, time_ms: u64, request: &[u8]) -> String {
        let bytes = signed_read::signing_bytes(chain_id, path, time_ms, request);
        let sig = self.key.sign(&bytes).to_bytes();
        signed_read::header_value(&self.department, &self.operator, time_ms, &sig)
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
    fn a_read_header_names_the_reader_and_time() {
        let s = Signer::new("audit", PrivateKey::generate());
        let h = s.read_header("chain", "/govchain.v1.Audit/Query", 1_700_000_000_000, b"q");
        let parts: Vec<&str> = h.split(';').collect();
        assert_eq!(parts[..3], ["audit", "", "1700000000000"]);
        let sig = govchain_crypto::Signature::from_slice(&hex::decode(parts[3]).unwrap()).unwrap();
        let bytes = signed_read::signing_bytes(
            "chain",
            "/govchain.v1.Audit/Query",
            1_700_000_000_000,
            b"q",
        );
        assert!(s.key.public_key().verify(&bytes, &sig).is_ok());
    }
}
