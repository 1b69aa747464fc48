//! Members that outlive their coordinator: a completed generation is made durable with its
//! members and their assignments ([`Command::PersistMembers`], when the leader's SyncGroup makes
//! the group Stable, as Kafka's coordinator stores its group metadata), and a coordinator that
//! takes the group over restores it Stable with them ([`Event::Restore`]), so heartbeats, offset
//! commits and SyncGroup re-sends of the generation go on without a rebalance. Their sessions
//! restart at the restore: a member that is gone expires one session timeout later.

use bytes::Bytes;

use super::{Command, Group, Member, Protocol, State, SESSION_TIMEOUT_MS_MAX, SESSION_TIMEOUT_MS_MIN};

/// A member as its completed generation stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub client_id: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    /// Every protocol it joined with (a rejoin with the same ones changes nothing).
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
}

/// A generation as it is stored: who leads it, with what, and once it completed, every member
/// (none while it is in progress).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredGeneration {
    pub generation: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub leader: String,
    pub members: Vec<StoredMember>,
}

impl Group {
    /// The completed generation with its members, to make durable.
    pub(super) fn persist_members(&self) -> Command {
        let members = self
            .members
            .iter()
            .map(|(id, m)| StoredMember {
                member_id: id.clone(),
                client_id: m.client_id.clone(),
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: m.protocols.clone(),
                assignment: m.assignment.clone(),
            })
            .collect();
        Command::PersistMembers(StoredGeneration {
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            members,
        })
    }

    /// [`super::Event::Restore`]: whether the group took it.
    pub(super) fn restore(&mut self, stored: StoredGeneration, now_ms: u64) -> bool {
        let StoredGeneration { generation, protocol_type, protocol_name, leader, members } = stored;
        let fresh = self.state == State::Empty && self.members.is_empty() && self.persisting.is_none();
        let sessions = SESSION_TIMEOUT_MS_MIN..=SESSION_TIMEOUT_MS_MAX;
        let sound = !members.is_empty()
            && members.iter().any(|m| m.member_id == leader)
            && members.iter().all(|m| !m.member_id.is_empty() && sessions.contains(&m.session_timeout_ms));
        if !fresh || !sound || generation < self.generation {
            return false;
        }
        self.generation = generation;
        self.protocol_type = protocol_type;
        self.protocol_name = protocol_name;
        self.leader = leader;
        self.deadline_ms = None;
        self.members = members
            .into_iter()
            .map(|m| {
                let member = Member {
                    client_id: m.client_id,
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms.max(m.session_timeout_ms),
                    protocols: m.protocols,
                    assignment: m.assignment,
                    last_heard_ms: now_ms,
                    awaiting_join: None,
                    awaiting_sync: None,
                };
                (m.member_id, member)
            })
            .collect();
        self.state = State::Stable;
        true
    }
}
