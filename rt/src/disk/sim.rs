//! [`SimDisk`]: an in-memory disk with crash semantics and seeded faults.
//!
//! Each file (an inode) holds its durable bytes, its live bytes, and the operations written
//! since its last sync. Each directory entry is live or durable the same way: a created,
//! renamed or removed name becomes durable when its directory is synced. [`SimDisk::crash`]
//! models power loss: every inode goes back to its durable bytes plus a random prefix of its
//! unsynced operations, the next of which may land torn (a prefix of its bytes); names go back
//! to their durable state; handles opened before the crash fail from then on.
//!
//! Faults, set per disk by the simulation ([`DiskFaults`]): failed syncs (nothing becomes
//! durable), failed reads, bit flips in durable data at a crash, stalls, and a capacity past
//! which writes fail with `StorageFull`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{parent, Disk, DiskFile, OpenMode};

/// Fault rates of one simulated disk. All zero (and unbounded capacity) by default.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskFaults {
    /// Probability that a file sync fails (and makes nothing durable).
    pub sync_fail_rate: f64,
    /// Probability that a read fails.
    pub read_error_rate: f64,
    /// Probability, per file and crash, that one bit of its durable bytes flips.
    pub bit_flip_rate: f64,
    /// Only files whose path starts with this may flip (`None`: any file).
    pub bit_flip_prefix: Option<String>,
    /// Only the last this many durable bytes of a file may flip (`None`: any byte): damage to
    /// what was synced last, such as a log's newest records.
    pub bit_flip_tail_bytes: Option<u64>,
    /// Probability that an operation stalls before it runs.
    pub stall_rate: f64,
    /// The longest stall.
    pub stall_ms_max: u64,
    /// Live bytes past which writes fail with `StorageFull`.
    pub capacity_bytes: u64,
    /// Longest time a write takes, in microseconds (each takes a random time up to this).
    pub write_us_max: u64,
    /// Longest time a sync takes, in microseconds. Nonzero latencies open the windows in which
    /// a crash finds written but unsynced data.
    pub sync_us_max: u64,
}

impl Default for DiskFaults {
    fn default() -> Self {
        DiskFaults {
            sync_fail_rate: 0.0,
            read_error_rate: 0.0,
            bit_flip_rate: 0.0,
            bit_flip_prefix: None,
            bit_flip_tail_bytes: None,
            stall_rate: 0.0,
            stall_ms_max: 0,
            capacity_bytes: u64::MAX,
            write_us_max: 0,
            sync_us_max: 0,
        }
    }
}

impl DiskFaults {
    /// No faults, but the latencies of a fast SSD, for simulated runs.
    pub fn ssd() -> Self {
        DiskFaults { write_us_max: 50, sync_us_max: 2_000, ..DiskFaults::default() }
    }
}

/// Counters of what the disk did, for the run's report and for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub syncs: u64,
    pub sync_failures: u64,
    pub read_errors: u64,
    pub crashes: u64,
    pub torn_writes: u64,
    pub bit_flips: u64,
    pub full_errors: u64,
    pub lost_unsynced_ops: u64,
}

enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
}

struct State {
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    live: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
    dirs: BTreeSet<String>,
    faults: DiskFaults,
    rng: StdRng,
    generation: u64,
    stats: DiskStats,
    /// Set by [`SimDisk::next_write`]: the next write notifies `write_seen`.
    armed: bool,
}

/// A simulated disk. Clones share the same disk (it outlives the node's restarts).
#[derive(Clone)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
    write_seen: Arc<tokio::sync::Notify>,
}

fn apply(buf: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Write(off, data) => write_into(buf, *off, data),
        Pending::SetLen(len) => buf.resize(*len as usize, 0),
    }
}

fn write_into(buf: &mut Vec<u8>, off: u64, data: &[u8]) {
    let off = off as usize;
    if buf.len() < off + data.len() {
        buf.resize(off + data.len(), 0);
    }
    buf[off..off + data.len()].copy_from_slice(data);
}

fn not_found(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{what}: not found"))
}

