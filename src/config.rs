//! The node's configuration: a TOML file, every field defaulted (see `docs/config.md`).
//!
//! With no file at all, `keel server` is a single-node cluster running every role.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::meta::records::{NodeId, Role};

/// Everything one `keel` process needs to know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// This node's id, unique in the cluster.
    pub node_id: NodeId,
    /// Where this node keeps its files.
    pub data_dir: String,
    /// What this node does.
    pub roles: Vec<Role>,
    pub rpc: RpcConfig,
    pub admin: AdminConfig,
    pub meta: MetaSection,
    pub storage: StorageSection,
    pub broker: BrokerSection,
    pub mqtt: MqttSection,
    pub kafka: KafkaSection,
    pub log: LogConfig,
}

/// Kafka: topics created on demand and the limits of requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSection {
    /// Create a topic a client asks Metadata or Produce about when it does not exist (Kafka's
    /// `auto.create.topics.enable`).
    pub auto_create_topics: bool,
    /// Partitions of a topic created without a count (on demand, or CreateTopics with -1).
    pub default_partitions: u32,
    /// Copies of a topic created without a replication factor; capped by the storage nodes.
    pub default_replication_factor: u32,
    /// The largest request a client may send, in bytes (Kafka's `socket.request.max.bytes`).
    pub request_bytes_max: usize,
    /// The most one Produce request's compressed batches to bound topics may decompress to, all
    /// partitions together, in bytes: their records are read to become MQTT messages, and a
    /// decompression bomb must stop here (a batch past it is refused). Batches of ordinary
    /// topics are stored as sent, never decompressed.
    pub decompressed_bytes_max: usize,
    /// The longest a Fetch may wait for records, whatever the client asks, in milliseconds.
    pub fetch_wait_ms_max: u32,
    /// Incremental fetch sessions (KIP-227) a broker keeps; opening one more evicts the least
    /// recently used. 0: none (every Fetch is answered in full). Kafka's
    /// `max.incremental.fetch.session.cache.slots`.
    pub fetch_sessions_max: usize,
}

/// The broker role: client listeners and their limits (protocol-agnostic: MQTT today, Kafka
/// and AMQP later share them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSection {
    /// MQTT over TCP; "" disables it.
    pub mqtt_listen: String,
    /// MQTT over WebSocket (subprotocol `mqtt`, any path); "" disables it.
    pub mqtt_ws_listen: String,
    /// MQTT over TLS (rustls); used only when `tls_cert_file` is set. Not in simulation builds.
    pub mqtt_tls_listen: String,
    /// PEM certificate chain and private key for the TLS listeners (MQTT's and Kafka's).
    pub tls_cert_file: String,
    pub tls_key_file: String,
    /// Client connections this broker holds at once, all listeners together; more are refused.
    pub connections_max: usize,
    /// The largest packet a client may send (and, unless it says less, receive), in bytes.
    pub packet_bytes_max: usize,
    /// QoS 1 and 2 messages in flight per direction per connection (MQTT's Receive Maximum).
    pub inflight_max: u16,
    /// Bytes of messages waiting for one session's window before the session falls back to
    /// reading them from the log later (nothing is dropped for a persistent session).
    pub session_queued_bytes_max: usize,
    /// A client must send CONNECT within this long of connecting.
    pub connect_timeout_ms: u64,
    /// The Kafka wire protocol; "" disables it.
    pub kafka_listen: String,
    /// The `host:port` Kafka clients are told to reach this broker at (Metadata); empty: the
    /// listen address, with an unspecified host replaced by the RPC address's host.
    pub kafka_advertise: String,
    /// The Kafka wire protocol over TLS (rustls); used only when `tls_cert_file` is set; ""
    /// disables it. Not in simulation builds. Advertised with `kafka_advertise`'s host.
    pub kafka_tls_listen: String,
    /// The longest keep-alive a client may choose (MQTT 5 Server Keep Alive); 0: no limit.
    pub keep_alive_max_s: u16,
}

