//! MQTT metrics: packets each way by type (counted as they pass), and the front-end's figures
//! (connections, sessions, subscriptions, messages, drops) mirrored from its counters when
//! scraped.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::buckets;
use super::mirror::Mirror;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PacketLabels {
    /// The MQTT control packet type, upper case as the specification names it (`PUBLISH`).
    pub packet: &'static str,
}

type PacketCounters = Family<PacketLabels, Counter<u64, AtomicU64>>;

pub struct MqttMetrics {
    /// From a packet's arrival to the broker's answer: PUBLISH (QoS 1/2) to its PUBACK or
    /// PUBREC (stored and, for a persistent QoS 2 session, its packet id recorded), SUBSCRIBE
    /// to SUBACK, UNSUBSCRIBE to UNSUBACK, CONNECT to CONNACK (the session claimed in meta).
    pub request_seconds: Family<PacketLabels, Histogram, fn() -> Histogram>,
    pub packets_received: PacketCounters,
    pub packets_sent: PacketCounters,
    pub connections: Gauge,
    pub sessions: Gauge,
    pub subscriptions: Gauge,
    pub connections_opened: Mirror,
    pub connections_refused: Mirror,
    pub messages_received: Mirror,
    pub messages_sent: Mirror,
    pub bytes_received: Mirror,
    pub bytes_sent: Mirror,
    pub protocol_errors: Mirror,
    /// Shared-subscription messages no member could take.
    pub messages_dropped: Mirror,
    /// Sessions whose queue filled, sent back to reading the log (nothing lost).
    pub queue_overflows: Mirror,
    /// Records of the namespace log that did not decode (skipped).
    pub bad_records: Mirror,
}

impl MqttMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let m = MqttMetrics {
            request_seconds: Family::new_with_constructor(|| Histogram::new(buckets::latency_seconds())),
            packets_received: Family::default(),
            packets_sent: Family::default(),
            connections: Gauge::default(),
            sessions: Gauge::default(),
            subscriptions: Gauge::default(),
            connections_opened: Mirror::default(),
            connections_refused: Mirror::default(),
            messages_received: Mirror::default(),
            messages_sent: Mirror::default(),
            bytes_received: Mirror::default(),
            bytes_sent: Mirror::default(),
            protocol_errors: Mirror::default(),
            messages_dropped: Mirror::default(),
            queue_overflows: Mirror::default(),
            bad_records: Mirror::default(),
        };
        r.register(
            "mqtt_request_duration_seconds",
            "From an MQTT packet's arrival to the broker's answer, by packet type",
            m.request_seconds.clone(),
        );
        r.register("mqtt_packets_received", "MQTT packets received, by type", m.packets_received.clone());
        r.register("mqtt_packets_sent", "MQTT packets sent, by type", m.packets_sent.clone());
        r.register("mqtt_connections", "MQTT client connections open", m.connections.clone());
        r.register("mqtt_sessions", "MQTT sessions served by this broker", m.sessions.clone());
        r.register("mqtt_subscriptions", "MQTT subscriptions of the sessions served here", m.subscriptions.clone());
        let mirrors = [
            ("mqtt_connections_opened", "MQTT connections accepted", &m.connections_opened),
            ("mqtt_connections_refused", "MQTT connections refused (CONNACK with an error)", &m.connections_refused),
            ("mqtt_messages_received", "PUBLISH packets received from clients", &m.messages_received),
            ("mqtt_messages_sent", "PUBLISH packets sent to clients", &m.messages_sent),
            ("mqtt_received_bytes", "Bytes read from MQTT clients", &m.bytes_received),
            ("mqtt_sent_bytes", "Bytes written to MQTT clients", &m.bytes_sent),
            ("mqtt_protocol_errors", "Malformed MQTT packets and protocol violations", &m.protocol_errors),
            ("mqtt_messages_dropped", "Shared-subscription messages no member could take", &m.messages_dropped),
            (
                "mqtt_queue_overflows",
                "Session queues that filled (the session reads the log instead)",
                &m.queue_overflows,
            ),
            ("mqtt_bad_records", "Namespace log records that did not decode (skipped)", &m.bad_records),
        ];
        for (name, help, mirror) in mirrors {
            r.register(name, help, mirror.counter.clone());
        }
        m
    }
}

impl MqttMetrics {
    /// A `packet` that came at `came` was answered now.
    pub fn observe(&self, packet: &'static str, came: keel_rt::time::Instant) {
        let took = keel_rt::time::now().saturating_duration_since(came);
        self.request_seconds.get_or_create(&PacketLabels { packet }).observe(took.as_secs_f64());
    }
}
