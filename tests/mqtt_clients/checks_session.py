"""Will messages, persistent sessions, session takeover, client identifiers, keep-alive."""

import time

from lib import (V5, V311, MosquittoSub, Skip, check, make_props, mosquitto_pub, parse_props,
                 register, PINGREQ, Closed, CheckFailed, connect_packet)
from paho.mqtt.packettypes import PacketTypes


def _will(t, name="will", payload=b"gone", qos=1, retain=False, props=None):
    return {"topic": t.topic(name), "payload": payload, "qos": qos, "retain": retain,
            "props": props}


# --- will messages ---------------------------------------------------------------------------

@register("will_on_socket_close")
def will_on_socket_close(t, v):
    will = _will(t, retain=True)
    watcher = t.connected(v)
    watcher.subscribe(will["topic"], 1)
    c = t.client(v, will=will)
    c.connect()
    watcher.expect_none(0.3)
    c.kill()
    m = watcher.get(5)
    check(m.payload == b"gone" and m.topic == will["topic"], f"will: {m}")
    check(m.qos == 1, f"will delivered at QoS {m.qos}")
    # a retained will is retained
    late = t.connected(v)
    late.subscribe(will["topic"], 1)
    m = late.get(5)
    check(m.payload == b"gone" and m.retain, f"retained will: {m}")
    watcher.publish(will["topic"], b"", 1, retain=True)


@register("will_not_on_disconnect")
def will_not_on_disconnect(t, v):
    will = _will(t)
    watcher = t.connected(v)
    watcher.subscribe(will["topic"], 1)
    c = t.client(v, will=will)
    c.connect()
    c.disconnect()
    watcher.expect_none(1.5)


@register("will_sigkill_cli")
def will_sigkill_cli(t, v):
    """mosquitto_sub with a will, killed with SIGKILL: the will is published."""
    topic = t.topic("w")
    watcher = t.connected(v)
    watcher.subscribe(topic, 1)
    sub = MosquittoSub(t, v, t.topic("other"), qos=1, wait_s=None,
                       extra=["--will-topic", topic, "--will-payload", "killed",
                              "--will-qos", "1"])
    sub.wait_subscribed()
    watcher.expect_none(0.3)
    sub.kill()
    m = watcher.get(5)
    check(m.payload == b"killed", f"will: {m}")


@register("will_delay", versions=(V5,))
def will_delay(t, v):
    """Will Delay Interval 3 s: not sent before (a second's rounding allowed), sent after."""
    will = _will(t, props=make_props(PacketTypes.WILLMESSAGE, WillDelayInterval=3))
    watcher = t.connected(v)
    watcher.subscribe(will["topic"], 1)
    c = t.client(v, will=will, clean=True, session_expiry=30)
    c.connect()
    start = time.monotonic()
    c.kill()
    watcher.expect_none(max(0.1, 2.0 - (time.monotonic() - start)))
    m = watcher.get(6)
    took = time.monotonic() - start
    check(m.payload == b"gone", f"will: {m}")
    check(took >= 2.0, f"will came after {took:.2f} s, the delay is 3 s")
    t.note(f"will after {took:.2f} s")
    # end the session
    c2 = t.client(v, client_id=c.client_id, clean=True, session_expiry=0)
    c2.connect()
    c2.disconnect()


@register("will_delay_reconnect", versions=(V5,))
def will_delay_reconnect(t, v):
    """Reconnecting to the session within the will delay: the will is not sent."""
    will = _will(t, props=make_props(PacketTypes.WILLMESSAGE, WillDelayInterval=3))
    watcher = t.connected(v)
    watcher.subscribe(will["topic"], 1)
    c = t.client(v, will=will, clean=True, session_expiry=30)
    c.connect()
    c.kill()
    time.sleep(0.5)
    back = t.client(v, client_id=c.client_id, clean=False, session_expiry=30)
    conn = back.connect()
    check(conn.session_present, f"reconnect: {conn}, the session should be present")
    watcher.expect_none(4.0)
    back.disconnect()
    end = t.client(v, client_id=c.client_id, clean=True, session_expiry=0)
    end.connect()
    end.disconnect()
    watcher.expect_none(0.3)


