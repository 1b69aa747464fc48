//! Where groups live: the internal topic `__consumer_offsets`, one shard per hash of the group
//! id, written and replayed through the data plane. A committed offset and a group's generation
//! are plain records there (an offset commit is one append, never a Raft write); a coordinator
//! that takes a group over replays its shard and goes on from the last of each.
//!
//! A generation is written twice: when it starts (before any member learns it; version 0, no
//! members) and when it completes (the leader's SyncGroup made the group Stable, before the
//! assignments go out; version 1, with every member and its assignment). A replay that ends on a
//! completed generation restores its members; one that ends on a started one makes them rejoin.
//!
//! Record layout (key, then value; integers big-endian; strings are u16 length + UTF-8; bytes
//! are u32 length + raw; counts are u32):
//!
//! ```text
//! offset commit   key:   0x01 group topic partition:i32
//!                 value: offset:i64 leader_epoch:i32 metadata   (empty value: deleted)
//! generation      key:   0x02 group
//!                 value: generation:i32 protocol_type protocol_name leader   (empty: deleted)
//!                        [version:u8=1 members:count {
//!                            member_id client_id session_timeout_ms:u32 rebalance_timeout_ms:u32
//!                            protocols:count { name metadata:bytes } assignment:bytes }]
//! ```
//!
//! Version 0 ends after the leader; version 1 appends the version byte and the members, so a
//! reader of version 0 still reads its generation. A later version (another byte) is read for
//! its generation alone. A record that does not parse is skipped (and logged).

mod members;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::client::DataClient;
use crate::meta::client::MetaClient;
use crate::meta::command::{MetaCommand, MetaOk, TopicSpec};
use crate::meta::records::{Engine, Role};
use crate::meta::view::ViewHandle;
use crate::rpc::shard::WireRecord;

/// The internal topic of groups and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Bytes read at once when replaying a shard.
const REPLAY_BYTES: u32 = 1024 * 1024;
/// How long the topic's creation waits for this broker's view to show it.
const VIEW_WAIT: Duration = Duration::from_secs(5);

const OFFSET_KEY: u8 = 0x01;
const GROUP_KEY: u8 = 0x02;

/// A committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// A group's last durable generation (with its members once it completed).
pub use keel_protocols::kafka::group::StoredGeneration as Generation;

/// What a replay finds of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub offsets: BTreeMap<(String, i32), Committed>,
    pub generation: Option<Generation>,
    /// The shard's high watermark the replay read up to.
    pub end: u64,
}

fn put_str(out: &mut BytesMut, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.put_u16(s.len() as u16);
    out.put_slice(s);
}

/// The next `n` bytes, if there are as many.
fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = buf.split_at_checked(n)?;
    *buf = rest;
    Some(head)
}

fn get_str(buf: &mut &[u8]) -> Option<String> {
    let n = u16::from_be_bytes(take(buf, 2)?.try_into().ok()?);
    String::from_utf8(take(buf, n as usize)?.to_vec()).ok()
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut k = BytesMut::new();
    k.put_u8(OFFSET_KEY);
    put_str(&mut k, group);
    put_str(&mut k, topic);
    k.put_i32(partition);
    k.freeze()
}

pub fn offset_value(c: &Committed) -> Bytes {
    let mut v = BytesMut::new();
    v.put_i64(c.offset);
    v.put_i32(c.leader_epoch);
    put_str(&mut v, &c.metadata);
    v.freeze()
}

pub fn group_key(group: &str) -> Bytes {
    let mut k = BytesMut::new();
    k.put_u8(GROUP_KEY);
    put_str(&mut k, group);
    k.freeze()
}

pub fn group_value(g: &Generation) -> Bytes {
    let mut v = BytesMut::new();
    v.put_i32(g.generation);
    put_str(&mut v, &g.protocol_type);
    put_str(&mut v, &g.protocol_name);
    put_str(&mut v, &g.leader);
    if !g.members.is_empty() {
        members::put(&mut v, &g.members);
    }
    v.freeze()
}

/// Applies one stored record to what is known of `group` (records of other groups and
/// records that do not parse are skipped).
pub fn apply(group: &str, key: &[u8], value: &[u8], into: &mut Loaded) {
    let mut k = key;
    if k.remaining() < 1 {
        return;
    }
    let kind = k.get_u8();
    if get_str(&mut k).as_deref() != Some(group) {
        return;
    }
    let mut v = value;
    match kind {
        OFFSET_KEY => {
            let (Some(topic), true) = (get_str(&mut k), k.remaining() == 4) else { return };
            let partition = k.get_i32();
            if v.is_empty() {
                into.offsets.remove(&(topic, partition));
                return;
            }
            if v.remaining() < 12 {
                return;
            }
            let (offset, leader_epoch) = (v.get_i64(), v.get_i32());
            let Some(metadata) = get_str(&mut v) else { return };
            into.offsets.insert((topic, partition), Committed { offset, leader_epoch, metadata });
        }
        GROUP_KEY if v.is_empty() => into.generation = None,
        GROUP_KEY if v.remaining() >= 4 => {
            let generation = v.get_i32();
            // Generations only grow: a record of a lower one was written late by a coordinator
            // that had lost the group (see `fence`), and must not take the group back.
            if into.generation.as_ref().is_some_and(|g| g.generation > generation) {
                return;
            }
            let (Some(protocol_type), Some(protocol_name), Some(leader)) =
                (get_str(&mut v), get_str(&mut v), get_str(&mut v))
            else {
                return tracing::warn!(group, generation, "kafka: a malformed generation record skipped");
            };
            let members = match (v.remaining() > 0).then(|| v.get_u8()) {
                None => Vec::new(),
                Some(members::WITH_MEMBERS) => match members::get(&mut v) {
                    Some(m) => m,
                    None => return tracing::warn!(group, generation, "kafka: a malformed generation record skipped"),
                },
                Some(version) => {
                    tracing::info!(group, generation, version, "kafka: a generation record of a later version");
                    Vec::new()
                }
            };
            into.generation = Some(Generation { generation, protocol_type, protocol_name, leader, members });
        }
        _ => {}
    }
}

