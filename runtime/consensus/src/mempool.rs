//! Admitted transactions waiting for a block, in arrival order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use govchain_state::VerifiedTx;
use govchain_types::{Hash, HashHex, TxError};

/// What a transaction adds to an encoded block: itself and its field tag and length.
fn block_bytes(t: &VerifiedTx) -> u64 {
    let n = prost::Message::encoded_len(&t.tx);
    (1 + prost::length_delimiter_len(n) + n) as u64
}

/// Per-account bookkeeping: the next nonce after pending ones, and how many are pending
/// (including ones taken into a block that is not committed yet).
#[derive(Debug, Clone, Copy)]
struct Pending {
    next: u64,
    count: usize,
}

/// The mempool. Not thread-safe by itself: [`crate::Chain`] holds it under a mutex.
#[derive(Debug)]
pub struct Mempool {
    /// Waiting transactions, in admission order.
    queue: VecDeque<VerifiedTx>,
    /// Every transaction held (waiting or taken), with its admission sequence number.
    held: HashMap<Hash, u64>,
    /// The next admission sequence number.
    seq: u64,
    accounts: HashMap<String, Pending>,
    capacity: usize,
    /// Most transactions one account may have pending.
    per_account: usize,
    /// When the oldest waiting transaction arrived (None while nothing waits).
    waiting_since: Option<Instant>,
}

impl Mempool {
    /// An empty mempool holding at most `capacity` transactions, at most `per_account`
    /// of them from one account (so that one department cannot fill it).
    pub fn new(capacity: usize, per_account: usize) -> Self {
        Mempool {
            queue: VecDeque::new(),
            held: HashMap::new(),
            seq: 0,
            accounts: HashMap::new(),
            capacity,
            per_account,
            waiting_since: None,
        }
    }

    /// Transactions waiting (not yet taken into a block).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Next nonce of an account, given its committed next nonce.
    pub fn next_nonce(&self, account: &str, committed: u64) -> u64 {
        self.accounts.get(account).map_or(committed, |p| p.next)
    }

    /// Adds a verified transaction whose nonce must be exactly the account's next one.
    pub fn insert(&mut self, tx: VerifiedTx, committed_nonce: u64) -> Result<(), TxError> {
        if self.held.contains_key(&tx.hash) {
            return Err(TxError::Duplicate {
                tx_hash: HashHex(&tx.hash).to_string(),
            });
        }
        if self.held.len() >= self.capacity {
            return Err(TxError::MempoolFull {
                capacity: self.capacity,
            });
        }
        let account = tx.account();
        if self
            .accounts
            .get(&account)
            .is_some_and(|p| p.count >= self.per_account)
        {
            return Err(TxError::AccountPendingFull {
                account,
                limit: self.per_account,
            });
        }
        let expected = self.next_nonce(&account, committed_nonce);
        let got = tx.body.nonce;
        if got < expected {
            return Err(TxError::NonceReplayed {
                account,
                expected,
                got,
            });
        }
        if got > expected {
            return Err(TxError::NonceGap {
                account,
                expected,
                got,
            });
        }
        let p = self.accounts.entry(account).or_insert(Pending {
            next: got,
            count: 0,
        });
        p.next = got + 1;
        p.count += 1;
        self.held.insert(tx.hash, self.seq);
        self.seq += 1;
        if self.queue.is_empty() {
            self.waiting_since = Some(Instant::now());
        }
        self.queue.push_back(tx);
        Ok(())
    }

    /// When the oldest waiting transaction arrived: a block is due `interval` after it,
    /// so transactions that queued while the last block was committed go out at once.
    pub fn waiting_since(&self) -> Option<Instant> {
        self.waiting_since.filter(|_| !self.queue.is_empty())
    }

    /// Takes up to `max` transactions and `max_bytes` of them as a block encodes them,
    /// oldest first, for a block. They stay counted as pending until
    /// [`Mempool::committed`] is called with them.
    pub fn take(&mut self, max: usize, max_bytes: u64) -> Vec<VerifiedTx> {
        let mut bytes = 0u64;
        let n = self
            .queue
            .iter()
            .take(max)
            .take_while(|t| {
                bytes += block_bytes(t);
                bytes <= max_bytes
            })
            .count();
        let taken = self.queue.drain(..n).collect();
        if self.queue.is_empty() {
            self.waiting_since = None;
        }
        taken
    }

    /// Puts transactions taken for a block that did not commit back among the waiting
    /// ones, in admission order: groups given back in any order (a block abandoned
    /// while the one built on it was executing) keep each account's nonces in order.
    pub fn requeue(&mut self, txs: Vec<VerifiedTx>) {
        let seq = |t: &VerifiedTx| self.held.get(&t.hash).copied();
        let mut back: Vec<(u64, VerifiedTx)> = txs
            .into_iter()
            .filter_map(|t| Some((seq(&t)?, t)))
            .collect();
        if back.is_empty() {
            return;
        }
        back.sort_by_key(|(s, _)| *s);
        self.waiting_since.get_or_insert_with(Instant::now);
        let mut waiting = std::mem::take(&mut self.queue).into_iter().peekable();
        let mut back = back.into_iter().peekable();
        while let Some(s) = back.peek().map(|(s, _)| *s) {
            match waiting.peek().and_then(|w| self.held.get(&w.hash)) {
                Some(&w) if w < s => self.queue.extend(waiting.next()),
                _ => self.queue.extend(back.next().map(|(_, t)| t)),
            }
        }
        self.queue.extend(waiting);
    }

