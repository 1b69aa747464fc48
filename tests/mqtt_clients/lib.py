"""Helpers for the MQTT real-client suite: the per-check context, a blocking wrapper around
paho-mqtt 2.x, the mosquitto_pub / mosquitto_sub command-line clients, and a raw-socket MQTT
client for malformed input and byte-exact checks.

Every wait here is bounded; every client id and topic carries the run's random token.
"""

import itertools
import os
import queue
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5
VNAME = {V311: "v311", V5: "v5"}
CLI_VERSION = {V311: "mqttv311", V5: "mqttv5"}


class CheckFailed(AssertionError):
    pass


class Skip(Exception):
    pass


def check(cond, why):
    if not cond:
        raise CheckFailed(why)


# ---------------------------------------------------------------------------------------------
# Per-run and per-check context


class Run:
    """What the command line said, shared by every check of one run."""

    def __init__(self, host, port, ws_port=None, cluster=None, peer=None, users=None,
                 max_packet=1 << 20, verbose=False, token=None):
        self.host = host
        self.port = port
        self.ws_port = ws_port
        self.cluster = cluster or []
        self.peer = peer
        self.users = users
        self.max_packet = max_packet
        self.verbose = verbose
        self.ws_path = "/mqtt"
        self.cluster_settle = 1.0
        self.token = token or os.urandom(4).hex()
        # Credentials every ordinary client uses (the users file's suite_user), or None.
        self.creds = None
        if users and users.get("suite_user"):
            name = users["suite_user"]
            pw = next(u["password"] for u in users["users"] if u["username"] == name)
            self.creds = (name, pw)


class T:
    """One check's context: unique names, the things to clean up, notes for -v."""

    _counter = itertools.count(1)

    def __init__(self, run, name):
        self.run = run
        self.name = name
        self.host = run.host
        self.port = run.port
        self.prefix = f"keeltest/{run.token}/{name}"
        self.cleanups = []
        self.notes = []
        self.deadline = None

    def topic(self, suffix=""):
        return f"{self.prefix}/{suffix}" if suffix else self.prefix

    def cid(self, what="c"):
        return f"kt-{self.run.token}-{self.name[:24]}-{what}-{next(T._counter)}"

    def note(self, text):
        self.notes.append(text)

    def defer(self, fn):
        self.cleanups.append(fn)
        return fn

    def cleanup(self):
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception:
                pass

    # Clients ---------------------------------------------------------------------------------

    def client(self, version, client_id=None, **kw):
        c = PahoClient(self, version, self.cid() if client_id is None else client_id, **kw)
        self.defer(c.close)
        return c

    def connected(self, version, client_id=None, **kw):
        """A paho client, connected (CONNACK success required)."""
        c = self.client(version, client_id, **kw)
        c.connect()
        return c

    def raw(self, port=None, timeout=5.0):
        r = Raw(self.host, port or self.port, timeout)
        self.defer(r.close)
        return r

    def healthy(self, version=V311, port=None, within=5.0):
        """The broker still takes a fresh client and round-trips a QoS 1 message within 5 s."""
        start = time.monotonic()
        c = self.client(version, port=port)
        c.connect(timeout=within)
        topic = self.topic(f"health/{next(T._counter)}")
        c.subscribe(topic, 1, timeout=within)
        c.publish(topic, b"alive", 1, timeout=within)
        m = c.get(timeout=max(0.1, within - (time.monotonic() - start)))
        check(m.payload == b"alive", f"health check: wrong payload {m.payload!r}")
        c.disconnect()
        took = time.monotonic() - start
        check(took <= within, f"health check took {took:.1f} s")


# ---------------------------------------------------------------------------------------------
# paho-mqtt, blocking


class Msg:
    __slots__ = ("topic", "payload", "qos", "retain", "props", "mid", "dup", "at")

    def __init__(self, m):
        self.topic = m.topic
        self.payload = bytes(m.payload)
        self.qos = m.qos
        self.retain = bool(m.retain)
        self.mid = m.mid
        self.dup = bool(m.dup)
        self.props = props_dict(getattr(m, "properties", None))
        self.at = time.monotonic()

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return f"<{self.topic} q{self.qos} r{int(self.retain)} {p!r} {self.props}>"


