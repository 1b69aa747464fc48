//! Incremental fetch sessions (KIP-227), as a state machine without I/O: a Fetch request's
//! session fields in, a [`Plan`] out (which partitions to read, under which session id, and
//! whether the answer is incremental); the partitions' answers in, which of them the response
//! carries out.
//!
//! Why: a consumer of many partitions would otherwise send and get every partition in every
//! Fetch. With a session the broker remembers the partitions and their fetch offsets; the
//! client then sends only what changed (new offsets, added partitions, `forgotten_topics_data`)
//! and the broker answers only partitions that have records, an error, or a changed high
//! watermark or log start offset — as Kafka's `FetchSession` does.
//!
//! The epochs of a request:
//! - `-1` (final): no session; a session id given is closed. A sessionless full fetch.
//! - `0` (initial): a full fetch that opens a new session (closing the one named, if any).
//!   With no room in the cache (and nothing to evict), the answer's session id is 0: sessionless.
//! - `n > 0`: an incremental fetch in session `session_id`, whose next epoch must be `n`
//!   (else INVALID_FETCH_SESSION_EPOCH; an unknown id is FETCH_SESSION_ID_NOT_FOUND).
//!
//! The cache holds at most `sessions_max` sessions (`[kafka] fetch_sessions_max`); opening one
//! more evicts the least recently used. Its clock counts uses, so eviction needs no time.

use std::collections::{BTreeMap, HashMap};

use keel_protocols::kafka::kafka_protocol::ResponseError;

/// A request's epoch that closes the session (or asks for none).
pub const FINAL_EPOCH: i32 = -1;
/// A request's epoch that opens a new session.
pub const INITIAL_EPOCH: i32 = 0;

/// A partition: its topic's name and its index.
pub type PartitionKey = (String, i32);

/// What the client asks of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub fetch_offset: i64,
    pub bytes_max: i32,
    /// The leader epoch the client believes current (-1: not checked).
    pub current_leader_epoch: i32,
}

/// The session fields of a Fetch request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionRequest {
    pub session_id: i32,
    pub epoch: i32,
    /// The partitions the request lists, in its order.
    pub partitions: Vec<(PartitionKey, Wanted)>,
    /// The partitions it asks to drop from the session.
    pub forgotten: Vec<PartitionKey>,
}

/// What a partition answered, as far as the session cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    pub has_records: bool,
    pub error: bool,
    pub high_watermark: i64,
    pub start_offset: i64,
}

/// How to serve a Fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The session id the response carries (0: none).
    pub session_id: i32,
    /// The partitions to read, in the order the response lists them.
    pub partitions: Vec<(PartitionKey, Wanted)>,
    /// An incremental answer leaves out the partitions that did not change.
    pub incremental: bool,
}

/// What a partition of a session remembers.
#[derive(Clone, Copy, Debug)]
struct Cached {
    wanted: Wanted,
    /// The last values answered (-1 after an error, so that the partition is answered again).
    high_watermark: i64,
    start_offset: i64,
}

#[derive(Debug)]
struct Session {
    /// The epoch the next incremental request must carry.
    next_epoch: i32,
    partitions: BTreeMap<PartitionKey, Cached>,
    /// When it was last used, on the cache's clock.
    used: u64,
}

/// The fetch sessions of one broker.
#[derive(Debug)]
pub struct SessionCache {
    sessions: HashMap<i32, Session>,
    /// Session ids by last use, oldest first.
    by_use: BTreeMap<u64, i32>,
    clock: u64,
    sessions_max: usize,
}

/// The epoch after `e`: 1 after `i32::MAX` (0 and -1 are reserved).
fn next_epoch(e: i32) -> i32 {
    if e == i32::MAX {
        1
    } else {
        e + 1
    }
}

