//! [`Group`]: the coordinator state machine of one consumer group (see the module docs).

mod restore;

use std::collections::BTreeMap;

use bytes::Bytes;

pub use self::restore::{StoredGeneration, StoredMember};

/// A request's token: the broker matches answers to waiting requests by it.
pub type Token = u64;

/// The group's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

/// A protocol a member supports (an assignor) with its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// Errors answered to members (Kafka's codes by name; the broker maps them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupError {
    UnknownMemberId,
    IllegalGeneration,
    RebalanceInProgress,
    InconsistentGroupProtocol,
    /// A v4+ join without a member id: the answer carries the id to rejoin with.
    MemberIdRequired,
    InvalidSessionTimeout,
}

/// A member as the leader sees it in a join answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    pub member_id: String,
    pub metadata: Bytes,
}

/// A successful join: the generation and who leads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinOk {
    pub generation: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub leader: String,
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol; empty unless this is the leader.
    pub members: Vec<MemberInfo>,
}

/// What happens to the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Join {
        token: Token,
        /// Empty for a member joining the first time.
        member_id: String,
        /// Whether the client takes a [`GroupError::MemberIdRequired`] answer (JoinGroup v4+).
        member_id_required: bool,
        client_id: String,
        session_timeout_ms: u64,
        rebalance_timeout_ms: u64,
        protocol_type: String,
        protocols: Vec<Protocol>,
        now_ms: u64,
    },
    Sync {
        token: Token,
        member_id: String,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        now_ms: u64,
    },
    Heartbeat {
        token: Token,
        member_id: String,
        generation: i32,
        now_ms: u64,
    },
    Leave {
        token: Token,
        member_ids: Vec<String>,
        now_ms: u64,
    },
    /// A coordinator took the group over and found `generation` completed (its members and
    /// their assignments durable, [`Command::PersistMembers`]): the group goes on Stable with
    /// them, each member's session starting `now_ms`. Only a group just created (no members)
    /// at most at that generation takes it; a record that does not hold together (no members,
    /// a leader that is not one, a session timeout out of range) is ignored.
    Restore {
        generation: StoredGeneration,
        now_ms: u64,
    },
    /// A [`Command::Persist`] of `generation` is durable.
    Persisted {
        generation: i32,
        now_ms: u64,
    },
    Tick {
        now_ms: u64,
    },
}

/// What the broker must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    JoinAnswer {
        token: Token,
        result: Result<JoinOk, (GroupError, String)>,
    },
    SyncAnswer {
        token: Token,
        result: Result<Bytes, GroupError>,
    },
    HeartbeatAnswer {
        token: Token,
        result: Result<(), GroupError>,
    },
    /// Per member asked about: `None` if it left, else why not.
    LeaveAnswer {
        token: Token,
        results: Vec<(String, Option<GroupError>)>,
    },
    /// Make `generation` durable (with its leader, protocol and members), then feed
    /// [`Event::Persisted`]; nobody learns the generation before.
    Persist {
        generation: i32,
        protocol_type: String,
        protocol_name: String,
        leader: String,
        members: Vec<String>,
    },
    /// Make the completed `generation` durable with its members and their assignments (the
    /// leader's SyncGroup made the group Stable). The commands after it (the sync answers) go
    /// out only once it is; if it cannot be, the broker drops the group and nobody learns the
    /// assignment from here.
    PersistMembers(StoredGeneration),
}

#[derive(Clone, Debug)]
struct Member {
    client_id: String,
    session_timeout_ms: u64,
    rebalance_timeout_ms: u64,
    protocols: Vec<Protocol>,
    assignment: Bytes,
    last_heard_ms: u64,
    awaiting_join: Option<Token>,
    awaiting_sync: Option<Token>,
}

/// The session timeouts a member may ask for, in milliseconds (Kafka's group.min/max).
pub const SESSION_TIMEOUT_MS_MIN: u64 = 1_000;
pub const SESSION_TIMEOUT_MS_MAX: u64 = 1_800_000;