def props_dict(p):
    if p is None:
        return {}
    out = {}
    for name in p.names:
        attr = name.replace(" ", "")
        if hasattr(p, attr):
            out[attr] = getattr(p, attr)
    return out


def make_props(packet, **values):
    p = Properties(packet)
    for k, v in values.items():
        setattr(p, k, v)
    return p


def rc_value(rc):
    if rc is None:
        return None
    return rc.value if hasattr(rc, "value") else int(rc)


class Conn:
    def __init__(self, rc, session_present, props):
        self.rc = rc
        self.session_present = session_present
        self.props = props

    def __repr__(self):
        return f"CONNACK(rc={self.rc:#x}, sp={int(self.session_present)}, {self.props})"


class PahoClient:
    def __init__(self, t, version, client_id, *, clean=True, session_expiry=None, will=None,
                 keepalive=30, port=None, host=None, transport="tcp", creds="default",
                 connect_props=None):
        self.t = t
        self.version = version
        self.client_id = client_id
        self.clean = clean
        self.session_expiry = session_expiry
        self.keepalive = keepalive
        self.host = host or t.host
        self.port = port or (t.run.ws_port if transport == "websockets" else t.port)
        kw = {}
        if version == V311:
            kw["clean_session"] = clean
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=version, transport=transport, reconnect_on_failure=False,
                             **kw)
        self.c.max_inflight_messages_set(100)
        self.c.max_queued_messages_set(0)
        if creds == "default":
            creds = t.run.creds
        if creds:
            self.c.username_pw_set(creds[0], creds[1])
        if will:
            # will = dict(topic, payload, qos, retain, props)
            self.c.will_set(will["topic"], will.get("payload", b""), will.get("qos", 0),
                            will.get("retain", False), will.get("props"))
        self.connect_props = connect_props
        self.msgs = queue.Queue()
        self.lock = threading.Condition()
        self.connack = None
        self.closed = False
        self.disconnect_rc = None
        self.disconnect_from_server = False
        self.subacks = {}
        self.unsubacks = {}
        self.pubacks = {}
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_publish = self._on_publish
        self.c.on_connect_fail = self._on_connect_fail
        self.started = False

    # callbacks (paho's thread)
    def _on_connect(self, c, u, flags, rc, props):
        with self.lock:
            self.connack = Conn(rc_value(rc), bool(flags.session_present), props_dict(props))
            self.lock.notify_all()

    def _on_connect_fail(self, c, u):
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def _on_disconnect(self, c, u, flags, rc, props):
        with self.lock:
            self.closed = True
            self.disconnect_rc = rc_value(rc)
            self.disconnect_from_server = bool(getattr(flags, "is_disconnect_packet_from_server",
                                                       False))
            self.lock.notify_all()

    def _on_message(self, c, u, m):
        self.msgs.put(Msg(m))

    def _on_subscribe(self, c, u, mid, rcs, props):
        with self.lock:
            self.subacks[mid] = [rc_value(r) for r in rcs]
            self.lock.notify_all()

    def _on_unsubscribe(self, c, u, mid, rcs, props):
        with self.lock:
            self.unsubacks[mid] = [rc_value(r) for r in rcs] if rcs else []
            self.lock.notify_all()

    def _on_publish(self, c, u, mid, rc, props):
        with self.lock:
            self.pubacks[mid] = rc_value(rc)
            self.lock.notify_all()

    def _wait(self, pred, timeout, what):
        end = time.monotonic() + timeout
        with self.lock:
            while True:
                v = pred()
                if v is not None and v is not False:
                    return v
                left = end - time.monotonic()
                if left <= 0:
                    raise CheckFailed(f"{self.client_id}: no {what} within {timeout:g} s")
                self.lock.wait(min(left, 0.2))

    # operations
    def connect(self, timeout=5.0, expect_ok=True, clean=None):
        """Connects; returns the CONNACK (a Conn). expect_ok: fail unless it is a success."""
        with self.lock:
            self.connack = None
            self.closed = False
            self.disconnect_rc = None
            self.disconnect_from_server = False
        kw = {}
        props = self.connect_props
        if self.version == V5:
            kw["clean_start"] = self.clean if clean is None else clean
            if self.session_expiry is not None:
                props = props or Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.session_expiry
            kw["properties"] = props
        elif clean is not None:
            self.c._clean_session = clean
        try:
            self.c.connect(self.host, self.port, self.keepalive, **kw)
        except OSError as e:
            raise CheckFailed(f"{self.client_id}: cannot connect: {e}")
        if not self.started:
            self.c.loop_start()
            self.started = True
        else:
            # After a disconnect the paho thread has ended: start it again.
            self.c.loop_stop()
            self.c.loop_start()
        try:
            conn = self._wait(lambda: self.connack or (self.closed and "closed"), timeout,
                              "CONNACK")
        except CheckFailed:
            raise
        if conn == "closed":
            if expect_ok:
                raise CheckFailed(f"{self.client_id}: connection closed without CONNACK")
            return None
        if expect_ok:
            check(conn.rc == 0, f"{self.client_id}: CONNACK refused: {conn}")
        return conn

    def subscribe(self, filt, qos=1, *, no_local=False, rap=False, rh=0, sub_id=None,
                  user_props=None, timeout=5.0, expect_ok=True):
        """Subscribes to one filter, or a list of (filter, qos); returns the SUBACK codes."""
        props = None
        if sub_id is not None or user_props:
            props = Properties(PacketTypes.SUBSCRIBE)
            if sub_id is not None:
                props.SubscriptionIdentifier = sub_id
            if user_props:
                props.UserProperty = user_props
        if isinstance(filt, list):
            if self.version == V5:
                arg = [(f, SubscribeOptions(qos=q, noLocal=no_local, retainAsPublished=rap,
                                            retainHandling=rh)) for f, q in filt]
            else:
                arg = filt
            rc, mid = self.c.subscribe(arg, properties=props)
        elif self.version == V5:
            opts = SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=rap,
                                    retainHandling=rh)
            rc, mid = self.c.subscribe(filt, options=opts, properties=props)
        else:
            rc, mid = self.c.subscribe(filt, qos)
        check(rc == 0, f"{self.client_id}: subscribe not sent (rc {rc})")
        codes = self._wait(lambda: self.subacks.get(mid), timeout, f"SUBACK for {filt}")
        if expect_ok:
            check(all(c < 0x80 for c in codes), f"{self.client_id}: SUBACK refused {codes}")
        return codes

    def unsubscribe(self, filt, timeout=5.0):
        rc, mid = self.c.unsubscribe(filt)
        check(rc == 0, f"{self.client_id}: unsubscribe not sent (rc {rc})")
        return self._wait(lambda: self.unsubacks.get(mid), timeout, "UNSUBACK")

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, wait=True,
                timeout=5.0):
        """Publishes; with wait, waits for the QoS 1/2 handshake and returns its reason code."""
        if isinstance(props, dict):
            props = make_props(PacketTypes.PUBLISH, **props)
        info = self.c.publish(topic, payload, qos, retain, props)
        check(info.rc == 0, f"{self.client_id}: publish not sent (rc {info.rc})")
        if not wait:
            return info
        if qos == 0:
            return 0
        def done():
            if info.mid in self.pubacks:
                return ("acked", self.pubacks[info.mid])
            if self.closed:
                return ("closed", "closed")
            return None

        return self._wait(done, timeout, f"ack for the QoS {qos} publish to {topic}")[1]

    def get(self, timeout=5.0):
        try:
            return self.msgs.get(timeout=timeout)
        except queue.Empty:
            raise CheckFailed(f"{self.client_id}: no message within {timeout:g} s")

    def expect(self, n, timeout=5.0):
        """Exactly-at-least n messages within timeout (total), returned in arrival order."""
        end = time.monotonic() + timeout
        out = []
        while len(out) < n:
            left = end - time.monotonic()
            try:
                out.append(self.msgs.get(timeout=max(left, 0.001)))
            except queue.Empty:
                raise CheckFailed(f"{self.client_id}: got {len(out)} of {n} messages in "
                                  f"{timeout:g} s: {out[:3]}")
        return out

    def expect_none(self, within=1.0):
        try:
            m = self.msgs.get(timeout=within)
        except queue.Empty:
            return
        raise CheckFailed(f"{self.client_id}: unexpected message {m}")

    def drain(self, within=0.0):
        out = []
        end = time.monotonic() + within
        while True:
            try:
                out.append(self.msgs.get(timeout=max(0.0, end - time.monotonic())))
            except queue.Empty:
                return out

    def wait_closed(self, timeout=5.0):
        """Waits for the connection to end; returns (reason code, came in a DISCONNECT)."""
        self._wait(lambda: self.closed, timeout, "disconnection")
        return self.disconnect_rc, self.disconnect_from_server

    def is_closed(self):
        with self.lock:
            return self.closed

    def kill(self):
        """Drops the TCP connection without DISCONNECT (as a crashed client would)."""
        s = self.c.socket()
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # paho's thread sees the end of the stream and stops (reconnect_on_failure is off);
        # closing the descriptor under its select() first could leave it spinning.
        try:
            self.wait_closed(3.0)
        except CheckFailed:
            pass
        self.c.loop_stop()
        if s is not None:
            s.close()

    def disconnect(self, reason=None, props=None, timeout=5.0):
        if self.is_closed():
            self.c.loop_stop()
            return
        kw = {}
        if self.version == V5 and reason is not None:
            kw["reasoncode"] = mqtt.ReasonCode(PacketTypes.DISCONNECT, identifier=reason)
        if props is not None:
            kw["properties"] = props
        self.c.disconnect(**kw)
        try:
            self.wait_closed(timeout)
        finally:
            self.c.loop_stop()

    def close(self):
        try:
            if not self.is_closed() and self.c.is_connected():
                self.c.disconnect()
                self._wait(lambda: self.closed, 2.0, "close")
        except Exception:
            pass
        try:
            s = self.c.socket()
            if s is not None:
                s.close()
        except Exception:
            pass
        try:
            self.c.loop_stop()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------
