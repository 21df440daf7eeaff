//! RocksDB storage for govchain.
//!
//! One column family per kind of record ([`Column`]). A block and everything it changes
//! (the block, transaction index, receipts, state writes, secondary indexes and the new
//! tip) are written in one atomic `WriteBatch` by [`Store::commit_block`]; with `sync`
//! on (the default for real nodes) RocksDB fsyncs its write-ahead log before the call
//! returns, so a block acknowledged as committed survives a crash or power loss. On
//! reopening, the store holds exactly the blocks up to the last completed commit.
//!
//! Keys that must iterate in order (heights) are big-endian.

use std::collections::BTreeMap;
use std::path::Path;

pub mod table;
pub use table::{Corrupt, KeyCodec, Records, Table, ValueCodec};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompressionType, Direction,
    IteratorMode, Options, WriteBatch, WriteOptions,
};

/// Column families of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Column {
    /// Node metadata: tip, genesis hash.
    Meta,
    /// Height (u64 BE) → encoded block.
    Blocks,
    /// Block hash → height (u64 BE).
    BlockHashes,
    /// Transaction hash → height (u64 BE) || index (u32 BE).
    Txs,
    /// Transaction hash → encoded receipt.
    Receipts,
    /// Replicated application state, written only by block execution.
    State,
    /// Secondary indexes maintained by execution (e.g. audit by subject); key layout is
    /// owned by the module that writes it.
    Index,
}

impl Column {
    const ALL: [Column; 7] = [
        Column::Meta,
        Column::Blocks,
        Column::BlockHashes,
        Column::Txs,
        Column::Receipts,
        Column::State,
        Column::Index,
    ];

    /// Column family name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Column::Meta => "meta",
            Column::Blocks => "blocks",
            Column::BlockHashes => "block_hashes",
            Column::Txs => "txs",
            Column::Receipts => "receipts",
            Column::State => "state",
            Column::Index => "index",
        }
    }
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error.
    #[error("rocksdb {op}: {source}")]
    Rocks {
        /// The operation that failed.
        op: &'static str,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// A stored value has an unexpected shape.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// The record.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A commit does not extend the current tip.
    #[error("block {height} does not follow the tip at {tip:?}")]
    NotNext {
        /// Height being committed.
        height: u64,
        /// Current tip height, if any.
        tip: Option<u64>,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, StoreError>;

impl Records for Store {
    fn read<K: KeyCodec, V: ValueCodec>(
        &self,
        table: &Table<K, V>,
        key: K::Key<'_>,
    ) -> Result<Option<V::Value>> {
        match self.get(table.column(), &table.key(key))? {
            Some(raw) => Ok(Some(table.decode_value(&raw)?)),
            None => Ok(None),
        }
    }
}

impl From<Corrupt> for StoreError {
    fn from(c: Corrupt) -> Self {
        StoreError::Corrupt {
            what: c.table,
            reason: c.reason,
        }
    }
}

pub(crate) fn rocks(op: &'static str) -> impl FnOnce(rocksdb::Error) -> StoreError {
    move |source| StoreError::Rocks { op, source }
}

/// A stored key and value.
pub type KeyValue = (Box<[u8]>, Box<[u8]>);

/// The committed tip: height and block hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// Height of the last committed block.
    pub height: u64,
    /// Its hash.
    pub hash: [u8; 32],
}

/// Where a committed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
}

/// Everything one block writes; applied atomically by [`Store::commit_block`].
#[derive(Debug, Default)]
pub struct BlockCommit {
    /// Block height; must be tip + 1 (or 0 on an empty store).
    pub height: u64,
    /// Block hash.
    pub hash: [u8; 32],
    /// Encoded block.
    pub block: Vec<u8>,
    /// Transaction hashes in block order, with their encoded receipts.
    pub txs: Vec<([u8; 32], Vec<u8>)>,
    /// State writes: `Some` puts, `None` deletes.
    pub state: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Secondary index entries to put.
    pub index: Vec<(Vec<u8>, Vec<u8>)>,
    /// Node metadata written with the block (what decided it: the BFT commit
    /// certificate), so the two can never disagree after a crash.
    pub meta: Vec<(Vec<u8>, Vec<u8>)>,
}

const TIP_KEY: &[u8] = b"tip";

/// The node's RocksDB database.
#[derive(Debug)]
pub struct Store {
    db: DB,
    sync: bool,
}

impl Store {
    /// Opens (creating if missing) the store at `path`. `sync` makes every block commit
    /// durable before it returns.
    pub fn open(path: &Path, sync: bool) -> Result<Self> {
        Self::open_with(path, sync, Options::default())
    }