    /// The waiting transactions, oldest first.
    pub fn waiting(&self) -> impl Iterator<Item = &VerifiedTx> {
        self.queue.iter()
    }

    /// Whether `hash` is held (waiting, or taken into a block not committed yet).
    pub fn holds(&self, hash: &Hash) -> bool {
        self.held.contains_key(hash)
    }

    /// Copies of the waiting transactions whose hashes are in `wanted`.
    pub fn find(&self, wanted: &HashSet<Hash>) -> HashMap<Hash, VerifiedTx> {
        self.queue
            .iter()
            .filter(|t| wanted.contains(&t.hash))
            .map(|t| (t.hash, t.clone()))
            .collect()
    }

    /// Forgets transactions that were committed in a block, whether they were taken for
    /// it here or are still waiting (a follower's copies of forwarded transactions).
    /// Transactions this mempool never held are ignored.
    pub fn committed<'a>(&mut self, txs: impl IntoIterator<Item = &'a VerifiedTx>) {
        let mut waiting_gone = false;
        for tx in txs {
            if self.held.remove(&tx.hash).is_none() {
                continue;
            }
            waiting_gone = true;
            let account = tx.account();
            if let Some(p) = self.accounts.get_mut(&account) {
                p.count -= 1;
                if p.count == 0 {
                    self.accounts.remove(&account);
                }
            }
        }
        if waiting_gone {
            let held = &self.held;
            self.queue.retain(|t| held.contains_key(&t.hash));
        }
    }

    /// Drops the waiting transactions of `accounts` whose nonce is below the account's
    /// committed next nonce: another transaction with that nonce committed (a client
    /// resubmitted through another node), so these can never commit. Returns them.
    pub fn drop_stale(
        &mut self,
        accounts: &HashSet<String>,
        committed_nonce: impl Fn(&VerifiedTx) -> Option<u64>,
    ) -> Vec<Hash> {
        let mut stale = Vec::new();
        for t in &self.queue {
            let account = t.account();
            if accounts.contains(&account)
                && committed_nonce(t).is_some_and(|next| t.body.nonce < next)
            {
                stale.push(t.hash);
                if let Some(p) = self.accounts.get_mut(&account) {
                    p.count -= 1;
                    if p.count == 0 {
                        self.accounts.remove(&account);
                    }
                }
            }
        }
        if !stale.is_empty() {
            for h in &stale {
                self.held.remove(h);
            }
            let held = &self.held;
            self.queue.retain(|t| held.contains_key(&t.hash));
        }
        stale
    }

    /// Drops everything (after a snapshot replaced the chain state) and returns what was
    /// waiting or taken, for the caller to re-admit.
    pub fn clear(&mut self) -> Vec<VerifiedTx> {
        self.held.clear();
        self.accounts.clear();
        self.queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_types::pb;

    fn tx(sender: &str, nonce: u64, tag: u8) -> VerifiedTx {
        VerifiedTx {
            hash: [tag; 32],
            body: pb::TxBody {
                sender: sender.into(),
                nonce,
                ..Default::default()
            },
            tx: pb::SignedTx::default(),
        }
    }

    #[test]
    fn nonces_in_order_per_account() {
        let mut m = Mempool::new(10, 10);
        m.insert(tx("tax", 0, 1), 0).unwrap();
        m.insert(tx("tax", 1, 2), 0).unwrap();
        assert!(matches!(
            m.insert(tx("tax", 3, 3), 0),
            Err(TxError::NonceGap {
                expected: 2,
                got: 3,
                ..
            })
        ));
        assert!(matches!(
            m.insert(tx("tax", 1, 4), 0),
            Err(TxError::NonceReplayed { expected: 2, .. })
        ));
        assert!(matches!(
            m.insert(tx("tax", 2, 1), 0),
            Err(TxError::Duplicate { .. })
        ));
        m.insert(tx("bank", 5, 5), 5).unwrap();
        assert_eq!(m.next_nonce("tax", 0), 2);
    }

    #[test]
    fn taken_transactions_stay_pending_until_committed() {
        let mut m = Mempool::new(10, 10);
        m.insert(tx("tax", 0, 1), 0).unwrap();
        let block = m.take(10, u64::MAX);
        assert!(m.is_empty());
        // Still pending: the next nonce is 1 even though committed state says 0.
        assert_eq!(m.next_nonce("tax", 0), 1);
        m.committed(&block);
        assert_eq!(m.next_nonce("tax", 1), 1);
        m.insert(tx("tax", 1, 2), 1).unwrap();
    }

    #[test]
    fn a_block_takes_what_fits_its_bytes() {
        let mut m = Mempool::new(10, 10);
        for (n, tag) in [(0, 1), (1, 2), (2, 3)] {
            let mut t = tx("tax", n, tag);
            t.tx.body = vec![0; 200];
            m.insert(t, 0).unwrap();
        }
        let each = block_bytes(m.waiting().next().unwrap());
        assert_eq!(
            each,
            1 + 2 + 3 + 200,
            "tag, length, the body field, the body"
        );
        assert_eq!(m.take(10, 2 * each + each / 2).len(), 2);
        assert_eq!(m.take(10, each - 1).len(), 0, "nothing is split");
        assert_eq!(m.take(10, each).len(), 1);
    }

    #[test]
    fn one_account_cannot_fill_the_mempool() {
        let mut m = Mempool::new(10, 2);
        m.insert(tx("tax", 0, 1), 0).unwrap();
        m.insert(tx("tax", 1, 2), 0).unwrap();
        assert!(matches!(
            m.insert(tx("tax", 2, 3), 0),
            Err(TxError::AccountPendingFull { ref account, limit: 2 }) if account == "tax"
        ));
        assert_eq!(m.next_nonce("tax", 0), 2, "the refused one took no nonce");
        // Others still get in; the account again once its transactions commit.
        m.insert(tx("bank", 0, 4), 0).unwrap();
        let block = m.take(10, u64::MAX);
        m.committed(&block);
        m.insert(tx("tax", 2, 3), 2).unwrap();
    }

    #[test]
    fn capacity() {
        let mut m = Mempool::new(1, 1);
        m.insert(tx("tax", 0, 1), 0).unwrap();
        assert!(matches!(
            m.insert(tx("bank", 0, 2), 0),
            Err(TxError::MempoolFull { capacity: 1 })
        ));
    }

    #[test]
    fn requeued_transactions_go_back_in_front_in_order() {
        let mut m = Mempool::new(10, 10);
        for (n, tag) in [(0, 1), (1, 2), (2, 3)] {
            m.insert(tx("tax", n, tag), 0).unwrap();
        }
        let block = m.take(2, u64::MAX);
        m.requeue(block);
        let again: Vec<u64> = m.take(10, u64::MAX).iter().map(|t| t.body.nonce).collect();
        assert_eq!(again, [0, 1, 2]);
    }

    #[test]
    fn blocks_given_back_newest_first_keep_nonces_in_order() {
        let mut m = Mempool::new(10, 10);
        for (n, tag) in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)] {
            m.insert(tx("tax", n, tag), 0).unwrap();
        }
        m.insert(tx("bank", 0, 6), 0).unwrap();
        let first = m.take(2, u64::MAX);
        let second = m.take(2, u64::MAX);
        // the first block is abandoned, then the one built on it turns out stale
        m.requeue(second);
        m.requeue(first);
        m.requeue(vec![tx("civil", 0, 7)]); // not held: ignored
        let again: Vec<(String, u64)> = m
            .take(10, u64::MAX)
            .iter()
            .map(|t| (t.body.sender.clone(), t.body.nonce))
            .collect();
        let tax = |n| ("tax".to_string(), n);
        assert_eq!(
            again,
            [tax(0), tax(1), tax(2), tax(3), tax(4), ("bank".into(), 0)]
        );
    }

    #[test]
    fn a_follower_forgets_waiting_copies_once_committed_and_ignores_strangers() {
        let mut m = Mempool::new(10, 10);
        m.insert(tx("tax", 0, 1), 0).unwrap();
        m.insert(tx("tax", 1, 2), 0).unwrap();
        let copies: Vec<_> = m.waiting().cloned().collect();
        // a block with the first, and with a transaction this mempool never held
        m.committed([&copies[0], &tx("bank", 0, 9)]);
        assert_eq!(m.len(), 1);
        assert_eq!(m.next_nonce("tax", 1), 2);
        assert_eq!(m.next_nonce("bank", 1), 1, "no bookkeeping for strangers");
        let wanted = [copies[1].hash].into_iter().collect();
        assert_eq!(m.find(&wanted).len(), 1);
    }

    #[test]
    fn transactions_whose_nonce_committed_elsewhere_are_dropped() {
        let mut m = Mempool::new(10, 10);
        m.insert(tx("tax", 4, 1), 4).unwrap();
        m.insert(tx("tax", 5, 2), 4).unwrap();
        m.insert(tx("bank", 0, 3), 0).unwrap();
        // another node's transaction took tax's nonce 4: the committed next nonce is 5
        let touched = ["tax".to_string()].into_iter().collect();
        let stale = m.drop_stale(&touched, |t| (t.body.sender == "tax").then_some(5));
        assert_eq!(stale, vec![[1; 32]]);
        assert_eq!(m.len(), 2);
        assert_eq!(m.next_nonce("tax", 5), 6, "nonce 5 is still pending");
    }
}