impl SimDisk {
    /// An empty disk whose faults draw from a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let mut dirs = BTreeSet::new();
        dirs.insert(String::new());
        SimDisk {
            state: Arc::new(Mutex::new(State {
                inodes: BTreeMap::new(),
                next_inode: 1,
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
                dirs,
                faults: DiskFaults::default(),
                rng: StdRng::seed_from_u64(seed),
                generation: 0,
                stats: DiskStats::default(),
                armed: false,
            })),
            write_seen: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Resolves when the next write lands (not yet synced): a nemesis that crashes the node
    /// then finds unsynced data to lose or tear.
    pub async fn next_write(&self) {
        let seen = self.write_seen.notified();
        self.lock().armed = true;
        seen.await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the fault rates.
    pub fn set_faults(&self, faults: DiskFaults) {
        self.lock().faults = faults;
    }

    /// The current fault rates.
    pub fn faults(&self) -> DiskFaults {
        self.lock().faults.clone()
    }

    /// What the disk has done so far.
    pub fn stats(&self) -> DiskStats {
        self.lock().stats.clone()
    }

    /// Power loss: keep what was durable, plus a random prefix of each file's unsynced
    /// operations (the next one possibly torn); forget names not made durable; invalidate
    /// every open handle.
    pub fn crash(&self) {
        let mut guard = self.lock();
        let st = &mut *guard;
        st.generation += 1;
        st.stats.crashes += 1;
        let flippable: BTreeSet<u64> = match &st.faults.bit_flip_prefix {
            Some(prefix) => {
                st.durable.iter().filter(|(name, _)| name.starts_with(prefix.as_str())).map(|(_, i)| *i).collect()
            }
            None => st.inodes.keys().copied().collect(),
        };
        let tail = st.faults.bit_flip_tail_bytes;
        for (ino, inode) in st.inodes.iter_mut() {
            let rate = if flippable.contains(ino) { st.faults.bit_flip_rate } else { 0.0 };
            crash_inode(inode, &mut st.rng, &mut st.stats, Flips { rate, tail });
        }
        st.live = st.durable.clone();
        gc(st);
        crate::trace::record("disk.crash", st.generation);
    }

    /// A crash that keeps nothing unsynced and flips nothing: a clean power cut.
    pub fn crash_clean(&self) {
        let mut st = self.lock();
        st.generation += 1;
        st.stats.crashes += 1;
        for inode in st.inodes.values_mut() {
            inode.pending.clear();
            inode.live = inode.durable.clone();
        }
        st.live = st.durable.clone();
        gc(&mut st);
    }

    /// Removes every file under `dir`, durably and at once: an operator's `rm -r` of a stopped
    /// node's directory followed by syncs.
    pub fn remove_dir_all(&self, dir: &str) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let prefix = format!("{dir}/");
        st.live.retain(|p, _| !p.starts_with(&prefix));
        st.durable.retain(|p, _| !p.starts_with(&prefix));
        gc(st);
    }

    async fn maybe_stall(&self) {
        let d = {
            let mut st = self.lock();
            let (rate, max) = (st.faults.stall_rate, st.faults.stall_ms_max);
            (rate > 0.0 && max > 0 && st.rng.gen_bool(rate)).then(|| st.rng.gen_range(1..=max))
        };
        if let Some(ms) = d {
            crate::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    /// Waits as long as an operation takes: up to `max_us` microseconds.
    async fn latency(&self, pick: impl FnOnce(&DiskFaults) -> u64) {
        let us = {
            let mut st = self.lock();
            let max = pick(&st.faults);
            if max == 0 {
                return;
            }
            st.rng.gen_range(1..=max)
        };
        crate::time::sleep(Duration::from_micros(us)).await;
    }

    fn used_bytes(st: &State) -> u64 {
        st.inodes.values().map(|i| i.live.len() as u64).sum()
    }
}

/// Where a crash may flip a bit of one file.
struct Flips {
    rate: f64,
    tail: Option<u64>,
}

fn crash_inode(inode: &mut Inode, rng: &mut StdRng, stats: &mut DiskStats, flips: Flips) {
    let n = inode.pending.len();
    let keep = if n == 0 { 0 } else { rng.gen_range(0..=n) };
    for op in &inode.pending[..keep] {
        apply(&mut inode.durable, op);
    }
    if keep < n {
        if let Pending::Write(off, data) = &inode.pending[keep] {
            if !data.is_empty() && rng.gen_bool(0.5) {
                let cut = rng.gen_range(0..data.len());
                write_into(&mut inode.durable, *off, &data[..cut]);
                stats.torn_writes += 1;
            }
        }
    }
    stats.lost_unsynced_ops += (n - keep) as u64;
    inode.pending.clear();
    if flips.rate > 0.0 && !inode.durable.is_empty() && rng.gen_bool(flips.rate) {
        let len = inode.durable.len();
        let tail = flips.tail.map_or(len, |t| usize::try_from(t).unwrap_or(usize::MAX).clamp(1, len));
        let i = rng.gen_range(len - tail..len);
        inode.durable[i] ^= 1 << rng.gen_range(0..8);
        stats.bit_flips += 1;
    }
    inode.live = inode.durable.clone();
}

fn gc(st: &mut State) {
    let referenced: BTreeSet<u64> = st.live.values().chain(st.durable.values()).copied().collect();
    st.inodes.retain(|k, _| referenced.contains(k));
}

fn check_dir(st: &State, path: &str) -> io::Result<()> {
    if st.dirs.contains(parent(path)) {
        Ok(())
    } else {
        Err(not_found(parent(path)))
    }
}

#[async_trait]
impl Disk for SimDisk {
    async fn open(&self, path: &str, mode: OpenMode) -> io::Result<Box<dyn DiskFile>> {
        self.maybe_stall().await;
        let mut st = self.lock();
        check_dir(&st, path)?;
        let ino = match (st.live.get(path).copied(), mode) {
            (Some(_), OpenMode::CreateNew) => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, path.to_string()))
            }
            (Some(ino), _) => ino,
            (None, OpenMode::Existing) => return Err(not_found(path)),
            (None, _) => {
                let ino = st.next_inode;
                st.next_inode += 1;
                st.inodes.insert(ino, Inode::default());
                st.live.insert(path.to_string(), ino);
                ino
            }
        };
        Ok(Box::new(SimFile { disk: self.clone(), ino, generation: st.generation }))
    }

