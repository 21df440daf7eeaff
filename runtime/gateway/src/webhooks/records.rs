//! What the webhooks keep in the gateway's database: the webhooks, their deliveries
//! (the delivery log, by webhook and sequence) with an index of the pending ones, the
//! cursor of following the chain, and the requests whose "document ready" is told or
//! awaited. Everything one look at the chain finds is written in one synced batch.

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::store::Store;

const WEBHOOK: &str = "w/";
/// Deliveries: `wd/<webhook>/<seq, 20 digits>`, so a webhook's log is in order.
const DELIVERY: &str = "wd/";
/// Pending deliveries: `wp/<seq>` → [`Pending`].
const PENDING: &str = "wp/";
/// The cursor ([`Cursor`]).
const CURSOR: &str = "wc";
/// The next delivery sequence.
const SEQ: &str = "wq";
/// Requests whose "document ready" was told: `wr/<request>` → Unix ms.
const READY: &str = "wr/";
/// Allowed reads of the department with fewer shares released than needed so far:
/// `ww/<request>` → [`Waiting`].
const WAITING: &str = "ww/";

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
    pub events: Vec<super::EventType>,
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
    pub event_type: super::EventType,
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

impl Delivery {
    /// Unix ms it ended (its last attempt), for the log's retention.
    fn ended_ms(&self) -> u64 {
        self.attempts.last().map_or(self.at_ms, |a| a.at_ms)
    }
}

/// A pending delivery in the index: its webhook and when to try it next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The webhook.
    pub webhook: String,
    /// Unix ms of the next attempt.
    pub next_ms: u64,
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

/// An allowed read of the department waiting for enough key shares: what its "document
/// ready" will say.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Waiting {
    /// Height and block time of the release record that made it wait.
    pub height: u64,
    /// Block time, Unix ms.
    pub time_ms: u64,
    /// The certificate read.
    pub cert_id: String,
    /// Its type.
    pub cert_type: String,
    /// The purpose of the read.
    pub purpose: String,
    /// Unix ms the gateway began waiting.
    pub since_ms: u64,
}

/// What one look at the chain found: written at once.
#[derive(Debug, Default)]
pub struct Found {
    /// New deliveries (their sequences from [`Store::next_seq`] on).
    pub deliveries: Vec<Delivery>,
    /// Requests whose "document ready" is now told.
    pub ready: Vec<u64>,
    /// Requests to wait for, and requests no longer waited for.
    pub waiting: Vec<(u64, Waiting)>,
    /// Requests no longer waited for (told, or past their release window).
    pub unwaited: Vec<u64>,
    /// The cursor after it.
    pub cursor: Cursor,
}

fn delivery_key(webhook: &str, seq: u64) -> String {
    format!("{DELIVERY}{webhook}/{seq:020}")
}

