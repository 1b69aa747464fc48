"""Publish/subscribe round trips, payload integrity, ordering, retained messages, wildcards."""

import os
import tempfile

from lib import V5, CheckFailed, MosquittoSub, check, mosquitto_pub, register


# --- round trips -----------------------------------------------------------------------------

def _roundtrip(t, v, qos):
    sub = t.connected(v)
    pub = t.connected(v)
    topic = t.topic("rt")
    codes = sub.subscribe(topic, qos)
    check(codes == [qos], f"SUBACK granted {codes}, asked QoS {qos}")
    payloads = [f"m{i}-q{qos}".encode() for i in range(5)]
    for p in payloads:
        rc = pub.publish(topic, p, qos)
        check(rc in (0, 0x10), f"publish acked with {rc}")
    got = sub.expect(len(payloads), 5)
    check([m.payload for m in got] == payloads, f"payloads/order: {got}")
    for m in got:
        check(m.topic == topic, f"topic {m.topic!r}")
        check(m.qos == qos, f"delivered at QoS {m.qos}, expected {qos}")
        check(not m.retain, "retain flag set on a live delivery")
    if qos == 2:
        sub.expect_none(0.5)  # exactly once
    pub.disconnect()
    sub.disconnect()


for _q in (0, 1, 2):
    register(f"pubsub_qos{_q}")(lambda t, v, q=_q: _roundtrip(t, v, q))


@register("qos_downgrade")
def qos_downgrade(t, v):
    """A QoS 2 publish reaches QoS 0 and QoS 1 subscriptions at their QoS."""
    topic = t.topic("dg")
    subs = {}
    for q in (0, 1, 2):
        subs[q] = t.connected(v)
        subs[q].subscribe(topic, q)
    pub = t.connected(v)
    pub.publish(topic, b"x", 2)
    for q, s in subs.items():
        m = s.get(5)
        check(m.qos == q, f"subscription at QoS {q} got QoS {m.qos}")
    pub.disconnect()


def _cli_roundtrip(t, v, qos):
    topic = t.topic("cli")
    sub = MosquittoSub(t, v, topic, qos=qos, count=3, wait_s=10)
    sub.wait_subscribed()
    for i in range(3):
        mosquitto_pub(t, v, topic, payload=f"cli-{i}", qos=qos)
    got = sub.expect(3, 5)
    check([m.payload for m in got] == [b"cli-0", b"cli-1", b"cli-2"], f"got {got}")
    check(all(m.qos == qos for m in got), f"QoS {[m.qos for m in got]}, expected {qos}")
    rc = sub.wait_exit(5)
    check(rc == 0, f"mosquitto_sub -C 3 exited {rc}")


for _q in (0, 1, 2):
    register(f"cli_pubsub_qos{_q}")(lambda t, v, q=_q: _cli_roundtrip(t, v, q))


@register("cli_interop")
def cli_interop(t, v):
    """mosquitto_pub to paho, and paho to mosquitto_sub, at QoS 2."""
    topic = t.topic("a")
    p = t.connected(v)
    p.subscribe(topic, 2)
    mosquitto_pub(t, v, topic, payload="from-cli", qos=2)
    m = p.get(5)
    check(m.payload == b"from-cli" and m.qos == 2, f"paho got {m}")
    topic2 = t.topic("b")
    sub = MosquittoSub(t, v, topic2, qos=2, count=1, wait_s=10)
    sub.wait_subscribed()
    check(p.publish(topic2, b"from-paho", 2) in (0, 0x10), "PUBCOMP reason")
    got = sub.expect(1, 5)
    check(got[0].payload == b"from-paho" and got[0].qos == 2, f"mosquitto_sub got {got}")
    check(sub.wait_exit(5) == 0, "mosquitto_sub exit code")
    p.disconnect()


# --- payloads --------------------------------------------------------------------------------

@register("payload_binary")
def payload_binary(t, v):
    """All 256 byte values, through paho and through mosquitto_pub -f / mosquitto_sub."""
    data = bytes(range(256)) * 4 + bytes(reversed(range(256)))
    topic = t.topic("bin")
    sub = t.connected(v)
    sub.subscribe(topic, 1)
    pub = t.connected(v)
    pub.publish(topic, data, 1)
    m = sub.get(5)
    check(m.payload == data, f"paho payload differs ({len(m.payload)} bytes)")
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(data)
    t.defer(lambda: os.unlink(f.name))
    mosquitto_pub(t, v, topic, file=f.name, qos=1)
    m = sub.get(5)
    check(m.payload == data, f"mosquitto_pub -f payload differs ({len(m.payload)} bytes)")
    cli = MosquittoSub(t, v, topic, qos=1, count=1, wait_s=10)
    cli.wait_subscribed()
    pub.publish(topic, data, 1)
    got = cli.expect(1, 5)
    check(got[0].payload == data, "mosquitto_sub payload differs")
    pub.disconnect()


