//! Pending writes over the committed state, with per-transaction rollback.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use govchain_store::{Column, KeyCodec, Records, Store, Table, ValueCodec};
use govchain_types::pb;

use crate::Result;

/// State writes of one block, in key order (`None` deletes).
pub type StateWrites = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes of a block in progress over the committed store, and over the writes of
/// blocks built but not committed yet (a leader building block n+1 while block n
/// replicates: [`Overlay::over`]). A transaction's writes go to
/// a separate layer first ([`Overlay::begin_tx`]); they reach the block only when the
/// transaction succeeds ([`Overlay::commit_tx`]), otherwise they are dropped
/// ([`Overlay::discard_tx`]). Ordered maps keep iteration deterministic.
///
/// The access gate's effects are *sticky* ([`Overlay::write_sticky`],
/// [`crate::access::audit`]): a read that happened stays paid and audited even when the
/// transaction that made it fails afterwards (a contract that reads and then aborts).
#[derive(Debug)]
pub struct Overlay {
    store: Arc<Store>,
    /// Uncommitted blocks' writes below this one, oldest first.
    base: Vec<Arc<StateWrites>>,
    block: StateWrites,
    tx: StateWrites,
    sticky: BTreeMap<Vec<u8>, Vec<u8>>,
    index_block: Vec<(Vec<u8>, Vec<u8>)>,
    index_tx: Vec<(Vec<u8>, Vec<u8>)>,
    index_sticky: Vec<(Vec<u8>, Vec<u8>)>,
    audit: Vec<pb::AuditRecord>,
}

/// Everything a block's execution produced, sorted where order matters.
#[derive(Debug, Default)]
pub struct Writes {
    /// State writes in key order.
    pub state: StateWrites,
    /// Index-column entries in the order they were made.
    pub index: Vec<(Vec<u8>, Vec<u8>)>,
    /// Audit records in sequence order.
    pub audit: Vec<pb::AuditRecord>,
}

