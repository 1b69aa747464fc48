//! The members part of a generation record (value version 1, see the layout in [`super`]):
//! every member of a completed generation with its settings, protocols and assignment.

use bytes::{BufMut, Bytes, BytesMut};
use keel_protocols::kafka::group::{Protocol, StoredMember};

use super::{get_str, put_str, take};

/// The value version that carries members.
pub const WITH_MEMBERS: u8 = 1;

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_u32(b.len() as u32);
    out.put_slice(b);
}

fn get_bytes(buf: &mut &[u8]) -> Option<Bytes> {
    let n = get_u32(buf)?;
    take(buf, n as usize).map(Bytes::copy_from_slice)
}

fn get_u32(buf: &mut &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(take(buf, 4)?.try_into().ok()?))
}

fn clamp(ms: u64) -> u32 {
    ms.min(u64::from(u32::MAX)) as u32
}

/// Appends the version byte and `members`.
pub fn put(out: &mut BytesMut, members: &[StoredMember]) {
    out.put_u8(WITH_MEMBERS);
    out.put_u32(members.len() as u32);
    for m in members {
        put_str(out, &m.member_id);
        put_str(out, &m.client_id);
        out.put_u32(clamp(m.session_timeout_ms));
        out.put_u32(clamp(m.rebalance_timeout_ms));
        out.put_u32(m.protocols.len() as u32);
        for p in &m.protocols {
            put_str(out, &p.name);
            put_bytes(out, &p.metadata);
        }
        put_bytes(out, &m.assignment);
    }
}

/// Reads the members after the version byte; `None` if they do not parse. Counts are not
/// trusted: every element read consumes bytes, so a wrong count runs out of them.
pub fn get(buf: &mut &[u8]) -> Option<Vec<StoredMember>> {
    let count = get_u32(buf)?;
    let mut members = Vec::new();
    for _ in 0..count {
        let member_id = get_str(buf)?;
        let client_id = get_str(buf)?;
        let session_timeout_ms = u64::from(get_u32(buf)?);
        let rebalance_timeout_ms = u64::from(get_u32(buf)?);
        let mut protocols = Vec::new();
        for _ in 0..get_u32(buf)? {
            let name = get_str(buf)?;
            protocols.push(Protocol { name, metadata: get_bytes(buf)? });
        }
        let assignment = get_bytes(buf)?;
        members.push(StoredMember {
            member_id,
            client_id,
            session_timeout_ms,
            rebalance_timeout_ms,
            protocols,
            assignment,
        });
    }
    Some(members)
}
