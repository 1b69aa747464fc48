//! Payload masking (RFC 6455 section 5.3). Every client frame carries a 4-byte key, and its
//! payload byte `i` is sent XORed with `key[i % 4]`, so that a browser's script cannot choose
//! the bytes an intermediary sees. Masking and unmasking are the same XOR, done in place.

/// XORs `payload` in place with `key`: byte `i` with `key[i % 4]`.
pub fn apply(key: [u8; 4], payload: &mut [u8]) {
    // Whole 4-byte chunks first: a fixed-size inner loop the compiler turns into wide XORs.
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        for (byte, k) in chunk.iter_mut().zip(key) {
            *byte ^= k;
        }
    }
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_example_key_masks_hello() {
        // RFC 6455 section 5.7: "Hello" masked with 37 fa 21 3d.
        let mut payload = *b"Hello";
        apply([0x37, 0xfa, 0x21, 0x3d], &mut payload);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    proptest! {
        #[test]
        fn matches_bytewise_xor_and_undoes_itself(key: [u8; 4], payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut masked = payload.clone();
            apply(key, &mut masked);
            let expected: Vec<u8> = payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
            prop_assert_eq!(&masked, &expected);
            apply(key, &mut masked);
            prop_assert_eq!(masked, payload);
        }
    }
}
