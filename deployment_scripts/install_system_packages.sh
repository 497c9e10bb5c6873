#!/usr/bin/env bash
# Debian packages: Python 3.13 (Debian 13's python3), PostgreSQL, Redis.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(python3 python3-venv python3-dev build-essential libpq-dev
          postgresql redis-server rsync ca-certificates)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
python3 -c 'import sys; assert sys.version_info[:2] >= (3, 13), sys.version' \
  || { echo "python3 is older than 3.13: use Debian 13 or install 3.13" >&2; exit 1; }
systemctl enable --now postgresql redis-server
