//! The checks, each on a topic of its own: what it sends must come back, in order, once.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rdkafka::admin::ResourceSpecifier;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::client::{self, config, create_topic, delete_topic, payloads, produce, producer, read, values, Outcome};

type Check = fn(String) -> Pin<Box<dyn Future<Output = Outcome>>>;

/// Every check, by name.
pub fn all() -> Vec<(&'static str, Check)> {
    vec![
        ("produce_consume_acks_0", |b| Box::pin(acks(b, "0"))),
        ("produce_consume_acks_1", |b| Box::pin(acks(b, "1"))),
        ("produce_consume_acks_all", |b| Box::pin(acks(b, "all"))),
        ("idempotent_producer", |b| Box::pin(idempotent(b))),
        ("compression_gzip", |b| Box::pin(compression(b, "gzip"))),
        ("compression_snappy", |b| Box::pin(compression(b, "snappy"))),
        ("compression_lz4", |b| Box::pin(compression(b, "lz4"))),
        ("compression_zstd", |b| Box::pin(compression(b, "zstd"))),
        ("group_commit_and_resume", |b| Box::pin(group_resume(b))),
        ("offsets_for_times", |b| Box::pin(offsets_for_times(b))),
        ("admin_create_describe_delete", |b| Box::pin(admin(b))),
    ]
}

/// Sends `n` values to a new one-partition topic through a producer with `extra` settings and
/// reads them back from the start: they must come back in order, at offsets 0..n.
async fn round_trip(bootstrap: &str, name: &str, n: usize, extra: &[(&str, &str)]) -> Outcome {
    let topic = client::unique_topic(name);
    create_topic(bootstrap, &topic, 1).await?;
    let sent = values(name, n);
    produce(&producer(bootstrap, extra)?, &topic, 0, &sent, None).await?;
    let got = read(bootstrap, &topic, 0, Offset::Beginning, n)?;
    let offsets: Vec<i64> = got.iter().map(|(_, o, _)| *o).collect();
    delete_topic(bootstrap, &topic).await?;
    if payloads(&got) != sent {
        return Err(format!("read back {} of {n} values, or out of order", got.len()));
    }
    if offsets != (0..n as i64).collect::<Vec<_>>() {
        return Err(format!("offsets {offsets:?}"));
    }
    Ok(())
}

async fn acks(bootstrap: String, acks: &str) -> Outcome {
    round_trip(&bootstrap, &format!("acks{acks}"), 50, &[("acks", acks)]).await
}

async fn idempotent(bootstrap: String) -> Outcome {
    let extra = [("enable.idempotence", "true"), ("max.in.flight.requests.per.connection", "5")];
    round_trip(&bootstrap, "idempotent", 200, &extra).await
}

async fn compression(bootstrap: String, codec: &str) -> Outcome {
    // Batches of many similar records, so each codec really compresses.
    let extra = [("compression.type", codec), ("linger.ms", "50"), ("batch.num.messages", "100")];
    round_trip(&bootstrap, codec, 300, &extra).await
}

/// A group member reads part of a two-partition topic, commits and leaves; the next member of
/// the group must get exactly the rest.
async fn group_resume(bootstrap: String) -> Outcome {
    let topic = client::unique_topic("group");
    create_topic(&bootstrap, &topic, 2).await?;
    let p = producer(&bootstrap, &[("acks", "all")])?;
    let (a, b) = (values("p0", 20), values("p1", 20));
    produce(&p, &topic, 0, &a, None).await?;
    produce(&p, &topic, 1, &b, None).await?;
    let group = format!("{topic}-g");
    let member = || -> Outcome<BaseConsumer<client::Printing>> {
        let c: BaseConsumer<client::Printing> = config(
            &bootstrap,
            &[("group.id", group.as_str()), ("enable.auto.commit", "false"), ("auto.offset.reset", "earliest")],
        )
        .create_with_context(client::Printing)
        .map_err(|e| format!("consumer: {e}"))?;
        c.subscribe(&[&topic]).map_err(|e| format!("subscribe: {e}"))?;
        Ok(c)
    };
    let first = member()?;
    let got1 = client::poll_until(&first, 15, client::WAIT)?;
    if got1.len() < 15 {
        return Err(format!("the first member read {} of 15", got1.len()));
    }
    first.commit_consumer_state(CommitMode::Sync).map_err(|e| format!("commit: {e}"))?;
    let committed = first.committed(client::WAIT).map_err(|e| format!("committed: {e}"))?;
    let offsets: Vec<i64> = committed.elements().iter().filter_map(|e| e.offset().to_raw()).collect();
    // A partition list that outlives its client hangs librdkafka's destroy (it holds
    // references to the client's partitions): drop it first.
    drop(committed);
    drop(first);
    if offsets.iter().filter(|o| **o > 0).sum::<i64>() != 15 {
        return Err(format!("committed offsets {offsets:?} do not add up to the 15 read"));
    }
    let second = member()?;
    let mut got2 = client::poll_until(&second, 25, client::WAIT)?;
    // Anything more than the rest would be a re-delivery: wait a little for it.
    got2.extend(client::poll_until(&second, 1, Duration::from_secs(2))?);
    drop(second);
    let mut all: Vec<String> = client::payloads(&got1);
    all.extend(client::payloads(&got2));
    all.sort();
    let mut want: Vec<String> = a.iter().chain(&b).cloned().collect();
    want.sort();
    delete_topic(&bootstrap, &topic).await?;
    match all == want {
        true => Ok(()),
        false => Err(format!("read {} then {} records; want 15 then 25, each once", got1.len(), got2.len())),
    }
}

