//! The object engine: the segment engine plus tiering to object storage.
//!
//! [`ObjectEngine`] keeps a log as a local [`crate::SegmentEngine`] plus, under a key prefix
//! of an [`object_store::ObjectStore`], the sealed segments it has uploaded, listed in a
//! manifest. Sealed, committed segments are uploaded by explicit tiering rounds
//! ([`ObjectEngine::tier`], called by the owner), evicted locally under a byte budget, and
//! read back on demand. Every step is ordered so that a crash at any point loses nothing that
//! was synced or uploaded: objects are written under deterministic keys before the manifest
//! lists them, and local copies go only after a durable manifest lists them. The key layout,
//! the manifest bytes and the crash analysis are in `docs/object-tier.md`.
//!
//! The store is local files by default in production ([`local_store`]), `InMemory` wrapped in
//! a [`FaultyStore`] in simulation; S3/MinIO needs `object_store`'s `aws` feature (future work).
//!
//! Files, one concept each: [`config`], [`keys`] (object key layout), [`manifest`] (its
//! bytes), `remote` (store I/O, checking fetched segments, fetch cache), `engine` (state,
//! open, delegation), `tier` (upload, orphan cleanup, eviction), `read` (read-through),
//! `truncate`, `retention`, [`faulty`] (the fault-injecting store).

pub mod config;
mod engine;
pub mod faulty;
pub mod keys;
pub mod manifest;
mod read;
mod remote;
mod retention;
mod tier;
mod truncate;

pub use config::ObjectConfig;
pub use engine::ObjectEngine;
pub use faulty::{FaultyStore, StoreFaults, StoreStats};
pub use manifest::{Manifest, RemoteSegment};
pub use tier::TierReport;

/// The production default store: objects as files under `root`, which must exist.
/// Not in simulation: it touches the real disk.
#[cfg(not(madsim))]
pub fn local_store(root: &std::path::Path) -> Result<std::sync::Arc<dyn object_store::ObjectStore>, crate::LogError> {
    let fs = object_store::local::LocalFileSystem::new_with_prefix(root)
        .map_err(|e| crate::LogError::Io(std::io::Error::other(e)))?;
    Ok(std::sync::Arc::new(fs))
}

/// An object store and the key prefix under it, from a URL: `file:///absolute/dir`,
/// `memory://`, or, built with the `s3` feature, `s3://bucket/prefix` (MinIO and other
/// S3-compatible stores through `options` such as `aws_endpoint`, `aws_region`,
/// `aws_access_key_id`, `aws_secret_access_key`, `aws_allow_http`; unset options come from the
/// `AWS_*` environment). Not in simulation: it reaches the network or the real disk.
#[cfg(not(madsim))]
pub fn store_from_url(
    url: &str,
    options: &std::collections::BTreeMap<String, String>,
) -> Result<(std::sync::Arc<dyn object_store::ObjectStore>, String), crate::LogError> {
    let invalid = |why: String| crate::LogError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
    let parsed = url::Url::parse(url).map_err(|e| invalid(format!("object store URL {url:?}: {e}")))?;
    if parsed.scheme() == "s3" && !cfg!(feature = "s3") {
        return Err(invalid("s3:// object stores need a build with the `s3` feature".into()));
    }
    let mut opts: Vec<(String, String)> = options.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if parsed.scheme() == "s3" {
        // Unset options come from the environment, as AWS tools do.
        let from_env = std::env::vars().filter(|(k, _)| k.starts_with("AWS_")).map(|(k, v)| (k.to_lowercase(), v));
        let set: Vec<String> = opts.iter().map(|(k, _)| k.clone()).collect();
        opts.extend(from_env.filter(|(k, _)| !set.contains(k)).collect::<Vec<_>>());
    }
    let (store, path) =
        object_store::parse_url_opts(&parsed, opts).map_err(|e| invalid(format!("object store {url:?}: {e}")))?;
    Ok((std::sync::Arc::from(store), path.to_string()))
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::store_from_url;

    #[test]
    fn urls_name_their_store_and_prefix() {
        let (_, prefix) = store_from_url("memory:///keel/logs", &Default::default()).expect("memory store");
        assert_eq!(prefix, "keel/logs");
        assert!(store_from_url("not a url", &Default::default()).is_err());
        #[cfg(not(feature = "s3"))]
        {
            match store_from_url("s3://bucket/x", &Default::default()) {
                Err(e) => assert!(e.to_string().contains("`s3` feature"), "{e}"),
                Ok(_) => panic!("s3:// needs the s3 feature"),
            }
        }
    }
}
