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


def acl_checks(c):
    """Topic ACLs on the APIs beside Produce and Fetch: Metadata lists only topics the user may
    read, DescribeConfigs and group offsets of a denied topic are refused."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    from confluent_kafka.admin import ConfigResource
    out = []
    admin = AdminClient(c)
    topics = set(admin.list_topics(timeout=10).topics)
    out.append(("acl_metadata_lists_readable_topics_only", "sasl-ok" in topics and "sasl-denied" not in topics,
                sorted(topics)))
    res = admin.describe_configs([ConfigResource("topic", "sasl-denied")])
    try:
        list(res.values())[0].result(15)
        code = None
    except KafkaException as e:
        code = e.args[0].code()
    out.append(("acl_describe_configs_refused", code == KafkaError.TOPIC_AUTHORIZATION_FAILED, code))
    consumer = Consumer({**c, "group.id": "sasl-acl-group", "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition("sasl-ok", 0, 1), TopicPartition("sasl-denied", 0, 1)],
                        asynchronous=False)
        raised = None
    except KafkaException as e:
        raised = e.args[0].code()
    # The allowed topic's offset was committed all the same.
    ok = consumer.committed([TopicPartition("sasl-ok", 0)], timeout=10)[0].offset
    consumer.close()
    out.append(("acl_offset_commit_per_topic", raised == KafkaError.TOPIC_AUTHORIZATION_FAILED and ok == 1,
                (raised, ok)))
    return out


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
    from confluent_kafka import KafkaError
    checks = []
    created = {}
    for t, f in admin.create_topics([NewTopic("sasl-ok", 1, 1), NewTopic("sasl-denied", 1, 1)]).items():
        try:
            f.result(30)
            created[t] = "created"
        except KafkaException as e:
            created[t] = e.args[0].code()
    checks.append(("acl_create_topic_needs_access", created == {
        "sasl-ok": "created", "sasl-denied": KafkaError.TOPIC_AUTHORIZATION_FAILED}, created))
    for mech in ["PLAIN", "SCRAM-SHA-256"]:
        res = produce_both(conf(a.bootstrap, mech, a.user, a.password))
        checks.append((f"sasl_{mech.lower()}_login_and_topic_acl",
                       isinstance(res.get("sasl-ok"), int) and res.get("sasl-ok", -1) >= 0
                       and res.get("sasl-denied") == KafkaError.TOPIC_AUTHORIZATION_FAILED, res))
    checks.extend(acl_checks(conf(a.bootstrap, "SCRAM-SHA-256", a.user, a.password)))
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
