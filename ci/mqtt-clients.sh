#!/usr/bin/env bash
# Real MQTT clients against the `keel` binary (debug build, as `cargo test` leaves it): the
# client suite (tests/mqtt_clients: paho-mqtt 3.1.1 and 5.0, mosquitto_pub/sub, raw sockets)
# against a single node with TCP and WebSocket listeners, against a node with users and ACLs,
# and its cluster checks against three nodes. Installs the clients first (idempotent). Prints
# the suite's summary lines, and every node's log tail when something failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh
bash ci/install-mqtt-clients.sh
target="${CARGO_TARGET_DIR:-target}"
cargo build -p keel --quiet
keel="$target/debug/keel"
work_dir mqtt-clients

status=0
# run_suite NAME MODE SUITE-ARGS...: starts Keel in MODE, runs the suite with its ports.
run_suite() {
  local name="$1" mode="$2"
  shift 2
  local line ports ws tls node_pids
  if ! line="$(timeout 180 bash tests/mqtt_clients/keel.sh "$keel" "$work/$name" "$mode")"; then
    echo "mqtt clients ($name): Keel did not start"
    tail -n 30 "$work/$name"/*.log || true
    status=1
    return
  fi
  read -r ports ws tls node_pids <<<"$line"
  IFS=, read -r -a started <<<"$node_pids"
  pids+=("${started[@]}")
  local args=(--host 127.0.0.1 --port "${ports%%,*}")
  [ "$ws" != none ] && args+=(--ws-port "$ws")
  [ "$mode" = cluster ] && args+=(--cluster "$ports")
  echo "== mqtt clients: $name"
  if ! timeout 900 python3 tests/mqtt_clients/run.py "${args[@]}" "$@"; then
    status=1
    for log in "$work/$name"/*.log; do
      echo "--- $log (last lines)"
      tail -n 40 "$log"
    done
  fi
  if [ "$tls" != none ] && [ "$name" = plain ] && ! tls_round_trip "$tls"; then
    status=1
  fi
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
}

# MQTT over TLS with mosquitto_pub/sub (the test certificate, for localhost), QoS 1.
tls_round_trip() {
  local port="$1" ca=tests/data/test-cert.pem out="$work/tls.out"
  timeout 15 mosquitto_sub -h localhost -p "$port" --cafile "$ca" -t keeltest/tls -q 1 -C 1 -W 10 >"$out" &
  local sub=$!
  sleep 1
  mosquitto_pub -h localhost -p "$port" --cafile "$ca" -t keeltest/tls -q 1 -m over-tls || true
  wait "$sub" || true
  if [ "$(cat "$out")" = over-tls ]; then
    echo "ok tls_round_trip (mosquitto_pub/sub over TLS)"
    echo "mqtt clients: 1 passed, 0 failed, 0 skipped"
    return 0
  fi
  echo "FAIL tls_round_trip: mosquitto_sub got $(cat "$out" | head -c 200)"
  echo "mqtt clients: 0 passed, 1 failed, 0 skipped"
  return 1
}

run_suite plain plain
run_suite acl acl --users-file tests/mqtt_clients/users.json --only 'auth_*' 'acl_*'
run_suite cluster cluster --only 'cluster_*'
exit "$status"
