//! Decompression of a record batch's records, bounded: the records section of a compressed
//! batch (v2) in Kafka's four codecs, to the bytes a record decoder reads. Only a bound topic
//! needs it (its records become MQTT messages); batches of ordinary topics are stored and served
//! as sent and never pass through here.
//!
//! The input is hostile: a decompression bomb (a few KiB of zeros compressed from GiBs) or
//! garbage must cost neither the process nor its memory. So the output never grows past the
//! caller's `output_bytes_max` — streams are read through a bounded loop and snappy's declared
//! lengths are checked before anything is allocated — and every error is a value, never a
//! panic. Besides the output, the codecs keep small working state of their own: the lz4 frame
//! decoder two buffers of the frame's declared block size (at most 4 MiB by the format), zstd a
//! window that grows with the output only.
//!
//! The formats, as Kafka's clients write them:
//! - gzip: an RFC 1952 stream (members may be concatenated, as `GZIPInputStream` reads them);
//! - snappy: the Java client's xerial framing (magic `\x82SNAPPY\0`, 8 bytes version and
//!   compatible version, then blocks of a `u32` big-endian length and a raw snappy block), or,
//!   without the magic, one raw snappy block as librdkafka may send (as Kafka's Java broker
//!   and `kafka-protocol` fall back);
//! - lz4: LZ4 frames (Kafka since 0.10, header checksum as specified);
//! - zstd: zstd frames, one or more.

use std::fmt;
use std::io::{self, Read};

use bytes::Bytes;
use kafka_protocol::records::Compression;

/// The xerial snappy stream's magic, the first 8 bytes of its 16-byte header.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// The xerial header: magic, then version and compatible version (`u32` each).
const XERIAL_HEADER_BYTES: usize = 16;
/// The bytes read from a streaming decoder at a time.
const CHUNK_BYTES: usize = 16 * 1024;

/// Why a batch's records could not be decompressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// The output would pass the limit (the limit given, in bytes).
    TooLarge(usize),
    /// Not a valid stream of its codec: the codec and the decoder's reason.
    Corrupt(Compression, String),
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecompressError::TooLarge(max) => write!(f, "records decompress to more than {max} bytes"),
            DecompressError::Corrupt(codec, why) => write!(f, "not valid {codec:?} data: {why}"),
        }
    }
}

impl std::error::Error for DecompressError {}

/// The records section `input` of a batch compressed with `codec`, decompressed into at most
/// `output_bytes_max` bytes (more is [`DecompressError::TooLarge`]).
pub fn decompress(codec: Compression, input: &[u8], output_bytes_max: usize) -> Result<Bytes, DecompressError> {
    let out = match codec {
        Compression::None if input.len() > output_bytes_max => return Err(DecompressError::TooLarge(output_bytes_max)),
        Compression::None => input.to_vec(),
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(input), codec, output_bytes_max)?,
        Compression::Snappy => snappy(input, output_bytes_max)?,
        Compression::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(input), codec, output_bytes_max)?,
        Compression::Zstd => zstd(input, output_bytes_max)?,
    };
    Ok(Bytes::from(out))
}

/// Reads `r` to its end into a buffer that never holds, nor reserves, more than `max` bytes.
fn read_bounded(r: impl Read, codec: Compression, max: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    read_bounded_into(r, codec, max, &mut out)?;
    Ok(out)
}

/// Appends `r`'s bytes to `out`, which may hold at most `max` bytes in all.
fn read_bounded_into(
    mut r: impl Read,
    codec: Compression,
    max: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecompressError> {
    let mut chunk = vec![0u8; CHUNK_BYTES];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecompressError::Corrupt(codec, e.to_string())),
        };
        let room = max - out.len();
        if n > room {
            return Err(DecompressError::TooLarge(max));
        }
        if out.capacity() - out.len() < n {
            // Doubling, as a Vec grows, but never past the limit.
            out.reserve_exact(out.capacity().max(n).min(room));
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Snappy, xerial-framed or raw: the blocks' declared lengths are summed and checked against
/// `max` before the output is allocated, once, at its exact size.
fn snappy(input: &[u8], max: usize) -> Result<Vec<u8>, DecompressError> {
    let corrupt = |why: String| DecompressError::Corrupt(Compression::Snappy, why);
    let blocks = match input.strip_prefix(XERIAL_MAGIC) {
        Some(_) => xerial_blocks(input).ok_or_else(|| corrupt("truncated xerial block".into()))?,
        None => vec![input],
    };
    let mut total = 0usize;
    for b in &blocks {
        let len = snap::raw::decompress_len(b).map_err(|e| corrupt(e.to_string()))?;
        total = total.saturating_add(len);
        if total > max {
            return Err(DecompressError::TooLarge(max));
        }
    }
    let mut out = vec![0u8; total];
    let mut at = 0;
    let mut decoder = snap::raw::Decoder::new();
    for b in &blocks {
        at += decoder.decompress(b, &mut out[at..]).map_err(|e| corrupt(e.to_string()))?;
    }
    out.truncate(at);
    Ok(out)
}

/// The raw blocks of a xerial snappy stream (header included in `input`), or None if its
/// framing is cut short.
fn xerial_blocks(input: &[u8]) -> Option<Vec<&[u8]>> {
    let mut rest = input.get(XERIAL_HEADER_BYTES..)?;
    let mut blocks = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        blocks.push(tail.get(..len)?);
        rest = &tail[len..];
    }
    Some(blocks)
}

/// Zstd: frame after frame until the input ends, all of them within `max`, each frame's
/// content checksum checked when it has one.
fn zstd(input: &[u8], max: usize) -> Result<Vec<u8>, DecompressError> {
    let corrupt = |why: String| DecompressError::Corrupt(Compression::Zstd, why);
    let mut rest = input;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut frame = ruzstd::decoding::StreamingDecoder::new(&mut rest).map_err(|e| corrupt(e.to_string()))?;
        read_bounded_into(&mut frame, Compression::Zstd, max, &mut out)?;
        let d = &frame.decoder;
        if let (Some(sent), Some(seen)) = (d.get_checksum_from_data(), d.get_calculated_checksum()) {
            if sent != seen {
                return Err(corrupt("content checksum mismatch".into()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "decompress_tests.rs"]
mod tests;
