//! Pending writes over the committed state, with per-transaction rollback.

use std::collections::BTreeMap;

use govchain_store::Store;

use crate::Result;

/// Writes of a block in progress over the committed store. A transaction's writes go to
/// a separate layer first ([`Overlay::begin_tx`]); they reach the block only when the
/// transaction succeeds ([`Overlay::commit_tx`]), otherwise they are dropped
/// ([`Overlay::discard_tx`]). Ordered maps keep iteration deterministic.
#[derive(Debug)]
pub struct Overlay<'s> {
    store: &'s Store,
    block: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    tx: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'s> Overlay<'s> {
    /// An empty overlay over `store`.
    pub fn new(store: &'s Store) -> Self {
        Overlay {
            store,
            block: BTreeMap::new(),
            tx: BTreeMap::new(),
        }
    }

    /// Reads through the transaction layer, the block layer, then the store.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.tx.get(key).or_else(|| self.block.get(key)) {
            return Ok(v.clone());
        }
        Ok(self.store.state(key)?)
    }

    /// Writes into the transaction layer.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.tx.insert(key, Some(value));
    }

    /// Deletes in the transaction layer.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.tx.insert(key, None);
    }

    /// Starts a transaction layer (it must be empty).
    pub fn begin_tx(&mut self) {
        debug_assert!(self.tx.is_empty(), "previous transaction not finished");
    }

    /// Moves the transaction's writes into the block.
    pub fn commit_tx(&mut self) {
        let tx = std::mem::take(&mut self.tx);
        self.block.extend(tx);
    }

    /// Drops the transaction's writes.
    pub fn discard_tx(&mut self) {
        self.tx.clear();
    }

    /// The block's write set, sorted by key.
    pub fn into_writes(mut self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.commit_tx();
        self.block
    }
}
