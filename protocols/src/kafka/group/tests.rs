use bytes::Bytes;

use super::machine::Token;
use super::*;

pub(super) const SESSION: u64 = 10_000;
pub(super) const REBALANCE: u64 = 30_000;

pub(super) fn join(token: Token, member: &str, now_ms: u64) -> Event {
    Event::Join {
        token,
        member_id: member.to_string(),
        member_id_required: false,
        client_id: "c".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: vec![
            Protocol { name: "cooperative-sticky".into(), metadata: Bytes::from(format!("meta-{member}")) },
            Protocol { name: "range".into(), metadata: Bytes::new() },
        ],
        now_ms,
    }
}

pub(super) fn joined(cmds: &[Command]) -> Vec<(Token, JoinOk)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::JoinAnswer { token, result: Ok(ok) } => Some((*token, ok.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn persist_of(cmds: &[Command]) -> Option<i32> {
    cmds.iter().find_map(|c| match c {
        Command::Persist { generation, .. } => Some(*generation),
        _ => None,
    })
}

/// Two members in a stable generation 2: returns the group and the two member ids (leader first).
pub(super) fn stable_pair() -> (Group, String, String) {
    let (g, a, b, _) = stable_pair_stored();
    (g, a, b)
}

/// [`stable_pair`], with the [`Command::PersistMembers`] of its generation 2.
pub(super) fn stable_pair_stored() -> (Group, String, String, Command) {
    let mut g = Group::new("g", 0);
    let out = g.handle(join(1, "", 0));
    assert_eq!(persist_of(&out), Some(1), "the only member completes the join phase alone");
    let out = g.handle(Event::Persisted { generation: 1, now_ms: 1 });
    let a = joined(&out)[0].1.member_id.clone();
    g.handle(Event::Sync { token: 2, member_id: a.clone(), generation: 1, assignments: vec![], now_ms: 2 });
    assert_eq!(g.state(), State::Stable);
    // A second member: a new round, which the first joins again.
    let out = g.handle(join(3, "", 10));
    assert!(joined(&out).is_empty() && persist_of(&out).is_none(), "waits for the first to rejoin");
    assert_eq!(
        g.handle(Event::Heartbeat { token: 4, member_id: a.clone(), generation: 1, now_ms: 11 }),
        vec![Command::HeartbeatAnswer { token: 4, result: Err(GroupError::RebalanceInProgress) }]
    );
    let out = g.handle(join(5, &a, 12));
    assert_eq!(persist_of(&out), Some(2));
    let out = g.handle(Event::Persisted { generation: 2, now_ms: 13 });
    let answers = joined(&out);
    assert_eq!(answers.len(), 2);
    let leader = answers.iter().find(|(t, _)| *t == 5).map(|(_, ok)| ok.clone()).expect("the first rejoined");
    let other = answers.iter().find(|(t, _)| *t == 3).map(|(_, ok)| ok.clone()).expect("the second");
    assert_eq!((leader.generation, leader.leader.as_str(), leader.members.len()), (2, a.as_str(), 2));
    assert!(other.members.is_empty(), "only the leader sees the members");
    assert_eq!(leader.protocol_name, "cooperative-sticky");
    let b = other.member_id;
    let out = g.handle(Event::Sync { token: 6, member_id: b.clone(), generation: 2, assignments: vec![], now_ms: 14 });
    assert!(out.is_empty(), "a follower's sync waits for the leader's");
    let assignments = vec![(a.clone(), Bytes::from("p0")), (b.clone(), Bytes::from("p1"))];
    let out = g.handle(Event::Sync { token: 7, member_id: a.clone(), generation: 2, assignments, now_ms: 15 });
    assert!(out.contains(&Command::SyncAnswer { token: 6, result: Ok(Bytes::from("p1")) }));
    assert!(out.contains(&Command::SyncAnswer { token: 7, result: Ok(Bytes::from("p0")) }));
    assert_eq!(g.state(), State::Stable);
    assert!(
        matches!(out[0], Command::PersistMembers(StoredGeneration { generation: 2, .. })),
        "durable before answered: {out:?}"
    );
    (g, a, b, out[0].clone())
}

#[test]
fn members_join_sync_and_get_the_leaders_assignment() {
    let (mut g, a, _) = stable_pair();
    let out = g.handle(Event::Heartbeat { token: 8, member_id: a, generation: 2, now_ms: 20 });
    assert_eq!(out, vec![Command::HeartbeatAnswer { token: 8, result: Ok(()) }]);
}

#[test]
fn a_new_member_first_gets_an_id_to_rejoin_with() {
    let mut g = Group::new("g", 0);
    let mut e = join(1, "", 0);
    if let Event::Join { member_id_required, .. } = &mut e {
        *member_id_required = true;
    }
    let out = g.handle(e);
    let Command::JoinAnswer { result: Err((GroupError::MemberIdRequired, id)), .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(g.state(), State::Empty);
    let out = g.handle(join(2, id, 1));
    assert_eq!(persist_of(&out), Some(1), "the id is accepted once");
    let out = g.handle(join(3, "made-up", 2));
    assert!(matches!(&out[0], Command::JoinAnswer { result: Err((GroupError::UnknownMemberId, _)), .. }));
}

#[test]
fn nobody_learns_a_generation_before_it_is_durable() {
    let mut g = Group::new("g", 41);
    let out = g.handle(join(1, "", 0));
    assert_eq!(persist_of(&out), Some(42), "a taken-over group goes on from its durable generation");
    assert!(joined(&out).is_empty());
    assert!(g.handle(Event::Persisted { generation: 7, now_ms: 1 }).is_empty(), "not the one asked for");
    let out = g.handle(Event::Persisted { generation: 42, now_ms: 2 });
    assert_eq!(joined(&out)[0].1.generation, 42);
}

#[test]
fn stale_generations_and_unknown_members_are_refused() {
    let (mut g, a, _) = stable_pair();
    let out = g.handle(Event::Heartbeat { token: 9, member_id: a.clone(), generation: 1, now_ms: 20 });
    assert_eq!(out, vec![Command::HeartbeatAnswer { token: 9, result: Err(GroupError::IllegalGeneration) }]);
    let out =
        g.handle(Event::Sync { token: 10, member_id: "x".into(), generation: 2, assignments: vec![], now_ms: 21 });
    assert_eq!(out, vec![Command::SyncAnswer { token: 10, result: Err(GroupError::UnknownMemberId) }]);
    assert_eq!(g.check_commit(&a, 1), Err(GroupError::IllegalGeneration));
    assert_eq!(g.check_commit("x", 2), Err(GroupError::UnknownMemberId));
    assert_eq!(g.check_commit(&a, 2), Ok(()));
    assert_eq!(g.check_commit("", -1), Err(GroupError::IllegalGeneration), "not while it has members");
    assert_eq!(Group::new("g", 3).check_commit("", -1), Ok(()), "a group without members takes plain commits");
}

#[test]
fn a_silent_member_expires_and_the_rest_rebalance() {
    let (mut g, a, b) = stable_pair();
    // `a` keeps heartbeating, `b` goes silent.
    for t in (1_000..SESSION + 1_000).step_by(1_000) {
        g.handle(Event::Heartbeat { token: 100 + t, member_id: a.clone(), generation: 2, now_ms: t });
    }
    let out = g.handle(Event::Tick { now_ms: SESSION + 20 });
    assert!(g.members().all(|(id, ..)| id != b), "b expired: {out:?}");
    assert_eq!(g.state(), State::PreparingRebalance);
    let out = g.handle(join(11, &a, SESSION + 30));
    assert_eq!(persist_of(&out), Some(3));
}

#[test]
fn members_that_do_not_rejoin_in_time_are_dropped() {
    let (mut g, a, b) = stable_pair();
    g.handle(join(12, &b, 100)); // b asks for a rebalance; a never rejoins
    let out = g.handle(Event::Tick { now_ms: 100 + REBALANCE });
    assert_eq!(persist_of(&out), Some(3));
    assert!(g.members().all(|(id, ..)| id != a));
    let out = g.handle(Event::Persisted { generation: 3, now_ms: 101 + REBALANCE });
    let ok = &joined(&out)[0].1;
    assert_eq!((ok.leader.as_str(), ok.members.len()), (b.as_str(), 1), "b leads what is left");
}

#[test]
fn a_leader_that_never_syncs_sends_everyone_back_to_join() {
    let (mut g, a, b) = stable_pair();
    g.handle(join(13, &a, 200));
    g.handle(join(14, &b, 201));
    g.handle(Event::Persisted { generation: 3, now_ms: 202 });
    let out =
        g.handle(Event::Sync { token: 15, member_id: b.clone(), generation: 3, assignments: vec![], now_ms: 203 });
    assert!(out.is_empty());
    for t in (1_000..REBALANCE).step_by(5_000) {
        for (i, m) in [&a, &b].into_iter().enumerate() {
            let beat =
                Event::Heartbeat { token: 500 + t + i as u64, member_id: m.clone(), generation: 3, now_ms: 203 + t };
            assert!(matches!(g.handle(beat)[0], Command::HeartbeatAnswer { result: Ok(()), .. }));
        }
    }
    let out = g.handle(Event::Tick { now_ms: 203 + REBALANCE });
    assert!(out.contains(&Command::SyncAnswer { token: 15, result: Err(GroupError::RebalanceInProgress) }));
    assert_eq!(g.state(), State::PreparingRebalance);
}

#[test]
fn leaving_rebalances_the_rest_and_the_last_leaves_it_empty() {
    let (mut g, a, b) = stable_pair();
    let out = g.handle(Event::Leave { token: 16, member_ids: vec![b.clone(), "ghost".into()], now_ms: 300 });
    assert!(out.contains(&Command::LeaveAnswer {
        token: 16,
        results: vec![(b, None), ("ghost".into(), Some(GroupError::UnknownMemberId))]
    }));
    assert_eq!(g.state(), State::PreparingRebalance);
    g.handle(Event::Leave { token: 17, member_ids: vec![a], now_ms: 301 });
    assert_eq!(g.state(), State::Empty);
}

#[test]
fn a_join_with_no_protocol_in_common_is_refused() {
    let (mut g, ..) = stable_pair();
    let out = g.handle(Event::Join {
        token: 18,
        member_id: String::new(),
        member_id_required: false,
        client_id: "c".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol { name: "roundrobin".into(), metadata: Bytes::new() }],
        now_ms: 400,
    });
    assert!(matches!(&out[0], Command::JoinAnswer { result: Err((GroupError::InconsistentGroupProtocol, _)), .. }));
    assert_eq!(g.state(), State::Stable, "the group is untouched");
}

#[test]
fn two_loads_of_a_group_at_one_generation_hand_out_different_member_ids() {
    let first = |n| {
        let mut g = Group::new("g", 4).with_member_ids_from(n);
        let cmds = g.handle(join(1, "", 0));
        let answers = g.handle(Event::Persisted { generation: persist_of(&cmds).expect("a generation"), now_ms: 0 });
        joined(&answers).pop().expect("a member joined").1.member_id
    };
    assert_ne!(first(0), first(1 << 16));
}
