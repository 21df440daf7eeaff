//! The durable Raft log of a validator (see `docs/design/raft.md`).
//!
//! It is a RocksDB instance of its own, beside the chain store: a checkpoint of the chain
//! (a Raft snapshot) then never carries a log, and installing one never overwrites the
//! receiver's log. Entries are keyed by their index (u64 big-endian) in the `logs`
//! column; the vote, the last purged log id and the committed log id live in `meta`.
//! Every write is one synced `WriteBatch`: when a call returns, it is on disk, which is
//! what Raft requires of the vote and of appended entries before they are acknowledged.

use std::path::Path;

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};

use crate::{Result, rocks};

const LOGS: &str = "logs";
const META: &str = "meta";

/// The Raft log.
#[derive(Debug)]
pub struct RaftLog {
    db: DB,
}

impl RaftLog {
    /// Opens (creating if missing) the log at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = [LOGS, META].map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(rocks("open raft log"))?;
        Ok(RaftLog { db })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("created at open")
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .write_opt(batch, &wo)
            .map_err(rocks("write raft log"))
    }

    /// A metadata value (vote, last purged, committed).
    pub fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db
            .get_cf(self.cf(META), key)
            .map_err(rocks("read raft meta"))
    }

    /// Writes a metadata value durably.
    pub fn save_meta(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(META), key, value);
        self.write(b)
    }

    /// Appends (or overwrites) entries `(index, bytes)` in one durable batch.
    pub fn append(&self, entries: impl IntoIterator<Item = (u64, Vec<u8>)>) -> Result<()> {
        let mut b = WriteBatch::default();
        for (i, e) in entries {
            b.put_cf(self.cf(LOGS), i.to_be_bytes(), e);
        }
        self.write(b)
    }

    /// Entries with `start <= index < end`, in index order (missing ones are skipped).
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let from = start.to_be_bytes();
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(LOGS), IteratorMode::From(&from, Direction::Forward))
        {
            let (k, v) = item.map_err(rocks("read raft log"))?;
            let i = index_of(&k);
            if i >= end {
                break;
            }
            out.push((i, v.to_vec()));
        }
        Ok(out)
    }

    /// The entry with the highest index.
    pub fn last(&self) -> Result<Option<(u64, Vec<u8>)>> {
        match self.db.iterator_cf(self.cf(LOGS), IteratorMode::End).next() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item.map_err(rocks("read raft log"))?;
                Ok(Some((index_of(&k), v.to_vec())))
            }
        }
    }

    /// Deletes every entry with `index >= from` (a conflicting suffix), durably.
    pub fn truncate(&self, from: u64) -> Result<()> {
        let mut b = WriteBatch::default();
        b.delete_range_cf(self.cf(LOGS), from.to_be_bytes(), u64::MAX.to_be_bytes());
        b.delete_cf(self.cf(LOGS), u64::MAX.to_be_bytes());
        self.write(b)
    }

    /// Deletes every entry with `index <= upto` and records `last_purged` under
    /// `meta_key`, in one durable batch (the record is never behind the deletion).
    pub fn purge(&self, upto: u64, meta_key: &[u8], last_purged: &[u8]) -> Result<()> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(META), meta_key, last_purged);
        b.delete_range_cf(
            self.cf(LOGS),
            0u64.to_be_bytes(),
            upto.saturating_add(1).to_be_bytes(),
        );
        self.write(b)
    }
}

fn index_of(key: &[u8]) -> u64 {
    u64::from_be_bytes(key.try_into().expect("raft log keys are 8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::RaftLog;

    fn indexes(log: &RaftLog, start: u64, end: u64) -> Vec<u64> {
        log.entries(start, end)
            .unwrap()
            .into_iter()
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn append_read_truncate_purge_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = RaftLog::open(dir.path()).unwrap();
            assert!(log.last().unwrap().is_none());
            log.append((1..=10).map(|i| (i, vec![i as u8]))).unwrap();
            assert_eq!(indexes(&log, 3, 6), [3, 4, 5]);
            assert_eq!(log.last().unwrap(), Some((10, vec![10])));
            // A conflicting suffix from index 8 goes, and is replaced.
            log.truncate(8).unwrap();
            assert_eq!(log.last().unwrap(), Some((7, vec![7])));
            log.append([(8, b"new".to_vec())]).unwrap();
            // Purging up to 4 records the purged id with the deletion.
            log.purge(4, b"last_purged", b"4").unwrap();
            assert_eq!(indexes(&log, 0, 100), [5, 6, 7, 8]);
            log.save_meta(b"vote", b"term 3 for node 2").unwrap();
        }
        // Everything acknowledged is there after reopening.
        let log = RaftLog::open(dir.path()).unwrap();
        assert_eq!(indexes(&log, 0, 100), [5, 6, 7, 8]);
        assert_eq!(log.entries(8, 9).unwrap()[0].1, b"new");
        assert_eq!(log.meta(b"vote").unwrap().unwrap(), b"term 3 for node 2");
        assert_eq!(log.meta(b"last_purged").unwrap().unwrap(), b"4");
        assert!(log.meta(b"committed").unwrap().is_none());
    }
}
