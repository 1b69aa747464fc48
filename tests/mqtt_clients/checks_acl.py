"""Authentication and authorisation, driven by the --users-file (format in README.md)."""

from lib import V5, Skip, check, connect_packet, register

# What the specs allow a broker to answer to bad credentials: 3.1.1 return code 4 (bad user
# name or password) or 5 (not authorised); 5.0 reason 0x86 (bad user name or password) or 0x87
# (not authorised).
REFUSED = {4: (4, 5), 5: (0x86, 0x87)}


def _users(t):
    u = t.run.users
    if not u:
        raise Skip("needs --users-file")
    return u


def _pw(u, name):
    return next(x["password"] for x in u["users"] if x["username"] == name)


def _topic(t, s):
    return s.replace("{run}", t.run.token)


def _concrete(filt):
    """A topic name matched by the filter."""
    return "/".join("x" if level in ("+", "#") else level for level in filt.split("/"))


def _as(t, v, name, u):
    c = t.client(v, creds=(name, _pw(u, name)))
    c.connect()
    return c


def _refused(t, v, creds, what):
    """The exact CONNACK code on a raw socket, then the same through paho."""
    level = 5 if v == V5 else 4
    r = t.raw()
    kw = {"username": creds[0], "password": creds[1]} if creds else {}
    r.send(connect_packet(level, t.cid("auth"), **kw))
    seen = r.wait_closed(5)
    connacks = [body for ptype, _, body in seen if ptype == 2]
    if connacks:
        code = connacks[0][1]
        check(code in REFUSED[level], f"{what}: CONNACK {code:#x}, expected one of "
                                      f"{[hex(x) for x in REFUSED[level]]}")
        t.note(f"{what}: CONNACK {code:#x}")
    else:
        t.note(f"{what}: closed without CONNACK")
    c = t.client(v, creds=creds)
    conn = c.connect(expect_ok=False)
    check(conn is None or conn.rc != 0, f"{what}: paho was let in")


@register("auth_good_password")
def auth_good(t, v):
    u = _users(t)
    for user in u["users"]:
        c = _as(t, v, user["username"], u)
        c.disconnect()


@register("auth_bad_password")
def auth_bad(t, v):
    u = _users(t)
    name = u["users"][0]["username"]
    _refused(t, v, (name, _pw(u, name) + "-wrong"), f"{name} with a wrong password")
    _refused(t, v, (f"nobody-{t.run.token}", "pw"), "an unknown user")


@register("auth_anonymous")
def auth_anonymous(t, v):
    u = _users(t)
    if "anonymous" not in u:
        raise Skip("the users file does not say whether anonymous clients are allowed")
    if u["anonymous"]:
        c = t.client(v, creds=None)
        c.connect()
        c.disconnect()
    else:
        _refused(t, v, None, "anonymous")


def _denied_subs(t):
    u = _users(t)
    if not u.get("denied_subscribe"):
        raise Skip("no denied_subscribe in the users file")
    return u, [(name, _topic(t, filt)) for name, filt in u["denied_subscribe"]]


@register("acl_subscribe_denied")
def acl_subscribe_denied(t, v):
    """A denied subscription gets a failure in its SUBACK: 0x80 (3.1.1), >= 0x80 (5.0, 0x87
    Not authorized expected)."""
    u, denied = _denied_subs(t)
    if t.run.peer == "mosquitto":
        raise Skip("Mosquitto 2.0.11's acl_file grants every SUBSCRIBE and filters deliveries")
    for name, filt in denied:
        c = _as(t, v, name, u)
        codes = c.subscribe(filt, 1, expect_ok=False)
        if v == V5:
            check(codes[0] >= 0x80, f"{name} subscribing to {filt}: SUBACK {codes}")
            if codes[0] != 0x87:
                t.note(f"denied subscribe: SUBACK {codes[0]:#x} (not 0x87)")
        else:
            check(codes == [0x80], f"{name} subscribing to {filt}: SUBACK {codes}")
        c.disconnect()


@register("acl_subscribe_denied_delivery")
def acl_subscribe_denied_delivery(t, v):
    """Nothing published on a denied filter reaches the user who asked for it."""
    u, denied = _denied_subs(t)
    if not t.run.creds:
        raise Skip("needs a suite_user in the users file (to publish there)")
    pub = t.connected(v)
    for name, filt in denied:
        c = _as(t, v, name, u)
        codes = c.subscribe(filt, 1, expect_ok=False)
        t.note(f"{name} subscribing to {filt}: SUBACK {codes}")
        pub.publish(_concrete(filt), b"must-not-arrive", 1)
        c.expect_none(0.7)
        c.disconnect()


@register("acl_publish_denied")
def acl_publish_denied(t, v):
    u = _users(t)
    if not u.get("denied_publish") or not u.get("observer"):
        raise Skip("needs denied_publish and an observer in the users file")
    obs = _as(t, v, u["observer"], u)
    for name, topic in u["denied_publish"]:
        topic = _topic(t, topic)
        obs.subscribe(topic, 1)
        c = _as(t, v, name, u)
        rc = c.publish(topic, b"denied-q1", 1)
        if v == V5:
            check(rc == "closed" or rc >= 0x80, f"{name} publishing to {topic}: PUBACK {rc}")
            if rc != 0x87:
                t.note(f"denied publish: {rc} (not PUBACK 0x87)")
        else:
            t.note(f"denied publish, 3.1.1: {'closed' if rc == 'closed' else 'PUBACK'}")
        if rc != "closed":
            c.publish(topic, b"denied-q0", 0)
        obs.expect_none(1.0)
        c.close()


@register("acl_allowed")
def acl_allowed(t, v):
    u = _users(t)
    if not u.get("allowed_publish") and not u.get("allowed_subscribe"):
        raise Skip("no allowed_publish or allowed_subscribe in the users file")
    obs = _as(t, v, u["observer"], u) if u.get("observer") else None
    for name, topic in u.get("allowed_publish", []):
        topic = _topic(t, topic)
        c = _as(t, v, name, u)
        if obs:
            obs.subscribe(topic, 1)
        rc = c.publish(topic, b"allowed", 1)
        check(rc in (0, 0x10), f"{name} publishing to {topic}: {rc}")
        if obs:
            m = obs.get(5)
            check(m.payload == b"allowed", f"observer got {m}")
        c.disconnect()
    for name, filt in u.get("allowed_subscribe", []):
        filt = _topic(t, filt)
        c = _as(t, v, name, u)
        codes = c.subscribe(filt, 1)
        check(codes == [1], f"{name} subscribing to {filt}: SUBACK {codes}")
        if t.run.creds:
            pub = t.connected(v)
            pub.publish(_concrete(filt), b"for-you", 1)
            check(c.get(5).payload == b"for-you", f"{name} did not get a message on {filt}")
        c.disconnect()
