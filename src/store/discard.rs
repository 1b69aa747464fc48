//! Discarding a replica's files once meta no longer places it on this node (it moved away, or
//! its topic was deleted, or deleted and created again): without this, a deleted topic's logs
//! would stay on disk for ever.
//!
//! Only replicas this process opened and then saw removed are discarded, after their driver
//! stopped: the metadata view never goes back (it is answered by a confirmed meta leader from
//! at least the version already seen), so a removal it shows was committed, and the replica no
//! longer counts towards any shard's in-sync replicas. Files are removed newest first (segment
//! names sort by offset), so a crash midway leaves a prefix of the log, as a truncation would;
//! empty directories stay (the disk seam has no directory removal).

use std::io;

use keel_rt::disk::Disk;

/// Removes every file under `dir`, depth first, names in reverse order; a missing `dir` is not
/// an error.
pub(super) async fn discard(disk: &dyn Disk, dir: &str) -> io::Result<()> {
    let mut names = match disk.list_dir(dir).await {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    names.sort();
    for name in names.iter().rev() {
        let path = format!("{dir}/{name}");
        // A directory lists; a file does not (an error), and is removed.
        match disk.list_dir(&path).await {
            Ok(_) => Box::pin(discard(disk, &path)).await?,
            Err(_) => disk.remove_file(&path).await?,
        }
    }
    disk.sync_dir(dir).await
}

#[cfg(test)]
mod tests {
    use keel_rt::disk::{write_atomic, SimDisk};

    use super::*;

    #[tokio::test]
    async fn every_file_under_the_directory_goes_and_nothing_else() {
        let d = SimDisk::new(1);
        d.create_dir_all("shards/t/0.t2/log").await.unwrap();
        for (path, body) in [
            ("shards/t/0.t2/log/00000000000000000000.log", &b"a"[..]),
            ("shards/t/0.t2/log/00000000000000000042.log", b"b"),
            ("shards/t/0.t2/epochs", b"e"),
            ("shards/t/1.t2/epochs", b"kept"),
        ] {
            d.create_dir_all(keel_rt::disk::parent(path)).await.unwrap();
            write_atomic(&d, path, body).await.unwrap();
        }
        discard(&d, "shards/t/0.t2").await.unwrap();
        assert_eq!(d.list_dir("shards/t/0.t2/log").await.unwrap(), Vec::<String>::new());
        assert_eq!(d.list_dir("shards/t/0.t2").await.unwrap(), vec!["log".to_string()]);
        assert!(d.exists("shards/t/1.t2/epochs").await.unwrap());
        discard(&d, "shards/none").await.expect("a missing directory is nothing to do");
    }
}
