//! MQTT's data representations (section 1.5 of 5.0 and of 3.1.1): big-endian two- and four-byte
//! integers, Variable Byte Integers, UTF-8 strings and binary data behind a 16-bit length.
//!
//! Reading takes from the front of a packet's body as `Bytes`, so binary fields come out as
//! slices of the input without copies, and fails with [`Error::Truncated`] on a field that runs
//! past the body's end. Writing goes through [`Sink`], which either counts bytes (for `len`
//! and for length prefixes) or appends them to a `BytesMut`: one code path for both, so the
//! announced lengths always equal what is written.

use bytes::{Buf, Bytes, BytesMut};

use super::Error;

/// The largest value of a Variable Byte Integer (four bytes of seven bits).
pub const VARINT_MAX: u32 = 268_435_455;
/// The longest string or binary field: its length prefix is 16 bits.
pub const FIELD_BYTES_MAX: usize = 65_535;

/// Reads one byte.
pub(crate) fn u8(body: &mut Bytes, field: &'static str) -> Result<u8, Error> {
    if body.remaining() < 1 {
        return Err(Error::Truncated { field });
    }
    Ok(body.get_u8())
}

/// Reads a big-endian two-byte integer.
pub(crate) fn u16(body: &mut Bytes, field: &'static str) -> Result<u16, Error> {
    if body.remaining() < 2 {
        return Err(Error::Truncated { field });
    }
    Ok(body.get_u16())
}

/// Reads a big-endian four-byte integer.
pub(crate) fn u32(body: &mut Bytes, field: &'static str) -> Result<u32, Error> {
    if body.remaining() < 4 {
        return Err(Error::Truncated { field });
    }
    Ok(body.get_u32())
}

/// Reads a Variable Byte Integer.
pub(crate) fn varint(body: &mut Bytes, field: &'static str) -> Result<u32, Error> {
    match varint_prefix(body) {
        Ok(Some((value, bytes))) => {
            body.advance(bytes);
            Ok(value)
        }
        Ok(None) => Err(Error::Truncated { field }),
        Err(()) => Err(Error::VarintMalformed { field }),
    }
}

/// Decodes the Variable Byte Integer at the front of `bytes` without consuming it: the value and
/// how many bytes it took, `Ok(None)` if `bytes` ends inside it, `Err` if it runs past 4 bytes.
pub(crate) fn varint_prefix(bytes: &[u8]) -> Result<Option<(u32, usize)>, ()> {
    let mut value = 0u32;
    for (i, &byte) in bytes.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if bytes.len() >= 4 {
        Err(())
    } else {
        Ok(None)
    }
}

/// Reads a packet identifier, which must not be 0 (2.2.1).
pub(crate) fn packet_id(body: &mut Bytes, packet: &'static str) -> Result<u16, Error> {
    match u16(body, "packet identifier")? {
        0 => Err(Error::PacketIdZero { packet }),
        id => Ok(id),
    }
}

/// Reads binary data: a two-byte length, then that many bytes, sliced off without a copy.
pub(crate) fn binary(body: &mut Bytes, field: &'static str) -> Result<Bytes, Error> {
    let bytes = usize::from(u16(body, field)?);
    if body.remaining() < bytes {
        return Err(Error::Truncated { field });
    }
    Ok(body.split_to(bytes))
}

/// Reads a UTF-8 Encoded String: well-formed UTF-8 (which excludes surrogates) without U+0000.
pub(crate) fn string(body: &mut Bytes, field: &'static str) -> Result<String, Error> {
    let raw = binary(body, field)?;
    let text = std::str::from_utf8(&raw).map_err(|_| Error::InvalidUtf8 { field })?;
    if text.contains('\0') {
        return Err(Error::NullCharacter { field });
    }
    Ok(text.to_owned())
}

/// Where encoded bytes go: counted, or appended to a buffer.
pub(crate) trait Sink {
    /// Takes raw bytes.
    fn bytes(&mut self, bytes: &[u8]);

    /// Makes room for `bytes` more (a hint).
    fn reserve(&mut self, _bytes: usize) {}

    fn u8(&mut self, value: u8) {
        self.bytes(&[value]);
    }

    fn u16(&mut self, value: u16) {
        self.bytes(&value.to_be_bytes());
    }

    fn u32(&mut self, value: u32) {
        self.bytes(&value.to_be_bytes());
    }

    /// A Variable Byte Integer; fails over [`VARINT_MAX`].
    fn varint(&mut self, value: usize) -> Result<(), Error> {
        let (encoded, bytes) = encode_varint(value).ok_or(Error::VarintTooLarge { value })?;
        self.bytes(encoded.get(..bytes).unwrap_or_default());
        Ok(())
    }

    /// A UTF-8 Encoded String; fails over [`FIELD_BYTES_MAX`] bytes.
    fn string(&mut self, text: &str) -> Result<(), Error> {
        let bytes = u16::try_from(text.len()).map_err(|_| Error::StringTooLong { bytes: text.len() })?;
        self.u16(bytes);
        self.bytes(text.as_bytes());
        Ok(())
    }

    /// Binary data; fails over [`FIELD_BYTES_MAX`] bytes.
    fn binary(&mut self, data: &[u8]) -> Result<(), Error> {
        let bytes = u16::try_from(data.len()).map_err(|_| Error::BinaryTooLong { bytes: data.len() })?;
        self.u16(bytes);
        self.bytes(data);
        Ok(())
    }
}

