//! The one test suite every [`Disk`] implementation passes.
//!
//! Call [`run`] with a fresh, empty disk; it panics (test failure) on the first deviation.

use super::{read_all, write_atomic, Disk, OpenMode};

/// Runs every check against `disk`, which must be empty.
pub async fn run(disk: &dyn Disk) {
    roundtrip(disk).await;
    open_modes(disk).await;
    truncate_and_extend(disk).await;
    rename_replaces(disk).await;
    list_and_remove(disk).await;
    atomic_replace(disk).await;
}

async fn roundtrip(disk: &dyn Disk) {
    disk.create_dir_all("a/b").await.unwrap();
    let f = disk.open("a/b/f", OpenMode::Create).await.unwrap();
    f.write_at(0, b"hello").await.unwrap();
    f.write_at(5, b" world").await.unwrap();
    f.sync().await.unwrap();
    assert_eq!(f.len().await.unwrap(), 11);
    assert_eq!(f.read_at(0, 11).await.unwrap(), b"hello world");
    assert_eq!(f.read_at(6, 100).await.unwrap(), b"world", "short read at end of file");
    assert_eq!(f.read_at(50, 10).await.unwrap(), b"", "read past the end");
    f.write_at(20, b"x").await.unwrap();
    assert_eq!(f.len().await.unwrap(), 21, "a write past the end extends the file");
    assert_eq!(f.read_at(11, 9).await.unwrap(), vec![0u8; 9], "the gap reads as zeros");
}

async fn open_modes(disk: &dyn Disk) {
    let e = disk.open("missing", OpenMode::Existing).await.err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    disk.open("m", OpenMode::CreateNew).await.unwrap();
    let e = disk.open("m", OpenMode::CreateNew).await.err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(disk.exists("m").await.unwrap());
    assert!(!disk.exists("n").await.unwrap());
    let e = disk.open("nodir/x", OpenMode::Create).await.err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "a missing directory is not created");
}

async fn truncate_and_extend(disk: &dyn Disk) {
    let f = disk.open("t", OpenMode::Create).await.unwrap();
    f.write_at(0, b"0123456789").await.unwrap();
    f.set_len(4).await.unwrap();
    assert_eq!(f.read_at(0, 100).await.unwrap(), b"0123");
    f.set_len(6).await.unwrap();
    assert_eq!(f.read_at(0, 100).await.unwrap(), b"0123\0\0");
}

async fn rename_replaces(disk: &dyn Disk) {
    write_atomic(disk, "r1", b"one").await.unwrap();
    write_atomic(disk, "r2", b"two").await.unwrap();
    disk.rename("r1", "r2").await.unwrap();
    assert!(!disk.exists("r1").await.unwrap());
    assert_eq!(read_all(disk, "r2").await.unwrap().unwrap(), b"one");
}

async fn list_and_remove(disk: &dyn Disk) {
    disk.create_dir_all("d").await.unwrap();
    for name in ["c", "a", "b"] {
        disk.open(&format!("d/{name}"), OpenMode::Create).await.unwrap();
    }
    assert_eq!(disk.list_dir("d").await.unwrap(), vec!["a", "b", "c"]);
    disk.remove_file("d/b").await.unwrap();
    assert_eq!(disk.list_dir("d").await.unwrap(), vec!["a", "c"]);
    assert!(disk.remove_file("d/b").await.is_err());
    assert!(disk.list_dir("nope").await.is_err());
}

async fn atomic_replace(disk: &dyn Disk) {
    assert_eq!(read_all(disk, "v").await.unwrap(), None);
    write_atomic(disk, "v", b"first version").await.unwrap();
    write_atomic(disk, "v", b"second").await.unwrap();
    assert_eq!(read_all(disk, "v").await.unwrap().unwrap(), b"second");
}