/// MQTT: the namespace log, sessions, retained messages, authentication and ACLs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttSection {
    /// Shards of the MQTT namespace log (a topic's messages go to one, chosen by hash). Fixed
    /// when the log is first created.
    pub shards: u32,
    /// Engine of the namespace log: "segment" (durable, the default) or "memory" (fastest, a
    /// QoS 1/2 acknowledgement then means "in memory on the in-sync replicas").
    pub engine: String,
    /// Copies of every message; capped by the storage nodes there are when the log is created.
    pub replication_factor: u32,
    /// How long messages stay in the log: the longest a persistent session may be away and
    /// still receive what was published meanwhile.
    pub retention_ms: u64,
    /// The longest Session Expiry Interval a client may ask for, in seconds (0: no limit).
    pub session_expiry_max_s: u32,
    /// Topic aliases a client may use towards the broker (MQTT 5 Topic Alias Maximum).
    pub topic_alias_max: u16,
    /// The most retained messages, and bytes of retained payload, the cluster keeps.
    pub retained_messages_max: usize,
    pub retained_bytes_max: usize,
    /// Clients may connect without a username (the zero-config default).
    pub allow_anonymous: bool,
    /// Users and their password hashes (`keel passwd` makes one).
    pub users: Vec<MqttUser>,
    /// Access rules, first match wins; with none, everything is allowed.
    pub acl: Vec<AclRule>,
    /// What is decided when rules exist but none matches: "allow" or "deny".
    pub acl_default: String,
    /// How often `$SYS/brokers/<id>/...` statistics are published, in seconds (0: never).
    pub sys_interval_s: u32,
    /// Kafka topics that are views of the MQTT namespace log (set in meta at start).
    pub bindings: Vec<BindingConfig>,
}

/// A binding: Kafka topic `kafka_topic` shows (and takes) the MQTT messages whose topic
/// matches `filter`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingConfig {
    pub kafka_topic: String,
    pub filter: String,
}

/// A user of the MQTT front-end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttUser {
    pub username: String,
    /// `pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>` (never the password itself).
    pub password_hash: String,
    /// May change the cluster through the admin API and console (topics, bindings, members);
    /// every user may read them once authentication is on (`allow_anonymous = false`).
    #[serde(default)]
    pub admin: bool,
}

/// One access rule. `topic` is a topic filter in which `%c` stands for the client id and `%u`
/// for the username.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    /// The rule applies to this user only (absent: to every client, anonymous ones included).
    #[serde(default)]
    pub username: Option<String>,
    /// The rule applies to this client id only.
    #[serde(default)]
    pub client_id: Option<String>,
    pub topic: String,
    /// "publish", "subscribe" or "all".
    pub access: String,
    /// "allow" or "deny".
    pub permission: String,
}

/// The storage role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// Where `object` topics tier their segments: empty for files under `<data_dir>/objects`,
    /// else a URL — `file:///abs/dir`, `memory://`, or `s3://bucket/prefix` (builds with the
    /// `s3` feature; MinIO through the options).
    pub object_store_url: String,
    /// Options of the object store, e.g. `aws_endpoint`, `aws_region`, `aws_allow_http`,
    /// `aws_access_key_id`, `aws_secret_access_key` (unset ones come from `AWS_*`).
    pub object_store_options: BTreeMap<String, String>,
    /// TEST ONLY, refused by release builds: shard leaders acknowledge a produce once it is in
    /// their own log, before syncing it and before any follower has it. The deliberately broken
    /// build the Jepsen harness (`jepsen/`) must catch losing acknowledged records.
    pub unsafe_ack_before_replication: bool,
}

