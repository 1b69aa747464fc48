#!/usr/bin/env bash
# Installs what the MQTT real-client conformance suite (tests/mqtt_clients/) needs: Mosquitto 2.x
# (broker and the mosquitto_pub/mosquitto_sub clients; the broker is not started here) and
# paho-mqtt 2.x for python3. Idempotent: a machine that already has them skips apt and pip.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
missing=()
for pkg in mosquitto mosquitto-clients; do
  dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian's package enables and may start the system service; the suite starts its own brokers.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
fi
if ! python3 -c 'import paho.mqtt, sys; sys.exit(0 if paho.mqtt.__version__.startswith("2.") else 1)' 2>/dev/null; then
  python3 -m pip install -q --root-user-action=ignore 'paho-mqtt==2.*'
fi