# mosquitto_pub / mosquitto_sub


def cli_base(t, version, port=None, creds="default"):
    args = ["-h", t.host, "-p", str(port or t.port), "-V", CLI_VERSION[version]]
    if creds == "default":
        creds = t.run.creds
    if creds:
        args += ["-u", creds[0], "-P", creds[1]]
    return args


def mosquitto_pub(t, version, topic, *, payload=None, file=None, qos=0, retain=False,
                  extra=(), port=None, timeout=10.0, client_id=None):
    args = ["mosquitto_pub"] + cli_base(t, version, port) + ["-t", topic, "-q", str(qos),
                                                            "-i", client_id or t.cid("pub")]
    if retain:
        args.append("-r")
    if file is not None:
        args += ["-f", file]
    elif payload is None or payload == b"":
        args.append("-n")
    else:
        args += ["-m", payload if isinstance(payload, str) else payload.decode()]
    args += list(extra)
    p = subprocess.run(args, capture_output=True, timeout=timeout)
    check(p.returncode == 0, f"mosquitto_pub exited {p.returncode}: {p.stderr.decode()[-300:]}")


class CliMsg:
    def __init__(self, qos, retain, length, topic, payload):
        self.qos, self.retain, self.length, self.topic, self.payload = (qos, retain, length,
                                                                        topic, payload)

    def __repr__(self):
        return f"<cli {self.topic} q{self.qos} r{int(self.retain)} {self.length} bytes>"


