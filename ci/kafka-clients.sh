#!/usr/bin/env bash
# Real Kafka clients against the `keel` binary (debug build, as `cargo test` leaves it): the
# client suite (tests/kafka_clients: confluent-kafka 2.16 on librdkafka, kafka-python 3.0, raw
# sockets for bad input) against a single node. Installs the clients first (idempotent). Prints
# the suite's summary lines, and the node's log tail when something failed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import confluent_kafka, kafka, sys; sys.exit(0 if confluent_kafka.version()[0].startswith("2.16") and kafka.__version__.startswith("3.0") else 1)' 2>/dev/null; then
  python3 -m pip install -q --root-user-action=ignore 'confluent-kafka==2.16.*' 'kafka-python==3.0.*'
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build -p keel --quiet
keel="$target/debug/keel"
work="$(mktemp -d /tmp/keel-kafka-clients.XXXXXX)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  sleep 1
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
kafka_port="$(free_port)"
cat >"$work/node.toml" <<TOML
data_dir = "$work/data"
[rpc]
listen = "127.0.0.1:$(free_port)"
[admin]
listen = ""
[broker]
mqtt_listen = ""
mqtt_ws_listen = ""
kafka_listen = "127.0.0.1:$kafka_port"
[mqtt]
sys_interval_s = 0
TOML
"$keel" server --config "$work/node.toml" >"$work/node.log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 1 120); do
  if python3 - "$kafka_port" <<'PY' 2>/dev/null; then
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(struct.pack(">ihhih", 10, 18, 0, 1, 0))
assert len(s.recv(64)) > 10
PY
    ready=1
    break
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "kafka clients: Keel did not start"
  tail -n 40 "$work/node.log"
  echo "kafka clients: 0 passed, 1 failed, 0 skipped"
  exit 1
fi
echo "== kafka clients: single node"
status=0
# librdkafka's own log lines (starting with %) are left out; pipefail keeps the suite's status.
if ! timeout 900 python3 tests/kafka_clients/run.py --bootstrap "127.0.0.1:$kafka_port" 2>&1 | grep -v '^%'; then
  status=1
  echo "--- node log (last lines)"
  tail -n 60 "$work/node.log"
fi
exit "$status"
