//! One publishing client: PUBLISHes in batches (one buffer, one write each) as fast as the
//! window, the pace and the socket allow, until its count or its deadline; then it waits for
//! what is still unacknowledged. QoS 1 frees an identifier on PUBACK; QoS 2 answers PUBREC
//! with PUBREL and frees it on PUBCOMP.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use keel_protocols::mqtt::{Connect, Packet, PubRel, QoS, ReasonCode};
use keel_rt::time::{self, Instant};

use super::live::Live;
use super::pacer::Pacer;
use super::payload::{Stamp, Template};
use super::window::Window;
use super::wire::Wire;

/// Bytes of PUBLISHes encoded before each write.
const BATCH_BYTES: usize = 64 * 1024;
/// Free read buffer space before each read, in bytes (acknowledgements are small).
const READ_CHUNK: usize = 16 * 1024;
/// How long a publisher waits, once done, for its last acknowledgements.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What one publisher is to do.
pub struct PublisherSpec {
    pub index: u32,
    pub addr: String,
    pub connect: Connect,
    pub topic: String,
    pub qos: QoS,
    pub payload_bytes: usize,
    /// Messages to send at most.
    pub count: u64,
    /// When to stop sending, whatever the count.
    pub stop_at: Instant,
    /// This publisher's messages per second (0: unpaced).
    pub rate: f64,
    pub inflight: u16,
    pub ping_every: Duration,
    pub live: Arc<Live>,
}

/// What one publisher did.
#[derive(Debug, Default)]
pub struct PublisherResult {
    /// PUBLISHes written.
    pub sent: u64,
    /// Of those, sent (paced: due) once measuring had started.
    pub measured: u64,
    /// When the last was written, ns since the run's start.
    pub last_sent_ns: u64,
    /// Acknowledged with success (QoS 1 and 2).
    pub acked: u64,
    /// Acknowledged with a failure reason (5.0).
    pub rejected: u64,
    /// Acknowledgements for identifiers not in flight.
    pub stray_acks: u64,
    pub error: Option<String>,
}

struct Publisher {
    spec: PublisherSpec,
    template: Template,
    window: Window,
    pacer: Pacer,
    batch_max: u64,
    result: PublisherResult,
}

/// Runs one publisher to its end.
pub async fn run(spec: PublisherSpec) -> PublisherResult {
    let template = match Template::new(&spec.topic, spec.qos, spec.payload_bytes, spec.connect.version) {
        Ok(t) => t,
        Err(e) => return PublisherResult { error: Some(e), ..PublisherResult::default() },
    };
    let batch_max = (BATCH_BYTES / template.len()).max(1) as u64;
    let (window, pacer) = (Window::new(spec.inflight), Pacer::new(time::now(), spec.rate));
    let mut p = Publisher { spec, template, window, pacer, batch_max, result: PublisherResult::default() };
    if let Err(e) = p.publish().await {
        p.result.error = Some(format!("publisher {}: {e}", p.spec.index));
    }
    p.result
}

impl Publisher {
    async fn publish(&mut self) -> Result<(), String> {
        let (mut wire, connack) = Wire::open(&self.spec.addr, &self.spec.connect, READ_CHUNK).await?;
        if let Some(receive_maximum) = connack.properties.receive_maximum {
            self.window.cap(receive_maximum);
        }
        self.pacer = Pacer::new(time::now(), self.spec.rate);
        self.send(&mut wire).await?;
        self.drain(&mut wire).await?;
        wire.disconnect().await;
        Ok(())
    }

    /// Sends until the count or the deadline.
    async fn send(&mut self, wire: &mut Wire) -> Result<(), String> {
        loop {
            let now = time::now();
            if self.result.sent >= self.spec.count || now >= self.spec.stop_at {
                return Ok(());
            }
            let n = self.sendable(now);
            if n == 0 {
                self.wait(wire).await?;
                continue;
            }
            self.send_batch(wire, n, now).await?;
            if self.spec.qos != QoS::AtMostOnce && wire.try_fill()? {
                self.on_packets(wire)?;
                wire.flush().await?;
            }
        }
    }

