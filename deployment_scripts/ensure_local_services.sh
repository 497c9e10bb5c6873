#!/usr/bin/env bash
# Start the local PostgreSQL that the test suite uses, if it is installed but stopped.
# Idempotent: does nothing when it already answers. Never fails the caller by itself;
# the test target decides whether a missing database is fatal.
set -u

if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    echo "Starting PostgreSQL ${version}..."
    pg_ctlcluster --skip-systemctl-redirect "${version}" main start 2>&1 || true
  done
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
    sleep 1
  done
fi
echo "PostgreSQL is not available on 127.0.0.1:5432"
exit 0
