//! Contract execution: the [`govchain_vm::Host`] the executor gives a running contract.

use std::sync::Arc;

use govchain_store::Records;
use govchain_types::{Hash, HashHex, pb};
use govchain_vm::{Entry, Host, HostError};

use crate::access::policy::Policy;
use crate::access::{gate, points};
use crate::tables::CONTRACT_DATA;
use crate::{BlockContext, Overlay};
use govchain_types::account_label;

/// Who calls a contract.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Sending department.
    pub department: String,
    /// Operator, empty for the department key.
    pub operator: String,
    /// The calling transaction (zero for a query).
    pub tx_hash: Hash,
}

/// A contract's view of the chain during one call: its own storage (keys scoped under
/// the contract's name) over the block's overlay, the caller, the block header, and
/// certificate reads through the access gate.
#[derive(Debug)]
pub struct ContractHost {
    /// The block's pending writes; moved in for the call and handed back after it.
    pub overlay: Overlay,
    contract: String,
    caller: Caller,
    ctx: BlockContext,
    /// The policy in force; `None` for read-only queries, which may not read
    /// certificates (a read must be paid and audited, so it needs a transaction).
    policy: Option<Arc<Policy>>,
    /// Reasons of the gate's denials during this call (a contract sees only the code
    /// `DENIED`; a failed call's receipt names the reason).
    pub denials: Vec<String>,
}

impl ContractHost {
    /// A host for `contract` called by `caller` in the block `ctx`.
    pub fn new(
        overlay: Overlay,
        contract: &str,
        caller: Caller,
        ctx: BlockContext,
        policy: Option<Arc<Policy>>,
    ) -> Self {
        ContractHost {
            overlay,
            contract: contract.to_string(),
            caller,
            ctx,
            policy,
            denials: Vec::new(),
        }
    }

    /// The key of the contract's own record `k`.
    fn key<'a>(&'a self, k: &'a [u8]) -> (&'a str, &'a [u8]) {
        (&self.contract, k)
    }
}

fn fatal(e: crate::StateError) -> HostError {
    HostError::Fatal(e.to_string())
}

impl Host for ContractHost {
    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        self.overlay
            .read(&CONTRACT_DATA, self.key(key))
            .map_err(|e| fatal(e.into()))
    }

    fn storage_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), HostError> {
        let k = (self.contract.as_str(), key);
        self.overlay.write(&CONTRACT_DATA, k, &value.to_vec());
        Ok(())
    }

    fn storage_remove(&mut self, key: &[u8]) -> Result<(), HostError> {
        let k = (self.contract.as_str(), key);
        self.overlay.remove(&CONTRACT_DATA, k);
        Ok(())
    }

    fn storage_next(
        &mut self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<Option<Entry>, HostError> {
        // The raw last part of a key encodes as itself: the key of `prefix` is the
        // prefix of every key that starts with it.
        let within = CONTRACT_DATA.key(self.key(prefix));
        let after = after.map(|a| CONTRACT_DATA.key(self.key(a)));
        Ok(self
            .overlay
            .records(&CONTRACT_DATA, within, after)
            .next()
            .transpose()
            .map_err(fatal)?
            .map(|((_, k), v)| (k, v)))
    }

    fn caller(&self) -> String {
        account_label(&self.caller.department, &self.caller.operator)
    }

    fn block_height(&self) -> u64 {
        self.ctx.height
    }

    fn block_time_ms(&self) -> u64 {
        self.ctx.time_ms
    }

    fn points_balance(&mut self) -> Result<i64, HostError> {
        points::balance(&self.overlay, &self.caller.department)
            .map(|b| b as i64)
            .map_err(|e| HostError::Fatal(e.to_string()))
    }

    /// Reads a certificate through the access gate as the calling department. Allowed:
    /// the certificate's view (JSON, see [`certificate_view`]); denied: the gate's
    /// reason. Either way the decision is audited and survives a later failure of the
    /// call.
    fn read_certificate(&mut self, cert_id: &str, purpose: &str) -> Result<Vec<u8>, HostError> {
        let Some(policy) = self.policy.clone() else {
            return Err(HostError::Denied(
                "queries and compute jobs cannot read certificates: every read is paid and audited, so it needs a transaction".into(),
            ));
        };
        let reader = gate::Reader {
            department: &self.caller.department,
            operator: &self.caller.operator,
            tx_hash: &self.caller.tx_hash,
            via: gate::Via::Contract(&self.contract),
            action: pb::AuditAction::Read,
        };
        let outcome = gate::read(
            &mut self.overlay,
            &self.ctx,
            &policy,
            &reader,
            cert_id,
            purpose,
        )
        .map_err(|e| match e {
            govchain_types::ExecError::Node(m) => HostError::Fatal(m.0),
            bad_input => {
                let m = bad_input.to_string();
                self.denials.push(m.clone());
                HostError::Denied(m)
            }
        })?;
        match outcome.certificate {
            Some(cert) => Ok(certificate_view(&cert, outcome.record.seq)),
            None => {
                self.denials.push(outcome.record.reason.clone());
                Err(HostError::Denied(outcome.record.reason))
            }
        }
    }
}

/// What a contract receives for an allowed read: the certificate's metadata and
/// content hash, and the audit sequence of the read (for a compute job, its request).
/// The document itself stays encrypted: no validator holds its key (compute jobs get
/// the plaintext off chain, on the data owner's node).
pub fn certificate_view(cert: &pb::Certificate, audit_seq: u64) -> Vec<u8> {
    let metadata: serde_json::Map<String, serde_json::Value> = cert
        .metadata
        .iter()
        .map(|a| (a.key.clone(), a.value.clone().into()))
        .collect();
    serde_json::json!({
        "id": cert.id,
        "type": cert.cert_type,
        "number": cert.number,
        "subject_id": HashHex(&cert.subject_id).to_string(),
        "issuer": cert.issuer,
        "issued_on": cert.issued_on,
        "expires_on": cert.expires_on,
        "status": if cert.status == pb::CertStatus::Valid as i32 { "valid" } else { "revoked" },
        "metadata": metadata,
        "content_hash": HashHex(&cert.content_hash).to_string(),
        "audit_seq": audit_seq,
    })
    .to_string()
    .into_bytes()
}