/// A [`Sink`] that only counts.
#[derive(Debug, Default)]
pub(crate) struct Counter(pub usize);

impl Sink for Counter {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

impl Sink for BytesMut {
    fn bytes(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn reserve(&mut self, bytes: usize) {
        BytesMut::reserve(self, bytes);
    }
}

/// How many bytes `write` gives to `sink`: runs it against a [`Counter`].
pub(crate) fn count(write: impl FnOnce(&mut Counter) -> Result<(), Error>) -> Result<usize, Error> {
    let mut counter = Counter::default();
    write(&mut counter)?;
    Ok(counter.0)
}

/// Encodes a Variable Byte Integer: the bytes and how many of them are used.
pub(crate) fn encode_varint(value: usize) -> Option<([u8; 4], usize)> {
    if value > VARINT_MAX as usize {
        return None;
    }
    let mut encoded = [0u8; 4];
    let mut rest = value;
    for (i, slot) in encoded.iter_mut().enumerate() {
        let low = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            *slot = low;
            return Some((encoded, i + 1));
        }
        *slot = low | 0x80;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_boundaries_from_the_spec_table() {
        // 1.5.5: the largest value of each length.
        for (value, encoded) in [
            (0usize, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
        ] {
            let mut out = BytesMut::new();
            out.varint(value).unwrap();
            assert_eq!(&out[..], encoded, "{value}");
            assert_eq!(varint_prefix(encoded), Ok(Some((value as u32, encoded.len()))));
        }
        assert_eq!(BytesMut::new().varint(268_435_456), Err(Error::VarintTooLarge { value: 268_435_456 }));
    }

    #[test]
    fn varint_of_five_bytes_is_malformed_and_a_short_one_incomplete() {
        assert_eq!(varint_prefix(&[0xff, 0xff, 0xff, 0xff, 0x01]), Err(()));
        assert_eq!(varint_prefix(&[0xff, 0xff, 0xff, 0xff]), Err(()));
        assert_eq!(varint_prefix(&[0xff, 0xff, 0xff]), Ok(None));
        assert_eq!(varint_prefix(&[]), Ok(None));
        let mut body = Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x01]);
        assert_eq!(varint(&mut body, "property length"), Err(Error::VarintMalformed { field: "property length" }));
    }

    #[test]
    fn strings_must_be_utf8_without_nul_and_within_the_body() {
        let mut body = Bytes::from_static(&[0x00, 0x04, b'M', b'Q', b'T', b'T', 0xaa]);
        assert_eq!(string(&mut body, "name").unwrap(), "MQTT");
        assert_eq!(&body[..], &[0xaa]);
        // The example of 1.5.4: U+FEFF is allowed (and kept).
        let mut body = Bytes::from_static(&[0x00, 0x03, 0xef, 0xbb, 0xbf]);
        assert_eq!(string(&mut body, "name").unwrap(), "\u{feff}");
        let mut body = Bytes::from_static(&[0x00, 0x02, b'a', 0x00]);
        assert_eq!(string(&mut body, "name"), Err(Error::NullCharacter { field: "name" }));
        // An encoded surrogate (U+D800) is ill-formed.
        let mut body = Bytes::from_static(&[0x00, 0x03, 0xed, 0xa0, 0x80]);
        assert_eq!(string(&mut body, "name"), Err(Error::InvalidUtf8 { field: "name" }));
        let mut body = Bytes::from_static(&[0x00, 0x05, b'a']);
        assert_eq!(string(&mut body, "name"), Err(Error::Truncated { field: "name" }));
        let mut body = Bytes::from_static(&[0x00]);
        assert_eq!(string(&mut body, "name"), Err(Error::Truncated { field: "name" }));
    }

    #[test]
    fn binary_is_a_slice_of_the_input() {
        let input = Bytes::from_static(&[0x00, 0x02, 1, 2, 3]);
        let mut body = input.clone();
        let data = binary(&mut body, "data").unwrap();
        assert_eq!(&data[..], &[1, 2]);
        assert_eq!(data.as_ptr(), input[2..].as_ptr());
    }

    #[test]
    fn packet_id_zero_is_refused() {
        let mut body = Bytes::from_static(&[0x00, 0x00]);
        assert_eq!(packet_id(&mut body, "PUBACK"), Err(Error::PacketIdZero { packet: "PUBACK" }));
    }

    #[test]
    fn overlong_fields_are_refused_on_write() {
        let long = "a".repeat(FIELD_BYTES_MAX + 1);
        assert_eq!(Counter::default().string(&long), Err(Error::StringTooLong { bytes: 65_536 }));
        assert_eq!(Counter::default().binary(long.as_bytes()), Err(Error::BinaryTooLong { bytes: 65_536 }));
        assert_eq!(count(|sink| sink.string(&long[1..])), Ok(65_537));
    }

    proptest! {
        #[test]
        fn varint_round_trips(value in 0..=VARINT_MAX) {
            let mut out = BytesMut::new();
            out.varint(value as usize).unwrap();
            prop_assert_eq!(count(|sink| sink.varint(value as usize)).unwrap(), out.len());
            let mut body = out.freeze();
            prop_assert_eq!(varint(&mut body, "v"), Ok(value));
            prop_assert!(body.is_empty());
        }

        #[test]
        fn strings_round_trip(text in r"[^\x00]{0,40}") {
            let mut out = BytesMut::new();
            out.string(&text).unwrap();
            let mut body = out.freeze();
            prop_assert_eq!(string(&mut body, "s").unwrap(), text);
        }
    }
}