@register("will_session_end", versions=(V5,))
def will_session_end(t, v):
    """The will is sent when the session ends, if that is before the will delay."""
    will = _will(t, props=make_props(PacketTypes.WILLMESSAGE, WillDelayInterval=30))
    watcher = t.connected(v)
    watcher.subscribe(will["topic"], 1)
    c = t.client(v, will=will, clean=True, session_expiry=1)
    c.connect()
    start = time.monotonic()
    c.kill()
    m = watcher.get(6)
    took = time.monotonic() - start
    check(m.payload == b"gone", f"will: {m}")
    t.note(f"will after {took:.2f} s (session expiry 1 s, will delay 30 s)")


@register("will_disconnect_with_will", versions=(V5,))
def will_disconnect_0x04(t, v):
    """DISCONNECT with reason 0x04 publishes the will, with its properties."""
    wp = make_props(PacketTypes.WILLMESSAGE, ContentType="text/plain",
                    UserProperty=[("k", "v")], ResponseTopic=t.topic("resp"))
    will = _will(t, payload=b"bye-with-will", props=wp)
    watcher = t.connected(v)
    watcher.subscribe(will["topic"], 1)
    c = t.client(v, will=will)
    c.connect()
    c.disconnect(reason=0x04)
    m = watcher.get(5)
    check(m.payload == b"bye-with-will", f"will: {m}")
    check(m.props.get("ContentType") == "text/plain", f"will properties: {m.props}")
    check(("k", "v") in m.props.get("UserProperty", []), f"will user property: {m.props}")
    check(m.props.get("ResponseTopic") == t.topic("resp"), f"will response topic: {m.props}")


# --- persistent sessions ---------------------------------------------------------------------

def _end_session(t, v, cid):
    c = t.client(v, client_id=cid, clean=True, session_expiry=0 if v == V5 else None)
    c.connect()
    c.disconnect()


@register("persistent_session")
def persistent_session(t, v):
    cid = t.cid("persist")
    t.defer(lambda: _end_session(t, v, cid))
    exp = 60 if v == V5 else None
    a, b = t.topic("q1"), t.topic("q2")
    c = t.client(v, client_id=cid, clean=False, session_expiry=exp)
    c.connect()
    c.subscribe(a, 1)
    c.subscribe(b, 2)
    c.disconnect()
    pub = t.connected(v)
    for i in range(5):
        pub.publish(a, f"a{i}".encode(), 1)
    for i in range(2):
        pub.publish(b, f"b{i}".encode(), 2)
    c2 = t.client(v, client_id=cid, clean=False, session_expiry=exp)
    conn = c2.connect()
    check(conn.session_present, f"reconnect: session present not set: {conn}")
    got = c2.expect(7, 5)
    pa = [m.payload for m in got if m.topic == a]
    pb = [m.payload for m in got if m.topic == b]
    check(pa == [f"a{i}".encode() for i in range(5)], f"QoS 1 queued: {pa}")
    check(pb == [b"b0", b"b1"], f"QoS 2 queued: {pb}")
    check(all(m.qos == 1 for m in got if m.topic == a), "QoS of queued QoS 1 messages")
    check(all(m.qos == 2 for m in got if m.topic == b), "QoS of queued QoS 2 messages")
    c2.expect_none(0.3)
    # the subscription lives on while connected
    pub.publish(a, b"live", 1)
    check(c2.get(5).payload == b"live", "live message on the resumed session")
    c2.disconnect()
    # a clean start drops the session: no session present, no subscription
    c3 = t.client(v, client_id=cid, clean=True, session_expiry=exp)
    conn = c3.connect()
    check(not conn.session_present, f"clean start: session present set: {conn}")
    pub.publish(a, b"after-clean", 1)
    c3.expect_none(0.7)
    c3.disconnect()
    pub.disconnect()


@register("persistent_session_cli")
def persistent_session_cli(t, v):
    """mosquitto_sub -c (no clean session): killed, messages published meanwhile, restarted."""
    cid = t.cid("clisess")
    t.defer(lambda: _end_session(t, v, cid))
    topic = t.topic("s")
    extra = ["-c"] + (["-x", "60"] if v == V5 else [])
    sub = MosquittoSub(t, v, topic, qos=1, wait_s=None, extra=extra, client_id=cid)
    sub.wait_subscribed()
    sub.kill()
    time.sleep(0.2)
    for i in range(3):
        mosquitto_pub(t, v, topic, payload=f"q{i}", qos=1)
    sub2 = MosquittoSub(t, v, topic, qos=1, count=3, wait_s=10, extra=extra, client_id=cid)
    got = sub2.expect(3, 6)
    check([m.payload for m in got] == [b"q0", b"q1", b"q2"], f"got {got}")
    check(sub2.wait_exit(5) == 0, "mosquitto_sub exit code")