@register("payload_empty")
def payload_empty(t, v):
    topic = t.topic("empty")
    sub = t.connected(v)
    sub.subscribe(topic, 1)
    pub = t.connected(v)
    pub.publish(topic, b"", 1)
    m = sub.get(5)
    check(m.payload == b"", f"got {m.payload!r}")
    mosquitto_pub(t, v, topic, payload=None, qos=1)
    m = sub.get(5)
    check(m.payload == b"", f"mosquitto_pub -n: got {m.payload!r}")
    pub.disconnect()


@register("payload_256k")
def payload_256k(t, v):
    data = os.urandom(256 * 1024)
    topic = t.topic("big")
    sub = t.connected(v)
    sub.subscribe(topic, 1)
    cli = MosquittoSub(t, v, topic, qos=1, count=1, wait_s=10)
    cli.wait_subscribed()
    pub = t.connected(v)
    pub.publish(topic, data, 1, timeout=10)
    m = sub.get(10)
    check(m.payload == data, f"paho got {len(m.payload)} bytes, not the 256 KiB sent")
    got = cli.expect(1, 10)
    check(got[0].payload == data and got[0].length == len(data), "mosquitto_sub payload differs")
    pub.disconnect()


@register("order_qos1_500")
def order_qos1_500(t, v):
    """500 QoS 1 messages from one publisher arrive complete and in order."""
    topic = t.topic("order")
    sub = t.connected(v)
    sub.subscribe(topic, 1)
    pub = t.connected(v)
    infos = [pub.publish(topic, str(i).encode(), 1, wait=False) for i in range(500)]
    got = sub.expect(500, 15)
    seq = [int(m.payload) for m in got]
    if seq != list(range(500)):
        bad = next(i for i, (a, b) in enumerate(zip(seq, range(500))) if a != b)
        raise CheckFailed(f"out of order: position {bad} holds message {seq[bad]}")
    check(all(m.qos == 1 for m in got), "a message not at QoS 1")
    for info in infos:
        info.wait_for_publish(5)
    sub.expect_none(0.3)
    pub.disconnect()


# --- retained --------------------------------------------------------------------------------

@register("retained")
def retained(t, v):
    topic = t.topic("ret")
    live = t.connected(v)
    live.subscribe(topic, 1)
    pub = t.connected(v)
    pub.publish(topic, b"v1", 1, retain=True)
    pub.publish(topic, b"v2", 1, retain=True)
    got = live.expect(2, 5)
    check([m.payload for m in got] == [b"v1", b"v2"], f"live subscriber got {got}")
    check(not any(m.retain for m in got),
          "a live subscriber got the retain flag set (must be 0 unless retain-as-published)")
    new = t.connected(v)
    new.subscribe(topic, 1)
    m = new.get(5)
    check(m.payload == b"v2" and m.retain, f"new subscriber got {m}, expected v2 retained")
    new.expect_none(0.5)
    # the command-line clients see it too
    cli = MosquittoSub(t, v, topic, qos=1, count=1, wait_s=10)
    got = cli.expect(1, 5)
    check(got[0].payload == b"v2" and got[0].retain, f"mosquitto_sub got {got}")
    # an empty retained payload clears it, and is delivered to live subscribers as usual
    mosquitto_pub(t, v, topic, payload=None, qos=1, retain=True)
    m = live.get(5)
    check(m.payload == b"", f"live subscriber got {m} for the empty retained publish")
    late = t.connected(v)
    late.subscribe(topic, 1)
    late.expect_none(1.0)
    pub.disconnect()


