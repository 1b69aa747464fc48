//! Variable-length integers of the record layout: unsigned LEB128 and zigzag for signed.
//!
//! Record fields are small numbers (deltas, lengths of small payloads), so a varint spends one
//! byte where a fixed-width field would spend four or eight: 4 bytes of framing for a typical
//! record instead of 20. Decoding never panics: a truncated or overlong varint is an error.

/// The longest LEB128 encoding of a `u64`, in bytes.
pub const VARINT_BYTES_MAX: usize = 10;

/// Appends `v` as unsigned LEB128: 7 bits per byte, low bits first, high bit set on every
/// byte but the last.
pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded (0, -1, 1, -2, … → 0, 1, 2, 3, …) as LEB128.
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// The encoded length of `v`, in bytes.
pub fn len_u64(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// The encoded length of `v` zigzag-encoded, in bytes.
pub fn len_i64(v: i64) -> usize {
    len_u64(((v << 1) ^ (v >> 63)) as u64)
}

/// Reads an unsigned LEB128 at `*pos`, advancing it. `None` if truncated or longer than a u64.
pub fn get_u64(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for i in 0..VARINT_BYTES_MAX {
        let b = *buf.get(*pos + i)?;
        let bits = u64::from(b & 0x7f);
        if i == VARINT_BYTES_MAX - 1 && bits > 1 {
            return None;
        }
        v |= bits << (7 * i);
        if b & 0x80 == 0 {
            *pos += i + 1;
            return Some(v);
        }
    }
    None
}

/// Reads a zigzag LEB128 at `*pos`, advancing it.
pub fn get_i64(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let z = get_u64(buf, pos)?;
    Some(((z >> 1) as i64) ^ -((z & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_edges_and_lengths_agree() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            assert_eq!(out.len(), len_u64(v), "length of {v}");
            let mut pos = 0;
            assert_eq!(get_u64(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
        }
        for v in [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_i64(&mut out, v);
            assert_eq!(out.len(), len_i64(v), "length of {v}");
            let mut pos = 0;
            assert_eq!(get_i64(&out, &mut pos), Some(v));
        }
        let mut one = Vec::new();
        put_i64(&mut one, -1);
        assert_eq!(one, [1], "-1 (no key) takes one byte");
    }

    #[test]
    fn truncated_and_overlong_varints_are_rejected() {
        let mut pos = 0;
        assert_eq!(get_u64(&[0x80, 0x80], &mut pos), None, "truncated");
        assert_eq!(get_u64(&[0xff; 11], &mut pos), None, "overlong");
        assert_eq!(get_u64(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], &mut pos), None, "> u64");
        assert_eq!(pos, 0, "position unchanged on failure");
    }
}
