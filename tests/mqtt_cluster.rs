//! MQTT across a three-node cluster of real `keel` processes (every node meta, storage and
//! broker), with an unmodified client library (rumqttc): a persistent-session subscriber on
//! node 1 receives what a publisher sends through node 2, node 1 is SIGKILLed mid-stream, the
//! subscriber resumes its session on node 3 and still receives every message node 2
//! acknowledged.
#![cfg(not(madsim))]
// The harness drives real processes and sockets from outside any node: the seam is not in play.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS};

const TOPIC: &str = "cluster/stream";
/// Messages the publisher sends in all, and after how many acknowledged ones node 1 dies.
const MESSAGES: usize = 200;
const KILL_AFTER: usize = 60;

fn options(id: &str, port: u16, clean: bool) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_clean_session(clean);
    o.set_keep_alive(Duration::from_secs(5));
    o
}

/// Polls until the connection is up (CONNACK: whether the session was present) or fails.
async fn connected(events: &mut EventLoop) -> Result<bool, ConnectionError> {
    loop {
        if let Event::Incoming(Packet::ConnAck(a)) = events.poll().await? {
            return Ok(a.session_present);
        }
    }
}

/// Publishes one QoS 1 message and waits for its PUBACK (bounded).
async fn publish(client: &AsyncClient, events: &mut EventLoop, payload: String) -> bool {
    if client.publish(TOPIC, QoS::AtLeastOnce, false, payload.into_bytes()).await.is_err() {
        return false;
    }
    let acked = async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), acked).await.unwrap_or(false)
}

/// Whether a broker serves: a QoS 1 publish is acknowledged.
async fn serving(port: u16) -> bool {
    let (client, mut events) = AsyncClient::new(options(&format!("probe-{port}"), port, true), 10);
    matches!(tokio::time::timeout(Duration::from_secs(5), connected(&mut events)).await, Ok(Ok(_)))
        && publish(&client, &mut events, "probe".into()).await
}

/// What the subscriber saw: payloads, and whether each (re)connection found its session.
#[derive(Default)]
struct Seen {
    payloads: BTreeSet<String>,
    session_present: Vec<bool>,
}

/// The subscriber: subscribes once (persistent session), then receives; when its broker goes
/// away it moves to the next port in `ports`.
async fn subscriber(ports: Vec<u16>, seen: Arc<Mutex<Seen>>, subscribed: tokio::sync::oneshot::Sender<()>) {
    let mut subscribed = Some(subscribed);
    for port in ports.iter().cycle().take(20) {
        let (client, mut events) = AsyncClient::new(options("cluster-sub", *port, false), 100);
        let Ok(Ok(present)) = tokio::time::timeout(Duration::from_secs(10), connected(&mut events)).await else {
            continue;
        };
        seen.lock().unwrap().session_present.push(present);
        if let Some(done) = subscribed.take() {
            client.subscribe(TOPIC, QoS::AtLeastOnce).await.unwrap();
            loop {
                if let Ok(Event::Incoming(Packet::SubAck(_))) = events.poll().await {
                    break;
                }
            }
            let _ = done.send(());
        }
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    seen.lock().unwrap().payloads.insert(String::from_utf8_lossy(&p.payload).into_owned());
                }
                Ok(_) => {}
                Err(_) => break, // its broker is gone: on to the next
            }
        }
    }
}

