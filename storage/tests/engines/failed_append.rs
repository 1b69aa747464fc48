//! An append whose write fails part-way (a real disk that fills up mid-write keeps what it
//! wrote) leaves nothing behind: the engine cuts the bytes, the next append takes the same
//! offsets and position, and a reopen finds exactly the appended batches. `SimDisk` writes all
//! or nothing, so a wrapper here writes half of one write and then fails it.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use keel_rt::disk::{Disk, DiskFile, OpenMode, SimDisk};
use keel_storage::suite::{append_checked, batch, check_matches, Limits};
use keel_storage::{LogEngine, LogError, SegmentEngine};

use crate::harness::{segment_config, DIR};

/// `SimDisk`, except that while `armed` the next write keeps only its first half and fails.
#[derive(Clone)]
struct HalfWrites {
    inner: SimDisk,
    armed: Arc<AtomicBool>,
}

struct HalfWriteFile {
    inner: Box<dyn DiskFile>,
    armed: Arc<AtomicBool>,
}

#[async_trait]
impl Disk for HalfWrites {
    async fn open(&self, path: &str, mode: OpenMode) -> io::Result<Box<dyn DiskFile>> {
        let inner = self.inner.open(path, mode).await?;
        Ok(Box::new(HalfWriteFile { inner, armed: self.armed.clone() }))
    }
    async fn remove_file(&self, path: &str) -> io::Result<()> {
        self.inner.remove_file(path).await
    }
    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.rename(from, to).await
    }
    async fn list_dir(&self, dir: &str) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir).await
    }
    async fn create_dir_all(&self, dir: &str) -> io::Result<()> {
        self.inner.create_dir_all(dir).await
    }
    async fn sync_dir(&self, dir: &str) -> io::Result<()> {
        self.inner.sync_dir(dir).await
    }
    async fn exists(&self, path: &str) -> io::Result<bool> {
        self.inner.exists(path).await
    }
}

#[async_trait]
impl DiskFile for HalfWriteFile {
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.inner.read_at(offset, len).await
    }
    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.inner.write_at(offset, &data[..data.len() / 2]).await?;
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full half-way"));
        }
        self.inner.write_at(offset, data).await
    }
    async fn len(&self) -> io::Result<u64> {
        self.inner.len().await
    }
    async fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len).await
    }
    async fn sync(&self) -> io::Result<()> {
        self.inner.sync().await
    }
}

#[tokio::test]
async fn a_half_written_append_is_cut_and_the_log_goes_on_without_it() {
    let disk = HalfWrites { inner: SimDisk::new(3), armed: Arc::new(AtomicBool::new(false)) };
    let config = segment_config(Limits::default(), 0);
    let open = || SegmentEngine::open(Arc::new(disk.clone()), DIR, config.clone());
    let e = open().await.expect("open");
    let mut model = Vec::new();
    append_checked(&e, &mut model, batch(1, 4, 1_000)).await;
    disk.armed.store(true, Ordering::SeqCst);
    assert!(matches!(e.append(batch(2, 40, 1_000)).await, Err(LogError::Io(_))));
    assert_eq!(e.end_offset(), 4, "the failed batch took no offsets");
    // Shorter than what the failed write left: nothing of it may show past this batch.
    append_checked(&e, &mut model, batch(3, 1, 1_000)).await;
    e.sync().await.expect("sync");
    check_matches(&e, &model, 0).await;
    drop(e);
    let e = open().await.expect("reopen");
    assert_eq!(e.recovery().truncated_bytes, 0, "the file holds the appended batches and nothing else");
    check_matches(&e, &model, 0).await;
}
