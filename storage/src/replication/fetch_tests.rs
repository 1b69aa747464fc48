//! The fetch loop at its edges: answers that arrive late, out-of-range replies at or below the
//! follower's log end, and fetches a leader must refuse or serve by their epoch and offset.

use super::*;

/// A follower (node 2) of epoch 2 whose log holds offsets 0..5 written in epoch 1, fetching
/// from node 1 at 5.
fn fetching_follower() -> ShardReplica {
    let mut f = ShardReplica::new(2, ReplicaConfig::default(), 5, EpochCache::from_entries(vec![(1, 0)]).unwrap());
    assert_eq!(f.handle(Event::BecomeFollower { epoch: 2, leader: 1 }), vec![fetch_at(5)]);
    f
}

fn fetch_at(fetch_offset: u64) -> Command {
    Command::Fetch { leader: 1, epoch: 2, fetch_offset, last_fetched_epoch: Some(1) }
}

#[test]
fn answers_to_an_older_fetch_change_nothing() {
    let mut f = fetching_follower();
    let diverging = FetchReply::Diverging { epoch: 1, end_offset: 3 };
    let stale_epoch = Event::FetchRefused { epoch: 1, fetch_offset: 5, reply: diverging.clone() };
    assert_eq!(f.handle(stale_epoch), vec![], "a refusal of epoch 1's fetch truncates nothing");
    let stale_offset = Event::FetchRefused { epoch: 2, fetch_offset: 4, reply: diverging };
    assert_eq!(f.handle(stale_offset), vec![], "nor one of a fetch at another offset");
    assert_eq!(f.handle(Event::FetchFailed { epoch: 1 }), vec![], "the fetch of epoch 2 is still under way");
    assert_eq!(f.log_end, 5);
    assert_eq!(f.handle(Event::FetchFailed { epoch: 2 }), vec![fetch_at(5)], "its own failure fetches again");
}

#[test]
fn out_of_range_at_or_below_the_log_end_fetches_again_and_keeps_the_log() {
    for start in [3, 5] {
        let mut f = fetching_follower();
        let out = f.handle(Event::FetchRefused { epoch: 2, fetch_offset: 5, reply: FetchReply::OutOfRange { start } });
        assert_eq!(out, vec![fetch_at(5)], "leader's log starts at {start}: nothing here is gone there");
        assert_eq!((f.log_end, f.durable_end), (5, 5));
    }
}

/// A leader (node 1) of epoch 1 holding offsets 0..5, with ISR {1, 2}.
fn leader_of_five() -> ShardReplica {
    let mut r = ShardReplica::new(1, ReplicaConfig::default(), 0, EpochCache::new());
    r.handle(Event::BecomeLeader { epoch: 1, isr: vec![1, 2], now_ms: 0 });
    r.handle(Event::Produce { req: 1, producer: None });
    r.handle(Event::Appended { req: Some(1), base: 0, last: 4 });
    r.handle(Event::Synced { durable_end: 5 });
    r
}

fn fetch_request(epoch: u64, fetch_offset: u64, last_fetched_epoch: Option<u64>) -> Event {
    Event::FetchRequest { from: 2, epoch, fetch_offset, last_fetched_epoch, now_ms: 1 }
}

fn refused(epoch: u64, fetch_offset: u64, reply: FetchReply) -> Vec<Command> {
    vec![Command::RefuseFetch { to: 2, epoch, fetch_offset, reply }]
}

#[test]
fn a_leader_refuses_fetches_of_other_epochs() {
    let mut r = leader_of_five();
    assert_eq!(r.handle(fetch_request(2, 0, None)), refused(2, 0, FetchReply::NotLeader), "a newer epoch");
    assert_eq!(
        r.handle(fetch_request(0, 0, None)),
        refused(0, 0, FetchReply::Fenced { leader_epoch: 1 }),
        "an older epoch"
    );
}

#[test]
fn a_follower_without_epochs_is_served_up_to_the_log_end_and_starts_over_beyond_it() {
    // Such a follower reset its log to start where the leader's did: it holds no records.
    let mut r = leader_of_five();
    let out = r.handle(fetch_request(1, 5, None));
    assert_eq!(out.last(), Some(&Command::ServeFetch { to: 2, from_offset: 5, hw: 5, epoch: 1 }), "{out:?}");
    let beyond = r.handle(fetch_request(1, 7, None));
    assert_eq!(beyond, refused(1, 7, FetchReply::Diverging { epoch: 0, end_offset: 0 }));
}

#[test]
fn an_unclean_truncation_below_the_high_watermark_lowers_it() {
    let mut f = fetching_follower();
    let caught_up = Event::FetchedRecords {
        epoch: 2,
        from_offset: 5,
        count: 0,
        epoch_starts: vec![],
        producers: vec![],
        leader_hw: 5,
    };
    assert_eq!(f.handle(caught_up), vec![Command::HighWatermark { hw: 5 }, fetch_at(5)]);
    let diverging = FetchReply::Diverging { epoch: 1, end_offset: 3 };
    let out = f.handle(Event::FetchRefused { epoch: 2, fetch_offset: 5, reply: diverging });
    assert_eq!(out, vec![Command::Truncate { end: 3 }]);
    f.handle(Event::Truncated { end: 3 });
    assert_eq!((f.hw, f.durable_end, f.log_end), (3, 3, 3));
}
