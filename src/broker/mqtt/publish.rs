//! A client's PUBLISH: checked against the ACL, appended to its topic's shard of the namespace
//! log, and, for QoS 1 and 2, acknowledged only once the append is synced on the shard's
//! in-sync replicas (and a retained message recorded in meta). A persistent session's QoS 2
//! packet id is recorded before its append, so that a resumed session recognises the client's
//! retransmission and stores it once (`qos2_in.rs`).
//! Acknowledgements go out in the order the PUBLISHes came [MQTT-4.6.0-2], whatever order
//! their shards answer in. Also: publishing a will.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use keel_protocols::mqtt::{Publish, QoS, ReasonCode};
use keel_rt::{task, time};

use super::connection::{Conn, Endpoint, Internal};
use super::namespace::shard_of;
use super::qos2_in::{self, Intent};
use super::record::MqttRecord;
use super::Core;
use crate::broker::auth::Access;
use crate::meta::mqtt::{Blob, DueWill, MqttOp, MqttResult, Qos2In, Qos2Out, RetainedRecord, WillRecord};

/// QoS 1/2 publishes whose acknowledgements wait for their turn, with when each came.
#[derive(Default)]
pub struct AckOrder {
    waiting: VecDeque<(u64, time::Instant)>,
    done: BTreeMap<u64, Result<(), ReasonCode>>,
}

/// A publish whose acknowledgement is due: its id, outcome, and when it came.
pub type Due = (u64, Result<(), ReasonCode>, time::Instant);

impl AckOrder {
    pub fn push(&mut self, id: u64, came: time::Instant) {
        self.waiting.push_back((id, came));
    }

    /// `id` finished: the outcomes now due, in order.
    pub fn complete(&mut self, id: u64, result: Result<(), ReasonCode>) -> Vec<Due> {
        self.done.insert(id, result);
        let mut due = Vec::new();
        while let Some((front, came)) = self.waiting.front() {
            let Some(r) = self.done.remove(front) else { break };
            due.push((*front, r, *came));
            self.waiting.pop_front();
        }
        due
    }
}

/// A progress op of the session: QoS 2 states out and in.
pub(super) fn progress(ep: &Endpoint, qos2_out: Vec<Qos2Out>, qos2_in: Vec<Qos2In>) -> MqttOp {
    MqttOp::Progress {
        client_id: ep.client_id.clone(),
        generation: ep.generation,
        cursors: BTreeMap::new(),
        qos2_out,
        qos2_in,
    }
}

/// Records a retained message (or clears it: empty payload) once its publish is in the log.
pub(super) async fn retain(core: &Core, record: &MqttRecord, shard: u32, offset: u64) -> Result<(), String> {
    let stored = match record.payload.is_empty() {
        true => None,
        false => Some(Blob(record.encode_value().map_err(|e| e.to_string())?.to_vec())),
    };
    let retained = RetainedRecord {
        record: stored,
        shard,
        offset,
        at_ms: time::wall_ms(),
        expiry_s: record.properties.message_expiry_interval_s,
    };
    core.batcher.apply(MqttOp::Retain { topic: record.topic.clone(), retained }).await.map(|_| ())
}

