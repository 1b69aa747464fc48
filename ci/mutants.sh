#!/usr/bin/env bash
# Mutation testing of the kernel (issue 9), run by hand, not in CI (a full pass is hours on 2
# cores). cargo-mutants mutates one function at a time and runs the crate's tests:
#   replication  storage/src/replication/*.rs  cargo test -p keel-storage --lib --tests
#   segment      storage/src/segment/*.rs      cargo test -p keel-storage --lib --tests
#   schedule     src/meta/schedule.rs          cargo test -p keel --lib
# then, unless MUTANTS_SIM=0, runs the storage cluster simulation
# (storage_keeps_acknowledged_records, sim/tests/meta_cluster.rs, under --cfg madsim) on each
# mutant the tests missed. docs/mutants.md has the scores and every mutant left.
#
# Usage: ci/mutants.sh [GROUP...]   (default: all three)
# Env:   MUTANTS_RE       only the mutants whose names (as `cargo mutants --list` shows them)
#                         match this regex, e.g. 'become_leader|undo_write'
#        MUTANTS_FILE     only this file of the group (a path or glob under the group's folder)
#        MUTANTS_TIMEOUT  seconds for one mutant's tests (default 120)
#        MUTANTS_SIM      0: skip the simulation step
#        SIM_SEEDS        seeds of the simulation per mutant (default 60, as in CI)
#        MUTANTS_TARGET   the target directory of the mutated builds (default below)
#        MUTANTS_OUT      where results go (default target/mutants: <group>/mutants.out/ with
#                         caught.txt, missed.txt, ..., and <group>-sim/ for the simulation step)
#
# The mutants are applied to a copy of the checkout (tracked and untracked files, as they are
# now), never to the checkout itself; it builds in $CARGO_TARGET_DIR/mutants (default
# target/mutants/build), one mutant at a time (`--in-place` cannot run jobs in parallel), niced.
# Installs cargo-mutants if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
command -v cargo-mutants >/dev/null 2>&1 || cargo install cargo-mutants --locked

out="$(realpath -m "${MUTANTS_OUT:-target/mutants}")"
target="${CARGO_TARGET_DIR:-$out/build}"
[ -n "${CARGO_TARGET_DIR:-}" ] && target="$CARGO_TARGET_DIR/mutants"
target="${MUTANTS_TARGET:-$target}"
timeout="${MUTANTS_TIMEOUT:-120}"
seeds="${SIM_SEEDS:-60}"
src="$out/src"
mkdir -p "$out"

# The copy the mutants are applied to. Its files get new times (-m): the last build in the
# target directory may be of a mutant, and files restored with older times would look built.
rm -rf "$src"
mkdir -p "$src"
git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -xmf - -C "$src"
cd "$src"

# group → package, files, cargo test arguments, and whether the simulation runs on its misses.
spec() {
  case "$1" in
    replication) echo "keel-storage|storage/src/replication/${MUTANTS_FILE:-*.rs}|--lib --tests|sim" ;;
    segment) echo "keel-storage|storage/src/segment/${MUTANTS_FILE:-*.rs}|--lib --tests|sim" ;;
    schedule) echo "keel|src/meta/schedule.rs|--lib|sim" ;;
    *)
      echo "unknown group $1 (replication, segment, schedule)" >&2
      exit 2
      ;;
  esac
}

# count DIR FILE: lines of DIR/mutants.out/FILE (0 if absent).
count() {
  local f="$1/mutants.out/$2"
  if [ -f "$f" ]; then wc -l <"$f" | tr -d ' '; else echo 0; fi
}

# A regex matching exactly the names listed in FILE, one per line.
names_regex() {
  python3 -c 'import re, sys; print("^(" + "|".join(re.escape(l.rstrip("\n")) for l in open(sys.argv[1]) if l.strip()) + ")$")' "$1"
}

summary=()
groups=("$@")
[ "${#groups[@]}" -gt 0 ] || groups=(replication segment schedule)
for group in "${groups[@]}"; do
  IFS='|' read -r package files test_args sim <<<"$(spec "$group")"
  filter=()
  [ -n "${MUTANTS_RE:-}" ] && filter=(--re "$MUTANTS_RE")
  cargo_test_args=()
  for a in $test_args; do cargo_test_args+=("--cargo-test-arg=$a"); done
  echo "== $group: cargo mutants -p $package -f '$files' ${MUTANTS_RE:+--re '$MUTANTS_RE'} (tests: $test_args)"
  CARGO_TARGET_DIR="$target" nice -n 10 cargo mutants --in-place -p "$package" -f "$files" "${filter[@]}" \
    --timeout "$timeout" "${cargo_test_args[@]}" -o "$out/$group" || true
  caught=$(count "$out/$group" caught.txt)
  missed=$(count "$out/$group" missed.txt)
  timeouts=$(count "$out/$group" timeout.txt)
  unviable=$(count "$out/$group" unviable.txt)
  line="$group: tests catch $((caught + timeouts)) of $((caught + missed + timeouts)) viable ($timeouts by timeout; $unviable unviable)"
  if [ "$sim" = sim ] && [ "$missed" -gt 0 ] && [ "${MUTANTS_SIM:-1}" != 0 ]; then
    echo "== $group: the storage simulation ($seeds seeds) on the $missed mutants the tests missed"
    re="$(names_regex "$out/$group/mutants.out/missed.txt")"
    CARGO_TARGET_DIR="$target/sim" RUSTFLAGS="--cfg madsim" KEEL_SIM_SEEDS="$seeds" KEEL_SIM_DETERMINISM=0 \
      nice -n 10 cargo mutants --in-place -p "$package" --test-package keel-sim -f "$files" --re "$re" \
      --baseline skip --timeout "$((timeout * 20))" --cargo-test-arg=--test --cargo-test-arg=meta_cluster \
      -o "$out/$group-sim" -- storage_keeps_acknowledged_records || true
    sim_caught=$(($(count "$out/$group-sim" caught.txt) + $(count "$out/$group-sim" timeout.txt)))
    line="$line; the simulation catches $sim_caught of those $missed"
  fi
  summary+=("$line")
done
cd "$root"
echo
printf '%s\n' "${summary[@]}"
echo "missed mutants: $out/<group>/mutants.out/missed.txt (and <group>-sim/ after the simulation)"
