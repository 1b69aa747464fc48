#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ (libFuzzer over Keel's decoders) for FUZZ_SECONDS each
# (default 30) and prints each one's executions; a crash stops with its input kept under
# fuzz/artifacts/. Installs cargo-fuzz if missing. Stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz
# pass its -Z flags; no sanitizer (`-s none`: the targets check bounds themselves, Rust checks the
# rest). Not yet run by .ci/run (issue 9).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-30}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none
status=0
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  if out="$(cargo fuzz run -s none "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1)"; then
    runs="$(echo "$out" | grep -o 'Done [0-9]* runs' | tail -1)"
    echo "fuzz $target: ${runs:-no summary}, no crash"
  else
    status=1
    echo "fuzz $target: CRASH"
    echo "$out" | tail -30
  fi
done
exit "$status"
