#!/usr/bin/env python3
"""The MQTT real-client conformance suite: unmodified clients (paho-mqtt 2.x, mosquitto_pub and
mosquitto_sub) and raw sockets against any MQTT broker on loopback.

    python3 tests/mqtt_clients/run.py --host 127.0.0.1 --port 1883 [--ws-port P]
        [--cluster P1,P2,P3] [--users-file users.json] [--peer mosquitto] [--only NAME...] [-v]

Prints `ok NAME (SECS)`, `FAIL NAME: WHY` or `skip NAME: WHY` per check, then
`mqtt clients: N passed, M failed, K skipped`; exits 1 if any check failed. See README.md.
"""

import argparse
import fnmatch
import json
import os
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import CheckFailed, Run, Skip, T  # noqa: E402

import checks_basic  # noqa: E402,F401
import checks_session  # noqa: E402,F401
import checks_v5  # noqa: E402,F401
import checks_shared  # noqa: E402,F401
import checks_acl  # noqa: E402,F401
import checks_bad  # noqa: E402,F401

CHECK_LIMIT = 20.0


def selected(name, patterns):
    if not patterns:
        return True
    for p in patterns:
        if any(ch in p for ch in "*?[") and fnmatch.fnmatchcase(name, p):
            return True
        if p in name:
            return True
    return False


def run_one(run, name, fn, version):
    """Runs one check in a thread, at most CHECK_LIMIT seconds: (status, seconds, why, notes)."""
    t = T(run, name)
    result = {}

    def body():
        try:
            if version is None:
                fn(t)
            else:
                fn(t, version)
            result["status"] = "ok"
        except Skip as e:
            result["status"] = "skip"
            result["why"] = str(e)
        except CheckFailed as e:
            result["status"] = "FAIL"
            result["why"] = str(e)
        except Exception as e:  # a bug or an unexpected broker answer: a failure, with where
            result["status"] = "FAIL"
            tb = traceback.extract_tb(e.__traceback__)[-1]
            result["why"] = (f"{type(e).__name__}: {e} "
                             f"({os.path.basename(tb.filename)}:{tb.lineno})")
            if run.verbose:
                traceback.print_exc()

    start = time.monotonic()
    th = threading.Thread(target=body, daemon=True, name=name)
    th.start()
    th.join(CHECK_LIMIT)
    took = time.monotonic() - start
    if th.is_alive():
        result = {"status": "FAIL", "why": f"did not finish within {CHECK_LIMIT:g} s"}
    t.cleanup()
    if th.is_alive():
        th.join(2)
    return result["status"], took, result.get("why", ""), t.notes


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ws-port", type=int, help="MQTT over WebSocket on this port")
    ap.add_argument("--ws-path", default="/mqtt", help="the WebSocket path (default /mqtt)")
    ap.add_argument("--cluster", help="PORT1,PORT2[,PORT3]: brokers of one cluster, on --host")
    ap.add_argument("--cluster-settle", type=float, default=1.0,
                    help="seconds for a subscription to reach every broker (default 1)")
    ap.add_argument("--users-file", help="JSON users and rights: enables the auth/ACL checks")
    ap.add_argument("--peer", choices=["mosquitto"],
                    help="the broker is this known implementation: skip what it lacks")
    ap.add_argument("--max-packet", type=int, default=1 << 20,
                    help="the broker's maximum packet size (default 1 MiB)")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help="run only checks whose name contains NAME (or matches a glob)")
    ap.add_argument("--list", action="store_true", help="list the checks and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print notes and tracebacks")
    a = ap.parse_args()

    if a.list:
        for name, _, _ in lib.CHECKS:
            print(name)
        return 0
    # Loopback only: the suite floods and abuses the broker on purpose.
    import ipaddress
    import socket
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(a.host, a.port, proto=socket.IPPROTO_TCP)}
    except OSError as e:
        ap.error(f"cannot resolve {a.host}: {e}")
    if not all(ipaddress.ip_address(x.split("%")[0]).is_loopback for x in addrs):
        ap.error(f"{a.host} is not a loopback address; the suite runs on loopback only")
    users = None
    if a.users_file:
        with open(a.users_file) as f:
            users = json.load(f)
    cluster = [int(p) for p in a.cluster.split(",")] if a.cluster else []
    run = Run(a.host, a.port, ws_port=a.ws_port, cluster=cluster, peer=a.peer, users=users,
              max_packet=a.max_packet, verbose=a.verbose)
    run.ws_path = a.ws_path
    run.cluster_settle = a.cluster_settle
    print(f"mqtt clients: broker {a.host}:{a.port}, run {run.token}", flush=True)

    counts = {"ok": 0, "FAIL": 0, "skip": 0}
    start = time.monotonic()
    for name, fn, version in lib.CHECKS:
        if not selected(name, a.only):
            continue
        status, took, why, notes = run_one(run, name, fn, version)
        counts[status] += 1
        if status == "ok":
            print(f"ok {name} ({took:.2f}s)", flush=True)
        else:
            print(f"{status} {name}: {why}", flush=True)
        if a.verbose:
            for n in notes:
                print(f"    note: {n}", flush=True)
    print(f"mqtt clients: {time.monotonic() - start:.0f} s in all", flush=True)
    print(f"mqtt clients: {counts['ok']} passed, {counts['FAIL']} failed, "
          f"{counts['skip']} skipped", flush=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
