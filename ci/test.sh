#!/usr/bin/env bash
# The README's test command: every test of the workspace, the seeded simulations included (MQTT
# over the whole cluster among them; tests/mqtt_cluster.rs runs real processes with rumqttc); then
# the storage engine tests with the rocksdb feature, only those on RocksDB (the shared suite and
# the model test; the filter `rocks` skips the engines that ran already); then the shared suite
# on the object engine over S3 (moto's server on loopback); the real-client suites; every fuzz
# target briefly (ci/fuzz.sh, FUZZ_SECONDS each, default 5 here). Ends with one line summing
# every test binary's result, the client suites' and the fuzz targets' included.
# The rocksdb run builds RocksDB's C++ once per target directory (20-30 minutes on 2 cores, kept
# in $CARGO_TARGET_DIR): later runs rebuild nothing. It keeps one feature set on purpose: a
# different set of features on keel-storage would build the C++ again.
set -euo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
# The web console's test (tests/console.rs) drives headless Chromium through chromedriver.
. ci/lib.sh
apt_install chromium chromium-driver || { echo "could not install chromium and chromium-driver: tests/console.rs will fail"; }
cargo test --features sim 2>&1 | tee "$log" || status=$?
cargo test -p keel-storage --features rocksdb --test engines -- rocks 2>&1 | tee -a "$log" || status=$?

# The object tier on S3: moto's S3-compatible server on a loopback port, one bucket, and the
# shared suite on object engines that tier everything to it at once (feature `s3`).
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 60); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.5
done
curl -sf -o /dev/null -X PUT "http://127.0.0.1:$port/keel-test" || { echo "the S3 test server did not start"; status=1; }
AWS_ENDPOINT="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=keel AWS_SECRET_ACCESS_KEY=keel KEEL_TEST_S3_URL=s3://keel-test \
  cargo test -p keel-storage --features s3 --test engines -- object_s3 2>&1 | tee -a "$log" || status=$?
# Real MQTT clients (paho-mqtt, mosquitto_pub/sub, raw sockets) against the keel binary: a node,
# a node with users and ACLs, a three-node cluster (installs the clients if missing).
bash ci/mqtt-clients.sh 2>&1 | tee -a "$log" || status=$?
bash ci/kafka-clients.sh 2>&1 | tee -a "$log" || status=$?
# Jepsen-style runs of the binary under faults (jepsen/, docs/jepsen.md), the broken build included.
bash ci/jepsen.sh 2>&1 | tee -a "$log" || status=$?
# Every cargo-fuzz target for a few seconds from its seeds (a crash fails the run).
FUZZ_SECONDS="${FUZZ_SECONDS:-5}" FUZZ_PROFILE="${FUZZ_PROFILE:-dev}" bash ci/fuzz.sh 2>&1 | tee -a "$log" || status=$?

awk '/^test result:|^(mqtt|kafka) clients: [0-9]+ passed|^jepsen: [0-9]+ passed|^fuzz targets: [0-9]+ passed/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
