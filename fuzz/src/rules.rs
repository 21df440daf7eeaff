//! A model of the certificate rules that `gate_sequence` holds the executor to: who may
//! publish, grant and revoke, with the error code when not, and when a certificate or a
//! grant has lapsed. It knows only what the receipts of the chain it follows say
//! (a grant's id comes from its receipt), in their order.

use std::collections::BTreeMap;

use govchain_types::{ErrorCode, pb};

/// A purpose that is not registered (requests and grants name it to be refused).
pub const UNREGISTERED: &str = "unregistered_purpose";

/// What a transaction is meant to do, with names resolved. Days are China Standard
/// Time day numbers (`govchain_state::certs::block_date`).
#[derive(Debug, Clone)]
pub enum Intent {
    /// Publish certificate `id` of `cert_type`.
    Publish {
        /// Sender.
        issuer: String,
        /// Certificate type id.
        cert_type: String,
        /// The certificate id the type and number give.
        id: String,
        /// Last day it may be read.
        expires: Option<i64>,
    },
    /// Grant `grantee` reads of `cert` for `purpose`.
    Grant {
        /// Sender.
        sender: String,
        /// Certificate id.
        cert: String,
        /// Department.
        grantee: String,
        /// Purpose id.
        purpose: String,
        /// Last height (0: none).
        until_height: u64,
        /// Last day.
        until: Option<i64>,
    },
    /// Ask to read `cert` for `purpose`.
    Request {
        /// Sender.
        sender: String,
        /// Certificate id.
        cert: String,
        /// Purpose id.
        purpose: String,
    },
    /// Revoke `cert`, or its grant.
    Revoke {
        /// Sender.
        sender: String,
        /// Certificate id.
        cert: String,
        /// Grant id (never 0); `None` revokes the certificate.
        grant: Option<u64>,
    },
}

/// A published certificate.
#[derive(Debug, Clone)]
pub struct Cert {
    /// Its type id.
    pub cert_type: String,
    /// The department that published it.
    pub issuer: String,
    /// Last day it may be read.
    pub expires: Option<i64>,
    /// Whether its issuer revoked it.
    pub revoked: bool,
    /// Its grants, in the order they were created.
    pub grants: Vec<u64>,
}

impl Cert {
    /// Whether it can no longer be read on day `today`.
    pub fn lapsed(&self, today: i64) -> bool {
        self.revoked || self.expires.is_some_and(|d| d < today)
    }
}

/// A grant.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Certificate id.
    pub cert: String,
    /// The department it lets read.
    pub grantee: String,
    /// For this purpose.
    pub purpose: String,
    /// Last height (0: none).
    pub until_height: u64,
    /// Last day.
    pub until: Option<i64>,
    /// Whether it was revoked.
    pub revoked: bool,
}

impl Grant {
    /// Whether it lets its grantee read at `height` on day `today`.
    pub fn live(&self, height: u64, today: i64) -> bool {
        !self.revoked
            && (self.until_height == 0 || height <= self.until_height)
            && self.until.is_none_or(|d| today <= d)
    }
}

/// Certificate types, and the certificates and grants the receipts so far created.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The chain's certificate types.
    pub cert_types: Vec<pb::CertType>,
    /// Published certificates by id.
    pub certs: BTreeMap<String, Cert>,
    /// Grants by id.
    pub grants: BTreeMap<u64, Grant>,
}

impl Rules {
    /// No certificates yet, of these types.
    pub fn new(cert_types: Vec<pb::CertType>) -> Self {
        Rules {
            cert_types,
            certs: BTreeMap::new(),
            grants: BTreeMap::new(),
        }
    }

