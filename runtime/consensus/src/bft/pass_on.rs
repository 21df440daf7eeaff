//! Passing transactions on: what this node's clients submitted goes to every peer once,
//! in the order this node admitted it, so that whichever validator proposes next holds
//! it and each account's nonces arrive in order (a peer refuses a nonce ahead of the
//! next one).
//!
//! Transactions are taken at admission ([`Chain::take_outbox`]): one this node takes
//! into its own block before they go out still goes out, or the same account's later
//! ones would be refused by every peer and only this node could propose them. Each peer
//! has its own task and queue: a peer that is down or slow keeps what it has not taken
//! (up to [`MAX_OUTBOX`] transactions, then the oldest go; it gets them in blocks) and
//! is retried, while the others are served as fast as they take calls.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TryRecvError};

use super::links::Peers;
use super::wire::cpb;
use crate::Chain;

/// Transactions passed on in one call.
const FORWARD_BATCH: usize = 512;
/// Most transactions kept for a peer that has not taken them yet: beyond it the oldest
/// are dropped (a peer down that long gets them in blocks).
const MAX_OUTBOX: usize = 100_000;
/// How long one call may take before it counts as not taken.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// The wait before a call a peer did not take is sent again.
const RETRY: Duration = Duration::from_millis(500);

/// Passes the transactions this node's clients submit on to every peer linked now,
/// each peer through its own task ([`to_peer`]); a peer unlinked (or moved) has its
/// task ended.
pub(crate) async fn gossip(chain: Arc<Chain>, peers: Peers) -> crate::Result<()> {
    chain.open_outbox();
    let mut admissions = chain.admissions();
    // Each peer's task, by id: the address it was started for and its feed.
    let mut tasks: HashMap<String, (String, mpsc::UnboundedSender<Arc<cpb::ForwardRequest>>)> =
        HashMap::new();
    loop {
        let _ = tokio::time::timeout(Duration::from_millis(500), admissions.changed()).await;
        let calls: Vec<Arc<cpb::ForwardRequest>> = chain
            .take_outbox()
            .chunks(FORWARD_BATCH)
            .map(|c| {
                Arc::new(cpb::ForwardRequest {
                    txs: c.iter().map(|(_, t)| govchain_types::encode(t)).collect(),
                })
            })
            .collect();
        let peers = peers.read().clone();
        tasks.retain(|id, (addr, _)| peers.iter().any(|p| p.id == *id && p.addr == *addr));
        for p in &peers {
            let (_, feed) = tasks.entry(p.id.clone()).or_insert_with(|| {
                let (feed, calls) = mpsc::unbounded_channel();
                let client = p.client.clone();
                tokio::spawn(to_peer(p.id.clone(), calls, RETRY, move |req| {
                    let mut client = client.clone();
                    async move {
                        match tokio::time::timeout(CALL_TIMEOUT, client.forward(req)).await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err(e)) => Err(e.message().to_string()),
                            Err(_) => Err("timed out".into()),
                        }
                    }
                }));
                (p.addr.clone(), feed)
            });
            for c in &calls {
                let _ = feed.send(c.clone());
            }
        }
    }
}

/// One peer's task: sends the calls fed to it in order, each until the peer takes it
/// (`send` answers `Ok`), waiting `retry` after a refusal; ends when its feed closes.
async fn to_peer<F, Fut>(
    peer: String,
    mut feed: mpsc::UnboundedReceiver<Arc<cpb::ForwardRequest>>,
    retry: Duration,
    mut send: F,
) where
    F: FnMut(cpb::ForwardRequest) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut queue: VecDeque<Arc<cpb::ForwardRequest>> = VecDeque::new();
    let mut held = 0usize;
    loop {
        if queue.is_empty() {
            let Some(call) = feed.recv().await else {
                return;
            };
            held += call.txs.len();
            queue.push_back(call);
        }
        loop {
            match feed.try_recv() {
                Ok(call) => {
                    held += call.txs.len();
                    queue.push_back(call);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        while held > MAX_OUTBOX {
            let Some(old) = queue.pop_front() else { break };
            held -= old.txs.len();
            tracing::debug!(%peer, txs = old.txs.len(), "peer behind: oldest transactions not passed on");
        }
        let Some(call) = queue.front() else { continue };
        let n = call.txs.len();
        let began = std::time::Instant::now();
        match send(cpb::ForwardRequest::clone(call)).await {
            Ok(()) => {
                tracing::debug!(%peer, txs = n, ms = began.elapsed().as_millis() as u64, "passed transactions on");
                queue.pop_front();
                held -= n;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "peer did not take transactions; retrying");
                tokio::time::sleep(retry).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use parking_lot::Mutex;
    use tokio::sync::mpsc;

    use super::{cpb, to_peer};

    /// What each peer took: its name, the call's tag, when.
    type Taken = Arc<Mutex<Vec<(&'static str, u8, Duration)>>>;

    /// A peer that does not answer holds up only itself: the other gets every call at
    /// once and in order, and it gets them all, in order, once it answers again.
    #[tokio::test]
    async fn a_peer_that_does_not_answer_holds_up_only_itself() {
        let start = Instant::now();
        let down_until = start + Duration::from_millis(800);
        let got: Taken = Arc::default();
        let mut feeds = Vec::new();
        let mut tasks = Vec::new();
        for peer in ["up", "down"] {
            let (feed, calls) = mpsc::unbounded_channel();
            let got = got.clone();
            let retry = Duration::from_millis(20);
            tasks.push(tokio::spawn(to_peer(
                peer.into(),
                calls,
                retry,
                move |req| {
                    let got = got.clone();
                    async move {
                        if peer == "down" && Instant::now() < down_until {
                            // Hangs a while, then fails (a call that times out).
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            return Err("timed out".into());
                        }
                        got.lock().push((peer, req.txs[0][0], start.elapsed()));
                        Ok(())
                    }
                },
            )));
            feeds.push(feed);
        }
        for tag in 1..=3u8 {
            for f in &feeds {
                f.send(Arc::new(cpb::ForwardRequest {
                    txs: vec![vec![tag]],
                }))
                .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Till well after the second peer answers again; then its feed closes (the
        // peer unlinked), which ends each task.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        drop(feeds);
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .unwrap()
                .unwrap();
        }
        let got = got.lock().clone();
        let of = |peer: &str| -> Vec<(u8, Duration)> {
            got.iter()
                .filter(|(p, ..)| *p == peer)
                .map(|(_, t, at)| (*t, *at))
                .collect()
        };
        let up = of("up");
        assert_eq!(up.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(
            up.iter().all(|(_, at)| start + *at < down_until),
            "the peer that answers waited for the one that does not: {up:?}"
        );
        let down = of("down");
        assert_eq!(
            down.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            [1, 2, 3],
            "kept and sent again, in order"
        );
        assert!(
            down.iter().all(|(_, at)| start + *at >= down_until),
            "{down:?}"
        );
    }
}
