//! Signed reads: who is asking, for the services that answer only some departments.
//!
//! A client signs `"govchain-read-v2\0"` followed by the length-prefixed chain id, the
//! id of the node it sends the read to, the gRPC method path, Unix ms, a random nonce and
//! the SM3 of the encoded request with its department's (or operator's) SM2 key, and
//! sends `x-govchain-auth: <dept>;<operator>;<unix ms>;<hex nonce>;<hex signature>`.
//! The node checks the key against chain state, the signature, that the read names this
//! node, that the time is within five minutes of its clock (reads are not replicated,
//! so the API may read the clock) and that it has not taken this reader's nonce before
//! in that time: a signed read seen on the wire cannot be replayed, here or at another
//! node. The request hash binds the signature to these exact filters.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use govchain_consensus::Chain;
use govchain_crypto::{PublicKey, Signature};
use govchain_proof::signed_read::ReadTo;
use govchain_types::ErrorCode;
use parking_lot::Mutex;
use tonic::{Request, Status};

use crate::error::{internal, status};

/// Largest accepted clock difference, ms.
pub const MAX_SKEW_MS: u64 = 300_000;
/// Most nonces remembered (reads within the last [`MAX_SKEW_MS`] twice over); past it a
/// node answers BUSY rather than forget one that could still be replayed.
const MAX_NONCES: usize = 200_000;
/// Longest nonce accepted, bytes.
const MAX_NONCE: usize = 64;
/// The one read a validator's account may sign.
const NONCE_PATH: &str = "/govchain.v1.Chain/GetNonce";

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
}

/// One signed read as the header (or the console's sign-in) carries it.
#[derive(Debug, Clone)]
pub struct SignedRead<'a> {
    /// Department.
    pub department: &'a str,
    /// Operator, empty for the department's key.
    pub operator: &'a str,
    /// Unix ms of signing.
    pub time_ms: u64,
    /// The reader's nonce.
    pub nonce: Vec<u8>,
    /// Hex SM2 signature.
    pub signature: &'a str,
}

