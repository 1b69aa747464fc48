//! Keep-alive: the client must send something within one and a half keep-alive periods.

use super::{Command, Phase, Session};
use crate::mqtt::ReasonCode;

impl Session {
    /// The next `now_ms` at which a [`Tick`](super::Event::Tick) matters (the keep-alive
    /// deadline), if any: while connected with a keep-alive, the last packet's time plus 1.5
    /// times the keep-alive.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        if self.phase != Phase::Connected || self.peer.keep_alive_s == 0 {
            return None;
        }
        Some(self.last_packet_ms.saturating_add(u64::from(self.peer.keep_alive_s) * 1_500))
    }

    /// Time passed: past the deadline, the connection is closed as if the network had failed
    /// [MQTT-3.1.2-22] (3.1.1 [MQTT-3.1.2-24]); a v5 client is told why (0x8D).
    pub(super) fn tick(&mut self, now_ms: u64, out: &mut Vec<Command>) {
        if self.next_deadline_ms().is_some_and(|deadline| now_ms >= deadline) {
            self.disconnect(ReasonCode::KeepAliveTimeout, None, true, out);
        }
    }
}
