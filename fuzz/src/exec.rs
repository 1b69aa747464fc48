//! Runs a future to completion on this thread's current-thread tokio runtime, built once: the
//! recovery paths go through the async disk seam, libFuzzer calls the targets synchronously.

use std::future::Future;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");
}

/// `future`'s output.
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(future))
}