impl Overlay {
    /// An empty overlay over `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self::over(store, Vec::new())
    }

    /// An empty overlay over `base` (the writes of uncommitted blocks, oldest first)
    /// over `store`.
    pub fn over(store: Arc<Store>, base: Vec<Arc<StateWrites>>) -> Self {
        Overlay {
            store,
            base,
            block: BTreeMap::new(),
            tx: BTreeMap::new(),
            sticky: BTreeMap::new(),
            index_block: Vec::new(),
            index_tx: Vec::new(),
            index_sticky: Vec::new(),
            audit: Vec::new(),
        }
    }

    /// The pending layers, newest first: transaction, block, then the uncommitted
    /// blocks below.
    fn layers(&self) -> impl Iterator<Item = &StateWrites> {
        [&self.tx, &self.block]
            .into_iter()
            .chain(self.base.iter().rev().map(|b| &**b))
    }

    /// Reads through the pending layers, then the store.
    fn get(&self, key: &[u8]) -> govchain_store::Result<Option<Vec<u8>>> {
        if let Some(v) = self.layers().find_map(|l| l.get(key)) {
            return Ok(v.clone());
        }
        self.store.state(key)
    }

    /// The records of a state table under `within` ([`Table::all`] or
    /// [`Table::within`]) after the key `after` (exclusive), in key order, through the
    /// pending layers and the store.
    pub fn records<'a, K: KeyCodec, V: ValueCodec>(
        &'a self,
        table: &'a Table<K, V>,
        within: Vec<u8>,
        after: Option<Vec<u8>>,
    ) -> impl Iterator<Item = Result<(K::Owned, V::Value)>> + 'a {
        debug_assert_eq!(
            table.column(),
            Column::State,
            "the overlay holds state tables"
        );
        self.scan(within, after).map(move |r| {
            r.and_then(|kv| Ok(table.decode(kv).map_err(govchain_store::StoreError::from)?))
        })
    }

    /// Writes a record in the transaction layer.
    pub fn write<K: KeyCodec, V: ValueCodec>(
        &mut self,
        table: &Table<K, V>,
        key: K::Key<'_>,
        value: &V::Value,
    ) {
        let (k, v) = state_entry(table, key, value);
        self.put(k, v);
    }

    /// Deletes a record in the transaction layer.
    pub fn remove<K: KeyCodec, V: ValueCodec>(&mut self, table: &Table<K, V>, key: K::Key<'_>) {
        self.delete(table.key(key));
    }

    /// Writes a record that survives [`Overlay::discard_tx`] (the gate's points moves and
    /// counters; see `put_sticky`).
    pub fn write_sticky<K: KeyCodec, V: ValueCodec>(
        &mut self,
        table: &Table<K, V>,
        key: K::Key<'_>,
        value: &V::Value,
    ) {
        let (k, v) = state_entry(table, key, value);
        self.put_sticky(k, v);
    }

    /// Adds an `index`-column record, kept only if the transaction succeeds, or always
    /// when `sticky` (it survives [`Overlay::discard_tx`]).
    pub fn add_index<K: KeyCodec, V: ValueCodec>(
        &mut self,
        table: &Table<K, V>,
        key: K::Key<'_>,
        value: &V::Value,
        sticky: bool,
    ) {
        debug_assert_eq!(
            table.column(),
            Column::Index,
            "index records go to the index column"
        );
        let entry = (table.key(key), table.encode_value(value));
        if sticky {
            self.index_sticky.push(entry);
        } else {
            self.index_tx.push(entry);
        }
    }

    /// Moves the pending writes out, leaving an empty overlay over the same store and
    /// base (a contract call takes the overlay into the VM's host and hands it back
    /// after).
    pub fn take(&mut self) -> Overlay {
        let empty = Overlay::over(self.store.clone(), self.base.clone());
        std::mem::replace(self, empty)
    }

    /// `(key, value)` pairs under `prefix` after `after` (exclusive), in key order,
    /// through the pending layers (the newest write of a key wins; a deletion hides it)
    /// and the store. One store iterator serves the whole walk (a walk that sought a new
    /// one per key was a tenth of a node's execution thread under load).
    fn scan(
        &self,
        prefix: Vec<u8>,
        after: Option<Vec<u8>>,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_ {
        let skip_first = after.is_some();
        let start = after.unwrap_or_else(|| prefix.clone());
        let layers = self
            .layers()
            .map(|layer| {
                let (start, prefix) = (start.clone(), prefix.clone());
                let it = layer
                    .range::<[u8], _>((Bound::Included(&start[..]), Bound::Unbounded))
                    .take_while(move |(k, _)| k.starts_with(&prefix))
                    .filter(move |(k, _)| !(skip_first && **k == start));
                (Box::new(it) as LayerIter<'_>).peekable()
            })
            .collect();
        let store = self
            .store
            .scan_prefix(Column::State, prefix, Some(&start))
            .filter(move |r| !(skip_first && r.as_ref().is_ok_and(|(k, _)| **k == *start)));
        Merged {
            store: store.peekable(),
            pending: Pending { layers }.peekable(),
        }
    }

    /// Writes into the transaction layer.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        debug_assert!(
            !self.sticky.contains_key(&key),
            "a sticky key written non-sticky in the same transaction"
        );
        self.tx.insert(key, Some(value));
    }

    /// Deletes in the transaction layer.
    fn delete(&mut self, key: Vec<u8>) {
        self.tx.insert(key, None);
    }

    /// Writes a value that survives [`Overlay::discard_tx`] (the gate's points moves
    /// and counters). Within one transaction a key is written either sticky or not,
    /// never both (gate reads happen in requests and contract calls, which write points
    /// only through the gate; rewards and adjustments are other transactions), so the
    /// last sticky value of a key is also its value in the transaction layer.
    fn put_sticky(&mut self, key: Vec<u8>, value: Vec<u8>) {
        debug_assert!(
            !self.tx.contains_key(&key) || self.sticky.contains_key(&key),
            "a key written non-sticky, then sticky, in the same transaction"
        );
        self.sticky.insert(key.clone(), value.clone());
        self.tx.insert(key, Some(value));
    }

    /// Appends an audit record; audit records always survive the transaction.
    pub(crate) fn push_audit(&mut self, record: pb::AuditRecord) {
        self.audit.push(record);
    }

    /// Audit records of the block so far.
    pub fn audit(&self) -> &[pb::AuditRecord] {
        &self.audit
    }

    /// Starts a transaction layer (it must be empty).
    pub fn begin_tx(&mut self) {
        debug_assert!(self.tx.is_empty(), "previous transaction not finished");
    }

    /// Moves the transaction's writes into the block.
    pub fn commit_tx(&mut self) {
        let tx = std::mem::take(&mut self.tx);
        self.block.extend(tx);
        self.sticky.clear();
        self.index_block.append(&mut self.index_sticky);
        self.index_block.append(&mut self.index_tx);
    }

    /// Drops the transaction's writes, except its sticky ones.
    pub fn discard_tx(&mut self) {
        self.tx.clear();
        self.index_tx.clear();
        let sticky = std::mem::take(&mut self.sticky);
        self.block
            .extend(sticky.into_iter().map(|(k, v)| (k, Some(v))));
        self.index_block.append(&mut self.index_sticky);
    }

    /// The block's writes.
    pub fn into_writes(mut self) -> Writes {
        self.commit_tx();
        Writes {
            state: self.block,
            index: self.index_block,
            audit: self.audit,
        }
    }
}

