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
    pub log: LogConfig,
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
}

/// Internal RPC between nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Address the RPC server binds.
    pub listen: String,
    /// Address other nodes use to reach this one (defaults to `listen`).
    pub advertise: Option<String>,
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
            log: LogConfig::default(),
        }
    }
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig { listen: "127.0.0.1:7100".into(), advertise: None }
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

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info,openraft=warn".into() }
    }
}

impl Config {
    /// Parses a TOML document and checks it.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
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
}
