//! The retry loop shared by every client operation: find the leader, try, and on a retriable
//! failure pause (doubling) and try again, until the delivery timeout.

use std::future::Future;
use std::time::Duration;

use keel_rt::time;

use super::{ClientError, DataClient};
use crate::rpc::shard::Code;

/// What one attempt came to.
pub(super) enum Step<T> {
    Done(T),
    /// Try again; `refresh`: look the leader up again first.
    Retry {
        refresh: bool,
        why: String,
    },
    Fail(ClientError),
}

/// The step for a refusal with `code`. `safe`: the request may be sent again whatever
/// happened to it (idempotent produces, reads).
pub(super) fn on_code<T>(c: Code, message: String, safe: bool) -> Step<T> {
    match c {
        Code::NotLeader | Code::Storage => Step::Retry { refresh: true, why: message },
        Code::NotEnoughReplicas | Code::InFlight => Step::Retry { refresh: false, why: message },
        Code::Timeout if safe => Step::Retry { refresh: true, why: message },
        Code::Timeout => Step::Fail(ClientError::GaveUp(message)),
        _ => Step::Fail(ClientError::Refused { code: c, message }),
    }
}

impl DataClient {
    /// Runs `attempt` against the shard's leader until it is done, fails for good, or the
    /// delivery timeout passes.
    pub(super) async fn retry<T, F, Fut>(&self, topic: &str, partition: u32, mut attempt: F) -> Result<T, ClientError>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Step<T>>,
    {
        let deadline = time::now() + Duration::from_millis(self.config.delivery_timeout_ms);
        let mut backoff = Duration::from_millis(self.config.retry_backoff_ms_min);
        let backoff_max = Duration::from_millis(self.config.retry_backoff_ms_max);
        loop {
            let why = match self.leader(topic, partition).await? {
                None => "the shard has no leader now".to_string(),
                Some(addr) => match attempt(addr).await {
                    Step::Done(t) => return Ok(t),
                    Step::Fail(e) => return Err(e),
                    Step::Retry { refresh, why } => {
                        if refresh {
                            self.forget_leader(topic, partition);
                        }
                        why
                    }
                },
            };
            if time::now() + backoff >= deadline {
                return Err(ClientError::GaveUp(why));
            }
            time::sleep(backoff).await;
            backoff = (backoff * 2).min(backoff_max);
        }
    }
}
