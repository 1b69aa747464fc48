//! MQTT 3.1, 3.1.1 and 5.0 on the broker role, over the log.
//!
//! Every publish is appended to a shard of the namespace log ([`namespace`], [`record`],
//! [`appender`]); every broker tails every shard ([`tail`]) and hands matching records to the
//! sessions connected to it ([`router`], [`session`]); a persistent session is its
//! subscriptions and cursors in meta ([`batch`], `crate::meta::mqtt`), so it resumes on any
//! broker from where it was. Each client connection runs the sans-IO session machine of
//! `keel_protocols::mqtt::session` ([`connection`]).

pub mod appender;
pub mod batch;
mod close;
mod connect;
pub mod connection;
pub mod namespace;
mod publish;
mod qos2_in;
pub mod record;
pub mod router;
mod run;
pub mod session;
mod subscribe;
pub mod tail;
pub mod takeover;
pub mod trie;

pub use run::{MqttBroker, MqttParts};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use self::appender::Appender;
use self::batch::MetaBatcher;
use self::router::Router;
use self::session::Token;
use self::tail::Tailer;
use crate::client::DataClient;
use crate::config::{BrokerSection, MqttSection};
use crate::meta::client::MetaClient;
use crate::meta::records::NodeId;
use crate::meta::view::ViewHandle;

/// Counters of the MQTT front-end (exported as metrics and `$SYS` topics).
#[derive(Debug, Default)]
pub struct MqttStats {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bad_records: AtomicU64,
    pub overflows: AtomicU64,
    pub shared_dropped: AtomicU64,
    pub protocol_errors: AtomicU64,
}

/// What every connection and task of the MQTT front-end shares.
pub struct Core {
    pub node: NodeId,
    pub broker: BrokerSection,
    pub mqtt: MqttSection,
    pub meta: MetaClient,
    pub view: ViewHandle,
    pub data: DataClient,
    /// Shards of the namespace log.
    pub shards: u32,
    pub appender: Appender,
    pub batcher: MetaBatcher,
    pub tailers: Vec<Arc<Tailer>>,
    router: RwLock<Router>,
    next_key: AtomicU64,
    pub stats: MqttStats,
    /// The node's metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Connected clients' control channels (takeovers, shutdown).
    pub controls: takeover::Controls,
    pub auth: crate::broker::auth::Authenticator,
    /// When this front-end started (wall ms).
    pub started_ms: u64,
    /// TEST ONLY (simulation's planted bug): acknowledge QoS 1/2 publishes before the log has.
    pub unsafe_ack_before_append: bool,
}

impl Core {
    pub fn router(&self) -> RwLockReadGuard<'_, Router> {
        self.router.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn router_mut(&self) -> RwLockWriteGuard<'_, Router> {
        self.router.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A new local session key.
    pub fn new_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// Every tailer's position, by shard.
    pub fn tails(&self) -> Vec<u64> {
        self.tailers.iter().map(|t| t.pos()).collect()
    }

    /// Whether this broker delivers the message at `token` to shared subscription `key`: the
    /// brokers with members of it (as meta has them) take messages in turn by offset. Before
    /// meta lists this broker (its membership is on its way), it delivers only if no broker is
    /// listed.
    pub fn delivers_shared(&self, key: &str, token: Token) -> bool {
        let view = self.view.current();
        let brokers: Vec<NodeId> = match view.shared.get(key) {
            Some(b) => b.keys().copied().filter(|id| view.nodes.get(id).is_none_or(|n| n.alive)).collect(),
            None => Vec::new(),
        };
        if brokers.is_empty() {
            return true;
        }
        let i = (token.offset.wrapping_mul(31).wrapping_add(u64::from(token.shard))) as usize % brokers.len();
        brokers[i] == self.node
    }

    /// The local sessions by client id (for takeovers and the admin API).
    pub fn session_keys(&self) -> BTreeMap<String, u64> {
        self.router().sessions().map(|s| (s.client_id.clone(), s.key)).collect()
    }
}
