//! Connecting runs: many clients, each its own task, connecting (at most
//! `--connect-concurrency` at a time) and subscribing to a topic of its own.
//!
//! Idle clients (`--connections N`) then stay connected, pinging, for `--duration` seconds —
//! the broker's memory per connection is read meanwhile. Persistent sessions
//! (`--connections N --persistent`: clean session false, fixed client ids, session expiry an
//! hour in 5.0) subscribe at QoS 1 and disconnect at once, leaving their sessions behind: what
//! is measured is how many connect and subscribe per second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_protocols::mqtt::{Packet, QoS};
use keel_rt::task::{self, JoinHandle};
use keel_rt::time;
use tokio::sync::{watch, Semaphore};

use super::histogram::Histogram;
use super::live::Clock;
use super::options::Plan;
use super::progress::EVERY;
use super::report::{ConnectReport, Latency};
use super::wire::{connect_packet, Wire};

/// The longest all the clients may take to connect and subscribe.
const CONNECT_PHASE_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest the clients may take to disconnect at the end.
const CLOSE_PHASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Free read buffer space per idle client, in bytes (they only read SUBACK and PINGRESP).
const READ_CHUNK: usize = 256;
/// Errors kept for the report (the first ones).
const ERRORS_KEPT: usize = 5;

/// What the clients share.
struct Shared {
    plan: Plan,
    clock: Clock,
    persistent: bool,
    gate: Arc<Semaphore>,
    connected: AtomicU64,
    failed: AtomicU64,
    session_present: AtomicU64,
    dropped: AtomicU64,
    /// When the last client finished connecting (or failed), ns since the start.
    last_done_ns: AtomicU64,
    latency: Mutex<Histogram>,
    errors: Mutex<Vec<String>>,
}

impl Shared {
    fn done(&self) -> u64 {
        self.connected.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }

    /// A client could not connect or subscribe.
    fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.note(error);
    }

    /// Keeps `error` for the report, if there are few yet.
    fn note(&self, error: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.len() < ERRORS_KEPT {
            errors.push(error);
        }
    }
}

/// Connects `clients` clients and reports how fast; idle ones are then held for the duration.
pub async fn run(plan: &Plan, clients: u32, persistent: bool) -> ConnectReport {
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        clock: Clock::new(),
        persistent,
        gate: Arc::new(Semaphore::new(plan.opts.connect_concurrency as usize)),
        connected: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        session_present: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        last_done_ns: AtomicU64::new(0),
        latency: Mutex::new(Histogram::default()),
        errors: Mutex::new(Vec::new()),
    });
    let (stop, stopped) = watch::channel(false);
    let handles: Vec<JoinHandle<()>> =
        (0..clients).map(|n| task::spawn(client(shared.clone(), n, stopped.clone()))).collect();
    await_connected(&shared, u64::from(clients)).await;
    let connect_s = shared.last_done_ns.load(Ordering::Relaxed) as f64 / 1e9;
    let connected = shared.connected.load(Ordering::Relaxed);
    eprintln!("bench: connected {connected} of {clients} clients in {connect_s:.2} s");
    let held = time::now();
    if !persistent {
        hold(&shared, plan.duration).await;
    }
    let held_s = time::now().duration_since(held).as_secs_f64();
    let _ = stop.send(true);
    let deadline = time::now() + CLOSE_PHASE_TIMEOUT;
    for h in handles {
        let _ = time::timeout_at(deadline, h).await;
    }
    report(&shared, clients, connect_s, if persistent { 0.0 } else { held_s })
}

/// Waits until every client connected or failed, printing progress, bounded in time.
async fn await_connected(shared: &Shared, clients: u64) {
    const POLL: Duration = Duration::from_millis(10);
    let deadline = time::now() + CONNECT_PHASE_TIMEOUT;
    let (mut last, mut print_at) = (0, time::now() + EVERY);
    while shared.done() < clients && time::now() < deadline {
        time::sleep(POLL).await;
        if time::now() < print_at {
            continue;
        }
        print_at += EVERY;
        let connected = shared.connected.load(Ordering::Relaxed);
        eprintln!(
            "[{:>6.1}s] connected {connected}/{clients} ({}/s), failed {}",
            shared.clock.now_ns() as f64 / 1e9,
            connected - last,
            shared.failed.load(Ordering::Relaxed)
        );
        last = connected;
    }
}

