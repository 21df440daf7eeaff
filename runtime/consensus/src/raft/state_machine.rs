//! The replicated state machine is the chain itself: applying a log entry executes its
//! block through [`Chain::apply_block`], and the applied log position and membership
//! are written in the block's own atomic batch. Snapshots are RocksDB checkpoints of
//! the chain database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use govchain_store::{Column, Store};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{
    AnyError, EntryPayload, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership,
};
use parking_lot::Mutex;

use super::{ApplyResult, Entry, GovRaft, RaftNode};
use crate::{ApplyError, Chain};

/// Chain `meta` key of the last applied log id (JSON).
pub(crate) const LAST_APPLIED: &[u8] = b"raft/last_applied";
/// Chain `meta` key of the last applied membership (JSON).
pub(crate) const MEMBERSHIP: &[u8] = b"raft/membership";

type Membership = StoredMembership<u64, RaftNode>;
type Meta = SnapshotMeta<u64, RaftNode>;

/// A snapshot: a directory holding a RocksDB checkpoint of the chain in `db/` and its
/// Raft meta in `meta.json`.
#[derive(Debug)]
pub struct CheckpointDir {
    /// The directory.
    pub path: PathBuf,
}

impl CheckpointDir {
    /// The checkpoint database inside.
    pub(crate) fn db(&self) -> PathBuf {
        self.path.join("db")
    }
}

