//! Whether this broker's loaded groups still match their shard of `__consumer_offsets`.
//!
//! A group's state is what its coordinator replayed from the shard plus what it appended since.
//! The coordinator moves with the live brokers and the shard's leader, and views reach brokers
//! at different times, so another broker may have coordinated (and written) the shard meanwhile:
//! coordination that left this broker and came back, or two brokers that both believe they
//! coordinate. Groups kept loaded across that answer from stale state: offsets acknowledged
//! elsewhere vanish, and generation numbers (and member ids) are handed out again, so one
//! generation can have two assignments.
//!
//! [`ShardEnds`] is the fence: per shard, the end offset as this broker last saw it (after a
//! replay, or after one of its own appends landed exactly there) and a version. Any sign that
//! someone else wrote the shard (a high watermark past that end, an append of ours landing
//! elsewhere) bumps the version, and a group loaded at an older version is replayed before it
//! answers again. An append that landed elsewhere was decided on possibly stale state, so it
//! is not acknowledged as a success.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ShardEnd {
    end: u64,
    version: u64,
}

/// The fence of every shard this broker replayed or wrote.
#[derive(Debug, Default)]
pub struct ShardEnds(Mutex<HashMap<u32, ShardEnd>>);

/// The shard's high watermark is below what this broker saw acknowledged: its new leader has
/// not caught up yet, and a replay now would miss acknowledged records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Behind;

impl ShardEnds {
    fn with<R>(&self, shard: u32, f: impl FnOnce(&mut ShardEnd) -> R) -> R {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(m.entry(shard).or_default())
    }

    /// Before a request: the shard's version given its high watermark now.
    pub fn check(&self, shard: u32, high_watermark: u64) -> Result<u64, Behind> {
        self.with(shard, |s| {
            if high_watermark < s.end {
                return Err(Behind);
            }
            if high_watermark > s.end {
                s.end = high_watermark;
                s.version += 1;
            }
            Ok(s.version)
        })
    }

    /// After a replay that read the shard up to `end`: the version the group is loaded at.
    pub fn replayed(&self, shard: u32, end: u64) -> u64 {
        self.with(shard, |s| {
            if end != s.end {
                s.end = s.end.max(end);
                s.version += 1;
            }
            s.version
        })
    }

    /// After one of this broker's appends landed at `base..=last`: whether it landed at the end
    /// this broker knew (nobody else wrote in between).
    pub fn appended(&self, shard: u32, base: u64, last: u64) -> bool {
        self.with(shard, |s| {
            let fresh = base == s.end;
            if !fresh {
                s.version += 1;
            }
            s.end = s.end.max(last + 1);
            fresh
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_appends_keep_the_version_and_foreign_writes_bump_it() {
        let f = ShardEnds::default();
        let v = f.replayed(3, 10);
        assert_eq!(f.check(3, 10), Ok(v));
        assert!(f.appended(3, 10, 11));
        assert_eq!(f.check(3, 12), Ok(v), "our own append moved the end");
        assert!(!f.appended(3, 14, 14), "someone wrote 12..14");
        let v2 = f.check(3, 15).expect("not behind");
        assert!(v2 > v);
        assert!(f.check(3, 16).expect("not behind") > v2, "a high watermark past the end is a foreign write");
        assert_eq!(f.check(3, 15), Err(Behind), "a leader that has not caught up");
        assert_eq!(f.check(4, 0), Ok(0), "shards are apart");
    }
}
