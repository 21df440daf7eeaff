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
const WEBHOOK: &str = "w/";
/// Deliveries by sequence (20 digits, so in order), and the pending ones' index.
const DELIVERY: &str = "wd/";
const PENDING: &str = "wp/";
/// Where following the chain for notifications stands.
const CURSOR: &str = "wc";
/// Requests whose "document ready" was told.
const READY: &str = "wr/";

/// The database.
pub struct Store {
    db: rocksdb::DB,
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
        op: crate::chain::Op,
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

    fn put<T: Serialize>(&self, key: &str, value: &T) -> anyhow::Result<()> {
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(true);
        self.db
            .put_opt(key, serde_json::to_vec(value)?, &w)
            .context("writing the gateway database")
    }

    fn delete(&self, key: &str) -> anyhow::Result<()> {
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(true);
        self.db
            .delete_opt(key, &w)
            .context("writing the gateway database")
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> anyhow::Result<Option<T>> {
        match self.db.get(key).context("reading the gateway database")? {
            Some(b) => Ok(Some(
                serde_json::from_slice(&b).with_context(|| format!("record {key} is corrupt"))?,
            )),
            None => Ok(None),
        }
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &str) -> anyhow::Result<Vec<(String, T)>> {
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

    /// Forgets the answered records and the finished deliveries from before `cutoff_ms`.
    pub fn forget_done_before(&self, cutoff_ms: u64) -> anyhow::Result<()> {
        for (key, r) in self.scan::<Idempotent>(IDEMPOTENCY)? {
            if matches!(r.state, Progress::Done { .. }) && r.at_ms < cutoff_ms {
                self.delete(&format!("{IDEMPOTENCY}{key}"))?;
            }
        }
        for (key, d) in self.scan::<Delivery>(DELIVERY)? {
            if d.state != DeliveryState::Pending && d.at_ms < cutoff_ms {
                self.delete(&format!("{DELIVERY}{key}"))?;
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

/// A webhook: where the department's systems want to be told of what happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webhook {
    /// Its id (`wh-` and 16 hex digits).
    pub id: String,
    /// Where deliveries are POSTed (`http://` or `https://`).
    pub url: String,
    /// The HMAC-SM3 key every delivery is signed with (set by the department).
    pub secret: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// For an `https://` URL: the receiver's CA certificates (PEM).
    pub ca_pem: String,
    /// Unix ms of its creation.
    pub created_ms: u64,
    /// The token that made it.
    pub created_by: String,
    /// It receives events of blocks above this height (the tip when it was made).
    pub from_height: u64,
}

/// Where an event's delivery to one webhook stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; tried again at `next_ms`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
    /// The webhook was removed before it was delivered.
    Dropped,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// Unix ms it started.
    pub at_ms: u64,
    /// The receiver's HTTP status; 0 if none came.
    pub status: u16,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// How long it took, ms.
    pub ms: u64,
}

/// An event's delivery to one webhook: the delivery log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// Its sequence number in this gateway.
    pub seq: u64,
    /// The webhook.
    pub webhook: String,
    /// The event's id (the same for every webhook, and after a restart).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The body POSTed.
    pub body: serde_json::Value,
    /// Unix ms it was queued.
    pub at_ms: u64,
    /// Where it stands.
    pub state: DeliveryState,
    /// Unix ms of the next attempt while pending.
    pub next_ms: u64,
    /// Every attempt so far.
    pub attempts: Vec<Attempt>,
    /// Attempts before the last retry by hand (the backoff starts again after them).
    #[serde(default)]
    pub retried_from: u32,
}

/// Where following the chain for notifications stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cursor {
    /// The department's audit records after this sequence are still to look at.
    pub audit_after: u64,
    /// ... from this block time on (Unix ms): records before it predate every webhook.
    pub audit_from_ms: u64,
    /// Grants to the department revoked after this position (height, certificate,
    /// grant) are still to look at.
    pub revoked: (u64, String, u64),
}

/// What following one stretch of the chain found: written at once.
#[derive(Debug, Default)]
pub struct Found {
    /// New deliveries.
    pub deliveries: Vec<Delivery>,
    /// Requests whose "document ready" is now told.
    pub ready: Vec<u64>,
    /// The cursor after it.
    pub cursor: Cursor,
}

impl Store {
    fn write(&self, batch: rocksdb::WriteBatch) -> anyhow::Result<()> {
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(true);
        self.db
            .write_opt(batch, &w)
            .context("writing the gateway database")
    }

    /// Every webhook, by id.
    pub fn webhooks(&self) -> anyhow::Result<Vec<Webhook>> {
        Ok(self.scan(WEBHOOK)?.into_iter().map(|(_, w)| w).collect())
    }

    /// The webhook `id`.
    pub fn webhook(&self, id: &str) -> anyhow::Result<Option<Webhook>> {
        self.get(&format!("{WEBHOOK}{id}"))
    }

    /// Stores webhook `w`, and `cursor` with it (the first webhook starts following
    /// the chain from now).
    pub fn put_webhook(&self, w: &Webhook, cursor: Option<&Cursor>) -> anyhow::Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        b.put(format!("{WEBHOOK}{}", w.id), serde_json::to_vec(w)?);
        if let Some(c) = cursor {
            b.put(CURSOR, serde_json::to_vec(c)?);
        }
        self.write(b)
    }

    /// Removes webhook `id`; `false` if there is none.
    pub fn remove_webhook(&self, id: &str) -> anyhow::Result<bool> {
        if self.webhook(id)?.is_none() {
            return Ok(false);
        }
        self.delete(&format!("{WEBHOOK}{id}"))?;
        Ok(true)
    }

    /// Where following the chain stands.
    pub fn cursor(&self) -> anyhow::Result<Cursor> {
        Ok(self.get(CURSOR)?.unwrap_or_default())
    }

    /// Whether request `request`'s "document ready" was told.
    pub fn ready_told(&self, request: u64) -> anyhow::Result<bool> {
        Ok(self.db.get(format!("{READY}{request}"))?.is_some())
    }

    /// The sequence the next delivery gets.
    pub fn next_delivery(&self) -> anyhow::Result<u64> {
        let mut it = self.db.iterator(rocksdb::IteratorMode::From(
            format!("{DELIVERY}~").as_bytes(),
            rocksdb::Direction::Reverse,
        ));
        match it
            .next()
            .transpose()
            .context("reading the gateway database")?
        {
            Some((k, _)) => Ok(String::from_utf8_lossy(&k)
                .strip_prefix(DELIVERY)
                .and_then(|s| s.parse::<u64>().ok())
                .map_or(1, |s| s + 1)),
            None => Ok(1),
        }
    }

    /// Writes what following the chain found, all or nothing: a crash neither loses
    /// an event nor queues one twice.
    pub fn record_found(&self, f: &Found) -> anyhow::Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        for d in &f.deliveries {
            b.put(delivery_key(d.seq), serde_json::to_vec(d)?);
            b.put(format!("{PENDING}{:020}", d.seq), d.next_ms.to_string());
        }
        for r in &f.ready {
            b.put(format!("{READY}{r}"), b"");
        }
        b.put(CURSOR, serde_json::to_vec(&f.cursor)?);
        self.write(b)
    }

