//! The end of a connection: its session leaves the router, and then either hands its final
//! state to the connection that took it over, or tells meta it is disconnected (with its final
//! cursors, so a later resume misses nothing and repeats little) and deals with its will: an
//! unclean end publishes it now or, with a Will Delay, when the delay (or the session) ends,
//! unless the client came back meanwhile (meta fences the old generation's will).

use std::sync::Arc;
use std::time::Duration;

use keel_rt::{task, time};

use super::connection::{Conn, Endpoint};
use super::publish;
use super::takeover::{Control, Released};
use super::Core;
use crate::meta::mqtt::{MqttOp, MqttResult};

/// How long a closing connection waits for meta to record its disconnect.
const DISCONNECT_WAIT: Duration = Duration::from_secs(5);

impl Conn {
    /// An order from outside the connection.
    pub(super) async fn control(&mut self, c: Control) {
        match c {
            Control::TakeOver(reply) => {
                self.takeover_reply = Some(reply);
                Box::pin(self.event(keel_protocols::mqtt::session::Event::TakenOver)).await;
            }
            Control::Shutdown => Box::pin(self.event(keel_protocols::mqtt::session::Event::ShuttingDown)).await,
        }
    }

    /// Ends the session's life on this connection.
    pub(super) async fn finish(&mut self, publish_will: bool, session_expiry_s: Option<u32>) {
        self.closed = true;
        let Some(ep) = self.ep.take() else { return };
        ep.session.stop();
        let filters: Vec<String> = ep.session.state().subscriptions.keys().cloned().collect();
        self.core.router_mut().remove_session(&ep.session, &filters, &ep.shared);
        for (group, filter) in &ep.shared {
            self.shared_members_changed(group, filter);
        }
        self.core.controls.unregister(&ep.client_id, ep.session.key);
        let cursors = ep.session.cursors(&self.core.tails());
        if let Some(reply) = self.takeover_reply.take() {
            let _ = reply.send(Released { cursors });
            return;
        }
        let expiry_s = session_expiry_s.unwrap_or(ep.expiry_s);
        let keep_will = match (&ep.will, publish_will) {
            (Some(will), true) => {
                let delay_s = will.delay_s.min(expiry_s);
                if delay_s == 0 {
                    // In the log before meta forgets it: if this broker dies first, or the
                    // append fails, meta keeps it due and the sweep publishes it.
                    !publish::publish_will(self.core.clone(), will.clone()).await
                } else {
                    task::spawn(will_after(self.core.clone(), &ep, delay_s));
                    true
                }
            }
            _ => false,
        };
        let batcher = self.core.batcher.clone();
        let progress = ep.session.persistent.then(|| MqttOp::Progress {
            client_id: ep.client_id.clone(),
            generation: ep.generation,
            cursors,
            qos2_out: vec![],
            qos2_in: vec![],
        });
        let disconnect = MqttOp::Disconnect {
            client_id: ep.client_id.clone(),
            generation: ep.generation,
            now_ms: time::wall_ms(),
            expiry_s: session_expiry_s,
            keep_will,
        };
        // In this order in the batcher's queue: the final cursors, then the disconnect. The
        // connection closes only once meta has the disconnect: a client that saw its clean
        // DISCONNECT through never has its will published by a later sweep.
        if let Some(p) = progress {
            batcher.submit(p).await;
        }
        let recording = task::spawn(record_disconnect(batcher, disconnect));
        if time::timeout(DISCONNECT_WAIT, recording).await.is_err() {
            tracing::debug!(client = %ep.client_id, "meta has not recorded the disconnect yet; it keeps trying");
        }
        tracing::debug!(client = %ep.client_id, publish_will, keep_will, "MQTT session left this broker");
    }
}

/// Records a disconnect in meta, retried (a lost batch loses its ops) until meta answers, for
/// up to `RECORD_FOR`: until then a crash of this broker would have the session's will
/// published by the sweep.
async fn record_disconnect(batcher: super::batch::MetaBatcher, op: MqttOp) {
    let deadline = time::now() + RECORD_FOR;
    while time::now() < deadline {
        match batcher.apply(op.clone()).await {
            Ok(_) => return,
            Err(e) => tracing::debug!(error = %e, "recording a disconnect; will retry"),
        }
        time::sleep(Duration::from_millis(500)).await;
    }
}

/// How long a disconnect is retried.
const RECORD_FOR: Duration = Duration::from_secs(300);

/// Publishes a delayed will once its delay ends, unless the session was claimed again.
fn will_after(core: Arc<Core>, ep: &Endpoint, delay_s: u32) -> impl std::future::Future<Output = ()> + Send + 'static {
    let (client_id, generation) = (ep.client_id.clone(), ep.generation);
    async move {
        time::sleep(Duration::from_secs(u64::from(delay_s))).await;
        let op = MqttOp::LeaseWill { client_id, generation, now_ms: time::wall_ms() };
        match core.batcher.apply(op).await {
            Ok(MqttResult::Wills(wills)) => {
                for due in wills {
                    publish::publish_due_will(core.clone(), due).await;
                }
            }
            // Claimed again (no will) or meta unreachable: the sweep publishes a will still due.
            other => tracing::debug!(?other, "delayed will not taken"),
        }
    }
}