/// One consumer group's coordinator state.
#[derive(Clone, Debug)]
pub struct Group {
    id: String,
    state: State,
    generation: i32,
    protocol_type: String,
    protocol_name: String,
    leader: String,
    members: BTreeMap<String, Member>,
    /// Member ids handed out to v4+ joins that have not rejoined with them yet.
    pending: BTreeMap<String, u64>,
    /// When the current join phase ends (PreparingRebalance) or the leader's sync is due.
    deadline_ms: Option<u64>,
    /// A generation sent to be persisted, not yet durable.
    persisting: Option<i32>,
    next_member: u64,
}

impl Group {
    /// A group with no members whose last durable generation is `generation` (0 if none).
    pub fn new(id: &str, generation: i32) -> Self {
        Group {
            id: id.to_string(),
            state: State::Empty,
            generation,
            protocol_type: String::new(),
            protocol_name: String::new(),
            leader: String::new(),
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            deadline_ms: None,
            persisting: None,
            next_member: 0,
        }
    }

    /// Numbers the member ids it hands out from `n` (a coordinator gives each load of a group
    /// its own range, so ids stay unique across coordinators and reloads).
    pub fn with_member_ids_from(mut self, n: u64) -> Self {
        self.next_member = n;
        self
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn protocol_type(&self) -> &str {
        &self.protocol_type
    }

    pub fn protocol_name(&self) -> &str {
        &self.protocol_name
    }

    pub fn leader(&self) -> &str {
        &self.leader
    }

    /// The members with their client id and assignment.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str, &Bytes)> {
        self.members.iter().map(|(id, m)| (id.as_str(), m.client_id.as_str(), &m.assignment))
    }