@register("session_expiry_zero", versions=(V5,))
def session_expiry_zero(t, v):
    """clean_start=0 with no session expiry: the session ends with the connection."""
    cid = t.cid("exp0")
    c = t.client(v, client_id=cid, clean=False, session_expiry=0)
    c.connect()
    c.subscribe(t.topic("x"), 1)
    c.disconnect()
    c2 = t.client(v, client_id=cid, clean=False, session_expiry=0)
    conn = c2.connect()
    check(not conn.session_present, f"session present after expiry 0: {conn}")
    c2.disconnect()


@register("session_expiry_elapsed", versions=(V5,))
def session_expiry_elapsed(t, v):
    """A session with expiry 1 s is gone 2.5 s after the disconnect."""
    cid = t.cid("exp1")
    c = t.client(v, client_id=cid, clean=False, session_expiry=1)
    c.connect()
    c.subscribe(t.topic("x"), 1)
    c.disconnect()
    time.sleep(2.5)
    c2 = t.client(v, client_id=cid, clean=False, session_expiry=0)
    conn = c2.connect()
    check(not conn.session_present, f"session present 2.5 s after a 1 s expiry: {conn}")
    c2.disconnect()


@register("session_takeover")
def session_takeover(t, v):
    """A second connection with the same client id closes the first and takes its session."""
    cid = t.cid("take")
    t.defer(lambda: _end_session(t, v, cid))
    exp = 60 if v == V5 else None
    topic = t.topic("t")
    first = t.client(v, client_id=cid, clean=False, session_expiry=exp)
    first.connect()
    first.subscribe(topic, 1)
    second = t.client(v, client_id=cid, clean=False, session_expiry=exp)
    conn = second.connect()
    check(conn.session_present, f"the taken-over session is not present: {conn}")
    rc, from_server = first.wait_closed(5)
    t.note(f"first connection closed: rc {rc}, DISCONNECT packet: {from_server}")
    pub = t.connected(v)
    pub.publish(topic, b"to-second", 1)
    m = second.get(5)
    check(m.payload == b"to-second", f"second connection got {m}")
    first.expect_none(0.2)
    second.disconnect()
    pub.disconnect()


@register("session_takeover_reason", versions=(V5,))
def session_takeover_reason(t, v):
    """MQTT 5: the first connection gets DISCONNECT with reason 0x8E (Session taken over)."""
    if t.run.peer == "mosquitto":
        raise Skip("Mosquitto 2.0.11 closes the old connection without a DISCONNECT")
    cid = t.cid("take")
    first = t.raw()
    sp, rc, _ = first.connect(5, cid, **_creds(t))
    check(rc == 0, f"CONNACK {rc:#x}")
    second = t.connected(v, client_id=cid)
    seen = first.wait_closed(5)
    disc = [body for ptype, _, body in seen if ptype == 14]
    check(disc, "the first connection was closed without a DISCONNECT")
    check(disc[0][:1] == b"\x8e", f"DISCONNECT reason {disc[0][:1].hex()}, expected 8e")
    second.disconnect()


# --- client identifiers ----------------------------------------------------------------------

@register("assigned_client_id", versions=(V5,))
def assigned_client_id(t, v):
    c = t.client(v, client_id="")
    conn = c.connect()
    aid = conn.props.get("AssignedClientIdentifier")
    check(aid, f"no Assigned Client Identifier in CONNACK: {conn}")
    topic = t.topic("a")
    c.subscribe(topic, 1)
    c.publish(topic, b"x", 1)
    check(c.get(5).payload == b"x", "round trip")
    c.disconnect()
    t.note(f"assigned {aid!r}")


