//! openraft's [`AsyncRuntime`] over the seam, so the same Raft runs on tokio and on madsim.
//!
//! openraft's own `TokioRuntime` calls real tokio directly, which has no reactor under madsim;
//! this routes spawn, sleep, timeouts and randomness through `keel_rt`. The instant type stays
//! tokio's: it reads `std::time::Instant`, which madsim virtualises.

use std::future::Future;
use std::time::Duration;

use keel_rt::{rand, task, time};
use openraft::{AsyncRuntime, OptionalSend, TokioInstant};

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

fn to_std(i: TokioInstant) -> time::Instant {
    // Both wrap `std::time::Instant`; under madsim the seam's instant is that type itself.
    let now_tokio = <TokioInstant as openraft::Instant>::now();
    let now = time::now();
    if i >= now_tokio {
        now + (i - now_tokio)
    } else {
        now.checked_sub(now_tokio - i).unwrap_or(now)
    }
}

impl AsyncRuntime for SeamRuntime {
    type JoinError = task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = task::JoinHandle<T>;
    type Sleep = time::Sleep;
    type Instant = TokioInstant;
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
        time::sleep_until(to_std(deadline))
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(duration: Duration, future: F) -> Self::Timeout<R, F> {
        time::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(deadline: Self::Instant, future: F) -> Self::Timeout<R, F> {
        time::timeout_at(to_std(deadline), future)
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
