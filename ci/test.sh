#!/usr/bin/env bash
# The README's test command: every test of the workspace, the seeded simulations included; then
# the storage engine tests with the rocksdb feature, only those on RocksDB (the shared suite and
# the model test; the filter `rocks` skips the engines that ran already). Ends with one line
# summing every test binary's result, both runs included.
# The rocksdb run builds RocksDB's C++ once per target directory (20-30 minutes on 2 cores, kept
# in $CARGO_TARGET_DIR): later runs rebuild nothing. It keeps one feature set on purpose: a
# different set of features on keel-storage would build the C++ again.
set -euo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --features sim 2>&1 | tee "$log" || status=$?
cargo test -p keel-storage --features rocksdb --test engines -- rocks 2>&1 | tee -a "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
