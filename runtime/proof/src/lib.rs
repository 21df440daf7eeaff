//! What a party outside the node computes and checks for itself, in one crate that the
//! node, the CLI and the supervisor console's browser verifier (compiled to wasm32)
//! share, so the three can never disagree:
//!
//! - [`export`]: the audit export file and its verification against block headers and
//!   the validator keys of genesis ([`TrustAnchor`]);
//! - [`light`]: light verification: a header counts only with a commit certificate of
//!   the validator set in force at its height, walked from genesis;
//! - [`subject`]: national ID checks and `subject_id = SM3(chain salt || national ID)`;
//! - [`signed_read`]: the bytes a department signs to authenticate a read;
//! - [`certificate`]: a certificate's id, signing bytes and content hash;
//! - [`custody`]: the custody key set the validators generated, proven from genesis;
//! - [`commit`]: the signing bytes of consensus votes and proposals, validator sets and
//!   the commit certificate that decides a block;
//! - [`evidence`]: proof that a validator signed two contradicting consensus messages.
//!
//! It depends on nothing that cannot compile to `wasm32-unknown-unknown` (no store, no
//! gRPC, no threads).

pub mod certificate;
pub mod commit;
pub mod custody;
pub mod evidence;
pub mod export;
pub mod light;
pub mod receipt;
pub mod signed_read;
pub mod subject;

pub use export::{CSV_HEADER, EXPORT_FORMAT, ExportFile, ExportedRecord, RecordView, action_name};
pub use light::{ExportedCommit, ExportedHeader, ExportedSetChange, SetWalk};
pub use subject::{
    SALT_LEN, parse_date, parse_salt, salt_commitment, subject_id, validate_national_id,
};

use serde::{Deserialize, Serialize};

/// What a verifier trusts: the chain id and validator keys of a genesis document.
/// Read from the genesis JSON itself (other fields are ignored), so a verifier needs
/// nothing but that file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustAnchor {
    /// Chain id.
    pub chain_id: String,
    /// The genesis validators (and observers).
    pub validators: Vec<AnchorValidator>,
}

/// A genesis validator as a verifier sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorValidator {
    /// Validator id, as block headers name their proposer.
    pub id: String,
    /// SM2 public key, SEC1 uncompressed, hex.
    pub public_key: String,
    /// An observer replicates but does not vote.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observer: bool,
}

impl TrustAnchor {
    /// Reads the anchor out of a genesis document.
    pub fn from_genesis_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("not a genesis document: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_reads_a_genesis_document_and_ignores_the_rest() {
        let json = r#"{"chain_id":"c","genesis_time_ms":1,"salt_commitment":"07",
            "validators":[{"id":"node1","department":"tax","public_key":"04ab","custody_share":1}],
            "departments":[],"committee":{"members":[],"threshold":1}}"#;
        let a = TrustAnchor::from_genesis_json(json).unwrap();
        assert_eq!(a.chain_id, "c");
        assert_eq!(a.validators[0].id, "node1");
        assert!(TrustAnchor::from_genesis_json("{}").is_err());
    }

    #[test]
    fn csv_rows_quote_what_needs_it() {
        let r = RecordView {
            seq: 1,
            height: 2,
            time_ms: 3,
            tx_hash: "ab".into(),
            requester: "tax".into(),
            operator: String::new(),
            owner: "real-estate".into(),
            subject_id: "cd".into(),
            cert_id: "ef".into(),
            cert_type: "property".into(),
            purpose: "tax_assessment".into(),
            decision: "deny".into(),
            reason: "insufficient points: balance 1, price \"5\"".into(),
            points: 0,
            via: String::new(),
            grant_id: 0,
            action: "read".into(),
            request: 0,
        };
        let row = r.csv_row();
        assert!(row.contains(r#","insufficient points: balance 1, price ""5""","#));
        assert_eq!(row.split(',').count(), CSV_HEADER.split(',').count() + 1);
    }
}
