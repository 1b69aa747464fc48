"""Shared subscriptions, cross-broker behaviour of a cluster, MQTT over WebSocket."""

import collections
import time

from lib import V5, V311, Skip, check, register


def _collect(subs, total, timeout):
    """Messages from several clients until `total` arrived (or timeout), then 0.5 s more."""
    got = {i: [] for i in range(len(subs))}
    end = time.monotonic() + timeout
    while sum(len(g) for g in got.values()) < total and time.monotonic() < end:
        for i, s in enumerate(subs):
            got[i] += s.drain(0.02)
    for i, s in enumerate(subs):
        got[i] += s.drain(0.5 if i == 0 else 0.05)
    return got


def _shared(t, v, ports, n_subs, n_msgs=300):
    group = f"g{t.run.token}"
    topic = t.topic("work")
    subs = []
    for i in range(n_subs):
        s = t.client(v, port=ports[i % len(ports)])
        s.connect()
        codes = s.subscribe(f"$share/{group}/{topic}", 1, expect_ok=False)
        if codes[0] == 0x9E:
            raise Skip("the broker does not support shared subscriptions (SUBACK 0x9E)")
        check(codes == [1], f"SUBACK for the shared subscription: {codes}")
        subs.append(s)
    plain = t.client(v, port=ports[0])
    plain.connect()
    plain.subscribe(topic, 1)
    if len(ports) > 1:
        time.sleep(t.run.cluster_settle)  # let the subscriptions reach every broker
    pub = t.client(v, port=ports[-1])
    pub.connect()
    for i in range(n_msgs):
        pub.publish(topic, str(i).encode(), 1, wait=False)
    got = _collect(subs, n_msgs, 12)
    counts = [len(g) for g in got.values()]
    all_ = [int(m.payload) for g in got.values() for m in g]
    dup = [k for k, c in collections.Counter(all_).items() if c > 1]
    check(not dup, f"delivered twice within the group: {dup[:10]} (counts {counts})")
    missing = sorted(set(range(n_msgs)) - set(all_))
    check(not missing, f"{len(missing)} messages missing, e.g. {missing[:10]} (counts {counts})")
    check(all(c > 0 for c in counts), f"a group member got nothing: counts {counts}")
    for g in got.values():
        seq = [int(m.payload) for m in g]
        check(seq == sorted(seq), "a member got its share out of order")
    plain_got = plain.expect(n_msgs, 5)
    check(len(plain_got) == n_msgs, "the non-shared subscriber missed messages")
    t.note(f"split {counts}")
    for s in subs + [plain, pub]:
        s.disconnect()


@register("shared_subscription_3", versions=(V5,))
def shared_3(t, v):
    _shared(t, v, [t.port], 3)


@register("shared_subscription_2", versions=(V5,))
def shared_2(t, v):
    _shared(t, v, [t.port], 2)


def _cluster(t, n=2):
    if t.run.peer == "mosquitto":
        raise Skip("Mosquitto has no clustering")
    if len(t.run.cluster) < n:
        raise Skip(f"needs --cluster with at least {n} brokers")
    return t.run.cluster


@register("cluster_shared_subscription", versions=(V5,))
def cluster_shared(t, v):
    ports = _cluster(t)
    _shared(t, v, ports, max(3, len(ports)))


@register("cluster_fanin")
def cluster_fanin(t, v):
    """A subscriber on broker 1 gets QoS 1 messages published on the others, in order."""
    ports = _cluster(t)
    topic = t.topic("f")
    sub = t.client(v, port=ports[0])
    sub.connect()
    sub.subscribe(topic, 1)
    time.sleep(t.run.cluster_settle)
    pubs = []
    for i, p in enumerate(ports[1:]):
        c = t.client(v, port=p)
        c.connect()
        pubs.append(c)
        for j in range(100):
            c.publish(topic, f"{i}:{j}".encode(), 1, wait=False)
    got = sub.expect(100 * len(pubs), 10)
    by = collections.defaultdict(list)
    for m in got:
        i, j = m.payload.decode().split(":")
        by[int(i)].append(int(j))
    for i in range(len(pubs)):
        check(by[i] == list(range(100)), f"from broker {i + 2}: {len(by[i])} messages, in order "
                                         f"{by[i] == sorted(by[i])}")
    sub.expect_none(0.3)


