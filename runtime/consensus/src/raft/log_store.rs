//! The Raft log over [`govchain_store::RaftLog`]: every append, truncation, purge and
//! vote is on disk (fsync) before openraft is told it is done.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use govchain_store::RaftLog;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogId, LogState, RaftLogReader, StorageError, Vote};

use super::codec::{decode_entry, encode_entry};
use super::{Entry, GovRaft};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The log store; clones share the database.
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    log: Arc<RaftLog>,
}

impl LogStore {
    pub(crate) fn new(log: RaftLog) -> Self {
        LogStore { log: Arc::new(log) }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError<u64>> {
        let raw = self
            .log
            .meta(key)
            .map_err(|e| openraft::StorageError::from(openraft::StorageIOError::read_logs(&e)))?;
        raw.map(|v| {
            serde_json::from_slice(&v)
                .map_err(|e| openraft::StorageError::from(openraft::StorageIOError::read_logs(&e)))
        })
        .transpose()
    }

    fn save_json<T: serde::Serialize>(&self, key: &[u8], v: &T) -> Result<(), std::io::Error> {
        let raw = serde_json::to_vec(v).expect("serialises");
        self.log.save_meta(key, &raw).map_err(std::io::Error::other)
    }
}

impl RaftLogReader<GovRaft> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<u64>> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        self.log
            .entries(start, end)
            .map_err(|e| openraft::StorageError::from(openraft::StorageIOError::read_logs(&e)))?
            .into_iter()
            .map(|(i, raw)| {
                decode_entry(&raw).map_err(|e| {
                    openraft::StorageError::from(openraft::StorageIOError::read_log_at_index(
                        i,
                        openraft::AnyError::error(e),
                    ))
                })
            })
            .collect()
    }
}

impl RaftLogStorage<GovRaft> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<GovRaft>, StorageError<u64>> {
        let last_purged: Option<LogId<u64>> = self.json(LAST_PURGED)?;
        let last = match self
            .log
            .last()
            .map_err(|e| openraft::StorageError::from(openraft::StorageIOError::read_logs(&e)))?
        {
            Some((i, raw)) => Some(
                decode_entry(&raw)
                    .map_err(|e| {
                        openraft::StorageError::from(openraft::StorageIOError::read_log_at_index(
                            i,
                            openraft::AnyError::error(e),
                        ))
                    })?
                    .log_id,
            ),
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        self.save_json(VOTE, vote)
            .map_err(|e| openraft::StorageError::from(openraft::StorageIOError::write_vote(&e)))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        self.json(VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<u64>>,
    ) -> Result<(), StorageError<u64>> {
        self.save_json(COMMITTED, &committed)
            .map_err(|e| openraft::StorageError::from(openraft::StorageIOError::write_logs(&e)))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError<u64>> {
        Ok(self.json::<Option<LogId<u64>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<GovRaft>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let batch: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|e| (e.log_id.index, encode_entry(&e)))
            .collect();
        // One synced batch: on disk before openraft may acknowledge the entries.
        let r = self.log.append(batch).map_err(std::io::Error::other);
        let failed = r.as_ref().err().map(|e| e.to_string());
        callback.log_io_completed(r);
        match failed {
            Some(e) => Err(openraft::StorageError::from(
                openraft::StorageIOError::write_logs(openraft::AnyError::error(e)),
            )),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        self.log
            .truncate(log_id.index)
            .map_err(|e| openraft::StorageError::from(openraft::StorageIOError::write_logs(&e)))
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let rec = serde_json::to_vec(&log_id).expect("serialises");
        self.log
            .purge(log_id.index, LAST_PURGED, &rec)
            .map_err(|e| openraft::StorageError::from(openraft::StorageIOError::write_logs(&e)))
    }
}
