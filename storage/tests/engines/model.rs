//! A model-based property test: random operations on the segment engine (over the simulated
//! disk, crashes included) and on a plain `Vec<Record>` must agree. After a clean crash the
//! model keeps exactly the durable prefix; after a tearing crash, some prefix between the
//! durable end and everything written. With the `rocksdb` feature, the same on the RocksDB
//! engine, reopening it instead of crashing it.
//!
//! Not in the simulation build: each case drives its own tokio runtime, which madsim does not
//! offer (the engine itself is exercised under madsim by the other tests).
#![cfg(not(madsim))]

use bytes::Bytes;
use keel_rt::disk::SimDisk;
use keel_storage::suite::{append_checked, check_matches, Limits};
use keel_storage::{LogEngine, ProducerSeq, Record, SegmentConfig, SegmentEngine};
use proptest::prelude::*;

use crate::harness::{open_sim, segment_config};

#[derive(Clone, Debug)]
enum Op {
    /// Records as (value length, has a key, timestamp).
    Append(Vec<(u16, bool, u64)>),
    Sync,
    /// From a fraction (per mille) of the log, with a byte budget.
    Read(u16, u32),
    /// At a fraction (per mille) of the log.
    Truncate(u16),
    Seal,
    CrashClean,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => proptest::collection::vec((0u16..300, any::<bool>(), 0u64..10_000), 1..8).prop_map(Op::Append),
        2 => Just(Op::Sync),
        2 => (0u16..=1000, 0u32..3000).prop_map(|(f, b)| Op::Read(f, b)),
        1 => (0u16..=1000).prop_map(Op::Truncate),
        1 => Just(Op::Seal),
        1 => Just(Op::CrashClean),
        1 => Just(Op::Crash),
    ]
}

fn config() -> SegmentConfig {
    segment_config(Limits { segment_bytes_max: 1024, ..Limits::default() }, 512)
}

fn records(spec: &[(u16, bool, u64)], salt: usize) -> Vec<Record> {
    spec.iter()
        .enumerate()
        .map(|(i, &(len, key, ts))| Record {
            timestamp_ms: ts,
            key: key.then(|| Bytes::from(format!("key-{salt}-{i}"))),
            value: Bytes::from(vec![(salt + i) as u8; len as usize]),
            // Mixed producers, so appends split into several batches.
            producer: (i % 4 != 0).then(|| ProducerSeq {
                producer_id: 1 + (salt % 3) as u64,
                producer_epoch: 0,
                sequence: i as u32,
            }),
            span: 1,
        })
        .collect()
}

fn at(fraction: u16, model: &[Record]) -> u64 {
    (model.len() as u64 * u64::from(fraction)) / 1000
}

/// The engine, the model, and the least durable end the contract promises.
struct Run {
    disk: SimDisk,
    engine: SegmentEngine,
    model: Vec<Record>,
    promised: u64,
}

/// Applies `op`, which is not a crash, to `e` and to the model; `promised` is the least
/// durable end the contract promises.
async fn apply_to<E: LogEngine>(e: &E, model: &mut Vec<Record>, promised: &mut u64, op: Op) {
    match op {
        Op::Append(spec) => {
            let batch = records(&spec, model.len());
            append_checked(e, model, batch).await;
        }
        Op::Sync => {
            *promised = e.sync().await.expect("sync");
            assert_eq!(*promised, model.len() as u64, "sync covers every append");
        }
        Op::Read(fraction, bytes_max) => {
            let from = at(fraction, model);
            let got = e.read(from, bytes_max as usize).await.expect("read");
            assert_eq!(got.is_empty(), from == model.len() as u64, "empty only at the end");
            for (i, r) in got.iter().enumerate() {
                assert_eq!(r.offset, from + i as u64);
                assert_eq!(r.to_record(), model[r.offset as usize]);
            }
        }
        Op::Truncate(fraction) => {
            let end = at(fraction, model);
            e.truncate(end).await.expect("truncate");
            model.truncate(end as usize);
            *promised = (*promised).min(end);
        }
        Op::Seal => e.seal().await.expect("seal"),
        Op::CrashClean | Op::Crash => unreachable!("crashes are the caller's"),
    }
    assert_eq!(e.end_offset(), model.len() as u64);
    assert!(*promised <= e.durable_end() && e.durable_end() <= model.len() as u64);
}

impl Run {
    async fn apply(&mut self, op: Op) {
        match op {
            Op::CrashClean | Op::Crash => self.crash(matches!(op, Op::Crash)).await,
            op => apply_to(&self.engine, &mut self.model, &mut self.promised, op).await,
        }
    }

    async fn crash(&mut self, tearing: bool) {
        let durable = self.engine.durable_end();
        if tearing {
            self.disk.crash();
        } else {
            self.disk.crash_clean();
        }
        self.engine = open_sim(&self.disk, config()).await.expect("reopen");
        let end = self.engine.end_offset();
        if tearing {
            assert!(durable <= end && end <= self.model.len() as u64, "{end} outside [{durable}, written]");
        } else {
            assert_eq!(end, durable, "a clean crash keeps exactly the durable prefix");
        }
        self.model.truncate(end as usize);
        self.promised = end;
    }
}

async fn run(ops: Vec<Op>, seed: u64) {
    let disk = SimDisk::new(seed);
    let engine = open_sim(&disk, config()).await.expect("open");
    let mut run = Run { disk, engine, model: Vec::new(), promised: 0 };
    for op in ops {
        run.apply(op).await;
    }
    check_matches(&run.engine, &run.model, 0).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn segment_engine_agrees_with_a_vec_model(ops in proptest::collection::vec(op(), 1..40), seed in any::<u64>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(run(ops, seed));
    }
}

/// The same model test on the RocksDB engine (real files), with the crashes replaced by a
/// close and reopen of the database: a reopened log holds everything written, all durable.
#[cfg(feature = "rocksdb")]
mod rocks {
    use keel_storage::suite::{check_matches, Limits};
    use keel_storage::{LogEngine, Record, RocksEngine};
    use proptest::prelude::*;

    use super::{apply_to, op, Op};
    use crate::harness::{rocks_config, RealHarness};

    async fn open(h: &RealHarness) -> RocksEngine {
        let config = rocks_config(Limits { segment_bytes_max: 1024, ..Limits::default() });
        RocksEngine::open(&*h.disk(), "log", config).await.expect("open")
    }

    async fn run(ops: Vec<Op>) {
        let h = RealHarness::new();
        let mut engine = open(&h).await;
        let (mut model, mut promised): (Vec<Record>, u64) = (Vec::new(), 0);
        for op in ops {
            match op {
                Op::CrashClean | Op::Crash => {
                    drop(engine);
                    engine = open(&h).await;
                    assert_eq!(engine.end_offset(), model.len() as u64, "a reopened log holds every append");
                    assert_eq!(engine.durable_end(), engine.end_offset(), "and all of it is durable");
                    promised = engine.durable_end();
                }
                op => apply_to(&engine, &mut model, &mut promised, op).await,
            }
        }
        check_matches(&engine, &model, 0).await;
        drop(engine);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn rocks_engine_agrees_with_a_vec_model(ops in proptest::collection::vec(op(), 1..40)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(run(ops));
        }
    }
}