/// Internal RPC between nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Address the RPC server binds.
    pub listen: String,
    /// Address other nodes use to reach this one (defaults to `listen`).
    pub advertise: Option<String>,
    /// Peer addresses this node dials somewhere else: `{ "10.0.0.2:7100" = "127.0.0.1:17102" }`
    /// reaches that peer through a local proxy or tunnel (the Jepsen harness's fault-injecting
    /// proxies use it). Peers keep their own address everywhere else.
    pub connect_via: BTreeMap<String, String>,
}

/// The admin HTTP API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address the admin HTTP server binds; empty disables it.
    pub listen: String,
}

/// The meta role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetaSection {
    /// The meta nodes that bootstrap the cluster (id → RPC address). Empty: this node alone.
    /// Every listed node must be given the same list.
    pub peers: BTreeMap<String, String>,
    /// Meta nodes to register with when this node has no meta role.
    pub endpoints: Vec<String>,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub snapshot_every_entries: u64,
    pub log_keep_entries: u64,
    /// How often every node tells the meta leader it is alive.
    pub node_heartbeat_ms: u64,
    /// A node not heard from for this long is dead: its shards get new leaders.
    pub node_timeout_ms: u64,
    /// A dead node's replicas move to other nodes after this long.
    pub replace_after_ms: u64,
}

/// Logging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `keel=debug,openraft=warn`; `RUST_LOG` overrides it.
    pub level: String,
    /// `text` (for people; coloured only on a terminal) or `json` (one object per line, for
    /// collectors). Every line carries the node id.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: 1,
            data_dir: "./keel-data".into(),
            roles: vec![Role::Meta, Role::Broker, Role::Storage],
            rpc: RpcConfig::default(),
            admin: AdminConfig::default(),
            meta: MetaSection::default(),
            storage: StorageSection::default(),
            broker: BrokerSection::default(),
            mqtt: MqttSection::default(),
            kafka: KafkaSection::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig { listen: "127.0.0.1:7100".into(), advertise: None, connect_via: BTreeMap::new() }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { listen: "127.0.0.1:9464".into() }
    }
}

impl Default for MetaSection {
    fn default() -> Self {
        let m = crate::meta::MetaConfig::default();
        MetaSection {
            peers: BTreeMap::new(),
            endpoints: Vec::new(),
            heartbeat_ms: m.heartbeat_ms,
            election_timeout_min_ms: m.election_timeout_min_ms,
            election_timeout_max_ms: m.election_timeout_max_ms,
            snapshot_every_entries: m.snapshot_every_entries,
            log_keep_entries: m.log_keep_entries,
            node_heartbeat_ms: 1_000,
            node_timeout_ms: m.schedule.node_timeout_ms,
            replace_after_ms: m.schedule.replace_after_ms,
        }
    }
}

impl Default for BrokerSection {
    fn default() -> Self {
        BrokerSection {
            mqtt_listen: "0.0.0.0:1883".into(),
            mqtt_ws_listen: "0.0.0.0:8083".into(),
            mqtt_tls_listen: "0.0.0.0:8883".into(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            connections_max: 100_000,
            packet_bytes_max: 1024 * 1024,
            inflight_max: 1024,
            session_queued_bytes_max: 1024 * 1024,
            connect_timeout_ms: 10_000,
            kafka_listen: "0.0.0.0:9092".into(),
            kafka_advertise: String::new(),
            kafka_tls_listen: "0.0.0.0:9093".into(),
            keep_alive_max_s: 0,
        }
    }
}

impl Default for KafkaSection {
    fn default() -> Self {
        KafkaSection {
            auto_create_topics: true,
            default_partitions: 1,
            default_replication_factor: 3,
            request_bytes_max: 100 * 1024 * 1024,
            decompressed_bytes_max: 64 * 1024 * 1024,
            fetch_wait_ms_max: 30_000,
            fetch_sessions_max: 1000,
        }
    }
}

impl Default for MqttSection {
    fn default() -> Self {
        MqttSection {
            shards: 8,
            engine: "segment".into(),
            replication_factor: 3,
            retention_ms: 24 * 3600 * 1000,
            session_expiry_max_s: 0,
            topic_alias_max: 64,
            retained_messages_max: 1_000_000,
            retained_bytes_max: 256 * 1024 * 1024,
            allow_anonymous: true,
            users: Vec::new(),
            acl: Vec::new(),
            acl_default: "deny".into(),
            sys_interval_s: 10,
            bindings: Vec::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info,openraft=warn".into(), format: LogFormat::Text }
    }
}

impl Config {
    /// Parses a TOML document and checks it.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    /// Where Kafka clients reach this broker: `kafka_advertise`, or the Kafka listen address
    /// with an unspecified host (`0.0.0.0`, `::`) replaced by the RPC address's host; `None`
    /// when Kafka is off.
    pub fn kafka_advertise_addr(&self) -> Option<String> {
        if !self.broker.kafka_advertise.is_empty() {
            return Some(self.broker.kafka_advertise.clone());
        }
        self.advertised(&self.broker.kafka_listen)
    }