fn io_err(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

/// Reads the applied position and membership recorded in a chain store.
fn applied(store: &Store) -> Result<(Option<LogId<u64>>, Membership), AnyError> {
    let get = |k| store.get(Column::Meta, k).map_err(io_err);
    let last = match get(LAST_APPLIED)? {
        Some(v) => Some(serde_json::from_slice(&v).map_err(io_err)?),
        None => None,
    };
    let membership = match get(MEMBERSHIP)? {
        Some(v) => serde_json::from_slice(&v).map_err(io_err)?,
        None => Membership::default(),
    };
    Ok((last, membership))
}

/// Snapshot bookkeeping shared by the state machine and its builders.
#[derive(Debug)]
struct Snapshots {
    dir: PathBuf,
    current: Mutex<Option<Meta>>,
}

impl Snapshots {
    fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut best: Option<Meta> = None;
        for d in std::fs::read_dir(&dir)? {
            let path = d?.path();
            let Ok(raw) = std::fs::read(path.join("meta.json")) else {
                // An unfinished build or transfer: never used.
                let _ = std::fs::remove_dir_all(&path);
                continue;
            };
            if let Ok(meta) = serde_json::from_slice::<Meta>(&raw)
                && best
                    .as_ref()
                    .is_none_or(|b| meta.last_log_id > b.last_log_id)
            {
                best = Some(meta);
            }
        }
        Ok(Snapshots {
            dir,
            current: Mutex::new(best),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// A fresh directory for a snapshot being built or received.
    fn scratch(&self, what: &str) -> std::io::Result<PathBuf> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = self.dir.join(format!("{what}-{nanos}"));
        std::fs::create_dir_all(&p)?;
        Ok(p)
    }

    /// Makes the complete snapshot in `from` the current one, and deletes all but it
    /// and its predecessor (which a transfer may still be reading). One publish at a
    /// time; a snapshot older than the current one (a build that finished after an
    /// install) is discarded instead.
    fn publish(&self, from: &Path, meta: Meta) -> std::io::Result<()> {
        let mut current = self.current.lock();
        if current
            .as_ref()
            .is_some_and(|c| c.last_log_id > meta.last_log_id)
        {
            return std::fs::remove_dir_all(from);
        }
        std::fs::write(
            from.join("meta.json"),
            serde_json::to_vec(&meta).expect("meta serialises"),
        )?;
        let to = self.path(&meta.snapshot_id);
        if to != from {
            let _ = std::fs::remove_dir_all(&to);
            std::fs::rename(from, &to)?;
        }
        let previous = current.replace(meta.clone()).map(|m| m.snapshot_id);
        for d in std::fs::read_dir(&self.dir)?.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let keep = name == meta.snapshot_id || Some(&name) == previous.as_ref();
            if !keep && d.path().join("meta.json").exists() {
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
        Ok(())
    }
}

/// openraft's state machine over the chain.
#[derive(Debug, Clone)]
pub struct StateMachine {
    chain: Arc<Chain>,
    snapshots: Arc<Snapshots>,
    membership: Arc<Mutex<Membership>>,
}

impl StateMachine {
    /// The state machine of `chain`, keeping snapshots in `snapshot_dir`.
    pub fn open(chain: Arc<Chain>, snapshot_dir: PathBuf) -> Result<Self, String> {
        let (_, membership) = applied(chain.store()).map_err(|e| e.to_string())?;
        let snapshots = Snapshots::open(snapshot_dir).map_err(|e| e.to_string())?;
        Ok(StateMachine {
            chain,
            snapshots: Arc::new(snapshots),
            membership: Arc::new(Mutex::new(membership)),
        })
    }

    fn apply_one(&self, entry: Entry) -> Result<ApplyResult, StorageError<u64>> {
        let log_id = entry.log_id;
        let last = serde_json::to_vec(&log_id).expect("log id serialises");
        let write_err = |e: &dyn std::fmt::Display| {
            openraft::StorageError::from(openraft::StorageIOError::apply(log_id, io_err(e)))
        };
        match entry.payload {
            EntryPayload::Blank => {
                self.chain
                    .record_meta(&[(LAST_APPLIED, &last)])
                    .map_err(|e| write_err(&e))?;
                Ok(ApplyResult::Noop)
            }
            EntryPayload::Membership(m) => {
                let stored = Membership::new(Some(log_id), m);
                let json = serde_json::to_vec(&stored).expect("membership serialises");
                self.chain
                    .record_meta(&[(LAST_APPLIED, &last), (MEMBERSHIP, &json)])
                    .map_err(|e| write_err(&e))?;
                *self.membership.lock() = stored;
                Ok(ApplyResult::Noop)
            }
            EntryPayload::Normal(block) => {
                let leader = log_id.leader_id.node_id;
                let leader = self
                    .membership
                    .lock()
                    .membership()
                    .get_node(&leader)
                    .map_or_else(
                        || format!("(raft node {leader})"),
                        |n| n.validator_id.clone(),
                    );
                match self.chain.apply_block(
                    &block.0,
                    Some(&leader),
                    vec![(LAST_APPLIED.to_vec(), last.clone())],
                ) {
                    Ok(c) => Ok(ApplyResult::Committed {
                        height: c.sealed.header.height,
                        hash: c.sealed.hash,
                    }),
                    Err(ApplyError::Rejected(reason)) => {
                        tracing::warn!(index = log_id.index, %reason, "log entry's block rejected");
                        self.chain
                            .record_meta(&[(LAST_APPLIED, &last)])
                            .map_err(|e| write_err(&e))?;
                        Ok(ApplyResult::Rejected { reason })
                    }
                    Err(ApplyError::Diverged(why)) => {
                        tracing::error!(
                            index = log_id.index,
                            "STATE DIVERGED: {why}. This node stops and serves nothing more; \
                             its store holds the last block it agreed on. Investigate, then \
                             wipe its data directory and let it catch up by snapshot."
                        );
                        Err(write_err(&format!("STATE DIVERGED: {why}")))
                    }
                    Err(ApplyError::Node(e)) => Err(write_err(&e)),
                }
            }
        }
    }
}

impl RaftSnapshotBuilder<GovRaft> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<GovRaft>, StorageError<u64>> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.build_blocking())
            .await
            .map_err(|e| {
                openraft::StorageError::from(openraft::StorageIOError::write_snapshot(
                    None,
                    io_err(e),
                ))
            })?
    }
}