    /// Whether an offset commit by `member_id` in `generation` is accepted (-1 and an empty id:
    /// a consumer outside the group's membership, allowed while the group has no members).
    pub fn check_commit(&self, member_id: &str, generation: i32) -> Result<(), GroupError> {
        if generation < 0 && member_id.is_empty() {
            return match self.members.is_empty() {
                true => Ok(()),
                false => Err(GroupError::IllegalGeneration),
            };
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        match self.state {
            State::CompletingRebalance => Err(GroupError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// The next time a [`Event::Tick`] matters, if any.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let sessions = self.members.values().map(|m| m.last_heard_ms + m.session_timeout_ms).min();
        match (self.deadline_ms, sessions) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Feeds one event; returns what to do.
    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        match event {
            Event::Join {
                token,
                member_id,
                member_id_required,
                client_id,
                session_timeout_ms,
                rebalance_timeout_ms,
                protocol_type,
                protocols,
                now_ms,
            } => {
                let join = JoinArgs {
                    token,
                    client_id,
                    session_timeout_ms,
                    rebalance_timeout_ms: rebalance_timeout_ms.max(session_timeout_ms),
                    protocol_type,
                    protocols,
                    now_ms,
                };
                self.join(member_id, member_id_required, join, &mut out);
            }
            Event::Sync { token, member_id, generation, assignments, now_ms } => {
                self.sync(token, &member_id, generation, assignments, now_ms, &mut out)
            }
            Event::Heartbeat { token, member_id, generation, now_ms } => {
                let result = self.heartbeat(&member_id, generation, now_ms);
                out.push(Command::HeartbeatAnswer { token, result });
            }
            Event::Leave { token, member_ids, now_ms } => {
                let results = member_ids
                    .into_iter()
                    .map(|id| match self.members.contains_key(&id) {
                        true => {
                            self.remove(&id, &mut out);
                            (id, None)
                        }
                        false => (id, Some(GroupError::UnknownMemberId)),
                    })
                    .collect();
                out.push(Command::LeaveAnswer { token, results });
                self.after_removal(now_ms, &mut out);
            }
            Event::Restore { generation, now_ms } => {
                self.restore(generation, now_ms);
            }
            Event::Persisted { generation, now_ms } => self.persisted(generation, now_ms, &mut out),
            Event::Tick { now_ms } => self.tick(now_ms, &mut out),
        }
        out
    }
}

/// A join's settings, once the member id is settled.
struct JoinArgs {
    token: Token,
    client_id: String,
    session_timeout_ms: u64,
    rebalance_timeout_ms: u64,
    protocol_type: String,
    protocols: Vec<Protocol>,
    now_ms: u64,
}

impl Group {
    fn join(&mut self, member_id: String, member_id_required: bool, j: JoinArgs, out: &mut Vec<Command>) {
        let refuse = |out: &mut Vec<Command>, e: GroupError, why: &str| {
            out.push(Command::JoinAnswer { token: j.token, result: Err((e, why.to_string())) });
        };
        if !(SESSION_TIMEOUT_MS_MIN..=SESSION_TIMEOUT_MS_MAX).contains(&j.session_timeout_ms) {
            return refuse(out, GroupError::InvalidSessionTimeout, "session timeout out of range");
        }
        if j.protocols.is_empty() || (!self.members.is_empty() && j.protocol_type != self.protocol_type) {
            return refuse(out, GroupError::InconsistentGroupProtocol, "protocol type differs from the group's");
        }
        if !self.members.is_empty() && !self.members.values().all(|m| shares_protocol(m, &j.protocols)) {
            return refuse(out, GroupError::InconsistentGroupProtocol, "no protocol in common with the group");
        }
        let member_id = if member_id.is_empty() {
            let id = self.new_member_id(&j.client_id);
            if member_id_required {
                self.pending.insert(id.clone(), j.now_ms);
                let result = Err((GroupError::MemberIdRequired, id));
                out.push(Command::JoinAnswer { token: j.token, result });
                return;
            }
            id
        } else if self.members.contains_key(&member_id) || self.pending.remove(&member_id).is_some() {
            member_id
        } else {
            return refuse(out, GroupError::UnknownMemberId, "unknown member id");
        };
        self.add_or_update(member_id, j, out);
    }

    /// A member id nobody in the group holds or was offered: the load's numbering makes ids
    /// unique across loads in practice, and this makes sure of it (a generation restored from the
    /// log may hold ids of an earlier load numbered like this one).
    fn new_member_id(&mut self, client_id: &str) -> String {
        loop {
            let id = format!("{client_id}-{}-{}", self.generation, self.next_member);
            self.next_member = self.next_member.wrapping_add(1);
            if !self.members.contains_key(&id) && !self.pending.contains_key(&id) {
                return id;
            }
        }
    }

    fn add_or_update(&mut self, member_id: String, j: JoinArgs, out: &mut Vec<Command>) {
        let existing = self.members.get(&member_id);
        let unchanged = existing.is_some_and(|m| m.protocols == j.protocols);
        if self.state == State::Stable && unchanged && member_id != self.leader {
            // A follower rejoining with nothing new: tell it the current generation.
            let m = self.members.get_mut(&member_id).expect("checked");
            m.last_heard_ms = j.now_ms;
            out.push(Command::JoinAnswer { token: j.token, result: Ok(self.join_ok(&member_id, false)) });
            return;
        }
        if let Some(old) = existing.and_then(|m| m.awaiting_join) {
            // The same member joined again before its last join was answered.
            let result = Err((GroupError::RebalanceInProgress, "joined again".to_string()));
            out.push(Command::JoinAnswer { token: old, result });
        }
        if self.members.is_empty() {
            self.protocol_type = j.protocol_type.clone();
        }
        let assignment = existing.map(|m| m.assignment.clone()).unwrap_or_default();
        self.members.insert(
            member_id,
            Member {
                client_id: j.client_id,
                session_timeout_ms: j.session_timeout_ms,
                rebalance_timeout_ms: j.rebalance_timeout_ms,
                protocols: j.protocols,
                assignment,
                last_heard_ms: j.now_ms,
                awaiting_join: Some(j.token),
                awaiting_sync: None,
            },
        );
        self.prepare_rebalance(j.now_ms, out);
        self.maybe_complete_join(j.now_ms, out);
    }

    /// Starts a join phase (if one is not running): every member must rejoin by the deadline.
    fn prepare_rebalance(&mut self, now_ms: u64, out: &mut Vec<Command>) {
        if self.state == State::PreparingRebalance {
            return;
        }
        if self.state == State::CompletingRebalance {
            for m in self.members.values_mut() {
                if let Some(t) = m.awaiting_sync.take() {
                    out.push(Command::SyncAnswer { token: t, result: Err(GroupError::RebalanceInProgress) });
                }
            }
        }
        self.state = State::PreparingRebalance;
        let longest = self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0);
        self.deadline_ms = Some(now_ms + longest);
    }

    /// Ends the join phase once every member has rejoined (or at the deadline, without the
    /// members that did not): the next generation is persisted, then announced.
    fn maybe_complete_join(&mut self, now_ms: u64, out: &mut Vec<Command>) {
        if self.state != State::PreparingRebalance || self.persisting.is_some() {
            return;
        }
        let all_in = self.members.values().all(|m| m.awaiting_join.is_some());
        let due = self.deadline_ms.is_some_and(|d| now_ms >= d);
        if !all_in && !due {
            return;
        }
        let late: Vec<String> =
            self.members.iter().filter(|(_, m)| m.awaiting_join.is_none()).map(|(id, _)| id.clone()).collect();
        for id in late {
            self.members.remove(&id);
        }
        if self.members.is_empty() {
            self.become_empty();
            return;
        }
        let protocol = self.choose_protocol();
        if !self.members.contains_key(&self.leader) {
            self.leader = self.members.keys().next().expect("not empty").clone();
        }
        self.protocol_name = protocol;
        let generation = self.generation + 1;
        self.persisting = Some(generation);
        out.push(Command::Persist {
            generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            members: self.members.keys().cloned().collect(),
        });
    }

    fn persisted(&mut self, generation: i32, now_ms: u64, out: &mut Vec<Command>) {
        if self.persisting != Some(generation) {
            return;
        }
        self.persisting = None;
        self.generation = generation;
        if self.state != State::PreparingRebalance {
            return;
        }
        self.state = State::CompletingRebalance;
        let longest = self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0);
        self.deadline_ms = Some(now_ms + longest);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let m = self.members.get_mut(&id).expect("listed");
            m.last_heard_ms = now_ms;
            m.assignment = Bytes::new();
            if let Some(token) = m.awaiting_join.take() {
                let leader = id == self.leader;
                out.push(Command::JoinAnswer { token, result: Ok(self.join_ok(&id, leader)) });
            }
        }
        // Members that joined while the generation was being persisted start another round.
        self.maybe_complete_join(now_ms, out);
    }