/// Holds the idle clients for `duration`, printing how many are still connected.
async fn hold(shared: &Shared, duration: Duration) {
    let end = time::now() + duration;
    while time::now() < end {
        time::sleep(EVERY.min(end.saturating_duration_since(time::now()))).await;
        let up = shared.connected.load(Ordering::Relaxed) - shared.dropped.load(Ordering::Relaxed);
        eprintln!("[{:>6.1}s] holding {up} connections", shared.clock.now_ns() as f64 / 1e9);
    }
}

/// One client: connect and subscribe (through the gate), then disconnect or stay idle.
async fn client(shared: Arc<Shared>, n: u32, stop: watch::Receiver<bool>) {
    let Ok(permit) = shared.gate.clone().acquire_owned().await else { return };
    let started = time::now();
    let opened = open(&shared, n).await;
    drop(permit);
    let now = time::now();
    shared.last_done_ns.fetch_max(shared.clock.ns(now), Ordering::Relaxed);
    let wire = match opened {
        Ok(wire) => wire,
        Err(e) => return shared.fail(format!("client {n}: {e}")),
    };
    shared.latency.lock().unwrap_or_else(|p| p.into_inner()).record(now.duration_since(started).as_nanos() as u64);
    shared.connected.fetch_add(1, Ordering::Relaxed);
    if shared.persistent {
        return wire.disconnect().await;
    }
    if let Err(e) = idle(&shared, wire, stop).await {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        shared.note(format!("client {n} while idle: {e}"));
    }
}

/// Connects client `n` and subscribes it to its topic.
async fn open(shared: &Shared, n: u32) -> Result<Wire, String> {
    let (plan, persistent) = (&shared.plan, shared.persistent);
    let o = &plan.opts;
    let role = if persistent { "ps" } else { "idle" };
    let connect = connect_packet(plan.version, format!("{}-{role}-{n}", o.client_prefix), persistent, o.keep_alive);
    let (mut wire, connack) = Wire::open(&plan.addr(n), &connect, READ_CHUNK).await?;
    if connack.session_present {
        shared.session_present.fetch_add(1, Ordering::Relaxed);
    }
    let qos = if persistent { QoS::AtLeastOnce } else { plan.qos };
    wire.subscribe(1, &format!("{}/{role}/{n}", o.topic_prefix), qos).await?;
    Ok(wire)
}

/// Stays connected until told to stop, pinging when idle; an error if the broker closes.
async fn idle(shared: &Shared, mut wire: Wire, mut stop: watch::Receiver<bool>) -> Result<(), String> {
    let every = Duration::from_secs(u64::from(shared.plan.opts.keep_alive) / 2);
    while !*stop.borrow() {
        let ping_at = wire.ping_at(every);
        tokio::select! {
            _ = stop.changed() => break,
            read = wire.fill() => {
                read?;
                while let Some(packet) = wire.decode()? {
                    match packet {
                        Packet::Publish(p) => wire.acknowledge(&p)?,
                        Packet::Disconnect(d) => return Err(format!("the broker disconnected: {:?}", d.reason)),
                        _ => {}
                    }
                }
            }
            _ = time::sleep_until(ping_at) => wire.ping_if_due(time::now(), every)?,
        }
        wire.flush().await?;
    }
    wire.disconnect().await;
    Ok(())
}

fn report(shared: &Shared, clients: u32, connect_s: f64, held_s: f64) -> ConnectReport {
    let connected = shared.connected.load(Ordering::Relaxed);
    let latency = shared.latency.lock().unwrap_or_else(|p| p.into_inner()).clone();
    ConnectReport {
        mode: if shared.persistent { "persistent" } else { "connections" },
        broker: shared.plan.addr(0),
        version: shared.plan.version_name(),
        clients,
        connected,
        failed: shared.failed.load(Ordering::Relaxed),
        session_present: shared.session_present.load(Ordering::Relaxed),
        connect_s,
        connected_per_s: if connect_s > 0.0 { connected as f64 / connect_s } else { 0.0 },
        connect_latency: Latency::of(&latency),
        held_s,
        dropped: shared.dropped.load(Ordering::Relaxed),
        errors: shared.errors.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    }
}
