#!/usr/bin/env bash
# Starts a Mosquitto broker on a loopback port for the MQTT client suite (tests/mqtt_clients/) and
# for benchmarks: listener on 127.0.0.1:PORT, Nagle off (set_tcp_nodelay), max_packet_size 1 MiB,
# no persistence, a 1-minute max keep-alive (so MQTT 5 clients asking for more get a Server Keep
# Alive). Prints the broker's PID on stdout once the port accepts connections, and returns;
# stop it with `kill PID`. Its config and log are in $MOSQUITTO_DIR (default
# ${TMPDIR:-/tmp}/keel-mosquitto-PORT).
#
#   mosquitto.sh PORT                 anonymous clients, everything allowed
#   mosquitto.sh PORT acl [USERS]     users, passwords and ACLs made from the suite's users file
#                                     (default tests/mqtt_clients/users.json): no anonymous access
#   WS_PORT=P mosquitto.sh PORT ...   also MQTT over WebSocket on 127.0.0.1:P
#   FOREGROUND=1 mosquitto.sh ...     exec the broker in the foreground instead
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${1:?usage: mosquitto.sh PORT [acl [USERS_FILE]]}"
mode="${2:-plain}"
users="${3:-$here/users.json}"
dir="${MOSQUITTO_DIR:-${TMPDIR:-/tmp}/keel-mosquitto-$port}"
command -v mosquitto >/dev/null || { echo "mosquitto is not installed: run ci/install-mqtt-clients.sh" >&2; exit 1; }
mkdir -p "$dir"
conf="$dir/mosquitto.conf"
cat >"$conf" <<CONF
# made by tests/mqtt_clients/mosquitto.sh
user root
per_listener_settings false
persistence false
log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
set_tcp_nodelay true
max_packet_size 1048576
max_keepalive 60
listener $port 127.0.0.1
protocol mqtt
CONF
if [[ -n "${WS_PORT:-}" ]]; then
  printf 'listener %s 127.0.0.1\nprotocol websockets\n' "$WS_PORT" >>"$conf"
fi
case "$mode" in
  plain)
    echo "allow_anonymous true" >>"$conf"
    ;;
  acl)
    # The password file and the ACL file, both made from the users file (see README.md).
    rm -f "$dir/passwd"
    touch "$dir/passwd"
    python3 - "$users" "$dir/acl" <<'PY' | while IFS=$'\t' read -r u p; do mosquitto_passwd -b "$dir/passwd" "$u" "$p"; done
import json, sys
spec = json.load(open(sys.argv[1]))
run = "+"  # the suite puts a per-run token where the file says {run}
lines = []
for user in spec["users"]:
    name = user["username"]
    print(f"{name}\t{user['password']}")
    lines.append(f"user {name}")
    for entry in spec.get("allowed_publish", []):
        if entry[0] == name:
            lines.append("topic write " + entry[1].replace("{run}", run))
    for entry in spec.get("allowed_subscribe", []):
        if entry[0] == name:
            lines.append("topic read " + entry[1].replace("{run}", run))
    if name == spec.get("observer"):
        lines.append("topic read #")
    if name == spec.get("suite_user"):
        lines.append("topic readwrite #")
        lines.append("topic readwrite $keeltest/#")
    lines.append("")
open(sys.argv[2], "w").write("\n".join(lines))
PY
    anon=false
    if python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("anonymous", False) else 1)' "$users"; then anon=true; fi
    printf 'allow_anonymous %s\npassword_file %s\nacl_file %s\n' "$anon" "$dir/passwd" "$dir/acl" >>"$conf"
    ;;
  *)
    echo "unknown mode $mode (plain or acl)" >&2
    exit 2
    ;;
esac
if [[ -n "${FOREGROUND:-}" ]]; then
  exec mosquitto -c "$conf"
fi
: >"$dir/mosquitto.log"
mosquitto -c "$conf" >"$dir/stdout.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "mosquitto exited at start; see $dir/mosquitto.log and $dir/stdout.log:" >&2
    cat "$dir/stdout.log" "$dir/mosquitto.log" >&2
    exit 1
  fi
  if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' "$port" 2>/dev/null; then
    echo "mosquitto $mode on 127.0.0.1:$port (pid $pid, config $conf)" >&2
    echo "$pid"
    exit 0
  fi
  sleep 0.1
done
echo "mosquitto did not open 127.0.0.1:$port in 10 s" >&2
kill "$pid" 2>/dev/null || true
exit 1
