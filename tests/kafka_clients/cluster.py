#!/usr/bin/env python3
"""A three-node Keel cluster of real processes under Kafka clients: an idempotent producer
(confluent-kafka, acks=all) writes numbered records to a topic replicated three ways; the process
whose broker leads the partition is SIGKILLed mid-stream; the producer goes on through the other
brokers. Then every acknowledged record must be read back exactly once and in order, and
Metadata must stop naming the dead broker. Prints `kafka clients: N passed, M failed, 0 skipped`.

    python3 tests/kafka_clients/cluster.py --bootstrap h:p,h:p,h:p --pids 1=PID,2=PID,3=PID
"""
import argparse
import os
import signal
import sys
import time
import traceback
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOTAL = 3000
KILL_AFTER = 1000


def leader_of(admin, topic):
    md = admin.list_topics(topic, timeout=10)
    return md.topics[topic].partitions[0].leader, set(md.brokers)


def run(bootstrap, pids):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # Every node registered and seen alive before a topic needs three of them.
    deadline = time.time() + 90
    while len(admin.list_topics(timeout=10).brokers) < len(pids) and time.time() < deadline:
        time.sleep(0.5)
    topic = f"kc-cluster-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])[topic].result(60)
    deadline = time.time() + 30
    leader = -1
    while leader < 0 and time.time() < deadline:
        leader, _ = leader_of(admin, topic)
        time.sleep(0.2)
    assert leader in pids, f"leader {leader} not among {sorted(pids)}"
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 2, "message.timeout.ms": 120000, "max.in.flight.requests.per.connection": 5})
    acked, failed = [], []

    def cb(err, msg):
        (failed if err else acked).append(err or int(msg.value()))

    killed_at = None
    for i in range(TOTAL):
        while True:
            try:
                p.produce(topic, value=str(i).encode(), callback=cb)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if killed_at is None and len(acked) >= KILL_AFTER:
            os.kill(pids[leader], signal.SIGKILL)
            killed_at = i
            print(f"killed node {leader} (pid {pids[leader]}) after {len(acked)} acks, record {i} sent", flush=True)
        if i % 100 == 0:
            p.poll(0.01)
        if killed_at is None and i >= KILL_AFTER * 2:
            p.flush(30)
    left = p.flush(150)
    assert killed_at is not None, "the leader was never killed"
    assert left == 0 and not failed, f"{left} never acknowledged, failures {failed[:3]}"
    assert sorted(acked) == list(range(TOTAL)), f"{len(acked)} acknowledged of {TOTAL}"
    # Read everything back through the surviving brokers.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 120
    while len(got) < TOTAL and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got.append(int(m.value()))
    c.close()
    assert got == list(range(TOTAL)), (
        f"read {len(got)} records; duplicates {len(got) - len(set(got))}; "
        f"missing {sorted(set(range(TOTAL)) - set(got))[:10]}; in order {got == sorted(got)}")
    deadline = time.time() + 60
    brokers = set()
    while time.time() < deadline:
        new_leader, brokers = leader_of(admin, topic)
        if leader not in brokers and new_leader != leader and new_leader >= 0:
            break
        time.sleep(0.5)
    assert leader not in brokers, f"Metadata still names the dead broker {leader}: {sorted(brokers)}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--pids", required=True)
    args = ap.parse_args()
    pids = {int(k): int(v) for k, v in (x.split("=") for x in args.pids.split(","))}
    start = time.time()
    try:
        run(args.bootstrap, pids)
        print(f"ok cluster_leader_killed_mid_stream_loses_and_duplicates_nothing ({time.time() - start:.1f}s)")
        print("kafka clients: 1 passed, 0 failed, 0 skipped")
        return 0
    except Exception as e:  # noqa: BLE001
        traceback.print_exc(limit=3)
        print(f"FAIL cluster_leader_killed_mid_stream_loses_and_duplicates_nothing: {e}")
        print("kafka clients: 0 passed, 1 failed, 0 skipped")
        return 1


if __name__ == "__main__":
    sys.exit(main())