/// Records a second apart: the offset for a time is that of the first record at or after it.
/// Each record is its own batch: Keel keeps batches whole and answers a time inside a batch with
/// the batch's first offset (docs/kafka.md), where Kafka would find the record in it.
async fn offsets_for_times(bootstrap: String) -> Outcome {
    let topic = client::unique_topic("times");
    create_topic(&bootstrap, &topic, 1).await?;
    let now = client_now_ms();
    let stamps: Vec<i64> = (0..5).map(|i| now - 60_000 + i * 1000).collect();
    let sent = values("t", 5);
    let p = producer(&bootstrap, &[("linger.ms", "0")])?;
    for (v, ts) in sent.iter().zip(&stamps) {
        produce(&p, &topic, 0, std::slice::from_ref(v), Some(&[*ts])).await?;
    }
    let offset = offset_for_time(&bootstrap, &topic, stamps[2] - 500)?;
    let after = offset_for_time(&bootstrap, &topic, now + 3_600_000)?;
    let got = read(&bootstrap, &topic, 0, Offset::Offset(2), 1)?;
    delete_topic(&bootstrap, &topic).await?;
    if offset != Some(Offset::Offset(2)) {
        return Err(format!("the offset for a time between records 1 and 2 is {offset:?}, not 2"));
    }
    if after != Some(Offset::End) {
        return Err(format!("the offset for a time past every record is {after:?}, not the end"));
    }
    match payloads(&got).first().map(String::as_str) {
        Some("t-2") => Ok(()),
        other => Err(format!("seeking to offset 2 read {other:?}")),
    }
}

/// The offset of partition 0 of `topic` for time `ms` (offsets_for_times).
fn offset_for_time(bootstrap: &str, topic: &str, ms: i64) -> Outcome<Option<Offset>> {
    let c = client::reader(bootstrap)?;
    let mut ask = TopicPartitionList::new();
    ask.add_partition_offset(topic, 0, Offset::Offset(ms)).map_err(|e| e.to_string())?;
    let found = c.offsets_for_times(ask, client::WAIT).map_err(|e| format!("offsets_for_times: {e}"))?;
    let offset = found.find_partition(topic, 0).map(|e| e.offset());
    drop(found); // before its client (see group_resume)
    Ok(offset)
}

/// Create a three-partition topic, describe it (Metadata and DescribeConfigs), delete it.
async fn admin(bootstrap: String) -> Outcome {
    let topic = client::unique_topic("admin");
    create_topic(&bootstrap, &topic, 3).await?;
    let admin = client::admin(&bootstrap)?;
    let md = admin.inner().fetch_metadata(Some(&topic), client::WAIT).map_err(|e| format!("metadata: {e}"))?;
    let partitions = md.topics().first().map_or(0, |t| t.partitions().len());
    if partitions != 3 {
        return Err(format!("metadata shows {partitions} partitions, not 3"));
    }
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &client::options())
        .await
        .map_err(|e| format!("describe_configs: {e}"))?;
    let resource = match described.into_iter().next() {
        Some(Ok(r)) => r,
        other => return Err(format!("describe_configs answered {other:?}")),
    };
    if !resource.entries.iter().any(|e| e.name == "retention.ms" && e.value.is_some()) {
        return Err(format!("describe_configs has no retention.ms: {:?}", resource.entries));
    }
    delete_topic(&bootstrap, &topic).await?;
    let md = admin.inner().fetch_metadata(None, client::WAIT).map_err(|e| format!("metadata: {e}"))?;
    match md.topics().iter().any(|t| t.name() == topic) {
        true => Err("the deleted topic is still listed".into()),
        false => Ok(()),
    }
}

fn client_now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    d.as_millis() as i64
}
