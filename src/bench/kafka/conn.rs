//! A Kafka client connection for the bench: requests encoded and responses decoded with the
//! same `kafka-protocol` messages the broker uses, pipelined (several requests may be written
//! before their answers are read; answers come back in order).

use std::io;

use bytes::BytesMut;
use keel_protocols::kafka::frame::decode_frame;
use keel_protocols::kafka::kafka_protocol::messages::ApiKey;
use keel_protocols::kafka::kafka_protocol::protocol::{Decodable, Encodable};
use keel_protocols::kafka::request::encode_request;
use keel_protocols::kafka::response::decode_response;
use keel_rt::net::{self, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest answer the bench reads, in bytes.
const ANSWER_BYTES_MAX: usize = 256 * 1024 * 1024;

pub struct Conn {
    stream: TcpStream,
    inbuf: BytesMut,
    next_correlation: i32,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Conn {
    pub async fn connect(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        net::set_nodelay(&stream);
        Ok(Conn { stream, inbuf: BytesMut::with_capacity(1 << 20), next_correlation: 1 })
    }

    /// Writes one request; its answer is read later with [`Conn::recv`].
    pub async fn send<R: Encodable>(&mut self, api_key: ApiKey, version: i16, body: &R) -> io::Result<()> {
        let mut out = BytesMut::new();
        encode_request(&mut out, api_key, version, self.next_correlation, "keel-bench", body).map_err(invalid)?;
        self.next_correlation += 1;
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    /// Reads the next answer.
    pub async fn recv<R: Decodable>(&mut self, api_key: ApiKey, version: i16) -> io::Result<R> {
        loop {
            if let Some(frame) = decode_frame(&mut self.inbuf, ANSWER_BYTES_MAX).map_err(invalid)? {
                return decode_response(frame.freeze(), api_key, version).map_err(invalid);
            }
            self.inbuf.reserve(64 * 1024);
            if self.stream.read_buf(&mut self.inbuf).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the broker closed the connection"));
            }
        }
    }

    /// One request and its answer.
    pub async fn call<Q: Encodable, A: Decodable>(&mut self, api_key: ApiKey, version: i16, body: &Q) -> io::Result<A> {
        self.send(api_key, version, body).await?;
        self.recv(api_key, version).await
    }
}
