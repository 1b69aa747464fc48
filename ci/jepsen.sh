#!/usr/bin/env bash
# Short Jepsen-style runs of the keel binary (jepsen/, docs/jepsen.md): five real processes on
# loopback, every inter-node link through the harness's fault-injecting proxies. Each workload
# runs JEPSEN_SECONDS (default 30) under kills, pauses, partitions, clock offsets (libfaketime)
# and, for the log, file damage,
# then heals, recovers, drains and checks, and must be valid; then the deliberately broken build
# (storage.unsafe_ack_before_replication, a debug-build switch) under the log workload must be
# reported invalid. Results folders (history, verdict, plots, node logs) go to JEPSEN_OUT
# (default: a temporary directory, removed unless a run failed). Ends with one summary line,
# `jepsen: N passed, M failed`, that ci/test.sh adds to its total.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/lib.sh
# Clock faults run the nodes under libfaketime (Debian's faketime).
apt_install faketime
seconds="${JEPSEN_SECONDS:-30}"
target="${CARGO_TARGET_DIR:-target}"
out="${JEPSEN_OUT:-$(mktemp -d /tmp/keel-jepsen.XXXXXX)}"
cargo build --quiet -p keel -p keel-jepsen
harness=("$target/debug/keel-jepsen" --keel "$target/debug/keel" --nodes 5)

passed=0
failed=0
# run NAME SECONDS ARGS...: one harness run of SECONDS under faults into $out/NAME; counts it.
run() {
  local name="$1" limit="$2"
  shift 2
  local started=$SECONDS
  if "${harness[@]}" --time-limit "$limit" --out "$out/$name" "$@"; then
    passed=$((passed + 1))
    echo "jepsen $name: as expected ($((SECONDS - started)) s)"
  else
    failed=$((failed + 1))
    echo "jepsen $name: FAILED ($((SECONDS - started)) s); results in $out/$name"
    tail -5 "$out/$name"/nodes/n*/keel.log 2>/dev/null | cut -c1-300 || true
  fi
}

run log "$seconds" --workload log --concurrency 6 --nemesis kill,pause,partition,disk,clock --seed 1
run metadata "$seconds" --workload metadata --concurrency 4 --nemesis kill,pause,partition,clock --seed 2
run kafka "$seconds" --workload kafka --concurrency 4 --nemesis kill,pause,partition --seed 3
run mqtt "$seconds" --workload mqtt --mqtt-qos 1,2 --concurrency 4 --nemesis kill,pause,partition --seed 4
# The broken build must be caught: acknowledged records lost. Every fault isolates a shard
# leader long enough for meta to elect another; what the old leader acknowledged alone and no
# follower fetched before the cut is lost. Whether such a record exists when the cut comes is a
# matter of timing (a few milliseconds of replication lag; a loaded machine shifts it), so the
# check takes up to three seeds and passes on the first run reported invalid, as Jepsen finds
# bugs over repeated runs.
caught=0
for seed in 5 6 7; do
  started=$SECONDS
  if "${harness[@]}" --time-limit "$((seconds + 15))" --out "$out/broken-build-$seed" --workload log \
    --concurrency 6 --nemesis partition --fault-seconds 10,12 --leader-bias 1 \
    --unsafe-ack-before-replication --expect invalid --seed "$seed"; then
    caught=1
    echo "jepsen broken-build: caught with seed $seed ($((SECONDS - started)) s)"
    break
  fi
  echo "jepsen broken-build: not caught with seed $seed ($((SECONDS - started)) s); results in $out/broken-build-$seed"
done
if [ "$caught" -eq 1 ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "jepsen broken-build: FAILED (the broken build passed every seed)"
fi

echo "jepsen: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ -z "${JEPSEN_OUT:-}" ] && rm -rf "$out"
[ "$failed" -eq 0 ]
