#!/usr/bin/env bash
# Real Kafka clients against the `keel` binary (debug build, as `cargo test` leaves it): the
# client suite (tests/kafka_clients/run.py: confluent-kafka 2.16 on librdkafka, kafka-python
# 3.0, aiokafka 0.14, raw sockets for bad input) against a single node, then the cluster check
# (tests/kafka_clients/cluster.py: the partition leader's process SIGKILLed mid-stream) against
# three nodes. The single node also serves TLS (tests/kafka_clients/tls.py) and the rdkafka crate's
# check (clients/rdkafka-check, a workspace member built here only, librdkafka from source,
# shared with the Jepsen harness). Installs the clients and the build's packages first (idempotent).
# Prints the suites' summary lines, and the nodes' log tails when something failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh
if ! python3 -c 'import aiokafka, confluent_kafka, kafka, sys; sys.exit(0 if confluent_kafka.version()[0].startswith("2.16") and kafka.__version__.startswith("3.0") and aiokafka.__version__.startswith("0.14") else 1)' 2>/dev/null; then
  python3 -m pip install -q --root-user-action=ignore 'confluent-kafka==2.16.*' 'kafka-python==3.0.*' 'aiokafka==0.14.*'
fi
bash ci/install-mqtt-clients.sh
# The rdkafka crate builds librdkafka with its configure script and make; zlib for gzip.
apt_install make pkg-config zlib1g-dev
target="${CARGO_TARGET_DIR:-target}"
cargo build -p keel --quiet
keel="$target/debug/keel"
work_dir kafka-clients

