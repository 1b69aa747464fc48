//! The group coordinator on the broker role. A group belongs to one shard of
//! `__consumer_offsets` ([`store`]); its coordinator is the broker that leads that shard for
//! clients (`metadata::leader_broker`: the shard's storage leader when it is a broker), so the
//! coordinator moves with the shard and a coordinator that dies is replaced by the next one
//! replaying the shard. Membership runs in `keel_protocols::kafka::group::Group`, one per group,
//! fed by the requests ([`handlers`]) and a ticker; each generation is appended to the shard
//! before it is announced, and again with its members and their assignments once it completes, so
//! a group loaded elsewhere goes on Stable with them; each offset commit is one append. A loaded
//! group is replayed again whenever someone else turns out to have written its shard ([`fence`]).

pub mod fence;
pub mod handlers;
pub mod lag;
pub mod store;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_protocols::kafka::group::{Command, Event, Group, State};
use keel_protocols::kafka::kafka_protocol::ResponseError;
use keel_rt::time;
use tokio::sync::oneshot;

use self::store::{Committed, Generation, OFFSETS_TOPIC};
use super::metadata::{kafka_brokers, leader_broker};
use super::Core;
use crate::meta::records::NodeId;

/// Shards of `__consumer_offsets` when this broker creates it.
pub const OFFSETS_PARTITIONS: u32 = 16;
/// Copies of it; capped by the storage nodes.
const OFFSETS_REPLICATION: u32 = 3;
/// How often loaded groups see the time pass.
const TICK: Duration = Duration::from_millis(250);

/// One loaded group.
struct Loaded {
    partition: u32,
    /// The shard's [`fence`] version this state is current at.
    version: u64,
    machine: Group,
    offsets: BTreeMap<(String, i32), Committed>,
    waiting: HashMap<u64, oneshot::Sender<Command>>,
}

type Handle = Arc<tokio::sync::Mutex<Option<Loaded>>>;

/// The groups this broker coordinates.
pub struct Coordinator {
    groups: Mutex<HashMap<String, Handle>>,
    /// Starts at a random point per process: a broker that restarts must not number its group
    /// loads (and the member ids they hand out) as it did before, while a generation restored
    /// from the log may still hold those ids (sim seed 19 of the Kafka suite: two members given
    /// one id after a power outage, rejoining each other out for the rest of the run).
    next_token: AtomicU64,
    shards: fence::ShardEnds,
}

