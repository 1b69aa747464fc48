//! [`GroupCommit`]: durable appends whose syncs are shared by concurrent writers.
//!
//! A sync costs about as much for one batch as for a hundred, so writers that append at the
//! same time should wait for one sync, not one each. Each caller appends, then waits until a
//! sync covers its last offset. At most one sync runs at a time: the first caller to find none
//! running becomes the leader and runs it; the others follow, waiting for the round to end and
//! checking whether it covered them (an append that landed after the round's sync started is
//! not covered: its caller leads or follows the next round). A failed round fails every caller
//! that waited on it. No task is spawned; only `tokio::sync`, so it runs under madsim as is.

use std::io;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::watch;

use crate::engine::{LogEngine, LogError, Record};

/// How sync rounds stand.
struct Rounds {
    /// Whether a leader is syncing now.
    running: bool,
    /// Rounds finished so far.
    finished: u64,
    /// The durable end after the last successful round.
    durable_end: u64,
    /// The last round that failed, and why.
    failed: Option<(u64, String)>,
}

/// What a waiting caller does next.
enum Step {
    /// A finished round covered the append.
    Covered,
    /// A round this caller waited on failed.
    Failed(String),
    /// No round is running: run one.
    Lead,
    /// A round is running (rounds finished so far): wait for it.
    Follow(u64, watch::Receiver<u64>),
}

/// Durable appends over an engine, sharing syncs between concurrent callers.
pub struct GroupCommit<E: LogEngine> {
    engine: E,
    rounds: Mutex<Rounds>,
    /// Carries `Rounds::finished`; followers wait for it to change.
    done: watch::Sender<u64>,
}

impl<E: LogEngine> GroupCommit<E> {
    /// Wraps `engine`.
    pub fn new(engine: E) -> Self {
        let durable_end = engine.durable_end();
        let rounds = Rounds { running: false, finished: 0, durable_end, failed: None };
        GroupCommit { engine, rounds: Mutex::new(rounds), done: watch::Sender::new(0) }
    }

    /// The wrapped engine (for reads and the rest of its API).
    pub fn engine(&self) -> &E {
        &self.engine
    }

    fn rounds(&self) -> MutexGuard<'_, Rounds> {
        self.rounds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `records` and returns once they are durable: `(base_offset, last_offset)`.
    pub async fn append_durable(&self, records: Vec<Record>) -> Result<(u64, u64), LogError> {
        let (base, last) = self.engine.append(records).await?;
        let mut joined: Option<u64> = None;
        loop {
            match self.next_step(last, joined) {
                Step::Covered => return Ok((base, last)),
                Step::Failed(why) => return Err(LogError::Io(io::Error::other(format!("group sync failed: {why}")))),
                Step::Lead => return self.lead(base, last).await,
                Step::Follow(round, mut rx) => {
                    joined = Some(round);
                    // Err only if the sender is gone, which `self` outlives.
                    let _ = rx.changed().await;
                }
            }
        }
    }

    /// What a caller whose append ends at `last` does next, having waited on round `joined`.
    fn next_step(&self, last: u64, joined: Option<u64>) -> Step {
        let mut r = self.rounds();
        if r.durable_end > last {
            return Step::Covered;
        }
        if let (Some(j), Some((failed, why))) = (joined, &r.failed) {
            if *failed > j {
                return Step::Failed(why.clone());
            }
        }
        if !r.running {
            r.running = true;
            return Step::Lead;
        }
        Step::Follow(r.finished, self.done.subscribe())
    }

    /// Runs one sync round for everyone waiting, then reports on this caller's append.
    async fn lead(&self, base: u64, last: u64) -> Result<(u64, u64), LogError> {
        let result = self.engine.sync().await;
        let mut r = self.rounds();
        r.running = false;
        r.finished += 1;
        let round = r.finished;
        let outcome = match result {
            Ok(durable_end) => {
                r.durable_end = r.durable_end.max(durable_end);
                if r.durable_end > last {
                    Ok((base, last))
                } else {
                    Err(LogError::Io(io::Error::other(format!("offset {last} was truncated before it became durable"))))
                }
            }
            Err(e) => {
                r.failed = Some((round, e.to_string()));
                Err(e)
            }
        };
        drop(r);
        self.done.send_replace(round);
        outcome
    }
}
