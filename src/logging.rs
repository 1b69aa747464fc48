//! The server's log: lines on stderr, as text for people (colour only when stderr is a
//! terminal, never ANSI codes in a file) or JSON lines for collectors (`log.format = "json"`).
//! Every line carries the node id, and the fields of the spans it was logged in.
//!
//! JSON line: `{"time":"2026-11-28T03:57:57.123Z","level":"INFO","target":"keel::node",
//! "node":1,"message":"node started", <the event's fields>, "spans":[{"name":..,"fields":..}]}`
//! (keys in alphabetical order; span fields as the text formatter renders them: `a=1 b="x"`).

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the process's log subscriber (`RUST_LOG` overrides `log.level`).
pub fn init(log: &LogConfig, node: u64) -> Result<(), String> {
    let level = std::env::var("RUST_LOG").unwrap_or_else(|_| log.level.clone());
    let filter = EnvFilter::try_new(&level).map_err(|e| format!("log filter {level:?}: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let done = match log.format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).with_timer(NodeTime { node }).try_init(),
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines { node }).try_init(),
    };
    done.map_err(|e| format!("installing the log: {e}"))
}

/// The text format's timestamp, followed by the node id.
struct NodeTime {
    node: u64,
}

impl FormatTime for NodeTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "{} node={}", rfc3339(keel_rt::time::wall_ms()), self.node)
    }
}

/// One JSON object per line.
struct JsonLines {
    node: u64,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("time".into(), rfc3339(keel_rt::time::wall_ms()).into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        line.insert("node".into(), self.node.into());
        event.record(&mut JsonVisitor(&mut line));
        let spans: Vec<Value> = ctx
            .event_scope()
            .into_iter()
            .flat_map(|scope| scope.from_root())
            .map(|span| {
                let ext = span.extensions();
                let fields = ext.get::<FormattedFields<N>>().map_or(String::new(), |f| f.fields.clone());
                serde_json::json!({ "name": span.name(), "fields": fields })
            })
            .collect();
        if !spans.is_empty() {
            line.insert("spans".into(), spans.into());
        }
        writeln!(w, "{}", Value::Object(line))
    }
}

/// Collects an event's fields into a JSON object.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

/// `ms` since the Unix epoch as an RFC 3339 UTC time with milliseconds.
fn rfc3339(ms: u64) -> String {
    let (days, rest_ms) = (ms / 86_400_000, ms % 86_400_000);
    let (y, m, d) = civil_from_days(days as i64);
    let (h, min, s, milli) = (rest_ms / 3_600_000, rest_ms / 60_000 % 60, rest_ms / 1000 % 60, rest_ms % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Howard Hinnant's days-to-civil: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_838_277_123), "2026-11-28T03:57:57.123Z");
    }

    #[test]
    fn json_lines_carry_the_node_the_fields_and_the_spans() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_ansi(false)
            .event_format(JsonLines { node: 7 })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", client = "c1");
            let _in = span.enter();
            tracing::warn!(shard = 3u64, ok = true, "cannot store");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["node"], 7);
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "cannot store");
        assert_eq!((line["shard"].clone(), line["ok"].clone()), (3.into(), true.into()));
        assert_eq!(line["spans"][0]["name"], "request");
        assert_eq!(line["spans"][0]["fields"], "client=\"c1\"");
    }
}
