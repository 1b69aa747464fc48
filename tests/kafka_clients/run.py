#!/usr/bin/env python3
"""Real Kafka clients against a running Keel node: confluent-kafka (librdkafka), kafka-python and aiokafka,
plus raw sockets for bad input. Each check prints `ok NAME` or `FAIL NAME: why`; the last line is
`kafka clients: N passed, M failed, K skipped` (CI adds it up). Every wait is bounded.

    python3 tests/kafka_clients/run.py --bootstrap 127.0.0.1:9092
"""
import argparse
import socket
import struct
import sys
import time
import traceback
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
import kafka

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def topic_name(tag):
    return f"kc-{tag}-{uuid.uuid4().hex[:8]}"


def create(bs, name, partitions=1):
    admin = AdminClient({"bootstrap.servers": bs})
    for _, f in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).items():
        f.result(30)


def produce(bs, topic, values, **conf):
    p = Producer({"bootstrap.servers": bs, "linger.ms": 5, **conf})
    errors = []
    acked = []

    def cb(err, msg):
        (errors if err else acked).append(err or (msg.partition(), msg.offset()))

    for i, v in enumerate(values):
        p.produce(topic, key=str(i % 5).encode(), value=v, callback=cb)
        p.poll(0)
    left = p.flush(30)
    assert left == 0, f"{left} messages never acknowledged"
    assert not errors, f"errors: {errors[:3]}"
    return acked


def consume(bs, topic, partitions, want, timeout_s=30):
    c = Consumer({"bootstrap.servers": bs, "group.id": "unused", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = []
    deadline = time.time() + timeout_s
    while len(got) < want and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert not m.error(), f"consumer error {m.error()}"
        got.append((m.partition(), m.offset(), m.value()))
    c.close()
    return got


def values(n, tag):
    return [f"{tag}-{i}".encode() * (1 + i % 3) for i in range(n)]


@check
def confluent_acks_all_round_trip(bs):
    t = topic_name("acks-all")
    create(bs, t, partitions=3)
    vs = values(2000, "all")
    acked = produce(bs, t, vs, acks="all")
    assert len(acked) == len(vs)
    got = consume(bs, t, 3, len(vs))
    assert sorted(v for _, _, v in got) == sorted(vs), f"consumed {len(got)} of {len(vs)}"
    per = {}
    for p, o, _ in got:
        assert o == per.get(p, -1) + 1, f"partition {p}: offset {o} after {per.get(p)}"
        per[p] = o


@check
def confluent_acks_1_and_0(bs):
    t = topic_name("acks")
    create(bs, t)
    produce(bs, t, values(100, "one"), acks="1")
    produce(bs, t, values(100, "zero"), acks="0")
    deadline = time.time() + 20
    got = []
    while time.time() < deadline:
        got = consume(bs, t, 1, 200, timeout_s=5)
        if len(got) >= 200:
            break
    assert len(got) == 200, f"{len(got)} of 200"


@check
def confluent_every_compression_codec(bs):
    for codec in ["gzip", "snappy", "lz4", "zstd"]:
        t = topic_name(codec)
        create(bs, t)
        vs = values(500, codec)
        produce(bs, t, vs, **{"compression.type": codec, "batch.num.messages": 100})
        got = consume(bs, t, 1, len(vs))
        assert [v for _, _, v in got] == vs, f"{codec}: consumed {len(got)} of {len(vs)}"


@check
def confluent_idempotent_producer(bs):
    t = topic_name("idem")
    create(bs, t, partitions=2)
    vs = values(3000, "idem")
    produce(bs, t, vs, **{"enable.idempotence": True, "acks": "all"})
    got = consume(bs, t, 2, len(vs))
    assert len(got) == len(vs) and sorted(v for *_, v in got) == sorted(vs), f"{len(got)} of {len(vs)}"


@check
def confluent_seek_by_timestamp(bs):
    t = topic_name("time")
    create(bs, t)
    produce(bs, t, values(50, "early"))
    time.sleep(1.5)
    middle = int(time.time() * 1000)
    time.sleep(0.2)
    produce(bs, t, values(50, "late"))
    c = Consumer({"bootstrap.servers": bs, "group.id": "unused"})
    found = c.offsets_for_times([TopicPartition(t, 0, middle)], timeout=10)[0]
    lo, hi = c.get_watermark_offsets(TopicPartition(t, 0), timeout=10)
    c.close()
    assert (lo, hi) == (0, 100), f"watermarks {lo}, {hi}"
    assert 0 < found.offset <= 50, f"offset for the middle time: {found.offset}"


@check
def confluent_admin_create_describe_delete(bs):
    admin = AdminClient({"bootstrap.servers": bs})
    t = topic_name("admin")
    create(bs, t, partitions=4)
    md = admin.list_topics(timeout=10)
    assert len(md.topics[t].partitions) == 4, md.topics.get(t)
    from confluent_kafka.admin import NewPartitions
    admin.create_partitions([NewPartitions(t, 6)])[t].result(10)
    assert len(admin.list_topics(timeout=10).topics[t].partitions) == 6
    produce(bs, t, values(60, "grown"))
    assert len(consume(bs, t, 6, 60)) == 60, "records on the new partitions are read back"
    try:
        admin.create_partitions([NewPartitions(t, 3)])[t].result(10)
        raise AssertionError("shrinking succeeded")
    except Exception as e:  # noqa: BLE001
        assert "INVALID_PARTITIONS" in str(e) or "only grows" in str(e), e
    dup = admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])[t]
    try:
        dup.result(10)
        raise AssertionError("creating an existing topic succeeded")
    except Exception as e:  # noqa: BLE001 - the client raises a KafkaException
        assert "TOPIC_ALREADY_EXISTS" in str(e) or "already exists" in str(e), e
    admin.delete_topics([t])[t].result(10)
    deadline = time.time() + 10
    while t in admin.list_topics(timeout=10).topics and time.time() < deadline:
        time.sleep(0.2)
    assert t not in admin.list_topics(timeout=10).topics


