//! The meta state machine: applies committed entries to [`MetaState`] and keeps snapshots.
//!
//! The applied state lives in memory. A snapshot (the state plus the log id and membership it
//! reflects) is written to the `snapshot` file atomically before it is reported built or
//! installed, so after a restart the state machine resumes from it and openraft re-applies
//! the committed entries that follow.
//!
//! Test, debug and simulation builds check [`MetaState::assert_invariants`] after every applied
//! command and installed snapshot.

use std::io::{self, Cursor};
use std::sync::{Arc, Mutex, MutexGuard};

use keel_rt::disk::{self, Disk};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, Snapshot};
use serde::{Deserialize, Serialize};

use super::command::{MetaOk, MetaResult};
use super::state::MetaState;
use super::store_format::{self, FileKind};
use super::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use super::watch::{keys_of, ChangeLog};
use tokio::sync::watch;

/// Called for every applied entry with (log index, log term, hash of the payload); the
/// simulation records these to check that committed entries never change.
pub type ApplyHook = Arc<dyn Fn(u64, u64, u64) + Send + Sync>;

/// The hash [`ApplyHook`] reports for a payload.
pub fn payload_hash(payload: &EntryPayload<TypeConfig>) -> u64 {
    keel_rt::trace::hash(&serde_json::to_vec(payload).expect("payload serialises"))
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// What queries and watches read.
#[derive(Default)]
pub struct Applied {
    pub state: MetaState,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    /// The keys recent entries changed, for watches.
    pub changes: ChangeLog,
}

/// The log id of the last snapshot on disk, shared with the log store: openraft may purge the
/// log while it is still installing the snapshot that covers the purge (both run at once on a
/// follower), and a crash in between must not leave a log purged past the snapshot that
/// survives. The log records a purge only up to this mark.
#[derive(Clone, Debug, Default)]
pub struct SnapshotMark(Arc<Mutex<Option<LogId>>>);

impl SnapshotMark {
    /// The last snapshot known durable.
    pub fn get(&self) -> Option<LogId> {
        *lock(&self.0)
    }

    pub(super) fn advance(&self, to: Option<LogId>) {
        let mut m = lock(&self.0);
        if to > *m {
            *m = to;
        }
    }
}

/// The state machine of one meta node.
#[derive(Clone)]
pub struct StateMachineStore {
    applied: Arc<Mutex<Applied>>,
    snapshot: Arc<Mutex<Option<StoredSnapshot>>>,
    mark: SnapshotMark,
    disk: Arc<dyn Disk>,
    path: String,
    hook: Option<ApplyHook>,
    built: Arc<Mutex<u64>>,
    /// The applied version (the last applied log index), for watches to wait on.
    version: Arc<watch::Sender<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageError::from(openraft::StorageIOError::new(ErrorSubject::StateMachine, verb, openraft::AnyError::new(&e)))
}

impl StateMachineStore {
    /// Opens the state machine under `dir`, resuming from its snapshot if there is one.
    pub async fn open(disk: Arc<dyn Disk>, dir: &str, hook: Option<ApplyHook>) -> io::Result<Self> {
        disk.create_dir_all(dir).await?;
        let path = format!("{dir}/snapshot");
        let mut applied = Applied::default();
        let mut snapshot = None;
        if let Some(bytes) = disk::read_all(disk.as_ref(), &path).await? {
            let s: StoredSnapshot = store_format::decode_file(&path, FileKind::Snapshot, &bytes)?;
            let undecodable = |e: serde_json::Error| {
                store_format::MetaDamage::new(&path, 0, format!("its state does not decode: {e}"))
            };
            applied.state = serde_json::from_slice(&s.data).map_err(undecodable)?;
            applied.last_applied = s.meta.last_log_id;
            applied.membership = s.meta.last_membership.clone();
            snapshot = Some(s);
        }
        let version = applied.last_applied.map_or(0, |l| l.index);
        applied.changes = ChangeLog::starting_at(version);
        let mark = SnapshotMark::default();
        mark.advance(snapshot.as_ref().and_then(|s: &StoredSnapshot| s.meta.last_log_id));
        Ok(StateMachineStore {
            applied: Arc::new(Mutex::new(applied)),
            snapshot: Arc::new(Mutex::new(snapshot)),
            mark,
            disk,
            path,
            hook,
            built: Arc::new(Mutex::new(0)),
            version: Arc::new(watch::channel(version).0),
        })
    }

    /// The last snapshot on disk, as it advances (see [`SnapshotMark`]).
    pub fn snapshot_mark(&self) -> SnapshotMark {
        self.mark.clone()
    }

    /// The applied version, as it changes.
    pub fn versions(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Runs `f` on the applied state.
    pub fn read<T>(&self, f: impl FnOnce(&Applied) -> T) -> T {
        f(&lock(&self.applied))
    }

    async fn persist(&self, s: &StoredSnapshot) -> io::Result<()> {
        let framed = store_format::encode_file(FileKind::Snapshot, s)?;
        disk::write_atomic(self.disk.as_ref(), &self.path, &framed).await?;
        self.mark.advance(s.meta.last_log_id);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, meta) = {
            let a = lock(&self.applied);
            let data = serde_json::to_vec(&a.state).map_err(|e| sm_err(ErrorVerb::Read, e))?;
            let n = {
                let mut b = lock(&self.built);
                *b += 1;
                *b
            };
            let id = match a.last_applied {
                Some(l) => format!("{}-{}-{n}", l.leader_id.term, l.index),
                None => format!("0-0-{n}"),
            };
            let meta =
                SnapshotMeta { last_log_id: a.last_applied, last_membership: a.membership.clone(), snapshot_id: id };
            (data, meta)
        };
        let stored = StoredSnapshot { meta: meta.clone(), data: data.clone() };
        self.persist(&stored).await.map_err(|e| sm_err(ErrorVerb::Write, e))?;
        *lock(&self.snapshot) = Some(stored);
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let a = lock(&self.applied);
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<MetaResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut a = lock(&self.applied);
        let mut out = Vec::new();
        for entry in entries {
            if let Some(hook) = &self.hook {
                hook(entry.log_id.index, entry.log_id.leader_id.term, payload_hash(&entry.payload));
            }
            a.last_applied = Some(entry.log_id);
            let r = match entry.payload {
                EntryPayload::Blank => Ok(MetaOk::Done),
                EntryPayload::Normal(cmd) => {
                    let keys = keys_of(&cmd, &a.state);
                    let r = a.state.apply(&cmd); // checks the invariants in test/debug/sim builds
                    a.changes.record(entry.log_id.index, keys);
                    r
                }
                EntryPayload::Membership(m) => {
                    a.membership = StoredMembership::new(Some(entry.log_id), m);
                    Ok(MetaOk::Done)
                }
            };
            out.push(r);
        }
        let version = a.last_applied.map_or(0, |l| l.index);
        drop(a);
        self.version.send_replace(version);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let state: MetaState = serde_json::from_slice(&data).map_err(|e| sm_err(ErrorVerb::Read, e))?;
        #[cfg(any(test, debug_assertions, madsim))]
        state.assert_invariants();
        let stored = StoredSnapshot { meta: meta.clone(), data };
        self.persist(&stored).await.map_err(|e| sm_err(ErrorVerb::Write, e))?;
        {
            let mut a = lock(&self.applied);
            a.state = state;
            a.last_applied = meta.last_log_id;
            a.membership = meta.last_membership.clone();
            a.changes.reset(meta.last_log_id.map_or(0, |l| l.index));
        }
        self.version.send_replace(meta.last_log_id.map_or(0, |l| l.index));
        *lock(&self.snapshot) = Some(stored);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(lock(&self.snapshot)
            .as_ref()
            .map(|s| Snapshot { meta: s.meta.clone(), snapshot: Box::new(Cursor::new(s.data.clone())) }))
    }
}
