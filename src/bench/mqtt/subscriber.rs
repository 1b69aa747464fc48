//! One subscribing client: subscribes, says it is ready, then reads until told to stop,
//! decoding every read in a loop. Each message is checked against its publisher's sequence
//! (lost, duplicate, out of order) and, once measuring has started, timed end to end. QoS 1
//! is answered with PUBACK, QoS 2 with PUBREC and then PUBCOMP on PUBREL, one write per read.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use keel_protocols::mqtt::{Connect, Packet, PubComp, Publish, QoS};
use keel_rt::time;
use tokio::sync::{mpsc, watch};

use super::histogram::Histogram;
use super::live::{Live, SubscriberLive};
use super::payload::Stamp;
use super::tracker::{Arrival, Tracker};
use super::wire::Wire;

/// Free read buffer space before each read, in bytes.
const READ_CHUNK: usize = 256 * 1024;

/// What one subscriber is to do.
pub struct SubscriberSpec {
    pub index: u32,
    pub addr: String,
    pub connect: Connect,
    pub filter: String,
    pub qos: QoS,
    pub publishers: u32,
    pub ping_every: Duration,
    pub live: Arc<Live>,
    /// Where the outcome of subscribing goes.
    pub ready: mpsc::Sender<Result<(), String>>,
    /// Becomes true when the run is over.
    pub stop: watch::Receiver<bool>,
}

/// What one subscriber received.
pub struct SubscriberResult {
    pub tracker: Tracker,
    /// PUBLISHes received, duplicates included.
    pub received: u64,
    /// PUBLISHes not from this run (another run's, or not a bench payload).
    pub foreign: u64,
    pub error: Option<String>,
}

struct Subscriber {
    live: Arc<Live>,
    mine: Arc<SubscriberLive>,
    result: SubscriberResult,
}

/// Runs one subscriber until told to stop (or its connection fails).
pub async fn run(mut spec: SubscriberSpec) -> SubscriberResult {
    let result = SubscriberResult { tracker: Tracker::new(spec.publishers), received: 0, foreign: 0, error: None };
    let mine = spec.live.subscribers[spec.index as usize].clone();
    let mut s = Subscriber { live: spec.live.clone(), mine, result };
    if let Err(e) = s.subscribe_and_read(&mut spec).await {
        s.result.error = Some(format!("subscriber {}: {e}", spec.index));
    }
    s.result
}

impl Subscriber {
    async fn subscribe_and_read(&mut self, spec: &mut SubscriberSpec) -> Result<(), String> {
        let opened = async {
            let (mut wire, _) = Wire::open(&spec.addr, &spec.connect, READ_CHUNK).await?;
            wire.subscribe(1, &spec.filter, spec.qos).await?;
            Ok::<_, String>(wire)
        }
        .await;
        let _ = spec.ready.send(opened.as_ref().map(drop).map_err(Clone::clone)).await;
        let mut wire = opened?;
        while !*spec.stop.borrow() {
            let ping_at = wire.ping_at(spec.ping_every);
            tokio::select! {
                read = wire.fill() => {
                    read?;
                    self.on_packets(&mut wire)?;
                }
                _ = spec.stop.changed() => break,
                _ = time::sleep_until(ping_at) => {
                    wire.ping_if_due(time::now(), spec.ping_every)?;
                }
            }
            wire.flush().await?;
        }
        wire.disconnect().await;
        Ok(())
    }

    /// Handles every packet read, queueing the acknowledgements.
    fn on_packets(&mut self, wire: &mut Wire) -> Result<(), String> {
        let now_ns = self.live.clock.now_ns();
        let measure_from = self.live.measure_from();
        let mut counts = Counts::default();
        let mine = self.mine.clone();
        let mut latency = mine.latency_mut();
        while let Some(packet) = wire.decode()? {
            match packet {
                Packet::Publish(publish) => {
                    wire.acknowledge(&publish)?;
                    self.on_message(&publish, now_ns, measure_from, &mut latency, &mut counts);
                }
                Packet::PubRel(rel) => wire.queue(&Packet::PubComp(PubComp::new(rel.packet_id)))?,
                Packet::PingResp => {}
                Packet::Disconnect(d) => return Err(format!("the broker disconnected: {:?}", d.reason)),
                other => return Err(format!("unexpected packet {other:?}")),
            }
        }
        drop(latency);
        self.live.received.fetch_add(counts.received, Ordering::Relaxed);
        mine.fresh.fetch_add(counts.fresh, Ordering::Relaxed);
        if counts.measured > 0 {
            mine.measured.fetch_add(counts.measured, Ordering::Relaxed);
            mine.last_measured_ns.fetch_max(now_ns, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Checks one message against its publisher's sequence and times it.
    fn on_message(&mut self, p: &Publish, now_ns: u64, measure_from: u64, latency: &mut Histogram, c: &mut Counts) {
        self.result.received += 1;
        c.received += 1;
        let stamp = Stamp::read(&p.payload).filter(|s| s.run == self.live.clock.run);
        let arrival = stamp.and_then(|s| self.result.tracker.record(s.publisher, s.seq).map(|a| (s, a)));
        match arrival {
            None => self.result.foreign += 1,
            Some((_, Arrival::Duplicate)) => {}
            Some((stamp, _)) => {
                c.fresh += 1;
                if stamp.sent_ns >= measure_from {
                    latency.record(now_ns.saturating_sub(stamp.sent_ns));
                    c.measured += 1;
                }
            }
        }
    }
}

/// What one read brought.
#[derive(Default)]
struct Counts {
    received: u64,
    fresh: u64,
    measured: u64,
}