    /// Where Kafka clients reach this broker over TLS: `kafka_advertise`'s host when it is set
    /// (else the TLS listen address's, an unspecified one replaced by the RPC address's host)
    /// with the TLS listener's port; `None` when that listener is off (no certificate).
    pub fn kafka_tls_advertise_addr(&self) -> Option<String> {
        let b = &self.broker;
        if b.tls_cert_file.is_empty() || b.kafka_tls_listen.is_empty() {
            return None;
        }
        let advertised = self.advertised(&b.kafka_tls_listen)?;
        match b.kafka_advertise.rsplit_once(':') {
            Some((host, _)) => {
                let (_, port) = advertised.rsplit_once(':')?;
                Some(format!("{host}:{port}"))
            }
            None => Some(advertised),
        }
    }

    /// `listen` as clients reach it: an unspecified host (`0.0.0.0`, `::`) replaced by the RPC
    /// address's host.
    fn advertised(&self, listen: &str) -> Option<String> {
        let (host, port) = listen.rsplit_once(':')?;
        match host.trim_start_matches('[').trim_end_matches(']') {
            "0.0.0.0" | "::" | "" => {
                let rpc = self.advertise_addr();
                let rpc_host = rpc.rsplit_once(':').map_or(rpc.as_str(), |(h, _)| h).to_string();
                Some(format!("{rpc_host}:{port}"))
            }
            _ => Some(listen.to_string()),
        }
    }

    /// The address other nodes reach this one at.
    pub fn advertise_addr(&self) -> String {
        self.rpc.advertise.clone().unwrap_or_else(|| self.rpc.listen.clone())
    }

    /// The bootstrap meta voters, with this node added when the list is empty. A meta node
    /// not in the list is a joiner: it waits to be added (`keel cluster add-node`).
    pub fn meta_peers(&self) -> Result<BTreeMap<NodeId, String>, String> {
        if self.meta.peers.is_empty() {
            return Ok([(self.node_id, self.advertise_addr())].into());
        }
        self.meta
            .peers
            .iter()
            .map(|(id, addr)| {
                id.parse::<NodeId>()
                    .map(|id| (id, addr.clone()))
                    .map_err(|_| format!("meta.peers: {id:?} is not a node id"))
            })
            .collect()
    }

    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.roles.is_empty() {
            return Err("roles: at least one of meta, broker, storage".into());
        }
        self.meta_peers()?;
        if !self.roles.contains(&Role::Meta) && self.meta.endpoints.is_empty() && self.meta.peers.is_empty() {
            return Err("a node without the meta role needs meta.endpoints or meta.peers".into());
        }
        if self.meta.election_timeout_min_ms <= self.meta.heartbeat_ms
            || self.meta.election_timeout_max_ms <= self.meta.election_timeout_min_ms
        {
            return Err("meta: need heartbeat_ms < election_timeout_min_ms < election_timeout_max_ms".into());
        }
        if self.meta.node_heartbeat_ms == 0 || self.meta.node_timeout_ms <= self.meta.node_heartbeat_ms {
            return Err("meta: need 0 < node_heartbeat_ms < node_timeout_ms".into());
        }
        if self.storage.unsafe_ack_before_replication && !cfg!(debug_assertions) {
            return Err("storage.unsafe_ack_before_replication: a test switch, refused by release builds".into());
        }
        self.validate_mqtt()?;
        self.validate_kafka()
    }