fn pending_key(seq: u64) -> String {
    format!("{PENDING}{seq:020}")
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

    /// Removes webhook `id` with its delivery log and pending deliveries.
    pub fn remove_webhook(&self, id: &str) -> anyhow::Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        b.delete(format!("{WEBHOOK}{id}"));
        for (rest, d) in self.scan::<Delivery>(&format!("{DELIVERY}{id}/"))? {
            b.delete(format!("{DELIVERY}{id}/{rest}"));
            b.delete(pending_key(d.seq));
        }
        self.write(b)
    }

    /// Where following the chain stands.
    pub fn cursor(&self) -> anyhow::Result<Cursor> {
        Ok(self.get(CURSOR)?.unwrap_or_default())
    }

    /// The sequence the next delivery gets.
    pub fn next_seq(&self) -> anyhow::Result<u64> {
        Ok(self.get(SEQ)?.unwrap_or(1))
    }

    /// Whether request `request`'s "document ready" was told.
    pub fn ready_told(&self, request: u64) -> anyhow::Result<bool> {
        Ok(self.db.get(format!("{READY}{request}"))?.is_some())
    }

    /// The requests waiting for key shares, oldest first.
    pub fn waiting(&self) -> anyhow::Result<Vec<(u64, Waiting)>> {
        Ok(self
            .scan::<Waiting>(WAITING)?
            .into_iter()
            .filter_map(|(k, w)| Some((k.parse().ok()?, w)))
            .collect())
    }

    /// Writes what one look at the chain found, all or nothing: a crash neither loses
    /// an event nor queues one twice.
    pub fn record_found(&self, f: &Found) -> anyhow::Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        let now = crate::now_ms();
        for d in &f.deliveries {
            b.put(delivery_key(&d.webhook, d.seq), serde_json::to_vec(d)?);
            let p = Pending {
                webhook: d.webhook.clone(),
                next_ms: d.next_ms,
            };
            b.put(pending_key(d.seq), serde_json::to_vec(&p)?);
        }
        if let Some(last) = f.deliveries.last() {
            b.put(SEQ, serde_json::to_vec(&(last.seq + 1))?);
        }
        for r in &f.ready {
            b.put(format!("{READY}{r}"), serde_json::to_vec(&now)?);
        }
        for (r, w) in &f.waiting {
            b.put(format!("{WAITING}{r}"), serde_json::to_vec(w)?);
        }
        for r in &f.unwaited {
            b.delete(format!("{WAITING}{r}"));
        }
        b.put(CURSOR, serde_json::to_vec(&f.cursor)?);
        self.write(b)
    }

    /// Delivery `seq` of webhook `webhook`.
    pub fn delivery(&self, webhook: &str, seq: u64) -> anyhow::Result<Option<Delivery>> {
        self.get(&delivery_key(webhook, seq))
    }

    /// Stores delivery `d`, and its place in the pending index.
    pub fn put_delivery(&self, d: &Delivery) -> anyhow::Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        b.put(delivery_key(&d.webhook, d.seq), serde_json::to_vec(d)?);
        match d.state {
            DeliveryState::Pending => {
                let p = Pending {
                    webhook: d.webhook.clone(),
                    next_ms: d.next_ms,
                };
                b.put(pending_key(d.seq), serde_json::to_vec(&p)?);
            }
            _ => b.delete(pending_key(d.seq)),
        }
        self.write(b)
    }

    /// The pending deliveries, oldest first.
    pub fn pending(&self) -> anyhow::Result<Vec<(u64, Pending)>> {
        Ok(self
            .scan::<Pending>(PENDING)?
            .into_iter()
            .filter_map(|(k, p)| Some((k.parse().ok()?, p)))
            .collect())
    }

    /// The deliveries of webhook `id` after sequence `after`, at most `limit`.
    pub fn deliveries(&self, id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<Delivery>> {
        let prefix = format!("{DELIVERY}{id}/");
        let start = delivery_key(id, after.saturating_add(1));
        let mut out = Vec::new();
        for item in self.db.iterator(rocksdb::IteratorMode::From(
            start.as_bytes(),
            rocksdb::Direction::Forward,
        )) {
            let (k, v) = item.context("reading the gateway database")?;
            if !k.starts_with(prefix.as_bytes()) || out.len() == limit {
                break;
            }
            out.push(serde_json::from_slice(&v).context("a delivery record is corrupt")?);
        }
        Ok(out)
    }

    /// Forgets deliveries that ended, and "document ready" marks and waits, from before
    /// `cutoff_ms`.
    pub fn prune_webhooks(&self, cutoff_ms: u64) -> anyhow::Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        for (rest, d) in self.scan::<Delivery>(DELIVERY)? {
            if d.state != DeliveryState::Pending && d.ended_ms() < cutoff_ms {
                b.delete(format!("{DELIVERY}{rest}"));
            }
        }
        for (r, at) in self.scan::<u64>(READY)? {
            if at < cutoff_ms {
                b.delete(format!("{READY}{r}"));
            }
        }
        for (r, w) in self.scan::<Waiting>(WAITING)? {
            if w.since_ms < cutoff_ms {
                b.delete(format!("{WAITING}{r}"));
            }
        }
        self.write(b)
    }
}
