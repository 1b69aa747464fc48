#!/usr/bin/env python3
"""One log, two views: MQTT and Kafka clients on the same messages of a Keel node with the
binding `sensors` <- `sensors/#` (set in its config) and `alerts` <- `alerts/+/high` (set with
`keel binding create` before this runs). paho-mqtt publishes and subscribes; confluent-kafka
(librdkafka) and kafka-python consume and produce, confluent-kafka also with each compression
type. Prints `kafka clients: N passed, M failed,
0 skipped`.

    python3 tests/kafka_clients/bridge.py --bootstrap host:port --mqtt-port 1883
"""
import argparse
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def mqtt_client(port, cid, on_message=None):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    if on_message:
        c.on_message = on_message
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    return c


def consume(bs, topic, want, timeout_s=30, group=None):
    c = Consumer({"bootstrap.servers": bs, "group.id": group or f"bridge-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got, deadline = [], time.time() + timeout_s
    while len(got) < want and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m)
    # A little longer: anything beyond `want` is a wrong extra.
    end = time.time() + 2
    while time.time() < end:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append(m)
    c.close()
    return got


def mqtt_in_kafka_out(a):
    """QoS 1 publishes to bound and unbound topics: the Kafka consumer of `sensors` gets exactly
    the bound ones, keyed by MQTT topic, with QoS and user properties as headers, per topic in
    publish order."""
    pub = mqtt_client(a.mqtt_port, "bridge-pub")
    sent = []
    for i in range(40):
        topic = f"sensors/{i % 4}/temp"
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("seq", str(i))]
        pub.publish(topic, f"t{i}".encode(), qos=1, properties=props).wait_for_publish(10)
        pub.publish(f"other/{i}", b"not bound", qos=1).wait_for_publish(10)
        sent.append((topic, f"t{i}"))
    pub.loop_stop()
    pub.disconnect()
    got = consume(a.bootstrap, "sensors", len(sent))
    seen = [(m.key().decode(), m.value().decode()) for m in got]
    headers_ok = all(dict(m.headers() or []).get("mqtt.qos") == b"1" for m in got)
    seq_ok = all(dict(m.headers() or []).get("seq") == m.value()[1:] for m in got)
    by_topic = {}
    for k, v in seen:
        by_topic.setdefault(k, []).append(v)
    expected = {}
    for k, v in sent:
        expected.setdefault(k, []).append(v)
    ok = len(seen) == len(sent) and by_topic == expected and headers_ok and seq_ok
    return ok, f"{len(seen)} of {len(sent)} records, headers {headers_ok}, user properties {seq_ok}"


def kafka_in_mqtt_out(a):
    """An idempotent confluent-kafka producer's records (key = MQTT topic, mqtt.qos header)
    reach an MQTT subscriber of `sensors/#` in order per topic and QoS, with their user
    properties."""
    got, lock = [], threading.Lock()

    def on_message(_c, _u, msg):
        with lock:
            props = dict(getattr(msg.properties, "UserProperty", []) or [])
            got.append((msg.topic, msg.payload.decode(), msg.qos, props.get("origin")))

    sub = mqtt_client(a.mqtt_port, "bridge-sub", on_message)
    sub.subscribe("sensors/#", qos=2)
    time.sleep(1)
    p = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5})
    errors = []
    for i in range(60):
        p.produce("sensors", key=f"sensors/k{i % 3}/v", value=f"k{i}".encode(),
                  headers=[("mqtt.qos", b"2" if i % 2 else b"1"), ("origin", b"kafka")],
                  on_delivery=lambda e, m: e and errors.append(e))
    p.flush(30)
    deadline = time.time() + 20
    while time.time() < deadline:
        with lock:
            if len(got) >= 60:
                break
        time.sleep(0.2)
    time.sleep(1)
    sub.loop_stop()
    sub.disconnect()
    # In order per topic and QoS: paho hands a QoS 2 message over only after PUBREL, so a QoS 1
    # message sent later may reach the application first.
    per_topic = {}
    for t, v, q, _o in got:
        per_topic.setdefault((t, q), []).append(int(v[1:]))
    in_order = all(vs == sorted(vs) for vs in per_topic.values())
    qos_ok = all(q == (2 if int(v[1:]) % 2 else 1) for _t, v, q, _o in got)
    origin_ok = all(o == "kafka" for *_x, o in got)
    ok = not errors and len(got) == 60 and in_order and qos_ok and origin_ok
    return ok, f"{len(got)} of 60, errors {errors[:3]}, order {in_order}, qos {qos_ok}, properties {origin_ok}"


