//! The loop a validator's background workers share (the key-share custodian, the compute
//! job runner): after each commit, or every [`TICK`], scan the kept access requests from
//! a persisted cursor, submit what the scan produced, and move the cursor past every
//! request that is settled.
//!
//! Submissions are pipelined: a round's transactions are sent without waiting for the
//! last round to commit, and the next scan (after the next block) skips the requests still
//! in flight. A worker that waited for each commit before scanning again let work pile up
//! under load into rounds of about a thousand shares, blocks of 70–120 ms, and the
//! cluster's p99 (docs/performance.md, session 7).

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use govchain_consensus::Chain;
use govchain_state::{Overlay, tables};
use govchain_types::{ExecError, pb};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Scans also run on this tick, so work lost in a leader change is retried.
pub const TICK: Duration = Duration::from_secs(2);

/// Rounds a worker may have submitted and not yet seen settle; beyond it, the next scan
/// waits for one to finish (so a stalled chain does not collect an unbounded backlog).
const MAX_IN_FLIGHT: usize = 8;

/// What one scan found.
#[derive(Debug)]
pub struct Round<W> {
    /// Transactions' worth of work to submit.
    pub work: Vec<W>,
    /// Lowest request seq not yet settled.
    pub cursor: u64,
}

/// A background worker that follows the kept access requests.
pub trait Follower: Send + Sync + 'static {
    /// What a scan produces.
    type Work: Send + 'static;
    /// For logs.
    const NAME: &'static str;
    /// Above 0: scans run on a thread of their own at this scheduling niceness
    /// (a custodian computing key shares yields to block execution); 0: on the runtime's
    /// blocking threads, at the node's own.
    const NICENESS: i32 = 0;
    /// The chain it follows.
    fn chain(&self) -> &Arc<Chain>;
    /// File keeping the first request not yet settled (a restart resumes there).
    fn cursor_file(&self) -> &Path;
    /// The access request `work` settles.
    fn request(work: &Self::Work) -> u64;
    /// Finds the work from request `cursor` on, leaving out the requests in `in_flight`
    /// (runs on a blocking thread).
    fn scan(&self, cursor: u64, in_flight: &BTreeSet<u64>) -> Result<Round<Self::Work>, ExecError>;
    /// Submits it and waits (bounded) for its commit.
    fn submit(&self, work: Vec<Self::Work>) -> impl Future<Output = ()> + Send;
}

/// What a scan's visit made of one request.
#[derive(Debug)]
pub struct Seen {
    /// Nothing more is to be done for it (the cursor may pass it).
    pub settled: bool,
    /// The round is full: stop the scan here.
    pub full: bool,
}

/// Walks the kept access requests from `cursor` on, leaving out those in `in_flight`, and
/// returns the lowest one not yet settled.
pub fn walk(
    o: &Overlay,
    cursor: u64,
    in_flight: &BTreeSet<u64>,
    mut visit: impl FnMut(pb::AccessRequest) -> Result<Seen, ExecError>,
) -> Result<u64, ExecError> {
    let mut next = cursor;
    let mut settled_so_far = true;
    let table = &tables::ACCESS_REQUEST;
    let after = cursor.checked_sub(1).map(|seq| table.key(seq));
    for r in o.records(table, table.all(), after) {
        let (_, req) = r.map_err(|e| node_error(e.to_string()))?;
        let seq = req.seq;
        let seen = if in_flight.contains(&seq) {
            Seen {
                settled: false,
                full: false,
            }
        } else {
            visit(req)?
        };
        if seen.settled && settled_so_far {
            next = seq + 1;
        } else {
            settled_so_far = false;
        }
        if seen.full {
            break;
        }
    }
    Ok(next)
}

