//! `keel topic create|list|describe|delete`: topics as the admin API answers them
//! (`keel::admin::view`), rendered as tables and confirmations or passed on as JSON.

use clap::Subcommand;
use keel::admin::view::{BindingView, Deleted, TopicList, TopicView, KIND_BINDING};
use serde_json::{json, Value};

use super::admin::{segment, Admin};
use super::output::{bytes, duration_ms, fields, ids, opt, size, CliError, Format, Out, Table};

#[derive(Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        #[arg(long, default_value_t = 1)]
        replication_factor: u32,
        /// memory, segment, object or rocksdb
        #[arg(long, default_value = "segment")]
        engine: String,
        #[arg(long)]
        retention_ms: Option<u64>,
        /// In-sync replicas (leader included) a shard needs to accept writes.
        #[arg(long, default_value_t = 1)]
        min_insync_replicas: u32,
    },
    /// List topics.
    List,
    /// Show a topic: its settings, and per partition its leader, epoch, replicas, in-sync
    /// replicas, high watermark, log start and end, and stored size.
    Describe { name: String },
    /// Delete a topic.
    Delete { name: String },
}

pub async fn run(cmd: TopicCommand, admin: &Admin, format: Format, out: &mut Out) -> Result<(), CliError> {
    match cmd {
        TopicCommand::Create { name, partitions, replication_factor, engine, retention_ms, min_insync_replicas } => {
            let body = json!({
                "name": name,
                "partitions": partitions,
                "replication_factor": replication_factor,
                "engine": engine,
                "retention_ms": retention_ms,
                "min_insync_replicas": min_insync_replicas,
            });
            let topic: TopicView = admin.call("POST", "/api/topics", Some(body)).await?;
            out.show(format, &topic, created)
        }
        TopicCommand::List => {
            let list: TopicList = admin.get("/api/topics").await?;
            out.show(format, &list, list_table)
        }
        TopicCommand::Describe { name } => {
            let v: Value = admin.get(&format!("/api/topics/{}", segment(&name))).await?;
            if v.get("kind").and_then(Value::as_str) == Some(KIND_BINDING) {
                let b: BindingView = parse(v)?;
                out.show(format, &b, binding_fields)
            } else {
                let t: TopicView = parse(v)?;
                out.show(format, &t, describe)
            }
        }
        TopicCommand::Delete { name } => {
            let d: Deleted = admin.call("DELETE", &format!("/api/topics/{}", segment(&name)), None).await?;
            out.show(format, &d, |d| format!("deleted topic {}", d.deleted))
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, CliError> {
    serde_json::from_value(v).map_err(|e| CliError::Failed(format!("unexpected answer from the admin API: {e}")))
}

/// The confirmation of `topic create`.
pub fn created(t: &TopicView) -> String {
    let s = if t.partitions == 1 { "" } else { "s" };
    format!(
        "created topic {} ({} partition{s}, rf {}, min in-sync {}, engine {})",
        t.name, t.partitions, t.replication_factor, t.min_insync_replicas, t.engine
    )
}

/// `topic list`: one row per topic.
pub fn list_table(list: &TopicList) -> String {
    let mut table = Table::new(&["name", "partitions", "rf", "min-isr", "engine", "retention", "version"]);
    for t in &list.topics {
        table.row(vec![
            t.name.clone(),
            t.partitions.to_string(),
            t.replication_factor.to_string(),
            t.min_insync_replicas.to_string(),
            t.engine.clone(),
            retention(t),
            t.version.to_string(),
        ]);
    }
    table.render()
}

/// `topic describe`: the settings, then one row per partition.
pub fn describe(t: &TopicView) -> String {
    let mut pairs = vec![
        ("topic", t.name.clone()),
        ("engine", t.engine.clone()),
        ("partitions", t.partitions.to_string()),
        ("replication factor", t.replication_factor.to_string()),
        ("min in-sync replicas", t.min_insync_replicas.to_string()),
        ("retention", retention(t)),
        ("unclean leader election", if t.unclean_leader_election { "yes" } else { "no" }.into()),
        ("version", t.version.to_string()),
    ];
    if !t.bindings.is_empty() {
        let b: Vec<String> = t.bindings.iter().map(|(name, filter)| format!("{name}={filter}")).collect();
        pairs.push(("bindings", b.join(" ")));
    }
    format!("{}\n{}", fields(&pairs), shard_table(t))
}

fn shard_table(t: &TopicView) -> String {
    let mut table =
        Table::new(&["partition", "leader", "epoch", "replicas", "isr", "hw", "log start", "log end", "size"]);
    for s in &t.shards {
        table.row(vec![
            s.partition.to_string(),
            opt(s.leader),
            s.epoch.to_string(),
            ids(&s.replicas),
            ids(&s.isr),
            opt(s.high_watermark),
            opt(s.log_start_offset),
            opt(s.log_end_offset),
            opt(s.stored_bytes.map(size)),
        ]);
    }
    table.render()
}

/// Retention as set: by time, by size (whichever comes first), `unlimited` when neither.
fn retention(t: &TopicView) -> String {
    match (t.retention_ms, t.retention_bytes) {
        (None, None) => "unlimited".into(),
        (Some(ms), None) => duration_ms(ms),
        (None, Some(b)) => bytes(b),
        (Some(ms), Some(b)) => format!("{} or {}", duration_ms(ms), bytes(b)),
    }
}

/// `topic describe` of a binding's name.
pub fn binding_fields(b: &BindingView) -> String {
    fields(&[("binding", b.name.clone()), ("filter", b.filter.clone()), ("topic", b.topic.clone())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel::admin::view::ShardView;

    fn topic() -> TopicView {
        let shard = |partition, leader: Option<u64>, hw: Option<u64>| ShardView {
            partition,
            leader,
            epoch: 2,
            replicas: vec![1, 2, 3],
            isr: leader.map(|l| vec![l]).unwrap_or_default(),
            high_watermark: hw,
            log_start_offset: hw.map(|_| 0),
            log_end_offset: hw,
            stored_bytes: hw.map(|hw| hw * 100),
        };
        TopicView {
            kind: "topic".into(),
            name: "orders".into(),
            partitions: 2,
            replication_factor: 3,
            engine: "segment".into(),
            retention_ms: Some(60_000),
            retention_bytes: None,
            min_insync_replicas: 2,
            unclean_leader_election: false,
            version: 1,
            bindings: Default::default(),
            shards: vec![shard(0, Some(1), Some(1500)), shard(1, None, None)],
        }
    }

    #[test]
    fn describe_renders_settings_and_an_aligned_shard_table() {
        let expected = "\
topic:                    orders
engine:                   segment
partitions:               2
replication factor:       3
min in-sync replicas:     2
retention:                1m
unclean leader election:  no
version:                  1

PARTITION  LEADER  EPOCH  REPLICAS  ISR  HW    LOG START  LOG END  SIZE
0          1       2      1,2,3     1    1500  0          1500     146.5KiB
1          -       2      1,2,3     -    -     -          -        -
";
        assert_eq!(describe(&topic()), expected);
    }

    #[test]
    fn list_and_confirmation() {
        let list = TopicList { topics: vec![topic()] };
        let expected = "\
NAME    PARTITIONS  RF  MIN-ISR  ENGINE   RETENTION  VERSION
orders  2           3   2        segment  1m         1
";
        assert_eq!(list_table(&list), expected);
        assert_eq!(created(&topic()), "created topic orders (2 partitions, rf 3, min in-sync 2, engine segment)");
    }

    #[test]
    fn binding_describe() {
        let b = BindingView::new("sensors", "sensors/#", "__mqtt");
        assert_eq!(binding_fields(&b), "binding:  sensors\nfilter:   sensors/#\ntopic:    __mqtt\n");
    }
}