class MosquittoSub:
    """mosquitto_sub in the background, -d for its SUBACK, each message as one line."""

    def __init__(self, t, version, topics, *, qos=1, count=None, wait_s=15, extra=(),
                 port=None, client_id=None):
        # stdbuf: mosquitto_sub's -d lines are stdio-buffered when stdout is a pipe
        args = ["stdbuf", "-oL", "mosquitto_sub"] + cli_base(t, version, port) + ["-d", "-q", str(qos),
                                                                "-i", client_id or t.cid("sub"),
                                                                "-F", "MSG|%q|%r|%l|%t|%x"]
        for topic in ([topics] if isinstance(topics, str) else topics):
            args += ["-t", topic]
        if count is not None:
            args += ["-C", str(count)]
        if wait_s is not None:
            args += ["-W", str(int(wait_s))]
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.msgs = queue.Queue()
        self.lines = []
        self.subscribed = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        t.defer(self.stop)

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if line.startswith("MSG|"):
                _, q, r, n, rest = line.split("|", 4)
                topic, hexp = rest.rsplit("|", 1)
                self.msgs.put(CliMsg(int(q), r == "1", int(n), topic, bytes.fromhex(hexp)))
            elif "received SUBACK" in line:
                self.subscribed.set()

    def wait_subscribed(self, timeout=5.0):
        if not self.subscribed.wait(timeout):
            raise CheckFailed(f"mosquitto_sub: no SUBACK in {timeout:g} s: {self.lines[-5:]}")

    def expect(self, n, timeout=5.0):
        end = time.monotonic() + timeout
        out = []
        while len(out) < n:
            try:
                out.append(self.msgs.get(timeout=max(0.001, end - time.monotonic())))
            except queue.Empty:
                raise CheckFailed(f"mosquitto_sub got {len(out)} of {n} messages: "
                                  f"{self.lines[-5:]}")
        return out

    def wait_exit(self, timeout=5.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"mosquitto_sub still running after {timeout:g} s")

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(3)
            except Exception:
                self.kill()


