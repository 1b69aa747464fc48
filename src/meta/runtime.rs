//! openraft's [`AsyncRuntime`] over the seam, so the same Raft runs on tokio and on madsim.
//!
//! openraft's own `TokioRuntime` calls real tokio directly, which has no reactor under madsim;
//! this routes spawn, sleep, timeouts, randomness and the clock through `keel_rt`. The instant
//! type is the seam's ([`SeamInstant`]), so Raft's election and heartbeat timers run on the
//! node's own clock, which in simulation may drift.

use std::future::Future;
use std::time::Duration;

use keel_rt::{rand, task, time};
use openraft::{AsyncRuntime, OptionalSend};

/// The Raft runtime Keel uses in every build.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeamRuntime;

/// A oneshot sender in openraft's shape.
pub struct OneshotSender<T: OptionalSend>(tokio::sync::oneshot::Sender<T>);

impl<T: OptionalSend> std::fmt::Debug for OneshotSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneshotSender")
    }
}

impl<T: OptionalSend> openraft::async_runtime::AsyncOneshotSendExt<T> for OneshotSender<T> {
    fn send(self, t: T) -> Result<(), T> {
        self.0.send(t)
    }
}

/// The seam's monotonic instant in openraft's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeamInstant(time::Instant);

impl openraft::Instant for SeamInstant {
    fn now() -> Self {
        SeamInstant(time::now())
    }
}

impl std::ops::Add<Duration> for SeamInstant {
    type Output = SeamInstant;
    fn add(self, d: Duration) -> SeamInstant {
        SeamInstant(self.0 + d)
    }
}

impl std::ops::AddAssign<Duration> for SeamInstant {
    fn add_assign(&mut self, d: Duration) {
        self.0 += d;
    }
}

impl std::ops::Sub<Duration> for SeamInstant {
    type Output = SeamInstant;
    fn sub(self, d: Duration) -> SeamInstant {
        SeamInstant(self.0 - d)
    }
}

impl std::ops::SubAssign<Duration> for SeamInstant {
    fn sub_assign(&mut self, d: Duration) {
        self.0 -= d;
    }
}

impl std::ops::Sub<SeamInstant> for SeamInstant {
    type Output = Duration;
    fn sub(self, other: SeamInstant) -> Duration {
        self.0.saturating_duration_since(other.0)
    }
}

impl AsyncRuntime for SeamRuntime {
    type JoinError = task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = task::JoinHandle<T>;
    type Sleep = time::Sleep;
    type Instant = SeamInstant;
    type TimeoutError = time::Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = time::Timeout<T>;
    type ThreadLocalRng = rand::ThreadRng;
    type OneshotSender<T: OptionalSend> = OneshotSender<T>;
    type OneshotReceiverError = tokio::sync::oneshot::error::RecvError;
    type OneshotReceiver<T: OptionalSend> = tokio::sync::oneshot::Receiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        task::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        time::sleep_until(deadline.0)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(duration: Duration, future: F) -> Self::Timeout<R, F> {
        time::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(deadline: Self::Instant, future: F) -> Self::Timeout<R, F> {
        time::timeout_at(deadline.0, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        rand::rng()
    }

    fn oneshot<T: OptionalSend>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (OneshotSender(tx), rx)
    }
}