impl Default for Coordinator {
    fn default() -> Self {
        use keel_rt::rand::RngCore as _;
        Coordinator {
            groups: Mutex::default(),
            next_token: AtomicU64::new(u64::from(keel_rt::rand::rng().next_u32())),
            shards: fence::ShardEnds::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    time::since_start().as_millis() as u64
}

/// The coordinator of `group`: its shard of `__consumer_offsets` and the broker leading it.
pub async fn locate(core: &Core, group: &str) -> Result<(u32, NodeId), ResponseError> {
    let partitions =
        store::ensure_topic(&core.meta, &core.view, OFFSETS_PARTITIONS, OFFSETS_REPLICATION).await.map_err(|e| {
            tracing::warn!(error = %e, "kafka: the offsets topic is not available");
            ResponseError::CoordinatorNotAvailable
        })?;
    let view = core.view.current();
    let partition = store::partition_of(group, partitions);
    let storage_leader = view.shard(OFFSETS_TOPIC, partition).and_then(|s| s.leader);
    let broker = leader_broker(&kafka_brokers(&view), OFFSETS_TOPIC, partition, storage_leader);
    match (storage_leader, broker) {
        (Some(_), Some(b)) => Ok((partition, b)),
        _ => Err(ResponseError::CoordinatorNotAvailable),
    }
}

/// The group as its last generation record leaves it: Stable with its members if that
/// generation completed, else empty at that generation (members rejoin).
fn restored(group: &str, found: Option<Generation>) -> Group {
    let Some(g) = found else { return Group::new(group, 0) };
    let mut machine = Group::new(group, g.generation);
    if g.members.is_empty() {
        tracing::info!(group, generation = g.generation, "kafka: group loaded; its members rejoin");
        return machine;
    }
    let (generation, members) = (g.generation, g.members.len());
    machine.handle(Event::Restore { generation: g, now_ms: now_ms() });
    match machine.state() {
        State::Stable => tracing::info!(group, generation, members, "kafka: group restored"),
        _ => tracing::warn!(group, generation, "kafka: a generation record did not restore"),
    }
    machine
}

impl Coordinator {
    fn token(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    /// The group's handle, loaded (its shard replayed) if this broker coordinates it.
    async fn load(&self, core: &Core, group: &str) -> Result<Handle, ResponseError> {
        let (partition, broker) = locate(core, group).await?;
        if broker != core.config.node_id {
            self.unload(group, ResponseError::NotCoordinator);
            return Err(ResponseError::NotCoordinator);
        }
        let handle = lock(&self.groups).entry(group.to_string()).or_default().clone();
        let mut slot = handle.lock().await;
        let loading = |e: String| {
            tracing::warn!(group, error = %e, "kafka: reading a group's shard failed");
            ResponseError::CoordinatorLoadInProgress
        };
        let high_watermark = store::end(&core.data, partition).await.map_err(loading)?;
        let version =
            self.shards.check(partition, high_watermark).map_err(|_| ResponseError::CoordinatorLoadInProgress)?;
        if slot.as_ref().is_some_and(|l| l.version != version) {
            tracing::info!(group, "kafka: the group's shard was written elsewhere; replaying it");
            *slot = None; // its waiters see their senders dropped
        }
        if slot.is_none() {
            let found = store::replay(&core.data, partition, group).await.map_err(loading)?;
            // Member ids unique to this load: a reloaded group must not hand out again the ids
            // it handed out before (or another coordinator did).
            let ids_from = (core.config.node_id << 48) ^ (self.token() << 16);
            *slot = Some(Loaded {
                partition,
                version: self.shards.replayed(partition, found.end),
                machine: restored(group, found.generation).with_member_ids_from(ids_from),
                offsets: found.offsets,
                waiting: HashMap::new(),
            });
        }
        drop(slot);
        Ok(handle)
    }

    /// Forgets a group this broker no longer coordinates, failing what waits on it.
    fn unload(&self, group: &str, why: ResponseError) {
        let Some(handle) = lock(&self.groups).remove(group) else { return };
        let taken = match handle.try_lock() {
            Ok(mut slot) => slot.take(),
            Err(_) => None,
        };
        if let Some(l) = taken {
            drop(l.waiting); // the waiters see their senders dropped
            tracing::info!(group, ?why, "kafka: group unloaded");
        }
    }

    /// Feeds the event `make(token, now)` to the group and waits up to `wait` for its answer.
    pub async fn request(
        &self,
        core: &Core,
        group: &str,
        wait: Duration,
        make: impl FnOnce(u64, u64) -> Event,
    ) -> Result<Command, ResponseError> {
        let handle = self.load(core, group).await?;
        let token = self.token();
        let (tx, rx) = oneshot::channel();
        {
            let mut slot = handle.lock().await;
            let Some(l) = slot.as_mut() else { return Err(ResponseError::NotCoordinator) };
            l.waiting.insert(token, tx);
            let cmds = l.machine.handle(make(token, now_ms()));
            if !run(core, group, l, cmds).await {
                *slot = None;
                lock(&self.groups).remove(group);
                return Err(ResponseError::CoordinatorNotAvailable);
            }
        }
        match time::timeout(wait, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(ResponseError::NotCoordinator),
            Err(_) => Err(ResponseError::RequestTimedOut),
        }
    }

    /// The loaded group, locked (offset commits and fetches, descriptions).
    pub async fn lock_group<'a>(&self, core: &'a Core, group: &str) -> Result<GroupGuard<'a>, ResponseError> {
        let handle = self.load(core, group).await?;
        let guard = handle.lock_owned().await;
        if guard.is_none() {
            return Err(ResponseError::NotCoordinator);
        }
        Ok(GroupGuard { core, group: group.to_string(), guard })
    }

    /// Groups loaded here, with their state.
    pub async fn listed(&self) -> Vec<(String, String, String)> {
        let handles: Vec<(String, Handle)> = lock(&self.groups).iter().map(|(g, h)| (g.clone(), h.clone())).collect();
        let mut out = Vec::new();
        for (g, h) in handles {
            if let Some(l) = h.lock().await.as_ref() {
                out.push((g, l.machine.protocol_type().to_string(), format!("{:?}", l.machine.state())));
            }
        }
        out
    }

    /// Feeds the time to every loaded group, forever.
    pub async fn tick_loop(core: Arc<Core>) {
        loop {
            time::sleep(TICK).await;
            let handles: Vec<(String, Handle)> =
                lock(&core.groups.groups).iter().map(|(g, h)| (g.clone(), h.clone())).collect();
            for (group, h) in handles {
                let mut slot = h.lock().await;
                let Some(l) = slot.as_mut() else { continue };
                if l.machine.next_deadline_ms().is_none_or(|d| d > now_ms()) {
                    continue;
                }
                let cmds = l.machine.handle(Event::Tick { now_ms: now_ms() });
                if !run(&core, &group, l, cmds).await {
                    *slot = None;
                }
            }
        }
    }
}

/// A loaded group, locked for a handler.
pub struct GroupGuard<'a> {
    core: &'a Core,
    group: String,
    guard: tokio::sync::OwnedMutexGuard<Option<Loaded>>,
}