# ---------------------------------------------------------------------------------------------
# Raw MQTT over a socket


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def u16(n):
    return struct.pack(">H", n)


def mstr(s):
    b = s.encode() if isinstance(s, str) else s
    return u16(len(b)) + b


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def props(*items):
    """MQTT 5 properties: items are (id, bytes already encoded)."""
    body = b"".join(bytes([pid]) + val for pid, val in items)
    return varint(len(body)) + body


def connect_packet(version=4, client_id="", clean=True, keepalive=30, props_bytes=None,
                   username=None, password=None, will=None):
    flags = 0x02 if clean else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    payload = mstr(client_id)
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if version == 5:
            payload += will.get("props", b"\x00")
        payload += mstr(will["topic"]) + mstr(will.get("payload", b""))
    if username is not None:
        payload += mstr(username)
    if password is not None:
        payload += mstr(password)
    body = mstr("MQTT") + bytes([version, flags]) + u16(keepalive)
    if version == 5:
        body += props_bytes if props_bytes is not None else b"\x00"
    return packet(1, 0, body + payload)


def publish_packet(topic, payload=b"", qos=0, pid=1, retain=False, version=4, props_bytes=b"\x00",
                   dup=False):
    body = mstr(topic)
    if qos:
        body += u16(pid)
    if version == 5:
        body += props_bytes
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    return packet(3, flags, body + payload)


def subscribe_packet(pid, filters, version=4):
    body = u16(pid) + (b"\x00" if version == 5 else b"")
    for f, opts in filters:
        body += mstr(f) + bytes([opts])
    return packet(8, 2, body)


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"

PTYPES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
          7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
          12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}


class Closed(Exception):
    pass


