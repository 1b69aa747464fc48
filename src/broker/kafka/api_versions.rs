//! ApiVersions: the APIs and versions Keel serves (`keel_protocols::kafka::versions`).

use keel_protocols::kafka::kafka_protocol::messages::api_versions_response::ApiVersion;
use keel_protocols::kafka::kafka_protocol::messages::ApiVersionsResponse;
use keel_protocols::kafka::kafka_protocol::ResponseError;
use keel_protocols::kafka::versions::SERVED;

fn api_keys() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|s| ApiVersion::default().with_api_key(s.api_key as i16).with_min_version(s.min).with_max_version(s.max))
        .collect()
}

/// The answer to a served ApiVersions request.
pub fn served() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_keys())
}

/// The answer (at v0) to an ApiVersions request at a version not served: the error and the
/// versions served, so that the client retries with one of them.
pub fn unsupported() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(ResponseError::UnsupportedVersion.code()).with_api_keys(api_keys())
}
