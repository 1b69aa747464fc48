//! Each codec on streams made by the pure-Rust encoders (and one xerial snappy stream as Kafka's
//! Java client writes it), then truncated and garbage inputs, and bombs past the limit.

use super::*;
use std::io::Write;

/// Compressible records-like bytes, `n` long.
fn text(n: usize) -> Vec<u8> {
    (0..n).map(|i| b"sensors/room-1 21.5C "[i % 21]).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Xerial framing of raw snappy blocks of at most `block` bytes of input each.
fn xerial(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    for chunk in data.chunks(block) {
        let b = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(&b);
    }
    out
}

fn lz4(data: &[u8]) -> Vec<u8> {
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// Every codec's encoding of `data`.
fn encoded(data: &[u8]) -> Vec<(Compression, Vec<u8>)> {
    vec![
        (Compression::Gzip, gzip(data)),
        (Compression::Snappy, xerial(data, 32 * 1024)),
        (Compression::Snappy, snap::raw::Encoder::new().compress_vec(data).unwrap()),
        (Compression::Lz4, lz4(data)),
        (Compression::Zstd, zstd(data)),
        (Compression::None, data.to_vec()),
    ]
}

#[test]
fn every_codec_round_trips() {
    let data = text(100_000);
    for (codec, input) in encoded(&data) {
        let out = decompress(codec, &input, data.len()).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(out.as_ref(), &data[..], "{codec:?}");
    }
}

#[test]
fn xerial_snappy_as_the_java_client_writes_it() {
    // kafka-protocol's fixture: one record, value "sdfdsf", compressed by Kafka's Java client.
    let input = b"\x82\x53\x4e\x41\x50\x50\x59\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x0f\x0d\x30\x18\x00\x00\x00\x01\x0csdfdsf\x00";
    let out = decompress(Compression::Snappy, input, 1024).unwrap();
    assert_eq!(out.as_ref(), b"\x18\x00\x00\x00\x01\x0csdfdsf\x00");
}

#[test]
fn concatenated_gzip_members_and_zstd_frames_read_whole() {
    let (a, b) = (text(1000), b"tail".to_vec());
    let whole = [a.clone(), b.clone()].concat();
    for (codec, input) in
        [(Compression::Gzip, [gzip(&a), gzip(&b)].concat()), (Compression::Zstd, [zstd(&a), zstd(&b)].concat())]
    {
        assert_eq!(decompress(codec, &input, whole.len()).unwrap().as_ref(), &whole[..], "{codec:?}");
    }
}

#[test]
fn output_over_the_limit_is_refused() {
    let data = text(10_000);
    for (codec, input) in encoded(&data) {
        assert_eq!(
            decompress(codec, &input, data.len() - 1),
            Err(DecompressError::TooLarge(data.len() - 1)),
            "{codec:?}"
        );
    }
}

#[test]
fn bombs_stop_at_the_limit() {
    // 64 MiB of zeros: a few KiB compressed, refused at a 1 MiB limit.
    let zeros = vec![0u8; 64 << 20];
    for (codec, input) in encoded(&zeros) {
        assert!(input.len() < 4 << 20 || codec == Compression::None, "{codec:?}: {} bytes", input.len());
        assert_eq!(decompress(codec, &input, 1 << 20), Err(DecompressError::TooLarge(1 << 20)), "{codec:?}");
    }
}

#[test]
fn snappy_declared_lengths_are_checked_before_allocating() {
    // A raw block claiming 4 GiB (varint length) with nothing behind it; the same as a
    // xerial block.
    let raw = b"\xff\xff\xff\xff\x0f\x00".to_vec();
    assert_eq!(decompress(Compression::Snappy, &raw, 1 << 20), Err(DecompressError::TooLarge(1 << 20)));
    let mut framed = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    framed.extend_from_slice(&(raw.len() as u32).to_be_bytes());
    framed.extend_from_slice(&raw);
    assert_eq!(decompress(Compression::Snappy, &framed, 1 << 20), Err(DecompressError::TooLarge(1 << 20)));
}

#[test]
fn truncated_streams_are_corrupt() {
    let data = text(5000);
    for (codec, input) in encoded(&data) {
        if codec == Compression::None {
            continue;
        }
        for cut in [0, 1, 5, 10, 17, input.len() / 2, input.len() - 1] {
            match decompress(codec, &input[..cut], data.len()) {
                Err(DecompressError::Corrupt(c, _)) => assert_eq!(c, codec),
                // A cut at a frame or member boundary may leave a valid, shorter stream (and
                // lz4_flex takes a frame without its end mark): never more than was sent.
                Ok(out) => assert!(out.len() <= data.len(), "{codec:?} cut at {cut}"),
                // A xerial header cut short reads as a raw block declaring some length.
                Err(DecompressError::TooLarge(_)) => assert_eq!(codec, Compression::Snappy, "cut at {cut}"),
            }
        }
    }
}

#[test]
fn garbage_is_corrupt() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        assert!(matches!(decompress(codec, &garbage, 1 << 20), Err(DecompressError::Corrupt(..))), "{codec:?}");
    }
}

#[test]
fn flipped_bytes_never_panic_nor_pass_the_limit() {
    let data = text(3000);
    for (codec, input) in encoded(&data) {
        for i in 0..input.len() {
            let mut bad = input.clone();
            bad[i] ^= 0x5a;
            if let Ok(out) = decompress(codec, &bad, data.len()) {
                assert!(out.len() <= data.len());
            }
        }
    }
}