    /// The `[kafka]` section.
    fn validate_kafka(&self) -> Result<(), String> {
        let k = &self.kafka;
        if k.default_partitions == 0 || k.default_replication_factor == 0 {
            return Err("kafka: default_partitions and default_replication_factor must be at least 1".into());
        }
        if k.request_bytes_max < 1024 || k.request_bytes_max > i32::MAX as usize {
            return Err("kafka.request_bytes_max: 1024 to 2147483647 bytes".into());
        }
        if k.decompressed_bytes_max < 1024 || k.decompressed_bytes_max > i32::MAX as usize {
            return Err("kafka.decompressed_bytes_max: 1024 to 2147483647 bytes".into());
        }
        Ok(())
    }

    /// The `[broker]` and `[mqtt]` sections.
    fn validate_mqtt(&self) -> Result<(), String> {
        let (b, m) = (&self.broker, &self.mqtt);
        if b.tls_cert_file.is_empty() != b.tls_key_file.is_empty() {
            return Err("broker: tls_cert_file and tls_key_file go together".into());
        }
        if b.packet_bytes_max < 64 || b.packet_bytes_max > 268_435_460 {
            return Err("broker.packet_bytes_max: 64 to 268435460 bytes".into());
        }
        if b.inflight_max == 0 || b.connections_max == 0 {
            return Err("broker: inflight_max and connections_max must be at least 1".into());
        }
        if m.shards == 0 || m.shards > 1024 {
            return Err("mqtt.shards: 1 to 1024".into());
        }
        if !matches!(m.engine.as_str(), "segment" | "memory") {
            return Err(format!("mqtt.engine: \"segment\" or \"memory\", not {:?}", m.engine));
        }
        if m.replication_factor == 0 {
            return Err("mqtt.replication_factor must be at least 1".into());
        }
        for (i, b) in m.bindings.iter().enumerate() {
            if !crate::meta::state::valid_name(&b.kafka_topic) {
                return Err(format!("mqtt.bindings[{i}].kafka_topic: {:?} is not a Kafka topic name", b.kafka_topic));
            }
            if !keel_protocols::mqtt::topic::valid_filter(&b.filter) {
                return Err(format!("mqtt.bindings[{i}].filter: {:?} is not an MQTT topic filter", b.filter));
            }
        }
        if !matches!(m.acl_default.as_str(), "allow" | "deny") {
            return Err(format!("mqtt.acl_default: \"allow\" or \"deny\", not {:?}", m.acl_default));
        }
        for (i, r) in m.acl.iter().enumerate() {
            if !matches!(r.access.as_str(), "publish" | "subscribe" | "all") {
                return Err(format!("mqtt.acl[{i}].access: \"publish\", \"subscribe\" or \"all\""));
            }
            if !matches!(r.permission.as_str(), "allow" | "deny") {
                return Err(format!("mqtt.acl[{i}].permission: \"allow\" or \"deny\""));
            }
        }
        Ok(())
    }