    async fn remove_file(&self, path: &str) -> io::Result<()> {
        let mut st = self.lock();
        st.live.remove(path).map(|_| ()).ok_or_else(|| not_found(path))
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut st = self.lock();
        check_dir(&st, to)?;
        let ino = st.live.remove(from).ok_or_else(|| not_found(from))?;
        st.live.insert(to.to_string(), ino);
        Ok(())
    }

    async fn list_dir(&self, dir: &str) -> io::Result<Vec<String>> {
        let st = self.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let files = st.live.keys().filter(|p| parent(p) == dir);
        let subdirs = st.dirs.iter().filter(|d| !d.is_empty() && parent(d) == dir);
        let mut names: Vec<String> =
            files.chain(subdirs).map(|p| p.rsplit('/').next().unwrap_or(p).to_string()).collect();
        names.sort();
        Ok(names)
    }

    async fn create_dir_all(&self, dir: &str) -> io::Result<()> {
        let mut st = self.lock();
        let mut acc = String::new();
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            st.dirs.insert(acc.clone());
        }
        Ok(())
    }

    async fn sync_dir(&self, dir: &str) -> io::Result<()> {
        self.maybe_stall().await;
        let mut guard = self.lock();
        let st = &mut *guard;
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        st.durable.retain(|p, _| parent(p) != dir);
        for (p, ino) in st.live.iter().filter(|(p, _)| parent(p) == dir) {
            st.durable.insert(p.clone(), *ino);
        }
        gc(st);
        Ok(())
    }

    async fn exists(&self, path: &str) -> io::Result<bool> {
        let st = self.lock();
        Ok(st.live.contains_key(path) || st.dirs.contains(path))
    }
}

struct SimFile {
    disk: SimDisk,
    ino: u64,
    generation: u64,
}

