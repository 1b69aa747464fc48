//! What a consumer group's leader member does in the simulation, as real clients do: the range
//! assignor (sorted members, each a contiguous run of the partitions, the first ones one more
//! when they do not divide evenly), and the standard ConsumerProtocol bytes of a subscription
//! (JoinGroup metadata) and of an assignment (SyncGroup), version 0, big-endian:
//!
//! ```text
//! subscription  version:i16 topics:[string] user_data:bytes
//! assignment    version:i16 [topic:string partitions:[i32]] user_data:bytes
//! ```
//! (`string`: i16 length + UTF-8; `[x]`: i32 count then the items; `bytes`: i32 length, -1 null.)

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The protocol the members offer, by its Kafka name.
pub const RANGE: &str = "range";

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

/// A subscription to `topic`.
pub fn subscription(topic: &str) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(1);
    put_str(&mut out, topic);
    out.put_i32(-1);
    out.freeze()
}

/// An assignment of `partitions` of `topic`.
pub fn encode(topic: &str, partitions: &[i32]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(1);
    put_str(&mut out, topic);
    out.put_i32(partitions.len() as i32);
    partitions.iter().for_each(|p| out.put_i32(*p));
    out.put_i32(-1);
    out.freeze()
}

/// The partitions of `topic` in an assignment (empty bytes: none); `None` if malformed.
pub fn decode(topic: &str, mut b: &[u8]) -> Option<Vec<i32>> {
    let mut out = Vec::new();
    if b.is_empty() {
        return Some(out);
    }
    let need = |b: &[u8], n: usize| (b.remaining() >= n).then_some(());
    need(b, 6)?;
    let (_version, topics) = (b.get_i16(), b.get_i32());
    for _ in 0..topics.max(0) {
        need(b, 2)?;
        let n = b.get_i16().max(0) as usize;
        need(b, n + 4)?;
        let name = b[..n].to_vec();
        b.advance(n);
        let count = b.get_i32().max(0) as usize;
        need(b, count.checked_mul(4)?)?;
        let parts = (0..count).map(|_| b.get_i32());
        if name == topic.as_bytes() {
            out.extend(parts);
        } else {
            parts.for_each(drop);
        }
    }
    Some(out)
}

/// The range assignor over `partitions` partitions: member (in the order given, sorted by the
/// caller) → its partitions.
pub fn range(members: &[String], partitions: i32) -> Vec<(String, Vec<i32>)> {
    let n = members.len().max(1) as i32;
    let (each, extra) = (partitions / n, partitions % n);
    let mut next = 0;
    members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let take = each + i32::from((i as i32) < extra);
            let mine = (next..next + take).collect();
            next += take;
            (m.clone(), mine)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_round_trip_and_other_topics_are_skipped() {
        assert_eq!(decode("t", &encode("t", &[0, 2])), Some(vec![0, 2]));
        assert_eq!(decode("u", &encode("t", &[0, 2])), Some(vec![]));
        assert_eq!(decode("t", b""), Some(vec![]));
        assert_eq!(decode("t", &encode("t", &[1])[..9]), None, "truncated");
        assert_eq!(&subscription("t")[..], &[0, 0, 0, 0, 0, 1, 0, 1, b't', 255, 255, 255, 255][..]);
    }

    #[test]
    fn range_gives_contiguous_runs_the_first_members_one_more() {
        let m = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = range(&m(&["a", "b"]), 3);
        assert_eq!(got, vec![("a".to_string(), vec![0, 1]), ("b".to_string(), vec![2])]);
        let got = range(&m(&["a", "b", "c"]), 2);
        assert_eq!(got.iter().map(|(_, p)| p.len()).collect::<Vec<_>>(), [1, 1, 0]);
    }
}
