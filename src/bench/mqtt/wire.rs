//! One client connection: a socket, a read buffer decoded in place and a write buffer flushed
//! whole. Packets are Keel's codec's; the loops that use a `Wire` decide when to read and write.

use std::time::Duration;

use bytes::BytesMut;
use keel_protocols::mqtt::{
    self, ConnAck, Connect, Disconnect, Packet, QoS, ReasonCode, Subscribe, SubscribeProperties, SubscriptionOptions,
    Version,
};
use keel_rt::net::{self, TcpStream};
use keel_rt::time::{self, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest packet read, in bytes (the largest payload plus room for the headers).
const PACKET_BYTES_MAX: usize = 32 * 1024 * 1024;
/// The longest a connection may take to be accepted (TCP connect, CONNECT, CONNACK).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a SUBSCRIBE may wait for its SUBACK.
const SUBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected MQTT client's socket and buffers.
pub struct Wire {
    stream: TcpStream,
    pub version: Version,
    /// Bytes read and not yet decoded.
    input: BytesMut,
    /// Packets encoded and not yet written.
    pub out: BytesMut,
    /// Free space to have in `input` before each read, in bytes.
    read_chunk: usize,
    /// When bytes were last written (keep alive counts from there).
    last_write: Instant,
}

impl Wire {
    /// Connects to `addr`, sends `connect` and waits for a successful CONNACK. `read_chunk`
    /// sizes the reads: large for message traffic, small for many idle clients.
    pub async fn open(addr: &str, connect: &Connect, read_chunk: usize) -> Result<(Wire, ConnAck), String> {
        time::timeout(CONNECT_TIMEOUT, Wire::handshake(addr, connect, read_chunk))
            .await
            .map_err(|_| format!("{addr}: no CONNACK within {CONNECT_TIMEOUT:?}"))?
    }

    async fn handshake(addr: &str, connect: &Connect, read_chunk: usize) -> Result<(Wire, ConnAck), String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect to {addr}: {e}"))?;
        net::set_nodelay(&stream);
        let (input, out, last_write) = (BytesMut::new(), BytesMut::new(), time::now());
        let mut wire = Wire { stream, version: connect.version, input, out, read_chunk, last_write };
        wire.queue(&Packet::Connect(connect.clone()))?;
        wire.flush().await?;
        match wire.recv().await? {
            Packet::ConnAck(ack) if ack.reason == ReasonCode::Success => Ok((wire, ack)),
            Packet::ConnAck(ack) => Err(format!("CONNECT of {} refused: {:?}", connect.client_id, ack.reason)),
            other => Err(format!("expected CONNACK, got {other:?}")),
        }
    }

    /// Encodes `packet` into the write buffer.
    pub fn queue(&mut self, packet: &Packet) -> Result<(), String> {
        mqtt::write(packet, self.version, &mut self.out).map(drop).map_err(|e| format!("encoding: {e}"))
    }

    /// Writes the whole write buffer (waiting while the socket is full) and empties it.
    pub async fn flush(&mut self) -> Result<(), String> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.out).await.map_err(|e| format!("write: {e}"))?;
        self.out.clear();
        self.last_write = time::now();
        Ok(())
    }

    /// When a PINGREQ is due if nothing else is written: `every` after the last write.
    pub fn ping_at(&self, every: Duration) -> Instant {
        self.last_write + every
    }

    /// Queues a PINGREQ if one is due at `now`.
    pub fn ping_if_due(&mut self, now: Instant, every: Duration) -> Result<(), String> {
        if now >= self.ping_at(every) && self.out.is_empty() {
            self.queue(&Packet::PingReq)?;
        }
        Ok(())
    }

    /// Reads once, waiting for bytes; an error when the broker closed the connection.
    /// Cancel-safe: nothing is lost if the future is dropped before it completes.
    pub async fn fill(&mut self) -> Result<(), String> {
        self.input.reserve(self.read_chunk);
        match self.stream.read_buf(&mut self.input).await {
            Ok(0) => Err("the broker closed the connection".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Reads what the socket has without waiting; whether anything came.
    pub fn try_fill(&mut self) -> Result<bool, String> {
        self.input.reserve(self.read_chunk);
        match self.stream.try_read_buf(&mut self.input) {
            Ok(0) => Err("the broker closed the connection".into()),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// The next whole packet already read, if any.
    pub fn decode(&mut self) -> Result<Option<Packet>, String> {
        mqtt::read(&mut self.input, self.version, PACKET_BYTES_MAX).map_err(|e| format!("from the broker: {e}"))
    }

    /// The next packet, reading as needed.
    pub async fn recv(&mut self) -> Result<Packet, String> {
        loop {
            if let Some(packet) = self.decode()? {
                return Ok(packet);
            }
            self.fill().await?;
        }
    }

    /// Subscribes to `filter` at `qos` and waits for the SUBACK, which must grant it (QoS
    /// 1 and 2 PUBLISHes arriving meanwhile, from a resumed session, are acknowledged).
    pub async fn subscribe(&mut self, packet_id: u16, filter: &str, qos: QoS) -> Result<(), String> {
        let options = SubscriptionOptions { qos, ..SubscriptionOptions::default() };
        let filters = vec![(filter.to_string(), options)];
        self.queue(&Packet::Subscribe(Subscribe { packet_id, filters, properties: SubscribeProperties::default() }))?;
        self.flush().await?;
        let suback = time::timeout(SUBACK_TIMEOUT, async {
            loop {
                match self.recv().await? {
                    Packet::SubAck(suback) if suback.packet_id == packet_id => return Ok(suback),
                    Packet::Publish(p) => self.acknowledge(&p)?,
                    Packet::PubRel(rel) => self.queue(&Packet::PubComp(mqtt::PubComp::new(rel.packet_id)))?,
                    Packet::PingResp => {}
                    other => return Err(format!("waiting for SUBACK, got {other:?}")),
                }
            }
        })
        .await
        .map_err(|_| format!("SUBSCRIBE {filter}: no SUBACK within {SUBACK_TIMEOUT:?}"))??;
        self.flush().await?;
        match suback.reasons.first() {
            Some(r) if !r.is_error() => Ok(()),
            r => Err(format!("SUBSCRIBE {filter} refused: {r:?}")),
        }
    }

    /// Queues the acknowledgement a received PUBLISH needs (PUBACK or PUBREC), if any.
    pub fn acknowledge(&mut self, publish: &mqtt::Publish) -> Result<(), String> {
        match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => self.queue(&Packet::PubAck(mqtt::PubAck::new(id))),
            (QoS::ExactlyOnce, Some(id)) => self.queue(&Packet::PubRec(mqtt::PubRec::new(id))),
            _ => Ok(()),
        }
    }

    /// Sends DISCONNECT (normal) and closes, giving up after a short while.
    pub async fn disconnect(mut self) {
        const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
        let _ = time::timeout(CLOSE_TIMEOUT, async {
            if self.queue(&Packet::Disconnect(Disconnect::default())).is_ok() {
                let _ = self.flush().await;
            }
            let _ = self.stream.shutdown().await;
        })
        .await;
    }
}

/// A CONNECT for `client_id`: clean unless `persistent` (then, in 5.0, the session lasts
/// an hour after the connection ends).
pub fn connect_packet(version: Version, client_id: String, persistent: bool, keep_alive_s: u16) -> Connect {
    const PERSISTENT_SESSION_EXPIRY_S: u32 = 3600;
    let mut properties = mqtt::ConnectProperties::default();
    if version == Version::V5 && persistent {
        properties.session_expiry_interval_s = Some(PERSISTENT_SESSION_EXPIRY_S);
    }
    Connect {
        version,
        client_id,
        clean_start: !persistent,
        keep_alive_s,
        username: None,
        password: None,
        will: None,
        properties,
    }
}
