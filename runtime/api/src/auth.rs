//! Signed reads: who is asking, for the services that answer only some departments.
//!
//! A client signs `"govchain-read-v1\0"` followed by the length-prefixed chain id, gRPC
//! method path, Unix ms and the SM3 of the encoded request with its department's (or
//! operator's) SM2 key, and sends `x-govchain-auth: <dept>;<operator>;<unix ms>;<hex
//! signature>`. The node checks the key against chain state, the signature, and that
//! the time is within five minutes of its clock (reads are not replicated, so the API
//! may read the clock). The request hash binds the signature to these exact filters.

use govchain_consensus::Chain;
use govchain_crypto::{PublicKey, Signature};
use govchain_types::ErrorCode;
use tonic::{Request, Status};

use crate::error::{internal, status};

/// Largest accepted clock difference, ms.
pub const MAX_SKEW_MS: u64 = 300_000;

pub use govchain_proof::signed_read::{AUTH_METADATA, header_value, signing_bytes};

/// An authenticated reader.
#[derive(Debug, Clone)]
pub struct Reader {
    /// Department.
    pub department: String,
    /// Operator who signed, empty for the department's own key.
    pub operator: String,
    /// Its roles in chain state.
    pub roles: Vec<String>,
}

impl Reader {
    /// Whether the department holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The audit records this reader may see (`govchain_state::access::audit::Scope`): every
    /// record with the auditor role, else those where its department is a party.
    pub fn audit_scope(&self) -> govchain_state::access::audit::Scope<'_> {
        (!self.has_role(crate::services::access::AUDITOR)).then_some(self.department.as_str())
    }
}

fn unauthenticated(why: impl Into<String>) -> Status {
    status(ErrorCode::Unauthenticated, why)
}

/// Checks the signed read header of `req` for method `path`.
pub fn authenticate<M: prost::Message>(
    chain: &Chain,
    req: &Request<M>,
    path: &str,
) -> Result<Reader, Status> {
    let header = req
        .metadata()
        .get(AUTH_METADATA)
        .ok_or_else(|| {
            unauthenticated(format!(
                "{path} needs a signed {AUTH_METADATA} header (the CLI sends one with --as)"
            ))
        })?
        .to_str()
        .map_err(|_| unauthenticated("the auth header is not ASCII"))?;
    let parts: Vec<&str> = header.split(';').collect();
    let [dept, operator, time, sig] = parts[..] else {
        return Err(unauthenticated(
            "the auth header is <dept>;<operator>;<unix ms>;<hex signature>",
        ));
    };
    let time_ms: u64 = time
        .parse()
        .map_err(|_| unauthenticated("the auth time is not a number"))?;
    check_signed(
        chain,
        dept,
        operator,
        time_ms,
        sig,
        path,
        &req.get_ref().encode_to_vec(),
    )
}

/// Checks that `sig_hex` is `dept`'s (or its operator's) SM2 signature, made within
/// [`MAX_SKEW_MS`] of this node's clock, over the signed-read bytes of `path`,
/// `time_ms` and `request`; returns the reader. The gRPC header and the console's
/// sign-in both come here.
pub fn check_signed(
    chain: &Chain,
    dept: &str,
    operator: &str,
    time_ms: u64,
    sig_hex: &str,
    path: &str,
    request: &[u8],
) -> Result<Reader, Status> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if now.abs_diff(time_ms) > MAX_SKEW_MS {
        return Err(unauthenticated(format!(
            "the auth time is {} s off this node's clock (at most {} s)",
            now.abs_diff(time_ms) / 1000,
            MAX_SKEW_MS / 1000
        )));
    }
    let (d, key) =
        govchain_state::access::accounts::department_signer(chain.store(), dept, operator)
            .map_err(|e| crate::error::tx_status(&e))?;
    let bad = || {
        status(
            ErrorCode::BadSignature,
            "the auth signature does not verify",
        )
    };
    let sig = hex::decode(sig_hex)
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or_else(bad)?;
    let message = signing_bytes(chain.chain_id(), path, time_ms, request);
    PublicKey::from_sec1(&key)
        .map_err(internal)?
        .verify(&message, &sig)
        .map_err(|_| bad())?;
    Ok(Reader {
        department: dept.to_string(),
        operator: operator.to_string(),
        roles: d.roles,
    })
}
