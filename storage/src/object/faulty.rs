//! [`FaultyStore`]: an [`ObjectStore`] wrapper that injects failures, for simulation and tests.
//!
//! Around any store (in simulation, `object_store::memory::InMemory`, which is deterministic
//! under madsim), puts, gets, deletes and lists fail with configurable probabilities; a put
//! can also land and still report an error (a lost acknowledgement, the case that makes
//! idempotent uploads necessary); every faulted operation may first wait a random latency on
//! the runtime's clock. Randomness comes from a generator seeded explicitly or from
//! [`keel_rt::rand`], so a simulated run replays by seed. Methods the object engine does not
//! use forward unchanged.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use keel_rt::time::{sleep, Duration};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Fault rates of a [`FaultyStore`]. All zero by default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreFaults {
    /// Probability that a put fails without landing.
    pub put_fail_rate: f64,
    /// Probability that a put lands but the caller is told it failed.
    pub put_lost_ack_rate: f64,
    pub get_fail_rate: f64,
    /// Per object of a delete.
    pub delete_fail_rate: f64,
    pub list_fail_rate: f64,
    /// Puts to keys ending with this always fail without landing (to aim at one crash point).
    pub fail_puts_ending_with: Option<String>,
    /// Longest latency added before an operation, in ms (each takes a random time up to it).
    pub latency_ms_max: u64,
}

/// Counters of what the store did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub puts: u64,
    pub put_failures: u64,
    pub lost_acks: u64,
    pub gets: u64,
    pub get_failures: u64,
    pub deletes: u64,
    pub delete_failures: u64,
    pub list_failures: u64,
}

struct Faults {
    faults: StoreFaults,
    rng: StdRng,
    stats: StoreStats,
}

/// Shared by the store and the streams it hands out.
struct Shared(Mutex<Faults>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Faults> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Draws against the rate `pick` selects; counts a hit with `count`.
    fn roll(&self, pick: impl Fn(&StoreFaults) -> f64, count: impl Fn(&mut StoreStats)) -> bool {
        let mut f = self.lock();
        let rate = pick(&f.faults);
        let hit = rate > 0.0 && f.rng.gen_bool(rate.min(1.0));
        if hit {
            count(&mut f.stats);
        }
        hit
    }

    async fn latency(&self) {
        let ms = {
            let mut f = self.lock();
            let max = f.faults.latency_ms_max;
            if max == 0 {
                return;
            }
            f.rng.gen_range(0..=max)
        };
        sleep(Duration::from_millis(ms)).await;
    }
}

fn injected(op: &str, key: &Path) -> object_store::Error {
    object_store::Error::Generic { store: "FaultyStore", source: format!("injected {op} fault at {key}").into() }
}

/// A store that fails on purpose (see the module docs). Clones share faults and counters.
#[derive(Clone)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    shared: Arc<Shared>,
}

impl FaultyStore {
    /// Wraps `inner`; faults draw from a generator seeded with `seed`.
    pub fn new(inner: Arc<dyn ObjectStore>, seed: u64) -> Self {
        let faults =
            Faults { faults: StoreFaults::default(), rng: StdRng::seed_from_u64(seed), stats: StoreStats::default() };
        FaultyStore { inner, shared: Arc::new(Shared(Mutex::new(faults))) }
    }

    /// Wraps `inner`, seeded from the runtime (the run's seed in simulation).
    pub fn from_runtime(inner: Arc<dyn ObjectStore>) -> Self {
        Self::new(inner, keel_rt::rand::u64())
    }

    pub fn set_faults(&self, faults: StoreFaults) {
        self.shared.lock().faults = faults;
    }

    pub fn faults(&self) -> StoreFaults {
        self.shared.lock().faults.clone()
    }

    pub fn stats(&self) -> StoreStats {
        self.shared.lock().stats.clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore").field("inner", &self.inner).finish()
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.shared.latency().await;
        self.shared.lock().stats.puts += 1;
        let aimed = self
            .shared
            .lock()
            .faults
            .fail_puts_ending_with
            .as_ref()
            .is_some_and(|s| location.as_ref().ends_with(s.as_str()));
        if aimed || self.shared.roll(|f| f.put_fail_rate, |s| s.put_failures += 1) {
            return Err(injected("put", location));
        }
        let result = self.inner.put_opts(location, payload, opts).await?;
        if self.shared.roll(|f| f.put_lost_ack_rate, |s| s.lost_acks += 1) {
            return Err(injected("lost put acknowledgement", location));
        }
        Ok(result)
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.shared.latency().await;
        self.shared.lock().stats.gets += 1;
        if self.shared.roll(|f| f.get_fail_rate, |s| s.get_failures += 1) {
            return Err(injected("get", location));
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.shared.latency().await;
        if self.shared.roll(|f| f.get_fail_rate, |s| s.get_failures += 1) {
            return Err(injected("get", location));
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let (inner, shared) = (self.inner.clone(), self.shared.clone());
        locations
            .then(move |location| {
                let (inner, shared) = (inner.clone(), shared.clone());
                async move {
                    let location = location?;
                    shared.latency().await;
                    shared.lock().stats.deletes += 1;
                    if shared.roll(|f| f.delete_fail_rate, |s| s.delete_failures += 1) {
                        return Err(injected("delete", &location));
                    }
                    inner.delete(&location).await.map(|()| location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if self.shared.roll(|f| f.list_fail_rate, |s| s.list_failures += 1) {
            let key = prefix.cloned().unwrap_or_default();
            return futures::stream::once(async move { Err(injected("list", &key)) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