impl Conn {
    /// A client's message (the machine checked the protocol).
    pub(super) async fn publish(&mut self, id: u64, publish: Publish) {
        let Some(ep) = &self.ep else { return };
        let allowed = self.core.auth.allows(&ep.client_id, ep.username.as_deref(), Access::Publish, &publish.topic);
        let qos = publish.qos;
        if qos != QoS::AtMostOnce {
            self.acks.push(id, time::now());
        }
        if !allowed {
            tracing::debug!(client = %ep.client_id, topic = %publish.topic, "publish denied by the ACL");
            if qos != QoS::AtMostOnce {
                let _ = self.internal.try_push(Internal::Published { id, result: Err(ReasonCode::NotAuthorized) });
            }
            return;
        }
        let mut properties = publish.properties;
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        let record = MqttRecord {
            topic: publish.topic,
            qos,
            retain: publish.retain,
            publisher: ep.client_id.clone(),
            properties,
            payload: publish.payload,
        };
        if qos == QoS::AtMostOnce && !record.retain && !self.core.unsafe_ack_before_append {
            // Nobody waits for a QoS 0 message: queued in order, its outcome only counted.
            if let Err(e) = enqueue_detached(&self.core, &record).await {
                tracing::warn!(error = %e, "cannot store an MQTT message");
            }
            return;
        }
        if !self.retained_quota(&record) {
            if qos != QoS::AtMostOnce {
                let _ = self.internal.try_push(Internal::Published { id, result: Err(ReasonCode::QuotaExceeded) });
            }
            return;
        }
        // Queued here, in the order the client published, so the log keeps its order per topic.
        let packet_id = publish.packet_id;
        let queued = match packet_id {
            Some(pid) if qos == QoS::ExactlyOnce && ep.session.persistent => self.enqueue_qos2(&record, pid).await,
            _ => enqueue(&self.core, &record).await.map(|q| (q, None)),
        };
        let (appended, confirm) = match queued {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot store an MQTT message");
                if qos != QoS::AtMostOnce {
                    let _ =
                        self.internal.try_push(Internal::Published { id, result: Err(ReasonCode::UnspecifiedError) });
                }
                return;
            }
        };
        let core = self.core.clone();
        let done = self.internal.clone();
        if qos != QoS::AtMostOnce && core.unsafe_ack_before_append {
            // TEST ONLY: the planted bug the simulation must catch.
            let _ = done.try_push(Internal::Published { id, result: Ok(()) });
        }
        task::spawn(async move {
            let result = finish(&core, &record, appended).await;
            match (&result, confirm) {
                // Stored: a resumed session need not look for it. Not waited for (until it
                // applies, a resend is looked up and found).
                (Ok(()), Some(after)) => core.batcher.submit(after.stored).await,
                // Refused: an MQTT 5 error PUBREC frees the id [MQTT-4.3.3-9], so the client
                // may reuse it for a new message, which a resumed session must not take for
                // this one (whose append may have landed after all). (3.1.1 closes the
                // connection instead: the client resends, and the resend is looked up.)
                (Err(_), Some(Qos2After { freed: Some(freed), .. })) => {
                    let _ = core.batcher.apply(freed).await;
                }
                (Err(_), Some(_)) => {}
                (_, None) => {}
            }
            if qos != QoS::AtMostOnce && !core.unsafe_ack_before_append {
                let _ = done.try_push(Internal::Published { id, result });
            }
        });
    }

    /// Queues a persistent session's QoS 2 message behind its gate (`qos2_in.rs`): a new one
    /// behind its packet id's intent in meta, a resend whose first copy may be stored behind
    /// the lookup for it. With the change that marks it stored once appended.
    async fn enqueue_qos2(
        &mut self,
        record: &MqttRecord,
        packet_id: u16,
    ) -> Result<(Queued, Option<Qos2After>), String> {
        let core = self.core.clone();
        let shard = shard_of(&record.topic, core.shards);
        let seq = self.qos2_in_seq();
        let Some(ep) = &self.ep else { return Err("no session".into()) };
        let (client_id, generation) = (ep.client_id.clone(), ep.generation);
        let feeder = self.feeder.get_or_insert_with(|| qos2_in::Feeder::start(core.clone()));
        let lookups = feeder.lookups.clone();
        let (gate, token) = match self.unconfirmed.remove(&packet_id) {
            Some(origin) if origin.shard == shard => {
                let intent = Intent { client_id, generation, packet_id, seq, token: origin.token, shard };
                lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                (qos2_in::lookup_gate(core.clone(), origin, intent, lookups), origin.token)
            }
            _ => {
                let intent = Intent { client_id, generation, packet_id, seq, token: seq, shard };
                match lookups.load(std::sync::atomic::Ordering::SeqCst) {
                    0 => {
                        let (committed, send_by) = intent.queue(&core).await?;
                        (qos2_in::queued_gate(committed, send_by), seq)
                    }
                    _ => (qos2_in::deferred_gate(core.clone(), intent), seq),
                }
            }
        };
        let stored = Qos2In { packet_id, waiting: true, seq: self.qos2_in_seq(), origin: None };
        let freed = Qos2In { packet_id, waiting: false, seq: self.qos2_in_seq(), origin: None };
        let Some(ep) = &self.ep else { return Err("no session".into()) };
        let v5 = self.machine.version() == Some(keel_protocols::mqtt::Version::V5);
        let freed = v5.then(|| progress(ep, vec![], vec![freed]));
        let after = Qos2After { stored: progress(ep, vec![], vec![stored]), freed };
        let value = record.encode_value_with_origin(token).map_err(|e| e.to_string())?;
        let key = Bytes::copy_from_slice(record.topic.as_bytes());
        let feeder = self.feeder.get_or_insert_with(|| qos2_in::Feeder::start(core.clone()));
        Ok(((shard, feeder.append(gate, shard, key, value).await), Some(after)))
    }

    /// Whether a retained message fits the cluster's retained limits (a clear always does).
    fn retained_quota(&self, record: &MqttRecord) -> bool {
        if !record.retain || record.payload.is_empty() {
            return true;
        }
        let view = self.core.view.current();
        let count_ok = view.retained.len() < self.core.mqtt.retained_messages_max;
        let bytes: usize = view.retained.values().filter_map(|r| r.record.as_ref()).map(|b| b.0.len()).sum();
        count_ok && bytes + record.payload.len() <= self.core.mqtt.retained_bytes_max
    }

    /// The sequence number of the next inbound QoS 2 change: increasing within the session's
    /// generation, and above every earlier generation's.
    fn qos2_in_seq(&mut self) -> u64 {
        self.qos2_in_changes += 1;
        let generation = self.ep.as_ref().map_or(0, |ep| ep.generation);
        (generation << 32) | (self.qos2_in_changes & 0xffff_ffff)
    }

    /// Inbound QoS 2: the client released `packet_id`. The release is durable before the
    /// PUBCOMP that follows goes out: a client may reuse the identifier once it has the PUBCOMP,
    /// and a session resumed elsewhere with the identifier still waiting would take that new
    /// message for a resent one and drop it (found by the Jepsen MQTT workload: a QoS 2 publish
    /// acknowledged and never delivered). If the release is not recorded the connection ends
    /// without the PUBCOMP; the client resends the PUBREL to the resumed session.
    pub(super) async fn qos2_released(&mut self, packet_id: u16) {
        let Some(ep) = &self.ep else { return };
        if !ep.session.persistent {
            return;
        }
        self.unconfirmed.remove(&packet_id);
        let seq = self.qos2_in_seq();
        let Some(ep) = &self.ep else { return };
        let op = progress(ep, vec![], vec![Qos2In { packet_id, waiting: false, seq, origin: None }]);
        let client_id = ep.client_id.clone();
        match self.core.batcher.apply(op).await {
            Ok(MqttResult::Done) => {}
            other => {
                tracing::debug!(client = %client_id, ?other, "QoS 2 release not recorded; closing the connection");
                self.finish(false, None).await;
            }
        }
    }

    /// Outbound QoS 2 state, durable before the packet that follows is written.
    pub(super) async fn qos2_outbound(
        &mut self,
        token: keel_protocols::mqtt::session::Token,
        packet_id: u16,
        released: bool,
    ) {
        let Some(ep) = &self.ep else { return };
        let t = super::session::Token { shard: token.shard, offset: token.offset };
        self.qos2_out.insert(t, packet_id);
        if !ep.session.persistent || token.shard == super::subscribe::RETAINED_SHARD {
            return;
        }
        let state = Qos2Out { shard: token.shard, offset: token.offset, packet_id, released, done: false };
        let op = progress(ep, vec![state], vec![]);
        match self.core.batcher.apply(op).await {
            Ok(MqttResult::Done) => {}
            other => {
                // Not durable (or the session moved on): the PUBLISH or PUBREL that depends on
                // it must not go out. The connection ends; the session resumes from meta.
                tracing::debug!(client = %ep.client_id, ?other, "QoS 2 state not recorded; closing the connection");
                self.finish(false, None).await;
            }
        }
    }
}

