//! SUBSCRIBE and UNSUBSCRIBE: each filter checked against the ACL, put in (or taken out of) the
//! router, recorded in meta for a persistent session (with the cursors its shards start from, in
//! the same op, so a session resumed after a crash misses nothing published since); and the
//! retained messages matching a new subscription, queued behind the SUBACK as its Retain
//! Handling says.

use keel_protocols::mqtt::topic::{matches, SharedFilter};
use keel_protocols::mqtt::{QoS, ReasonCode, RetainHandling, SubscriptionOptions};
use keel_rt::time;

use super::connection::Conn;
use super::record::MqttRecord;
use super::session::{Delivery, SubEntry, Token};
use crate::broker::auth::Access;
use crate::meta::mqtt::{MqttOp, MqttResult, SubRecord};

/// The shard of a token that is no shard: a retained message delivered on subscribe (no cursor
/// moves when it is done).
pub const RETAINED_SHARD: u32 = u32::MAX;

fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::GrantedQoS0,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}

impl Conn {
    /// Subscribes; one reason code per filter.
    pub(super) async fn subscribe(
        &mut self,
        filters: Vec<(String, SubscriptionOptions)>,
        subscription_id: Option<u32>,
    ) -> Vec<ReasonCode> {
        let Some(ep) = &self.ep else { return vec![ReasonCode::UnspecifiedError; filters.len()] };
        let (session, client_id, username) = (ep.session.clone(), ep.client_id.clone(), ep.username.clone());
        let mut reasons = Vec::with_capacity(filters.len());
        let mut records = Vec::new();
        for (filter, opts) in filters {
            if !self.core.auth.allows(&client_id, username.as_deref(), Access::Subscribe, &filter) {
                reasons.push(ReasonCode::NotAuthorized);
                continue;
            }
            let entry = SubEntry {
                qos: opts.qos,
                no_local: opts.no_local,
                retain_as_published: opts.retain_as_published,
                subscription_id,
            };
            match SharedFilter::parse(&filter) {
                Some(Ok(SharedFilter { group, filter: f })) => {
                    self.core.router_mut().subscribe_shared(session.key, group, f, entry);
                    if let Some(ep) = &mut self.ep {
                        if !ep.shared.iter().any(|(g, x)| g == group && x == f) {
                            ep.shared.push((group.to_string(), f.to_string()));
                        }
                    }
                    self.shared_members_changed(group, f);
                }
                Some(Err(_)) => {
                    reasons.push(ReasonCode::TopicFilterInvalid);
                    continue;
                }
                None => {
                    let existed = session.state().subscriptions.insert(filter.clone(), entry.clone()).is_some();
                    self.core.router_mut().subscribe(session.key, &filter, entry.clone());
                    let send_retained = match opts.retain_handling {
                        RetainHandling::SendAtSubscribe => true,
                        RetainHandling::SendAtSubscribeIfNew => !existed,
                        RetainHandling::DoNotSend => false,
                    };
                    if send_retained {
                        self.retained_pending.push((filter.clone(), entry));
                    }
                }
            }
            records.push((
                filter,
                SubRecord {
                    qos: opts.qos as u8,
                    no_local: opts.no_local,
                    retain_as_published: opts.retain_as_published,
                    retain_handling: opts.retain_handling as u8,
                    subscription_id,
                },
            ));
            reasons.push(granted(opts.qos));
        }
        if session.persistent && !records.is_empty() && !self.record_subscriptions(records).await {
            // Not recorded: the client must not believe these survive a broker loss.
            return reasons.into_iter().map(|r| if r.is_error() { r } else { ReasonCode::UnspecifiedError }).collect();
        }
        reasons
    }

    /// Records a persistent session's subscriptions, with the cursors its shards start from.
    async fn record_subscriptions(&self, subs: Vec<(String, SubRecord)>) -> bool {
        let Some(ep) = &self.ep else { return false };
        let start = ep.session.cursors(&self.core.tails());
        let op = MqttOp::Subscribe { client_id: ep.client_id.clone(), generation: ep.generation, subs, start };
        match self.core.batcher.apply(op).await {
            Ok(MqttResult::Done) => true,
            other => {
                tracing::debug!(client = %ep.client_id, ?other, "recording subscriptions failed");
                false
            }
        }
    }

    /// Unsubscribes; one reason code per filter.
    pub(super) async fn unsubscribe(&mut self, filters: &[String]) -> Vec<ReasonCode> {
        let Some(ep) = &self.ep else { return vec![ReasonCode::UnspecifiedError; filters.len()] };
        let session = ep.session.clone();
        let mut reasons = Vec::with_capacity(filters.len());
        for filter in filters {
            let existed = match SharedFilter::parse(filter) {
                Some(Ok(SharedFilter { group, filter: f })) => {
                    let existed = self.core.router_mut().unsubscribe_shared(session.key, group, f);
                    if let Some(ep) = &mut self.ep {
                        ep.shared.retain(|(g, x)| !(g == group && x == f));
                    }
                    self.shared_members_changed(group, f);
                    existed
                }
                _ => {
                    session.state().subscriptions.remove(filter);
                    self.core.router_mut().unsubscribe(session.key, filter)
                }
            };
            reasons.push(if existed { ReasonCode::Success } else { ReasonCode::NoSubscriptionExisted });
        }
        if let Some(ep) = &self.ep {
            if session.persistent {
                let op = MqttOp::Unsubscribe {
                    client_id: ep.client_id.clone(),
                    generation: ep.generation,
                    filters: filters.to_vec(),
                };
                if self.core.batcher.apply(op).await.is_err() {
                    return vec![ReasonCode::UnspecifiedError; filters.len()];
                }
            }
        }
        reasons
    }

    /// Queues the retained messages of the subscriptions just made (they follow the SUBACK).
    pub(super) fn queue_retained(&mut self) {
        let pending = std::mem::take(&mut self.retained_pending);
        if pending.is_empty() {
            return;
        }
        let view = self.core.view.current();
        let now = time::wall_ms();
        for (filter, entry) in pending {
            for (topic, r) in view.retained.iter().filter(|(t, _)| matches(&filter, t)) {
                let Some(blob) = &r.record else { continue };
                if r.expiry_s.is_some_and(|e| now >= r.at_ms.saturating_add(u64::from(e) * 1000)) {
                    continue;
                }
                let Ok(record) = MqttRecord::decode(topic.as_bytes(), blob.0.clone().into()) else { continue };
                let qos = record.qos.min(entry.qos);
                self.retained_seq += 1;
                self.backlog.push_back(Delivery {
                    record: std::sync::Arc::new(record),
                    timestamp_ms: r.at_ms,
                    token: Token { shard: RETAINED_SHARD, offset: self.retained_seq },
                    qos,
                    retain: true,
                    subscription_ids: entry.subscription_id.into_iter().collect(),
                });
            }
        }
    }
}