@register("retained_wildcard")
def retained_wildcard(t, v):
    """A wildcard subscription gets every matching retained message, and only those."""
    base = t.topic("rw")
    pub = t.connected(v)
    for name in ("a", "b", "c/d"):
        pub.publish(f"{base}/{name}", name.encode(), 1, retain=True)
    t.defer(lambda: [pub.publish(f"{base}/{n}", b"", 1, retain=True) for n in ("a", "b", "c/d")])
    s = t.connected(v)
    s.subscribe(f"{base}/+", 1)
    got = s.expect(2, 5)
    check(sorted(m.payload for m in got) == [b"a", b"b"] and all(m.retain for m in got),
          f"+ got {got}")
    s.expect_none(0.5)
    s2 = t.connected(v)
    s2.subscribe(f"{base}/#", 1)
    got = s2.expect(3, 5)
    check(sorted(m.payload for m in got) == [b"a", b"b", b"c/d"], f"# got {got}")
    for n in ("a", "b", "c/d"):
        pub.publish(f"{base}/{n}", b"", 1, retain=True)


# --- wildcards -------------------------------------------------------------------------------

@register("wildcards")
def wildcards(t, v):
    p = t.topic()
    token_rest = p.split("/", 1)[1]  # <token>/<check>
    filters = {
        "plus_mid": f"{p}/+/c",
        "hash": f"{p}/a/#",
        "plus_end": f"{p}/+",
        "plus_first": f"+/{token_rest}/a/#",
    }
    topics = ["a", "c", "a/c", "b/c", "a/b/c", "/c"]
    expected = {
        "plus_mid": {"a/c", "b/c", "/c"},
        "hash": {"a", "a/c", "a/b/c"},
        "plus_end": {"a", "c"},
        "plus_first": {"a", "a/c", "a/b/c"},
    }
    subs = {}
    for k, f in filters.items():
        subs[k] = t.connected(v)
        subs[k].subscribe(f, 1)
    pub = t.connected(v)
    for name in topics:
        pub.publish(f"{p}/{name}", name.encode(), 1)
    for k, s in subs.items():
        want = expected[k]
        got = s.expect(len(want), 5)
        got += s.drain(0.5)
        names = sorted(m.payload.decode() for m in got)
        check(names == sorted(want), f"{filters[k]} got {names}, expected {sorted(want)}")
    pub.disconnect()


@register("dollar_topics")
def dollar_topics(t, v):
    """Topics starting with $ are not matched by filters starting with # or +."""
    dtopic = f"$keeltest/{t.run.token}/{t.name}/x"
    all_ = t.connected(v)
    all_.subscribe("#", 0)
    plus = t.connected(v)
    plus.subscribe(f"+/{t.run.token}/{t.name}/x", 0)
    exact = t.connected(v)
    exact.subscribe(f"$keeltest/{t.run.token}/#", 1, expect_ok=False)
    pub = t.connected(v)
    rc = pub.publish(dtopic, b"dollar", 1)
    # a normal message, to know that # does match the rest
    normal = t.topic("n")
    pub.publish(normal, b"normal", 1)
    seen = []
    for _ in range(200):
        m = all_.get(5)
        seen.append(m)
        check(not m.topic.startswith("$"), f"# matched {m.topic}")
        if m.topic == normal:
            break
    seen = all_.drain(0.5)
    check(not [m for m in seen if m.topic.startswith("$")], f"# matched {seen}")
    plus.expect_none(0.3)
    got = exact.drain(1.0)
    if got:
        check(got[0].topic == dtopic and got[0].payload == b"dollar", f"$ filter got {got}")
    else:
        t.note(f"the broker did not deliver a client's publish to {dtopic} (PUBACK {rc})")
    pub.disconnect()


@register("unsubscribe")
def unsubscribe(t, v):
    topic = t.topic("u")
    s = t.connected(v)
    s.subscribe(topic, 1)
    pub = t.connected(v)
    pub.publish(topic, b"1", 1)
    check(s.get(5).payload == b"1", "first message")
    codes = s.unsubscribe(topic)
    if v == V5:
        check(codes == [0], f"UNSUBACK reason codes {codes}")
    pub.publish(topic, b"2", 1)
    s.expect_none(0.7)
    pub.disconnect()


@register("overlapping_subscriptions")
def overlapping(t, v):
    """Two matching subscriptions of one client: at most one copy per subscription, and at
    least one at the higher QoS (3.1.1: one copy at the maximum QoS is what most brokers do)."""
    base = t.topic("o")
    s = t.connected(v)
    s.subscribe([(f"{base}/#", 0), (f"{base}/+", 1)], 0)
    pub = t.connected(v)
    pub.publish(f"{base}/x", b"o", 1)
    got = [s.get(5)] + s.drain(0.5)
    check(1 <= len(got) <= 2, f"got {len(got)} copies")
    check(max(m.qos for m in got) == 1, f"no copy at QoS 1: {got}")
    pub.disconnect()
