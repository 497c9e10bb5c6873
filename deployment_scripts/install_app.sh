#!/usr/bin/env bash
# Copy this checkout to $D0010_HOME, build its virtualenv, write the environment file
# (a new secret key only the first time), migrate and collect static files. Idempotent.
set -euo pipefail
source "$(dirname "$0")/config.sh"
source_dir="$(cd "$(dirname "$0")/.." && pwd)"

install -d -o "$D0010_USER" -g "$D0010_USER" "$D0010_HOME" "$D0010_INBOX" "$D0010_MEDIA"
rsync -a --delete --exclude .git --exclude .venv --exclude .env --exclude 'db.sqlite3*' \
  "$source_dir/" "$D0010_HOME/app/"
chown -R "$D0010_USER:$D0010_USER" "$D0010_HOME"

if [ ! -f "$D0010_ENV_FILE" ]; then
  install -d -m 750 -o root -g "$D0010_USER" "$(dirname "$D0010_ENV_FILE")"
  umask 027
  cat > "$D0010_ENV_FILE" <<ENV
DJANGO_SECRET_KEY=$("$D0010_PYTHON" -c 'import secrets; print(secrets.token_urlsafe(50))')
DJANGO_ALLOWED_HOSTS=$D0010_HOSTS
DJANGO_CSRF_TRUSTED_ORIGINS=https://$D0010_HOSTS
DATABASE_URL=postgres://$D0010_DB_USER@/$D0010_DB_NAME
CELERY_BROKER_URL=redis://127.0.0.1:6379/0
REDIS_CACHE_URL=redis://127.0.0.1:6379/1
DJANGO_MEDIA_ROOT=$D0010_MEDIA
DJANGO_STATIC_MANIFEST=true
DJANGO_STATIC_ROOT=$D0010_HOME/static
DJANGO_BEHIND_TLS_PROXY=true
DJANGO_SECURE_SSL_REDIRECT=true
DJANGO_SECURE_HSTS_SECONDS=31536000
DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=true
DJANGO_SECURE_HSTS_PRELOAD=true
DJANGO_LOG_FORMAT=json
ENV
  chgrp "$D0010_USER" "$D0010_ENV_FILE"
  echo "Wrote $D0010_ENV_FILE (review DJANGO_ALLOWED_HOSTS)"
fi

run() { runuser -u "$D0010_USER" -- bash -c "set -a; source '$D0010_ENV_FILE'; set +a; cd '$D0010_HOME/app'; $*"; }
[ -x "$D0010_HOME/venv/bin/python" ] || runuser -u "$D0010_USER" -- "$D0010_PYTHON" -m venv "$D0010_HOME/venv"
run "$D0010_HOME/venv/bin/pip install --quiet --upgrade pip"
run "$D0010_HOME/venv/bin/pip install --quiet -r requirements.txt"
run "$D0010_HOME/venv/bin/python manage.py migrate --no-input"
run "$D0010_HOME/venv/bin/python manage.py collectstatic --no-input --verbosity 0"
run "$D0010_HOME/venv/bin/python manage.py check --deploy --fail-level WARNING"
