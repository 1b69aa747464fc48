//! What happened during a run, in Jepsen's shape: each client operation as an `invoke` and then
//! one completion (`ok`: it happened, `fail`: it did not, `info`: unknown), and every nemesis
//! action, each with the milliseconds since the run started. Written as JSON lines
//! (`history.jsonl`); the plots and the results summary read it back from memory.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

/// How an operation ended (or that it started).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// One line of the history.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub index: u64,
    pub time_ms: u64,
    /// A client's name, or `nemesis`.
    pub process: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The operation (`append`, `read`, `cas`, `send`, `poll`, `publish`, ...) or fault.
    pub f: String,
    pub value: Value,
    /// The invocation this completes (its index), for completions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoke: Option<u64>,
}

/// The shared, append-only history of a run.
#[derive(Clone)]
pub struct History {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Default for History {
    fn default() -> Self {
        History { start: Instant::now(), events: Arc::default() }
    }
}

impl History {
    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn push(&self, process: &str, kind: Kind, f: &str, value: Value, invoke: Option<u64>) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let index = events.len() as u64;
        events.push(Event {
            index,
            time_ms: self.now_ms(),
            process: process.to_string(),
            kind,
            f: f.to_string(),
            value,
            invoke,
        });
        index
    }

    /// Records the start of an operation; returns its index for [`History::complete`].
    pub fn invoke(&self, process: &str, f: &str, value: Value) -> u64 {
        self.push(process, Kind::Invoke, f, value, None)
    }

    /// Records how the operation `invoke` ended.
    pub fn complete(&self, invoke: u64, kind: Kind, value: Value) {
        assert!(kind != Kind::Invoke, "a completion is ok, fail or info");
        let (process, f) = {
            let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
            let e = &events[invoke as usize];
            (e.process.clone(), e.f.clone())
        };
        self.push(&process, kind, &f, value, Some(invoke));
    }

    /// Records a nemesis action (`start-partition`, `kill`, `heal`, ...).
    pub fn nemesis(&self, f: &str, value: Value) {
        self.push("nemesis", Kind::Info, f, value, None);
    }

    /// A copy of every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Writes the history as JSON lines.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for e in self.events() {
            serde_json::to_writer(&mut out, &e)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

/// A completed operation: when it was invoked, how long it took, how it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Completed {
    pub f: String,
    pub invoke_ms: u64,
    pub latency_ms: u64,
    pub kind: Kind,
}

/// Every client operation with its completion, in completion order.
pub fn completed(events: &[Event]) -> Vec<Completed> {
    events
        .iter()
        .filter_map(|e| {
            let start = &events[e.invoke? as usize];
            Some(Completed {
                f: e.f.clone(),
                invoke_ms: start.time_ms,
                latency_ms: e.time_ms.saturating_sub(start.time_ms),
                kind: e.kind,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn completions_pair_with_their_invocations_and_lines_are_json() {
        let h = History::default();
        let a = h.invoke("c1", "append", json!("x"));
        let b = h.invoke("c2", "read", json!(null));
        h.nemesis("kill", json!({"node": 2}));
        h.complete(b, Kind::Fail, json!("refused"));
        h.complete(a, Kind::Ok, json!({"offset": 3}));
        let done = completed(&h.events());
        assert_eq!(
            done.iter().map(|c| (c.f.as_str(), c.kind)).collect::<Vec<_>>(),
            [("read", Kind::Fail), ("append", Kind::Ok)]
        );
        let dir = std::env::temp_dir().join(format!("keel-jepsen-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        h.write(&dir.join("h.jsonl")).unwrap();
        let text = std::fs::read_to_string(dir.join("h.jsonl")).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[4]["type"], "ok");
        assert_eq!(lines[4]["process"], "c1");
        assert_eq!(lines[4]["invoke"], 0);
        assert_eq!(lines[2]["process"], "nemesis");
        let _ = std::fs::remove_dir_all(dir);
    }
}
