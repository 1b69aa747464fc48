//! Seeds for the internal RPC targets: frames of every shard method's request and response, as
//! the client and the server encode them.

use bytes::{Bytes, BytesMut};
use keel::rpc::shard::{
    EpochStart, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, ProduceResponse, ReadRequest, ReadResponse,
    ReplicaFetchRequest, ReplicaFetchResponse, WireRecord, LIST_OFFSETS, PRODUCE, READ, REPLICA_FETCH,
};
use keel::rpc::{encode_frame, Envelope, Kind};
use prost::Message;

fn records() -> Vec<WireRecord> {
    let mut keyed = WireRecord::new(5, Some(Bytes::from_static(b"k")), Bytes::from_static(b"v"));
    keyed.offset = 10;
    let produced = WireRecord {
        offset: 11,
        producer_id: 3,
        producer_epoch: 1,
        sequence: 9,
        extra_offsets: 2,
        ..WireRecord::new(6, None, Bytes::from_static(b"batch"))
    };
    vec![keyed, produced]
}

/// Every shard method's request and response body, with its method name and kind.
pub fn bodies() -> Vec<(&'static str, Kind, Vec<u8>)> {
    let epochs = vec![EpochStart { epoch: 2, start: 0 }, EpochStart { epoch: 3, start: 11 }];
    let topic = "t".to_string();
    vec![
        (
            PRODUCE,
            Kind::Request,
            ProduceRequest {
                topic: topic.clone(),
                partition: 1,
                records: records(),
                producer_id: 3,
                producer_epoch: 1,
                first_sequence: 9,
            }
            .encode_to_vec(),
        ),
        (
            PRODUCE,
            Kind::Response,
            ProduceResponse { base_offset: 10, last_offset: 13, ..Default::default() }.encode_to_vec(),
        ),
        (
            REPLICA_FETCH,
            Kind::Request,
            ReplicaFetchRequest {
                topic: topic.clone(),
                partition: 1,
                from: 2,
                epoch: 3,
                fetch_offset: 10,
                last_fetched_epoch: Some(2),
            }
            .encode_to_vec(),
        ),
        (
            REPLICA_FETCH,
            Kind::Response,
            ReplicaFetchResponse { records: records(), epoch_starts: epochs.clone(), hw: 12, ..Default::default() }
                .encode_to_vec(),
        ),
        (
            READ,
            Kind::Request,
            ReadRequest { topic: topic.clone(), partition: 0, offset: 10, bytes_max: 1 << 20, wait_ms: 100 }
                .encode_to_vec(),
        ),
        (
            READ,
            Kind::Response,
            ReadResponse { records: records(), high_watermark: 14, epoch_starts: epochs, ..Default::default() }
                .encode_to_vec(),
        ),
        (
            LIST_OFFSETS,
            Kind::Request,
            ListOffsetsRequest { topic, partition: 0, spec: 3, timestamp_ms: 0, leader_epoch: 2 }.encode_to_vec(),
        ),
        (
            LIST_OFFSETS,
            Kind::Response,
            ListOffsetsResponse { offset: 14, epoch: Some(3), ..Default::default() }.encode_to_vec(),
        ),
    ]
}

/// The bodies in framed envelopes (one frame each, then all of them back to back).
pub fn frames() -> Vec<Vec<u8>> {
    let mut all = BytesMut::new();
    let mut out = Vec::new();
    for (i, (method, kind, body)) in bodies().into_iter().enumerate() {
        let env = Envelope {
            id: i as u64 + 1,
            kind: kind as i32,
            method: method.to_string(),
            timeout_ms: 5_000,
            body: Bytes::from(body),
            error_code: 0,
            error: String::new(),
        };
        let mut one = BytesMut::new();
        encode_frame(&env, &mut one);
        all.extend_from_slice(&one);
        out.push(one.to_vec());
    }
    out.push(all.to_vec());
    out
}
