//! A minimal MQTT client for the simulation, on Keel's own codec (`keel_protocols::mqtt`): it
//! connects, publishes (waiting for the QoS 1/2 acknowledgements), subscribes, and receives,
//! answering QoS 1 and 2 deliveries as a real client does: QoS 2 messages are handed to the
//! application once per packet id until the broker releases it (the id set survives reconnects,
//! like a client's persistent session state).

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use keel_protocols::mqtt::{
    self, Connect, ConnectProperties, Packet, PubAck, PubComp, PubRec, PubRel, Publish, QoS, ReasonCode, Subscribe,
    SubscriptionOptions, Version, Will,
};
use keel_rt::net::TcpStream;
use keel_rt::time;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest packet the client accepts.
const PACKET_BYTES_MAX: usize = 1024 * 1024;

/// A connection to a broker.
pub struct MqttConn {
    stream: TcpStream,
    inbuf: BytesMut,
    next_packet_id: u16,
    pub session_present: bool,
}

/// What the client's connection is opened with.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub client_id: String,
    pub clean_start: bool,
    pub session_expiry_s: u32,
    pub will: Option<Will>,
    pub keep_alive_s: u16,
}

/// A message handed to the application.
#[derive(Clone, Debug)]
pub struct Received {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
}

impl ConnectOptions {
    /// A clean-start connection without a will, keep-alive 10 s.
    pub fn clean(client_id: String) -> Self {
        ConnectOptions { client_id, clean_start: true, session_expiry_s: 0, will: None, keep_alive_s: 10 }
    }
}

impl MqttConn {
    /// Connects (MQTT 5) and waits for a successful CONNACK.
    pub async fn connect(addr: &str, opts: &ConnectOptions, timeout: Duration) -> Result<MqttConn, String> {
        let go = async {
            let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
            let mut c = MqttConn { stream, inbuf: BytesMut::new(), next_packet_id: 1, session_present: false };
            let connect = Connect {
                version: Version::V5,
                client_id: opts.client_id.clone(),
                clean_start: opts.clean_start,
                keep_alive_s: opts.keep_alive_s,
                username: None,
                password: None,
                will: opts.will.clone(),
                properties: ConnectProperties {
                    session_expiry_interval_s: Some(opts.session_expiry_s),
                    ..Default::default()
                },
            };
            c.send(&Packet::Connect(connect)).await?;
            match c.recv().await? {
                Packet::ConnAck(a) if a.reason == ReasonCode::Success => {
                    c.session_present = a.session_present;
                    Ok(c)
                }
                other => Err(format!("connect refused: {other:?}")),
            }
        };
        time::timeout(timeout, go).await.map_err(|_| "connect timed out".to_string())?
    }

    pub async fn send(&mut self, p: &Packet) -> Result<(), String> {
        let mut out = BytesMut::new();
        mqtt::write(p, Version::V5, &mut out).map_err(|e| e.to_string())?;
        self.stream.write_all(&out).await.map_err(|e| e.to_string())?;
        self.stream.flush().await.map_err(|e| e.to_string())
    }

    /// The next packet from the broker.
    pub async fn recv(&mut self) -> Result<Packet, String> {
        loop {
            if let Some(p) = mqtt::read(&mut self.inbuf, Version::V5, PACKET_BYTES_MAX).map_err(|e| e.to_string())? {
                return Ok(p);
            }
            self.inbuf.reserve(8 * 1024);
            match self.stream.read_buf(&mut self.inbuf).await {
                Ok(0) => return Err("closed by the broker".into()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn packet_id(&mut self) -> u16 {
        let id = self.next_packet_id;
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        id
    }

    /// Publishes and, for QoS 1/2, waits for the flow to complete. `Ok(true)`: acknowledged
    /// with success; `Ok(false)`: refused by the broker.
    pub async fn publish(&mut self, topic: &str, payload: Bytes, qos: QoS, retain: bool) -> Result<bool, String> {
        let packet_id = (qos != QoS::AtMostOnce).then(|| self.packet_id());
        let p = Publish {
            dup: false,
            qos,
            retain,
            topic: topic.into(),
            packet_id,
            properties: Default::default(),
            payload,
        };
        self.send(&Packet::Publish(p)).await?;
        let Some(id) = packet_id else { return Ok(true) };
        loop {
            match self.recv().await? {
                Packet::PubAck(a) if a.packet_id == id => return Ok(!a.reason.is_error()),
                Packet::PubRec(r) if r.packet_id == id => {
                    if r.reason.is_error() {
                        return Ok(false);
                    }
                    self.send(&Packet::PubRel(PubRel::new(id))).await?;
                }
                Packet::PubComp(c) if c.packet_id == id => return Ok(!c.reason.is_error()),
                Packet::Disconnect(d) => return Err(format!("disconnected: {:?}", d.reason)),
                _ => {}
            }
        }
    }

    /// Subscribes to one filter; the granted reason.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<ReasonCode, String> {
        let id = self.packet_id();
        let opts = SubscriptionOptions { qos, ..Default::default() };
        let s = Subscribe { packet_id: id, filters: vec![(filter.into(), opts)], properties: Default::default() };
        self.send(&Packet::Subscribe(s)).await?;
        loop {
            match self.recv().await? {
                Packet::SubAck(a) if a.packet_id == id => {
                    return a.reasons.first().copied().ok_or_else(|| "empty SUBACK".to_string())
                }
                Packet::Disconnect(d) => return Err(format!("disconnected: {:?}", d.reason)),
                _ => {}
            }
        }
    }

    /// Receives the next message for the application, answering the flows on the way.
    /// `qos2_pending` is the client's set of QoS 2 ids received but not released.
    pub async fn next_message(&mut self, qos2_pending: &mut BTreeSet<u16>) -> Result<Received, String> {
        loop {
            match self.recv().await? {
                Packet::Publish(p) => {
                    let received = Received { topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain };
                    match (p.qos, p.packet_id) {
                        (QoS::AtMostOnce, _) | (_, None) => return Ok(received),
                        // The application gets the message even if the acknowledgement cannot be
                        // sent (the connection's failure shows on the next call): once its id is
                        // held, a QoS 2 message's retransmissions are duplicates.
                        (QoS::AtLeastOnce, Some(id)) => {
                            let _ = self.send(&Packet::PubAck(PubAck::new(id))).await;
                            return Ok(received);
                        }
                        (QoS::ExactlyOnce, Some(id)) => {
                            let first = qos2_pending.insert(id);
                            let sent = self.send(&Packet::PubRec(PubRec::new(id))).await;
                            if first {
                                return Ok(received);
                            }
                            sent?;
                        }
                    }
                }
                Packet::PubRel(r) => {
                    qos2_pending.remove(&r.packet_id);
                    self.send(&Packet::PubComp(PubComp::new(r.packet_id))).await?;
                }
                Packet::Disconnect(d) => return Err(format!("disconnected: {:?}", d.reason)),
                _ => {}
            }
        }
    }

    /// A clean DISCONNECT; waits (bounded) for the broker to close the connection, so the
    /// caller knows the broker took it. `true` if it did.
    pub async fn disconnect(mut self) -> bool {
        if self.send(&Packet::Disconnect(Default::default())).await.is_err() {
            return false;
        }
        let closed = async {
            let mut buf = [0u8; 64];
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        time::timeout(Duration::from_secs(5), closed).await.is_ok()
    }
}
