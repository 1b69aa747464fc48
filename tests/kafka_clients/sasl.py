#!/usr/bin/env python3
"""SASL and topic ACLs on a Keel node with `allow_anonymous = false`, one user (`--user`,
`--password`) allowed the topic `sasl-ok` only: PLAIN and SCRAM-SHA-256 logins with
confluent-kafka, a denied topic, a wrong password and an anonymous client refused. Prints
`kafka clients: N passed, M failed, 0 skipped`.

    python3 tests/kafka_clients/sasl.py --bootstrap host:port --user alice --password secret
"""
import argparse
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def conf(bs, mech, user, password):
    return {"bootstrap.servers": bs, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mech,
            "sasl.username": user, "sasl.password": password}


def produce_both(c):
    p = Producer({**c, "message.timeout.ms": 15000})
    res = {}

    def cb(err, msg):
        res[msg.topic()] = err.code() if err else msg.offset()

    p.produce("sasl-ok", b"x", callback=cb)
    p.produce("sasl-denied", b"y", callback=cb)
    p.flush(20)
    return res


def refused(c):
    try:
        AdminClient(c).list_topics(timeout=5)
        return False
    except KafkaException:
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    a = ap.parse_args()
    passed = failed = 0
    admin = AdminClient(conf(a.bootstrap, "PLAIN", a.user, a.password))
    for t, f in admin.create_topics([NewTopic("sasl-ok", 1, 1), NewTopic("sasl-denied", 1, 1)]).items():
        f.result(30)
    from confluent_kafka import KafkaError
    checks = []
    for mech in ["PLAIN", "SCRAM-SHA-256"]:
        res = produce_both(conf(a.bootstrap, mech, a.user, a.password))
        checks.append((f"sasl_{mech.lower()}_login_and_topic_acl",
                       isinstance(res.get("sasl-ok"), int) and res.get("sasl-ok", -1) >= 0
                       and res.get("sasl-denied") == KafkaError.TOPIC_AUTHORIZATION_FAILED, res))
    checks.append(("sasl_wrong_password_refused", refused(conf(a.bootstrap, "SCRAM-SHA-256", a.user, "wrong")), ""))
    checks.append(("sasl_plain_wrong_password_refused", refused(conf(a.bootstrap, "PLAIN", a.user, "wrong")), ""))
    checks.append(("sasl_anonymous_refused", refused({"bootstrap.servers": a.bootstrap}), ""))
    for name, ok, detail in checks:
        if ok:
            passed += 1
            print(f"ok {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {detail}")
    print(f"kafka clients: {passed} passed, {failed} failed, 0 skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