@register("empty_client_id", versions=(V311,))
def empty_client_id(t, v):
    """3.1.1: an empty client id with clean session is accepted; without it, return code 2."""
    c = t.client(v, client_id="")
    conn = c.connect()
    check(conn.rc == 0, f"empty id, clean session: {conn}")
    topic = t.topic("a")
    c.subscribe(topic, 1)
    c.publish(topic, b"x", 1)
    check(c.get(5).payload == b"x", "round trip")
    c.disconnect()
    r = t.raw()
    r.send(connect_packet(4, "", clean=False, **_creds(t)))
    try:
        ptype, _, body = r.read(5)
    except Closed:
        t.note("empty id without clean session: closed without CONNACK")
        return
    check(ptype == 2 and body[1] == 0x02,
          f"empty id without clean session: expected CONNACK return code 2, got {body!r}")
    r.wait_closed(5)


def _creds(t):
    if t.run.creds:
        return {"username": t.run.creds[0], "password": t.run.creds[1]}
    return {}


# --- keep-alive -----------------------------------------------------------------------------

def _raw_connect(t, v, keepalive):
    r = t.raw()
    sp, rc, rest = r.connect(5 if v == V5 else 4, t.cid("ka"), keepalive=keepalive, **_creds(t))
    check(rc == 0, f"CONNACK {rc:#x}")
    server_ka = None
    if v == V5:
        p, _ = parse_props(rest)
        server_ka = p.get(0x13, [None])[0]
    return r, server_ka


def _silent(t, v, slack):
    """A raw client with keep-alive 2 s (or the broker's Server Keep Alive) that sends nothing:
    returns (keep-alive, seconds until the broker closed the connection)."""
    r, server_ka = _raw_connect(t, v, 2)
    ka = server_ka if server_ka is not None else 2
    if ka == 0 or ka > 8:
        raise Skip(f"Server Keep Alive {ka}: too long to wait for here")
    start = time.monotonic()
    limit = 1.5 * ka + slack
    try:
        r.wait_closed(limit)
    except CheckFailed:
        raise CheckFailed(f"still connected {limit:g} s into a {ka} s keep-alive")
    took = time.monotonic() - start
    check(took >= ka * 0.9, f"disconnected after {took:.2f} s, before the keep-alive ({ka} s)")
    t.note(f"keep-alive {ka} s: closed after {took:.2f} s")
    return ka, took


@register("keepalive_enforced")
def keepalive_enforced(t, v):
    """A client silent for longer than its keep-alive is disconnected, eventually (1.5 times
    the keep-alive, plus up to 8 s of the broker's timer granularity)."""
    _silent(t, v, 8.0)


@register("keepalive_timely")
def keepalive_timely(t, v):
    """... and within 1.5 times the keep-alive (plus 1 s), as the spec says."""
    if t.run.peer == "mosquitto":
        raise Skip("Mosquitto 2.0.11 checks keep-alives only every few seconds (up to ~6 s late)")
    _silent(t, v, 1.0)


@register("keepalive_pings")
def keepalive_pings(t, v):
    """PINGREQ every keep-alive period keeps the connection; each gets a PINGRESP."""
    r, server_ka = _raw_connect(t, v, 2)
    ka = server_ka if server_ka is not None else 2
    if ka == 0 or ka > 8:
        raise Skip(f"Server Keep Alive {ka}: too long to wait for here")
    for _ in range(4):
        time.sleep(ka * 0.75)
        r.send(PINGREQ)
        r.expect(13, 3)


@register("server_keepalive", versions=(V5,))
def server_keepalive(t, v):
    """If the broker answers with a Server Keep Alive, the client uses it, and the broker
    enforces it (checked when it is short enough to wait for)."""
    c = t.client(v, keepalive=65535)
    conn = c.connect()
    ka = conn.props.get("ServerKeepAlive")
    if ka is None:
        raise Skip("the broker sent no Server Keep Alive to a client asking for 65535 s")
    check(c.c._keepalive == ka, f"paho did not adopt the Server Keep Alive {ka}")
    topic = t.topic("k")
    c.subscribe(topic, 1)
    c.publish(topic, b"x", 1)
    check(c.get(5).payload == b"x", "round trip")
    c.disconnect()
    t.note(f"Server Keep Alive {ka} for a requested 65535")
    if 0 < ka <= 8:
        r, ka2 = _raw_connect(t, v, 65535)
        start = time.monotonic()
        r.wait_closed(1.5 * ka2 + 2.5)
        check(time.monotonic() - start >= ka2 * 0.9, "closed before the server keep-alive")
