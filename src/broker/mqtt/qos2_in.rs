//! A persistent session's inbound QoS 2 messages, stored exactly once across broker failures.
//!
//! The session records the packet id in meta *before* the message is appended, with an origin:
//! a token unique to the session (its generation and a change counter), the shard, and an
//! offset at or below where the append can land (the broker's tailer position, which never
//! passes the HW). The record carries the token (`record.rs`, format version 2). Once the
//! append is acknowledged the id is marked stored (not waited for). A session resumed after its
//! broker died with an id still unconfirmed looks for the client's resend in the shard first
//! ([`find_origin`]) and stores it only if the first copy is not there: the message is stored
//! once whether the broker died before the append, during it, or after it.
//!
//! The intent must be durable before its append goes out, and a client's QoS 2 messages must
//! reach the log in the order it sent them: each connection has a feeder ([`Feeder`]) that takes
//! its gated appends in order, waits for each one's gate (the intent's commit, or the lookup),
//! and only then queues the append. Intents are queued to the meta batcher when the PUBLISH
//! arrives, so a burst of them shares a Raft round; but while a lookup is pending, new
//! messages' intents are recorded only when their turn comes (an append must go out within
//! [`SEND_WITHIN`] of its intent, and a lookup can take most of a minute). A resend found absent
//! gets its intent recorded afresh before it is appended, for the same reason.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use keel_rt::{task, time};
use tokio::sync::{mpsc, oneshot};

use super::appender::Appended;
use super::batch::OpResult;
use super::namespace::TOPIC;
use super::record::origin_of;
use super::Core;
use crate::meta::mqtt::{MqttOp, MqttResult, Origin, Qos2In};

/// What a gate decides, or why its message cannot be stored now.
pub type GateResult = Result<Decision, String>;

/// A gate's decision about its append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Append it; if it is not sent by then, it must not be (answered as failed).
    Append { send_by: time::Instant },
    /// Already stored, at this offset: nothing to append.
    Stored(u64),
}

/// A gate, run when its append reaches the front of the connection's queue: resolves once the
/// append may go out (or must not).
pub type Gate = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = GateResult> + Send>> + Send>;

/// Gated appends a connection may have queued before it waits (backpressure to its reads).
const FEED_MAX: usize = 1_024;
/// Bytes one lookup fetch asks for.
const LOOKUP_FETCH_BYTES: u32 = 1024 * 1024;
/// How long after its intent a gated append may still be sent (past it, it is not: answered
/// as failed). Bounds, with the client's delivery timeout and one call, how long after the
/// intent a first copy may still arrive in the log.
pub const SEND_WITHIN: Duration = Duration::from_secs(10);
/// Pause between lookups while the first copy may still be on its way.
const LOOKUP_PAUSE: Duration = Duration::from_millis(500);

/// One append waiting for its gate.
struct Feed {
    gate: Gate,
    shard: u32,
    key: Bytes,
    value: Bytes,
    reply: oneshot::Sender<Appended>,
}

/// A connection's ordered queue of gated appends. Dropped with the connection; what it holds
/// still goes out (its outcome then unknown to the client, which resends).
pub struct Feeder {
    tx: mpsc::Sender<Feed>,
    /// Lookups queued and not yet decided: while there are any, new messages' intents wait
    /// for their turn instead of being recorded at once (an intent recorded now and sent after
    /// a long lookup would outlive [`SEND_WITHIN`] and fail).
    pub lookups: Arc<AtomicUsize>,
}

impl Feeder {
    pub fn start(core: Arc<Core>) -> Feeder {
        let (tx, rx) = mpsc::channel(FEED_MAX);
        let lookups = Arc::new(AtomicUsize::new(0));
        task::spawn(feed(core, rx));
        Feeder { tx, lookups }
    }

    /// Queues `value` for `shard` behind `gate`; the receiver answers as the appender does.
    pub async fn append(&self, gate: Gate, shard: u32, key: Bytes, value: Bytes) -> oneshot::Receiver<Appended> {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(f)) = self.tx.send(Feed { gate, shard, key, value, reply }).await {
            let _ = f.reply.send(Err("the connection's feeder stopped".into()));
        }
        rx
    }
}

async fn feed(core: Arc<Core>, mut rx: mpsc::Receiver<Feed>) {
    while let Some(f) = rx.recv().await {
        match (f.gate)().await {
            Ok(Decision::Append { send_by }) => {
                core.appender.append_reply(f.shard, f.key, f.value, f.reply, Some(send_by)).await
            }
            Ok(Decision::Stored(offset)) => {
                let _ = f.reply.send(Ok(offset));
            }
            Err(e) => {
                let _ = f.reply.send(Err(e));
            }
        }
    }
}

/// A QoS 2 packet id's intent: what it is recorded under.
#[derive(Clone)]
pub struct Intent {
    pub client_id: String,
    pub generation: u64,
    pub packet_id: u16,
    /// The change's sequence number.
    pub seq: u64,
    pub token: u64,
    pub shard: u32,
}

