//! The MQTT session machine under arbitrary conversations: a hostile client's bytes through the
//! codec, a broker that keeps its side of the contract, time passing (see
//! `keel_fuzz::session_script`). Never a panic, and every batch of commands is one a broker can
//! execute: nothing after Close, ids never reused while pending, each message Delivered once at
//! most, QoS 2 state before its packet, every packet encodable within the client's limit.
#![no_main]
use keel_fuzz::session_script::Conversation;
use keel_fuzz::{seeds, session_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: seeds::write(session_seeds::seeds), |data: &[u8]| {
    Conversation::play(data);
});