def compressed_kafka_in_mqtt_out(a):
    """A confluent-kafka producer with each compression.type (gzip, snappy, lz4, zstd) produces
    compressible records to `sensors`: the broker decompresses its batches and an MQTT subscriber
    gets every record."""
    codecs = ("gzip", "snappy", "lz4", "zstd")
    n, got, lock = 50, {}, threading.Lock()

    def on_message(_c, _u, msg):
        with lock:
            got.setdefault(msg.topic.split("/")[2], set()).add(msg.payload)

    sub = mqtt_client(a.mqtt_port, "bridge-compressed-sub", on_message)
    sub.subscribe("sensors/compressed/#", qos=1)
    time.sleep(1)
    errors, sent = [], {}
    for codec in codecs:
        # linger.ms batches the records, and the repeated text makes compressing them pay
        # (librdkafka sends a batch uncompressed when compressing would not shrink it).
        p = Producer({"bootstrap.servers": a.bootstrap, "compression.type": codec, "linger.ms": 50,
                      "acks": "all", "message.timeout.ms": 20000})
        sent[codec] = {f"{codec} {i} ".encode() + b"21.5C " * 40 for i in range(n)}
        for i, v in enumerate(sorted(sent[codec])):
            p.produce("sensors", key=f"sensors/compressed/{codec}/{i % 3}", value=v,
                      on_delivery=lambda e, m, c=codec: e and errors.append(f"{c}: {e}"))
        p.flush(30)
    deadline = time.time() + 20
    while time.time() < deadline:
        with lock:
            if all(len(got.get(c, ())) >= n for c in codecs):
                break
        time.sleep(0.2)
    sub.loop_stop()
    sub.disconnect()
    counts = {c: len(got.get(c, set()) & sent[c]) for c in codecs}
    ok = not errors and all(got.get(c) == sent[c] for c in codecs)
    return ok, f"received of {n} each {counts}, errors {errors[:3]}"


def refused_records(a):
    """Records that are not MQTT messages of the binding are refused with INVALID_RECORD and
    the reason: a key outside the filter, no key."""
    p = Producer({"bootstrap.servers": a.bootstrap, "message.timeout.ms": 10000, "retries": 0})
    res = []
    p.produce("sensors", key="elsewhere/x", value=b"a", on_delivery=lambda e, m: res.append(e))
    p.produce("sensors", value=b"b", partition=0, on_delivery=lambda e, m: res.append(e))
    p.flush(20)
    ok = len(res) == 2 and all(e is not None and e.code() == KafkaError.INVALID_RECORD for e in res)
    return ok, [str(e) for e in res]


def metadata_and_binding_from_cli(a):
    """Metadata lists both bindings with the log's partition count; the filter set with the CLI
    applies: only `alerts/+/high` messages show in `alerts`."""
    md = AdminClient({"bootstrap.servers": a.bootstrap}).list_topics(timeout=10)
    parts = {t: len(md.topics[t].partitions) for t in ("sensors", "alerts") if t in md.topics}
    pub = mqtt_client(a.mqtt_port, "bridge-alerts")
    for lvl in ("high", "low", "high"):
        pub.publish(f"alerts/pump/{lvl}", lvl.encode(), qos=1).wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()
    got = consume(a.bootstrap, "alerts", 2)
    ok = parts.get("sensors") == a.shards and parts.get("alerts") == a.shards and \
        [m.value() for m in got] == [b"high", b"high"]
    return ok, f"partitions {parts}, alerts {[m.value() for m in got]}"


def kafka_python_group_on_binding(a):
    """kafka-python in a consumer group reads the bound topic, commits, and a second run of the
    group resumes after the commit (nothing again)."""
    from kafka import KafkaConsumer
    group = f"bridge-kp-{uuid.uuid4()}"

    def run():
        c = KafkaConsumer("sensors", bootstrap_servers=a.bootstrap, group_id=group,
                          auto_offset_reset="earliest", enable_auto_commit=False,
                          consumer_timeout_ms=4000)
        n = sum(1 for _ in c)
        c.commit()
        c.close()
        return n

    first, second = run(), run()
    return first >= 100 and second == 0, f"first {first}, second {second}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--mqtt-port", type=int, required=True)
    ap.add_argument("--shards", type=int, default=8)
    a = ap.parse_args()
    passed = failed = 0
    for check in (mqtt_in_kafka_out, kafka_in_mqtt_out, compressed_kafka_in_mqtt_out, refused_records,
                  metadata_and_binding_from_cli, kafka_python_group_on_binding):
        try:
            ok, detail = check(a)
        except Exception as e:  # a check that raises has failed
            ok, detail = False, repr(e)
        print(f"{'ok  ' if ok else 'FAIL'} bridge_{check.__name__}: {detail}", flush=True)
        passed, failed = passed + ok, failed + (not ok)
    print(f"kafka clients: {passed} passed, {failed} failed, 0 skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
