//! Node-to-node identity. Mutual TLS has already checked that a caller's certificate was
//! issued by the chain's CA; [`PeerGate::admit`] then names the node it was issued to,
//! among the nodes allowed to call, and refuses (and logs, once in a while) any other.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use govchain_types::HashHex;
use parking_lot::Mutex;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic::{Request, Status};

/// PEM files of a node's TLS identity.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The chain CA certificate.
    pub ca: Vec<u8>,
    /// This node's certificate.
    pub cert: Vec<u8>,
    /// This node's private key.
    pub key: Vec<u8>,
}

impl TlsFiles {
    /// A client that presents this node's certificate and trusts only the chain's CA.
    pub(crate) fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &self.key))
    }

    /// A server that requires a client certificate of the chain's CA.
    pub(crate) fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(Certificate::from_pem(&self.ca))
    }
}

/// Admits callers by their certificate's node id.
#[derive(Debug, Default)]
pub(crate) struct PeerGate {
    /// When each refused certificate was last logged (to log a refusal, not a flood).
    refused: Mutex<HashMap<[u8; 32], Instant>>,
}

impl PeerGate {
    /// Which of `members` the caller's certificate names, or a refusal.
    pub(crate) fn admit<T>(&self, req: &Request<T>, members: &[String]) -> Result<String, Status> {
        let leaf = req
            .peer_certs()
            .and_then(|certs| certs.first().cloned())
            .ok_or_else(|| Status::unauthenticated("a node certificate is required"))?;
        let cert = webpki::EndEntityCert::try_from(&leaf)
            .map_err(|e| Status::unauthenticated(format!("unreadable certificate: {e:?}")))?;
        for id in members {
            if let Ok(name) = rustls_pki_types::ServerName::try_from(id.as_str())
                && cert.verify_is_valid_for_subject_name(&name).is_ok()
            {
                return Ok(id.clone());
            }
        }
        let fingerprint = govchain_crypto::sm3(leaf.as_ref());
        let mut refused = self.refused.lock();
        let now = Instant::now();
        if refused
            .get(&fingerprint)
            .is_none_or(|t| now.duration_since(*t) > Duration::from_secs(30))
        {
            refused.insert(fingerprint, now);
            tracing::warn!(
                peer = ?req.remote_addr(),
                certificate = %HashHex(&fingerprint),
                members = ?members,
                "refusing a peer: its certificate (issued by this chain's CA) names no node of the validator or observer set"
            );
        }
        Err(Status::permission_denied(
            "this node certificate names no member of the validator or observer set",
        ))
    }
}