/// What a persistent session's QoS 2 message records once its append is answered: that it is
/// stored, or that its id is free again (refused).
struct Qos2After {
    stored: MqttOp,
    freed: Option<MqttOp>,
}

/// A message queued for its shard: the shard, and the appender's answer to come.
type Queued = (u32, tokio::sync::oneshot::Receiver<super::appender::Appended>);

/// Queues the message for its shard.
async fn enqueue(core: &Core, record: &MqttRecord) -> Result<Queued, String> {
    let shard = shard_of(&record.topic, core.shards);
    let value = record.encode_value().map_err(|e| e.to_string())?;
    let key = Bytes::copy_from_slice(record.topic.as_bytes());
    Ok((shard, core.appender.append(shard, key, value).await))
}

/// Queues a message whose outcome nobody waits for.
async fn enqueue_detached(core: &Core, record: &MqttRecord) -> Result<(), String> {
    let shard = shard_of(&record.topic, core.shards);
    let value = record.encode_value().map_err(|e| e.to_string())?;
    core.appender.append_detached(shard, Bytes::copy_from_slice(record.topic.as_bytes()), value).await;
    Ok(())
}

/// Waits for the append, then records the message as retained if it is; the outcome for the
/// client.
async fn finish(core: &Core, record: &MqttRecord, (shard, rx): Queued) -> Result<(), ReasonCode> {
    let offset = match rx.await {
        Ok(Ok(offset)) => offset,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "MQTT publish not appended");
            return Err(ReasonCode::UnspecifiedError);
        }
        Err(_) => return Err(ReasonCode::UnspecifiedError),
    };
    if record.retain {
        retain(core, record, shard, offset).await.map_err(|_| ReasonCode::UnspecifiedError)?;
    }
    Ok(())
}