/// The shard of `__consumer_offsets` that holds `group`.
pub fn partition_of(group: &str, partitions: u32) -> u32 {
    let h = group.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (h % u64::from(partitions.max(1))) as u32
}

/// Creates the offsets topic if it does not exist yet; its partition count.
pub async fn ensure_topic(meta: &MetaClient, view: &ViewHandle, partitions: u32, rf: u32) -> Result<u32, String> {
    if let Some(t) = view.current().topics.get(OFFSETS_TOPIC) {
        return Ok(t.partitions);
    }
    let storage = view.current().nodes.values().filter(|n| n.alive && n.roles.contains(&Role::Storage)).count() as u32;
    let spec = TopicSpec {
        name: OFFSETS_TOPIC.to_string(),
        partitions,
        replication_factor: rf.min(storage.max(1)),
        engine: Engine::Segment,
        retention_ms: None,
        retention_bytes: None,
        unclean_leader_election: false,
        min_insync_replicas: 1,
    };
    let w = meta.write(&MetaCommand::CreateTopic(spec)).await.map_err(|e| e.to_string())?;
    match w.result {
        Ok(MetaOk::Topic(t)) => {
            view.clone().at_least(w.log_id.index, VIEW_WAIT).await;
            Ok(t.partitions)
        }
        Ok(_) => Ok(partitions),
        Err(e) => match view.clone().at_least(w.log_id.index, VIEW_WAIT).await.topics.get(OFFSETS_TOPIC) {
            Some(t) => Ok(t.partitions),
            None => Err(e.to_string()),
        },
    }
}

/// Appends records (key, value) to the group's shard, acknowledged once the in-sync replicas
/// synced them; the offsets of the first and last.
pub async fn append(
    data: &DataClient,
    partition: u32,
    records: Vec<(Bytes, Bytes)>,
    now_ms: u64,
) -> Result<(u64, u64), String> {
    let wire = records.into_iter().map(|(k, v)| WireRecord::new(now_ms, Some(k), v)).collect();
    data.produce(OFFSETS_TOPIC, partition, wire, None).await.map_err(|e| e.to_string())
}

/// The shard's high watermark.
pub async fn end(data: &DataClient, partition: u32) -> Result<u64, String> {
    data.fetch(OFFSETS_TOPIC, partition, 0, 1, 0).await.map(|f| f.high_watermark).map_err(|e| e.to_string())
}

/// The group a record of the shard belongs to (`None`: not a record this module wrote).
pub fn group_of(key: &[u8]) -> Option<String> {
    let mut k = key;
    match take(&mut k, 1)? {
        [OFFSET_KEY] | [GROUP_KEY] => get_str(&mut k),
        _ => None,
    }
}

/// Replays the group's shard from its start to the high watermark.
pub async fn replay(data: &DataClient, partition: u32, group: &str) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    let end = replay_records(data, partition, |key, value| apply(group, key, value, &mut loaded)).await?;
    loaded.end = end;
    Ok(loaded)
}

/// Replays a whole shard: every group it holds (what an operator lists).
pub async fn replay_all(data: &DataClient, partition: u32) -> Result<BTreeMap<String, Loaded>, String> {
    let mut groups: BTreeMap<String, Loaded> = BTreeMap::new();
    let end = replay_records(data, partition, |key, value| {
        if let Some(group) = group_of(key) {
            let into = groups.entry(group.clone()).or_default();
            apply(&group, key, value, into);
        }
    })
    .await?;
    // A group whose records were all deletions is gone.
    groups.retain(|_, l| l.generation.is_some() || !l.offsets.is_empty());
    groups.values_mut().for_each(|l| l.end = end);
    Ok(groups)
}

/// Feeds every record of the shard, from its start to the high watermark, to `record`; the
/// high watermark read up to.
async fn replay_records(
    data: &DataClient,
    partition: u32,
    mut record: impl FnMut(&[u8], &[u8]),
) -> Result<u64, String> {
    let mut next = 0u64;
    loop {
        let f = data.fetch(OFFSETS_TOPIC, partition, next, REPLAY_BYTES, 0).await.map_err(|e| e.to_string())?;
        next = next.max(f.start_offset);
        if f.records.is_empty() || next >= f.high_watermark {
            return Ok(f.high_watermark);
        }
        for r in &f.records {
            record(r.key.as_deref().unwrap_or_default(), &r.value);
            next = r.offset + u64::from(r.span());
        }
    }
}

#[cfg(test)]
mod tests;