#[test]
fn a_persistent_subscriber_keeps_every_acknowledged_message_when_its_broker_is_killed() {
    let dir = temp_dir("mqtt-cluster");
    let rpc: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let admin: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mqtt: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peers: String = (0..3).map(|i| format!("{} = \"127.0.0.1:{}\"\n", i + 1, rpc[i])).collect();
    let mut procs: Vec<Option<Proc>> = (0..3)
        .map(|i| {
            let (config, d) = node_config(&dir, i as u64 + 1, rpc[i], admin[i], Some(mqtt[i]), &peers);
            Some(start(&config, &d, admin[i]))
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for port in &mqtt {
        wait_for("every broker serving MQTT", Duration::from_secs(60), || rt.block_on(serving(*port)).then_some(()));
    }

    let seen = Arc::new(Mutex::new(Seen::default()));
    let (subscribed, ready) = tokio::sync::oneshot::channel();
    rt.spawn(subscriber(vec![mqtt[0], mqtt[2]], seen.clone(), subscribed));
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), ready).await }).unwrap().unwrap();

    let acked: Vec<String> = rt.block_on(async {
        let mut acked = Vec::new();
        let mut publisher: Option<(AsyncClient, EventLoop)> = None;
        // Bounded: a cluster that stops acknowledging fails the test below, not hangs it.
        let give_up = std::time::Instant::now() + Duration::from_secs(120);
        for i in 0..MESSAGES {
            if std::time::Instant::now() > give_up {
                break;
            }
            if acked.len() == KILL_AFTER && procs[0].is_some() {
                procs[0] = None; // SIGKILL node 1, the subscriber's broker (and a meta node)
            }
            let payload = format!("m{i}");
            for attempt in 0..20 {
                let (client, events) = match publisher.as_mut() {
                    Some(p) => (&p.0, &mut p.1),
                    None => {
                        let port = if attempt % 2 == 0 { mqtt[1] } else { mqtt[2] };
                        let (c, mut e) =
                            AsyncClient::new(options(&format!("cluster-pub-{i}-{attempt}"), port, true), 10);
                        if !matches!(tokio::time::timeout(Duration::from_secs(5), connected(&mut e)).await, Ok(Ok(_))) {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                        publisher = Some((c, e));
                        let p = publisher.as_mut().unwrap();
                        (&p.0, &mut p.1)
                    }
                };
                if publish(client, events, payload.clone()).await {
                    acked.push(payload.clone());
                    break;
                }
                publisher = None; // outcome unknown: the next attempt publishes it again
            }
        }
        acked
    });
    assert!(acked.len() >= MESSAGES * 9 / 10, "only {} of {MESSAGES} publishes acknowledged", acked.len());

    let missing = || {
        let s = seen.lock().unwrap();
        acked.iter().filter(|p| !s.payloads.contains(*p)).cloned().collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !missing().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let missing = missing();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages never arrived, e.g. {:?}",
        missing.len(),
        &missing[..3.min(missing.len())]
    );
    let present = seen.lock().unwrap().session_present.clone();
    assert!(present.len() >= 2, "the subscriber never reconnected: {present:?}");
    assert!(present[1..].iter().all(|p| *p), "the session was not present after the broker died: {present:?}");
    the_cli_shows_the_resumed_session(&format!("http://127.0.0.1:{}", admin[1]));
    drop(procs);
}

/// `keel mqtt clients|sessions|subscriptions` through node 2's admin API show the subscriber's
/// session served by node 3, where it resumed, with its subscription.
fn the_cli_shows_the_resumed_session(admin: &str) {
    let (ok, out, err) = cli(admin, &["mqtt", "sessions", "-o", "json"]);
    assert!(ok, "keel mqtt sessions: {err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sub = list["sessions"].as_array().unwrap().iter().find(|s| s["client_id"] == "cluster-sub").cloned();
    let sub = sub.unwrap_or_else(|| panic!("no session cluster-sub in {out}"));
    assert_eq!((sub["owner"].as_u64(), &sub["subscriptions"][TOPIC]), (Some(3), &serde_json::json!(1)), "{sub}");
    let (ok, out, err) = cli(admin, &["mqtt", "clients"]);
    assert!(ok, "keel mqtt clients: {err}");
    let row = out.lines().find(|l| l.starts_with("cluster-sub ")).unwrap_or_else(|| panic!("no row in {out}"));
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["cluster-sub", "3", "1", "no"], "{out}");
    let (ok, out, err) = cli(admin, &["mqtt", "subscriptions", "--client", "cluster-sub"]);
    assert!(ok, "keel mqtt subscriptions: {err}");
    assert_eq!(out, format!("CLIENT ID    FILTER          QOS\ncluster-sub  {TOPIC}  1\n"));
}
