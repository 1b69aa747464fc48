//! [`MetaClient`]: metadata requests from outside the meta cluster (brokers, tools, the
//! simulation's clients), to any meta node, which forwards to its leader.
//!
//! A request that certainly did not execute (no leader, not leader, unavailable) is retried on
//! another node until the deadline; a write whose outcome is unknown is never retried, and
//! comes back as `Indeterminate` so the caller can record it as such.

use std::time::Duration;

use keel_rt::{rand, time};
use rand::Rng;

use super::command::{MetaCommand, MetaQuery, QueryResult};
use super::network::Peers;
use super::service::{META_BEAT, META_QUERY, META_SUBMIT, META_WATCH};
use super::watch::{WatchRequest, WatchResponse};
use super::{MetaApiError, WriteOk};

/// A client of a meta cluster.
#[derive(Clone)]
pub struct MetaClient {
    addrs: Vec<String>,
    peers: Peers,
    /// How long one request may take in all, retries included.
    pub timeout: Duration,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
}

impl MetaClient {
    pub fn new(addrs: Vec<String>, peers: Peers) -> Self {
        MetaClient { addrs, peers, timeout: Duration::from_secs(10), attempt_timeout: Duration::from_secs(3) }
    }

    /// The RPC clients this client uses (shared with other callers).
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    fn pick(&self) -> &str {
        let i = rand::rng().gen_range(0..self.addrs.len());
        &self.addrs[i]
    }

    /// Executes `cmd` on the cluster.
    pub async fn write(&self, cmd: &MetaCommand) -> Result<WriteOk, MetaApiError> {
        let deadline = time::now() + self.timeout;
        let mut backoff = Duration::from_millis(20);
        loop {
            let r: Result<Result<WriteOk, MetaApiError>, _> =
                self.peers.call_json(self.pick(), META_SUBMIT, cmd, self.attempt_timeout).await;
            let retryable = match r {
                Ok(Ok(ok)) => return Ok(ok),
                Ok(Err(
                    e @ (MetaApiError::NoLeader | MetaApiError::NotLeader { .. } | MetaApiError::Unavailable(_)),
                )) => e,
                Ok(Err(e)) => return Err(e),
                Err(e) if e.not_executed() => MetaApiError::Unavailable(e.to_string()),
                Err(e) => return Err(MetaApiError::Indeterminate(e.to_string())),
            };
            if time::now() + backoff >= deadline {
                return Err(retryable);
            }
            time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// Tells the meta leader that `node` is alive, trying the meta nodes in turn (from a random
    /// one) until one delivers it: a dead meta node must not make live nodes look dead.
    pub async fn heartbeat(&self, node: u64) -> Result<(), MetaApiError> {
        let first = rand::rng().gen_range(0..self.addrs.len());
        let mut last = MetaApiError::NoLeader;
        for i in 0..self.addrs.len() {
            let addr = &self.addrs[(first + i) % self.addrs.len()];
            let r: Result<Result<(), MetaApiError>, _> =
                self.peers.call_json(addr, META_BEAT, &node, self.attempt_timeout.min(Duration::from_secs(1))).await;
            match r {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => last = e,
                Err(e) => last = MetaApiError::Unavailable(e.to_string()),
            }
        }
        Err(last)
    }

    /// Answers `q` linearizably.
    pub async fn query(&self, q: &MetaQuery) -> Result<QueryResult, MetaApiError> {
        let deadline = time::now() + self.timeout;
        let mut backoff = Duration::from_millis(20);
        loop {
            let r: Result<Result<QueryResult, MetaApiError>, _> =
                self.peers.call_json(self.pick(), META_QUERY, q, self.attempt_timeout).await;
            let err = match r {
                Ok(Ok(ok)) => return Ok(ok),
                Ok(Err(e)) => e,
                Err(e) => MetaApiError::Unavailable(e.to_string()),
            };
            if time::now() + backoff >= deadline {
                return Err(err);
            }
            time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// One long poll of the metadata watch at meta node `i` (modulo their number): the changes
    /// after `since`, or none after `wait_ms`.
    pub async fn watch(&self, i: usize, since: u64, wait_ms: u64, mqtt: bool) -> Result<WatchResponse, MetaApiError> {
        let addr = &self.addrs[i % self.addrs.len()];
        let req = WatchRequest { since, wait_ms, mqtt };
        let timeout = self.attempt_timeout + Duration::from_millis(wait_ms);
        let r: Result<Result<WatchResponse, MetaApiError>, _> =
            self.peers.call_json(addr, META_WATCH, &req, timeout).await;
        r.unwrap_or_else(|e| Err(MetaApiError::Unavailable(e.to_string())))
    }

    /// How many meta nodes this client knows.
    pub fn endpoints(&self) -> usize {
        self.addrs.len()
    }
}
