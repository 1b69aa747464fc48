//! `/metrics` of a real single-node process after MQTT, Kafka and admin traffic: the data
//! paths show up under the names `docs/metrics.md` lists.
#![cfg(not(madsim))]
// The harness drives real processes and sockets from outside any node: the seam is not in play.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod common;

use common::*;

fn admin(p: &Proc, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let body: Option<serde_json::Value> = body.map(|b| serde_json::from_str(b).unwrap());
    rt.block_on(keel::admin::client::request(&p.admin, method, path, body.as_ref())).unwrap()
}

fn exchange(port: u16, send: &[u8], answer_bytes: usize) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(send).unwrap();
    let mut got = vec![0; answer_bytes];
    s.read_exact(&mut got).unwrap();
    got
}

/// The value of the sample line that starts with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix))?.rsplit(' ').next()?.parse().ok()
}

#[test]
fn data_paths_show_up_in_the_metrics() {
    let dir = temp_dir("metrics");
    let (rpc, admin_port, mqtt, kafka) = (free_port(), free_port(), free_port(), free_port());
    let config = dir.join("keel.toml");
    let text = format!(
        "data_dir = {:?}\n[rpc]\nlisten = \"127.0.0.1:{rpc}\"\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\n\
         [broker]\nmqtt_listen = \"127.0.0.1:{mqtt}\"\nmqtt_ws_listen = \"\"\nkafka_listen = \"127.0.0.1:{kafka}\"\n\
         [mqtt]\nsys_interval_s = 0\n",
        dir.join("data"),
    );
    std::fs::write(&config, text).unwrap();
    let p = start(&config, &dir, admin_port);
    wait_for("a leader", Duration::from_secs(20), || leader_of(&p.admin));
    let (status, body) = admin(&p, "POST", "/api/topics", Some(r#"{"name":"m","partitions":1}"#));
    assert!(status == 200 || status == 201, "{status} {body}");
    wait_for("a produce", Duration::from_secs(20), || {
        let (s, _) = admin(&p, "POST", "/api/topics/m/partitions/0/records", Some(r#"{"records":["a","b"]}"#));
        (s == 200).then_some(())
    });
    // MQTT 3.1.1: CONNECT, then a QoS 1 PUBLISH answered by PUBACK (once the namespace log is up).
    #[rustfmt::skip]
    let connect = [0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 2, b'm', b'1'];
    let publish = [0x32, 6, 0, 1, b't', 0, 1, b'x'];
    wait_for("an MQTT PUBACK", Duration::from_secs(30), || {
        let answer = std::panic::catch_unwind(|| exchange(mqtt, &[&connect[..], &publish[..]].concat(), 8)).ok()?;
        (answer == [0x20, 2, 0, 0, 0x40, 2, 0, 1]).then_some(())
    });
    // Kafka ApiVersions v0 (request header v1, no client id): answered with its size first.
    let api_versions = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
    let size = exchange(kafka, &api_versions, 4);
    assert!(u32::from_be_bytes(size.try_into().unwrap()) > 0);

    let (_, text) = admin(&p, "GET", "/metrics", None);
    let at_least_one = [
        "keel_storage_requests_total{method=\"shard.produce\"}",
        "keel_storage_produced_records_total",
        "keel_storage_sync_duration_seconds_count",
        "keel_storage_request_duration_seconds_count{method=\"shard.produce\"}",
        "keel_shard_high_watermark{topic=\"m\",partition=\"0\"}",
        "keel_shard_leader{topic=\"m\",partition=\"0\"}",
        "keel_shard_stored_bytes{topic=\"m\",partition=\"0\"}",
        "keel_engine_stored_bytes{engine=\"segment\",tier=\"local\"}",
        "keel_mqtt_packets_received_total{packet=\"CONNECT\"}",
        "keel_mqtt_packets_received_total{packet=\"PUBLISH\"}",
        "keel_mqtt_packets_sent_total{packet=\"PUBACK\"}",
        "keel_mqtt_request_duration_seconds_count{packet=\"PUBLISH\"}",
        "keel_mqtt_request_duration_seconds_count{packet=\"CONNECT\"}",
        "keel_mqtt_messages_received_total",
        "keel_mqtt_connections_opened_total",
        "keel_kafka_requests_total{api=\"ApiVersions\"}",
        "keel_kafka_request_duration_seconds_count{api=\"ApiVersions\"}",
        "keel_meta_is_leader",
    ];
    for name in at_least_one {
        let v = sample(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"));
        assert!(v >= 1.0, "{name} = {v}");
    }
    assert_eq!(sample(&text, "keel_shard_high_watermark{topic=\"m\",partition=\"0\"}"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "keel_shards_offline"), Some(0.0), "{text}");
}
