//! What a broker or a replica reads back from its own storage, from arbitrary bytes: MQTT
//! records as the namespace log holds them (the first byte splits the input into key and
//! value) and a shard's epochs file. A clean error or a value that survives its own encoding,
//! never a panic.
#![no_main]
use bytes::Bytes;
use keel::broker::mqtt::record::MqttRecord;
use keel::store::driver::{decode_epochs, encode_epochs};
use keel_fuzz::{seeds, stored_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: seeds::write(stored_seeds::seeds), |data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let (key, value) = rest.split_at(usize::from(split).min(rest.len()));
    if let Ok(record) = MqttRecord::decode(key, Bytes::copy_from_slice(value)) {
        let again = record.encode_value().expect("a decoded record encodes");
        assert_eq!(MqttRecord::decode(record.topic.as_bytes(), again), Ok(record));
    }
    if let Ok(epochs) = decode_epochs(data) {
        let again = decode_epochs(&encode_epochs(epochs.entries())).expect("re-encoded epochs decode");
        assert_eq!(again.entries(), epochs.entries());
    }
});