/// One pending layer's entries under a prefix, in key order.
type LayerIter<'a> = Box<dyn Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)> + 'a>;

/// A state record's stored key and value.
fn state_entry<K: KeyCodec, V: ValueCodec>(
    table: &Table<K, V>,
    key: K::Key<'_>,
    value: &V::Value,
) -> (Vec<u8>, Vec<u8>) {
    debug_assert_eq!(
        table.column(),
        Column::State,
        "the overlay holds state tables"
    );
    table.entry(key, value)
}

impl Records for Overlay {
    fn read<K: KeyCodec, V: ValueCodec>(
        &self,
        table: &Table<K, V>,
        key: K::Key<'_>,
    ) -> govchain_store::Result<Option<V::Value>> {
        debug_assert_eq!(
            table.column(),
            Column::State,
            "the overlay holds state tables"
        );
        match self.get(&table.key(key))? {
            Some(raw) => Ok(Some(table.decode_value(&raw)?)),
            None => Ok(None),
        }
    }
}

/// The pending layers merged in key order; of a key written in several layers, the
/// newest layer's write (layers are ordered newest first).
struct Pending<'a> {
    layers: Vec<std::iter::Peekable<LayerIter<'a>>>,
}

impl<'a> Iterator for Pending<'a> {
    type Item = (&'a Vec<u8>, &'a Option<Vec<u8>>);

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, &'a Vec<u8>)> = None;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            if let Some(&(k, _)) = layer.peek()
                && best.is_none_or(|(_, b)| k < b)
            {
                best = Some((i, k));
            }
        }
        let (i, key) = best?;
        let item = self.layers[i].next();
        for layer in &mut self.layers {
            while layer.peek().is_some_and(|&(k, _)| k == key) {
                layer.next(); // an older write of the same key
            }
        }
        item
    }
}

/// The store's entries merged with pending writes, both in key order.
struct Merged<'a, S: Iterator<Item = govchain_store::Result<govchain_store::KeyValue>>> {
    store: std::iter::Peekable<S>,
    pending: std::iter::Peekable<Pending<'a>>,
}

