#!/usr/bin/env bash
# Set up (or update) a Debian 13 host to run the D0010 system: packages, PostgreSQL,
# Redis, the application, and gunicorn + Celery + the inbox watcher as systemd units.
# Idempotent: run it again after pulling a new version. Run as root from a checkout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

bash "$here/install_system_packages.sh"
bash "$here/setup_database.sh"
bash "$here/install_app.sh"
bash "$here/install_systemd_units.sh"
echo "Done. Health: curl -s http://127.0.0.1:8000/health/"
