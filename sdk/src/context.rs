//! The call context: who called, at which height and block time.

use crate::env;

/// What a contract knows about the call it is running in.
#[derive(Debug, Clone)]
pub struct Context {
    caller: String,
    height: u64,
    time_ms: u64,
}

impl Context {
    pub(crate) fn from_env() -> Self {
        Context {
            caller: env::caller(),
            height: env::block_height(),
            time_ms: env::block_time_ms(),
        }
    }

    /// The calling department (`department` or `department/operator`).
    pub fn caller(&self) -> &str {
        &self.caller
    }

    /// The calling department without the operator.
    pub fn caller_department(&self) -> &str {
        self.caller.split('/').next().unwrap_or_default()
    }

    /// Height of the block being executed.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Block time from the block header, Unix milliseconds (never the wall clock).
    pub fn time_ms(&self) -> u64 {
        self.time_ms
    }

    /// Emits an event with string attributes (kept in the transaction's receipt). The
    /// kinds the chain itself emits (`govchain_abi::RESERVED_EVENT_KINDS`) are refused
    /// and the event dropped.
    pub fn emit(&self, kind: &str, attributes: &[(&str, &str)]) {
        let map: serde_json::Map<String, serde_json::Value> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        env::emit_event(kind, &serde_json::to_vec(&map).unwrap_or_default());
    }

    /// The calling department's credit points.
    pub fn points_balance(&self) -> i64 {
        env::points_balance()
    }

    /// Reads a certificate through the node's access gate on behalf of the caller:
    /// policy, points and audit apply exactly as for a direct read, and a read stays
    /// paid and audited even if the call fails afterwards. Returns the certificate's
    /// view as JSON bytes (see [`CertificateView`]); a denied read is an error naming
    /// the gate's reason. Queries cannot read certificates (a read needs a transaction).
    pub fn read_certificate(&self, cert_id: &str, purpose: &str) -> Result<Vec<u8>, String> {
        env::read_certificate(cert_id, purpose)
    }

    /// [`Context::read_certificate`], decoded.
    pub fn certificate(&self, cert_id: &str, purpose: &str) -> Result<CertificateView, String> {
        let raw = self.read_certificate(cert_id, purpose)?;
        serde_json::from_slice(&raw).map_err(|e| format!("certificate view: {e}"))
    }
}

/// What an allowed read returns: the certificate's public record. The document itself
/// stays encrypted on chain (no validator holds its key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertificateView {
    /// Certificate id.
    pub id: String,
    /// Certificate type, e.g. `property`.
    #[serde(rename = "type")]
    pub cert_type: String,
    /// Certificate number.
    pub number: String,
    /// Subject id, hex (SM3 of salt and national ID).
    pub subject_id: String,
    /// Issuing department.
    pub issuer: String,
    /// Issue date, YYYY-MM-DD.
    pub issued_on: String,
    /// Expiry date, YYYY-MM-DD, or empty.
    pub expires_on: String,
    /// `valid` (a revoked certificate is never returned).
    pub status: String,
    /// The type's metadata fields.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// SM3 of the document, hex.
    pub content_hash: String,
    /// Audit sequence number of this read.
    pub audit_seq: u64,
}

/// What a `#[job]` entry point receives: the requester's arguments, the certificate's
/// public record and its decrypted document. Only the data owner's node ever builds
/// this; the requester gets the job's result, never the input.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobInput<A> {
    /// The requester's arguments.
    pub args: A,
    /// The certificate the job runs over (`audit_seq` is the job's request id).
    pub certificate: CertificateView,
    /// The certificate's document (JSON), decrypted by the data owner's node.
    pub document: serde_json::Value,
}
