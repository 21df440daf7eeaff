//! Console sessions: one-time sign-in challenges, sign-in by a department key's
//! signature or by the node's supervisor credential, and the session tokens that the
//! cookie carries. Sessions are node-local (reads are not replicated) and live in
//! memory for [`SESSION_MS`].

use std::collections::HashMap;

use govchain_crypto::sm3;
use govchain_types::ErrorCode;
use parking_lot::Mutex;
use tonic::Status;

use crate::auth::Reader;
use crate::error::status;

/// How long a session lasts.
pub(crate) const SESSION_MS: u64 = 8 * 3_600_000;
/// How long a challenge may be answered.
pub(crate) const CHALLENGE_MS: u64 = 120_000;
/// The path a sign-in signature names.
pub(crate) const LOGIN_PATH: &str = "/console/login";
/// Name of the session cookie.
pub(crate) const COOKIE: &str = "govchain_console";
/// Most sessions or open challenges kept (the oldest go first beyond that).
const MAX_ENTRIES: usize = 10_000;

/// The node's supervisor credential: the SM3 of a secret given to the supervisor, and
/// the department it signs in as.
#[derive(Clone)]
pub struct Credential {
    /// SM3 of the credential.
    pub sm3: [u8; 32],
    /// Department (one with the auditor role, as `govchain init` configures it).
    pub department: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("department", &self.department)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Whether `given` is the credential (compared in constant time over the hashes).
    pub(crate) fn matches(&self, given: &str) -> bool {
        let h = sm3(given.trim().as_bytes());
        h.iter()
            .zip(&self.sm3)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// A signed-in console user.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) reader: Reader,
    pub(crate) expires_ms: u64,
}

/// Open challenges and live sessions.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    challenges: Mutex<HashMap<[u8; 32], u64>>,
    sessions: Mutex<HashMap<String, Session>>,
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn random32() -> Result<[u8; 32], Status> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| status(ErrorCode::Internal, format!("random: {e}")))?;
    Ok(b)
}

/// Drops expired entries, and the soonest to expire while there are too many.
fn prune<K: Clone + std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>, expiry: impl Fn(&V) -> u64) {
    let now = now_ms();
    m.retain(|_, v| expiry(v) > now);
    while m.len() >= MAX_ENTRIES {
        let Some(k) = m
            .iter()
            .min_by_key(|(_, v)| expiry(v))
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        m.remove(&k);
    }
}

impl Sessions {
    /// A new one-time challenge and when it expires.
    pub(crate) fn challenge(&self) -> Result<([u8; 32], u64), Status> {
        let c = random32()?;
        let expires = now_ms() + CHALLENGE_MS;
        let mut m = self.challenges.lock();
        prune(&mut m, |e| *e);
        m.insert(c, expires);
        Ok((c, expires))
    }

    /// Uses up `challenge`: it must have been issued here, not used and not expired.
    pub(crate) fn redeem(&self, challenge: &[u8]) -> Result<(), Status> {
        let bad = |why: &str| status(ErrorCode::Unauthenticated, why.to_string());
        let c: [u8; 32] = challenge
            .try_into()
            .map_err(|_| bad("the challenge is not 32 bytes of hex"))?;
        match self.challenges.lock().remove(&c) {
            Some(expires) if expires > now_ms() => Ok(()),
            Some(_) => Err(bad("the challenge expired: ask for a new one")),
            None => Err(bad(
                "unknown challenge (each is single-use and known only to the node that issued it)",
            )),
        }
    }

    /// Opens a session for `reader`; returns its token.
    pub(crate) fn open(&self, reader: Reader) -> Result<(String, Session), Status> {
        let token = hex::encode(random32()?);
        let session = Session {
            reader,
            expires_ms: now_ms() + SESSION_MS,
        };
        let mut m = self.sessions.lock();
        prune(&mut m, |s| s.expires_ms);
        m.insert(token.clone(), session.clone());
        Ok((token, session))
    }

    /// The live session of `token`.
    pub(crate) fn get(&self, token: &str) -> Option<Session> {
        let m = self.sessions.lock();
        m.get(token).filter(|s| s.expires_ms > now_ms()).cloned()
    }

    /// Ends the session of `token`.
    pub(crate) fn close(&self, token: &str) {
        self.sessions.lock().remove(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> Reader {
        Reader {
            department: "supervision".into(),
            operator: String::new(),
            roles: vec!["auditor".into()],
        }
    }

    #[test]
    fn a_challenge_is_single_use() {
        let s = Sessions::default();
        let (c, _) = s.challenge().unwrap();
        s.redeem(&c).unwrap();
        let again = s.redeem(&c).unwrap_err();
        assert!(again.message().contains("unknown challenge"), "{again:?}");
        assert!(s.redeem(&[0; 5]).is_err());
    }

    #[test]
    fn sessions_open_and_close() {
        let s = Sessions::default();
        let (token, _) = s.open(reader()).unwrap();
        assert_eq!(s.get(&token).unwrap().reader.department, "supervision");
        assert!(s.get("nope").is_none());
        s.close(&token);
        assert!(s.get(&token).is_none());
    }

    #[test]
    fn the_credential_is_compared_by_its_hash() {
        let c = Credential {
            sm3: sm3(b"s3cret"),
            department: "supervision".into(),
        };
        assert!(c.matches("s3cret"));
        assert!(c.matches(" s3cret\n"));
        assert!(!c.matches("s3cret2"));
    }
}
