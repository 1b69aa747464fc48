//! Session takeover: a CONNECT with a client id that is connected already — here or on another
//! broker — closes the old connection (MQTT 5: DISCONNECT 0x8E Session taken over
//! [MQTT-3.1.4-3]) and continues its session from where the old connection left it.
//!
//! The new connection claims the session in meta first (which fences the old generation); the
//! old connection is then told to close, here through its control channel, on another broker
//! through `broker.mqtt.release`, and answers with its final cursors (which it can no longer
//! commit itself). If the old broker does not answer (dead, partitioned), the cursors meta has
//! serve: at-least-once redelivers what came after them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_rt::time;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::broker::queue::Queue;

use super::Core;
use crate::meta::records::NodeId;

/// The RPC method of a takeover order from another broker.
pub const RELEASE: &str = "broker.mqtt.release";
/// How long a takeover waits for the old connection.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Orders to a connection from outside it.
pub enum Control {
    /// Another connection took the session: close, and send the final state here.
    TakeOver(oneshot::Sender<Released>),
    /// The broker is stopping.
    Shutdown,
}

/// What a taken-over connection hands to its successor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// Namespace shard → the offset below which its client was done.
    pub cursors: BTreeMap<u32, u64>,
}

/// The body of [`RELEASE`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub client_id: String,
}

/// A connection's key and inbox.
type Registered = (u64, Arc<Queue<Control>>);

/// The connected clients' control channels, by client id.
#[derive(Default)]
pub struct Controls {
    by_client: Mutex<BTreeMap<String, Registered>>,
}

impl Controls {
    /// Registers connection `key` of `client_id`; the receiver is the connection's.
    pub fn register(&self, client_id: &str, key: u64) -> Arc<Queue<Control>> {
        let inbox = Arc::new(Queue::unbounded());
        self.lock().insert(client_id.to_string(), (key, inbox.clone()));
        inbox
    }

    /// Removes connection `key`'s registration (not a successor's).
    pub fn unregister(&self, client_id: &str, key: u64) {
        let mut m = self.lock();
        if m.get(client_id).is_some_and(|(k, _)| *k == key) {
            m.remove(client_id);
        }
    }

    fn get(&self, client_id: &str) -> Option<Arc<Queue<Control>>> {
        self.lock().get(client_id).map(|(_, tx)| tx.clone())
    }

    /// Every connection's channel (for a shutdown).
    pub fn all(&self) -> Vec<Arc<Queue<Control>>> {
        self.lock().values().map(|(_, tx)| tx.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Registered>> {
        self.by_client.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Closes `client_id`'s connection on this broker, if it has one; its final state.
pub async fn local(core: &Core, client_id: &str) -> Option<Released> {
    let inbox = core.controls.get(client_id)?;
    let (reply, rx) = oneshot::channel();
    inbox.try_push(Control::TakeOver(reply)).ok()?;
    time::timeout(RELEASE_TIMEOUT, rx).await.ok()?.ok()
}

/// Asks broker `node` to close `client_id`'s connection; its final state, if it answered.
pub async fn remote(core: &Core, node: NodeId, client_id: &str) -> Option<Released> {
    let addr = core.view.current().nodes.get(&node)?.addr.clone();
    let req = ReleaseRequest { client_id: client_id.to_string() };
    let peers = core.meta.peers();
    let r: Result<Option<Released>, _> = peers.call_json(&addr, RELEASE, &req, RELEASE_TIMEOUT).await;
    match r {
        Ok(released) => released,
        Err(e) => {
            tracing::debug!(node, client = client_id, error = %e, "the previous broker did not release the session");
            None
        }
    }
}
