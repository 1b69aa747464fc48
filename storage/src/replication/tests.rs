//! The replication state machine's commands, scenario by scenario.

use super::*;

const EPOCH: u64 = 1;

fn config(min_insync: usize) -> ReplicaConfig {
    ReplicaConfig { lag_ms_max: 1_000, min_insync, fetch_bytes_max: 1 << 20, ..ReplicaConfig::default() }
}

/// A leader (node 1) of epoch 1 over an empty log with ISR {1, 2, 3}.
fn leader(min_insync: usize) -> ShardReplica {
    let mut r = ShardReplica::new(1, config(min_insync), 0, EpochCache::new());
    let out = r.handle(Event::BecomeLeader { epoch: EPOCH, isr: vec![1, 2, 3], now_ms: 0 });
    assert_eq!(out, vec![Command::SaveEpochs { entries: vec![(EPOCH, 0)] }]);
    r
}

fn fetch(from: NodeId, fetch_offset: u64, now_ms: u64) -> Event {
    Event::FetchRequest { from, epoch: EPOCH, fetch_offset, last_fetched_epoch: Some(EPOCH), now_ms }
}

fn serve(to: NodeId, from_offset: u64, hw: u64) -> Command {
    Command::ServeFetch { to, from_offset, hw, epoch: EPOCH }
}

#[test]
fn the_leader_acks_after_its_own_sync_and_every_in_sync_follower() {
    let mut r = leader(2);
    assert_eq!(
        r.handle(Event::Produce { req: 7, producer: None }),
        vec![Command::Append { req: Some(7), epoch: EPOCH }]
    );
    assert_eq!(r.handle(Event::Appended { req: Some(7), base: 0, last: 9 }), vec![Command::Sync]);
    assert_eq!(r.handle(Event::Synced { durable_end: 10 }), vec![], "followers have nothing yet");
    assert_eq!(r.handle(fetch(2, 10, 5)), vec![serve(2, 10, 0)], "follower 3 still lacks it");
    assert_eq!(
        r.handle(fetch(3, 10, 6)),
        vec![Command::HighWatermark { hw: 10 }, Command::Ack { req: 7, base: 0, last: 9 }, serve(3, 10, 10)]
    );
}

#[test]
fn the_unsafe_switch_acks_on_the_leaders_own_sync_before_any_follower() {
    let mut r = leader(2);
    r.config.unsafe_ack_before_replication = true;
    r.handle(Event::Produce { req: 7, producer: None });
    r.handle(Event::Appended { req: Some(7), base: 0, last: 9 });
    assert_eq!(
        r.handle(Event::Synced { durable_end: 10 }),
        vec![Command::HighWatermark { hw: 10 }, Command::Ack { req: 7, base: 0, last: 9 }],
        "the broken build acknowledges what no follower has"
    );
}

#[test]
fn followers_confirming_before_the_leader_syncs_do_not_ack() {
    let mut r = leader(2);
    r.handle(Event::Produce { req: 1, producer: None });
    r.handle(Event::Appended { req: Some(1), base: 0, last: 0 });
    r.handle(fetch(2, 1, 1));
    assert_eq!(r.handle(fetch(3, 1, 1)), vec![serve(3, 1, 0)], "the leader has not synced");
    assert_eq!(
        r.handle(Event::Synced { durable_end: 1 }),
        vec![Command::HighWatermark { hw: 1 }, Command::Ack { req: 1, base: 0, last: 0 }]
    );
}

#[test]
fn produce_is_refused_without_enough_in_sync_replicas() {
    let mut r = ShardReplica::new(1, config(2), 0, EpochCache::new());
    r.handle(Event::BecomeLeader { epoch: EPOCH, isr: vec![1], now_ms: 0 });
    assert_eq!(
        r.handle(Event::Produce { req: 3, producer: None }),
        vec![Command::Reject { req: 3, error: ProduceError::NotEnoughReplicas { isr: 1, min: 2 } }]
    );
    let mut f = ShardReplica::new(2, config(1), 0, EpochCache::new());
    assert_eq!(
        f.handle(Event::Produce { req: 4, producer: None }),
        vec![Command::Reject { req: 4, error: ProduceError::NotLeader { epoch: 0 } }]
    );
}