class Raw:
    """A blocking raw MQTT connection: send bytes, read whole packets with a timeout."""

    def __init__(self, host, port, timeout=5.0):
        try:
            self.s = socket.create_connection((host, port), timeout)
        except OSError as e:
            raise CheckFailed(f"raw connect to {host}:{port}: {e}")
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def send(self, data):
        self.s.settimeout(10)
        self.s.sendall(data)

    def try_send(self, data):
        """Sends; False if the broker has closed the connection already."""
        try:
            self.send(data)
            return True
        except OSError:
            return False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.s.settimeout(left)
        try:
            chunk = self.s.recv(65536)
        except socket.timeout:
            raise TimeoutError
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            chunk = b""
        if not chunk:
            self.eof = True
            raise Closed
        self.buf += chunk

    def read(self, timeout=5.0):
        """The next packet as (type, flags, body); raises Closed at EOF, TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                n, mult, i = 0, 1, 1
                complete = False
                while i < len(self.buf) and i <= 4:
                    b = self.buf[i]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        complete = True
                        break
                if complete and len(self.buf) >= i + n:
                    first = self.buf[0]
                    body = bytes(self.buf[i:i + n])
                    del self.buf[:i + n]
                    return first >> 4, first & 0x0F, body
            if self.eof:
                raise Closed
            self._fill(deadline)

    def expect(self, ptype, timeout=5.0):
        t, f, body = self.read(timeout)
        check(t == ptype, f"expected {PTYPES[ptype]}, got {PTYPES.get(t, t)} {body[:20]!r}")
        return f, body

    def connect(self, version=4, client_id="raw", timeout=5.0, **kw):
        """Sends CONNECT, returns (session_present, return/reason code, properties bytes)."""
        self.send(connect_packet(version, client_id, **kw))
        _, body = self.expect(2, timeout)
        return body[0] & 1, body[1], body[2:]

    def wait_closed(self, timeout=5.0):
        """Reads until the broker closes the connection; returns the packets seen first."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen.append(self.read(max(0.001, deadline - time.monotonic())))
            except Closed:
                return seen
            except TimeoutError:
                raise CheckFailed(f"connection still open after {timeout:g} s "
                                  f"(saw {[PTYPES.get(p[0]) for p in seen]})")

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def parse_props(data):
    """MQTT 5 properties at the start of data: ({id: [values]}, rest)."""
    n, mult, i = 0, 1, 0
    while True:
        b = data[i]
        n += (b & 0x7F) * mult
        mult *= 128
        i += 1
        if not b & 0x80:
            break
    raw = data[i:i + n]
    rest = data[i + n:]
    out = {}
    j = 0
    FOUR = {0x02, 0x11, 0x18, 0x27}
    TWO = {0x13, 0x21, 0x22, 0x23}
    ONE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
    STR = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
    BIN = {0x09, 0x16}
    while j < len(raw):
        pid = raw[j]
        j += 1
        if pid in FOUR:
            v = struct.unpack(">I", raw[j:j + 4])[0]
            j += 4
        elif pid in TWO:
            v = struct.unpack(">H", raw[j:j + 2])[0]
            j += 2
        elif pid in ONE:
            v = raw[j]
            j += 1
        elif pid in STR or pid in BIN:
            ln = struct.unpack(">H", raw[j:j + 2])[0]
            v = raw[j + 2:j + 2 + ln]
            j += 2 + ln
        elif pid == 0x26:
            ln = struct.unpack(">H", raw[j:j + 2])[0]
            k = raw[j + 2:j + 2 + ln]
            j += 2 + ln
            ln = struct.unpack(">H", raw[j:j + 2])[0]
            v = (k, raw[j + 2:j + 2 + ln])
            j += 2 + ln
        elif pid == 0x0B:
            v, mult = 0, 1
            while True:
                b = raw[j]
                j += 1
                v += (b & 0x7F) * mult
                mult *= 128
                if not b & 0x80:
                    break
        else:
            break
        out.setdefault(pid, []).append(v)
    return out, rest


CHECKS = []


def register(name, versions=(V311, V5)):
    """Registers a check; one per protocol version (name_v311, name_v5) unless versions=None."""

    def deco(fn):
        if versions is None:
            CHECKS.append((name, fn, None))
        else:
            for v in versions:
                CHECKS.append((f"{name}_{VNAME[v]}", fn, v))
        return fn

    return deco


def wait_until(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def free_select_sleep(seconds):
    select.select([], [], [], seconds)
