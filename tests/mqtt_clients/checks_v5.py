"""MQTT 5 features: retain handling and retain-as-published, subscription identifiers, no-local,
message expiry, topic aliases, request/response and user properties."""

import time

from lib import V5, Skip, check, make_props, register
from paho.mqtt.packettypes import PacketTypes

V5_ONLY = (V5,)


def _pp(**kw):
    return make_props(PacketTypes.PUBLISH, **kw)


@register("retain_handling", versions=V5_ONLY)
def retain_handling(t, v):
    topic = t.topic("r")
    pub = t.connected(v)
    pub.publish(topic, b"kept", 1, retain=True)
    t.defer(lambda: pub.publish(topic, b"", 1, retain=True))
    # 0: on every subscribe
    c0 = t.connected(v)
    c0.subscribe(topic, 1, rh=0)
    check(c0.get(5).retain, "retain handling 0: the first subscribe got no retained message")
    c0.subscribe(topic, 1, rh=0)
    m = c0.get(5)
    check(m.payload == b"kept" and m.retain, "retain handling 0: re-subscribe got none")
    # 1: only if the subscription is new
    c1 = t.connected(v)
    c1.subscribe(topic, 1, rh=1)
    m = c1.get(5)
    check(m.payload == b"kept" and m.retain, "retain handling 1: new subscription got none")
    c1.subscribe(topic, 1, rh=1)
    c1.expect_none(0.7)
    # 2: never
    c2 = t.connected(v)
    c2.subscribe(topic, 1, rh=2)
    c2.expect_none(0.7)
    pub.publish(topic, b"live", 1)
    m = c2.get(5)
    check(m.payload == b"live", f"retain handling 2: live message {m}")
    pub.publish(topic, b"", 1, retain=True)


@register("retain_as_published", versions=V5_ONLY)
def retain_as_published(t, v):
    topic = t.topic("rap")
    keep = t.connected(v)
    keep.subscribe(topic, 1, rap=True)
    clear = t.connected(v)
    clear.subscribe(topic, 1, rap=False)
    pub = t.connected(v)
    pub.publish(topic, b"r", 1, retain=True)
    t.defer(lambda: pub.publish(topic, b"", 1, retain=True))
    m = keep.get(5)
    check(m.retain, "retain-as-published 1: live delivery lost the retain flag")
    m = clear.get(5)
    check(not m.retain, "retain-as-published 0: live delivery kept the retain flag")
    pub.publish(topic, b"n", 1, retain=False)
    m = keep.get(5)
    check(not m.retain, "retain-as-published 1: a non-retained publish arrived retained")
    clear.get(5)
    pub.publish(topic, b"", 1, retain=True)


@register("subscription_identifiers", versions=V5_ONLY)
def subscription_identifiers(t, v):
    c = t.client(v)
    conn = c.connect()
    if conn.props.get("SubscriptionIdentifierAvailable", 1) == 0:
        raise Skip("the broker says Subscription Identifiers are not available")
    base = t.topic("s")
    other = t.topic("other")
    c.subscribe(f"{base}/#", 1, sub_id=1)
    c.subscribe(f"{base}/a", 1, sub_id=2)
    c.subscribe(other, 1)
    pub = t.connected(v)

    def ids_for(topic):
        pub.publish(topic, b"x", 1)
        got = [c.get(5)] + c.drain(0.5)
        per_copy = [sorted(m.props.get("SubscriptionIdentifier", [])) for m in got]
        return per_copy

    per = ids_for(f"{base}/a")
    union = sorted({i for ids in per for i in ids})
    check(union == [1, 2] and all(per),
          f"overlapping subscriptions 1 and 2: copies carry {per}")
    per = ids_for(f"{base}/b")
    check(per == [[1]], f"subscription 1 only: copies carry {per}")
    per = ids_for(other)
    check(per == [[]], f"a subscription without identifier: copies carry {per}")
    # re-subscribing replaces the identifier
    c.subscribe(f"{base}/a", 1, sub_id=77)
    per = ids_for(f"{base}/a")
    union = sorted({i for ids in per for i in ids})
    check(union == [1, 77], f"after re-subscribing with 77: copies carry {per}")
    c.disconnect()
    pub.disconnect()


@register("no_local", versions=V5_ONLY)
def no_local(t, v):
    topic = t.topic("nl")
    me = t.connected(v)
    me.subscribe(topic, 1, no_local=True)
    other = t.connected(v)
    other.subscribe(topic, 1)
    me.publish(topic, b"mine", 1)
    check(other.get(5).payload == b"mine", "the other subscriber missed it")
    me.expect_none(0.7)
    other.publish(topic, b"theirs", 1)
    check(me.get(5).payload == b"theirs", "no-local subscriber missed another client's message")
    # without no-local, a client gets its own messages
    topic2 = t.topic("local")
    me.subscribe(topic2, 1)
    me.publish(topic2, b"echo", 1)
    check(me.get(5).payload == b"echo", "own message not echoed without no-local")
    me.disconnect()