    /// How many messages the window, the pace, the count and the batch size allow now.
    fn sendable(&self, now: Instant) -> u64 {
        let room = match self.spec.qos {
            QoS::AtMostOnce => u64::MAX,
            _ => self.window.room() as u64,
        };
        let left = self.spec.count - self.result.sent;
        room.min(self.pacer.due(now, self.result.sent)).min(left).min(self.batch_max)
    }

    /// Encodes `n` messages into one buffer and writes it. A paced message is stamped with the
    /// time it was due, not the time it went out, so its latency includes any wait for the
    /// window (no coordinated omission); an unpaced one with `now`.
    async fn send_batch(&mut self, wire: &mut Wire, n: u64, now: Instant) -> Result<(), String> {
        let live = &self.spec.live;
        let (now_ns, measure_from) = (live.clock.ns(now), live.measure_from());
        for _ in 0..n {
            let packet_id = match self.spec.qos {
                QoS::AtMostOnce => None,
                _ => Some(self.window.take().ok_or("window overrun")?),
            };
            let seq = self.result.sent;
            let sent_ns = self.pacer.next_at(seq).map_or(now_ns, |due| live.clock.ns(due));
            let stamp = Stamp { run: live.clock.run, publisher: self.spec.index, seq, sent_ns };
            self.template.append(&mut wire.out, packet_id, &stamp);
            self.result.sent += 1;
            self.result.measured += u64::from(sent_ns >= measure_from);
        }
        wire.flush().await?;
        live.sent.fetch_add(n, Ordering::Relaxed);
        self.result.last_sent_ns = live.clock.now_ns();
        Ok(())
    }

    /// Waits for acknowledgements, the next message's turn, a ping or the deadline.
    async fn wait(&mut self, wire: &mut Wire) -> Result<(), String> {
        let ping_every = self.spec.ping_every;
        let mut wake = self.spec.stop_at.min(wire.ping_at(ping_every));
        if self.spec.qos == QoS::AtMostOnce || self.window.room() > 0 {
            if let Some(due) = self.pacer.next_at(self.result.sent) {
                wake = wake.min(due);
            }
        }
        tokio::select! {
            read = wire.fill() => {
                read?;
                self.on_packets(wire)?;
            }
            _ = time::sleep_until(wake) => {}
        }
        wire.ping_if_due(time::now(), ping_every)?;
        wire.flush().await
    }

    /// Waits for the acknowledgements still due, bounded by [`DRAIN_TIMEOUT`].
    async fn drain(&mut self, wire: &mut Wire) -> Result<(), String> {
        let deadline = time::now() + DRAIN_TIMEOUT;
        while self.window.in_flight() > 0 {
            let Ok(read) = time::timeout_at(deadline, wire.fill()).await else {
                let n = self.window.in_flight();
                return Err(format!("{n} PUBLISHes still unacknowledged {DRAIN_TIMEOUT:?} after the last"));
            };
            read?;
            self.on_packets(wire)?;
            wire.flush().await?;
        }
        Ok(())
    }

    /// Handles every packet read: acknowledgements free the window, PUBREC is answered.
    fn on_packets(&mut self, wire: &mut Wire) -> Result<(), String> {
        while let Some(packet) = wire.decode()? {
            match packet {
                Packet::PubAck(ack) => self.complete(ack.packet_id, ack.reason),
                Packet::PubRec(rec) if rec.reason.is_error() => self.complete(rec.packet_id, rec.reason),
                Packet::PubRec(rec) if self.window.holds(rec.packet_id) => {
                    wire.queue(&Packet::PubRel(PubRel::new(rec.packet_id)))?
                }
                Packet::PubRec(_) => self.result.stray_acks += 1,
                Packet::PubComp(comp) => self.complete(comp.packet_id, comp.reason),
                Packet::PingResp => {}
                Packet::Disconnect(d) => return Err(format!("the broker disconnected: {:?}", d.reason)),
                other => return Err(format!("unexpected packet {other:?}")),
            }
        }
        Ok(())
    }

    /// A QoS 1 or 2 flow ended for `packet_id`.
    fn complete(&mut self, packet_id: u16, reason: ReasonCode) {
        if !self.window.release(packet_id) {
            self.result.stray_acks += 1;
        } else if reason.is_error() {
            self.result.rejected += 1;
        } else {
            self.result.acked += 1;
        }
    }
}
