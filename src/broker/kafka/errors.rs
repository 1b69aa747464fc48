//! Kafka error codes for what the data plane and meta answer.

use keel_protocols::kafka::batch::BatchError;
use keel_protocols::kafka::kafka_protocol::ResponseError;

use crate::client::ClientError;
use crate::meta::command::MetaError;
use crate::meta::MetaApiError;
use crate::rpc::shard::Code;

/// The Kafka error for a failed data-plane call.
pub fn of_client(e: &ClientError) -> ResponseError {
    match e {
        ClientError::NotFound(_) => ResponseError::UnknownTopicOrPartition,
        ClientError::GaveUp(_) => ResponseError::RequestTimedOut,
        ClientError::Refused { code, .. } => of_code(*code),
    }
}

/// The Kafka error for a shard's result code.
pub fn of_code(c: Code) -> ResponseError {
    match c {
        Code::Ok => ResponseError::UnknownServerError,
        Code::NotLeader => ResponseError::NotLeaderOrFollower,
        Code::NotEnoughReplicas => ResponseError::NotEnoughReplicas,
        Code::InFlight => ResponseError::RequestTimedOut,
        Code::Timeout => ResponseError::RequestTimedOut,
        Code::OutOfOrderSequence => ResponseError::OutOfOrderSequenceNumber,
        Code::ProducerFenced => ResponseError::InvalidProducerEpoch,
        Code::Invalid => ResponseError::InvalidRequest,
        Code::Storage => ResponseError::KafkaStorageError,
    }
}

/// The Kafka error for a refused record batch.
pub fn of_batch(e: &BatchError) -> ResponseError {
    match e {
        BatchError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat,
        BatchError::Corrupt(_) | BatchError::CrcMismatch { .. } => ResponseError::CorruptMessage,
        BatchError::Unsupported(_) => ResponseError::InvalidRecord,
    }
}

/// The Kafka error for a failed meta write about a topic.
pub fn of_meta(e: &MetaApiError) -> ResponseError {
    match e {
        MetaApiError::NoLeader | MetaApiError::NotLeader { .. } | MetaApiError::Unavailable(_) => {
            ResponseError::NotController
        }
        MetaApiError::Indeterminate(_) => ResponseError::RequestTimedOut,
        MetaApiError::Refused(_) => ResponseError::InvalidRequest,
    }
}

/// The Kafka error for a meta command's refusal.
pub fn of_meta_result(e: &MetaError) -> ResponseError {
    match e {
        MetaError::TopicExists { .. } => ResponseError::TopicAlreadyExists,
        MetaError::TopicNotFound { .. } => ResponseError::UnknownTopicOrPartition,
        MetaError::NotEnoughNodes { .. } => ResponseError::InvalidReplicationFactor,
        MetaError::Invalid { .. } => ResponseError::InvalidRequest,
        _ => ResponseError::UnknownServerError,
    }
}
