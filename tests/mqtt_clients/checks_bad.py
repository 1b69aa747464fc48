"""Bad input on raw sockets. After each, a fresh client must still connect and round-trip a QoS 1
message within 5 s: the broker is unaffected."""

import socket
import threading
import time

from lib import (V5, V311, DISCONNECT, PTYPES, CheckFailed, Closed, check, connect_packet, mstr,
                 packet, publish_packet, register, subscribe_packet, u16)

LEVEL = {V311: 4, V5: 5}


def _creds(t):
    if t.run.creds:
        return {"username": t.run.creds[0], "password": t.run.creds[1]}
    return {}


def _open(t, v):
    r = t.raw()
    sp, rc, _ = r.connect(LEVEL[v], t.cid("raw"), **_creds(t))
    check(rc == 0, f"CONNACK {rc:#x}")
    return r


def _expect_dropped(t, r, what, v=None, reasons=None, timeout=5.0):
    """The broker closes the connection (after a DISCONNECT, for MQTT 5, if it sends one)."""
    try:
        seen = r.wait_closed(timeout)
    except CheckFailed as e:
        raise CheckFailed(f"{what}: {e}")
    disc = [body for ptype, _, body in seen if ptype == 14]
    if disc and reasons is not None and disc[0]:
        check(disc[0][0] in reasons, f"{what}: DISCONNECT {disc[0][0]:#x}, expected one of "
                                     f"{[hex(x) for x in reasons]}")
    others = [PTYPES.get(p[0]) for p in seen if p[0] != 14]
    t.note(f"{what}: closed" + (f" after DISCONNECT {disc[0][:1].hex()}" if disc else "") +
           (f" (also saw {others})" if others else ""))


