//! Encoding a response frame: length, the response header (its version follows from the API
//! and version: ApiVersions always answers with header v0, so that a client that sent a version
//! it cannot know is unsupported can still read the answer), and the body.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::frame::{finish_frame, start_frame};

/// Appends the frame answering request `correlation_id` (API `api_key` at `version`) to `out`.
/// `Err` if the body cannot be encoded at that version (a field the version cannot carry):
/// `out` is then as it was.
pub fn encode_response(
    out: &mut BytesMut,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<(), String> {
    let at = start_frame(out);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let written = header
        .encode(out, api_key.response_header_version(version))
        .and_then(|()| body.encode(out, version))
        .map_err(|e| format!("{api_key:?} v{version} response: {e}"));
    if let Err(e) = written {
        out.truncate(at);
        return Err(e);
    }
    finish_frame(out, at);
    Ok(())
}

/// Client side: decodes a response frame (without its length) to a request of `api_key` at
/// `version`.
pub fn decode_response<R: Decodable>(mut frame: Bytes, api_key: ApiKey, version: i16) -> Result<R, String> {
    ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
        .and_then(|_| R::decode(&mut frame, version))
        .map_err(|e| format!("{api_key:?} v{version} response: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn an_api_versions_v0_response_has_the_documented_bytes() {
        let body = ApiVersionsResponse::default()
            .with_error_code(35)
            .with_api_keys(vec![ApiVersion::default().with_api_key(18).with_min_version(0).with_max_version(3)]);
        let mut out = BytesMut::new();
        encode_response(&mut out, ApiKey::ApiVersions, 0, 7, &ResponseKind::ApiVersions(body)).unwrap();
        let want: &[u8] = &[
            0, 0, 0, 16, // length
            0, 0, 0, 7, // correlation id (header v0: no tags)
            0, 35, // error code UNSUPPORTED_VERSION
            0, 0, 0, 1, 0, 18, 0, 0, 0, 3, // one API: key 18, versions 0..=3
        ];
        assert_eq!(&out[..], want);
    }
}
