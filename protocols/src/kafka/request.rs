//! Decoding a request frame: its header (API key, version, correlation id, client id), a check
//! of the version against what Keel serves ([`super::versions`]), then the body through the
//! `kafka-protocol` crate. Nothing here panics on hostile bytes: lengths are checked before the
//! crate sees them, and the crate's own decoders return errors.

use std::fmt;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::frame::{finish_frame, start_frame};

use super::versions::served_versions;

/// Bytes of the fixed start of every request header: API key, version, correlation id.
const HEADER_FIXED_BYTES: usize = 8;

/// A decoded request.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestKind,
}

impl Request {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }
}

/// Why a request frame cannot be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Shorter than a request header, or a header that does not decode: nothing can be answered.
    Malformed(String),
    /// An API key this build does not know or does not serve.
    UnknownApi { api_key: i16, api_version: i16, correlation_id: i32 },
    /// A version of a served API outside the versions served.
    UnsupportedVersion { api_key: ApiKey, api_version: i16, correlation_id: i32 },
    /// The body does not decode at the version the header names.
    BadBody { api_key: ApiKey, api_version: i16, correlation_id: i32, reason: String },
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(why) => write!(f, "malformed request: {why}"),
            RequestError::UnknownApi { api_key, api_version, .. } => {
                write!(f, "API key {api_key} (version {api_version}) is not served")
            }
            RequestError::UnsupportedVersion { api_key, api_version, .. } => {
                let s = served_versions(*api_key).map(|s| (s.min, s.max)).unwrap_or_default();
                write!(f, "{api_key:?} version {api_version} is not served (versions {}..={})", s.0, s.1)
            }
            RequestError::BadBody { api_key, api_version, reason, .. } => {
                write!(f, "{api_key:?} v{api_version} body does not decode: {reason}")
            }
        }
    }
}

impl std::error::Error for RequestError {}

