#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver for the browser tests when missing.
# In CI (CI=true) a browser that cannot be installed fails the build; elsewhere the
# browser tests are skipped with a message.
set -u

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing chromium and chromium-driver for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; then
    exit 0
  fi
fi
if [ "${CI:-}" = "true" ]; then
  echo "chromium and chromium-driver are missing and could not be installed" >&2
  exit 1
fi
echo "chromium/chromium-driver not installed (needs root: apt-get install chromium chromium-driver); browser tests will be skipped"
exit 0
