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
//! The leader serves watches, after confirming its leadership (a read index), so an answer is
//! never older than what meta had committed when the request arrived: a follower's applied
//! state can lag without bound (cut off, or removed from the voters while it still runs), and
//! storage nodes act on their view. Other nodes answer `NotLeader`, and the watcher moves on.
//! A request held while its node loses the leadership ends at once. A watcher's version never
//! goes back: a node behind it holds the request until it catches up. At rest a watch costs
//! the leader one request per watcher per wait (10 s): far less than the polling it replaced.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use keel_rt::time;
use openraft::ServerState;
use serde::{Deserialize, Serialize};

use super::command::MetaCommand;
use super::mqtt::{MqttOp, RetainedRecord};
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
    /// An MQTT retained message, by topic.
    Retained(String),
    /// An MQTT shared subscription's brokers, by `group/filter`.
    Shared(String),
}

impl WatchKey {
    /// Whether only watchers of MQTT state want it.
    pub fn is_mqtt(&self) -> bool {
        matches!(self, WatchKey::Retained(_) | WatchKey::Shared(_))
    }
}

/// The keys a command may change in `state` (as it is before the command applies). A refused
/// command changes nothing, which is harmless to report: the watcher then receives the
/// unchanged record.
pub fn keys_of(cmd: &MetaCommand, state: &MetaState) -> Vec<WatchKey> {
    use MetaCommand as C;
    match cmd {
        C::Mqtt(ops) => ops.iter().flat_map(|op| mqtt_keys_of(op, state)).collect(),
        C::SetNodeAlive { id, .. } => vec![WatchKey::Node(*id)],
        // A (re)started node's replicas leave the ISRs they share (`MetaState::restarted`).
        C::RegisterNode { id, .. } => std::iter::once(WatchKey::Node(*id))
            .chain(
                state
                    .topics
                    .values()
                    .filter(|t| t.shards.iter().any(|s| s.isr.contains(id)))
                    .map(|t| WatchKey::Topic(t.name.clone())),
            )
            .collect(),
        C::CreateTopic(spec) => vec![WatchKey::Topic(spec.name.clone())],
        C::DeleteTopic { name } | C::UpdateTopic { name, .. } | C::AddPartitions { name, .. } => {
            vec![WatchKey::Topic(name.clone())]
        }
        C::AlterIsr { topic, .. }
        | C::ElectLeader { topic, .. }
        | C::ReplaceReplica { topic, .. }
        | C::AddReplica { topic, .. }
        | C::RemoveReplica { topic, .. }
        | C::LeaveIsr { topic, .. }
        | C::Bind { topic, .. } => vec![WatchKey::Topic(topic.clone())],
        C::AllocateProducerId => vec![],
    }
}