impl Intent {
    /// Queues the intent (its origin as of now) in the meta batcher: the committed answer to
    /// come, and the time its append must be sent by.
    pub async fn queue(&self, core: &Core) -> Result<(oneshot::Receiver<OpResult>, time::Instant), String> {
        let scan_from = core.tailers.get(self.shard as usize).map_or(0, |t| t.pos());
        let origin = Origin { token: self.token, shard: self.shard, scan_from, at_ms: time::wall_ms() };
        let change = Qos2In { packet_id: self.packet_id, waiting: true, seq: self.seq, origin: Some(origin) };
        let op = MqttOp::Progress {
            client_id: self.client_id.clone(),
            generation: self.generation,
            cursors: Default::default(),
            qos2_out: vec![],
            qos2_in: vec![change],
        };
        let send_by = time::now() + SEND_WITHIN;
        Ok((core.batcher.queue(op).await?, send_by))
    }
}

/// Waits for a queued intent's commit.
async fn committed(rx: oneshot::Receiver<OpResult>, send_by: time::Instant) -> GateResult {
    match rx.await {
        Ok(Ok(MqttResult::Done)) => Ok(Decision::Append { send_by }),
        Ok(Ok(other)) => Err(format!("the QoS 2 packet id was not recorded: {other:?}")),
        Ok(Err(e)) => Err(format!("the QoS 2 packet id was not recorded: {e}")),
        Err(_) => Err("the meta batcher stopped".into()),
    }
}

/// The gate of a new message whose intent is already queued.
pub fn queued_gate(rx: oneshot::Receiver<OpResult>, send_by: time::Instant) -> Gate {
    Box::new(move || Box::pin(committed(rx, send_by)))
}

/// The gate of a new message whose intent is recorded when its turn comes.
pub fn deferred_gate(core: Arc<Core>, intent: Intent) -> Gate {
    Box::new(move || {
        Box::pin(async move {
            let (rx, send_by) = intent.queue(&core).await?;
            committed(rx, send_by).await
        })
    })
}

/// The gate of a resend whose first copy may be stored: looks for it; if it is not there, the
/// intent is recorded afresh (a new origin: the old one's time says nothing about this send).
pub fn lookup_gate(core: Arc<Core>, origin: Origin, intent: Intent, lookups: Arc<AtomicUsize>) -> Gate {
    Box::new(move || {
        Box::pin(async move {
            let found = find_origin(&core, &intent.client_id, &origin).await;
            lookups.fetch_sub(1, Ordering::SeqCst);
            match found? {
                Some(offset) => Ok(Decision::Stored(offset)),
                None => {
                    let (rx, send_by) = intent.queue(&core).await?;
                    committed(rx, send_by).await
                }
            }
        })
    })
}

/// Looks for the record `publisher` appended with `origin`'s token: its offset, or `None` once
/// it is certain no copy can still arrive.
///
/// A copy can still arrive while the broker that took the first one may be sending it: it is
/// sent within [`SEND_WITHIN`] of the intent (`at_ms`, that broker's wall clock) or not at all,
/// and retried for up to the client's delivery timeout plus one call; and while records past
/// the HW (a new leader's uncommitted tail) may still commit. So "absent" is answered only after
/// that time, once the HW has reached the log end seen then. (Brokers' wall clocks are assumed
/// to agree to well within these seconds.)
pub async fn find_origin(core: &Core, publisher: &str, origin: &Origin) -> Result<Option<u64>, String> {
    let config = &core.data.config;
    let in_flight_ms = SEND_WITHIN.as_millis() as u64 + config.delivery_timeout_ms + config.call_timeout_ms;
    let settled_at_ms = origin.at_ms + in_flight_ms;
    let give_up_at_ms = settled_at_ms.max(time::wall_ms()) + config.delivery_timeout_ms;
    let mut pos = origin.scan_from;
    let mut target: Option<u64> = None;
    loop {
        let fetched = core
            .data
            .fetch(TOPIC, origin.shard, pos, LOOKUP_FETCH_BYTES, 0)
            .await
            .map_err(|e| format!("looking for a resent QoS 2 message: {e}"))?;
        pos = pos.max(fetched.start_offset);
        for r in &fetched.records {
            if r.offset < pos {
                continue;
            }
            if origin_of(&r.value) == Some((publisher.as_bytes(), origin.token)) {
                return Ok(Some(r.offset));
            }
            pos = r.offset + u64::from(r.span());
        }
        let hw = fetched.high_watermark;
        if !fetched.records.is_empty() && pos < hw {
            continue; // more to read now
        }
        let now = time::wall_ms();
        if now >= settled_at_ms {
            let end = *target.get_or_insert(fetched.log_end.max(hw));
            if pos >= end {
                return Ok(None);
            }
        }
        if now >= give_up_at_ms {
            return Err(format!("a resent QoS 2 message's first copy is undecided after {} ms", now - origin.at_ms));
        }
        time::sleep(LOOKUP_PAUSE).await;
    }
}
