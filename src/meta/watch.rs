//! The metadata watch, server side: "what changed since version V", served from a meta node's
//! applied state, so that storage nodes and brokers learn of changes as they are applied instead
//! of polling the leader with linearizable reads.
//!
//! A version is the index of the last applied Raft entry: every node that applied the same
//! entries is at the same version with the same state. Each node remembers, in memory, which
//! keys (a node, a topic) the last [`CHANGES_MAX`] entries changed ([`ChangeLog`]). A watcher
//! sends the version it has; the node answers with the current records of the keys changed
//! since then (or, if the watcher is too far behind for the log, with everything), or holds the
//! request until something the watcher cares about changes, up to its wait (long poll).
//!
//! Any meta node serves watches, but only while it is in contact with a leader (a follower that
//! lost its leader stops answering, so its watchers move to another node instead of waiting on
//! a stale state). A watcher's version never goes back: a node behind it holds the request
//! until it catches up.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use keel_rt::time;
use openraft::ServerState;
use serde::{Deserialize, Serialize};

use super::command::MetaCommand;
use super::records::{NodeId, NodeRecord, TopicRecord};
use super::state::MetaState;
use super::{MetaApiError, MetaNode};

/// How many changed keys a meta node remembers; a watcher further behind gets everything.
pub const CHANGES_MAX: usize = 16_384;
/// The longest a watch is held without news.
pub const WATCH_WAIT_MS_MAX: u64 = 60_000;

/// What a change is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WatchKey {
    Node(NodeId),
    Topic(String),
}

/// The keys a command may change (a refused command changes nothing, which is harmless to
/// report: the watcher then receives the unchanged record).
pub fn keys_of(cmd: &MetaCommand) -> Vec<WatchKey> {
    use MetaCommand as C;
    match cmd {
        C::RegisterNode { id, .. } | C::SetNodeAlive { id, .. } => vec![WatchKey::Node(*id)],
        C::CreateTopic(spec) => vec![WatchKey::Topic(spec.name.clone())],
        C::DeleteTopic { name } | C::UpdateTopic { name, .. } => vec![WatchKey::Topic(name.clone())],
        C::AlterIsr { topic, .. }
        | C::ElectLeader { topic, .. }
        | C::ReplaceReplica { topic, .. }
        | C::AddReplica { topic, .. }
        | C::RemoveReplica { topic, .. }
        | C::LeaveIsr { topic, .. } => vec![WatchKey::Topic(topic.clone())],
        C::AllocateProducerId => vec![],
    }
}

/// The keys changed by recent entries, by version.
#[derive(Debug, Default)]
pub struct ChangeLog {
    entries: VecDeque<(u64, WatchKey)>,
    /// Changes at or below this version may be missing.
    floor: u64,
}

impl ChangeLog {
    /// A log that knows nothing at or below `version` (a state restored from a snapshot).
    pub fn starting_at(version: u64) -> Self {
        ChangeLog { entries: VecDeque::new(), floor: version }
    }

    /// Entry `version` changed `keys`.
    pub fn record(&mut self, version: u64, keys: Vec<WatchKey>) {
        for key in keys {
            self.entries.push_back((version, key));
        }
        while self.entries.len() > CHANGES_MAX {
            if let Some((v, _)) = self.entries.pop_front() {
                self.floor = self.floor.max(v);
            }
        }
    }

    /// The state was replaced wholesale (a snapshot installed) at `version`.
    pub fn reset(&mut self, version: u64) {
        *self = ChangeLog::starting_at(version);
    }

    /// The keys changed after `since`, or `None` if some of those changes are forgotten.
    pub fn since(&self, since: u64) -> Option<BTreeSet<WatchKey>> {
        if since < self.floor {
            return None;
        }
        Some(self.entries.iter().rev().take_while(|(v, _)| *v > since).map(|(_, k)| k.clone()).collect())
    }
}

/// `meta.watch`: what changed after `since`; with nothing yet, wait up to `wait_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRequest {
    pub since: u64,
    pub wait_ms: u64,
}

/// One key's record as it is now (`None`: it no longer exists).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Node(NodeId, Option<NodeRecord>),
    Topic(String, Option<TopicRecord>),
}

/// The answer to a [`WatchRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchResponse {
    /// The version the changes bring the watcher to.
    pub version: u64,
    /// `changes` is everything: the watcher replaces what it had.
    pub full: bool,
    pub changes: Vec<Change>,
}

/// The current records of `keys` in `state`.
pub fn changes_of(state: &MetaState, keys: &BTreeSet<WatchKey>) -> Vec<Change> {
    keys.iter()
        .map(|k| match k {
            WatchKey::Node(id) => Change::Node(*id, state.nodes.get(id).cloned()),
            WatchKey::Topic(name) => Change::Topic(name.clone(), state.topics.get(name).cloned()),
        })
        .collect()
}

/// Everything a watcher may want, as changes.
pub fn everything(state: &MetaState) -> Vec<Change> {
    let nodes = state.nodes.values().map(|n| Change::Node(n.id, Some(n.clone())));
    nodes.chain(state.topics.values().map(|t| Change::Topic(t.name.clone(), Some(t.clone())))).collect()
}

