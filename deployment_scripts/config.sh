#!/usr/bin/env bash
# Shared settings for the deployment scripts; override any of them in the environment.
D0010_USER="${D0010_USER:-d0010}"
D0010_HOME="${D0010_HOME:-/srv/d0010}"
D0010_ENV_FILE="${D0010_ENV_FILE:-/etc/d0010/d0010.env}"
D0010_DB_NAME="${D0010_DB_NAME:-d0010}"
D0010_DB_USER="${D0010_DB_USER:-d0010}"
D0010_INBOX="${D0010_INBOX:-/var/lib/d0010/inbox}"
D0010_MEDIA="${D0010_MEDIA:-/var/lib/d0010/media}"
D0010_BIND="${D0010_BIND:-127.0.0.1:8000}"
D0010_HOSTS="${D0010_HOSTS:-$(hostname -f 2>/dev/null || hostname)}"
# The interpreter for the virtualenv: Debian 13's python3 is 3.13.
D0010_PYTHON="${D0010_PYTHON:-python3}"