/// Runs `f` until `stop` turns true.
pub async fn follow<F: Follower>(f: F, mut stop: watch::Receiver<bool>) {
    let f = Arc::new(f);
    let mut commits = f.chain().subscribe();
    let mut cursor = load_cursor(f.cursor_file());
    let in_flight = Arc::new(Mutex::new(BTreeSet::new()));
    // Dropped (and so aborted) when this returns.
    let mut rounds = JoinSet::new();
    tracing::info!(worker = F::NAME, from_request = cursor, "started");
    loop {
        if *stop.borrow() {
            return;
        }
        while rounds.len() >= MAX_IN_FLIGHT {
            tokio::select! {
                _ = stop.changed() => return,
                _ = rounds.join_next() => {}
            }
        }
        let scan = {
            let (f, skip) = (f.clone(), in_flight.lock().clone());
            let scan = move || f.scan(cursor, &skip);
            if F::NICENESS > 0 {
                in_background(F::NICENESS, scan).await
            } else {
                match tokio::task::spawn_blocking(scan).await {
                    // The runtime is shutting down.
                    Err(e) if e.is_cancelled() => return,
                    r => r.map_err(|e| e.to_string()),
                }
            }
        };
        match scan {
            Ok(Ok(round)) => {
                if round.cursor != cursor {
                    cursor = round.cursor;
                    save_cursor(f.cursor_file(), cursor);
                }
                if !round.work.is_empty() {
                    let seqs: Vec<u64> = round.work.iter().map(F::request).collect();
                    in_flight.lock().extend(seqs.iter().copied());
                    let (f, in_flight) = (f.clone(), in_flight.clone());
                    rounds.spawn(async move {
                        f.submit(round.work).await;
                        let mut in_flight = in_flight.lock();
                        for seq in seqs {
                            in_flight.remove(&seq);
                        }
                    });
                }
            }
            Ok(Err(e)) => tracing::warn!(worker = F::NAME, error = %e, "scan failed; retrying"),
            Err(e) => tracing::error!(worker = F::NAME, error = %e, "scan failed to run; retrying"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            r = commits.recv() => {
                // The chain is gone (the node is stopping): nothing more will commit.
                if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    return;
                }
            }
            // A round that failed leaves its requests to the next scan at once.
            Some(_) = rounds.join_next(), if !rounds.is_empty() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Runs a scan on a thread of its own at scheduling niceness `niceness` (Linux weights
/// it at 110 against the node's 1024 at 10: under contention it is slowed, never
/// stopped, and it still gets every core that is free). The custodian's scans compute key
/// shares, work no committed transaction waits for, that must not take a core from a
/// block's execution and votes when both want one (4 validators on 2 cores:
/// `docs/performance.md`, session 30). Its own thread, since a lowered priority cannot be
/// raised back and would stay with a pooled thread.
async fn in_background<T: Send + 'static>(
    niceness: i32,
    scan: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("scan".into())
        .spawn(move || {
            lower_priority(niceness);
            let _ = tx.send(scan());
        })
        .map_err(|e| format!("cannot start a scan thread: {e}"))?;
    rx.await.map_err(|_| "the scan panicked".to_string())
}

/// Sets this thread's scheduling niceness (Linux: per thread).
#[cfg(target_os = "linux")]
fn lower_priority(niceness: i32) {
    // SAFETY: setpriority with this thread's own id and plain integers; a failure leaves
    // the priority as it was.
    #[allow(unsafe_code)]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, niceness);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_: i32) {}

fn load_cursor(file: &Path) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Best effort: a lost cursor only makes the next start scan from an earlier request.
fn save_cursor(file: &Path, cursor: u64) {
    let tmp = file.with_extension("tmp");
    let r = std::fs::write(&tmp, cursor.to_string()).and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = r {
        tracing::warn!(error = %e, file = %file.display(), "cannot save a cursor");
    }
}

/// How long a submitted transaction may take to commit before the next round re-checks.
const COMMIT_WAIT: Duration = Duration::from_secs(15);

/// Signs `payloads` as validator `validator_id`'s account with consecutive nonces, submits
/// them and waits for each commit. Returns the heights of those that succeeded; failures
/// are logged, and the next round re-checks.
pub async fn transact(
    worker: &'static str,
    chain: &Arc<Chain>,
    validator_id: &str,
    key: &dyn govchain_crypto::Sm2Signer,
    payloads: Vec<govchain_types::pb::payload::Kind>,
) -> Vec<u64> {
    use govchain_types::pb;
    let account = govchain_state::access::accounts::validator_account(validator_id);
    // The custodian and the job runner send as the same account: one takes its nonces
    // and gets them admitted before the other asks.
    static NONCES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let submitted = {
        let _turn = NONCES.lock().await;
        let nonce = match chain.next_nonce(&account, "") {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(worker, error = %e, "no nonce");
                return vec![];
            }
        };
        let txs = payloads
            .into_iter()
            .zip(nonce..)
            .map(|(p, n)| {
                let body = pb::TxBody {
                    chain_id: chain.chain_id().to_string(),
                    sender: account.clone(),
                    operator: String::new(),
                    nonce: n,
                    expiry_height: 0,
                    payload: Some(pb::Payload { kind: Some(p) }),
                };
                govchain_client::sign_body_with(&body, key)
            })
            .collect();
        chain.submit(txs, true).await
    };
    let mut committed = vec![];
    for submitted in submitted {
        let receiver = match submitted {
            Ok((_, Some(r))) => r,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(worker, error = %e, "transaction not admitted");
                tokio::time::sleep(TICK).await;
                break;
            }
        };
        match tokio::time::timeout(COMMIT_WAIT, receiver).await {
            Ok(Ok(r)) if r.status == pb::TxStatus::Ok as i32 => committed.push(r.height),
            Ok(Ok(r)) => {
                tracing::warn!(worker, error = %r.error_message, "transaction failed; the next round re-checks")
            }
            _ => tracing::warn!(worker, "not committed in time; the next round re-checks"),
        }
    }
    committed
}

/// A failure of this node while following the chain (storage, a corrupt record).
pub fn node_error(why: impl std::fmt::Display) -> govchain_types::ExecError {
    govchain_types::NodeError::new(why).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An overlay holding access requests `0..n`.
    fn requests(dir: &Path, n: u64) -> Overlay {
        let store = Arc::new(govchain_store::Store::open(dir, false).unwrap());
        let mut o = Overlay::new(store);
        for seq in 0..n {
            let req = pb::AccessRequest {
                seq,
                ..Default::default()
            };
            o.write(&tables::ACCESS_REQUEST, seq, &req);
        }
        o
    }

    /// Runs a walk in which `settled` requests are done and every request fills the round
    /// once `capacity` have been visited; returns the new cursor and the visited seqs.
    fn run(
        o: &Overlay,
        cursor: u64,
        in_flight: &[u64],
        settled: &[u64],
        capacity: usize,
    ) -> (u64, Vec<u64>) {
        let mut visited = vec![];
        let in_flight = in_flight.iter().copied().collect();
        let next = walk(o, cursor, &in_flight, |req| {
            visited.push(req.seq);
            Ok(Seen {
                settled: settled.contains(&req.seq),
                full: visited.len() == capacity,
            })
        })
        .unwrap();
        (next, visited)
    }

    #[test]
    fn requests_in_flight_are_skipped_and_hold_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let o = requests(dir.path(), 6);
        // 2 is in flight: not visited again, and the cursor cannot pass it.
        assert_eq!(run(&o, 0, &[2], &[0, 1, 3], 99), (2, vec![0, 1, 3, 4, 5]));
        // Once it settles, the cursor moves past every settled request in a row.
        assert_eq!(run(&o, 2, &[], &[2, 3], 99), (4, vec![2, 3, 4, 5]));
        // A full round stops the walk; the cursor stays at the first unsettled request.
        assert_eq!(run(&o, 0, &[1], &[0], 2), (1, vec![0, 2]));
        assert_eq!(run(&o, 6, &[], &[], 99), (6, vec![]));
    }
}
