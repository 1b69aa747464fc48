//! The meta Raft log's directory as a fuzz input (`log`, `vote`, `purged`), and seeds written
//! with the store's own record layout: entries of every payload kind, a vote, a purge mark, a
//! torn tail.

use std::collections::{BTreeMap, BTreeSet};

use keel::meta::command::MetaCommand;
use keel::meta::store_format::{encode_file, encode_record, file_header, FileKind};
use keel::meta::types::{Entry, LogId, Vote};
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership};

use crate::files::{self, File};

/// Where the store lives on the disk.
pub const DIR: &str = "raft";
const NAMES: [&str; 3] = ["log", "vote", "purged"];

/// The file an entry stands for: by tag, the log, the vote or the purge mark.
pub fn name(f: &File) -> Option<String> {
    Some(NAMES[usize::from(f.tag) % NAMES.len()].to_string())
}

/// Entry `index` of term `term` (led by node 1).
pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn entry(index: u64) -> Entry {
    let payload = match index % 3 {
        0 => EntryPayload::Blank,
        1 => EntryPayload::Membership(Membership::new(
            vec![BTreeSet::from([1, 2])],
            BTreeMap::from([(1, BasicNode::new("n1:7000")), (2, BasicNode::new("n2:7000"))]),
        )),
        _ => EntryPayload::Normal(MetaCommand::SetNodeAlive { id: index, alive: index.is_multiple_of(2) }),
    };
    Entry { log_id: log_id(1 + index / 4, index), payload }
}

/// A `vote` or `purged` file: its header and one record.
fn checked<T: serde::Serialize>(kind: FileKind, value: &T) -> Vec<u8> {
    encode_file(kind, value).expect("serializable")
}

/// A `log` file: its header and entries `indexes`.
fn log(indexes: std::ops::Range<u64>) -> Vec<u8> {
    let mut out = file_header(FileKind::Log).to_vec();
    for i in indexes {
        encode_record(i, &serde_json::to_vec(&entry(i)).expect("serializable"), &mut out);
    }
    out
}

/// The seed inputs.
pub fn seeds() -> Vec<Vec<u8>> {
    let file = |tag: u8, bytes: Vec<u8>| File { tag, base: 0, bytes };
    let full = log(0..7);
    let mut torn = full.clone();
    torn.truncate(full.len() - 5);
    let vote = checked(FileKind::Vote, &Vote::new_committed(2, 1));
    let purged = checked(FileKind::Purged, &Some(log_id(1, 2)));
    [
        vec![file(0, full.clone())],
        vec![file(0, full.clone()), file(1, vote.clone()), file(2, purged.clone())],
        vec![file(0, torn), file(1, vote)],
        vec![file(0, log(3..5)), file(2, purged)],
        vec![file(0, log(0..2)), file(1, checked(FileKind::Vote, &Vote::new(1, 2)))],
    ]
    .iter()
    .map(|f| files::encode(f))
    .collect()
}
