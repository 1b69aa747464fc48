//! A model-based property test: random operations on the segment engine (over the simulated
//! disk, crashes included) and on a plain `Vec<Record>` must agree. After a clean crash the
//! model keeps exactly the durable prefix; after a tearing crash, some prefix between the
//! durable end and everything written.
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

impl Run {
    async fn apply(&mut self, op: Op) {
        let e = &self.engine;
        match op {
            Op::Append(spec) => {
                let batch = records(&spec, self.model.len());
                append_checked(e, &mut self.model, batch).await;
            }
            Op::Sync => {
                self.promised = e.sync().await.expect("sync");
                assert_eq!(self.promised, self.model.len() as u64, "sync covers every append");
            }
            Op::Read(fraction, bytes_max) => {
                let from = at(fraction, &self.model);
                let got = e.read(from, bytes_max as usize).await.expect("read");
                assert_eq!(got.is_empty(), from == self.model.len() as u64, "empty only at the end");
                for (i, r) in got.iter().enumerate() {
                    assert_eq!(r.offset, from + i as u64);
                    assert_eq!(r.to_record(), self.model[r.offset as usize]);
                }
            }
            Op::Truncate(fraction) => {
                let end = at(fraction, &self.model);
                e.truncate(end).await.expect("truncate");
                self.model.truncate(end as usize);
                self.promised = self.promised.min(end);
            }
            Op::Seal => e.seal().await.expect("seal"),
            Op::CrashClean | Op::Crash => self.crash(matches!(op, Op::Crash)).await,
        }
        assert_eq!(self.engine.end_offset(), self.model.len() as u64);
        assert!(self.promised <= self.engine.durable_end() && self.engine.durable_end() <= self.model.len() as u64);
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
