//! One log, two views: a binding names a Kafka topic that *is* the MQTT namespace log seen
//! through an MQTT topic filter. Its partitions are the log's shards; a Kafka consumer fetches
//! the MQTT messages whose topic the filter matches, as records keyed by MQTT topic with QoS and
//! properties as headers, at their own offsets in the log; a Kafka producer's records become MQTT
//! messages in the log, which MQTT subscribers get like any publish (QoS 1/2 acknowledged to MQTT
//! publishers, and acks to Kafka producers, only once the in-sync replicas synced). Nothing is
//! copied: both protocols read and write the same records.
//!
//! Bindings live in meta on the log's topic record (`crate::meta::bindings`), set from the
//! `[mqtt] bindings` config and the admin API (`keel binding`).

pub mod convert;
pub mod read;
pub mod skips;
pub mod write;
