#!/usr/bin/env bash
# Debian packages glassbench needs: libopus0 (opuslib), chromium (browser check of the report),
# nodejs/npm only if missing (Allure 3 report generator), socat (pty tooling), ser2net (labgrid exporter:
# serial ports over the network, docs/lab.md).
# Installs them when run as root; otherwise prints the exact command to run.
set -euo pipefail
pkgs=(libopus0 socat chromium ser2net)
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) -eq 0 ]]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "glassbench needs Debian packages: ${missing[*]}" >&2
  echo "run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
