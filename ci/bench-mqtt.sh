#!/usr/bin/env bash
# Keel's MQTT front-end against Mosquitto, on this machine, in one run: both brokers on
# loopback, the same `keel bench mqtt` load against each, one after the other, then a table
# of Keel, Mosquitto and their ratio. Not part of ci/test.sh: a measurement, not a check
# (though it fails if a QoS 1/2 run lost messages or a broker would not start).
#
#   ci/bench-mqtt.sh            # everything, about 5 minutes plus the release build
#   BENCH_SECONDS=3 BENCH_IDLE=2000 BENCH_PERSISTENT=1000 ci/bench-mqtt.sh   # a quick look
#
# The runs: (1) QoS 0 flat out 1->1, 100 B payloads; (2) QoS 1 flat out (Keel on its durable
# default engine, "segment"); (3) QoS 2 flat out; (4) QoS 1 at a fixed 20,000 msgs/s, for
# latency; (5) idle connections and the broker's resident memory before and after;
# (6) persistent sessions connecting and subscribing (QoS 1) per second.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${BENCH_SECONDS:-10}"
idle_wanted="${BENCH_IDLE:-50000}"
persistent="${BENCH_PERSISTENT:-10000}"
fixed_rate="${BENCH_RATE:-20000}"
# Bounds on every step, in seconds.
run_timeout=$((seconds + 240))
start_timeout=60
idle_connect_timeout=600

target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p keel
keel="$target/release/keel"

