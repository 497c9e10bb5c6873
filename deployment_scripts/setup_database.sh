#!/usr/bin/env bash
# A PostgreSQL role and database for the application (peer authentication over the
# local socket: the d0010 system user needs no password). Idempotent.
set -euo pipefail
source "$(dirname "$0")/config.sh"

id -u "$D0010_USER" >/dev/null 2>&1 \
  || useradd --system --home-dir "$D0010_HOME" --shell /usr/sbin/nologin "$D0010_USER"

runuser -u postgres -- psql -v ON_ERROR_STOP=1 --quiet <<SQL
SELECT 'CREATE ROLE "$D0010_DB_USER" LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$D0010_DB_USER')\gexec
SELECT 'CREATE DATABASE "$D0010_DB_NAME" OWNER "$D0010_DB_USER"'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$D0010_DB_NAME')\gexec
SQL
