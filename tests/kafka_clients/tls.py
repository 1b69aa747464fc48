#!/usr/bin/env python3
"""Kafka over TLS on a Keel node with a certificate (`[broker] kafka_tls_listen`): confluent-kafka
with security.protocol=SSL, the CA given (`--ca`, the node's self-signed certificate) and the
broker's name checked. Metadata names the TLS port to TLS clients and the plain port to plain
ones; produce, a consumer group (its coordinator reached over TLS too) and admin work over TLS;
a plaintext client on the TLS port is refused. Prints `kafka clients: N passed, M failed, 0 skipped`.

    python3 tests/kafka_clients/tls.py --bootstrap 127.0.0.1:9093 --plain 127.0.0.1:9092 --ca cert.pem
"""
import argparse
import sys
import uuid

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def ssl(a, **extra):
    return {"bootstrap.servers": a.bootstrap, "security.protocol": "SSL", "ssl.ca.location": a.ca,
            "ssl.endpoint.identification.algorithm": "https", **extra}


def ports(conf):
    md = AdminClient(conf).list_topics(timeout=15)
    return sorted({b.port for b in md.brokers.values()})


def advertised_tls_port(a):
    want = int(a.bootstrap.rsplit(":", 1)[1])
    got = ports(ssl(a))
    return got == [want], f"TLS metadata names ports {got}, want [{want}]"


def advertised_plain_port(a):
    want = int(a.plain.rsplit(":", 1)[1])
    got = ports({"bootstrap.servers": a.plain})
    return got == [want], f"plain metadata names ports {got}, want [{want}]"


def produce_and_consume_in_a_group(a):
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(ssl(a))
    for f in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        f.result(30)
    p = Producer(ssl(a, acks="all", **{"enable.idempotence": True, "message.timeout.ms": 20000}))
    sent = [f"m{i}".encode() for i in range(20)]
    for v in sent:
        p.produce(topic, v)
    left = p.flush(30)
    if left:
        return False, f"{left} messages not delivered"
    c = Consumer(ssl(a, **{"group.id": f"g-{topic}", "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    for _ in range(60):
        m = c.poll(1.0)
        if m is not None and not m.error():
            got.append(m.value())
        if len(got) == len(sent):
            break
    if got:
        c.commit(asynchronous=False)
    c.close()
    for f in admin.delete_topics([topic]).values():
        f.result(30)
    return sorted(got) == sorted(sent), f"consumed {len(got)} of {len(sent)}"


def plaintext_on_tls_port_refused(a):
    try:
        AdminClient({"bootstrap.servers": a.bootstrap, "socket.timeout.ms": 3000}).list_topics(timeout=4)
        return False, "a plaintext client got Metadata from the TLS port"
    except KafkaException:
        return True, ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True, help="the TLS listener")
    ap.add_argument("--plain", required=True, help="the plain listener of the same node")
    ap.add_argument("--ca", required=True)
    a = ap.parse_args()
    passed = failed = 0
    for check in [advertised_tls_port, advertised_plain_port, produce_and_consume_in_a_group,
                  plaintext_on_tls_port_refused]:
        name = f"tls_{check.__name__}"
        try:
            ok, why = check(a)
        except Exception as e:  # noqa: BLE001 - a check that raises failed
            ok, why = False, repr(e)
        if ok:
            passed += 1
            print(f"ok {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {why}")
    print(f"kafka clients: {passed} passed, {failed} failed, 0 skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
