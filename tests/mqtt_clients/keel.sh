#!/usr/bin/env bash
# Starts Keel for the MQTT client suite: `keel.sh KEEL_BINARY DIR plain|acl|cluster` writes the
# configs under DIR, starts the node(s) in the background and waits until each serves MQTT
# (a QoS 1 publish acknowledged), then prints, on one line: the MQTT port(s) (comma-separated
# for a cluster), the WebSocket port, the TLS port (certificate: tests/data/test-cert.pem, for
# localhost and 127.0.0.1) and the PIDs ("none" for a listener a mode has not). `acl` makes users and rules from
# users.json (password hashes from `keel passwd`). Loopback only; ports picked free.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
keel="${1:?usage: keel.sh KEEL_BINARY DIR plain|acl|cluster}"
dir="${2:?usage: keel.sh KEEL_BINARY DIR plain|acl|cluster}"
mode="${3:-plain}"
users="${USERS_FILE:-$here/users.json}"
mkdir -p "$dir"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The [mqtt] section of the acl mode: users (hashed) and rules from the users file.
acl_section() {
  python3 - "$users" "$keel" <<'PY'
import json, subprocess, sys
spec = json.load(open(sys.argv[1]))
keel = sys.argv[2]
out = ["[mqtt]", "sys_interval_s = 0", f"allow_anonymous = {str(spec.get('anonymous', False)).lower()}",
       'acl_default = "deny"', ""]
for user in spec["users"]:
    snippet = subprocess.run([keel, "passwd", user["username"]], input=user["password"] + "\n",
                             capture_output=True, text=True, check=True).stdout
    out.append(snippet.strip())
    out.append("")
def rule(user, topic, access):
    topic = topic.replace("{run}", "+")  # the suite puts a per-run token where the file says {run}
    out.extend(["[[mqtt.acl]]", f'username = "{user}"', f'topic = "{topic}"', f'access = "{access}"',
                'permission = "allow"', ""])
for user, topic in spec.get("allowed_publish", []):
    rule(user, topic, "publish")
for user, topic in spec.get("allowed_subscribe", []):
    rule(user, topic, "subscribe")
if spec.get("observer"):
    rule(spec["observer"], "#", "subscribe")
if spec.get("suite_user"):
    rule(spec["suite_user"], "#", "all")
    rule(spec["suite_user"], "$keeltest/#", "all")
print("\n".join(out))
PY
}

# node_config ID RPC ADMIN MQTT WS TLS PEERS EXTRA
node_config() {
  local id="$1" rpc="$2" admin="$3" mqtt="$4" ws="$5" tls="$6" peers="$7" extra="$8"
  cat >"$dir/n$id.toml" <<TOML
node_id = $id
data_dir = "$dir/data$id"
[rpc]
listen = "127.0.0.1:$rpc"
[admin]
listen = "127.0.0.1:$admin"
[broker]
mqtt_listen = "127.0.0.1:$mqtt"
mqtt_ws_listen = "$ws"
mqtt_tls_listen = "$tls"
kafka_listen = ""
tls_cert_file = "$([ -n "$tls" ] && echo "$here/../data/test-cert.pem")"
tls_key_file = "$([ -n "$tls" ] && echo "$here/../data/test-key.pem")"
[log]
level = "info,openraft=warn"
$peers
$extra
TOML
}

# Waits until the broker on port $1 acknowledges a QoS 1 publish (as $2/$3 if given).
wait_serving() {
  local port="$1" auth=()
  [ -n "${2:-}" ] && auth=(-u "$2" -P "$3")
  for _ in $(seq 1 120); do
    if mosquitto_pub -h 127.0.0.1 -p "$port" "${auth[@]}" -q 1 -t 'keeltest/ready' -m ready -i "ready-$port" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "keel.sh: the broker on port $port did not serve MQTT within 60 s" >&2
  return 1
}

pids=()
ports=()
case "$mode" in
  plain|acl)
    rpc=$(free_port) admin=$(free_port) mqtt=$(free_port) ws=$(free_port) tls=$(free_port)
    extra="[mqtt]
sys_interval_s = 0"
    auth=()
    if [ "$mode" = acl ]; then
      extra="$(acl_section)"
      suite=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); u=[x for x in s["users"] if x["username"]==s["suite_user"]][0]; print(u["username"], u["password"])' "$users")
      read -r -a auth <<<"$suite"
    fi
    node_config 1 "$rpc" "$admin" "$mqtt" "127.0.0.1:$ws" "127.0.0.1:$tls" "" "$extra"
    "$keel" server --config "$dir/n1.toml" >"$dir/n1.log" 2>&1 &
    pids+=($!)
    wait_serving "$mqtt" "${auth[@]}"
    ports=("$mqtt")
    ;;
  cluster)
    declare -a rpcs admins mqtts
    for i in 1 2 3; do rpcs[$i]=$(free_port); admins[$i]=$(free_port); mqtts[$i]=$(free_port); done
    peers="[meta.peers]
1 = \"127.0.0.1:${rpcs[1]}\"
2 = \"127.0.0.1:${rpcs[2]}\"
3 = \"127.0.0.1:${rpcs[3]}\""
    for i in 1 2 3; do
      node_config "$i" "${rpcs[$i]}" "${admins[$i]}" "${mqtts[$i]}" "" "" "$peers" "[mqtt]
sys_interval_s = 0"
      "$keel" server --config "$dir/n$i.toml" >"$dir/n$i.log" 2>&1 &
      pids+=($!)
    done
    for i in 1 2 3; do wait_serving "${mqtts[$i]}"; ports+=("${mqtts[$i]}"); done
    ws="" tls=""
    ;;
  *)
    echo "keel.sh: unknown mode $mode (plain, acl or cluster)" >&2
    exit 2
    ;;
esac
(IFS=,; echo "${ports[*]} ${ws:-none} ${tls:-none} ${pids[*]}")