    fn join_ok(&self, member_id: &str, leader: bool) -> JoinOk {
        let members = match leader {
            true => self
                .members
                .iter()
                .map(|(id, m)| MemberInfo { member_id: id.clone(), metadata: metadata_for(m, &self.protocol_name) })
                .collect(),
            false => Vec::new(),
        };
        JoinOk {
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            member_id: member_id.to_string(),
            members,
        }
    }

    /// The protocol every member supports that members rank highest (summing positions).
    fn choose_protocol(&self) -> String {
        let first = self.members.values().next().expect("not empty");
        first
            .protocols
            .iter()
            .filter(|p| self.members.values().all(|m| m.protocols.iter().any(|q| q.name == p.name)))
            .min_by_key(|p| {
                self.members
                    .values()
                    .map(|m| m.protocols.iter().position(|q| q.name == p.name).unwrap_or(0))
                    .sum::<usize>()
            })
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    fn sync(
        &mut self,
        token: Token,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        now_ms: u64,
        out: &mut Vec<Command>,
    ) {
        let answer = |out: &mut Vec<Command>, result| out.push(Command::SyncAnswer { token, result });
        if !self.members.contains_key(member_id) {
            return answer(out, Err(GroupError::UnknownMemberId));
        }
        if generation != self.generation {
            return answer(out, Err(GroupError::IllegalGeneration));
        }
        self.members.get_mut(member_id).expect("checked").last_heard_ms = now_ms;
        match self.state {
            State::Empty | State::PreparingRebalance => answer(out, Err(GroupError::RebalanceInProgress)),
            State::Stable => {
                let a = self.members[member_id].assignment.clone();
                answer(out, Ok(a));
            }
            State::CompletingRebalance => {
                self.members.get_mut(member_id).expect("checked").awaiting_sync = Some(token);
                if member_id == self.leader {
                    for (id, a) in assignments {
                        if let Some(m) = self.members.get_mut(&id) {
                            m.assignment = a;
                        }
                    }
                    self.state = State::Stable;
                    self.deadline_ms = None;
                    out.push(self.persist_members());
                    for m in self.members.values_mut() {
                        if let Some(t) = m.awaiting_sync.take() {
                            out.push(Command::SyncAnswer { token: t, result: Ok(m.assignment.clone()) });
                        }
                    }
                }
            }
        }
    }

    fn heartbeat(&mut self, member_id: &str, generation: i32, now_ms: u64) -> Result<(), GroupError> {
        let Some(m) = self.members.get_mut(member_id) else { return Err(GroupError::UnknownMemberId) };
        m.last_heard_ms = now_ms;
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        match self.state {
            State::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Removes a member, failing its waiting requests.
    fn remove(&mut self, id: &str, out: &mut Vec<Command>) {
        if let Some(m) = self.members.remove(id) {
            if let Some(t) = m.awaiting_join {
                out.push(Command::JoinAnswer {
                    token: t,
                    result: Err((GroupError::UnknownMemberId, "removed".into())),
                });
            }
            if let Some(t) = m.awaiting_sync {
                out.push(Command::SyncAnswer { token: t, result: Err(GroupError::UnknownMemberId) });
            }
        }
    }

    /// After members left or expired: a new round for the rest, or empty.
    fn after_removal(&mut self, now_ms: u64, out: &mut Vec<Command>) {
        if self.members.is_empty() {
            if self.persisting.is_none() {
                self.become_empty();
            }
            return;
        }
        self.prepare_rebalance(now_ms, out);
        self.maybe_complete_join(now_ms, out);
    }

    fn become_empty(&mut self) {
        self.state = State::Empty;
        self.deadline_ms = None;
        self.leader.clear();
        self.protocol_name.clear();
    }

    fn tick(&mut self, now_ms: u64, out: &mut Vec<Command>) {
        self.pending.retain(|_, at| now_ms < *at + SESSION_TIMEOUT_MS_MAX);
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.awaiting_join.is_none() && now_ms >= m.last_heard_ms + m.session_timeout_ms)
            .map(|(id, _)| id.clone())
            .collect();
        let sync_due = self.state == State::CompletingRebalance && self.deadline_ms.is_some_and(|d| now_ms >= d);
        if sync_due {
            // The leader never sent the assignment: everyone rejoins.
            self.prepare_rebalance(now_ms, out);
        }
        for id in &expired {
            self.remove(id, out);
        }
        if !expired.is_empty() {
            self.after_removal(now_ms, out);
        } else {
            self.maybe_complete_join(now_ms, out);
        }
    }
}

fn shares_protocol(m: &Member, protocols: &[Protocol]) -> bool {
    m.protocols.iter().any(|p| protocols.iter().any(|q| q.name == p.name))
}

fn metadata_for(m: &Member, protocol: &str) -> Bytes {
    m.protocols.iter().find(|p| p.name == protocol).map(|p| p.metadata.clone()).unwrap_or_default()
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "group {} {:?} generation {} with {} members",
            self.id,
            self.state,
            self.generation,
            self.members.len()
        )
    }
}
