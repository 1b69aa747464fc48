//! Files through the seam: the [`Disk`] trait and its two implementations.
//!
//! [`RealDisk`] is real files under a root directory (production only). [`SimDisk`] is an
//! in-memory model that tracks, per file, the bytes that are durable (synced) apart from the
//! bytes that are only written, and per directory the names that are durable (directory
//! synced) apart from the names that only exist. A simulated crash keeps only the durable state,
//! plus possibly a prefix of the unsynced writes, the last of them torn. It can also fail syncs,
//! fail reads, flip bits, stall and fill up, each driven by the run's seed.
//!
//! Paths are `/`-separated and relative to the disk's root. Both implementations pass the same
//! suite ([`suite`]).
//!
//! Durability contract (what callers may rely on, and what `SimDisk` enforces):
//! - file contents written with [`DiskFile::write_at`] / [`DiskFile::set_len`] are durable only
//!   after [`DiskFile::sync`] returns `Ok`;
//! - a created, renamed or removed name is durable only after [`Disk::sync_dir`] of its
//!   directory returns `Ok`;
//! - a failed sync leaves durability unknown: the caller must treat the file as suspect.

use std::io;

use async_trait::async_trait;

#[cfg(not(madsim))]
mod real;
mod sim;
pub mod suite;

#[cfg(not(madsim))]
pub use real::RealDisk;
pub use sim::{DiskFaults, DiskStats, SimDisk};

/// How [`Disk::open`] treats a missing or present file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// The file must exist.
    Existing,
    /// Open the file, creating it empty if missing.
    Create,
    /// Create the file; fail with `AlreadyExists` if present.
    CreateNew,
}

/// A directory tree of files.
#[async_trait]
pub trait Disk: Send + Sync + 'static {
    /// Opens `path` for reading and writing.
    async fn open(&self, path: &str, mode: OpenMode) -> io::Result<Box<dyn DiskFile>>;
    /// Removes a file.
    async fn remove_file(&self, path: &str) -> io::Result<()>;
    /// Atomically replaces `to` with `from`.
    async fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// The names in a directory, sorted. A missing directory is `NotFound`.
    async fn list_dir(&self, dir: &str) -> io::Result<Vec<String>>;
    /// Creates a directory and its parents (durable at once).
    async fn create_dir_all(&self, dir: &str) -> io::Result<()>;
    /// Makes the names in `dir` durable.
    async fn sync_dir(&self, dir: &str) -> io::Result<()>;
    /// Whether a file exists.
    async fn exists(&self, path: &str) -> io::Result<bool>;
    /// Where `path` is on the real filesystem, for the few engines that do their own I/O
    /// (RocksDB, production builds only); `None` for a disk that is not real files.
    fn local_path(&self, _path: &str) -> Option<std::path::PathBuf> {
        None
    }
}

/// An open file.
#[allow(clippy::len_without_is_empty)] // a file's length is I/O, emptiness is not asked
#[async_trait]
pub trait DiskFile: Send + Sync {
    /// Reads up to `len` bytes at `offset`; fewer at the end of the file.
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Writes all of `data` at `offset`, extending the file if needed.
    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// As [`DiskFile::write_at`], taking the buffer by value: a file whose I/O runs on another
    /// thread can hand it over without copying it (the hot append path).
    async fn write_bytes(&self, offset: u64, data: bytes::Bytes) -> io::Result<()> {
        self.write_at(offset, &data).await
    }
    /// The file's length.
    async fn len(&self) -> io::Result<u64>;
    /// Truncates or extends the file.
    async fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's contents durable.
    async fn sync(&self) -> io::Result<()>;
}

/// The directory part of `path` ("" for the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Reads a whole file, or `None` if it does not exist.
pub async fn read_all(disk: &dyn Disk, path: &str) -> io::Result<Option<Vec<u8>>> {
    let f = match disk.open(path, OpenMode::Existing).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.len().await?;
    let len = usize::try_from(len).map_err(|_| io::Error::other("file too large to read whole"))?;
    let data = f.read_at(0, len).await?;
    if data.len() != len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read of whole file"));
    }
    Ok(Some(data))
}

/// Replaces `path` with `data` durably: write a temporary file, sync it, rename it over
/// `path`, sync the directory. After `Ok`, a crash leaves the new contents; before, the old.
pub async fn write_atomic(disk: &dyn Disk, path: &str, data: &[u8]) -> io::Result<()> {
    let tmp = format!("{path}.tmp");
    let f = disk.open(&tmp, OpenMode::Create).await?;
    f.set_len(0).await?;
    f.write_at(0, data).await?;
    f.sync().await?;
    drop(f);
    disk.rename(&tmp, path).await?;
    disk.sync_dir(parent(path)).await
}
