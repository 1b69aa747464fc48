//! A Kafka client connection for the simulation, on Keel's own codec (the `kafka-protocol`
//! messages and `keel_protocols::kafka` framing): one request at a time, each bounded in time.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use keel_protocols::kafka::frame::decode_frame;
use keel_protocols::kafka::kafka_protocol::messages::ApiKey;
use keel_protocols::kafka::kafka_protocol::protocol::{Decodable, Encodable};
use keel_protocols::kafka::request::encode_request;
use keel_protocols::kafka::response::decode_response;
use keel_rt::net::TcpStream;
use keel_rt::time;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest answer read, in bytes.
const ANSWER_BYTES_MAX: usize = 64 * 1024 * 1024;

pub struct KafkaConn {
    stream: TcpStream,
    inbuf: BytesMut,
    next_correlation: i32,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no answer in time")
}

impl KafkaConn {
    pub async fn connect(addr: &str, limit: Duration) -> io::Result<KafkaConn> {
        let stream = time::timeout(limit, TcpStream::connect(addr)).await.map_err(|_| timed_out())??;
        Ok(KafkaConn { stream, inbuf: BytesMut::new(), next_correlation: 1 })
    }

    /// One request and its answer, within `limit`.
    pub async fn call<Q: Encodable, A: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Q,
        limit: Duration,
    ) -> io::Result<A> {
        time::timeout(limit, self.exchange(api_key, version, body)).await.map_err(|_| timed_out())?
    }

    async fn exchange<Q: Encodable, A: Decodable>(&mut self, api_key: ApiKey, version: i16, body: &Q) -> io::Result<A> {
        let mut out = BytesMut::new();
        encode_request(&mut out, api_key, version, self.next_correlation, "keel-sim", body).map_err(invalid)?;
        self.next_correlation += 1;
        self.stream.write_all(&out).await?;
        self.stream.flush().await?; // the simulated stream sends on flush
        loop {
            if let Some(frame) = decode_frame(&mut self.inbuf, ANSWER_BYTES_MAX).map_err(invalid)? {
                return decode_response(frame.freeze(), api_key, version).map_err(invalid);
            }
            if self.stream.read_buf(&mut self.inbuf).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the broker closed the connection"));
            }
        }
    }
}
