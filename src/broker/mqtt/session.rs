//! A connected client's delivery endpoint on this broker ([`LocalSession`]): its subscriptions,
//! the channel into its connection, and, per namespace shard, how far delivery has come
//! ([`ShardCursor`]), from which the session's committed cursors are computed.
//!
//! Per shard a session is either *live* (the broker's tailer of that shard hands it matching
//! records as they are committed) or *catching up* (a reader of its own reads the shard from
//! where the session is, at the pace the client takes them, until it reaches the tailer and
//! goes live). A persistent session resuming from its cursors catches up; a live session whose
//! client falls behind (its queue full) drops to catching up from the first record it could not
//! take, so nothing is lost and no broker memory grows with a slow client.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use keel_protocols::mqtt::QoS;

use super::record::MqttRecord;
use crate::broker::queue::Queue;

/// Where a delivered message is in the namespace log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token {
    pub shard: u32,
    pub offset: u64,
}

/// A subscription's options, as the session keeps them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubEntry {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub subscription_id: Option<u32>,
}

/// A message on its way to a client: the record, and what the matching subscriptions decided.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub record: Arc<MqttRecord>,
    /// When it was published (wall ms), for message expiry.
    pub timestamp_ms: u64,
    pub token: Token,
    /// min(published QoS, the highest QoS of the matching subscriptions).
    pub qos: QoS,
    pub retain: bool,
    pub subscription_ids: Vec<u32>,
}

impl Delivery {
    /// Bytes it holds in a queue (roughly).
    pub fn queued_bytes(&self) -> usize {
        self.record.payload.len() + self.record.topic.len() + 64
    }
}

/// How a session takes a shard's records now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// From the shard's tailer.
    Live,
    /// From a reader of its own, which goes live when it reaches the tailer.
    CatchingUp,
    /// Not at all (the session is closing).
    Stopped,
}

/// A session's progress in one shard.
#[derive(Clone, Debug)]
pub struct ShardCursor {
    pub mode: Mode,
    /// Records below this have been considered for the session (by its reader, or, while live,
    /// up to where the tailer was when it went live).
    pub next: u64,
    /// Offsets handed to the connection whose delivery is not done.
    pub handed: BTreeSet<u64>,
    /// Offsets in flight from before a resume (the session machine resends them itself): the
    /// tailer and readers skip them.
    pub exclude: BTreeSet<u64>,
}

impl ShardCursor {
    pub fn live_at(next: u64) -> Self {
        ShardCursor { mode: Mode::Live, next, handed: BTreeSet::new(), exclude: BTreeSet::new() }
    }

    /// The offset below which everything is done, given where the tailer is (`tail`).
    pub fn committed(&self, tail: u64) -> u64 {
        let considered = match self.mode {
            Mode::Live => tail.max(self.next),
            Mode::CatchingUp | Mode::Stopped => self.next,
        };
        self.handed.first().map_or(considered, |h| considered.min(*h))
    }

    /// Whether a record at `offset` is for this session now, by `who` (the tailer while live,
    /// the session's reader while catching up); skips (and forgets) an excluded one.
    pub fn takes(&mut self, offset: u64, mode: Mode) -> bool {
        if self.mode != mode || offset < self.next {
            return false;
        }
        !self.exclude.remove(&offset)
    }
}

/// What the session's subscriptions and cursors are, under one lock.
#[derive(Debug, Default)]
pub struct SessionState {
    pub shards: Vec<ShardCursor>,
    /// Filter → options (not shared ones: those are the router's).
    pub subscriptions: BTreeMap<String, SubEntry>,
    /// The cursors last committed to meta.
    pub committed: BTreeMap<u32, u64>,
}

