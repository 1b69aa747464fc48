//! The bench end to end against a toy broker on loopback (one topic space, every subscriber
//! gets every PUBLISH, QoS 1 and 2 flows both ways): what the publishers send, the
//! subscribers count, whatever the QoS; connecting runs connect everyone.

use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use clap::Parser;
use keel_protocols::mqtt::{self, ConnAck, Packet, PubAck, PubComp, PubRec, PubRel, QoS, ReasonCode, SubAck, Version};
use keel_rt::net::{TcpListener, TcpStream};
use keel_rt::task;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::options::{Options, Plan};
use super::{connections, throughput};

type Subscribers = Arc<Mutex<Vec<mpsc::UnboundedSender<mqtt::Publish>>>>;

/// Starts the toy broker; its port.
async fn toy_broker() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let subscribers = Subscribers::default();
    task::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            task::spawn(serve(stream, subscribers.clone()));
        }
    });
    port
}

/// One client of the toy broker, until it disconnects.
async fn serve(mut stream: TcpStream, subscribers: Subscribers) {
    let (mut input, mut out, mut version) = (BytesMut::new(), BytesMut::new(), Version::V311);
    let (deliver, mut deliveries) = mpsc::unbounded_channel::<mqtt::Publish>();
    let mut next_id = 0u16;
    loop {
        while let Ok(Some(packet)) = mqtt::read(&mut input, version, 1 << 20) {
            let reply = match packet {
                Packet::Connect(c) => {
                    version = c.version;
                    let ack =
                        ConnAck { session_present: false, reason: ReasonCode::Success, properties: Default::default() };
                    Packet::ConnAck(ack)
                }
                Packet::Subscribe(s) => {
                    subscribers.lock().unwrap().push(deliver.clone());
                    let reasons = s.filters.iter().map(|(_, o)| ReasonCode::try_from(o.qos as u8).unwrap()).collect();
                    Packet::SubAck(SubAck { packet_id: s.packet_id, reasons, properties: Default::default() })
                }
                Packet::Publish(p) => {
                    subscribers.lock().unwrap().iter().for_each(|s| drop(s.send(p.clone())));
                    match (p.qos, p.packet_id) {
                        (QoS::AtLeastOnce, Some(id)) => Packet::PubAck(PubAck::new(id)),
                        (QoS::ExactlyOnce, Some(id)) => Packet::PubRec(PubRec::new(id)),
                        _ => continue,
                    }
                }
                Packet::PubRel(r) => Packet::PubComp(PubComp::new(r.packet_id)),
                Packet::PubRec(r) => Packet::PubRel(PubRel::new(r.packet_id)),
                Packet::PingReq => Packet::PingResp,
                Packet::Disconnect(_) => return,
                _ => continue,
            };
            mqtt::write(&reply, version, &mut out).unwrap();
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
        tokio::select! {
            read = stream.read_buf(&mut input) => if !matches!(read, Ok(n) if n > 0) { return },
            Some(mut p) = deliveries.recv() => {
                if p.qos != QoS::AtMostOnce {
                    next_id = next_id.checked_add(1).unwrap_or(1);
                    p.packet_id = Some(next_id);
                }
                mqtt::write(&Packet::Publish(p), version, &mut out).unwrap();
            }
        }
    }
}

fn plan(port: u16, args: &str) -> Plan {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: Options,
    }
    let args = format!("bench --port {port} {args}");
    Cli::parse_from(args.split_whitespace()).opts.plan().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_once_at_every_qos() {
    let port = toy_broker().await;
    for (qos, version) in [(0, "3.1.1"), (1, "3.1.1"), (2, "5")] {
        let args = format!(
            "--qos {qos} --version {version} --count 3000 --publishers 2 --subscribers 2 --topic-prefix q{qos}"
        );
        let report = throughput::run(&plan(port, &args)).await.unwrap();
        assert_eq!((report.sent, report.expected), (6000, 12000), "QoS {qos}");
        assert_eq!(
            (report.received, report.lost, report.duplicates, report.out_of_order),
            (12000, 0, 0, 0),
            "QoS {qos}"
        );
        assert_eq!(report.latency.samples, 12000);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        if qos > 0 {
            assert_eq!(report.acked, 6000);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_connect_and_subscribe() {
    let port = toy_broker().await;
    let idle = connections::run(&plan(port, "--connections 50 --duration 1"), 50, false).await;
    assert_eq!((idle.connected, idle.failed, idle.dropped), (50, 0, 0), "{:?}", idle.errors);
    let persistent = connections::run(&plan(port, "--connections 20 --persistent"), 20, true).await;
    assert_eq!((persistent.connected, persistent.failed, persistent.connect_latency.samples), (20, 0, 20));
}