impl SimFile {
    fn with<T>(&self, f: impl FnOnce(&mut State, u64) -> io::Result<T>) -> io::Result<T> {
        let mut st = self.disk.lock();
        if st.generation != self.generation {
            return Err(io::Error::other("simulated disk crashed: stale file handle"));
        }
        if !st.inodes.contains_key(&self.ino) {
            return Err(not_found("inode"));
        }
        f(&mut st, self.ino)
    }
}

fn inode(st: &mut State, ino: u64) -> &mut Inode {
    st.inodes.get_mut(&ino).expect("inode checked by SimFile::with")
}

#[async_trait]
impl DiskFile for SimFile {
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.disk.maybe_stall().await;
        self.with(|st, ino| {
            let rate = st.faults.read_error_rate;
            if rate > 0.0 && st.rng.gen_bool(rate) {
                st.stats.read_errors += 1;
                return Err(io::Error::other("simulated read error"));
            }
            let live = &inode(st, ino).live;
            let start = (offset as usize).min(live.len());
            let end = start.saturating_add(len).min(live.len());
            Ok(live[start..end].to_vec())
        })
    }

    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.disk.maybe_stall().await;
        self.disk.latency(|f| f.write_us_max).await;
        self.with(|st, ino| {
            let cur = inode(st, ino).live.len() as u64;
            let grow = (offset + data.len() as u64).saturating_sub(cur);
            if SimDisk::used_bytes(st).saturating_add(grow) > st.faults.capacity_bytes {
                st.stats.full_errors += 1;
                return Err(io::Error::new(io::ErrorKind::StorageFull, "simulated disk full"));
            }
            let node = inode(st, ino);
            write_into(&mut node.live, offset, data);
            node.pending.push(Pending::Write(offset, data.to_vec()));
            if std::mem::take(&mut st.armed) {
                self.disk.write_seen.notify_one();
            }
            Ok(())
        })
    }

    async fn len(&self) -> io::Result<u64> {
        self.with(|st, ino| Ok(inode(st, ino).live.len() as u64))
    }

    async fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(|st, ino| {
            let cur = inode(st, ino).live.len() as u64;
            if SimDisk::used_bytes(st).saturating_add(len.saturating_sub(cur)) > st.faults.capacity_bytes {
                st.stats.full_errors += 1;
                return Err(io::Error::new(io::ErrorKind::StorageFull, "simulated disk full"));
            }
            let node = inode(st, ino);
            node.live.resize(len as usize, 0);
            node.pending.push(Pending::SetLen(len));
            Ok(())
        })
    }

    async fn sync(&self) -> io::Result<()> {
        self.disk.maybe_stall().await;
        self.disk.latency(|f| f.sync_us_max).await;
        self.with(|st, ino| {
            let rate = st.faults.sync_fail_rate;
            if rate > 0.0 && st.rng.gen_bool(rate) {
                st.stats.sync_failures += 1;
                return Err(io::Error::other("simulated sync failure"));
            }
            st.stats.syncs += 1;
            let node = inode(st, ino);
            let pending = std::mem::take(&mut node.pending);
            for op in &pending {
                apply(&mut node.durable, op);
            }
            crate::trace::record("disk.sync", node.durable.len() as u64);
            Ok(())
        })
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use crate::disk::{read_all, suite, write_atomic};

    #[tokio::test]
    async fn passes_the_shared_suite() {
        suite::run(&SimDisk::new(1)).await;
    }

    #[tokio::test]
    async fn clean_crash_keeps_only_synced_bytes() {
        let d = SimDisk::new(7);
        let f = d.open("f", OpenMode::Create).await.unwrap();
        d.sync_dir("").await.unwrap();
        f.write_at(0, b"durable").await.unwrap();
        f.sync().await.unwrap();
        f.write_at(7, b"-volatile").await.unwrap();
        d.crash_clean();
        assert!(f.read_at(0, 10).await.is_err(), "handles die with the crash");
        assert_eq!(read_all(&d, "f").await.unwrap().unwrap(), b"durable");
    }

    #[tokio::test]
    async fn a_name_is_durable_only_after_its_directory_is_synced() {
        let d = SimDisk::new(7);
        let f = d.open("f", OpenMode::Create).await.unwrap();
        f.write_at(0, b"x").await.unwrap();
        f.sync().await.unwrap();
        d.crash_clean();
        assert!(!d.exists("f").await.unwrap());
        write_atomic(&d, "g", b"y").await.unwrap();
        d.crash_clean();
        assert_eq!(read_all(&d, "g").await.unwrap().unwrap(), b"y");
    }

    #[tokio::test]
    async fn crashes_keep_a_prefix_of_unsynced_writes_and_sometimes_tear() {
        let mut seen_lengths = BTreeSet::new();
        let mut torn = 0;
        for seed in 0..64 {
            let d = SimDisk::new(seed);
            write_atomic(&d, "log", b"").await.unwrap();
            let f = d.open("log", OpenMode::Existing).await.unwrap();
            for i in 0..4u64 {
                f.write_at(i * 4, b"abcd").await.unwrap();
            }
            d.crash();
            let data = read_all(&d, "log").await.unwrap().unwrap();
            assert!(b"abcdabcdabcdabcd".starts_with(&data), "only a prefix survives: {data:?}");
            seen_lengths.insert(data.len());
            torn += d.stats().torn_writes;
        }
        assert!(seen_lengths.contains(&0) && seen_lengths.contains(&16), "{seen_lengths:?}");
        assert!(torn > 0 && seen_lengths.iter().any(|l| l % 4 != 0), "some writes tear");
    }

    #[tokio::test]
    async fn faults_fail_syncs_reads_and_writes() {
        let d = SimDisk::new(3);
        let f = d.open("f", OpenMode::Create).await.unwrap();
        d.set_faults(DiskFaults { sync_fail_rate: 1.0, read_error_rate: 1.0, ..DiskFaults::default() });
        f.write_at(0, b"abc").await.unwrap();
        assert!(f.sync().await.is_err());
        assert!(f.read_at(0, 3).await.is_err());
        d.set_faults(DiskFaults { capacity_bytes: 4, ..DiskFaults::default() });
        let e = f.write_at(3, b"de").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        d.set_faults(DiskFaults::default());
        d.sync_dir("").await.unwrap();
        d.crash_clean();
        assert_eq!(read_all(&d, "f").await.unwrap().unwrap(), b"", "the failed sync made nothing durable");
        assert_eq!(d.stats().sync_failures, 1);
    }

    #[tokio::test]
    async fn remove_dir_all_removes_durably_what_is_under_the_directory_only() {
        let d = SimDisk::new(5);
        d.create_dir_all("meta/raft").await.unwrap();
        write_atomic(&d, "meta/raft/log", b"l").await.unwrap();
        write_atomic(&d, "meta/vote", b"v").await.unwrap();
        write_atomic(&d, "metadata", b"m").await.unwrap();
        d.remove_dir_all("meta");
        d.crash();
        assert!(!d.exists("meta/raft/log").await.unwrap() && !d.exists("meta/vote").await.unwrap());
        assert_eq!(read_all(&d, "metadata").await.unwrap().unwrap(), b"m");
    }

    #[tokio::test]
    async fn bit_flips_change_durable_bytes() {
        let d = SimDisk::new(5);
        write_atomic(&d, "f", &[0u8; 64]).await.unwrap();
        d.set_faults(DiskFaults { bit_flip_rate: 1.0, ..DiskFaults::default() });
        d.crash();
        let data = read_all(&d, "f").await.unwrap().unwrap();
        assert_eq!(data.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
    }

    #[tokio::test]
    async fn tail_bit_flips_change_only_the_last_bytes() {
        for seed in 0..32 {
            let d = SimDisk::new(seed);
            write_atomic(&d, "f", &[0u8; 64]).await.unwrap();
            d.set_faults(DiskFaults { bit_flip_rate: 1.0, bit_flip_tail_bytes: Some(4), ..DiskFaults::default() });
            d.crash();
            let data = read_all(&d, "f").await.unwrap().unwrap();
            assert_eq!(data.iter().map(|b| b.count_ones()).sum::<u32>(), 1, "seed {seed}");
            assert!(data[..60].iter().all(|b| *b == 0), "seed {seed}: a flip before the last 4 bytes");
        }
    }
}