/// A connected client's delivery endpoint.
pub struct LocalSession {
    /// Unique on this broker.
    pub key: u64,
    pub client_id: String,
    /// The session's generation in meta (fences its changes).
    pub generation: u64,
    /// Whether it outlives its connection (its cursors are committed to meta).
    pub persistent: bool,
    /// Messages on their way to the connection.
    pub queue: Queue<Delivery>,
    queued_bytes: AtomicUsize,
    queued_bytes_max: usize,
    state: Mutex<SessionState>,
}

/// What offering a record to a live session came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Taken,
    /// Not for it now (catching up, stopped, already considered).
    Skipped,
    /// Its queue is full: it now catches up from this record; start its reader.
    Overflow,
}

impl LocalSession {
    /// A session whose shards start live at `tails` (the tailers' positions); the receiver is
    /// for its connection.
    pub fn new(
        key: u64,
        client_id: String,
        generation: u64,
        persistent: bool,
        tails: &[u64],
        queued_bytes_max: usize,
        channel_max: usize,
    ) -> Arc<LocalSession> {
        let state =
            SessionState { shards: tails.iter().map(|t| ShardCursor::live_at(*t)).collect(), ..Default::default() };
        let s = LocalSession {
            key,
            client_id,
            generation,
            persistent,
            queue: Queue::bounded(channel_max.max(1)),
            queued_bytes: AtomicUsize::new(0),
            queued_bytes_max,
            state: Mutex::new(state),
        };
        Arc::new(s)
    }