# Waits until a Kafka listener answers ApiVersions.
wait_kafka() {
  for _ in $(seq 1 120); do
    if python3 - "$1" <<'PY' 2>/dev/null; then
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(struct.pack(">ihhih", 10, 18, 0, 1, 0))
assert len(s.recv(64)) > 10
PY
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# start_nodes NAME COUNT [EXTRA] [tls]: COUNT nodes (every role; meta peers of each other), EXTRA
# appended to each config; sets `bootstrap` (host:port,...), `node_pids` (id=pid,...) and
# `node_admins` (every node's admin API, http://host:port,...; `node_admin` pins one); with
# `tls`, a Kafka TLS listener too (the test certificate, for localhost and 127.0.0.1, as MQTT's
# TLS check uses), its addresses in `tls_bootstrap`.
start_nodes() {
  local name="$1" count="$2" extra="${3:-}" tls="${4:-}" i peers="[meta.peers]" tls_conf
  declare -a rpcs kafkas tlss admins
  mkdir -p "$work/$name"
  for i in $(seq 1 "$count"); do
    admins[$i]=$(free_port)
    rpcs[$i]=$(free_port)
    kafkas[$i]=$(free_port)
    tlss[$i]=$(free_port)
    peers+=$'\n'"$i = \"127.0.0.1:${rpcs[$i]}\""
  done
  bootstrap="" node_pids="" tls_bootstrap="" node_admins=""
  for i in $(seq 1 "$count"); do
    tls_conf=""
    if [ "$tls" = tls ]; then
      tls_conf="kafka_tls_listen = \"127.0.0.1:${tlss[$i]}\"
tls_cert_file = \"$PWD/tests/data/test-cert.pem\"
tls_key_file = \"$PWD/tests/data/test-key.pem\""
      tls_bootstrap+="${tls_bootstrap:+,}127.0.0.1:${tlss[$i]}"
    fi
    cat >"$work/$name/n$i.toml" <<TOML
node_id = $i
data_dir = "$work/$name/data$i"
[rpc]
listen = "127.0.0.1:${rpcs[$i]}"
[admin]
listen = "${node_admin:-127.0.0.1:${admins[$i]}}"
[broker]
mqtt_listen = "${node_mqtt:-}"
mqtt_ws_listen = ""
kafka_listen = "127.0.0.1:${kafkas[$i]}"
mqtt_tls_listen = ""
$tls_conf
[mqtt]
sys_interval_s = 0
$extra
$([ "$count" -gt 1 ] && echo "$peers")
TOML
    "$keel" server --config "$work/$name/n$i.toml" >"$work/$name/n$i.log" 2>&1 &
    pids+=($!)
    bootstrap+="${bootstrap:+,}127.0.0.1:${kafkas[$i]}"
    node_pids+="${node_pids:+,}$i=$!"
    node_admins+="${node_admins:+,}http://${node_admin:-127.0.0.1:${admins[$i]}}"
  done
  for i in $(seq 1 "$count"); do
    wait_kafka "${kafkas[$i]}" || { echo "kafka clients ($name): node $i did not serve Kafka"; return 1; }
  done
}

# The rdkafka crate's check against a bootstrap; prints its summary line (the build's failure
# counts as one failed check).
rdkafka_check() {
  local started=$SECONDS
  if ! cargo build --quiet -p rdkafka-check; then
    echo "kafka clients: 0 passed, 1 failed (rdkafka crate: the build failed)"
    return 1
  fi
  echo "(rdkafka-check built in $((SECONDS - started))s)"
  timeout 600 "$target/debug/rdkafka-check" "$1" 2>&1 | grep -v '^%'
}

logs() {
  for log in "$work/$1"/*.log; do
    echo "--- $log (last lines)"
    tail -n 40 "$log"
  done
}

status=0
if start_nodes single 1 "" tls; then
  echo "== kafka clients: single node"
  # librdkafka's own log lines (starting with %) are left out; pipefail keeps the suite's status.
  if ! timeout 900 python3 tests/kafka_clients/run.py --bootstrap "$bootstrap" 2>&1 | grep -v '^%'; then
    status=1
    logs single
  fi
  echo "== kafka clients: single node over TLS"
  if ! timeout 300 python3 tests/kafka_clients/tls.py --bootstrap "$tls_bootstrap" --plain "$bootstrap" \
    --ca tests/data/test-cert.pem 2>&1 | grep -v '^%'; then
    status=1
    logs single
  fi
  echo "== kafka clients: single node, the rdkafka crate"
  if ! rdkafka_check "$bootstrap"; then
    status=1
    logs single
  fi
else
  echo "kafka clients: 0 passed, 1 failed, 0 skipped"
  status=1
  logs single
fi
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
if start_nodes cluster 3; then
  echo "== kafka clients: three nodes"
  if ! timeout 600 python3 tests/kafka_clients/cluster.py --bootstrap "$bootstrap" --pids "$node_pids" \
    --keel "$keel" --admins "$node_admins" 2>&1 | grep -v '^%'; then
    status=1
    logs cluster
  fi
else
  echo "kafka clients: 0 passed, 1 failed, 0 skipped"
  status=1
  logs cluster
fi
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
# SASL and ACLs: one user, allowed the topic sasl-ok only.
sasl_extra="allow_anonymous = false
acl_default = \"deny\"
$(printf 'kafka-test-pass\n' | "$keel" passwd kafka-test)

[[mqtt.acl]]
username = \"kafka-test\"
topic = \"sasl-ok\"
access = \"all\"
permission = \"allow\""
if start_nodes sasl 1 "$sasl_extra"; then
  echo "== kafka clients: SASL and ACLs"
  if ! timeout 300 python3 tests/kafka_clients/sasl.py --bootstrap "$bootstrap" --user kafka-test --password kafka-test-pass 2>&1 | grep -v '^%'; then
    status=1
    logs sasl
  fi
else
  echo "kafka clients: 0 passed, 1 failed, 0 skipped"
  status=1
  logs sasl
fi
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
# One log, two views: a node serving MQTT and Kafka, the binding `sensors` from its config and
# `alerts` made with the CLI; MQTT in, Kafka out, and back (tests/kafka_clients/bridge.py).
bridge_extra='[[mqtt.bindings]]
kafka_topic = "sensors"
filter = "sensors/#"'
mqtt_port=$(free_port)
admin="http://127.0.0.1:$(free_port)"
if node_mqtt="127.0.0.1:$mqtt_port" node_admin="${admin#http://}" start_nodes bridge 1 "$bridge_extra"; then
  echo "== kafka clients: one log, two views (MQTT and Kafka)"
  bound=""
  for _ in $(seq 1 60); do
    if "$keel" topic describe sensors -o json --admin "$admin" 2>/dev/null | grep -q '"filter": "sensors/#"'; then
      bound=yes
      break
    fi
    sleep 0.5
  done
  if [ -n "$bound" ] && "$keel" binding create alerts 'alerts/+/high' --admin "$admin" >/dev/null &&
    "$keel" topic describe alerts -o json --admin "$admin" | grep -q '"filter": "alerts/+/high"'; then
    if ! timeout 300 python3 tests/kafka_clients/bridge.py --bootstrap "$bootstrap" --mqtt-port "$mqtt_port" 2>&1 | grep -v '^%'; then
      status=1
      logs bridge
    fi
  else
    echo "kafka clients: 0 passed, 1 failed, 0 skipped (the bindings were not set: configured $bound)"
    status=1
    logs bridge
  fi
else
  echo "kafka clients: 0 passed, 1 failed, 0 skipped"
  status=1
  logs bridge
fi
exit "$status"