@register("bad_truncated_connect", versions=None)
def bad_truncated_connect(t):
    full = connect_packet(4, t.cid("trunc"))
    for cut in (1, 2, 7, len(full) - 1):
        r = t.raw()
        r.send(full[:cut])
        r.close()
    # and one that stays open, half-sent: the broker must not wait on it to serve others
    r = t.raw()
    r.send(full[:len(full) // 2])
    t.healthy()
    r.close()
    t.healthy()


@register("bad_protocol_level", versions=None)
def bad_protocol_level(t):
    """CONNECT with protocol level 9: CONNACK 0x01 (3.1.1) or 0x84 (5.0) and close, or close."""
    r = t.raw()
    r.send(connect_packet(9, t.cid("lvl9")))
    seen = r.wait_closed(5)
    connacks = [body for ptype, _, body in seen if ptype == 2]
    if connacks:
        check(len(connacks[0]) >= 2 and connacks[0][1] in (0x01, 0x84),
              f"CONNACK {connacks[0]!r}: expected return code 0x01 or reason 0x84")
        t.note(f"protocol level 9: CONNACK {connacks[0][1]:#x}, then closed")
    else:
        t.note("protocol level 9: closed without CONNACK")
    check(all(p[0] == 2 for p in seen), f"unexpected packets {[PTYPES.get(p[0]) for p in seen]}")
    t.healthy()


@register("bad_first_packet", versions=None)
def bad_first_packet(t):
    """A PUBLISH before CONNECT: the connection is closed."""
    r = t.raw()
    r.send(publish_packet(t.topic("x"), b"no-connect", 0))
    _expect_dropped(t, r, "PUBLISH before CONNECT")
    t.healthy()


@register("bad_second_connect")
def bad_second_connect(t, v):
    r = _open(t, v)
    r.send(connect_packet(LEVEL[v], t.cid("again"), **_creds(t)))
    _expect_dropped(t, r, "second CONNECT", v, reasons=(0x82,))
    t.healthy(v)


@register("bad_utf8_topic")
def bad_utf8_topic(t, v):
    """Ill-formed UTF-8 (and U+0000) in a PUBLISH topic: the connection is closed."""
    sub = t.connected(v)
    sub.subscribe(t.topic("#"), 0)
    prefix = t.topic().encode()
    for bad in (b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x00b"):
        r = _open(t, v)
        body = mstr(prefix + b"/" + bad)
        if v == V5:
            body += b"\x00"
        r.send(packet(3, 0, body + b"payload"))
        _expect_dropped(t, r, f"topic with {bad!r}", v, reasons=(0x80, 0x81, 0x82, 0x90))
    # and in a SUBSCRIBE topic filter
    r = _open(t, v)
    r.send(subscribe_packet(1, [(prefix + b"/\xff\xfe", 1)], LEVEL[v]))
    _expect_dropped(t, r, "filter with b'\\xff\\xfe'", v, reasons=(0x80, 0x81, 0x82, 0x8F))
    sub.expect_none(0.3)
    t.healthy(v)


@register("bad_publish_wildcard")
def bad_publish_wildcard(t, v):
    """A PUBLISH topic name with + or #: the connection is closed."""
    sub = t.connected(v)
    sub.subscribe(t.topic("#"), 0)
    for name in ("a/+", "a/#"):
        r = _open(t, v)
        r.send(publish_packet(t.topic(name), b"p", 0, version=LEVEL[v]))
        _expect_dropped(t, r, f"PUBLISH to {name}", v, reasons=(0x80, 0x81, 0x82, 0x90))
    sub.expect_none(0.3)
    t.healthy(v)


@register("bad_reserved_flags")
def bad_reserved_flags(t, v):
    """SUBSCRIBE with fixed-header flags 0 (they must be 0b0010): the connection is closed."""
    r = _open(t, v)
    pkt = bytearray(subscribe_packet(1, [(t.topic("x"), 1)], LEVEL[v]))
    pkt[0] = 0x80
    r.send(bytes(pkt))
    _expect_dropped(t, r, "SUBSCRIBE with flags 0", v, reasons=(0x81, 0x82))
    t.healthy(v)


@register("bad_oversize_packet")
def bad_oversize_packet(t, v):
    """A PUBLISH over the broker's maximum packet size: the connection is closed, the message is
    not delivered."""
    sub = t.connected(v)
    topic = t.topic("big")
    sub.subscribe(topic, 0)
    r = _open(t, v)
    size = t.run.max_packet + 4096
    pkt = publish_packet(topic, b"\x00" * size, 0, version=LEVEL[v])
    sent_all = True
    try:
        r.send(pkt)
    except OSError:
        sent_all = False
    _expect_dropped(t, r, f"{len(pkt)}-byte PUBLISH (sent whole: {sent_all})", v,
                    reasons=(0x95,))
    sub.expect_none(0.5)
    t.healthy(v)


@register("bad_subscribe_flood")
def bad_subscribe_flood(t, v):
    """1000 SUBSCRIBE packets in one burst: 1000 SUBACKs (or the broker drops the client)."""
    r = _open(t, v)
    burst = b"".join(subscribe_packet(i, [(t.topic(f"f/{i}"), 1)], LEVEL[v])
                     for i in range(1, 1001))
    r.send(burst)
    acked = set()
    end = time.monotonic() + 10
    closed = False
    while len(acked) < 1000 and time.monotonic() < end:
        try:
            ptype, _, body = r.read(end - time.monotonic())
        except Closed:
            closed = True
            break
        except TimeoutError:
            break
        if ptype == 9:
            pid = int.from_bytes(body[:2], "big")
            check(pid not in acked, f"SUBACK {pid} twice")
            acked.add(pid)
    check(len(acked) == 1000 or closed, f"{len(acked)} of 1000 SUBACKs in 10 s, still connected")
    t.note(f"subscribe flood: {len(acked)} SUBACKs" + (", then closed" if closed else ""))
    t.healthy(v)
    if not closed:
        r.send(DISCONNECT)


@register("slow_consumer")
def slow_consumer(t, v):
    """A subscriber that never reads, while another client publishes 20 MB to its topic."""
    topic = t.topic("busy")
    slow = t.raw()
    slow.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sp, rc, _ = slow.connect(LEVEL[v], t.cid("slow"), **_creds(t))
    check(rc == 0, f"CONNACK {rc:#x}")
    slow.send(subscribe_packet(1, [(topic, 1)], LEVEL[v]))
    slow.expect(9, 5)
    # never read again
    pub = _open(t, v)
    chunk = publish_packet(topic, b"\xab" * 65536, 0, version=LEVEL[v])
    n = (20 * 1024 * 1024) // 65536
    state = {"sent": 0, "error": None}

    def flood():
        try:
            pub.s.settimeout(15)
            for _ in range(n):
                pub.s.sendall(chunk)
                state["sent"] += 1
        except OSError as e:
            state["error"] = e

    th = threading.Thread(target=flood, daemon=True)
    start = time.monotonic()
    th.start()
    time.sleep(1.0)
    t.healthy(v)  # while the flood is on
    th.join(max(0.1, 15 - (time.monotonic() - start)))
    took = time.monotonic() - start
    t.note(f"publisher sent {state['sent'] * 65536 // 1024 // 1024} MiB in {took:.1f} s"
           + (f" ({state['error']})" if state["error"] else "") +
           (" (still sending)" if th.is_alive() else ""))
    t.healthy(v)  # after it
    pub.close()
    slow.close()
    t.healthy(v)


_ = (u16, V5)