#[test]
fn a_lagging_follower_leaves_the_isr_only_once_meta_commits_it() {
    let mut r = leader(2);
    r.handle(Event::Produce { req: 1, producer: None });
    r.handle(Event::Appended { req: Some(1), base: 0, last: 4 });
    r.handle(Event::Synced { durable_end: 5 });
    r.handle(fetch(2, 5, 500));
    assert_eq!(r.handle(Event::Tick { now_ms: 900 }), vec![], "within the lag limit");
    assert_eq!(
        r.handle(Event::Tick { now_ms: 1_000 }),
        vec![],
        "node 3 (never caught up) is at the limit, not past it"
    );
    assert_eq!(
        r.handle(Event::Tick { now_ms: 1_200 }),
        vec![Command::ProposeIsr { epoch: EPOCH, from: vec![1, 2, 3], isr: vec![1, 2] }]
    );
    assert_eq!(r.hw, 0, "node 3 still counts until meta commits its removal");
    assert_eq!(r.handle(Event::Tick { now_ms: 1_300 }), vec![], "one proposal at a time");
    assert_eq!(
        r.handle(Event::IsrCommitted { epoch: EPOCH, isr: vec![1, 2] }),
        vec![Command::HighWatermark { hw: 5 }, Command::Ack { req: 1, base: 0, last: 4 }]
    );
    assert_eq!(r.handle(Event::IsrCommitted { epoch: EPOCH + 1, isr: vec![1] }), vec![], "other epochs ignored");
}

#[test]
fn a_caught_up_replica_rejoins_the_isr_and_counts_at_once() {
    let mut r = ShardReplica::new(1, config(2), 0, EpochCache::new());
    r.handle(Event::BecomeLeader { epoch: EPOCH, isr: vec![1, 2], now_ms: 0 });
    r.handle(Event::Produce { req: 1, producer: None });
    r.handle(Event::Appended { req: Some(1), base: 0, last: 2 });
    r.handle(Event::Synced { durable_end: 3 });
    assert_eq!(r.handle(fetch(3, 1, 10)), vec![serve(3, 1, 0)], "behind: not proposed");
    let out = r.handle(fetch(3, 3, 20));
    assert_eq!(out[0], Command::ProposeIsr { epoch: EPOCH, from: vec![1, 2], isr: vec![1, 2, 3] });
    assert_eq!(out.last(), Some(&serve(3, 3, 0)), "node 2 has not confirmed yet");
    let out = r.handle(fetch(2, 3, 30));
    assert!(out.contains(&Command::Ack { req: 1, base: 0, last: 2 }), "{out:?}");
}

#[test]
fn a_follower_truncates_its_divergent_suffix_then_fetches_from_there() {
    // Node 2 led epoch 2 and wrote 10..15 before it was deposed; the new leader's epoch 2
    // ended at 12.
    let mut leader =
        ShardReplica::new(1, config(1), 20, EpochCache::from_entries(vec![(1, 0), (2, 10), (3, 12)]).unwrap());
    leader.handle(Event::BecomeLeader { epoch: 4, isr: vec![1], now_ms: 0 });
    let mut f = ShardReplica::new(2, config(1), 15, EpochCache::from_entries(vec![(1, 0), (2, 10)]).unwrap());
    let out = f.handle(Event::BecomeFollower { epoch: 4, leader: 1 });
    assert_eq!(out, vec![Command::Fetch { leader: 1, epoch: 4, fetch_offset: 15, last_fetched_epoch: Some(2) }]);
    let out = leader.handle(Event::FetchRequest {
        from: 2,
        epoch: 4,
        fetch_offset: 15,
        last_fetched_epoch: Some(2),
        now_ms: 1,
    });
    let reply = FetchReply::Diverging { epoch: 2, end_offset: 12 };
    assert_eq!(out, vec![Command::RefuseFetch { to: 2, epoch: 4, fetch_offset: 15, reply: reply.clone() }]);
    let stale = Event::FetchRefused { epoch: 3, fetch_offset: 15, reply: reply.clone() };
    assert_eq!(f.handle(stale), vec![], "the answer to a fetch of another epoch is dropped");
    let out = f.handle(Event::FetchRefused { epoch: 4, fetch_offset: 15, reply });
    assert_eq!(out, vec![Command::Truncate { end: 12 }]);
    assert_eq!(
        f.handle(Event::Truncated { end: 12 }),
        vec![
            Command::SaveEpochs { entries: vec![(1, 0), (2, 10)] },
            Command::Fetch { leader: 1, epoch: 4, fetch_offset: 12, last_fetched_epoch: Some(2) }
        ]
    );
    let out = leader.handle(Event::FetchRequest {
        from: 2,
        epoch: 4,
        fetch_offset: 12,
        last_fetched_epoch: Some(2),
        now_ms: 2,
    });
    // Node 2 is not in the ISR, so the leader (ISR {1}, min 1) committed its whole log.
    assert_eq!(out.last(), Some(&Command::ServeFetch { to: 2, from_offset: 12, hw: 20, epoch: 4 }));
}

