#!/usr/bin/env bash
# Installs everything Switchboard's demo and tests need on Debian 12: system packages (apt) and a virtualenv
# in .venv with the project and its test dependencies. Idempotent; run as root (or with sudo available).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# systemd: `systemd-analyze verify` checks packaging/systemd/switchboard.service (tests/unit/test_systemd_unit.py).
# chromium, chromium-driver: the pages' e2e tests drive Debian's headless Chromium.
# iproute2: `ss` shows the FastAGI listener's accept-queue depth (tests/protocol/test_agi_server.py).
packages=(debootstrap sip-tester redis-server redis-tools prometheus python3-venv ca-certificates curl graphviz systemd
          chromium chromium-driver iproute2)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's redis-server package starts a system instance; the tests and demo run their own on free ports.
python=${PYTHON:-python3}
if [ ! -x "$here/.venv/bin/python" ]; then
  "$python" -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install -q --upgrade pip
"$here/.venv/bin/python" -m pip install -q -e "$here[test]"
echo "dependencies installed: $("$here/.venv/bin/python" --version), $(sipp -v 2>/dev/null | grep -o 'v[0-9.]*' | head -1) sipp, $(redis-server --version | awk '{print $3}')"
