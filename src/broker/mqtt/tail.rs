//! Tailing the namespace log: one tailer per shard per broker reads committed records as they
//! come (long polls, from memory while the log is hot) and hands each to the local sessions
//! whose subscriptions match; and a reader per session and shard for sessions catching up
//! (resuming from their cursors, or fallen behind), which goes live when it reaches the tailer.
//!
//! The tailer dispatches a whole fetched batch under its shard's dispatch lock and then moves
//! its position; a reader goes live only under that lock, at a batch boundary, so no record
//! falls between the two.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keel_protocols::mqtt::{topic, QoS};
use keel_rt::{task, time};
use tokio::sync::Mutex as AsyncMutex;

use super::namespace::TOPIC;
use super::record::MqttRecord;
use super::router::Target;
use super::session::{Delivery, LocalSession, Mode, Offer, Token};
use super::Core;
use crate::rpc::shard::{OffsetSpec, WireRecord};

/// Bytes one fetch asks for.
const FETCH_BYTES_MAX: u32 = 1024 * 1024;
/// How long a tailer's fetch waits for new records.
const FETCH_WAIT_MS: u32 = 1_000;
/// Pause after a failed fetch.
const RETRY: Duration = Duration::from_millis(200);

/// One shard's tailer on this broker.
pub struct Tailer {
    pub shard: u32,
    /// The next offset it will dispatch.
    pos: AtomicU64,
    dispatch: AsyncMutex<()>,
}

impl Tailer {
    pub fn new(shard: u32, pos: u64) -> Arc<Tailer> {
        Arc::new(Tailer { shard, pos: AtomicU64::new(pos), dispatch: AsyncMutex::new(()) })
    }

    pub fn pos(&self) -> u64 {
        self.pos.load(Ordering::SeqCst)
    }
}

/// Where shard `shard` ends now (its high watermark), retried until known.
pub async fn start_position(core: &Core, shard: u32) -> u64 {
    loop {
        match core.data.list_offsets(TOPIC, shard, OffsetSpec::Latest, 0).await {
            Ok(o) => return o,
            Err(e) => {
                tracing::debug!(shard, error = %e, "MQTT tailer: finding the log's end; will retry")
            }
        }
        time::sleep(RETRY).await;
    }
}

/// The tailer's loop; runs until the broker stops.
pub async fn run(core: Arc<Core>, tailer: Arc<Tailer>) {
    loop {
        let pos = tailer.pos();
        let fetched = match core.data.fetch(TOPIC, tailer.shard, pos, FETCH_BYTES_MAX, FETCH_WAIT_MS).await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(shard = tailer.shard, error = %e, "MQTT tailer fetch failed; will retry");
                time::sleep(RETRY).await;
                continue;
            }
        };
        let _batch = tailer.dispatch.lock().await;
        let mut next = pos.max(fetched.start_offset.min(fetched.high_watermark));
        for r in &fetched.records {
            if r.offset >= next {
                dispatch(&core, tailer.shard, r);
                next = r.offset + u64::from(r.span());
            }
        }
        tailer.pos.store(next, Ordering::SeqCst);
    }
}

/// Decodes a wire record of the namespace log (`None`: not an MQTT record; counted).
pub fn decode(core: &Core, r: &WireRecord) -> Option<Arc<MqttRecord>> {
    let key = r.key.clone().unwrap_or_default();
    match MqttRecord::decode(&key, r.value.clone()) {
        Ok(m) => Some(Arc::new(m)),
        Err(e) => {
            core.stats.bad_records.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(offset = r.offset, error = %e, "skipping a record of the MQTT log");
            None
        }
    }
}

fn delivery(record: &Arc<MqttRecord>, timestamp_ms: u64, token: Token, t: &Target) -> Delivery {
    Delivery {
        record: record.clone(),
        timestamp_ms,
        token,
        qos: t.qos,
        retain: t.retain_as_published && record.retain,
        subscription_ids: t.subscription_ids.clone(),
    }
}

