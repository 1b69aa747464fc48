#!/usr/bin/env bash
# Formatting, and clippy with -D warnings in both the normal and the simulation configuration,
# and on the rocksdb engine.
# clippy.toml's ban list keeps time, spawning, files, sockets and randomness behind the seam.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$HOME/.cache/keel/target}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --features sim -- -D warnings
# The Jepsen harness and the rdkafka check drive real processes from outside: never built for the
# simulator.
cargo clippy --workspace --exclude keel-jepsen --exclude rdkafka-check --all-targets --target-dir "$target/sim" \
  --config 'build.rustflags=["--cfg","madsim"]' --config 'build.rustdocflags=["--cfg","madsim"]' -- -D warnings
# The rocksdb engine (feature `rocksdb`, not in simulation builds): keel-storage alone, with the
# very feature set ci/test.sh tests it with, so RocksDB's C++ is built once for both (building the
# root crate with the feature would unify bindgen's features differently and build it again).
cargo clippy -p keel-storage --all-targets --features rocksdb -- -D warnings
# The object tier's S3 client (feature `s3`), likewise alone.
cargo clippy -p keel-storage --all-targets --features s3 -- -D warnings