impl<S: Iterator<Item = govchain_store::Result<govchain_store::KeyValue>>> Iterator
    for Merged<'_, S>
{
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::cmp::Ordering;
        loop {
            let pending_first = match (self.store.peek(), self.pending.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) | (Some(Ok(_)), None) => false,
                (None, Some(_)) => true,
                (Some(Ok((sk, _))), Some((pk, _))) => match pk.as_slice().cmp(sk) {
                    Ordering::Less => true,
                    Ordering::Equal => {
                        self.store.next(); // shadowed by the pending write
                        true
                    }
                    Ordering::Greater => false,
                },
            };
            if !pending_first {
                return self.store.next().map(|r| {
                    r.map(|(k, v)| (k.into_vec(), v.into_vec()))
                        .map_err(Into::into)
                });
            }
            if let Some((k, Some(v))) = self.pending.next() {
                return Some(Ok((k.clone(), v.clone())));
            }
            // A pending deletion: the key is gone; look further.
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use govchain_store::table::{Text, Unit};
    use govchain_store::{BlockCommit, Column, Store, Table};

    use super::Overlay;

    /// A store whose committed state holds `keys`, each with `value`.
    fn committed(keys: &[&str], value: &str) -> Arc<Store> {
        let store = Arc::new(Store::in_memory().unwrap());
        let state = keys
            .iter()
            .map(|k| (k.as_bytes().to_vec(), Some(value.as_bytes().to_vec())))
            .collect();
        store
            .commit_block(BlockCommit {
                state,
                ..Default::default()
            })
            .unwrap();
        store
    }

    /// The keys under `prefix`, by one scan, checked against a walk of one-key scans
    /// from each key (every `after` position agrees with the whole scan).
    fn keys_in(o: &Overlay, prefix: &[u8]) -> Vec<String> {
        let all: Vec<Vec<u8>> = o
            .scan(prefix.to_vec(), None)
            .map(|r| r.unwrap().0)
            .collect();
        let mut walked = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        while let Some(r) = o.scan(prefix.to_vec(), after.clone()).next() {
            let k = r.unwrap().0;
            walked.push(k.clone());
            after = Some(k);
        }
        assert_eq!(all, walked);
        all.into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect()
    }

    #[test]
    fn scans_merge_pending_writes_deletes_and_the_store() {
        let store = committed(&["p/a", "p/c", "p/e", "q/a"], "v");
        let mut o = Overlay::new(store.clone());
        o.put(b"p/b".to_vec(), b"block".to_vec());
        o.delete(b"p/c".to_vec());
        o.commit_tx();
        o.put(b"p/d".to_vec(), b"tx".to_vec());
        o.delete(b"p/e".to_vec());
        o.put(b"p/c".to_vec(), b"back".to_vec());
        assert_eq!(keys_in(&o, b"p/"), ["p/a", "p/b", "p/c", "p/d"]);
        assert_eq!(
            o.scan(b"p/".to_vec(), Some(b"p/c".to_vec()))
                .next()
                .unwrap()
                .unwrap(),
            (b"p/d".to_vec(), b"tx".to_vec())
        );
        o.discard_tx();
        assert_eq!(keys_in(&o, b"p/"), ["p/a", "p/b", "p/e"]);
        assert_eq!(keys_in(&o, b"q/"), ["q/a"]);
        assert_eq!(keys_in(&o, b"r/"), Vec::<String>::new());
        // take() hands the writes over and leaves an empty overlay.
        let taken = o.take();
        assert_eq!(keys_in(&o, b"p/"), ["p/a", "p/c", "p/e"]);
        assert_eq!(keys_in(&taken, b"p/"), ["p/a", "p/b", "p/e"]);
    }

    #[test]
    fn uncommitted_blocks_below_are_read_newest_first() {
        let store = committed(&["p/a", "p/b"], "store");
        let w = |pairs: &[(&str, Option<&str>)]| {
            Arc::new(
                pairs
                    .iter()
                    .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        let older = w(&[
            ("p/a", None),
            ("p/c", Some("older")),
            ("p/d", Some("older")),
        ]);
        let newer = w(&[("p/a", Some("newer")), ("p/d", None)]);
        let mut o = Overlay::over(store, vec![older, newer]);
        assert_eq!(o.get(b"p/a").unwrap(), Some(b"newer".to_vec()));
        assert_eq!(o.get(b"p/c").unwrap(), Some(b"older".to_vec()));
        assert_eq!(o.get(b"p/d").unwrap(), None);
        assert_eq!(keys_in(&o, b"p/"), ["p/a", "p/b", "p/c"]);
        let values: Vec<Vec<u8>> = o.scan(b"p/".to_vec(), None).map(|r| r.unwrap().1).collect();
        assert_eq!(
            values,
            [&b"newer"[..], b"store", b"older"],
            "the newest write's value"
        );
        o.delete(b"p/b".to_vec());
        assert_eq!(keys_in(&o, b"p/"), ["p/a", "p/c"]);
        // a contract call's take() keeps reading through the same blocks
        let taken = o.take();
        assert_eq!(keys_in(&o, b"p/"), ["p/a", "p/b", "p/c"]);
        assert_eq!(keys_in(&taken, b"p/"), ["p/a", "p/c"]);
    }

    #[test]
    fn sticky_writes_survive_a_failed_transaction() {
        const MARK: Table<Text, Unit> = Table::new("mark", Column::Index, b"i/");
        let mut o = Overlay::new(Arc::new(Store::in_memory().unwrap()));
        o.put(b"a".to_vec(), b"1".to_vec());
        o.put_sticky(b"pt/tax".to_vec(), b"9".to_vec());
        o.add_index(&MARK, "tx", &(), false);
        o.add_index(&MARK, "sticky", &(), true);
        o.discard_tx();
        o.put(b"b".to_vec(), b"2".to_vec());
        o.add_index(&MARK, "kept", &(), false);
        o.commit_tx();
        let w = o.into_writes();
        let keys: Vec<_> = w.state.keys().cloned().collect();
        assert_eq!(keys, [b"b".to_vec(), b"pt/tax".to_vec()]);
        let idx: Vec<_> = w.index.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(idx, [b"i/sticky".to_vec(), b"i/kept".to_vec()]);
    }
}