/// Hands one record to the local sessions it is for.
fn dispatch(core: &Arc<Core>, shard: u32, r: &WireRecord) {
    let Some(record) = decode(core, r) else { return };
    let token = Token { shard, offset: r.offset };
    let (targets, shared) = core.router().targets(&record);
    for t in &targets {
        if t.session.offer(delivery(&record, r.timestamp_ms, token, t)) == Offer::Overflow {
            core.stats.overflows.fetch_add(1, Ordering::Relaxed);
            task::spawn(catch_up(core.clone(), t.session.clone(), shard));
        }
    }
    for group in shared {
        if !core.delivers_shared(&group.key, token) {
            continue;
        }
        // From a member chosen by offset, the first one with room.
        let n = group.members.len();
        let first = (r.offset as usize) % n.max(1);
        let taken = (0..n).any(|i| {
            let t = &group.members[(first + i) % n];
            t.session.offer_shared(delivery(&record, r.timestamp_ms, token, t))
        });
        if !taken {
            core.stats.shared_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A session's reader of one shard: delivers what matches its subscriptions from where it is,
/// at its client's pace, until it reaches the tailer and goes live.
pub async fn catch_up(core: Arc<Core>, session: Arc<LocalSession>, shard: u32) {
    let Some(tailer) = core.tailers.get(shard as usize).cloned() else { return };
    loop {
        let next = match session.state().shards.get(shard as usize) {
            Some(c) if c.mode == Mode::CatchingUp => c.next,
            _ => return,
        };
        if next >= tailer.pos() {
            let _batch = tailer.dispatch.lock().await;
            if go_live(&session, shard, tailer.pos()) {
                return;
            }
            continue;
        }
        let fetched = match core.data.fetch(TOPIC, shard, next, FETCH_BYTES_MAX, 0).await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(shard, error = %e, "MQTT catch-up fetch failed; will retry");
                time::sleep(RETRY).await;
                continue;
            }
        };
        if fetched.records.is_empty() {
            // Retention dropped what the session had not read: it resumes at the log's start.
            if let Some(c) = session.state().shards.get_mut(shard as usize) {
                c.next = c.next.max(fetched.start_offset.min(fetched.high_watermark));
            }
            time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        for r in &fetched.records {
            if !deliver_caught_up(&core, &session, shard, r).await {
                return;
            }
        }
    }
}

/// One record for a catching-up session; `false` when the session is gone or went live.
async fn deliver_caught_up(core: &Core, session: &LocalSession, shard: u32, r: &WireRecord) -> bool {
    let Some(record) = decode(core, r) else {
        return advance(session, shard, r.offset);
    };
    let target = {
        let mut st = session.state();
        let Some(c) = st.shards.get_mut(shard as usize) else { return false };
        if c.mode != Mode::CatchingUp {
            return false;
        }
        if !c.takes(r.offset, Mode::CatchingUp) {
            c.next = c.next.max(r.offset + u64::from(r.span()));
            return true;
        }
        match_own(&st.subscriptions, &record, &session.client_id)
    };
    let Some((qos, rap, ids)) = target else {
        return advance(session, shard, r.offset);
    };
    let d = Delivery {
        timestamp_ms: r.timestamp_ms,
        token: Token { shard, offset: r.offset },
        qos,
        retain: rap && record.retain,
        subscription_ids: ids,
        record,
    };
    session.push(d).await
}

/// Makes the session live on `shard` if its reader reached `tail`; whether it did.
fn go_live(session: &LocalSession, shard: u32, tail: u64) -> bool {
    let mut st = session.state();
    match st.shards.get_mut(shard as usize) {
        Some(c) if c.mode == Mode::CatchingUp && c.next >= tail => {
            c.mode = Mode::Live;
            true
        }
        Some(c) => c.mode != Mode::CatchingUp,
        None => true,
    }
}

fn advance(session: &LocalSession, shard: u32, offset: u64) -> bool {
    let mut st = session.state();
    let Some(c) = st.shards.get_mut(shard as usize) else { return false };
    c.next = c.next.max(offset + 1);
    c.mode == Mode::CatchingUp
}

/// The session's own subscriptions matching `record`: (QoS, retain as published, ids).
fn match_own(
    subs: &std::collections::BTreeMap<String, super::session::SubEntry>,
    record: &MqttRecord,
    client_id: &str,
) -> Option<(QoS, bool, Vec<u32>)> {
    let mut out: Option<(QoS, bool, Vec<u32>)> = None;
    for (filter, e) in subs {
        if !topic::matches(filter, &record.topic) || (e.no_local && record.publisher == client_id) {
            continue;
        }
        let t = out.get_or_insert((QoS::AtMostOnce, false, Vec::new()));
        t.0 = t.0.max(e.qos);
        t.1 |= e.retain_as_published;
        t.2.extend(e.subscription_id);
    }
    out.map(|(q, rap, ids)| (q.min(record.qos), rap, ids))
}
