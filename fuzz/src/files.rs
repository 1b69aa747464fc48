//! A directory of files as one fuzz input, and putting it on a simulated disk.
//!
//! The input is a sequence of entries `[tag u8][base u64 BE][len u16 BE][len bytes]`; a short
//! last entry takes the bytes that are left. Each target maps `(tag, base)` to a file name (a
//! segment's log or index at that base offset, the meta log's `log` or `vote`, ...). At most
//! [`FILES_MAX`] entries are read; a later entry with the same name replaces the earlier one.

use keel_rt::disk::{Disk, OpenMode, SimDisk};

/// Entries read from one input.
pub const FILES_MAX: usize = 8;
const ENTRY_HEADER_BYTES: usize = 11;

/// One file of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub tag: u8,
    pub base: u64,
    pub bytes: Vec<u8>,
}

/// The files an input holds.
pub fn decode(mut data: &[u8]) -> Vec<File> {
    let mut files = Vec::new();
    while data.len() >= ENTRY_HEADER_BYTES && files.len() < FILES_MAX {
        let tag = data[0];
        let base = u64::from_be_bytes(data[1..9].try_into().expect("8 bytes"));
        let len = usize::from(u16::from_be_bytes([data[9], data[10]]));
        let rest = &data[ENTRY_HEADER_BYTES..];
        let take = len.min(rest.len());
        files.push(File { tag, base, bytes: rest[..take].to_vec() });
        data = &rest[take..];
    }
    files
}

/// The input holding `files` (each at most `u16::MAX` bytes).
pub fn encode(files: &[File]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in files {
        let len = u16::try_from(f.bytes.len()).expect("a seed file fits in a u16 length");
        out.push(f.tag);
        out.extend_from_slice(&f.base.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&f.bytes);
    }
    out
}

/// A fresh simulated disk (no faults) holding `files` under `dir`, synced, each named by
/// `name` (entries it names `None` are left out).
pub async fn to_disk(dir: &str, files: &[File], name: impl Fn(&File) -> Option<String>) -> SimDisk {
    let disk = SimDisk::new(0);
    disk.create_dir_all(dir).await.expect("a directory on an empty disk");
    for f in files {
        let Some(name) = name(f) else { continue };
        let file = disk.open(&format!("{dir}/{name}"), OpenMode::Create).await.expect("a new file");
        file.set_len(0).await.expect("emptied");
        file.write_at(0, &f.bytes).await.expect("written");
        file.sync().await.expect("synced");
    }
    disk.sync_dir(dir).await.expect("directory synced");
    disk
}

/// Every file under `dir` of `disk`, by name, in name order.
pub async fn from_disk(disk: &dyn Disk, dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in disk.list_dir(dir).await.expect("the directory exists") {
        let bytes = keel_rt::disk::read_all(disk, &format!("{dir}/{name}")).await.expect("readable");
        out.push((name, bytes.expect("listed, so present")));
    }
    out
}
