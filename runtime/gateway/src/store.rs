//! The gateway's own database (RocksDB, every write synced): its API tokens, its
//! idempotency records, which double as the journal of transactions sent but not yet
//! known committed, and its webhooks with their deliveries (`docs/design/gateway.md`).

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Key prefixes.
const TOKEN: &str = "t/";
const TOKEN_NAME: &str = "n/";
const IDEMPOTENCY: &str = "i/";

/// The database.
pub struct Store {
    pub(crate) db: rocksdb::DB,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// An API token as stored: everything but the token itself (only its SM3 is the key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    /// The system or person it is for.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<crate::tokens::Scope>,
    /// The operator whose key signs what it does; empty for the department's own key.
    pub operator: String,
    /// Unix ms of its creation.
    pub created_ms: u64,
    /// Unix ms after which it is refused; 0 for never.
    pub expires_ms: u64,
    /// Refused from now on.
    pub revoked: bool,
}

/// An idempotency record: what was asked (its fingerprint) and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Idempotent {
    /// SM3 (hex) of method, path and body.
    pub fingerprint: String,
    /// Unix ms of the first request.
    pub at_ms: u64,
    /// Where it stands.
    pub state: Progress,
}

/// Where an idempotent request stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Progress {
    /// Its transaction is signed and may have been sent; not known committed.
    Sent {
        /// What the transaction does, to answer from its receipt.
        op: crate::op::Op,
        /// The signed transaction (hex of its encoding).
        tx: String,
        /// The operator that signed it (empty: the department).
        operator: String,
    },
    /// Answered.
    Done {
        /// HTTP status.
        status: u16,
        /// The body.
        body: serde_json::Value,
    },
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let mut o = rocksdb::Options::default();
        o.create_if_missing(true);
        let db = rocksdb::DB::open(&o, dir).with_context(|| {
            format!(
                "opening the gateway database {} (is another gateway or a `gateway token` command using it?)",
                dir.display()
            )
        })?;
        Ok(Store { db })
    }

    pub(crate) fn put<T: Serialize>(&self, key: &str, value: &T) -> anyhow::Result<()> {
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(true);
        self.db
            .put_opt(key, serde_json::to_vec(value)?, &w)
            .context("writing the gateway database")
    }

    pub(crate) fn delete(&self, key: &str) -> anyhow::Result<()> {
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(true);
        self.db
            .delete_opt(key, &w)
            .context("writing the gateway database")
    }

    pub(crate) fn get<T: DeserializeOwned>(&self, key: &str) -> anyhow::Result<Option<T>> {
        match self.db.get(key).context("reading the gateway database")? {
            Some(b) => Ok(Some(
                serde_json::from_slice(&b).with_context(|| format!("record {key} is corrupt"))?,
            )),
            None => Ok(None),
        }
    }

    pub(crate) fn scan<T: DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> anyhow::Result<Vec<(String, T)>> {
        let mut out = Vec::new();
        for item in self.db.prefix_iterator(prefix) {
            let (k, v) = item.context("reading the gateway database")?;
            let k = String::from_utf8_lossy(&k).into_owned();
            let Some(rest) = k.strip_prefix(prefix) else {
                break;
            };
            out.push((
                rest.to_string(),
                serde_json::from_slice(&v).with_context(|| format!("record {k} is corrupt"))?,
            ));
        }
        Ok(out)
    }

    /// The token whose SM3 is `hash` (hex).
    pub fn token(&self, hash: &str) -> anyhow::Result<Option<TokenRecord>> {
        self.get(&format!("{TOKEN}{hash}"))
    }

    /// The SM3 (hex) of the token named `name`.
    pub fn token_named(&self, name: &str) -> anyhow::Result<Option<String>> {
        self.get(&format!("{TOKEN_NAME}{name}"))
    }

    /// Stores token `hash` (new, or changed).
    pub fn put_token(&self, hash: &str, t: &TokenRecord) -> anyhow::Result<()> {
        self.put(&format!("{TOKEN}{hash}"), t)?;
        self.put(&format!("{TOKEN_NAME}{}", t.name), &hash)
    }

    /// Every token, by name.
    pub fn tokens(&self) -> anyhow::Result<Vec<TokenRecord>> {
        let mut all: Vec<TokenRecord> = self.scan(TOKEN)?.into_iter().map(|(_, t)| t).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// The idempotency record `key` (token hash and the caller's key).
    pub fn idempotent(&self, key: &str) -> anyhow::Result<Option<Idempotent>> {
        self.get(&format!("{IDEMPOTENCY}{key}"))
    }

    /// Stores idempotency record `key`.
    pub fn put_idempotent(&self, key: &str, r: &Idempotent) -> anyhow::Result<()> {
        self.put(&format!("{IDEMPOTENCY}{key}"), r)
    }

    /// Forgets the answered records from before `cutoff_ms`.
    pub fn forget_done_before(&self, cutoff_ms: u64) -> anyhow::Result<()> {
        for (key, r) in self.scan::<Idempotent>(IDEMPOTENCY)? {
            if matches!(r.state, Progress::Done { .. }) && r.at_ms < cutoff_ms {
                self.delete(&format!("{IDEMPOTENCY}{key}"))?;
            }
        }
        Ok(())
    }

    /// Forgets the name of a revoked token (its record stays, marked revoked).
    pub fn forget_token_name(&self, name: &str) -> anyhow::Result<()> {
        self.delete(&format!("{TOKEN_NAME}{name}"))
    }

    /// The records whose transaction is sent but not known committed: the journal.
    pub fn unfinished(&self) -> anyhow::Result<Vec<(String, Idempotent)>> {
        Ok(self
            .scan::<Idempotent>(IDEMPOTENCY)?
            .into_iter()
            .filter(|(_, r)| matches!(r.state, Progress::Sent { .. }))
            .collect())
    }
}