    /// A type of [`Rules::cert_types`].
    ///
    /// # Panics
    /// If there is no such type: intents name only the chain's types.
    pub fn cert_type(&self, id: &str) -> &pb::CertType {
        self.cert_types
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("'{id}' is not a certificate type of the chain"))
    }

    /// The outcome `intent` must have in a block at `height` on day `today`: executed,
    /// or failed with this code. (A request that executes may still be denied: that is
    /// the gate's decision, which the caller checks.)
    pub fn expected(&self, intent: &Intent, height: u64, today: i64) -> Result<(), ErrorCode> {
        let owned = |sender: &str, cert: &str| match self.certs.get(cert) {
            None => Err(ErrorCode::NotFound),
            Some(c) if c.issuer != sender => Err(ErrorCode::Unauthorized),
            Some(c) => Ok(c),
        };
        let registered = |purpose: &str| {
            if purpose == UNREGISTERED {
                Err(ErrorCode::UnknownPurpose)
            } else {
                Ok(())
            }
        };
        match intent {
            Intent::Publish {
                issuer,
                cert_type,
                id,
                ..
            } => {
                if !self.cert_type(cert_type).issuers.contains(issuer) {
                    Err(ErrorCode::Unauthorized)
                } else if self.certs.contains_key(id) {
                    Err(ErrorCode::DuplicateCertificate)
                } else {
                    Ok(())
                }
            }
            Intent::Grant {
                sender,
                cert,
                grantee,
                purpose,
                until_height,
                until,
            } => {
                let c = owned(sender, cert)?;
                if c.revoked || grantee == sender {
                    return Err(ErrorCode::InvalidArgument);
                }
                registered(purpose)?;
                let past = until.is_some_and(|d| d < today)
                    || (*until_height != 0 && *until_height < height);
                if past {
                    return Err(ErrorCode::InvalidArgument);
                }
                Ok(())
            }
            Intent::Request { cert, purpose, .. } => {
                registered(purpose)?;
                if !self.certs.contains_key(cert) {
                    return Err(ErrorCode::NotFound);
                }
                Ok(())
            }
            Intent::Revoke {
                sender,
                cert,
                grant,
            } => {
                let c = owned(sender, cert)?;
                match (grant, grant.and_then(|g| self.grants.get(&g))) {
                    (None, _) if c.revoked => Err(ErrorCode::InvalidArgument),
                    (None, _) => Ok(()),
                    (Some(_), Some(g)) if g.cert == *cert && g.revoked => {
                        Err(ErrorCode::InvalidArgument)
                    }
                    (Some(_), Some(g)) if g.cert == *cert => Ok(()),
                    (Some(_), _) => Err(ErrorCode::NotFound),
                }
            }
        }
    }

    /// Records what `intent` did when it executed; `grant` is the id its receipt gave
    /// a new grant.
    ///
    /// # Panics
    /// If the intent was not [`Rules::expected`] to execute, or a grant id repeats.
    pub fn apply(&mut self, intent: &Intent, grant: Option<u64>) {
        match intent.clone() {
            Intent::Publish {
                issuer,
                cert_type,
                id,
                expires,
            } => {
                let cert = Cert {
                    cert_type,
                    issuer,
                    expires,
                    revoked: false,
                    grants: Vec::new(),
                };
                self.certs.insert(id, cert);
            }
            Intent::Grant {
                cert,
                grantee,
                purpose,
                until_height,
                until,
                ..
            } => {
                let id = grant.expect("a created grant has an id");
                self.certs
                    .get_mut(&cert)
                    .expect("a grant of a published certificate")
                    .grants
                    .push(id);
                let g = Grant {
                    cert,
                    grantee,
                    purpose,
                    until_height,
                    until,
                    revoked: false,
                };
                assert!(
                    self.grants.insert(id, g).is_none(),
                    "grant id {id} given twice"
                );
            }
            Intent::Request { .. } => {}
            Intent::Revoke { cert, grant, .. } => {
                let revoked = match grant {
                    None => &mut self.certs.get_mut(&cert).expect("a certificate").revoked,
                    Some(g) => &mut self.grants.get_mut(&g).expect("a grant").revoked,
                };
                *revoked = true;
            }
        }
    }
}
