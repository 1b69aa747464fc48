#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ (libFuzzer over Keel's decoders and recovery paths) for
# FUZZ_SECONDS each (default 30): one line per target with its executions, then
# `fuzz targets: N passed, M failed` (ci/test.sh sums it); a crash prints its tail and keeps its
# input under fuzz/artifacts/<target>/. Each target first writes its seeds (valid encodings from
# the real encoders and engines) into fuzz/corpus/<target>/ (KEEL_FUZZ_SEED_DIR).
# The build lives in $CARGO_TARGET_DIR/fuzz (FUZZ_TARGET_DIR overrides), apart from the normal
# build's flags, so CI keeps it. Installs cargo-fuzz if missing. Stable Rust: RUSTC_BOOTSTRAP=1
# lets cargo-fuzz pass its -Z flags; no sanitizer (`-s none`: Rust checks bounds itself), with
# debug assertions (`-a`: an arithmetic overflow is a crash, as in tests).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-30}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
flags=(-s none -a)
# FUZZ_PROFILE=dev builds without optimisations: a few minutes less to build cold, fewer runs per
# second; CI's few seconds per target use it (ci/test.sh), longer runs the default (release).
[ "${FUZZ_PROFILE:-release}" = dev ] && flags+=(--dev)
cargo fuzz build "${flags[@]}"
passed=0
failed=0
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  if out="$(KEEL_FUZZ_SEED_DIR="corpus/$target" cargo fuzz run "${flags[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 2>&1)"; then
    runs="$(echo "$out" | grep -o 'Done [0-9]* runs' | tail -1)"
    echo "fuzz $target: ${runs:-no summary}, no crash"
    passed=$((passed + 1))
  else
    echo "fuzz $target: CRASH"
    echo "$out" | tail -40
    failed=$((failed + 1))
  fi
done
echo "fuzz targets: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