/// Appends a message the broker itself publishes (`$SYS`), and records it as retained if it is.
pub(super) async fn store_record(core: &Core, record: &MqttRecord) {
    if let Err(e) = store(core, record).await {
        tracing::debug!(topic = %record.topic, error = ?e, "publishing a broker message failed");
    }
}

/// Appends the message and records it as retained if it is.
async fn store(core: &Core, record: &MqttRecord) -> Result<(), ReasonCode> {
    let queued = enqueue(core, record).await.map_err(|_| ReasonCode::UnspecifiedError)?;
    finish(core, record, queued).await
}

/// Publishes a will meta leased to this broker, then tells meta it is in the log (until then
/// meta keeps it, and leases it again if this broker takes too long: at least once).
pub(super) async fn publish_due_will(core: Arc<Core>, due: DueWill) {
    if !publish_will(core.clone(), due.will).await {
        return; // the lease runs out and the sweep hands it out again
    }
    let done = MqttOp::WillDone { client_id: due.client_id, generation: due.generation };
    for _ in 0..WILL_DONE_TRIES {
        if core.batcher.apply(done.clone()).await.is_ok() {
            return;
        }
        time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// How often telling meta a will is published is tried (failing that, it is published again).
const WILL_DONE_TRIES: u32 = 30;

/// Publishes a will message (a session that ended uncleanly); whether it is in the log.
pub(super) async fn publish_will(core: Arc<Core>, will: WillRecord) -> bool {
    let record = match MqttRecord::decode(will.topic.as_bytes(), Bytes::from(will.record.0)) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "a stored will message cannot be decoded; dropped");
            return true;
        }
    };
    match store(&core, &record).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(topic = %record.topic, error = ?e, "publishing a will message failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_go_out_in_publish_order() {
        let t = time::now();
        let mut a = AckOrder::default();
        for id in [1, 2, 3] {
            a.push(id, t);
        }
        assert!(a.complete(2, Ok(())).is_empty());
        assert!(a.complete(3, Err(ReasonCode::QuotaExceeded)).is_empty());
        let due = vec![(1, Ok(()), t), (2, Ok(()), t), (3, Err(ReasonCode::QuotaExceeded), t)];
        assert_eq!(a.complete(1, Ok(())), due);
        a.push(4, t);
        assert_eq!(a.complete(4, Ok(())), vec![(4, Ok(()), t)]);
    }
}
