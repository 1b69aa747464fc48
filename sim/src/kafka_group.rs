//! A consumer-group member for the Kafka scenario, on Keel's codec, doing what a classic
//! (eager) Kafka consumer does: FindCoordinator, JoinGroup (protocol type "consumer", the range
//! assignor computed by the leader member, ConsumerProtocol bytes: [`crate::kafka_assignment`]),
//! SyncGroup, then OffsetFetch of its partitions (from the start when none is committed), Fetch
//! from any broker, an OffsetCommit of its positions after a round of polls moved them, a Heartbeat
//! every second. A rebalance, a stale generation or an unknown member sends it back to join
//! (afresh for an unknown member id); a lost or moved coordinator sends it to FindCoordinator,
//! and while it consumes, on with its member id and generation at the new coordinator, as Kafka's
//! consumers do (the coordinator restored the group: no rebalance), joining again only if that
//! one does not know them.
//! Every commit, every OffsetFetch answer, every assignment and every polled record goes into
//! the [`GroupLog`] the group invariants check. Each loop is bounded by the stop flag or the
//! member's leave time, and each request by a time limit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use keel_protocols::kafka::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use keel_protocols::kafka::kafka_protocol::messages::leave_group_request::MemberIdentity;
use keel_protocols::kafka::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use keel_protocols::kafka::kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use keel_protocols::kafka::kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use keel_protocols::kafka::kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_rt::{time, trace};

use crate::invariants::kafka_group_history::{Assigned, Commit, CommitOutcome, GroupLog, Observed};
use crate::kafka_assignment::{self, RANGE};
use crate::kafka_client::KafkaConn;
use crate::kafka_scenario::{fetch, topic, Brokers, CALL, PARTITIONS, TOPIC};

/// The group's id.
pub const GROUP: &str = "g";
const SESSION_MS: i32 = 6_000;
const REBALANCE_MS: i32 = 10_000;
/// A join or sync may be held by the coordinator up to the rebalance timeout (plus its slack).
const JOIN_CALL: Duration = Duration::from_secs(20);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// Coordinators a member tries before it joins again, when its coordinator is lost.
const RESUME_TRIES: usize = 20;
/// How long a fetch waits for records (what keeps an idle member's requests few).
const POLL_WAIT_MS: i32 = 300;

/// Error codes by name.
const NOT_COORDINATOR: i16 = 16;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;
/// Commit answers that say nothing was written.
const REFUSED: &[i16] = &[14, NOT_COORDINATOR, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS];

/// The group's history, shared by its members.
#[derive(Clone, Default)]
pub struct GroupShared(Arc<Mutex<GroupLog>>);