@check
def confluent_admin_describe_and_alter_configs(bs):
    from confluent_kafka.admin import ConfigResource, ConfigEntry, AlterConfigOpType
    admin = AdminClient({"bootstrap.servers": bs})
    t = topic_name("configs")
    create(bs, t)
    res = ConfigResource("topic", t)
    described = admin.describe_configs([res])[res].result(10)
    assert described["retention.ms"].value == "-1" and described["min.insync.replicas"].value == "1", described
    change = ConfigResource("topic", t, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([change])[change].result(10)
    described = admin.describe_configs([res])[res].result(10)
    assert (described["retention.ms"].value, described["retention.bytes"].value) == ("3600000", "1048576"), described
    bad = ConfigResource("topic", t, incremental_configs=[
        ConfigEntry("keel.engine", "memory", incremental_operation=AlterConfigOpType.SET)])
    try:
        admin.incremental_alter_configs([bad])[bad].result(10)
        raise AssertionError("changing the engine succeeded")
    except Exception as e:  # noqa: BLE001
        assert "INVALID_CONFIG" in str(e) or "read-only" in str(e), e


@check
def kafka_python_idempotent_gzip_round_trip(bs):
    t = topic_name("kp")
    p = kafka.KafkaProducer(bootstrap_servers=bs, compression_type="gzip", acks="all", enable_idempotence=True)
    futs = [p.send(t, key=b"k", value=f"kp-{i}".encode()) for i in range(500)]
    p.flush(30)
    offsets = [f.get(10).offset for f in futs]
    p.close()
    assert offsets == list(range(500)), offsets[:5]
    c = kafka.KafkaConsumer(bootstrap_servers=bs, group_id=None, consumer_timeout_ms=5000)
    tp = kafka.TopicPartition(t, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = [m.value for m in c]
    assert c.end_offsets([tp])[tp] == 500
    c.close()
    assert got == [f"kp-{i}".encode() for i in range(500)], f"{len(got)} of 500"


@check
def confluent_group_of_two_rebalances_commits_and_resumes(bs):
    t = topic_name("group")
    create(bs, t, partitions=4)
    produce(bs, t, values(400, "g"))
    group = f"grp-{uuid.uuid4().hex[:6]}"

    def member(name):
        c = Consumer({"bootstrap.servers": bs, "group.id": group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 6000, "client.id": name})
        c.subscribe([t])
        return c

    c1, c2 = member("c1"), member("c2")
    got = {"c1": set(), "c2": set()}
    deadline = time.time() + 60
    while sum(len(v) for v in got.values()) < 400 and time.time() < deadline:
        for name, c in (("c1", c1), ("c2", c2)):
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            got[name].add((m.partition(), m.offset()))
            c.commit(message=m, asynchronous=False)
    assert not (got["c1"] & got["c2"]), "a record went to both members"
    assert len(got["c1"] | got["c2"]) == 400, f"consumed {len(got['c1'] | got['c2'])} of 400"
    parts = [{p for p, _ in got[n]} for n in ("c1", "c2")]
    # Both members get partitions; one may have read a partition before the other joined (the
    # first generation gives the first member everything), so the sets may overlap.
    assert parts[0] and parts[1], f"partitions split {parts}"
    c2.close()
    produce(bs, t, values(40, "after"))
    more = set()
    deadline = time.time() + 40
    while len(more) < 40 and time.time() < deadline:
        m = c1.poll(0.5)
        if m is None or m.error():
            continue
        more.add((m.partition(), m.offset()))
        c1.commit(message=m, asynchronous=False)
    assert len(more) == 40, f"the remaining member got {len(more)} of 40 after the rebalance"
    c1.close()
    c3 = member("c3")
    again = []
    deadline = time.time() + 8
    while time.time() < deadline:
        m = c3.poll(0.5)
        if m is not None and not m.error():
            again.append(m.offset())
    committed = c3.committed([TopicPartition(t, p) for p in range(4)], timeout=10)
    c3.close()
    assert again == [], f"a new member re-read {len(again)} committed records"
    # A partition no key hashed to has nothing committed (-1001).
    assert sum(max(tp.offset, 0) for tp in committed) == 440, [(tp.partition, tp.offset) for tp in committed]


@check
def confluent_cooperative_rebalance(bs):
    """Two members with the cooperative-sticky assignor (KIP-429: incremental rebalances, the
    first member keeps what it is not asked to give up): both get partitions, every record is
    read, a record read by both is one whose commit the rebalance refused (ILLEGAL_GENERATION or
    REBALANCE_IN_PROGRESS, as Kafka answers a commit of the generation just ended), and after the
    second leaves the first is given its partitions back."""
    from confluent_kafka import KafkaError, KafkaException
    uncommitted = set()

    def commit(c, m):
        try:
            c.commit(message=m, asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() not in (KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS):
                raise
            uncommitted.add((m.partition(), m.offset()))

    t = topic_name("coop")
    create(bs, t, partitions=4)
    produce(bs, t, [f"c-{i}".encode() for i in range(200)], partitioner="random")
    group = f"coop-{uuid.uuid4().hex[:6]}"
    revoked, assigned, current = [], [], {"c1": set(), "c2": set()}

    def on_assign(name, ps):
        assigned.append((name, sorted(p.partition for p in ps)))
        current[name] |= {p.partition for p in ps}

    def on_revoke(name, ps):
        revoked.append((name, sorted(p.partition for p in ps)))
        current[name] -= {p.partition for p in ps}

    def member(name):
        c = Consumer({"bootstrap.servers": bs, "group.id": group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 6000, "client.id": name,
                      "partition.assignment.strategy": "cooperative-sticky"})
        c.subscribe([t], on_assign=lambda c, ps: on_assign(name, ps), on_revoke=lambda c, ps: on_revoke(name, ps))
        return c

    c1 = member("c1")
    got = {"c1": set(), "c2": set()}
    deadline = time.time() + 10
    while not got["c1"] and time.time() < deadline:
        m = c1.poll(0.2)
        if m is not None and not m.error():
            got["c1"].add((m.partition(), m.offset()))
            commit(c1, m)
    c2 = member("c2")
    deadline = time.time() + 60
    while sum(len(v) for v in got.values()) < 200 and time.time() < deadline:
        for name, c in (("c1", c1), ("c2", c2)):
            m = c.poll(0.2)
            if m is not None and not m.error():
                got[name].add((m.partition(), m.offset()))
                commit(c, m)
    # A refused commit leaves the record to be read again by its partition's next owner, at or
    # after it: allowed for records from the refused commit's offset on, in that partition.
    both = {(p, o) for p, o in got["c1"] & got["c2"]
            if not any(up == p and uo <= o for up, uo in uncommitted)}
    assert not both, f"{len(both)} records went to both members without a refused commit"
    assert len(got["c1"] | got["c2"]) == 200, f"consumed {len(got['c1'] | got['c2'])} of 200"
    assert got["c2"], f"the second member got nothing: assigned {assigned}, revoked {revoked}"
    # Cooperative: c1 was never made to give up everything at once when c2 joined.
    c1_revoked = [ps for n, ps in revoked if n == "c1"]
    assert all(len(ps) < 4 for ps in c1_revoked), f"c1 revoked {c1_revoked}: an eager rebalance"
    c2.close()
    deadline = time.time() + 30
    while current["c1"] != {0, 1, 2, 3} and time.time() < deadline:
        c1.poll(0.2)
    owned = set(current["c1"])
    c1.close()
    assert owned == {0, 1, 2, 3}, f"c1 was not given every partition back: {assigned} {revoked}"


@check
def kafka_python_group_consumer_commits(bs):
    t = topic_name("kpg")
    p = kafka.KafkaProducer(bootstrap_servers=bs)
    for i in range(100):
        p.send(t, value=f"x{i}".encode())
    p.flush(30)
    p.close()
    group = f"kpg-{uuid.uuid4().hex[:6]}"
    c = kafka.KafkaConsumer(t, bootstrap_servers=bs, group_id=group, auto_offset_reset="earliest",
                            enable_auto_commit=False, consumer_timeout_ms=8000)
    got = [m.value for m in c]
    c.commit()
    tp = kafka.TopicPartition(t, 0)
    committed = c.committed(tp)
    c.close()
    assert len(got) == 100, f"{len(got)} of 100"
    assert committed == 100, committed


@check
def aiokafka_produce_and_group_consume(bs):
    import asyncio
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    t = topic_name("aio")
    group = f"aio-{uuid.uuid4().hex[:6]}"

    async def go():
        p = AIOKafkaProducer(bootstrap_servers=bs, enable_idempotence=True, compression_type="gzip")
        await p.start()
        try:
            offsets = [(await p.send_and_wait(t, f"a{i}".encode())).offset for i in range(50)]
        finally:
            await p.stop()
        c = AIOKafkaConsumer(t, bootstrap_servers=bs, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False)
        await c.start()
        got = []
        try:
            deadline = time.time() + 30
            while len(got) < 50 and time.time() < deadline:
                batch = await c.getmany(timeout_ms=500)
                for msgs in batch.values():
                    got.extend(m.value for m in msgs)
            await c.commit()
        finally:
            await c.stop()
        return offsets, got

    offsets, got = asyncio.run(go())
    assert offsets == list(range(50)), offsets[:5]
    assert got == [f"a{i}".encode() for i in range(50)], f"{len(got)} of 50"


def frame(body):
    return struct.pack(">i", len(body)) + body


def api_versions_request(version, correlation):
    # Header v1 (non-flexible) is enough to read the answer's correlation id and error code.
    client = b"keel-test"
    return frame(struct.pack(">hhih", 18, version, correlation, len(client)) + client)


def read_frame(s, timeout=5):
    s.settimeout(timeout)
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    n = struct.unpack(">i", head)[0]
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def closed(s, timeout=5):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def connect(bs):
    host, port = bs.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def kstr(x):
    b = x.encode()
    return struct.pack(">h", len(b)) + b


def call(s, api_key, version, correlation, body):
    """One non-flexible request (header v1); the answer's body after its correlation id."""
    client = b"keel-test"
    s.sendall(frame(struct.pack(">hhih", api_key, version, correlation, len(client)) + client + body))
    answer = read_frame(s)
    assert answer is not None and struct.unpack(">i", answer[:4])[0] == correlation, "no answer"
    return answer[4:]


def fetch_v7(s, correlation, session_id, epoch, topic, parts, forgotten=()):
    """Fetch v7 of (partition, offset) pairs; answers (error, session id, {partition: (error, hw, bytes)})."""
    body = struct.pack(">iiiibii", -1, 0, 0, 1 << 20, 0, session_id, epoch)
    body += struct.pack(">i", 1 if parts else 0)
    if parts:
        body += kstr(topic) + struct.pack(">i", len(parts))
        for p, offset in parts:
            body += struct.pack(">iqqi", p, offset, -1, 1 << 20)
    body += struct.pack(">i", 1 if forgotten else 0)
    if forgotten:
        body += kstr(topic) + struct.pack(">i", len(forgotten)) + b"".join(struct.pack(">i", p) for p in forgotten)
    r = call(s, 1, 7, correlation, body)
    _, error, sid, ntopics = struct.unpack(">ihii", r[:14])
    at, got = 14, {}
    for _ in range(ntopics):
        (n,) = struct.unpack(">h", r[at:at + 2])
        at += 2 + n
        (nparts,) = struct.unpack(">i", r[at:at + 4])
        at += 4
        for _ in range(nparts):
            p, perr, hw, _, _, naborted = struct.unpack(">ihqqqi", r[at:at + 34])
            at += 34 + max(naborted, 0) * 16
            (size,) = struct.unpack(">i", r[at:at + 4])
            at += 4 + max(size, 0)
            got[p] = (perr, hw, max(size, 0))
    return error, sid, got


@check
def raw_fetch_session_answers_only_what_changed(bs):
    t = topic_name("session")
    create(bs, t, partitions=2)
    produce(bs, t, [b"x"] * 4)
    s = connect(bs)
    error, sid, got = fetch_v7(s, 1, 0, 0, t, [(0, 0), (1, 0)])
    assert error == 0 and sid > 0, (error, sid)
    assert sorted(got) == [0, 1], got
    hw = {p: v[1] for p, v in got.items()}
    ends = [hw[0], hw[1]]
    # Nothing moved: an incremental fetch at epoch 1 answers no partition.
    error, sid2, got = fetch_v7(s, 2, sid, 1, t, [(0, ends[0]), (1, ends[1])])
    assert (error, sid2, got) == (0, sid, {}), (error, sid2, got)
    # A record on one partition: only that one comes back (the other is still in the session).
    produce(bs, t, [b"y"])
    error, _, got = fetch_v7(s, 3, sid, 2, t, [])
    assert error == 0 and len(got) == 1, got
    # Forgetting a partition, then wrong epochs and unknown ids.
    error, _, got = fetch_v7(s, 4, sid, 3, t, [], forgotten=[0, 1])
    assert error == 0, error
    assert fetch_v7(s, 5, sid, 3, t, [])[0] == 71, "INVALID_FETCH_SESSION_EPOCH"
    assert fetch_v7(s, 6, sid + 1 if sid < 2**31 - 1 else 1, 1, t, [])[0] == 70, "FETCH_SESSION_ID_NOT_FOUND"
    # Epoch -1 closes it.
    error, sid3, _ = fetch_v7(s, 7, sid, -1, t, [(0, 0)])
    assert (error, sid3) == (0, 0), (error, sid3)
    assert fetch_v7(s, 8, sid, 4, t, [])[0] == 70
    s.close()


@check
def raw_offset_for_leader_epoch_agrees_with_fetched_epochs(bs):
    t = topic_name("epochs")
    create(bs, t)
    produce(bs, t, [b"z"] * 3)
    # librdkafka fetches with Metadata's epoch as current_leader_epoch (refused unless it is the
    # partition's), and the batches come back stamped with the epoch they were written in.
    c = Consumer({"bootstrap.servers": bs, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(t, 0, 0)])
    epochs = []
    deadline = time.time() + 10
    while len(epochs) < 3 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            epochs.append(m.leader_epoch())
    c.close()
    assert len(epochs) == 3 and epochs[0] is not None and epochs[0] >= 0 and len(set(epochs)) == 1, epochs
    epoch = epochs[0]
    s = connect(bs)

    def ask(correlation, current, leader_epoch):
        body = struct.pack(">i", 1) + kstr(t) + struct.pack(">iiii", 1, 0, current, leader_epoch)
        r = call(s, 23, 2, correlation, body)
        (n,) = struct.unpack(">h", r[8:10])
        return struct.unpack(">hiiq", r[10 + n + 4:10 + n + 22])

    err, p, e, end = ask(1, epoch, epoch)
    assert (err, p, e) == (0, 0, epoch) and end >= 3, (err, p, e, end)
    assert ask(2, epoch + 1, epoch)[0] == 75, "UNKNOWN_LEADER_EPOCH"
    if epoch > 0:
        assert ask(3, epoch - 1, epoch)[0] == 74, "FENCED_LEADER_EPOCH"
    assert ask(4, -1, epoch + 5)[2:] == (-1, -1), "a newer epoch is undefined"
    s.close()


@check
def bad_api_versions_version_gets_the_v0_answer(bs):
    s = connect(bs)
    s.sendall(api_versions_request(99, 42))
    body = read_frame(s)
    assert body is not None, "no answer"
    correlation, error = struct.unpack(">ih", body[:6])
    assert (correlation, error) == (42, 35), (correlation, error)
    s.close()


@check
def bad_oversize_frame_closes_only_that_connection(bs):
    s = connect(bs)
    s.sendall(struct.pack(">i", 2_000_000_000) + b"\0" * 16)
    assert closed(s), "an oversize frame left the connection open"
    ok = connect(bs)
    ok.sendall(api_versions_request(0, 7))
    body = read_frame(ok)
    assert body is not None and struct.unpack(">ih", body[:6]) == (7, 0), "another client was affected"
    ok.close()


@check
def bad_garbage_and_unknown_api_close_the_connection(bs):
    for payload in [frame(b"\x00\x01"), frame(struct.pack(">hhi", 999, 0, 1)), frame(b"\x00\x00\x00\x09" + b"\xff" * 40)]:
        s = connect(bs)
        s.sendall(payload)
        assert closed(s), f"connection open after {payload[:12]!r}"


@check
def bad_hostile_array_count_closes_only_that_connection(bs):
    # Metadata v1 whose topics array claims 2,147,483,647 elements (once enough to abort).
    s = connect(bs)
    s.sendall(frame(struct.pack(">hhih", 3, 1, 1, -1) + struct.pack(">i", 0x7FFFFFFF)))
    assert closed(s), "the connection stayed open"
    ok = connect(bs)
    ok.sendall(api_versions_request(0, 8))
    body = read_frame(ok)
    assert body is not None and struct.unpack(">ih", body[:6]) == (8, 0), "the broker is gone"
    ok.close()


@check
def bad_corrupt_batch_is_refused_and_nothing_stored(bs):
    t = topic_name("corrupt")
    create(bs, t)
    p = kafka.KafkaProducer(bootstrap_servers=bs, acks="all")
    p.send(t, value=b"good").get(10)
    p.close()
    # A Produce v3 request whose one batch has a wrong CRC.
    batch = bytearray(61 + 8)
    struct.pack_into(">qiibIhiqqqhii", batch, 0, 0, len(batch) - 12, 0, 2, 0xDEADBEEF, 0, 0, 0, 0, -1, -1, -1, 1)
    records = bytes(batch)
    topic = t.encode()
    body = struct.pack(">hhih", 0, 3, 5, 4) + b"test"  # Produce v3 header
    body += struct.pack(">h", -1) + struct.pack(">hi", -1, 10000)  # no transactional id, acks, timeout
    body += struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic
    body += struct.pack(">i", 1) + struct.pack(">ii", 0, len(records)) + records
    s = connect(bs)
    s.sendall(frame(body))
    answer = read_frame(s)
    assert answer is not None, "no answer to a corrupt batch"
    assert struct.pack(">h", 2) in answer, "CORRUPT_MESSAGE not in the answer"
    s.close()
    got = consume(bs, t, 1, 2, timeout_s=5)
    assert [v for *_, v in got] == [b"good"], got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("-k", default="")
    args = ap.parse_args()
    passed = failed = skipped = 0
    start = time.time()
    for fn in CHECKS:
        if args.k and args.k not in fn.__name__:
            skipped += 1
            continue
        t0 = time.time()
        try:
            fn(args.bootstrap)
            passed += 1
            print(f"ok {fn.__name__} ({time.time() - t0:.2f}s)", flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {fn.__name__}: {e}", flush=True)
            traceback.print_exc(limit=3)
    print(f"kafka clients: {time.time() - start:.0f} s in all")
    print(f"kafka clients: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