impl StateMachine {
    fn build_blocking(&self) -> Result<Snapshot<GovRaft>, StorageError<u64>> {
        let fail = |e: &dyn std::fmt::Display| {
            openraft::StorageError::from(openraft::StorageIOError::write_snapshot(None, io_err(e)))
        };
        let dir = self.snapshots.scratch("building").map_err(|e| fail(&e))?;
        let snap = CheckpointDir { path: dir };
        self.chain
            .store()
            .checkpoint(&snap.db())
            .map_err(|e| fail(&e))?;
        // The checkpoint is consistent; apply may have moved on since, so its position
        // is read back from the checkpoint itself.
        let (last, membership) = {
            let cp = Store::open_read_only(&snap.db()).map_err(|e| fail(&e))?;
            applied(&cp).map_err(|e| fail(&e))?
        };
        let snapshot_id = match &last {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, unique()),
            None => format!("0-0-{}", unique()),
        };
        let meta = Meta {
            last_log_id: last,
            last_membership: membership,
            snapshot_id,
        };
        self.snapshots
            .publish(&snap.path, meta.clone())
            .map_err(|e| fail(&e))?;
        tracing::info!(snapshot = %meta.snapshot_id, "snapshot built (RocksDB checkpoint)");
        Ok(Snapshot {
            snapshot: Box::new(CheckpointDir {
                path: self.snapshots.path(&meta.snapshot_id),
            }),
            meta,
        })
    }

    /// Installs a snapshot [`check_received`] has passed.
    fn install_blocking(&self, meta: &Meta, snap: &CheckpointDir) -> Result<(), String> {
        self.chain
            .store()
            .replace_with_checkpoint(&snap.db())
            .map_err(|e| e.to_string())?;
        self.chain.reload().map_err(|e| e.to_string())?;
        *self.membership.lock() = meta.last_membership.clone();
        self.snapshots
            .publish(&snap.path, meta.clone())
            .map_err(|e| e.to_string())?;
        tracing::info!(snapshot = %meta.snapshot_id, height = self.chain.tip().header.height, "snapshot installed");
        Ok(())
    }
}

/// Checks a received snapshot before it is handed to Raft (whose install failing would
/// stop the node): its checkpoint opens, holds the state its meta names, and is of
/// this chain.
pub(crate) fn check_received(
    chain: &Chain,
    meta: &Meta,
    snap: &CheckpointDir,
) -> Result<(), String> {
    let cp = Store::open_read_only(&snap.db()).map_err(|e| e.to_string())?;
    let (last, _) = applied(&cp).map_err(|e| e.to_string())?;
    if last != meta.last_log_id {
        return Err(format!(
            "snapshot {} holds state up to {last:?}, its meta says {:?}",
            meta.snapshot_id, meta.last_log_id
        ));
    }
    let b0 = cp
        .block(0)
        .map_err(|e| e.to_string())?
        .ok_or("snapshot without block 0")?;
    let b0 = crate::SealedBlock::decode(&b0).map_err(|e| e.to_string())?;
    if b0.header.prev_hash != chain.genesis_hash() {
        return Err(format!(
            "snapshot {} is of another chain (its genesis differs)",
            meta.snapshot_id
        ));
    }
    Ok(())
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

impl RaftStateMachine<GovRaft> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, Membership), StorageError<u64>> {
        applied(self.chain.store()).map_err(|e| {
            openraft::StorageError::from(openraft::StorageIOError::read_state_machine(e))
        })
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResult>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let this = self.clone();
        // Execution is CPU work and fsyncs: off the async workers. Never calls Raft.
        tokio::task::spawn_blocking(move || {
            entries
                .into_iter()
                .map(|e| this.apply_one(e))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| {
            openraft::StorageError::from(openraft::StorageIOError::write_state_machine(io_err(e)))
        })?
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<CheckpointDir>, StorageError<u64>> {
        let path = self.snapshots.scratch("incoming").map_err(|e| {
            openraft::StorageError::from(openraft::StorageIOError::write_snapshot(None, io_err(e)))
        })?;
        let snap = CheckpointDir { path };
        std::fs::create_dir_all(snap.db()).map_err(|e| {
            openraft::StorageError::from(openraft::StorageIOError::write_snapshot(None, io_err(e)))
        })?;
        Ok(Box::new(snap))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<CheckpointDir>,
    ) -> Result<(), StorageError<u64>> {
        let this = self.clone();
        let m = meta.clone();
        tokio::task::spawn_blocking(move || this.install_blocking(&m, &snapshot))
            .await
            .map_err(|e| {
                openraft::StorageError::from(openraft::StorageIOError::write_snapshot(
                    Some(meta.signature()),
                    io_err(e),
                ))
            })?
            .map_err(|e| {
                openraft::StorageError::from(openraft::StorageIOError::write_snapshot(
                    Some(meta.signature()),
                    io_err(e),
                ))
            })
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<GovRaft>>, StorageError<u64>> {
        Ok(self.snapshots.current.lock().clone().map(|meta| Snapshot {
            snapshot: Box::new(CheckpointDir {
                path: self.snapshots.path(&meta.snapshot_id),
            }),
            meta,
        }))
    }
}