impl GroupShared {
    pub fn lock(&self) -> MutexGuard<'_, GroupLog> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a failed step sends the member.
enum Back {
    /// Join again with the same member id.
    Rejoin,
    /// Join again as a new member.
    Fresh,
    /// Find the coordinator again.
    Rediscover,
}

fn back(code: i16) -> Back {
    match code {
        REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION => Back::Rejoin,
        UNKNOWN_MEMBER_ID => Back::Fresh,
        _ => Back::Rediscover,
    }
}

fn ms() -> u64 {
    time::since_start().as_millis() as u64
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A member's state between steps.
struct Member {
    name: String,
    brokers: Brokers,
    log: GroupShared,
    member_id: String,
    generation: i32,
    coordinator: Option<KafkaConn>,
    /// The address of the last coordinator found.
    coordinator_at: String,
    data: Option<KafkaConn>,
}

/// Runs a member until `stop`, or until `leave_at` when it leaves the group (LeaveGroup).
pub(crate) async fn member(
    name: String,
    brokers: Brokers,
    log: GroupShared,
    stop: Arc<AtomicBool>,
    leave_at: Option<time::Instant>,
) {
    let mut m = Member {
        name,
        brokers,
        log,
        member_id: String::new(),
        generation: -1,
        coordinator: None,
        coordinator_at: String::new(),
        data: None,
    };
    let done = || stop.load(Ordering::Relaxed) || leave_at.is_some_and(|t| time::now() >= t);
    while !done() {
        let step = m.round(&done).await;
        match step {
            Back::Rejoin => {}
            Back::Fresh => m.member_id.clear(),
            Back::Rediscover => {
                m.coordinator = None;
                time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    if leave_at.is_some() && !stop.load(Ordering::Relaxed) {
        m.leave().await;
    }
}

impl Member {
    /// One membership: coordinator, join, sync, offsets, then polls until a step fails.
    async fn round(&mut self, done: &impl Fn() -> bool) -> Back {
        if self.coordinator.is_none() {
            match find_coordinator(&self.brokers).await {
                Some((c, at)) => (self.coordinator, self.coordinator_at) = (Some(c), at),
                None => return Back::Rediscover,
            }
        }
        let members = match self.join().await {
            Ok(m) => m,
            Err(b) => return b,
        };
        let partitions = match self.sync(members).await {
            Ok(p) => p,
            Err(b) => return b,
        };
        let mut positions = match self.offsets(&partitions).await {
            Ok(p) => p,
            Err(b) => return b,
        };
        let mut last_beat = time::now();
        let mut committed = BTreeMap::new();
        while !done() {
            self.poll(&mut positions).await;
            if positions != committed {
                match self.commit(&positions).await {
                    Ok(()) => committed = positions.clone(),
                    Err(b) => {
                        if let Err(b) = self.resume(b).await {
                            return b;
                        }
                    }
                }
            }
            if time::now() >= last_beat + HEARTBEAT_EVERY {
                if let Err(b) = self.heartbeat().await {
                    if let Err(b) = self.resume(b).await {
                        return b;
                    }
                }
                last_beat = time::now();
            }
            if partitions.is_empty() {
                time::sleep(Duration::from_millis(300)).await;
            }
        }
        Back::Rejoin
    }

    fn conn(&mut self) -> &mut KafkaConn {
        self.coordinator.as_mut().expect("a coordinator before any group request")
    }

    /// JoinGroup until answered with a generation; the members to assign if this is the leader.
    async fn join(&mut self) -> Result<Vec<String>, Back> {
        for _ in 0..2 {
            let req = JoinGroupRequest::default()
                .with_group_id(GroupId(s(GROUP)))
                .with_session_timeout_ms(SESSION_MS)
                .with_rebalance_timeout_ms(REBALANCE_MS)
                .with_member_id(s(&self.member_id))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(s(RANGE))
                    .with_metadata(kafka_assignment::subscription(TOPIC))]);
            let r: JoinGroupResponse =
                self.conn().call(ApiKey::JoinGroup, 5, &req, JOIN_CALL).await.map_err(|_| Back::Rediscover)?;
            if r.error_code == MEMBER_ID_REQUIRED {
                self.member_id = r.member_id.to_string();
                continue;
            }
            if r.error_code != 0 {
                return Err(back(r.error_code));
            }
            self.member_id = r.member_id.to_string();
            self.generation = r.generation_id;
            let mut members: Vec<String> = r.members.iter().map(|m| m.member_id.to_string()).collect();
            members.sort();
            return Ok(members);
        }
        Err(Back::Rejoin)
    }

    /// SyncGroup (with the range assignment if this is the leader); this member's partitions.
    async fn sync(&mut self, members: Vec<String>) -> Result<Vec<i32>, Back> {
        let assignments = kafka_assignment::range(&members, PARTITIONS)
            .into_iter()
            .map(|(id, parts)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(s(&id))
                    .with_assignment(kafka_assignment::encode(TOPIC, &parts))
            })
            .collect();
        let req = SyncGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.member_id))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s(RANGE)))
            .with_assignments(assignments);
        let r: SyncGroupResponse =
            self.conn().call(ApiKey::SyncGroup, 3, &req, JOIN_CALL).await.map_err(|_| Back::Rediscover)?;
        if r.error_code != 0 {
            return Err(back(r.error_code));
        }
        let partitions = kafka_assignment::decode(TOPIC, &r.assignment).ok_or(Back::Rejoin)?;
        trace::record("kafka.group.assigned", self.generation as u64 ^ (partitions.len() as u64) << 32);
        self.log.lock().assigned.push(Assigned {
            group: GROUP.into(),
            generation: self.generation,
            member: self.member_id.clone(),
            partitions: partitions.clone(),
        });
        Ok(partitions)
    }

    /// OffsetFetch of `partitions`: where to start each (its committed offset, or 0).
    async fn offsets(&mut self, partitions: &[i32]) -> Result<BTreeMap<i32, i64>, Back> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let req = OffsetFetchRequest::default().with_group_id(GroupId(s(GROUP))).with_topics(Some(vec![
            OffsetFetchRequestTopic::default().with_name(topic()).with_partition_indexes(partitions.to_vec()),
        ]));
        let sent_ms = ms();
        let r: OffsetFetchResponse =
            self.conn().call(ApiKey::OffsetFetch, 5, &req, CALL).await.map_err(|_| Back::Rediscover)?;
        if r.error_code != 0 {
            return Err(back(r.error_code));
        }
        let answered_ms = ms();
        let mut out = BTreeMap::new();
        for p in r.topics.iter().flat_map(|t| &t.partitions) {
            if p.error_code != 0 {
                return Err(back(p.error_code));
            }
            self.log.lock().observed.push(Observed {
                group: GROUP.into(),
                member: self.member_id.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                sent_ms,
                answered_ms,
            });
            out.insert(p.partition_index, p.committed_offset.max(0));
        }
        match partitions.iter().all(|p| out.contains_key(p)) {
            true => Ok(out),
            false => Err(Back::Rejoin),
        }
    }

    /// One fetch of each owned partition from its position, at any broker.
    async fn poll(&mut self, positions: &mut BTreeMap<i32, i64>) {
        for (partition, next) in positions.iter_mut() {
            if self.data.is_none() {
                self.data = self.brokers.connect().await;
            }
            let Some(c) = self.data.as_mut() else { return };
            match fetch(c, *partition, *next, POLL_WAIT_MS).await {
                Ok((records, _)) => {
                    if let Some((last, _)) = records.last() {
                        *next = last + 1;
                    }
                    self.log.lock().polled.extend(records.into_iter().map(|(o, v)| (*partition, o, v)));
                }
                Err(code) => {
                    self.data = None;
                    if code >= 0 {
                        time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    }

    /// OffsetCommit of every position, recorded before it is sent (a commit whose member dies
    /// in flight may still land) and settled by its answer.
    async fn commit(&mut self, positions: &BTreeMap<i32, i64>) -> Result<(), Back> {
        if positions.is_empty() {
            return Ok(());
        }
        let parts = positions
            .iter()
            .map(|(p, o)| OffsetCommitRequestPartition::default().with_partition_index(*p).with_committed_offset(*o))
            .collect();
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id_or_member_epoch(self.generation)
            .with_member_id(s(&self.member_id))
            .with_topics(vec![OffsetCommitRequestTopic::default().with_name(topic()).with_partitions(parts)]);
        let sent_ms = ms();
        let first = {
            let mut l = self.log.lock();
            let first = l.commits.len();
            l.commits.extend(positions.iter().map(|(p, o)| Commit {
                group: GROUP.into(),
                member: self.member_id.clone(),
                generation: self.generation,
                partition: *p,
                offset: *o,
                sent_ms,
                answered_ms: sent_ms,
                outcome: CommitOutcome::Unknown,
            }));
            first
        };
        let r: std::io::Result<OffsetCommitResponse> = self.conn().call(ApiKey::OffsetCommit, 7, &req, CALL).await;
        let answered_ms = ms();
        let codes: BTreeMap<i32, i16> = match &r {
            Ok(r) => r.topics.iter().flat_map(|t| &t.partitions).map(|p| (p.partition_index, p.error_code)).collect(),
            Err(_) => BTreeMap::new(),
        };
        let mut l = self.log.lock();
        for c in &mut l.commits[first..] {
            c.answered_ms = answered_ms;
            c.outcome = match codes.get(&c.partition) {
                Some(0) => CommitOutcome::Acked,
                Some(code) if REFUSED.contains(code) => CommitOutcome::Rejected,
                _ => CommitOutcome::Unknown,
            };
        }
        drop(l);
        match (r, codes.values().find(|c| **c != 0)) {
            (Err(_), _) => Err(Back::Rediscover),
            (Ok(_), Some(code)) => Err(back(*code)),
            (Ok(_), None) => Ok(()),
        }
    }

    async fn heartbeat(&mut self) -> Result<(), Back> {
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.member_id));
        let r: HeartbeatResponse =
            self.conn().call(ApiKey::Heartbeat, 3, &req, CALL).await.map_err(|_| Back::Rediscover)?;
        match r.error_code {
            0 => Ok(()),
            code => Err(back(code)),
        }
    }

    /// After a failed step while consuming: if the coordinator was lost, finds the next one and
    /// carries on there with the same member id and generation once a heartbeat is answered
    /// (counted when that is another broker: one that restored the group). Views reach brokers
    /// at different times, so a coordinator just named may not know it is one yet: a few tries.
    async fn resume(&mut self, mut back: Back) -> Result<(), Back> {
        let lost = self.coordinator_at.clone();
        for _ in 0..RESUME_TRIES {
            let Back::Rediscover = back else { return Err(back) };
            self.coordinator = None;
            time::sleep(Duration::from_millis(300)).await;
            let Some((c, at)) = find_coordinator(&self.brokers).await else { continue };
            let moved = at != lost;
            (self.coordinator, self.coordinator_at) = (Some(c), at);
            match self.heartbeat().await {
                Ok(()) => {
                    if moved {
                        trace::record("kafka.group.resumed", self.generation as u64);
                        self.log.lock().resumed += 1;
                    }
                    return Ok(());
                }
                Err(b) => back = b,
            }
        }
        Err(back)
    }

    /// LeaveGroup, best effort (the session timeout removes a member that could not).
    async fn leave(&mut self) {
        if self.member_id.is_empty() {
            return;
        }
        if self.coordinator.is_none() {
            self.coordinator = find_coordinator(&self.brokers).await.map(|(c, _)| c);
        }
        let Some(c) = self.coordinator.as_mut() else { return };
        let req = LeaveGroupRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_members(vec![MemberIdentity::default().with_member_id(s(&self.member_id))]);
        let r: std::io::Result<LeaveGroupResponse> = c.call(ApiKey::LeaveGroup, 3, &req, CALL).await;
        trace::record("kafka.group.left", r.map_or(1, |r| r.error_code as u64));
        tracing::debug!(member = %self.name, "left the group");
    }
}

/// The group's coordinator, asked of any broker, connected to; with its address.
async fn find_coordinator(brokers: &Brokers) -> Option<(KafkaConn, String)> {
    let mut c = brokers.connect().await?;
    let req = FindCoordinatorRequest::default().with_key(s(GROUP)).with_key_type(0);
    let r: FindCoordinatorResponse = c.call(ApiKey::FindCoordinator, 3, &req, CALL).await.ok()?;
    if r.error_code != 0 {
        return None;
    }
    let at = format!("{}:{}", r.host, r.port);
    Some((KafkaConn::connect(&at, CALL).await.ok()?, at))
}