impl SessionCache {
    pub fn new(sessions_max: usize) -> Self {
        SessionCache { sessions: HashMap::new(), by_use: BTreeMap::new(), clock: 0, sessions_max }
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Starts serving a Fetch. `random` picks the id of a session opened now (any value: it is
    /// mapped to a positive id not in use).
    pub fn begin(&mut self, req: SessionRequest, random: u64) -> Result<Plan, ResponseError> {
        let full = req.epoch == FINAL_EPOCH || req.epoch == INITIAL_EPOCH;
        if full {
            if req.session_id != 0 {
                self.remove(req.session_id);
            }
            if !req.forgotten.is_empty() {
                return Err(ResponseError::InvalidRequest);
            }
            let session_id = match req.epoch {
                INITIAL_EPOCH => self.open(&req.partitions, random),
                _ => 0,
            };
            return Ok(Plan { session_id, partitions: req.partitions, incremental: false });
        }
        let Some(s) = self.sessions.get_mut(&req.session_id) else {
            return Err(ResponseError::FetchSessionIdNotFound);
        };
        if s.next_epoch != req.epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        s.next_epoch = next_epoch(s.next_epoch);
        for key in &req.forgotten {
            s.partitions.remove(key);
        }
        for (key, wanted) in req.partitions {
            match s.partitions.get_mut(&key) {
                Some(c) => c.wanted = wanted,
                None => {
                    s.partitions.insert(key, Cached { wanted, high_watermark: -1, start_offset: -1 });
                }
            }
        }
        let partitions = s.partitions.iter().map(|(k, c)| (k.clone(), c.wanted)).collect();
        self.touch(req.session_id);
        Ok(Plan { session_id: req.session_id, partitions, incremental: true })
    }

    /// Which of the plan's partitions the response carries, given what each answered (in the
    /// plan's order); remembers the answers in the session. A full answer carries them all; an
    /// incremental one those with records or an error, or whose high watermark or log start
    /// offset changed since last answered.
    pub fn finish(&mut self, plan: &Plan, answers: &[Answered]) -> Vec<bool> {
        let session = self.sessions.get_mut(&plan.session_id).filter(|_| plan.session_id != 0);
        let Some(s) = session else { return vec![true; answers.len()] };
        plan.partitions
            .iter()
            .zip(answers)
            .map(|((key, _), a)| {
                let Some(c) = s.partitions.get_mut(key) else { return true };
                let changed = a.high_watermark != c.high_watermark || a.start_offset != c.start_offset;
                (c.high_watermark, c.start_offset) =
                    if a.error { (-1, -1) } else { (a.high_watermark, a.start_offset) };
                !plan.incremental || a.has_records || a.error || changed
            })
            .collect()
    }

    /// Opens a session over `partitions`, evicting the least recently used one if the cache is
    /// full; its id, or 0 when sessions are off (`sessions_max` 0).
    fn open(&mut self, partitions: &[(PartitionKey, Wanted)], random: u64) -> i32 {
        if self.sessions_max == 0 {
            return 0;
        }
        while self.sessions.len() >= self.sessions_max {
            let Some((_, oldest)) = self.by_use.iter().next().map(|(u, id)| (*u, *id)) else { break };
            self.remove(oldest);
        }
        let mut id = (random % i32::MAX as u64) as i32 + 1; // 1..=i32::MAX
        while self.sessions.contains_key(&id) {
            id = if id == i32::MAX { 1 } else { id + 1 };
        }
        let partitions = partitions
            .iter()
            .map(|(k, w)| (k.clone(), Cached { wanted: *w, high_watermark: -1, start_offset: -1 }))
            .collect();
        self.sessions.insert(id, Session { next_epoch: 1, partitions, used: 0 });
        self.touch(id);
        id
    }

    fn touch(&mut self, id: i32) {
        self.clock += 1;
        if let Some(s) = self.sessions.get_mut(&id) {
            self.by_use.remove(&s.used);
            s.used = self.clock;
            self.by_use.insert(s.used, id);
        }
    }

    fn remove(&mut self, id: i32) {
        if let Some(s) = self.sessions.remove(&id) {
            self.by_use.remove(&s.used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &str, p: i32) -> PartitionKey {
        (t.to_string(), p)
    }

    fn want(offset: i64) -> Wanted {
        Wanted { fetch_offset: offset, bytes_max: 1024, current_leader_epoch: -1 }
    }

    fn req(session_id: i32, epoch: i32, parts: &[(&str, i32, i64)], forgotten: &[(&str, i32)]) -> SessionRequest {
        SessionRequest {
            session_id,
            epoch,
            partitions: parts.iter().map(|(t, p, o)| (key(t, *p), want(*o))).collect(),
            forgotten: forgotten.iter().map(|(t, p)| key(t, *p)).collect(),
        }
    }

    fn quiet(hw: i64) -> Answered {
        Answered { has_records: false, error: false, high_watermark: hw, start_offset: 0 }
    }

    fn offsets(plan: &Plan) -> Vec<(String, i32, i64)> {
        plan.partitions.iter().map(|((t, p), w)| (t.clone(), *p, w.fetch_offset)).collect()
    }

    #[test]
    fn a_full_fetch_at_epoch_0_opens_a_session_and_epoch_minus_1_stays_sessionless() {
        let mut c = SessionCache::new(10);
        let plan = c.begin(req(0, FINAL_EPOCH, &[("a", 0, 5)], &[]), 7).unwrap();
        assert_eq!((plan.session_id, plan.incremental), (0, false));
        assert!(c.is_empty());
        let plan = c.begin(req(0, INITIAL_EPOCH, &[("a", 0, 5), ("a", 1, 0)], &[]), 7).unwrap();
        assert_eq!((plan.session_id, plan.incremental), (8, false));
        assert_eq!(c.finish(&plan, &[quiet(5), quiet(0)]), [true, true], "a full answer carries all");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn an_incremental_fetch_reads_the_whole_session_and_answers_only_what_changed() {
        let mut c = SessionCache::new(10);
        let plan = c.begin(req(0, 0, &[("a", 0, 5), ("a", 1, 0), ("b", 0, 3)], &[]), 41).unwrap();
        let id = plan.session_id;
        c.finish(&plan, &[quiet(5), quiet(0), quiet(3)]);
        // The client moved a/1 on, dropped b/0 and added c/2.
        let plan = c.begin(req(id, 1, &[("a", 1, 2), ("c", 2, 0)], &[("b", 0)]), 0).unwrap();
        assert!(plan.incremental);
        assert_eq!(offsets(&plan), [("a".into(), 0, 5), ("a".into(), 1, 2), ("c".into(), 2, 0)]);
        let got = c.finish(
            &plan,
            &[quiet(5), Answered { has_records: true, ..quiet(4) }, Answered { error: true, ..quiet(-1) }],
        );
        assert_eq!(got, [false, true, true], "unchanged a/0 left out; records and errors answered");
        // Next round: a/0's high watermark moved; c/2 answered again after its error.
        let plan = c.begin(req(id, 2, &[], &[]), 0).unwrap();
        assert_eq!(c.finish(&plan, &[quiet(6), quiet(4), quiet(0)]), [true, false, true]);
        let plan = c.begin(req(id, 3, &[], &[]), 0).unwrap();
        assert_eq!(c.finish(&plan, &[quiet(6), quiet(4), quiet(0)]), [false, false, false]);
        let moved_start = Answered { start_offset: 2, ..quiet(6) };
        let plan = c.begin(req(id, 4, &[], &[]), 0).unwrap();
        assert_eq!(c.finish(&plan, &[moved_start, quiet(4), quiet(0)]), [true, false, false]);
    }

    #[test]
    fn wrong_epochs_and_unknown_ids_are_refused_without_harming_the_session() {
        let mut c = SessionCache::new(10);
        let id = c.begin(req(0, 0, &[("a", 0, 0)], &[]), 1).unwrap().session_id;
        assert_eq!(c.begin(req(id, 2, &[], &[]), 0), Err(ResponseError::InvalidFetchSessionEpoch));
        assert_eq!(c.begin(req(id + 1, 1, &[], &[]), 0), Err(ResponseError::FetchSessionIdNotFound));
        assert_eq!(c.begin(req(0, 1, &[], &[]), 0), Err(ResponseError::FetchSessionIdNotFound));
        assert!(c.begin(req(id, 1, &[], &[]), 0).is_ok(), "the right epoch still works");
        assert_eq!(c.begin(req(id, 1, &[], &[]), 0), Err(ResponseError::InvalidFetchSessionEpoch), "used once");
        assert!(c.begin(req(id, 2, &[], &[]), 0).is_ok());
    }

    #[test]
    fn closing_and_reopening() {
        let mut c = SessionCache::new(10);
        let id = c.begin(req(0, 0, &[("a", 0, 0)], &[]), 1).unwrap().session_id;
        let plan = c.begin(req(id, FINAL_EPOCH, &[("a", 0, 0)], &[]), 0).unwrap();
        assert_eq!((plan.session_id, c.len()), (0, 0), "epoch -1 closes it");
        assert_eq!(c.begin(req(id, 1, &[], &[]), 0), Err(ResponseError::FetchSessionIdNotFound));
        let id = c.begin(req(0, 0, &[("a", 0, 0)], &[]), 1).unwrap().session_id;
        let plan = c.begin(req(id, INITIAL_EPOCH, &[("b", 0, 0)], &[]), 1).unwrap();
        assert_eq!(c.len(), 1, "epoch 0 with an id closes that one and opens another");
        assert_eq!(offsets(&plan), [("b".into(), 0, 0)]);
        assert_eq!(c.begin(req(0, 0, &[], &[("a", 0)]), 0), Err(ResponseError::InvalidRequest), "full: no forgets");
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_session() {
        let mut c = SessionCache::new(2);
        let a = c.begin(req(0, 0, &[], &[]), 10).unwrap().session_id;
        let b = c.begin(req(0, 0, &[], &[]), 20).unwrap().session_id;
        c.begin(req(a, 1, &[], &[]), 0).unwrap(); // b is now the least recently used
        let d = c.begin(req(0, 0, &[], &[]), 10).unwrap().session_id;
        assert_ne!(d, a, "ids in use are not handed out again");
        assert_eq!(c.len(), 2);
        assert_eq!(c.begin(req(b, 1, &[], &[]), 0), Err(ResponseError::FetchSessionIdNotFound));
        assert!(c.begin(req(a, 2, &[], &[]), 0).is_ok());
        let mut off = SessionCache::new(0);
        assert_eq!(off.begin(req(0, 0, &[("a", 0, 0)], &[]), 1).unwrap().session_id, 0, "no sessions: sessionless");
    }

    #[test]
    fn ids_are_positive_whatever_the_randomness() {
        let mut c = SessionCache::new(10);
        for r in [0, u64::MAX, i32::MAX as u64 - 1, i32::MAX as u64, 1 << 40] {
            let id = c.begin(req(0, 0, &[], &[]), r).unwrap().session_id;
            assert!(id > 0, "{r} gave {id}");
        }
        assert_eq!(next_epoch(i32::MAX), 1);
    }

    #[test]
    fn an_evicted_session_answers_everything() {
        let mut c = SessionCache::new(1);
        let plan = c.begin(req(0, 0, &[("a", 0, 0)], &[]), 1).unwrap();
        let plan2 = c.begin(req(plan.session_id, 1, &[], &[]), 0).unwrap();
        c.begin(req(0, 0, &[], &[]), 5).unwrap(); // evicts it while plan2 is being read
        assert_eq!(c.finish(&plan2, &[quiet(0)]), [true]);
    }
}