impl GroupGuard<'_> {
    fn loaded(&self) -> &Loaded {
        self.guard.as_ref().expect("checked when locked")
    }

    fn loaded_mut(&mut self) -> &mut Loaded {
        self.guard.as_mut().expect("checked when locked")
    }

    pub fn machine(&self) -> &Group {
        &self.loaded().machine
    }

    pub fn committed(&self, topic: &str, partition: i32) -> Option<&Committed> {
        self.loaded().offsets.get(&(topic.to_string(), partition))
    }

    pub fn all_committed(&self) -> impl Iterator<Item = (&(String, i32), &Committed)> {
        self.loaded().offsets.iter()
    }

    /// Appends `commits` to the group's shard and, once acknowledged, takes them. An error if
    /// the shard had been written elsewhere (the commits are in it, but were accepted on state
    /// that may be stale: not a success to report).
    pub async fn commit(&mut self, commits: Vec<((String, i32), Committed)>) -> Result<(), String> {
        let records =
            commits.iter().map(|((t, p), c)| (store::offset_key(&self.group, t, *p), store::offset_value(c))).collect();
        let partition = self.loaded().partition;
        let (base, last) = store::append(&self.core.data, partition, records, time::wall_ms()).await?;
        self.loaded_mut().offsets.extend(commits);
        match self.core.groups.shards.appended(partition, base, last) {
            true => Ok(()),
            false => Err("the group's shard was written elsewhere".into()),
        }
    }

    /// Deletes the group's offsets and generation (an empty group only).
    pub async fn delete(&mut self) -> Result<(), String> {
        let group = self.group.clone();
        let mut records: Vec<_> = self
            .loaded()
            .offsets
            .keys()
            .map(|(t, p)| (store::offset_key(&group, t, *p), bytes::Bytes::new()))
            .collect();
        records.push((store::group_key(&group), bytes::Bytes::new()));
        let partition = self.loaded().partition;
        let (base, last) = store::append(&self.core.data, partition, records, time::wall_ms()).await?;
        self.core.groups.shards.appended(partition, base, last);
        self.loaded_mut().offsets.clear();
        Ok(())
    }
}

/// Carries out the machine's commands: persists generations (feeding back `Persisted`) and
/// hands answers to their waiters. False if a generation could not be persisted (the group is
/// then dropped and reloaded by the next request; nobody learned the generation, or the
/// assignment of a completed one).
async fn run(core: &Core, group: &str, l: &mut Loaded, cmds: Vec<Command>) -> bool {
    let mut queue: VecDeque<Command> = cmds.into();
    while let Some(c) = queue.pop_front() {
        let token = match c {
            Command::Persist { generation, protocol_type, protocol_name, leader, .. } => {
                let g = Generation { generation, protocol_type, protocol_name, leader, members: Vec::new() };
                if !persist(core, group, l.partition, &g).await {
                    return false;
                }
                queue.extend(l.machine.handle(Event::Persisted { generation, now_ms: now_ms() }));
                continue;
            }
            Command::PersistMembers(g) => {
                if !persist(core, group, l.partition, &g).await {
                    return false;
                }
                continue;
            }
            Command::JoinAnswer { token, .. }
            | Command::SyncAnswer { token, .. }
            | Command::HeartbeatAnswer { token, .. }
            | Command::LeaveAnswer { token, .. } => token,
        };
        if let Some(tx) = l.waiting.remove(&token) {
            let _ = tx.send(c);
        }
    }
    true
}

/// Appends a generation record; whether it landed where this broker's state is current.
async fn persist(core: &Core, group: &str, partition: u32, g: &Generation) -> bool {
    let (generation, members) = (g.generation, g.members.len());
    let record = vec![(store::group_key(group), store::group_value(g))];
    match store::append(&core.data, partition, record, time::wall_ms()).await {
        Err(e) => {
            tracing::warn!(group, generation, members, error = %e, "kafka: a generation was not persisted");
            false
        }
        Ok((base, last)) if !core.groups.shards.appended(partition, base, last) => {
            // Decided on state that may be stale: nobody learns it; the group reloads.
            tracing::info!(group, generation, "kafka: the group's shard was written elsewhere");
            false
        }
        Ok(_) => true,
    }
}
