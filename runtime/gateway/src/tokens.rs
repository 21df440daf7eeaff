//! API tokens: 32 random bytes shown once as `gct_<64 hex>`, stored as their SM3 with a
//! name, scopes, the operator whose key signs and an optional expiry
//! (`docs/design/gateway.md`, "Who may call it").

use govchain_crypto::sm3;
use govchain_types::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::problem::Problem;
use crate::store::{Store, TokenRecord};

/// Prefix of every token.
const PREFIX: &str = "gct_";

/// What a token may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Certificates' records, points, the department's audit records.
    Read,
    /// Ask for access and receive documents.
    Request,
    /// Publish certificates, grant and revoke.
    Publish,
    /// Manage tokens and webhooks.
    Admin,
    /// Propose and vote as the department, a member of the management committee.
    Govern,
}

impl Scope {
    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Request => "request",
            Scope::Publish => "publish",
            Scope::Admin => "admin",
            Scope::Govern => "govern",
        }
    }
}

/// A caller that presented a valid token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// SM3 (hex) of the token: the key of its idempotency records.
    pub token: String,
    /// The token's record.
    pub record: TokenRecord,
}

impl Caller {
    /// Refuses unless the token has `scope`.
    pub fn needs(&self, scope: Scope) -> Result<(), Problem> {
        if self.record.scopes.contains(&scope) {
            return Ok(());
        }
        Err(Problem::new(
            ErrorCode::Unauthorized,
            format!(
                "token '{}' lacks the '{}' scope (it has: {}); ask the gateway's administrator for a token with it",
                self.record.name,
                scope.as_str(),
                self.record
                    .scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

/// How long a token is valid, as written: `<n>d`, `<n>h`, `<n>m` or `<n>s`, or `0` for
/// no expiry; in ms.
pub fn validity(text: &str) -> Result<u64, String> {
    let bad =
        || format!("'{text}' is not a validity: write e.g. 365d, 8h, 30m, 90s, or 0 for none");
    if text == "0" {
        return Ok(0);
    }
    let (n, unit_ms) = [
        ('d', 86_400_000),
        ('h', 3_600_000),
        ('m', 60_000),
        ('s', 1_000),
    ]
    .into_iter()
    .find_map(|(unit, ms)| Some((text.strip_suffix(unit)?, ms)))
    .ok_or_else(bad)?;
    let n: u64 = n.parse().map_err(|_| bad())?;
    match n.checked_mul(unit_ms) {
        Some(ms) if ms > 0 => Ok(ms),
        _ => Err(bad()),
    }
}

/// Makes a token valid for `valid_ms` (0: no expiry): the text to hand over (shown
/// once) and its record, stored.
pub fn create(
    store: &Store,
    name: &str,
    scopes: &[Scope],
    operator: &str,
    valid_ms: u64,
) -> anyhow::Result<String> {
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
        anyhow::bail!("--name: 1 to 64 printable characters");
    }
    if scopes.is_empty() {
        anyhow::bail!("--scope: give at least one of read, request, publish, admin");
    }
    if store.token_named(name)?.is_some() {
        anyhow::bail!("a token named '{name}' exists: revoke it first, or choose another name");
    }
    let secret: [u8; 32] = govchain_crypto::random_seed();
    let text = format!("{PREFIX}{}", hex::encode(secret));
    let created_ms = crate::now_ms();
    let mut scopes = scopes.to_vec();
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    store.put_token(
        &hash(&text),
        &TokenRecord {
            name: name.to_string(),
            scopes,
            operator: operator.to_string(),
            created_ms,
            expires_ms: if valid_ms == 0 {
                0
            } else {
                created_ms.saturating_add(valid_ms)
            },
            revoked: false,
        },
    )?;
    Ok(text)
}

/// Revokes the token named `name`.
pub fn revoke(store: &Store, name: &str) -> anyhow::Result<()> {
    let hash = store
        .token_named(name)?
        .ok_or_else(|| anyhow::anyhow!("no token named '{name}'"))?;
    let mut t = store
        .token(&hash)?
        .ok_or_else(|| anyhow::anyhow!("token '{name}' has no record"))?;
    t.revoked = true;
    store.put_token(&hash, &t)?;
    // The name may be given to a new token.
    store.forget_token_name(name)
}

fn hash(text: &str) -> String {
    hex::encode(sm3(text.as_bytes()))
}

/// The caller presenting `authorization` (`Bearer gct_…`), or why not.
pub fn authenticate(store: &Store, authorization: Option<&str>) -> Result<Caller, Problem> {
    let refuse = |why: &str| Problem::new(ErrorCode::Unauthenticated, why.to_string());
    let text = authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| refuse("send the gateway's API token as `Authorization: Bearer gct_…`"))?;
    if !text.starts_with(PREFIX) || text.len() != PREFIX.len() + 64 {
        return Err(refuse(
            "that is not a gateway API token (gct_ and 64 hex digits)",
        ));
    }
    let token = hash(text);
    let record = store
        .token(&token)
        .map_err(Problem::from)?
        .ok_or_else(|| refuse("unknown API token"))?;
    if record.revoked {
        return Err(refuse("this API token was revoked"));
    }
    if record.expires_ms != 0 && crate::now_ms() >= record.expires_ms {
        return Err(refuse("this API token expired: ask for a new one"));
    }
    Ok(Caller { token, record })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_until_revoked_and_only_in_its_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = create(&store, "case-system", &[Scope::Read], "alice", 0).unwrap();
        assert_eq!(validity("365d"), Ok(365 * 86_400_000));
        assert_eq!((validity("8h"), validity("0")), (Ok(8 * 3_600_000), Ok(0)));
        for bad in [
            "",
            "d",
            "5",
            "5w",
            "-1h",
            "0s",
            "99999999999999999d",
            "5日",
            "1é",
        ] {
            assert!(validity(bad).is_err(), "{bad}");
        }
        assert!(t.starts_with("gct_") && t.len() == 68);
        let c = authenticate(&store, Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(c.record.operator, "alice");
        c.needs(Scope::Read).unwrap();
        assert_eq!(
            c.needs(Scope::Publish).unwrap_err().code,
            ErrorCode::Unauthorized
        );
        // stored hashed: the database does not hold the token
        assert!(store.token(&t).unwrap().is_none());
        for bad in [None, Some("Bearer x"), Some(&*t), Some("Bearer gct_00")] {
            assert_eq!(
                authenticate(&store, bad).unwrap_err().code,
                ErrorCode::Unauthenticated
            );
        }
        let other = format!("Bearer gct_{}", "0".repeat(64));
        assert!(authenticate(&store, Some(&other)).is_err());
        assert!(
            create(&store, "case-system", &[Scope::Read], "", 0).is_err(),
            "names are unique"
        );
        revoke(&store, "case-system").unwrap();
        let e = authenticate(&store, Some(&format!("Bearer {t}"))).unwrap_err();
        assert!(e.detail.contains("revoked"), "{}", e.detail);
    }
}