#[test]
fn a_follower_appends_syncs_and_follows_the_leaders_hw_up_to_its_durable_end() {
    let mut f = ShardReplica::new(2, config(1), 0, EpochCache::new());
    f.handle(Event::BecomeFollower { epoch: 1, leader: 1 });
    let out = f.handle(Event::FetchedRecords {
        epoch: 1,
        from_offset: 0,
        count: 5,
        epoch_starts: vec![(1, 0)],
        producers: vec![],
        leader_hw: 8,
    });
    assert_eq!(out, vec![Command::SaveEpochs { entries: vec![(1, 0)] }, Command::Append { req: None, epoch: 1 }]);
    assert_eq!(f.handle(Event::Appended { req: None, base: 0, last: 4 }), vec![Command::Sync]);
    assert_eq!(
        f.handle(Event::Synced { durable_end: 5 }),
        vec![
            Command::HighWatermark { hw: 5 },
            Command::Fetch { leader: 1, epoch: 1, fetch_offset: 5, last_fetched_epoch: Some(1) }
        ]
    );
    let out = f.handle(Event::FetchedRecords {
        epoch: 0,
        from_offset: 5,
        count: 3,
        epoch_starts: vec![],
        producers: vec![],
        leader_hw: 9,
    });
    assert_eq!(out, vec![], "answers to fetches of other epochs are dropped");
}

#[test]
fn stale_epochs_are_fenced_and_deposed_leaders_refuse_their_waiters() {
    let mut r = ShardReplica::new(1, config(1), 0, EpochCache::new());
    r.handle(Event::BecomeLeader { epoch: 3, isr: vec![1, 2], now_ms: 0 });
    let out = r.handle(Event::FetchRequest { from: 2, epoch: 2, fetch_offset: 0, last_fetched_epoch: None, now_ms: 1 });
    let reply = FetchReply::Fenced { leader_epoch: 3 };
    assert_eq!(out, vec![Command::RefuseFetch { to: 2, epoch: 2, fetch_offset: 0, reply }]);
    assert_eq!(
        r.handle(Event::BecomeLeader { epoch: 2, isr: vec![1], now_ms: 2 }),
        vec![],
        "an older epoch is ignored"
    );
    r.handle(Event::Produce { req: 9, producer: None });
    r.handle(Event::Appended { req: Some(9), base: 0, last: 0 });
    let out = r.handle(Event::BecomeFollower { epoch: 4, leader: 2 });
    assert_eq!(
        out[0],
        Command::Reject { req: 9, error: ProduceError::Deposed { epoch: 3 } },
        "appended as leader, then deposed: the outcome is unknown, not a plain refusal"
    );
    assert_eq!(out[1], Command::Sync, "what it appended while leading is synced before it fetches");
    assert_eq!(r.handle(Event::BecomeFollower { epoch: 3, leader: 1 }), vec![], "stale");
}

#[test]
fn a_restarted_replica_never_leads_an_epoch_it_already_wrote_in() {
    let mut r = ShardReplica::new(1, config(1), 7, EpochCache::from_entries(vec![(1, 0), (4, 5)]).unwrap());
    assert_eq!(r.handle(Event::BecomeLeader { epoch: 4, isr: vec![1], now_ms: 0 }), vec![]);
    assert_eq!(r.role, Role::Idle);
    let out = r.handle(Event::BecomeLeader { epoch: 5, isr: vec![1], now_ms: 0 });
    assert_eq!(out[0], Command::SaveEpochs { entries: vec![(1, 0), (4, 5), (5, 7)] });
}