@register("message_expiry", versions=V5_ONLY)
def message_expiry(t, v):
    """An expired message is not delivered to an offline session; a live one carries the
    remaining interval."""
    cid = t.cid("mexp")
    topic = t.topic("e")
    c = t.client(v, client_id=cid, clean=True, session_expiry=60)
    c.connect()
    c.subscribe(topic, 1)
    c.disconnect()
    t.defer(lambda: _end(t, v, cid))
    pub = t.connected(v)
    pub.publish(topic, b"short", 1, props=_pp(MessageExpiryInterval=1))
    pub.publish(topic, b"long", 1, props=_pp(MessageExpiryInterval=60))
    time.sleep(3)
    c2 = t.client(v, client_id=cid, clean=False, session_expiry=60)
    conn = c2.connect()
    check(conn.session_present, f"session not present: {conn}")
    m = c2.get(5)
    check(m.payload == b"long", f"expected only 'long', got {m}")
    rem = m.props.get("MessageExpiryInterval")
    check(rem is not None and 1 <= rem <= 58,
          f"Message Expiry Interval forwarded as {rem}, expected the remaining (<= 58 of 60)")
    c2.expect_none(0.5)
    # live delivery keeps the property
    pub.publish(topic, b"live", 1, props=_pp(MessageExpiryInterval=30))
    m = c2.get(5)
    check(0 < m.props.get("MessageExpiryInterval", 0) <= 30, f"live: {m.props}")
    t.note(f"remaining interval after 3 s of 60: {rem}")
    c2.disconnect()


def _end(t, v, cid):
    c = t.client(v, client_id=cid, clean=True, session_expiry=0)
    c.connect()
    c.disconnect()


@register("message_expiry_retained", versions=V5_ONLY)
def message_expiry_retained(t, v):
    topic = t.topic("re")
    pub = t.connected(v)
    pub.publish(topic, b"soon-gone", 1, retain=True, props=_pp(MessageExpiryInterval=1))
    t.defer(lambda: pub.publish(topic, b"", 1, retain=True))
    time.sleep(2.5)
    s = t.connected(v)
    s.subscribe(topic, 1)
    s.expect_none(0.7)


@register("topic_alias", versions=V5_ONLY)
def topic_alias(t, v):
    pub = t.client(v)
    conn = pub.connect()
    amax = conn.props.get("TopicAliasMaximum", 0)
    if amax < 1:
        raise Skip("the broker accepts no topic aliases (Topic Alias Maximum 0)")
    t1, t2 = t.topic("alias1"), t.topic("alias2")
    sub = t.connected(v)
    sub.subscribe(t.topic("#"), 1)
    pub.publish(t1, b"set", 1, props=_pp(TopicAlias=1))
    pub.publish("", b"use", 1, props=_pp(TopicAlias=1))
    pub.publish(t2, b"remap", 1, props=_pp(TopicAlias=1))
    pub.publish("", b"use2", 1, props=_pp(TopicAlias=1))
    if amax >= 2:
        pub.publish(t1, b"second", 1, props=_pp(TopicAlias=amax))
        pub.publish("", b"use3", 1, props=_pp(TopicAlias=amax))
    got = sub.expect(6 if amax >= 2 else 4, 5)
    seen = [(m.topic, m.payload) for m in got]
    want = [(t1, b"set"), (t1, b"use"), (t2, b"remap"), (t2, b"use2")]
    if amax >= 2:
        want += [(t1, b"second"), (t1, b"use3")]
    check(seen == want, f"got {seen}")
    pub.disconnect()
    # an alias above the maximum is a protocol error: DISCONNECT 0x94 (or a plain close)
    bad = t.connected(v)
    bad.publish(t1, b"bad", 1, props=_pp(TopicAlias=amax + 1), wait=False)
    rc, from_server = bad.wait_closed(5)
    if from_server:
        check(rc == 0x94, f"alias above the maximum: DISCONNECT {rc:#x}, expected 0x94")
    sub.expect_none(0.3)
    t.note(f"Topic Alias Maximum {amax}")


@register("request_response", versions=V5_ONLY)
def request_response(t, v):
    req_topic, resp_topic = t.topic("req"), t.topic("resp")
    corr = bytes(range(256))
    server = t.connected(v)
    server.subscribe(req_topic, 1)
    requester = t.client(v, connect_props=make_props(PacketTypes.CONNECT,
                                                     RequestResponseInformation=1))
    conn = requester.connect()
    if "ResponseInformation" in conn.props:
        t.note(f"Response Information {conn.props['ResponseInformation']!r}")
    requester.subscribe(resp_topic, 1)
    requester.publish(req_topic, b"question", 1,
                      props=_pp(ResponseTopic=resp_topic, CorrelationData=corr))
    m = server.get(5)
    check(m.props.get("ResponseTopic") == resp_topic, f"Response Topic: {m.props}")
    check(m.props.get("CorrelationData") == corr, "Correlation Data changed on the way")
    server.publish(m.props["ResponseTopic"], b"answer", 1,
                   props=_pp(CorrelationData=m.props["CorrelationData"]))
    r = requester.get(5)
    check(r.payload == b"answer" and r.props.get("CorrelationData") == corr, f"response {r}")


@register("user_properties", versions=V5_ONLY)
def user_properties(t, v):
    topic = t.topic("up")
    sub = t.connected(v)
    sub.subscribe(topic, 1)
    pub = t.connected(v)
    ups = [("a", "1"), ("a", "2"), ("b", "ü-ünïcode"), ("", ""), ("a", "1")]
    pub.publish(topic, "héllo".encode(), 1,
                props=_pp(UserProperty=ups, ContentType="text/plain; charset=utf-8",
                          PayloadFormatIndicator=1))
    m = sub.get(5)
    check(m.props.get("UserProperty") == ups,
          f"user properties {m.props.get('UserProperty')}, expected {ups} in order")
    check(m.props.get("ContentType") == "text/plain; charset=utf-8", f"content type {m.props}")
    check(m.props.get("PayloadFormatIndicator") == 1, f"payload format {m.props}")
    # QoS 0 too
    pub.publish(topic, b"q0", 0, props=_pp(UserProperty=[("x", "y")]))
    m = sub.get(5)
    check(m.props.get("UserProperty") == [("x", "y")], f"QoS 0 user properties {m.props}")
