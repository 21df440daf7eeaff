//! What one call may cost this node: `[api.limits]` in its configuration. Each bound
//! refuses with a stable error code naming the setting, or (scans) answers a partial
//! page with a cursor to go on from.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use govchain_types::ErrorCode;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use crate::error::status;

/// The node's bounds on API calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiLimits {
    /// Most transactions in one `SubmitTxs` call (BATCH_TOO_LARGE above it): every one
    /// costs an SM2 verification before anything is known about its sender.
    pub max_batch: usize,
    /// Most contract queries running at once (BUSY when all are taken for a second).
    pub max_queries: usize,
    /// Most gas one contract query may ask for (INVALID_ARGUMENT above it); a query
    /// that names none gets this much.
    pub query_gas: u64,
    /// Most certificate records one listing examines: a listing filtered by type or
    /// issuer that has examined this many answers what it found with the cursor to go
    /// on from (`next`), even if the page is not full.
    pub max_scan: usize,
    /// Signatures failing verification (of transactions and of signed reads) one
    /// address may send in a minute; past it the address's transactions and signed
    /// reads are refused (TOO_MANY_BAD_SIGNATURES) until the minute is over, before any
    /// verification.
    pub bad_signatures: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_batch: 1_000,
            max_queries: 4,
            query_gas: 50_000_000,
            max_scan: 10_000,
            bad_signatures: 100,
        }
    }
}

impl ApiLimits {
    /// Refuses a `SubmitTxs` batch of `n` transactions over [`ApiLimits::max_batch`].
    pub(crate) fn check_batch(&self, n: usize) -> Result<(), Status> {
        if n > self.max_batch {
            return Err(status(
                ErrorCode::BatchTooLarge,
                format!(
                    "a batch of {n} transactions; this node takes at most {} per call (api.limits.max_batch): split it",
                    self.max_batch
                ),
            ));
        }
        Ok(())
    }

    /// The gas a query asking for `requested` (0: the node's default) runs with.
    pub(crate) fn query_gas(&self, requested: u64) -> Result<u64, Status> {
        match requested {
            0 => Ok(self.query_gas),
            g if g > self.query_gas => Err(status(
                ErrorCode::InvalidArgument,
                format!(
                    "gas_limit {g}: a query on this node may use at most {} (api.limits.query_gas)",
                    self.query_gas
                ),
            )),
            g => Ok(g),
        }
    }
}

/// How long a query waits for a free slot before BUSY.
const QUERY_WAIT: Duration = Duration::from_secs(1);

/// The slots contract queries run in.
#[derive(Debug, Clone)]
pub(crate) struct QuerySlots(Arc<Semaphore>, usize);

impl QuerySlots {
    pub(crate) fn new(n: usize) -> Self {
        QuerySlots(Arc::new(Semaphore::new(n)), n)
    }

    /// A slot, waiting up to a second for one; BUSY if none frees up.
    pub(crate) async fn take(&self) -> Result<OwnedSemaphorePermit, Status> {
        let busy = || {
            status(
                ErrorCode::Busy,
                format!(
                    "{} contract queries are running on this node (api.limits.max_queries); retry shortly",
                    self.1
                ),
            )
        };
        tokio::time::timeout(QUERY_WAIT, self.0.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())
    }
}

/// How long bad signatures count against an address.
const BAD_SIGNATURE_WINDOW: Duration = Duration::from_secs(60);

/// Bad signatures (transactions and signed reads) per sending address, in windows of a
/// minute: an address may make the node verify only so many forgeries.
#[derive(Debug)]
pub(crate) struct BadSignatures {
    limit: u32,
    seen: parking_lot::Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl BadSignatures {
    pub(crate) fn new(limit: u32) -> Self {
        BadSignatures {
            limit,
            seen: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// Refuses `peer` while it is over the limit in its current window.
    pub(crate) fn check(&self, peer: Option<IpAddr>) -> Result<(), Status> {
        let Some(peer) = peer else { return Ok(()) };
        match self.seen.lock().get(&peer) {
            Some((since, n)) if *n >= self.limit && since.elapsed() < BAD_SIGNATURE_WINDOW => {
                Err(status(
                    ErrorCode::TooManyBadSignatures,
                    format!(
                        "{n} signatures from {peer} failed verification within a minute (api.limits.bad_signatures is {}); its transactions and signed reads are refused for {} s more",
                        self.limit,
                        BAD_SIGNATURE_WINDOW
                            .saturating_sub(since.elapsed())
                            .as_secs()
                            + 1
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Counts `bad` more bad signatures from `peer`.
    pub(crate) fn add(&self, peer: Option<IpAddr>, bad: u32) {
        let Some(peer) = peer.filter(|_| bad > 0) else {
            return;
        };
        let mut seen = self.seen.lock();
        if seen.len() > 10_000 {
            seen.retain(|_, (since, _)| since.elapsed() < BAD_SIGNATURE_WINDOW);
        }
        let e = seen.entry(peer).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= BAD_SIGNATURE_WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 = e.1.saturating_add(bad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &Status) -> String {
        s.metadata()
            .get(crate::error::CODE_METADATA)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn batches_and_query_gas_are_bounded_with_their_codes() {
        let l = ApiLimits::default();
        l.check_batch(1_000).unwrap();
        let e = l.check_batch(1_001).unwrap_err();
        assert_eq!(code(&e), "BATCH_TOO_LARGE");
        assert!(
            e.message().contains("api.limits.max_batch"),
            "{}",
            e.message()
        );
        assert_eq!(l.query_gas(0).unwrap(), 50_000_000);
        assert_eq!(l.query_gas(7).unwrap(), 7);
        let e = l.query_gas(1_000_000_000).unwrap_err();
        assert_eq!(code(&e), "INVALID_ARGUMENT");
        assert!(
            e.message().contains("api.limits.query_gas"),
            "{}",
            e.message()
        );
    }

    #[tokio::test]
    async fn queries_beyond_the_slots_get_busy() {
        let slots = QuerySlots::new(2);
        let a = slots.take().await.unwrap();
        let _b = slots.take().await.unwrap();
        let e = slots.take().await.unwrap_err();
        assert_eq!(code(&e), "BUSY");
        drop(a);
        let _slot = slots.take().await.unwrap();
    }

    #[test]
    fn an_address_sending_forgeries_is_refused_and_others_are_not() {
        let b = BadSignatures::new(3);
        let (bad, good) = (Some([10, 0, 0, 9].into()), Some([10, 0, 0, 8].into()));
        b.add(bad, 2);
        b.check(bad).unwrap();
        b.add(bad, 1);
        let e = b.check(bad).unwrap_err();
        assert_eq!(code(&e), "TOO_MANY_BAD_SIGNATURES");
        assert!(
            e.message().contains("api.limits.bad_signatures"),
            "{}",
            e.message()
        );
        b.check(good).unwrap();
        b.check(None).unwrap();
    }

    #[test]
    fn a_config_names_only_what_it_changes() {
        let l: ApiLimits = serde_json::from_str(r#"{"max_batch": 10}"#).unwrap();
        assert_eq!(
            l,
            ApiLimits {
                max_batch: 10,
                ..ApiLimits::default()
            }
        );
        assert!(serde_json::from_str::<ApiLimits>(r#"{"max_batches": 10}"#).is_err());
    }
}