fn mqtt_keys_of(op: &MqttOp, state: &MetaState) -> Vec<WatchKey> {
    match op {
        MqttOp::Retain { topic, .. } => vec![WatchKey::Retained(topic.clone())],
        MqttOp::SharedMembers { key, .. } => vec![WatchKey::Shared(key.clone())],
        MqttOp::BrokerStarted { .. } => state.mqtt.shared.keys().map(|k| WatchKey::Shared(k.clone())).collect(),
        // A sweep drops dead brokers from shared subscriptions (tombstones it drops are
        // invisible to watchers already).
        MqttOp::Sweep { .. } => state.mqtt.shared.keys().map(|k| WatchKey::Shared(k.clone())).collect(),
        _ => vec![],
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
    /// Also MQTT retained messages and shared subscriptions (brokers).
    #[serde(default)]
    pub mqtt: bool,
}

/// One key's record as it is now (`None`: it no longer exists).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Node(NodeId, Option<NodeRecord>),
    Topic(String, Option<TopicRecord>),
    Retained(String, Option<RetainedRecord>),
    Shared(String, Option<BTreeMap<NodeId, u32>>),
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

/// The current records of `keys` in `state` (MQTT ones only for a watcher of `mqtt`).
pub fn changes_of(state: &MetaState, keys: &BTreeSet<WatchKey>, mqtt: bool) -> Vec<Change> {
    keys.iter()
        .filter(|k| mqtt || !k.is_mqtt())
        .map(|k| match k {
            WatchKey::Node(id) => Change::Node(*id, state.nodes.get(id).cloned()),
            WatchKey::Topic(name) => Change::Topic(name.clone(), state.topics.get(name).cloned()),
            WatchKey::Retained(topic) => Change::Retained(topic.clone(), state.mqtt.retained_of(topic)),
            WatchKey::Shared(key) => Change::Shared(key.clone(), state.mqtt.shared.get(key).cloned()),
        })
        .collect()
}

/// Everything a watcher may want, as changes.
pub fn everything(state: &MetaState, mqtt: bool) -> Vec<Change> {
    let nodes = state.nodes.values().map(|n| Change::Node(n.id, Some(n.clone())));
    let topics = state.topics.values().map(|t| Change::Topic(t.name.clone(), Some(t.clone())));
    let mut all: Vec<Change> = nodes.chain(topics).collect();
    if mqtt {
        let retained = state.mqtt.retained.iter().filter(|(_, r)| r.record.is_some());
        all.extend(retained.map(|(t, r)| Change::Retained(t.clone(), Some(r.clone()))));
        all.extend(state.mqtt.shared.iter().map(|(k, b)| Change::Shared(k.clone(), Some(b.clone()))));
    }
    all
}

impl MetaNode {
    /// Answers a watch from this node's applied state if it is the leader (no forwarding: the
    /// watcher tries the next meta node).
    pub async fn watch_local(&self, req: WatchRequest) -> Result<WatchResponse, MetaApiError> {
        let deadline = time::now() + Duration::from_millis(req.wait_ms.min(WATCH_WAIT_MS_MAX));
        self.confirm_leadership().await?;
        let mut applied = self.sm.versions();
        let mut metrics = self.raft.metrics();
        let mut since = req.since;
        loop {
            self.serves_watches()?;
            let version = *applied.borrow_and_update();
            if version > since {
                let answer = self.sm.read(|a| match a.changes.since(req.since) {
                    None => Some(WatchResponse { version, full: true, changes: everything(&a.state, req.mqtt) }),
                    Some(keys) => {
                        let changes = changes_of(&a.state, &keys, req.mqtt);
                        (!changes.is_empty()).then_some(WatchResponse { version, full: false, changes })
                    }
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

    /// Whether this node still leads (it stops serving as soon as it knows it does not).
    fn serves_watches(&self) -> Result<(), MetaApiError> {
        let m = self.raft.metrics().borrow().clone();
        match m.state {
            ServerState::Leader => Ok(()),
            _ => Err(MetaApiError::NotLeader { leader: m.current_leader }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::command::TopicSpec;
    use crate::meta::view::MetaView;

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
    fn a_node_registering_changes_the_topics_whose_isr_it_is_in() {
        let mut state = MetaState::default();
        let register = |id| MetaCommand::RegisterNode {
            id,
            addr: format!("a:{id}"),
            roles: vec![crate::meta::records::Role::Storage],
            kafka_addr: None,
            kafka_tls_addr: None,
        };
        for id in 1..=2 {
            state.apply(&register(id)).unwrap();
        }
        state.apply(&MetaCommand::CreateTopic(TopicSpec::for_test("t", 1, 2))).unwrap();
        let keys: BTreeSet<WatchKey> = keys_of(&register(1), &state).into_iter().collect();
        assert_eq!(
            keys,
            [WatchKey::Node(1), WatchKey::Topic("t".into())].into(),
            "its ISRs change: watchers must see it"
        );
    }

    #[test]
    fn changes_carry_current_records_and_deletions() {
        let mut state = MetaState::default();
        let cmd = MetaCommand::RegisterNode {
            id: 1,
            addr: "a:1".into(),
            roles: vec![crate::meta::records::Role::Storage],
            kafka_addr: None,
            kafka_tls_addr: None,
        };
        let mut keys: BTreeSet<WatchKey> = keys_of(&cmd, &state).into_iter().collect();
        state.apply(&cmd).unwrap();
        let create = MetaCommand::CreateTopic(TopicSpec::for_test("t", 1, 1));
        keys.extend(keys_of(&create, &state));
        state.apply(&create).unwrap();
        let mut view = MetaView::default();
        view.apply(&WatchResponse { version: 2, full: false, changes: changes_of(&state, &keys, false) });
        assert_eq!(view.nodes.len(), 1);
        assert_eq!(view.topics["t"].shards.len(), 1);

        let delete = MetaCommand::DeleteTopic { name: "t".into() };
        let keys: BTreeSet<WatchKey> = keys_of(&delete, &state).into_iter().collect();
        state.apply(&delete).unwrap();
        view.apply(&WatchResponse { version: 3, full: false, changes: changes_of(&state, &keys, false) });
        assert!(view.topics.is_empty());
        // A full answer replaces everything.
        view.apply(&WatchResponse { version: 4, full: true, changes: vec![] });
        assert!(view.nodes.is_empty());
        assert_eq!(view.version, 4);
    }

    #[test]
    fn mqtt_changes_reach_only_mqtt_watchers() {
        use crate::meta::mqtt::{Blob, RetainedRecord};
        let mut state = MetaState::default();
        let retained = RetainedRecord { record: Some(Blob(vec![1])), shard: 0, offset: 1, at_ms: 0, expiry_s: None };
        let cmd = MetaCommand::Mqtt(vec![
            MqttOp::Retain { topic: "a/b".into(), retained },
            MqttOp::SharedMembers { key: "g/t".into(), broker: 4, members: 2 },
        ]);
        let keys: BTreeSet<WatchKey> = keys_of(&cmd, &state).into_iter().collect();
        state.apply(&cmd).unwrap();
        assert!(changes_of(&state, &keys, false).is_empty());
        let mut view = MetaView::default();
        view.apply(&WatchResponse { version: 1, full: false, changes: changes_of(&state, &keys, true) });
        assert_eq!(view.retained["a/b"].offset, 1);
        assert_eq!(view.shared["g/t"], [(4, 2)].into());
        assert_eq!(everything(&state, false).len(), 0);
        assert_eq!(everything(&state, true).len(), 2);
    }
}