#[test]
fn the_hw_never_goes_down_and_a_new_leader_waits_for_its_followers() {
    let mut r = ShardReplica::new(1, config(2), 10, EpochCache::from_entries(vec![(1, 0)]).unwrap());
    r.hw = 6;
    let out = r.handle(Event::BecomeLeader { epoch: 2, isr: vec![1, 2], now_ms: 0 });
    assert_eq!(out, vec![Command::SaveEpochs { entries: vec![(1, 0), (2, 10)] }]);
    let out =
        r.handle(Event::FetchRequest { from: 2, epoch: 2, fetch_offset: 4, last_fetched_epoch: Some(1), now_ms: 1 });
    assert_eq!(out, vec![Command::ServeFetch { to: 2, from_offset: 4, hw: 6, epoch: 2 }]);
    assert_eq!(r.hw, 6);
    let out =
        r.handle(Event::FetchRequest { from: 2, epoch: 2, fetch_offset: 10, last_fetched_epoch: Some(1), now_ms: 2 });
    assert_eq!(out[0], Command::HighWatermark { hw: 10 }, "records of epoch 1 commit once the ISR has them");
}

fn idem(first_sequence: u32, count: u32) -> Option<ProducerBatch> {
    Some(ProducerBatch { producer_id: 42, producer_epoch: 0, first_sequence, count })
}

#[test]
fn a_retried_request_is_acknowledged_with_the_original_offsets_and_never_appended_twice() {
    let mut r = ShardReplica::new(1, config(1), 0, EpochCache::new());
    r.handle(Event::BecomeLeader { epoch: EPOCH, isr: vec![1], now_ms: 0 });
    let p = idem(0, 3);
    assert_eq!(r.handle(Event::Produce { req: 1, producer: p }), vec![Command::Append { req: Some(1), epoch: EPOCH }]);
    assert_eq!(
        r.handle(Event::Produce { req: 2, producer: p }),
        vec![Command::Reject { req: 2, error: ProduceError::InFlight }],
        "the same request while it is being appended"
    );
    r.handle(Event::Appended { req: Some(1), base: 0, last: 2 });
    assert_eq!(r.handle(Event::Produce { req: 3, producer: p }), vec![], "waits for the original's commit");
    assert_eq!(
        r.handle(Event::Synced { durable_end: 3 }),
        vec![
            Command::HighWatermark { hw: 3 },
            Command::Ack { req: 1, base: 0, last: 2 },
            Command::Ack { req: 3, base: 0, last: 2 },
        ]
    );
    assert_eq!(r.handle(Event::Produce { req: 4, producer: p }), vec![Command::Ack { req: 4, base: 0, last: 2 }]);
    assert_eq!(
        r.handle(Event::Produce { req: 5, producer: idem(5, 1) }),
        vec![Command::Reject { req: 5, error: ProduceError::OutOfOrderSequence { expected: 3 } }]
    );
}

/// A retry of a request written but not yet committed (its last offset is the high
/// watermark) waits for the commit: acknowledging it then would acknowledge what a new leader
/// may not have.
#[test]
fn a_retry_of_a_request_whose_last_record_is_not_committed_waits() {
    let mut r = ShardReplica::new(1, config(1), 0, EpochCache::new());
    r.handle(Event::BecomeLeader { epoch: EPOCH, isr: vec![1, 2], now_ms: 0 });
    let p = idem(0, 3);
    r.handle(Event::Produce { req: 1, producer: p });
    r.handle(Event::Appended { req: Some(1), base: 0, last: 2 });
    r.handle(Event::Synced { durable_end: 3 });
    assert_eq!(r.handle(fetch(2, 2, 1)), vec![Command::HighWatermark { hw: 2 }, serve(2, 2, 2)]);
    assert_eq!(r.handle(Event::Produce { req: 2, producer: p }), vec![], "offset 2 is not committed");
    let out = r.handle(fetch(2, 3, 2));
    assert!(out.contains(&Command::Ack { req: 1, base: 0, last: 2 }), "{out:?}");
    assert!(out.contains(&Command::Ack { req: 2, base: 0, last: 2 }), "{out:?}");
}

#[test]
fn a_new_leader_deduplicates_what_it_fetched_from_the_old_one() {
    let mut f = ShardReplica::new(2, config(1), 0, EpochCache::new());
    f.handle(Event::BecomeFollower { epoch: 1, leader: 1 });
    let producers = vec![(idem(0, 2).unwrap(), 0), (idem(2, 1).unwrap(), 2)];
    f.handle(Event::FetchedRecords {
        epoch: 1,
        from_offset: 0,
        count: 3,
        epoch_starts: vec![(1, 0)],
        producers,
        leader_hw: 0,
    });
    f.handle(Event::Appended { req: None, base: 0, last: 2 });
    f.handle(Event::Synced { durable_end: 3 });
    f.handle(Event::BecomeLeader { epoch: 2, isr: vec![2], now_ms: 0 });
    assert_eq!(f.hw, 3, "a sole in-sync leader commits its log at once");
    // The producer never learnt that its second request (sequence 2) was written.
    assert_eq!(
        f.handle(Event::Produce { req: 1, producer: idem(2, 1) }),
        vec![Command::Ack { req: 1, base: 2, last: 2 }]
    );
    assert_eq!(
        f.handle(Event::Produce { req: 2, producer: idem(3, 2) }),
        vec![Command::Append { req: Some(2), epoch: 2 }]
    );
}

