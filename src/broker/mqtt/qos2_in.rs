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
//! arrives, so a burst of them shares a Raft round.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use keel_rt::{task, time};
use tokio::sync::{mpsc, oneshot};

use super::appender::Appended;
use super::namespace::TOPIC;
use super::record::origin_of;
use super::Core;
use crate::meta::mqtt::{MqttResult, Origin};

/// What a gate decides: `Ok(None)`: append; `Ok(Some(offset))`: already stored there;
/// `Err`: neither (the outcome goes to the client as a failure).
pub type GateResult = Result<Option<u64>, String>;

/// A gate: resolves once the append may go out (or must not).
pub type Gate = Pin<Box<dyn Future<Output = GateResult> + Send>>;

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
    send_by: time::Instant,
    shard: u32,
    key: Bytes,
    value: Bytes,
    reply: oneshot::Sender<Appended>,
}

/// A connection's ordered queue of gated appends. Dropped with the connection; what it holds
/// still goes out (its outcome then unknown to the client, which resends).
pub struct Feeder {
    tx: mpsc::Sender<Feed>,
}

impl Feeder {
    pub fn start(core: Arc<Core>) -> Feeder {
        let (tx, rx) = mpsc::channel(FEED_MAX);
        task::spawn(feed(core, rx));
        Feeder { tx }
    }

    /// Queues `value` for `shard` behind `gate`, to be sent within [`SEND_WITHIN`] from now (the
    /// intent's time); the receiver answers as the appender does.
    pub async fn append(&self, gate: Gate, shard: u32, key: Bytes, value: Bytes) -> oneshot::Receiver<Appended> {
        let (reply, rx) = oneshot::channel();
        let send_by = time::now() + SEND_WITHIN;
        if let Err(mpsc::error::SendError(f)) = self.tx.send(Feed { gate, send_by, shard, key, value, reply }).await {
            let _ = f.reply.send(Err("the connection's feeder stopped".into()));
        }
        rx
    }
}

async fn feed(core: Arc<Core>, mut rx: mpsc::Receiver<Feed>) {
    while let Some(f) = rx.recv().await {
        match f.gate.await {
            Ok(None) => core.appender.append_reply(f.shard, f.key, f.value, f.reply, Some(f.send_by)).await,
            Ok(Some(offset)) => {
                let _ = f.reply.send(Ok(offset));
            }
            Err(e) => {
                let _ = f.reply.send(Err(e));
            }
        }
    }
}

/// The gate of a new message: its intent committed in meta.
pub fn intent_gate(committed: oneshot::Receiver<crate::broker::mqtt::batch::OpResult>) -> Gate {
    Box::pin(async move {
        match committed.await {
            Ok(Ok(MqttResult::Done)) => Ok(None),
            Ok(Ok(other)) => Err(format!("the QoS 2 packet id was not recorded: {other:?}")),
            Ok(Err(e)) => Err(format!("the QoS 2 packet id was not recorded: {e}")),
            Err(_) => Err("the meta batcher stopped".into()),
        }
    })
}

/// The gate of a resend whose first copy may be stored: looks for it.
pub fn lookup_gate(core: Arc<Core>, publisher: String, origin: Origin) -> Gate {
    Box::pin(async move { find_origin(&core, &publisher, &origin).await })
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
pub async fn find_origin(core: &Core, publisher: &str, origin: &Origin) -> GateResult {
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
