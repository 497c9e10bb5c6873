#!/usr/bin/env bash
# Install the web, worker, inbox and recovery units from systemd/ and (re)start them.
# Idempotent.
set -euo pipefail
source "$(dirname "$0")/config.sh"
units_dir="$(cd "$(dirname "$0")" && pwd)/systemd"

for unit in d0010-web.service d0010-worker.service d0010-inbox.service \
  d0010-recover.service d0010-recover.timer; do
  sed -e "s|@USER@|$D0010_USER|g" -e "s|@HOME@|$D0010_HOME|g" \
      -e "s|@ENV_FILE@|$D0010_ENV_FILE|g" -e "s|@INBOX@|$D0010_INBOX|g" \
      -e "s|@BIND@|$D0010_BIND|g" "$units_dir/$unit" > "/etc/systemd/system/$unit.new"
  if ! cmp -s "/etc/systemd/system/$unit.new" "/etc/systemd/system/$unit"; then
    mv "/etc/systemd/system/$unit.new" "/etc/systemd/system/$unit"
  else
    rm "/etc/systemd/system/$unit.new"
  fi
done
systemctl daemon-reload
systemctl enable d0010-web.service d0010-worker.service d0010-inbox.service d0010-recover.timer
systemctl restart d0010-web.service d0010-worker.service d0010-inbox.service
# A recovery pass every minute: imports a dead process left unfinished are ended or
# run again (documentation/DEPLOYMENT_GUIDE.md).
systemctl restart d0010-recover.timer