impl MetaNode {
    /// Answers a watch from this node's applied state (no forwarding: any meta node in contact
    /// with a leader serves watches).
    pub async fn watch_local(&self, req: WatchRequest) -> Result<WatchResponse, MetaApiError> {
        let deadline = time::now() + Duration::from_millis(req.wait_ms.min(WATCH_WAIT_MS_MAX));
        let mut applied = self.sm.versions();
        let mut metrics = self.raft.metrics();
        let mut since = req.since;
        loop {
            self.serves_watches()?;
            let version = *applied.borrow_and_update();
            if version > since {
                let answer = self.sm.read(|a| match a.changes.since(req.since) {
                    None => Some(WatchResponse { version, full: true, changes: everything(&a.state) }),
                    Some(keys) if keys.is_empty() => None,
                    Some(keys) => Some(WatchResponse { version, full: false, changes: changes_of(&a.state, &keys) }),
                });
                match answer {
                    Some(a) => return Ok(a),
                    // Entries that changed nothing watched (producer ids, membership): wait on.
                    None => since = version,
                }
            }
            tokio::select! {
                biased;
                r = applied.changed() => if r.is_err() { return Err(MetaApiError::Unavailable("stopping".into())) },
                r = metrics.changed() => if r.is_err() { return Err(MetaApiError::Unavailable("stopping".into())) },
                _ = time::sleep_until(deadline) => {
                    return Ok(WatchResponse { version: since.max(req.since), full: false, changes: vec![] });
                }
            }
        }
    }

    /// Whether this node's applied state is fit to serve: it knows a leader (a follower cut off
    /// from the leader becomes a candidate and forgets it within an election timeout).
    fn serves_watches(&self) -> Result<(), MetaApiError> {
        let m = self.raft.metrics().borrow().clone();
        match (m.state, m.current_leader) {
            (ServerState::Leader | ServerState::Follower | ServerState::Learner, Some(_)) => Ok(()),
            _ => Err(MetaApiError::NoLeader),
        }
    }
}

/// The nodes and topics of a watch's changes, applied to a watcher's copy.
pub fn apply_changes(
    nodes: &mut BTreeMap<NodeId, NodeRecord>,
    topics: &mut BTreeMap<String, TopicRecord>,
    resp: &WatchResponse,
) {
    if resp.full {
        nodes.clear();
        topics.clear();
    }
    for c in &resp.changes {
        match c {
            Change::Node(id, Some(n)) => {
                nodes.insert(*id, n.clone());
            }
            Change::Node(id, None) => {
                nodes.remove(id);
            }
            Change::Topic(name, Some(t)) => {
                topics.insert(name.clone(), t.clone());
            }
            Change::Topic(name, None) => {
                topics.remove(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::command::TopicSpec;

    #[test]
    fn the_log_returns_keys_changed_after_a_version() {
        let mut log = ChangeLog::starting_at(10);
        log.record(11, vec![WatchKey::Node(1)]);
        log.record(12, vec![WatchKey::Topic("a".into())]);
        log.record(13, vec![WatchKey::Node(1)]);
        assert_eq!(log.since(13), Some(BTreeSet::new()));
        assert_eq!(log.since(12), Some([WatchKey::Node(1)].into()));
        assert_eq!(log.since(10), Some([WatchKey::Node(1), WatchKey::Topic("a".into())].into()));
        // Before the snapshot the log started from: unknown, so everything.
        assert_eq!(log.since(9), None);
    }

    #[test]
    fn a_watcher_behind_forgotten_changes_gets_everything() {
        let mut log = ChangeLog::default();
        for v in 1..=(CHANGES_MAX as u64 + 5) {
            log.record(v, vec![WatchKey::Node(v % 7)]);
        }
        assert_eq!(log.since(4), None);
        assert!(log.since(5).is_some());
        log.reset(100_000);
        assert_eq!(log.since(99_999), None);
        assert_eq!(log.since(100_000), Some(BTreeSet::new()));
    }

    #[test]
    fn changes_carry_current_records_and_deletions() {
        let mut state = MetaState::default();
        let cmd =
            MetaCommand::RegisterNode { id: 1, addr: "a:1".into(), roles: vec![crate::meta::records::Role::Storage] };
        state.apply(&cmd).unwrap();
        let create = MetaCommand::CreateTopic(TopicSpec::for_test("t", 1, 1));
        state.apply(&create).unwrap();
        let keys: BTreeSet<WatchKey> = keys_of(&cmd).into_iter().chain(keys_of(&create)).collect();
        let resp = WatchResponse { version: 2, full: false, changes: changes_of(&state, &keys) };
        let (mut nodes, mut topics) = (BTreeMap::new(), BTreeMap::new());
        apply_changes(&mut nodes, &mut topics, &resp);
        assert_eq!(nodes.len(), 1);
        assert_eq!(topics["t"].shards.len(), 1);

        let delete = MetaCommand::DeleteTopic { name: "t".into() };
        state.apply(&delete).unwrap();
        let keys: BTreeSet<WatchKey> = keys_of(&delete).into_iter().collect();
        apply_changes(
            &mut nodes,
            &mut topics,
            &WatchResponse { version: 3, full: false, changes: changes_of(&state, &keys) },
        );
        assert!(topics.is_empty());
        // A full answer replaces everything.
        apply_changes(&mut nodes, &mut topics, &WatchResponse { version: 4, full: true, changes: vec![] });
        assert!(nodes.is_empty());
    }
}