work="$(mktemp -d /tmp/keel-bench-mqtt.XXXXXX)"
keel_pid=""
mosq_pid=""
bench_pid=""
cleanup() {
  for pid in $bench_pid $keel_pid $mosq_pid; do
    kill "$pid" 2>/dev/null || true
  done
  sleep 1
  for pid in $bench_pid $keel_pid $mosq_pid; do
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

notes=()
note() {
  notes+=("$*")
  echo "bench-mqtt: $*" >&2
}

# File descriptors: each idle connection costs one in the bench and one in the broker.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit="$(ulimit -n)"
idle="$idle_wanted"
if [ "$fd_limit" != unlimited ] && [ $((fd_limit - 1000)) -lt "$idle" ]; then
  idle=$((fd_limit - 1000))
  note "(5) ran with $idle idle connections, not $idle_wanted: the open-files limit is $fd_limit (hard), and each connection needs a descriptor in the bench and one in the broker"
fi

# Loopback ports below the ephemeral range (so no client socket takes them), free now.
used_ports=" "
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    case "$used_ports" in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      used_ports="$used_ports$port "
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# More than one source port range's worth of connections to one address needs several
# destination addresses (keel_rt::net has no bind-before-connect for source addresses): then
# the brokers listen on every interface and the bench spreads over 127.0.0.1..127.0.0.N.
read -r eph_low eph_high </proc/sys/net/ipv4/ip_local_port_range
per_address=$((eph_high - eph_low - 1000))
listen_host=127.0.0.1
bench_hosts=127.0.0.1
if [ "$idle" -gt "$per_address" ]; then
  listen_host=0.0.0.0
  bench_hosts="$(seq -s, -f '127.0.0.%g' 1 $(((idle + per_address - 1) / per_address)))"
  note "(5) $idle connections > $per_address ephemeral ports: brokers on 0.0.0.0, clients spread over $bench_hosts"
fi

keel_port="$(free_port)"
mosq_port="$(free_port)"

# Waits until $2 (a file) contains $3, or $1 seconds; false if it never did.
wait_for() {
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    grep -q "$3" "$2" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

start_keel() {
  mkdir -p "$work/keel-data"
  cat >"$work/keel.toml" <<EOF
data_dir = "$work/keel-data"
[rpc]
listen = "127.0.0.1:$(free_port)"
[admin]
listen = "127.0.0.1:$(free_port)"
[broker]
mqtt_listen = "$listen_host:$keel_port"
mqtt_ws_listen = ""
kafka_listen = ""
[mqtt]
sys_interval_s = 0
[log]
level = "info,openraft=warn,keel::broker::mqtt::connection=warn"
EOF
  "$keel" server --config "$work/keel.toml" >"$work/keel.log" 2>&1 &
  keel_pid=$!
  if ! wait_for "$start_timeout" "$work/keel.log" "MQTT front-end ready"; then
    tail -20 "$work/keel.log" >&2
    echo "bench-mqtt: Keel did not start within ${start_timeout}s" >&2
    exit 1
  fi
}

start_mosquitto() {
  if ! command -v mosquitto >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq mosquitto) >"$work/apt.log" 2>&1 || true
  fi
  if ! command -v mosquitto >/dev/null; then
    note "Mosquitto is not installed and could not be (apt-get install mosquitto failed): Keel only"
    return 0
  fi
  local listener="listener $mosq_port 127.0.0.1"
  [ "$listen_host" = 0.0.0.0 ] && listener="listener $mosq_port"
  cat >"$work/mosquitto.conf" <<EOF
$listener
allow_anonymous true
set_tcp_nodelay true
max_inflight_messages 0
max_queued_messages 1000000
max_connections -1
persistence false
log_dest stderr
log_type error
log_type warning
EOF
  mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
  mosq_pid=$!
  local deadline=$((SECONDS + start_timeout))
  until (exec 3<>"/dev/tcp/127.0.0.1/$mosq_port") 2>/dev/null; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$mosq_pid" 2>/dev/null; then
      cat "$work/mosquitto.log" >&2
      note "Mosquitto did not start: Keel only"
      mosq_pid=""
      return 0
    fi
    sleep 0.2
  done
  mosquitto_version="$(mosquitto -h 2>/dev/null | head -1 || true)"
}

# One field of a JSON summary (flat keys; the latency keys are unique too).
field() {
  sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$1" | head -1 | tr -d '"'
}

failed=0
# run_bench NAME BROKER PORT ARGS...: the summary goes to $work/NAME-BROKER.json.
run_bench() {
  local name=$1 broker=$2 port=$3
  shift 3
  local out="$work/$name-$broker.json"
  echo "bench-mqtt: ($name) $broker: keel bench mqtt $*" >&2
  if ! timeout "$run_timeout" "$keel" bench mqtt --host "$bench_hosts" --port "$port" --json "$@" \
    >"$out" 2>"$work/$name-$broker.err"; then
    tail -3 "$work/$name-$broker.err" >&2
    note "($name) $broker: the bench failed: $(tail -1 "$work/$name-$broker.err")"
    failed=1
  fi
}

rss_kib() {
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}

# run_idle BROKER PORT PID: connects $idle clients, reads the broker's RSS before and after.
run_idle() {
  local broker=$1 port=$2 pid=$3 hold=$((seconds + 5))
  local out="$work/5-$broker.json" err="$work/5-$broker.err"
  local before
  before="$(rss_kib "$pid")"
  echo "bench-mqtt: (5) $broker: keel bench mqtt --connections $idle --duration $hold" >&2
  timeout $((idle_connect_timeout + hold + 120)) "$keel" bench mqtt --host "$bench_hosts" --port "$port" --json \
    --connections "$idle" --duration "$hold" >"$out" 2>"$err" &
  bench_pid=$!
  if wait_for "$idle_connect_timeout" "$err" "bench: connected"; then
    sleep 2
  else
    note "(5) $broker: the clients were not all connected within ${idle_connect_timeout}s"
  fi
  local after
  after="$(rss_kib "$pid")"
  wait "$bench_pid" || { note "(5) $broker: $(tail -1 "$err")"; failed=1; }
  bench_pid=""
  echo "$before $after" >"$work/5-$broker.rss"
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
start_keel
start_mosquitto
brokers="keel"
[ -n "$mosq_pid" ] && brokers="keel mosquitto"
port_of() { if [ "$1" = keel ]; then echo "$keel_port"; else echo "$mosq_port"; fi; }
pid_of() { if [ "$1" = keel ]; then echo "$keel_pid"; else echo "$mosq_pid"; fi; }

common=(--duration "$seconds" --warmup 1 --payload 100)
# QoS 1/2 publishers keep this many messages unacknowledged (the same for both brokers; Keel's
# Receive Maximum is 1024, Mosquitto's is unlimited here): a broker that acknowledges after a
# synced, replicated write needs a window to keep its disk busy.
window=(--inflight "${BENCH_INFLIGHT:-1000}")
for b in $brokers; do run_bench 1 "$b" "$(port_of "$b")" "${common[@]}" --qos 0 --topic-prefix bench1; done
for b in $brokers; do run_bench 2 "$b" "$(port_of "$b")" "${common[@]}" "${window[@]}" --qos 1 --topic-prefix bench2; done
for b in $brokers; do run_bench 3 "$b" "$(port_of "$b")" "${common[@]}" "${window[@]}" --qos 2 --topic-prefix bench3; done
for b in $brokers; do
  run_bench 4 "$b" "$(port_of "$b")" "${common[@]}" "${window[@]}" --qos 1 --rate "$fixed_rate" --topic-prefix bench4
done
for b in $brokers; do run_idle "$b" "$(port_of "$b")" "$(pid_of "$b")"; done
for b in $brokers; do
  run_bench 6 "$b" "$(port_of "$b")" --connections "$persistent" --persistent --client-prefix "bench-$$"
done

# The table.
value() { # value TEST BROKER FIELD
  local f="$work/$1-$2.json"
  [ -s "$f" ] && field "$f" "$3" || echo ""
}
fmt() { # a number rounded, or n/a
  if [ -z "$1" ]; then echo "n/a"; else awk -v v="$1" 'BEGIN { printf (v >= 100 || v == int(v) ? "%.0f" : "%.1f"), v }'; fi
}
ratio() {
  if [ -z "$1" ] || [ -z "$2" ]; then echo "n/a"; else awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; fi
}
row() { # row LABEL KEEL MOSQUITTO
  printf '| %s | %s | %s | %s |\n' "$1" "$(fmt "$2")" "$(fmt "$3")" "$(ratio "$2" "$3")"
}
rss() { # rss BROKER INDEX(1 before, 2 after)
  [ -s "$work/5-$1.rss" ] && awk -v i="$2" '{print $i / 1024}' "$work/5-$1.rss" || echo ""
}
per_conn() { # KiB of RSS per connected client
  local f="$work/5-$1.rss" n
  n="$(value 5 "$1" connected)"
  [ -s "$f" ] && [ -n "$n" ] && [ "$n" -gt 0 ] && awk -v n="$n" '{print ($2 - $1) / n}' "$f" || echo ""
}

{
  echo "Keel $(git rev-parse --short HEAD) vs ${mosquitto_version:-Mosquitto (not run)}; $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), load average before the runs: $load_before"
  echo
  echo "| run | Keel | Mosquitto | Keel / Mosquitto |"
  echo "| --- | ---: | ---: | ---: |"
  for t in 1 2 3; do
    q=$((t - 1))
    row "($t) QoS $q flat out 1→1, 100 B: sent msgs/s" "$(value $t keel sent_per_s)" "$(value $t mosquitto sent_per_s)"
    row "($t) QoS $q flat out 1→1, 100 B: received msgs/s" "$(value $t keel received_per_s)" "$(value $t mosquitto received_per_s)"
    row "($t) QoS $q: latency p50 µs" "$(value $t keel p50_us)" "$(value $t mosquitto p50_us)"
    row "($t) QoS $q: latency p99 µs" "$(value $t keel p99_us)" "$(value $t mosquitto p99_us)"
    row "($t) QoS $q: lost" "$(value $t keel lost)" "$(value $t mosquitto lost)"
  done
  for p in p50_us p99_us p999_us max_us; do
    row "(4) QoS 1 at $fixed_rate msgs/s: latency ${p%_us} µs" "$(value 4 keel $p)" "$(value 4 mosquitto $p)"
  done
  row "(4) QoS 1 at $fixed_rate msgs/s: sent msgs/s" "$(value 4 keel sent_per_s)" "$(value 4 mosquitto sent_per_s)"
  row "(4) QoS 1 at $fixed_rate msgs/s: received msgs/s" "$(value 4 keel received_per_s)" "$(value 4 mosquitto received_per_s)"
  row "(5) $idle idle connections: connected" "$(value 5 keel connected)" "$(value 5 mosquitto connected)"
  row "(5) connections/s" "$(value 5 keel connected_per_s)" "$(value 5 mosquitto connected_per_s)"
  row "(5) broker RSS before, MiB" "$(rss keel 1)" "$(rss mosquitto 1)"
  row "(5) broker RSS with them, MiB" "$(rss keel 2)" "$(rss mosquitto 2)"
  row "(5) RSS per connection, KiB" "$(per_conn keel)" "$(per_conn mosquitto)"
  row "(6) $persistent persistent sessions: connect + subscribe/s" "$(value 6 keel connected_per_s)" "$(value 6 mosquitto connected_per_s)"
  row "(6) per client p99 µs" "$(value 6 keel p99_us)" "$(value 6 mosquitto p99_us)"
  echo
  for n in "${notes[@]}"; do echo "- $n"; done
} | tee "$work/table.md"
cp "$work/table.md" "${BENCH_TABLE_OUT:-/dev/null}" 2>/dev/null || true

# Broker health after the runs.
if [ -n "$keel_pid" ] && ! kill -0 "$keel_pid" 2>/dev/null; then
  echo "bench-mqtt: Keel exited during the runs; its log's end:" >&2
  tail -20 "$work/keel.log" >&2
  failed=1
fi
if grep -qE "ERROR|WARN" "$work/keel.log"; then
  echo "bench-mqtt: Keel logged warnings or errors (first 10):" >&2
  grep -E "ERROR|WARN" "$work/keel.log" | head -10 >&2
fi
exit "$failed"
