//! Internal RPC frames from arbitrary bytes, as a connection reads them: every frame the buffer
//! holds is taken (or a clean error, or "need more"), never a panic; a frame taken consumes its
//! bytes, and its envelope encodes to a frame that decodes to the same envelope.
#![no_main]
use bytes::BytesMut;
use keel::rpc::{decode_frame, encode_frame};
use keel_fuzz::{rpc_seeds, seeds};
use libfuzzer_sys::fuzz_target;

const FRAME_BYTES_MAX: usize = 64 * 1024;

fuzz_target!(init: seeds::write(rpc_seeds::frames), |data: &[u8]| {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        let Ok(Some(env)) = decode_frame(&mut buf, FRAME_BYTES_MAX) else { break };
        assert!(buf.len() < before, "a frame consumes its bytes");
        let mut again = BytesMut::new();
        encode_frame(&env, &mut again);
        let back = decode_frame(&mut again, usize::MAX).expect("re-encoded frame decodes");
        assert_eq!(back, Some(env), "an envelope survives its own encoding");
        assert!(again.is_empty(), "exactly one frame re-encoded");
    }
});