    /// The delivery `seq`.
    pub fn delivery(&self, seq: u64) -> anyhow::Result<Option<Delivery>> {
        self.get(&delivery_key(seq))
    }

    /// Stores delivery `d`, pending or not.
    pub fn put_delivery(&self, d: &Delivery) -> anyhow::Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        b.put(delivery_key(d.seq), serde_json::to_vec(d)?);
        let pending = format!("{PENDING}{:020}", d.seq);
        match d.state {
            DeliveryState::Pending => b.put(pending, d.next_ms.to_string()),
            _ => b.delete(pending),
        }
        self.write(b)
    }

    /// The pending deliveries, oldest first: (sequence, when to try next, Unix ms).
    pub fn pending(&self) -> anyhow::Result<Vec<(u64, u64)>> {
        Ok(self
            .scan::<u64>(PENDING)?
            .into_iter()
            .filter_map(|(k, next)| Some((k.parse().ok()?, next)))
            .collect())
    }

    /// The deliveries of webhook `id` after sequence `after`, at most `limit`.
    pub fn deliveries(&self, id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<Delivery>> {
        let mut out = Vec::new();
        let start = delivery_key(after + 1);
        for item in self.db.iterator(rocksdb::IteratorMode::From(
            start.as_bytes(),
            rocksdb::Direction::Forward,
        )) {
            let (k, v) = item.context("reading the gateway database")?;
            if !k.starts_with(DELIVERY.as_bytes()) || out.len() == limit {
                break;
            }
            let d: Delivery = serde_json::from_slice(&v).context("a delivery record is corrupt")?;
            if d.webhook == id {
                out.push(d);
            }
        }
        Ok(out)
    }
}

fn delivery_key(seq: u64) -> String {
    format!("{DELIVERY}{seq:020}")
}
