#!/usr/bin/env bash
# Cross-broker MQTT delivery on a three-node Keel cluster on this machine (every node meta,
# storage and broker; the namespace log replicated three ways, two copies needed per write),
# beside a single node, in one run: the subscriber on node 1, the publisher on node 2 (the
# bench spreads its clients over --host), 100-byte payloads, QoS 0 and QoS 1 flat out and QoS 1
# at a fixed 20,000 msgs/s. A measurement, not a check. Nodes listen on 127.0.0.1..3 (one MQTT
# port), so the bench's host list picks the broker.
#
#   ci/bench-mqtt-cluster.sh            # about 3 minutes plus the release build
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh
seconds="${BENCH_SECONDS:-10}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p keel
keel="$target/release/keel"
work_dir bench-cluster
mqtt_port="$(free_port)"

# start_nodes NAME COUNT: COUNT nodes, MQTT on 127.0.0.i:$mqtt_port, waiting until each serves.
start_nodes() {
  local name="$1" count="$2" peers="[meta.peers]" i
  declare -a rpcs
  for i in $(seq 1 "$count"); do rpcs[$i]=$(free_port); peers+=$'\n'"$i = \"127.0.0.1:${rpcs[$i]}\""; done
  for i in $(seq 1 "$count"); do
    mkdir -p "$work/$name"
    cat >"$work/$name/n$i.toml" <<TOML
node_id = $i
data_dir = "$work/$name/data$i"
[rpc]
listen = "127.0.0.1:${rpcs[$i]}"
[admin]
listen = ""
[broker]
mqtt_listen = "127.0.0.$i:$mqtt_port"
mqtt_ws_listen = ""
kafka_listen = ""
[mqtt]
sys_interval_s = 0
[log]
level = "warn"
$peers
TOML
    "$keel" server --config "$work/$name/n$i.toml" >"$work/$name/n$i.log" 2>&1 &
    pids+=($!)
  done
  for i in $(seq 1 "$count"); do
    local ok=""
    for _ in $(seq 1 120); do
      if "$keel" bench mqtt --host "127.0.0.$i" --port "$mqtt_port" --qos 1 --count 1 --client-prefix "ready-$name-$i" >/dev/null 2>&1; then
        ok=1
        break
      fi
      sleep 0.5
    done
    [ -n "$ok" ] || { echo "node $i of $name did not serve MQTT" >&2; tail -20 "$work/$name/n$i.log" >&2; exit 1; }
  done
}
stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 2
  pids=()
}

# run HOSTS ARGS...: one bench, its summary as JSON.
run() {
  local hosts="$1"
  shift
  "$keel" bench mqtt --host "$hosts" --port "$mqtt_port" --duration "$seconds" --warmup 1 --payload 100 --json "$@" 2>/dev/null
}
# field PATH: a field of the JSON summary on stdin (dots for nesting), rounded.
field() {
  python3 -c 'import json,sys
d = json.loads(sys.stdin.read() or "{}")
for k in sys.argv[1].split("."):
    d = d.get(k, "") if isinstance(d, dict) else ""
print(round(d) if isinstance(d, float) else d)' "$1"
}
declare -A results
measure() { # measure LABEL HOSTS ARGS...
  local label="$1" hosts="$2"
  shift 2
  local json
  json="$(run "$hosts" "$@")"
  results["$label,rate"]="$(echo "$json" | field received_per_s)"
  results["$label,p50"]="$(echo "$json" | field latency.p50_us)"
  results["$label,p99"]="$(echo "$json" | field latency.p99_us)"
  results["$label,lost"]="$(echo "$json" | field lost)"
}

start_nodes single 1
measure single-q0 127.0.0.1 --qos 0
measure single-q1 127.0.0.1 --qos 1 --inflight 1000
measure single-q1r 127.0.0.1 --qos 1 --inflight 1000 --rate 20000
stop_nodes
start_nodes cluster 3
# The subscriber on node 1, the publisher on node 2.
measure cluster-q0 127.0.0.1,127.0.0.2 --qos 0
measure cluster-q1 127.0.0.1,127.0.0.2 --qos 1 --inflight 1000
measure cluster-q1r 127.0.0.1,127.0.0.2 --qos 1 --inflight 1000 --rate 20000
stop_nodes

echo "Keel $(git rev-parse --short HEAD 2>/dev/null), $(date +%F), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | single node | 3 nodes, cross-broker |"
echo "| --- | ---: | ---: |"
for run in "q0:QoS 0 flat out" "q1:QoS 1 flat out" "q1r:QoS 1 at 20000 msgs/s"; do
  key="${run%%:*}" label="${run#*:}"
  for f in rate p50 p99 lost; do # received msgs/s, latency µs, lost messages
    echo "| $label: $f | ${results[single-$key,$f]} | ${results[cluster-$key,$f]} |"
  done
done
