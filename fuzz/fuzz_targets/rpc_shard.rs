//! Shard RPC bodies from arbitrary bytes: each method's request and response message decodes
//! (or is a clean error, never a panic), survives its own encoding, and its records convert to
//! log records or are refused; a fetch response always tells records from a refusal.
#![no_main]
use keel::rpc::shard::{
    ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, ProduceResponse, ReadRequest, ReadResponse,
    ReplicaFetchRequest, ReplicaFetchResponse, WireRecord,
};
use keel_fuzz::seeds;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<M> {
    let m = M::decode(data).ok()?;
    assert_eq!(M::decode(&m.encode_to_vec()[..]).expect("re-encoded body decodes"), m);
    Some(m)
}

fn convert(records: &[WireRecord]) {
    for r in records {
        if let Some(record) = r.to_record() {
            assert_eq!(record.span, r.span(), "a converted record keeps its span");
        }
    }
}

fn seed_bodies() -> Vec<Vec<u8>> {
    keel_fuzz::rpc_seeds::bodies().into_iter().map(|(_, _, body)| body).collect()
}

fuzz_target!(init: seeds::write(seed_bodies), |data: &[u8]| {
    if let Some(m) = round_trip::<ProduceRequest>(data) {
        convert(&m.records);
    }
    if let Some(m) = round_trip::<ReplicaFetchResponse>(data) {
        convert(&m.records);
        let _ = m.refused();
    }
    if let Some(m) = round_trip::<ReadResponse>(data) {
        convert(&m.records);
    }
    round_trip::<ProduceResponse>(data);
    round_trip::<ReplicaFetchRequest>(data);
    round_trip::<ReadRequest>(data);
    round_trip::<ListOffsetsRequest>(data);
    round_trip::<ListOffsetsResponse>(data);
});
