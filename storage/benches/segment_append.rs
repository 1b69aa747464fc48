//! Durable appends and hot-tail reads of the segment engine on real files, against the
//! physical limit of the same filesystem. Run with `cargo bench -p keel-storage`.
//!
//! (a) the physical limit: 64 KiB writes appended to a plain file, fdatasync after each;
//! (b) the engine: batches of 100-byte records (about 64 KiB each), append + sync per batch.
//!     (a) and (b) alternate write by write, each timed on its own, so that the drift of a
//!     shared disk's speed (it varies several-fold within a second here) weighs on both alike;
//! (c) hot-tail reads: the last ~64 MiB read again and again (tail cache, then page cache),
//!     and the tail cache alone.
//!
//! Every loop is bounded in time and in count. Targets: (b) >= 70% of (a); (c) >= 1 GB/s.
// (a) is the baseline measured outside the disk seam, so it uses std::fs and std::time.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[cfg(madsim)]
fn main() {
    println!("segment_append: real files only; nothing to measure in the simulation build");
}

#[cfg(not(madsim))]
fn main() {
    real::main();
}

#[cfg(not(madsim))]
mod real {
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use keel_rt::disk::RealDisk;
    use keel_storage::segment::format;
    use keel_storage::{LogEngine, Record, SegmentConfig, SegmentEngine};

    /// About how long each measurement runs.
    const RUN_TIME: Duration = Duration::from_secs(3);
    /// The most iterations of any loop, whatever the time.
    const ITERATIONS_MAX: u64 = 200_000;
    const WRITE_BYTES: usize = 64 * 1024;
    const RECORD_BYTES: usize = 100;
    /// The tail re-read by (c).
    const TAIL_BYTES: u64 = 64 * 1024 * 1024;
    /// The byte budget of each read in (c).
    const READ_BYTES_MAX: usize = 1024 * 1024;
    const MB: f64 = 1e6;
    const GB: f64 = 1e9;

    pub fn main() {
        let root = std::env::temp_dir().join(format!("keel-storage-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("bench directory");
        println!("segment_append: files under {}", root.display());
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        rt.block_on(run(&root));
        let _ = std::fs::remove_dir_all(&root);
    }

    async fn run(root: &Path) {
        let disk = Arc::new(RealDisk::new(root.join("engine")).expect("engine directory"));
        let engine = SegmentEngine::open(disk, "log", SegmentConfig::default()).await.expect("open");
        let records = batch();
        let batch_bytes = format::encoded_len(&records) as u64;
        let (raw, appends) = interleaved(&root.join("raw.bin"), &engine, &records, batch_bytes).await;
        println!("(a) physical limit: {:.1} MB/s ({} x 64 KiB write + fdatasync)", raw.mb_per_s(), raw.iterations);
        let payload_mb = appends.mb_per_s() * (records.len() * RECORD_BYTES) as f64 / batch_bytes as f64;
        println!(
            "(b) engine durable appends: {:.1} MB/s of batches, {payload_mb:.1} MB/s of record values",
            appends.mb_per_s(),
        );
        println!("    ({} x append + sync of {} records, {batch_bytes} bytes)", appends.iterations, records.len());
        println!(
            "    ratio (b)/(a): {:.0}% of batch bytes, {:.0}% of record values (target >= 70%)",
            100.0 * appends.mb_per_s() / raw.mb_per_s(),
            100.0 * payload_mb / raw.mb_per_s(),
        );
        hot_tail(&engine, &records, batch_bytes).await;
    }

    /// Runs (a) and (b) in turn, one write each, for about [`RUN_TIME`] each; their totals.
    async fn interleaved(
        raw_path: &Path,
        engine: &SegmentEngine,
        records: &[Record],
        batch_bytes: u64,
    ) -> (Rate, Rate) {
        let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(raw_path).expect("raw file");
        let buf = vec![0x5au8; WRITE_BYTES];
        let (mut raw, mut appends) = (Rate::default(), Rate::default());
        let start = Instant::now();
        while start.elapsed() < 2 * RUN_TIME && raw.iterations < ITERATIONS_MAX {
            let t = Instant::now();
            file.write_all(&buf).expect("write");
            file.sync_data().expect("fdatasync");
            raw.add(WRITE_BYTES as u64, t.elapsed());
            let t = Instant::now();
            engine.append(records.to_vec()).await.expect("append");
            engine.sync().await.expect("sync");
            appends.add(batch_bytes, t.elapsed());
        }
        (raw, appends)
    }

    async fn hot_tail(engine: &SegmentEngine, records: &[Record], batch_bytes: u64) {
        fill_tail(engine, records, batch_bytes).await;
        let tail_records = TAIL_BYTES / batch_bytes * records.len() as u64;
        let reads = tail_reads(engine, tail_records).await;
        println!(
            "(c) hot-tail reads of the last {} MiB: {:.2} GB/s of record values ({} passes; target >= 1 GB/s)",
            TAIL_BYTES >> 20,
            reads.gb_per_s(),
            reads.iterations,
        );
        let cached_records = engine.config().cache_bytes_max as u64 / batch_bytes * records.len() as u64;
        let cached = tail_reads(engine, cached_records).await;
        println!(
            "    tail cache only (last {} MiB): {:.2} GB/s ({} passes)",
            engine.config().cache_bytes_max >> 20,
            cached.gb_per_s(),
            cached.iterations,
        );
    }

    #[derive(Default)]
    struct Rate {
        bytes: u64,
        iterations: u64,
        elapsed: Duration,
    }

    impl Rate {
        fn add(&mut self, bytes: u64, elapsed: Duration) {
            self.bytes += bytes;
            self.iterations += 1;
            self.elapsed += elapsed;
        }

        fn mb_per_s(&self) -> f64 {
            self.bytes as f64 / MB / self.elapsed.as_secs_f64()
        }

        fn gb_per_s(&self) -> f64 {
            self.bytes as f64 / GB / self.elapsed.as_secs_f64()
        }
    }

    /// The largest batch of 100-byte records that encodes to at most 64 KiB.
    fn batch() -> Vec<Record> {
        let value = Bytes::from(vec![0xa5u8; RECORD_BYTES]);
        let one = Record::new(1_700_000_000_000, None, value);
        let mut records = vec![one; WRITE_BYTES / RECORD_BYTES];
        while format::encoded_len(&records) > WRITE_BYTES {
            records.pop();
        }
        records
    }

    /// Appends (without syncing) until the log holds at least [`TAIL_BYTES`].
    async fn fill_tail(engine: &SegmentEngine, records: &[Record], batch_bytes: u64) {
        let have = engine.end_offset() / records.len() as u64 * batch_bytes;
        for _ in 0..TAIL_BYTES.saturating_sub(have).div_ceil(batch_bytes) {
            engine.append(records.to_vec()).await.expect("append");
        }
    }

    /// Reads the last `records` records over and over.
    async fn tail_reads(engine: &SegmentEngine, records: u64) -> Rate {
        let end = engine.end_offset();
        let from = end.saturating_sub(records).max(engine.start_offset());
        let start = Instant::now();
        let (mut bytes, mut passes) = (0u64, 0u64);
        while start.elapsed() < RUN_TIME && passes < ITERATIONS_MAX {
            let mut next = from;
            while next < end {
                let got = engine.read(next, READ_BYTES_MAX).await.expect("read");
                bytes += got.iter().map(|r| r.value.len() as u64).sum::<u64>();
                next = got.last().map_or(end, |r| r.offset + 1);
            }
            passes += 1;
        }
        Rate { bytes, iterations: passes, elapsed: start.elapsed() }
    }
}