/// Checks the signed reads sent to this node: each bound to it, fresh, and taken once.
#[derive(Debug)]
pub struct Authenticator {
    chain: Arc<Chain>,
    node_id: String,
    /// Bad signatures per address, of transactions and signed reads alike.
    bad: crate::limits::BadSignatures,
    /// Nonces taken, with when they may be forgotten (Unix ms), oldest first.
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    order: VecDeque<(u64, (String, Vec<u8>))>,
    nonces: HashMap<(String, Vec<u8>), u64>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Authenticator {
    /// Signed reads for node `node_id` of `chain`; an address may send
    /// `bad_signatures` failing signatures a minute (`api.limits.bad_signatures`).
    pub fn new(chain: Arc<Chain>, node_id: String, bad_signatures: u32) -> Self {
        Authenticator {
            chain,
            node_id,
            bad: crate::limits::BadSignatures::new(bad_signatures),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The chain whose keys the readers sign with.
    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    /// The count of bad signatures per address, shared with transaction admission.
    pub(crate) fn bad_signatures(&self) -> &crate::limits::BadSignatures {
        &self.bad
    }

    /// This node's id: the audience a read must name.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Checks the signed read header of `req` for method `path`.
    pub fn authenticate<M: prost::Message>(
        &self,
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
        let [department, operator, time, nonce, signature] = parts[..] else {
            return Err(unauthenticated(
                "the auth header is <dept>;<operator>;<unix ms>;<hex nonce>;<hex signature> (govchain-read-v2)",
            ));
        };
        let time_ms: u64 = time
            .parse()
            .map_err(|_| unauthenticated("the auth time is not a number"))?;
        let nonce = hex::decode(nonce)
            .ok()
            .filter(|n| (16..=MAX_NONCE).contains(&n.len()))
            .ok_or_else(|| unauthenticated("the auth nonce is not 16 to 64 bytes of hex"))?;
        let read = SignedRead {
            department,
            operator,
            time_ms,
            nonce,
            signature,
        };
        // An address that sent too many forgeries is refused before any verification,
        // and each forgery counts against it.
        let peer = req.remote_addr().map(|a| a.ip());
        self.bad.check(peer)?;
        self.check(&read, path, &req.get_ref().encode_to_vec())
            .inspect_err(|e| {
                let forged = e
                    .metadata()
                    .get(crate::error::CODE_METADATA)
                    .is_some_and(|c| c == ErrorCode::BadSignature.as_str_name());
                self.bad.add(peer, u32::from(forged));
            })
    }

    /// [`Authenticator::authenticate`] when `req` carries a signed read header, `None`
    /// when it carries none (an outsider's request, answered what outsiders may see).
    pub fn optional<M: prost::Message>(
        &self,
        req: &Request<M>,
        path: &str,
    ) -> Result<Option<Reader>, Status> {
        if req.metadata().get(AUTH_METADATA).is_none() {
            return Ok(None);
        }
        self.authenticate(req, path).map(Some)
    }

    /// Checks that `read` is its department's (or operator's) SM2 signature of the
    /// signed-read bytes of `request` at `path`, addressed to this node, within
    /// [`MAX_SKEW_MS`] of its clock, with a nonce not taken before; takes the nonce and
    /// returns the reader. The gRPC header and the console's sign-in both come here.
    pub fn check(
        &self,
        read: &SignedRead<'_>,
        path: &str,
        request: &[u8],
    ) -> Result<Reader, Status> {
        let now = now_ms();
        if now.abs_diff(read.time_ms) > MAX_SKEW_MS {
            return Err(unauthenticated(format!(
                "the auth time is {} s off this node's clock (at most {} s)",
                now.abs_diff(read.time_ms) / 1000,
                MAX_SKEW_MS / 1000
            )));
        }
        // A read seen before is refused before its signature costs a verification.
        self.replayed(read, now)?;
        let (d, key) = govchain_state::access::accounts::read_signer(
            self.chain.store(),
            read.department,
            read.operator,
        )
        .map_err(|e| crate::error::tx_status(&e))?;
        // A validator's account sends key shares and results; it reads only its nonce.
        if d.is_none() && path != NONCE_PATH {
            return Err(status(
                ErrorCode::Unauthorized,
                format!(
                    "'{}' is a validator's account: it reads only its nonce; read as the department that operates the node",
                    read.department
                ),
            ));
        }
        let bad = || {
            status(
                ErrorCode::BadSignature,
                format!(
                    "the auth signature does not verify: not signed by the key {} has registered now (a rotated or replaced key is refused), or for another node than {} (a read names the node it is sent to)",
                    govchain_types::account_label(read.department, read.operator),
                    self.node_id
                ),
            )
        };
        let sig = hex::decode(read.signature)
            .ok()
            .and_then(|s| Signature::from_slice(&s).ok())
            .ok_or_else(bad)?;
        let to = ReadTo {
            chain_id: self.chain.chain_id(),
            audience: &self.node_id,
            path,
            time_ms: read.time_ms,
            nonce: &read.nonce,
        };
        PublicKey::from_sec1(&key)
            .map_err(internal)?
            .verify(&signing_bytes(&to, request), &sig)
            .map_err(|_| bad())?;
        self.take_nonce(read, now)?;
        Ok(Reader {
            department: read.department.to_string(),
            operator: read.operator.to_string(),
            roles: d.map(|d| d.roles).unwrap_or_default(),
        })
    }

    /// Refuses `read` if its nonce was taken before (forgetting nonces whose reads can
    /// no longer pass the clock check).
    fn replayed(&self, read: &SignedRead<'_>, now: u64) -> Result<(), Status> {
        let key = nonce_key(read);
        let mut seen = self.seen.lock();
        while seen.order.front().is_some_and(|(until, _)| *until < now) {
            if let Some((_, k)) = seen.order.pop_front() {
                seen.nonces.remove(&k);
            }
        }
        if seen.nonces.contains_key(&key) {
            return Err(taken(read));
        }
        Ok(())
    }

    /// Takes `read`'s nonce, remembered until its time can no longer pass the clock
    /// check; refuses one taken before (by a read verified at the same time).
    fn take_nonce(&self, read: &SignedRead<'_>, now: u64) -> Result<(), Status> {
        let key = nonce_key(read);
        let mut seen = self.seen.lock();
        if seen.nonces.contains_key(&key) {
            return Err(taken(read));
        }
        if seen.nonces.len() >= MAX_NONCES {
            return Err(status(
                ErrorCode::Busy,
                "too many signed reads in the last minutes; retry shortly",
            ));
        }
        let until = read.time_ms.saturating_add(MAX_SKEW_MS).max(now) + MAX_SKEW_MS;
        seen.nonces.insert(key.clone(), until);
        seen.order.push_back((until, key));
        Ok(())
    }
}

/// The refusal of a read whose nonce was taken before.
fn taken(read: &SignedRead<'_>) -> Status {
    unauthenticated(format!(
        "this signed read of {} was already taken (nonce {}): sign each read anew",
        govchain_types::account_label(read.department, read.operator),
        hex::encode(&read.nonce)
    ))
}

/// A read's nonce as remembered: its account and the nonce.
fn nonce_key(read: &SignedRead<'_>) -> (String, Vec<u8>) {
    (
        govchain_types::account_label(read.department, read.operator),
        read.nonce.clone(),
    )
}

fn unauthenticated(why: impl Into<String>) -> Status {
    status(ErrorCode::Unauthenticated, why)
}