#[test]
fn a_follower_behind_the_leaders_retention_starts_over_at_the_leaders_start() {
    let mut f = ShardReplica::new(2, config(1), 5, EpochCache::from_entries(vec![(1, 0)]).unwrap());
    assert_eq!(
        f.handle(Event::BecomeFollower { epoch: 2, leader: 1 }),
        vec![Command::Fetch { leader: 1, epoch: 2, fetch_offset: 5, last_fetched_epoch: Some(1) }]
    );
    let refused = |start| Event::FetchRefused { epoch: 2, fetch_offset: 5, reply: FetchReply::OutOfRange { start } };
    assert_eq!(f.handle(refused(40)), vec![Command::Reset { start: 40 }]);
    assert_eq!(
        f.handle(Event::Reset { start: 40 }),
        vec![
            Command::SaveEpochs { entries: vec![] },
            Command::Fetch { leader: 1, epoch: 2, fetch_offset: 40, last_fetched_epoch: None }
        ],
        "nothing it held is known any more: it fetches from the start without an epoch"
    );
    assert_eq!((f.log_end, f.durable_end), (40, 40));
}

// The driver runs a shard's commands before its next event, but the state machine does not rely
// on it: an event may land between a command and its result (the model test and other drivers
// interleave them). The fetch loop and the producer table must stay live across that.

#[test]
fn an_append_that_lands_after_the_leader_stepped_down_restarts_its_fetch_loop() {
    let mut r = leader(1);
    r.handle(Event::Produce { req: 7, producer: None });
    // Deposed while request 7 is being appended: the first fetch asks for the old log end.
    assert_eq!(
        r.handle(Event::BecomeFollower { epoch: 2, leader: 2 }),
        vec![Command::Fetch { leader: 2, epoch: 2, fetch_offset: 0, last_fetched_epoch: Some(EPOCH) }]
    );
    assert_eq!(
        r.handle(Event::Appended { req: Some(7), base: 0, last: 4 }),
        vec![Command::Reject { req: 7, error: ProduceError::Deposed { epoch: 2 } }, Command::Sync],
        "appended, outcome unknown; the fetch under way is dropped: the records it landed under are synced first"
    );
    let stale = Event::FetchedRecords {
        epoch: 2,
        from_offset: 0,
        count: 5,
        epoch_starts: vec![],
        producers: vec![],
        leader_hw: 0,
    };
    assert_eq!(r.handle(stale), vec![], "the answer to the dropped fetch");
    assert_eq!(
        r.handle(Event::Synced { durable_end: 5 }),
        vec![Command::Fetch { leader: 2, epoch: 2, fetch_offset: 5, last_fetched_epoch: Some(EPOCH) }],
        "then it fetches from its new log end"
    );
}

#[test]
fn fetched_records_that_land_after_a_new_assignment_restart_the_fetch_loop() {
    let mut f = ShardReplica::new(2, config(1), 0, EpochCache::new());
    f.handle(Event::BecomeFollower { epoch: 1, leader: 1 });
    f.handle(Event::FetchedRecords {
        epoch: 1,
        from_offset: 0,
        count: 3,
        epoch_starts: vec![(1, 0)],
        producers: vec![],
        leader_hw: 0,
    });
    // Meta names another leader while the fetched records are being appended.
    assert_eq!(
        f.handle(Event::BecomeFollower { epoch: 2, leader: 3 }),
        vec![Command::Fetch { leader: 3, epoch: 2, fetch_offset: 0, last_fetched_epoch: Some(1) }]
    );
    assert_eq!(f.handle(Event::Appended { req: None, base: 0, last: 2 }), vec![Command::Sync]);
    assert_eq!(
        f.handle(Event::Synced { durable_end: 3 }),
        vec![Command::Fetch { leader: 3, epoch: 2, fetch_offset: 3, last_fetched_epoch: Some(1) }]
    );
    assert_eq!(f.handle(Event::Tick { now_ms: 10 }), vec![], "one fetch at a time");
}

