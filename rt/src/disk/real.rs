//! [`RealDisk`]: real files under a root directory, with blocking calls off the async workers.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Disk, DiskFile, OpenMode};

/// Real files under `root`.
#[derive(Clone, Debug)]
pub struct RealDisk {
    root: PathBuf,
}

impl RealDisk {
    /// A disk rooted at `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(RealDisk { root })
    }

    fn path(&self, rel: &str) -> io::Result<PathBuf> {
        if rel.split('/').any(|c| c == "..") || rel.starts_with('/') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad path {rel:?}")));
        }
        Ok(if rel.is_empty() { self.root.clone() } else { self.root.join(rel) })
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    crate::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

#[async_trait]
impl Disk for RealDisk {
    async fn open(&self, path: &str, mode: OpenMode) -> io::Result<Box<dyn DiskFile>> {
        let p = self.path(path)?;
        let file = blocking(move || {
            let mut o = OpenOptions::new();
            o.read(true).write(true);
            match mode {
                OpenMode::Existing => {}
                OpenMode::Create => {
                    o.create(true);
                }
                OpenMode::CreateNew => {
                    o.create_new(true);
                }
            }
            o.open(p)
        })
        .await?;
        Ok(Box::new(RealFile { file: Arc::new(file) }))
    }

    async fn remove_file(&self, path: &str) -> io::Result<()> {
        let p = self.path(path)?;
        blocking(move || std::fs::remove_file(p)).await
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (a, b) = (self.path(from)?, self.path(to)?);
        blocking(move || std::fs::rename(a, b)).await
    }

    async fn list_dir(&self, dir: &str) -> io::Result<Vec<String>> {
        let p = self.path(dir)?;
        blocking(move || {
            let mut names = Vec::new();
            for e in std::fs::read_dir(p)? {
                names.push(e?.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            Ok(names)
        })
        .await
    }

    async fn create_dir_all(&self, dir: &str) -> io::Result<()> {
        let p = self.path(dir)?;
        blocking(move || std::fs::create_dir_all(p)).await
    }

    async fn sync_dir(&self, dir: &str) -> io::Result<()> {
        let p = self.path(dir)?;
        blocking(move || File::open(p)?.sync_all()).await
    }

    async fn exists(&self, path: &str) -> io::Result<bool> {
        let p = self.path(path)?;
        blocking(move || p.try_exists()).await
    }

    fn local_path(&self, path: &str) -> Option<PathBuf> {
        self.path(path).ok()
    }
}

struct RealFile {
    file: Arc<File>,
}

#[async_trait]
impl DiskFile for RealFile {
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let f = self.file.clone();
        blocking(move || {
            let mut buf = vec![0u8; len];
            let mut done = 0;
            while done < len {
                let n = f.read_at(&mut buf[done..], offset + done as u64)?;
                if n == 0 {
                    break;
                }
                done += n;
            }
            buf.truncate(done);
            Ok(buf)
        })
        .await
    }

    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let f = self.file.clone();
        let data = data.to_vec();
        blocking(move || f.write_all_at(&data, offset)).await
    }

    async fn write_bytes(&self, offset: u64, data: bytes::Bytes) -> io::Result<()> {
        let f = self.file.clone();
        blocking(move || f.write_all_at(&data, offset)).await
    }

    async fn len(&self) -> io::Result<u64> {
        let f = self.file.clone();
        blocking(move || Ok(f.metadata()?.len())).await
    }

    async fn set_len(&self, len: u64) -> io::Result<()> {
        let f = self.file.clone();
        blocking(move || f.set_len(len)).await
    }

    async fn sync(&self) -> io::Result<()> {
        let f = self.file.clone();
        blocking(move || f.sync_data()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_shared_suite() {
        let dir = std::env::temp_dir().join(format!("keel-realdisk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let disk = RealDisk::new(&dir).unwrap();
        crate::disk::suite::run(&disk).await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn refuses_paths_that_escape_the_root() {
        let disk = RealDisk::new(std::env::temp_dir()).unwrap();
        assert!(disk.open("../x", OpenMode::Create).await.is_err());
        assert!(disk.open("/etc/passwd", OpenMode::Existing).await.is_err());
    }
}
