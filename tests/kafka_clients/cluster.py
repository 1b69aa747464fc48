#!/usr/bin/env python3
"""A three-node Keel cluster of real processes under Kafka clients: an idempotent producer
(confluent-kafka, acks=all) writes numbered records to a topic replicated three ways; the process
whose broker leads the partition is SIGKILLed mid-stream; the producer goes on through the other
brokers. Then every acknowledged record must be read back exactly once and in order, and
Metadata must stop naming the dead broker. Before that, with `--keel` and `--admins`: a consumer
group of two members commits offsets, and `keel group list|describe` through every node's admin API
shows its members, assignments, committed offsets and lag, whichever broker coordinates it.
Prints `kafka clients: N passed, M failed, 0 skipped`.

    python3 tests/kafka_clients/cluster.py --bootstrap h:p,h:p,h:p --pids 1=PID,2=PID,3=PID \
        [--keel target/debug/keel --admins http://h:p,http://h:p,http://h:p]
"""
import argparse
import json
import os
import signal
import subprocess
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


def new_topic(bootstrap, nodes, tag, partitions):
    """A topic replicated three ways, once every node is registered and seen alive; the admin
    client and the topic's name."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.time() + 90
    while len(admin.list_topics(timeout=10).brokers) < nodes and time.time() < deadline:
        time.sleep(0.5)
    topic = f"kc-{tag}-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=3)])[topic].result(60)
    return admin, topic


def run(bootstrap, pids):
    admin, topic = new_topic(bootstrap, len(pids), "cluster", 1)
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


def keel_json(keel, admin, *args):
    out = subprocess.run([keel, *args, "-o", "json", "--admin", admin], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"keel {' '.join(args)}: {out.stderr.strip()}"
    return json.loads(out.stdout)


def keel_text(keel, admin, *args):
    out = subprocess.run([keel, *args, "--admin", admin], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"keel {' '.join(args)}: {out.stderr.strip()}"
    return out.stdout


def group_shows_in_the_cli_from_every_node(bootstrap, keel, admins):
    _, topic = new_topic(bootstrap, len(admins), "group", 4)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2})
    for i in range(200):
        p.produce(topic, key=str(i).encode(), value=str(i).encode())
    assert p.flush(60) == 0, "records not acknowledged"
    group = f"cli-{uuid.uuid4().hex[:6]}"
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "client.id": "cli-check"}
    members = [Consumer(conf), Consumer(conf)]
    for c in members:
        c.subscribe([topic])
    got = 0
    deadline = time.time() + 90
    while (got < 200 or any(not c.assignment() for c in members)) and time.time() < deadline:
        for c in members:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got += 1
                c.commit(message=m, asynchronous=False)
    assert got == 200, f"the group read {got} of 200"
    assert all(c.assignment() for c in members), "a member holds no partition"
    # 30 more records: the group lags by 30 until it reads them.
    for i in range(30):
        p.produce(topic, value=b"late")
    assert p.flush(60) == 0, "late records not acknowledged"
    try:
        for a in admins:
            deadline = time.time() + 30
            while True:
                g = keel_json(keel, a, "group", "describe", group)
                lag = sum(o["lag"] or 0 for o in g["offsets"])
                if (g["state"], len(g["members"]), lag) == ("stable", 2, 30) or time.time() > deadline:
                    break
                time.sleep(0.5)
            assert g["state"] == "stable" and g["protocol_type"] == "consumer", g
            assert len(g["members"]) == 2 and {m["client_id"] for m in g["members"]} == {"cli-check"}, g["members"]
            assigned = sorted(p for m in g["members"] for a2 in m["assignment"] for p in a2["partitions"])
            assert assigned == [0, 1, 2, 3], f"assignments {g['members']}"
            assert sorted(o["partition"] for o in g["offsets"]) == [0, 1, 2, 3], g["offsets"]
            assert sum(o["committed"] for o in g["offsets"]) == 200, g["offsets"]
            assert lag == 30, f"lag {lag} via {a}: {g['offsets']}"
            listed = {x["group"]: x for x in keel_json(keel, a, "group", "list")["groups"]}
            assert listed.get(group, {}).get("lag") == 30, listed.get(group)
            text = keel_text(keel, a, "group", "describe", group)
            assert "COMMITTED" in text and "cli-check" in text and f"{topic}[" in text, text
    finally:
        for c in members:
            c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--pids", required=True)
    ap.add_argument("--keel")
    ap.add_argument("--admins")
    args = ap.parse_args()
    pids = {int(k): int(v) for k, v in (x.split("=") for x in args.pids.split(","))}
    checks = []
    if args.keel and args.admins:
        checks.append(("cluster_group_shows_in_the_cli_from_every_node",
                       lambda: group_shows_in_the_cli_from_every_node(args.bootstrap, args.keel, args.admins.split(","))))
    checks.append(("cluster_leader_killed_mid_stream_loses_and_duplicates_nothing", lambda: run(args.bootstrap, pids)))
    passed = failed = 0
    for name, fn in checks:
        start = time.time()
        try:
            fn()
            passed += 1
            print(f"ok {name} ({time.time() - start:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            traceback.print_exc(limit=3)
            print(f"FAIL {name}: {e}", flush=True)
    print(f"kafka clients: {passed} passed, {failed} failed, 0 skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
