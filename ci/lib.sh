# Shell helpers shared by the ci/ scripts that run `keel` processes; sourced (`. ci/lib.sh`) from
# the repository's root.

# work_dir NAME: a temporary directory in `work`, and `pids`, the processes to stop: at exit both
# go (the processes get SIGTERM, then SIGKILL a second later).
work_dir() {
  work="$(mktemp -d "/tmp/keel-$1.XXXXXX")"
  pids=()
  trap stop_all EXIT INT TERM
}

stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}

# A TCP port free on loopback now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# apt_install PACKAGE...: installs the Debian packages not installed yet (none: nothing runs).
apt_install() {
  local missing=() pkg sudo=""
  for pkg in "$@"; do
    dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