/// Decodes one request frame (without its length prefix).
pub fn decode_request(frame: Bytes) -> Result<Request, RequestError> {
    if frame.len() < HEADER_FIXED_BYTES {
        return Err(RequestError::Malformed(format!("{} bytes, short of a request header", frame.len())));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let unknown = RequestError::UnknownApi { api_key: raw_key, api_version, correlation_id };
    let api_key = ApiKey::try_from(raw_key).map_err(|_| unknown.clone())?;
    let served = served_versions(api_key).ok_or(unknown)?;
    if api_version < served.min || api_version > served.max {
        return Err(RequestError::UnsupportedVersion { api_key, api_version, correlation_id });
    }
    let mut buf = frame;
    let header = RequestHeader::decode(&mut buf, api_key.request_header_version(api_version))
        .map_err(|e| RequestError::Malformed(format!("request header: {e}")))?;
    let bad = |reason: String| RequestError::BadBody { api_key, api_version, correlation_id, reason };
    let body = RequestKind::decode(api_key, &mut buf, api_version).map_err(|e| bad(e.to_string()))?;
    // Bytes after the body are ignored, as Kafka brokers ignore them (clients send fields of
    // newer schemas a version does not define: librdkafka's Metadata v12 carries 3).
    Ok(Request { api_key, header, body })
}

/// Client side: appends the frame of a request (`api_key` at `version`, with its header) to
/// `out`; `Err` if the body cannot be encoded at that version (`out` is then as it was).
pub fn encode_request<R: Encodable>(
    out: &mut BytesMut,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &'static str,
    body: &R,
) -> Result<(), String> {
    let at = start_frame(out);
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(client_id)));
    let written = header
        .encode(out, api_key.request_header_version(version))
        .and_then(|()| body.encode(out, version))
        .map_err(|e| format!("{api_key:?} v{version} request: {e}"));
    if let Err(e) = written {
        out.truncate(at);
        return Err(e);
    }
    finish_frame(out, at);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ApiVersions v3 request as librdkafka sends it: header v2 (client id "rdkafka", no
    /// tags), body: compact strings "librdkafka" and "2.16.1", no tags.
    const API_VERSIONS_V3: &[u8] = &[
        0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, // key 18, version 3, correlation id 1
        0x00, 0x07, b'r', b'd', b'k', b'a', b'f', b'k', b'a', // client id (a nullable string)
        0x00, // header tags
        0x0b, b'l', b'i', b'b', b'r', b'd', b'k', b'a', b'f', b'k', b'a', // compact string
        0x07, b'2', b'.', b'1', b'6', b'.', b'1', // compact string
        0x00, // body tags
    ];

    #[test]
    fn decodes_an_api_versions_request_from_its_bytes() {
        let r = decode_request(Bytes::from_static(API_VERSIONS_V3)).unwrap();
        assert_eq!((r.api_key, r.version(), r.correlation_id()), (ApiKey::ApiVersions, 3, 1));
        assert_eq!(r.header.client_id.as_deref(), Some("rdkafka"));
        let RequestKind::ApiVersions(body) = r.body else { panic!("not ApiVersions") };
        assert_eq!(&*body.client_software_name, "librdkafka");
        assert_eq!(&*body.client_software_version, "2.16.1");
    }

    #[test]
    fn unknown_apis_and_versions_are_told_apart_from_malformed_frames() {
        let mut f = API_VERSIONS_V3.to_vec();
        f[3] = 9; // ApiVersions v9
        assert_eq!(
            decode_request(Bytes::from(f.clone())),
            Err(RequestError::UnsupportedVersion { api_key: ApiKey::ApiVersions, api_version: 9, correlation_id: 1 })
        );
        f[1] = 0x7f; // key 127
        assert!(matches!(decode_request(Bytes::from(f)), Err(RequestError::UnknownApi { api_key: 127, .. })));
        assert!(matches!(decode_request(Bytes::from_static(&[0, 18, 0])), Err(RequestError::Malformed(_))));
        let cut = Bytes::copy_from_slice(&API_VERSIONS_V3[..API_VERSIONS_V3.len() - 4]);
        assert!(matches!(decode_request(cut), Err(RequestError::BadBody { correlation_id: 1, .. })));
        let mut long = API_VERSIONS_V3.to_vec();
        long.push(0);
        assert!(decode_request(Bytes::from(long)).is_ok(), "trailing bytes are ignored");
    }

    proptest::proptest! {
        /// Any body after a valid header of any served API and version decodes or is refused,
        /// never panics (array and string lengths come from the bytes).
        #[test]
        fn hostile_bodies_are_errors_not_panics(
            which in 0usize..64,
            version_pick in 0i16..64,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ) {
            let served = super::super::versions::SERVED;
            let s = served[which % served.len()];
            let version = s.min + version_pick % (s.max - s.min + 1);
            let mut f = Vec::new();
            f.extend_from_slice(&(s.api_key as i16).to_be_bytes());
            f.extend_from_slice(&version.to_be_bytes());
            f.extend_from_slice(&7i32.to_be_bytes());
            f.extend_from_slice(&body);
            let _ = decode_request(Bytes::from(f));
        }
    }

    /// 18 bytes once aborted the process: Metadata v1 with a topics array of i32::MAX elements
    /// (the vendored kafka-protocol bounds the capacity by the bytes left; KEEL-PATCH.md).
    #[test]
    fn hostile_array_counts_are_errors_not_aborts() {
        let mut f = Vec::new();
        f.extend_from_slice(&[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff]); // Metadata v1, id 1, no client id
        f.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(decode_request(Bytes::from(f)), Err(RequestError::BadBody { .. })));
        let mut f = vec![0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0]; // Metadata v12 (flexible)
        f.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // a compact array of u32::MAX - 1
        assert!(decode_request(Bytes::from(f)).is_err());
    }

    #[test]
    fn truncations_of_a_request_are_errors_not_panics() {
        for cut in 0..API_VERSIONS_V3.len() {
            assert!(decode_request(Bytes::copy_from_slice(&API_VERSIONS_V3[..cut])).is_err(), "cut at {cut}");
        }
    }
}