    /// A store held in memory only (RocksDB's in-memory environment): the same engine,
    /// columns and atomic commits as [`Store::open`], gone when dropped. For tests and
    /// one-off replays.
    pub fn in_memory() -> Result<Self> {
        let mut opts = Options::default();
        opts.set_env(&rocksdb::Env::mem_env().map_err(rocks("open in memory"))?);
        Self::open_with(Path::new("/govchain-in-memory"), false, opts)
    }

    fn open_with(path: &Path, sync: bool, mut opts: Options) -> Result<Self> {
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.increase_parallelism(2);
        let cache = Cache::new_lru_cache(64 << 20);
        let cfs = Column::ALL.iter().map(|c| {
            let mut o = Options::default();
            o.set_compression_type(DBCompressionType::Lz4);
            let mut t = BlockBasedOptions::default();
            t.set_block_cache(&cache);
            t.set_bloom_filter(10.0, false);
            o.set_block_based_table_factory(&t);
            ColumnFamilyDescriptor::new(c.name(), o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(rocks("open"))?;
        Ok(Store { db, sync })
    }

    fn cf(&self, c: Column) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(c.name())
            .expect("every column family is created at open")
    }

    /// Reads one value.
    pub fn get(&self, c: Column, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get_cf(self.cf(c), key).map_err(rocks("get"))
    }

    /// Iterates `(key, value)` pairs whose key starts with `prefix`, in key order,
    /// starting at `start` (inclusive; must itself start with `prefix`) when given. The
    /// iterator does not borrow `start` (the seek happens here).
    pub fn scan_prefix<'a>(
        &'a self,
        c: Column,
        prefix: Vec<u8>,
        start: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<KeyValue>> + use<'a> {
        let from = start.unwrap_or(&prefix);
        self.db
            .iterator_cf(self.cf(c), IteratorMode::From(from, Direction::Forward))
            .map(|r| r.map_err(rocks("iterate")))
            .take_while(move |r| match r {
                Ok((k, _)) => k.starts_with(&prefix),
                Err(_) => true,
            })
    }

    /// Iterates `(key, value)` pairs with `prefix` in reverse key order.
    pub fn scan_prefix_rev<'a>(
        &'a self,
        c: Column,
        prefix: Vec<u8>,
    ) -> impl Iterator<Item = Result<KeyValue>> + 'a {
        let mut end = prefix.clone();
        // The smallest key greater than every key with this prefix.
        while let Some(last) = end.pop() {
            if last < 0xff {
                end.push(last + 1);
                break;
            }
        }
        let mode = if end.is_empty() {
            IteratorMode::End
        } else {
            IteratorMode::From(&end, Direction::Reverse)
        };
        let end_key = end.clone();
        self.db
            .iterator_cf(self.cf(c), mode)
            .map(|r| r.map_err(rocks("iterate")))
            .skip_while(move |r| matches!(r, Ok((k, _)) if !end_key.is_empty() && **k >= *end_key))
            .take_while(move |r| match r {
                Ok((k, _)) => k.starts_with(&prefix),
                Err(_) => true,
            })
    }

    /// The committed tip, if any block was committed.
    pub fn tip(&self) -> Result<Option<Tip>> {
        let Some(v) = self.get(Column::Meta, TIP_KEY)? else {
            return Ok(None);
        };
        if v.len() != 40 {
            return Err(StoreError::Corrupt {
                what: "tip",
                reason: format!("{} bytes, expected 40", v.len()),
            });
        }
        Ok(Some(Tip {
            height: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
            hash: v[8..].try_into().expect("32 bytes"),
        }))
    }

    /// Writes a block and everything it changes in one atomic batch.
    pub fn commit_block(&self, commit: BlockCommit) -> Result<()> {
        let tip = self.tip()?;
        let expected = tip.map_or(0, |t| t.height + 1);
        if commit.height != expected {
            return Err(StoreError::NotNext {
                height: commit.height,
                tip: tip.map(|t| t.height),
            });
        }
        let mut batch = WriteBatch::default();
        let h = commit.height.to_be_bytes();
        batch.put_cf(self.cf(Column::Blocks), h, &commit.block);
        batch.put_cf(self.cf(Column::BlockHashes), commit.hash, h);
        for (i, (tx_hash, receipt)) in commit.txs.iter().enumerate() {
            let mut loc = [0u8; 12];
            loc[..8].copy_from_slice(&h);
            loc[8..].copy_from_slice(&(i as u32).to_be_bytes());
            batch.put_cf(self.cf(Column::Txs), tx_hash, loc);
            batch.put_cf(self.cf(Column::Receipts), tx_hash, receipt);
        }
        let state = self.cf(Column::State);
        for (k, v) in &commit.state {
            match v {
                Some(v) => batch.put_cf(state, k, v),
                None => batch.delete_cf(state, k),
            }
        }
        let index = self.cf(Column::Index);
        for (k, v) in &commit.index {
            batch.put_cf(index, k, v);
        }
        for (k, v) in &commit.meta {
            batch.put_cf(self.cf(Column::Meta), k, v);
        }
        let mut tip = [0u8; 40];
        tip[..8].copy_from_slice(&h);
        tip[8..].copy_from_slice(&commit.hash);
        batch.put_cf(self.cf(Column::Meta), TIP_KEY, tip);
        let mut wo = WriteOptions::default();
        wo.set_sync(self.sync);
        self.db.write_opt(batch, &wo).map_err(rocks("commit block"))
    }

    /// Encoded block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Vec<u8>>> {
        self.get(Column::Blocks, &height.to_be_bytes())
    }

    /// Height of the block with `hash`.
    pub fn block_height(&self, hash: &[u8]) -> Result<Option<u64>> {
        self.get(Column::BlockHashes, hash)?
            .map(|v| be_u64("block height", &v))
            .transpose()
    }

    /// Where a committed transaction is.
    pub fn tx_location(&self, tx_hash: &[u8]) -> Result<Option<TxLocation>> {
        let Some(v) = self.get(Column::Txs, tx_hash)? else {
            return Ok(None);
        };
        if v.len() != 12 {
            return Err(StoreError::Corrupt {
                what: "tx location",
                reason: format!("{} bytes, expected 12", v.len()),
            });
        }
        Ok(Some(TxLocation {
            height: u64::from_be_bytes(v[..8].try_into().expect("8")),
            index: u32::from_be_bytes(v[8..].try_into().expect("4")),
        }))
    }

    /// Whether a transaction with this hash is committed.
    pub fn has_tx(&self, tx_hash: &[u8]) -> Result<bool> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(Column::Txs), tx_hash)
            .map_err(rocks("get"))?
            .is_some())
    }

    /// Encoded receipt of a committed transaction.
    pub fn receipt(&self, tx_hash: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(Column::Receipts, tx_hash)
    }

    /// Reads a state value.
    pub fn state(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(Column::State, key)
    }

    /// A record's stored bytes, undecoded (what a Merkle proof commits to).
    pub fn read_raw<K: KeyCodec, V: ValueCodec>(
        &self,
        table: &Table<K, V>,
        key: K::Key<'_>,
    ) -> Result<Option<Vec<u8>>> {
        self.get(table.column(), &table.key(key))
    }

    /// The records of a table under `within` ([`Table::all`] or [`Table::within`]) in key
    /// order, from `from` (inclusive; a key under `within`) when given.
    pub fn scan<'a, K: KeyCodec, V: ValueCodec>(
        &'a self,
        table: &'a Table<K, V>,
        within: Vec<u8>,
        from: Option<Vec<u8>>,
    ) -> impl Iterator<Item = Result<(K::Owned, V::Value)>> + 'a {
        self.scan_prefix(table.column(), within, from.as_deref())
            .map(move |r| r.and_then(|kv| Ok(table.decode(kv)?)))
    }

    /// The records of a table under `within`, in reverse key order.
    pub fn scan_rev<'a, K: KeyCodec, V: ValueCodec>(
        &'a self,
        table: &'a Table<K, V>,
        within: Vec<u8>,
    ) -> impl Iterator<Item = Result<(K::Owned, V::Value)>> + 'a {
        self.scan_prefix_rev(table.column(), within)
            .map(move |r| r.and_then(|kv| Ok(table.decode(kv)?)))
    }

    /// Puts node metadata values in one synced batch, outside a block commit.
    pub fn put_meta_batch(&self, entries: &[(&[u8], &[u8])]) -> Result<()> {
        let mut batch = WriteBatch::default();
        for (k, v) in entries {
            batch.put_cf(self.cf(Column::Meta), k, v);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(rocks("put meta"))
    }

    /// Appends one node metadata value without waiting for the disk: it survives the
    /// process being killed (RocksDB's log is written before this returns) and reaches
    /// the disk at the latest with the next synced write, which carries every write
    /// before it.
    pub fn append_meta(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db
            .put_cf(self.cf(Column::Meta), key, value)
            .map_err(rocks("append meta"))
    }

    /// Deletes the node metadata keys in `[from, to)`.
    pub fn delete_meta_range(&self, from: &[u8], to: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(Column::Meta), from, to);
        self.db.write(batch).map_err(rocks("delete meta"))
    }

    /// Flushes memtables to SST files (at shutdown).
    pub fn flush(&self) -> Result<()> {
        for c in Column::ALL {
            self.db.flush_cf(self.cf(c)).map_err(rocks("flush"))?;
        }
        Ok(())
    }
}

fn be_u64(what: &'static str, v: &[u8]) -> Result<u64> {
    v.try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            what,
            reason: format!("{} bytes, expected 8", v.len()),
        })
}

#[cfg(test)]
mod tests;