    pub fn state(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tailer offers a record to this (live) session.
    pub fn offer(&self, d: Delivery) -> Offer {
        let mut st = self.state();
        let Some(c) = st.shards.get_mut(d.token.shard as usize) else { return Offer::Skipped };
        if !c.takes(d.token.offset, Mode::Live) {
            return Offer::Skipped;
        }
        let size = d.queued_bytes();
        let offset = d.token.offset;
        let fits = self.queued_bytes.load(Ordering::Relaxed) + size <= self.queued_bytes_max;
        if fits && self.queue.try_push(d).is_ok() {
            self.queued_bytes.fetch_add(size, Ordering::Relaxed);
            c.handed.insert(offset);
            c.next = offset + 1;
            return Offer::Taken;
        }
        c.mode = Mode::CatchingUp;
        c.next = offset;
        Offer::Overflow
    }

    /// A shared subscription's message for this member: taken if its queue has room. Shared
    /// deliveries skip the shard's mode (which member gets a message is the tailer's choice).
    pub fn offer_shared(&self, d: Delivery) -> bool {
        let size = d.queued_bytes();
        let (shard, offset) = (d.token.shard as usize, d.token.offset);
        let mut st = self.state();
        if self.queued_bytes.load(Ordering::Relaxed) + size > self.queued_bytes_max || st.shards.len() <= shard {
            return false;
        }
        if self.queue.try_push(d).is_err() {
            return false;
        }
        self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        st.shards[shard].handed.insert(offset);
        true
    }

    /// The session's reader hands over a record (waits for room in the channel). `false`: the
    /// connection is gone.
    pub async fn push(&self, d: Delivery) -> bool {
        let (shard, offset, size) = (d.token.shard as usize, d.token.offset, d.queued_bytes());
        {
            let mut st = self.state();
            let Some(c) = st.shards.get_mut(shard) else { return false };
            c.handed.insert(offset);
            c.next = offset + 1;
        }
        self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        self.queue.push(d).await
    }

    /// The connection took `d` off the channel.
    pub fn received(&self, d: &Delivery) {
        self.queued_bytes.fetch_sub(d.queued_bytes(), Ordering::Relaxed);
    }

    /// The session is done with the message at `token` (sent at QoS 0, acknowledged, dropped).
    pub fn done(&self, token: Token) {
        if let Some(c) = self.state().shards.get_mut(token.shard as usize) {
            c.handed.remove(&token.offset);
        }
    }

    /// The cursors to commit, given the tailers' positions; only those that moved since the
    /// last commit, which they become.
    pub fn cursors_to_commit(&self, tails: &[u64]) -> BTreeMap<u32, u64> {
        let mut st = self.state();
        let now: Vec<(u32, u64)> = st
            .shards
            .iter()
            .enumerate()
            .map(|(i, c)| (i as u32, c.committed(tails.get(i).copied().unwrap_or(0))))
            .collect();
        let mut moved = BTreeMap::new();
        for (shard, offset) in now {
            if st.committed.get(&shard) != Some(&offset) {
                st.committed.insert(shard, offset);
                moved.insert(shard, offset);
            }
        }
        moved
    }

    /// Every shard's committed cursor now (for a takeover's final state).
    pub fn cursors(&self, tails: &[u64]) -> BTreeMap<u32, u64> {
        let st = self.state();
        st.shards.iter().enumerate().map(|(i, c)| (i as u32, c.committed(tails.get(i).copied().unwrap_or(0)))).collect()
    }

    /// Stops every shard (the session is closing: the tailer and readers leave it alone).
    pub fn stop(&self) {
        for c in self.state().shards.iter_mut() {
            c.mode = Mode::Stopped;
        }
        self.queue.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use keel_protocols::mqtt::PublishProperties;

    fn delivery(shard: u32, offset: u64, payload: usize) -> Delivery {
        let record = MqttRecord {
            topic: "t".into(),
            qos: QoS::AtLeastOnce,
            retain: false,
            publisher: "p".into(),
            properties: PublishProperties::default(),
            payload: Bytes::from(vec![0u8; payload]),
        };
        Delivery {
            record: Arc::new(record),
            timestamp_ms: 0,
            token: Token { shard, offset },
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: vec![],
        }
    }

    #[test]
    fn live_records_are_taken_then_done_and_the_cursor_follows() {
        let s = LocalSession::new(1, "c".into(), 1, true, &[10, 0], 1 << 20, 16);
        assert_eq!(s.offer(delivery(0, 9, 1)), Offer::Skipped); // before it went live
        assert_eq!(s.offer(delivery(0, 12, 1)), Offer::Taken);
        assert_eq!(s.offer(delivery(0, 15, 1)), Offer::Taken);
        // The tailer passed 20: everything before the first undone delivery is committed.
        assert_eq!(s.cursors_to_commit(&[20, 0]), [(0, 12), (1, 0)].into());
        let d = s.queue.try_pop().unwrap();
        s.received(&d);
        s.done(d.token);
        assert_eq!(s.cursors_to_commit(&[20, 0]), [(0, 15)].into());
        s.done(Token { shard: 0, offset: 15 });
        assert_eq!(s.cursors_to_commit(&[20, 0]), [(0, 20)].into());
        assert!(s.cursors_to_commit(&[20, 0]).is_empty(), "nothing moved");
    }

    #[test]
    fn a_full_queue_drops_the_shard_to_catching_up_from_the_refused_record() {
        let s = LocalSession::new(1, "c".into(), 1, true, &[0], 400, 16);
        assert_eq!(s.offer(delivery(0, 0, 100)), Offer::Taken);
        assert_eq!(s.offer(delivery(0, 1, 100)), Offer::Taken);
        assert_eq!(s.offer(delivery(0, 2, 100)), Offer::Overflow);
        assert_eq!(s.offer(delivery(0, 3, 1)), Offer::Skipped, "the tailer leaves it to its reader");
        let st = s.state();
        assert_eq!((st.shards[0].mode, st.shards[0].next), (Mode::CatchingUp, 2));
        // Committed: below the first undone handed record, whatever the tailer did.
        assert_eq!(st.shards[0].committed(1_000), 0);
    }

    #[test]
    fn excluded_offsets_are_skipped_once() {
        let mut c = ShardCursor::live_at(5);
        c.exclude.insert(7);
        assert!(c.takes(6, Mode::Live));
        assert!(!c.takes(7, Mode::Live));
        assert!(c.takes(7, Mode::Live), "only once");
        assert!(!c.takes(8, Mode::CatchingUp), "not the reader's while live");
    }
}