    /// The meta role's settings.
    pub fn meta_config(&self) -> crate::meta::MetaConfig {
        crate::meta::MetaConfig {
            heartbeat_ms: self.meta.heartbeat_ms,
            election_timeout_min_ms: self.meta.election_timeout_min_ms,
            election_timeout_max_ms: self.meta.election_timeout_max_ms,
            snapshot_every_entries: self.meta.snapshot_every_entries,
            log_keep_entries: self.meta.log_keep_entries,
            schedule: crate::meta::schedule::ScheduleConfig {
                node_timeout_ms: self.meta.node_timeout_ms,
                replace_after_ms: self.meta.replace_after_ms,
                unsafe_elect_out_of_sync: false,
            },
            store: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_single_node_default() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.meta_peers().unwrap(), [(1, "127.0.0.1:7100".to_string())].into());
    }

    #[test]
    fn three_node_file_parses() {
        let c = Config::from_toml(
            r#"
            node_id = 2
            data_dir = "/tmp/k2"
            [rpc]
            listen = "127.0.0.1:7102"
            [admin]
            listen = "127.0.0.1:9466"
            [meta.peers]
            1 = "127.0.0.1:7101"
            2 = "127.0.0.1:7102"
            3 = "127.0.0.1:7103"
            "#,
        )
        .unwrap();
        assert_eq!(c.meta_peers().unwrap().len(), 3);
        assert_eq!(c.advertise_addr(), "127.0.0.1:7102");
    }

    #[test]
    fn refuses_unknown_fields_and_bad_peers() {
        assert!(Config::from_toml("nodeid = 1").unwrap_err().contains("unknown field"));
        assert!(Config::from_toml("[meta.peers]\nx = \"a:1\"").unwrap_err().contains("not a node id"));
        assert!(Config::from_toml("roles = [\"teapot\"]").is_err());
    }

    #[test]
    fn broker_and_mqtt_sections_parse_and_are_checked() {
        let c = Config::from_toml(
            r#"
            [broker]
            mqtt_listen = "127.0.0.1:1884"
            inflight_max = 10
            [mqtt]
            shards = 4
            engine = "memory"
            allow_anonymous = false
            [[mqtt.users]]
            username = "alice"
            password_hash = "pbkdf2-sha256$1000$c2FsdA==$aGFzaA=="
            [[mqtt.acl]]
            username = "alice"
            topic = "devices/%c/#"
            access = "all"
            permission = "allow"
            "#,
        )
        .unwrap();
        assert_eq!(c.broker.mqtt_listen, "127.0.0.1:1884");
        assert_eq!(c.broker.mqtt_ws_listen, BrokerSection::default().mqtt_ws_listen);
        assert_eq!((c.mqtt.shards, c.mqtt.users.len(), c.mqtt.acl.len()), (4, 1, 1));
        assert!(Config::from_toml("[mqtt]\nengine = \"object\"").unwrap_err().contains("mqtt.engine"));
        assert!(Config::from_toml("[mqtt]\nshards = 0").unwrap_err().contains("mqtt.shards"));
        let bad_acl = "[[mqtt.acl]]\ntopic = \"a\"\naccess = \"read\"\npermission = \"allow\"";
        assert!(Config::from_toml(bad_acl).unwrap_err().contains("access"));
    }

    #[test]
    fn kafka_is_advertised_per_listener() {
        let mut c = Config::from_toml("[rpc]\nlisten = \"10.1.2.3:7100\"").unwrap();
        assert_eq!(c.kafka_advertise_addr().as_deref(), Some("10.1.2.3:9092"));
        assert_eq!(c.kafka_tls_advertise_addr(), None, "no certificate, no TLS listener");
        c.broker.tls_cert_file = "cert.pem".into();
        assert_eq!(c.kafka_tls_advertise_addr().as_deref(), Some("10.1.2.3:9093"));
        c.broker.kafka_advertise = "kafka.example:19092".into();
        assert_eq!(c.kafka_advertise_addr().as_deref(), Some("kafka.example:19092"));
        assert_eq!(c.kafka_tls_advertise_addr().as_deref(), Some("kafka.example:9093"));
        c.broker.kafka_tls_listen = String::new();
        assert_eq!(c.kafka_tls_advertise_addr(), None);
    }
}