#[test]
fn a_leader_that_steps_down_and_leads_again_still_deduplicates_what_it_wrote() {
    let mut r = ShardReplica::new(1, config(1), 0, EpochCache::new());
    r.handle(Event::BecomeLeader { epoch: EPOCH, isr: vec![1], now_ms: 0 });
    r.handle(Event::Produce { req: 1, producer: idem(0, 3) });
    r.handle(Event::Appended { req: Some(1), base: 0, last: 2 });
    r.handle(Event::Synced { durable_end: 3 });
    r.handle(Event::BecomeFollower { epoch: 2, leader: 2 });
    r.handle(Event::BecomeLeader { epoch: 3, isr: vec![1], now_ms: 0 });
    assert_eq!(
        r.handle(Event::Produce { req: 2, producer: idem(0, 3) }),
        vec![Command::Ack { req: 2, base: 0, last: 2 }],
        "a retry is answered with the original offsets, not appended twice"
    );
}

#[test]
fn a_request_abandoned_by_a_deposed_leader_is_not_in_flight_when_it_leads_again() {
    let mut r = ShardReplica::new(1, config(1), 0, EpochCache::new());
    r.handle(Event::BecomeLeader { epoch: EPOCH, isr: vec![1], now_ms: 0 });
    r.handle(Event::Produce { req: 1, producer: idem(0, 3) });
    // Deposed before the append ran; it never does.
    r.handle(Event::BecomeFollower { epoch: 2, leader: 2 });
    r.handle(Event::BecomeLeader { epoch: 3, isr: vec![1], now_ms: 0 });
    assert_eq!(
        r.handle(Event::Produce { req: 2, producer: idem(0, 3) }),
        vec![Command::Append { req: Some(2), epoch: 3 }],
        "the retry is appended, not refused as in flight forever"
    );
}

#[test]
fn a_leader_named_again_in_a_newer_epoch_leads_that_epoch() {
    let mut r = leader(1);
    r.handle(Event::Produce { req: 1, producer: None });
    r.handle(Event::Appended { req: Some(1), base: 0, last: 0 });
    let out = r.handle(Event::BecomeLeader { epoch: 2, isr: vec![1, 2, 3], now_ms: 0 });
    assert!(out.contains(&Command::SaveEpochs { entries: vec![(EPOCH, 0), (2, 1)] }), "{out:?}");
    assert!(matches!(r.role, Role::Leader(_)) && r.epoch == 2);
    let fetch2 = Event::FetchRequest { from: 2, epoch: 2, fetch_offset: 0, last_fetched_epoch: None, now_ms: 1 };
    assert_eq!(r.handle(fetch2), vec![Command::ServeFetch { to: 2, from_offset: 0, hw: 0, epoch: 2 }]);
    let reply = FetchReply::Fenced { leader_epoch: 2 };
    assert_eq!(
        r.handle(fetch(3, 0, 2)),
        vec![Command::RefuseFetch { to: 3, epoch: EPOCH, fetch_offset: 0, reply }],
        "followers of the old epoch are fenced"
    );
}

#[test]
fn a_stale_leader_assignment_is_ignored_by_a_follower_of_a_newer_epoch() {
    let mut f = ShardReplica::new(2, config(1), 0, EpochCache::new());
    f.handle(Event::BecomeFollower { epoch: 5, leader: 1 });
    assert_eq!(f.handle(Event::BecomeLeader { epoch: 3, isr: vec![2], now_ms: 0 }), vec![], "delayed, from epoch 3");
    assert_eq!(
        (f.epoch, &f.role),
        (5, &Role::Follower(FollowerState { leader: 1, stage: Stage::Fetching, leader_hw: 0 }))
    );
}

#[test]
fn a_new_leader_gives_its_followers_the_lag_limit_to_catch_up() {
    let mut r = ShardReplica::new(1, config(1), 0, EpochCache::new());
    r.handle(Event::BecomeLeader { epoch: EPOCH, isr: vec![1, 2, 3], now_ms: 50_000 });
    assert_eq!(r.handle(Event::Tick { now_ms: 50_900 }), vec![], "within the lag limit of the election");
    assert_eq!(
        r.handle(Event::Tick { now_ms: 51_100 }),
        vec![Command::ProposeIsr { epoch: EPOCH, from: vec![1, 2, 3], isr: vec![1] }]
    );
}