@register("cluster_session_move")
def cluster_session_move(t, v):
    """A persistent session left on broker 1 resumes on broker 2 with what was published."""
    ports = _cluster(t)
    cid = t.cid("move")
    exp = 300 if v == V5 else None
    topic = t.topic("m")
    c = t.client(v, client_id=cid, clean=False, session_expiry=exp, port=ports[0])
    c.connect()
    c.subscribe(topic, 1)
    c.disconnect()
    pub = t.client(v, port=ports[-1])
    pub.connect()
    for i in range(10):
        pub.publish(topic, str(i).encode(), 1)
    c2 = t.client(v, client_id=cid, clean=False, session_expiry=exp, port=ports[1])
    conn = c2.connect()
    check(conn.session_present, f"session not present on broker 2: {conn}")
    got = c2.expect(10, 8)
    check([int(m.payload) for m in got] == list(range(10)), f"got {got}")
    c2.disconnect()
    end = t.client(v, client_id=cid, clean=True, session_expiry=0 if v == V5 else None,
                   port=ports[1])
    end.connect()
    end.disconnect()


@register("cluster_takeover")
def cluster_takeover(t, v):
    """The same client id on another broker of the cluster closes the first connection and
    takes its session over."""
    ports = _cluster(t)
    cid = t.cid("ctake")
    exp = 300 if v == V5 else None
    topic = t.topic("t")
    first = t.client(v, client_id=cid, clean=False, session_expiry=exp, port=ports[0])
    first.connect()
    first.subscribe(topic, 1)
    second = t.client(v, client_id=cid, clean=False, session_expiry=exp, port=ports[1])
    conn = second.connect()
    check(conn.session_present, f"session not present on broker 2: {conn}")
    rc, from_server = first.wait_closed(8)
    t.note(f"first connection closed: rc {rc}, DISCONNECT packet: {from_server}")
    pub = t.client(v, port=ports[-1])
    pub.connect()
    pub.publish(topic, b"after-takeover", 1)
    check(second.get(5).payload == b"after-takeover", "the new owner missed a message")
    first.expect_none(0.2)
    second.disconnect()
    end = t.client(v, client_id=cid, clean=True, session_expiry=0 if v == V5 else None,
                   port=ports[1])
    end.connect()
    end.disconnect()


@register("cluster_takeover_reason", versions=(V5,))
def cluster_takeover_reason(t, v):
    """MQTT 5: taken over from another broker, the first connection gets DISCONNECT 0x8E."""
    ports = _cluster(t)
    cid = t.cid("ctake")
    first = t.client(v, client_id=cid, port=ports[0])
    first.connect()
    second = t.client(v, client_id=cid, port=ports[1])
    second.connect()
    rc, from_server = first.wait_closed(8)
    check(from_server and rc == 0x8E,
          f"first connection: rc {rc}, {'DISCONNECT' if from_server else 'no DISCONNECT packet'}"
          f", expected DISCONNECT 0x8E")
    second.disconnect()


@register("cluster_retained")
def cluster_retained(t, v):
    ports = _cluster(t)
    topic = t.topic("r")
    pub = t.client(v, port=ports[0])
    pub.connect()
    pub.publish(topic, b"everywhere", 1, retain=True)
    t.defer(lambda: pub.publish(topic, b"", 1, retain=True))
    time.sleep(t.run.cluster_settle)
    for p in ports[1:]:
        s = t.client(v, port=p)
        s.connect()
        s.subscribe(topic, 1)
        m = s.get(5)
        check(m.payload == b"everywhere" and m.retain, f"broker on {p}: {m}")
        s.disconnect()
    pub.publish(topic, b"", 1, retain=True)


# --- WebSocket -------------------------------------------------------------------------------

@register("websocket_pubsub")
def websocket_pubsub(t, v):
    if not t.run.ws_port:
        raise Skip("needs --ws-port")
    topic = t.topic("ws")
    ws = t.client(v, transport="websockets")
    ws.c.ws_set_options(path=getattr(t.run, "ws_path", "/mqtt"))
    ws.connect()
    ws.subscribe(topic, 2)
    tcp = t.connected(v)
    tcp.subscribe(topic, 1)
    big = bytes(range(256)) * 512  # 128 KiB: several WebSocket frames' worth
    tcp.publish(topic, b"tcp->ws", 1)
    ws.publish(topic, big, 2)
    got_ws = ws.expect(2, 5)
    check([m.payload for m in got_ws] == [b"tcp->ws", big], "WebSocket client payloads")
    got_tcp = tcp.expect(2, 5)
    check(got_tcp[1].payload == big, "TCP client got the WebSocket client's payload changed")
    ws.disconnect()


_ = V311
