"""The production path: deploy checks, health, logs, deployment scripts."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from config.logging import JsonFormatter

ROOT = Path(settings.BASE_DIR)
PRODUCTION_ENVIRONMENT = {
    "DJANGO_SECRET_KEY": "k" * 20 + "production-secret-not-real-" + "x" * 30,
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "d0010.example.co.uk",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "DJANGO_BEHIND_TLS_PROXY": "true",
    "DJANGO_STATIC_MANIFEST": "true",
}


def settings_in_a_fresh_process(env: dict, expression: str) -> subprocess.CompletedProcess:
    """Print ``expression`` (of ``settings``) as a process started with ``env`` sees it."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
            " 'config.settings'); django.setup(); from django.conf import settings;"
            f" print({expression})",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestDeployCheck:
    def test_check_deploy_reports_nothing_under_production_settings(self, tmp_path):
        env = {**os.environ, **PRODUCTION_ENVIRONMENT, "DJANGO_STATIC_ROOT": str(tmp_path)}

        result = subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert result.returncode == 0, result.stdout + result.stderr
        assert "System check identified no issues (0 silenced)." in result.stdout

    def test_collectstatic_succeeds_with_the_production_storage(self, tmp_path):
        # The manifest storage resolves every url() and sourceMappingURL in the files.
        env = {**os.environ, **PRODUCTION_ENVIRONMENT, "DJANGO_STATIC_ROOT": str(tmp_path)}

        result = subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

        assert result.returncode == 0, result.stdout + result.stderr
        manifest = json.loads((tmp_path / "staticfiles.json").read_text())
        assert "meter_readings/vendor/chart.umd.min.js" in manifest["paths"]

    def test_debug_is_off_unless_set(self):
        env = {key: value for key, value in os.environ.items() if key != "DJANGO_DEBUG"}

        result = settings_in_a_fresh_process(env, "settings.DEBUG")

        assert result.stdout.strip() == "False", result.stderr

    def test_a_mistyped_flag_stops_start_up_with_its_name(self):
        env = {**os.environ, "DJANGO_DEBUG": "ture"}

        result = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode != 0
        assert "DJANGO_DEBUG='ture' is not a true/false value" in result.stderr

    def test_the_test_data_page_is_switched_on_from_the_environment(self):
        env = {**os.environ, "D0010_TEST_DATA_PAGE": "true"}
        env.pop("DJANGO_DEBUG", None)

        result = settings_in_a_fresh_process(env, "settings.D0010_TEST_DATA_PAGE, settings.DEBUG")

        assert result.stdout.split() == ["True", "False"], result.stderr

    def test_a_missing_secret_key_is_refused_with_a_clear_message(self, tmp_path):
        # Set but empty: python-dotenv never overrides a variable that is already set,
        # so the project's .env cannot fill it in.
        env = {**os.environ, "DJANGO_SECRET_KEY": ""}

        result = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode != 0
        assert "DJANGO_SECRET_KEY is not set" in result.stderr


@pytest.mark.django_db
class TestSecurityHeaders:
    def test_every_page_carries_a_content_security_policy_of_this_site_only(self, client):
        response = client.get("/admin/login/")

        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self' 'nonce-" in policy
        assert "frame-ancestors 'none'" in policy
        assert "http" not in policy  # no outside site is trusted

    @pytest.mark.django_db
    def test_the_api_documentation_loads_nothing_from_outside(self, admin_client):
        redoc = admin_client.get("/api/redoc/")

        bundle = admin_client.get("/api/redoc/bundle.js")

        assert redoc.status_code == 200
        assert b"fonts.googleapis" not in redoc.content and b"https://" not in redoc.content
        assert b"/api/redoc/bundle.js" in redoc.content
        assert bundle.status_code == 200 and b"cdn.redoc.ly" not in bundle.content
        assert b"/static/meter_readings/redoc-logo.svg" in bundle.content


@pytest.mark.django_db
class TestHealth:
    def test_it_answers_ok_when_the_database_answers(self, client):
        response = client.get("/health/")

        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "database": "ok",
            "broker": "not configured",
        }

    def test_it_answers_plain_http_probes_even_when_https_is_enforced(self, settings):
        from django.test import Client

        settings.SECURE_SSL_REDIRECT = True

        probe = Client().get("/health/")
        page = Client().get("/admin/")

        assert probe.status_code == 200
        assert page.status_code == 301 and page["Location"].startswith("https://")

    def test_it_answers_503_when_the_broker_does_not(self, client, settings, monkeypatch):
        from celery import Celery

        import config.health

        settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        # A throwaway app: the project's own must not keep a dead broker's connections.
        monkeypatch.setattr(
            config.health,
            "celery_app",
            Celery(broker="redis://127.0.0.1:1/0", set_as_current=False),
        )

        response = client.get("/health/")

        assert response.status_code == 503
        assert response.json()["broker"] == "unavailable"

    def test_it_answers_503_when_the_database_does_not(self, client, monkeypatch):
        from django.db import connection

        def refuse(*args, **kwargs):
            raise RuntimeError("database gone")

        monkeypatch.setattr(connection, "cursor", refuse)

        response = client.get("/health/")

        assert response.status_code == 503
        assert response.json()["database"] == "unavailable"


class TestJsonLogs:
    def test_a_record_becomes_one_json_object_with_its_extras(self):
        record = logging.makeLogRecord(
            {
                "name": "meter_readings",
                "levelname": "INFO",
                "msg": "imported %s",
                "args": ("a.uff",),
                "flow_file_id": 7,
            }
        )

        entry = json.loads(JsonFormatter().format(record))

        assert entry["message"] == "imported a.uff"
        assert (entry["level"], entry["logger"], entry["flow_file_id"]) == (
            "INFO",
            "meter_readings",
            7,
        )
        assert entry["time"].endswith("+00:00")

    def test_exceptions_are_kept(self):
        try:
            raise ValueError("boom")
        except ValueError:
            record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})

        assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exception"]


class TestDeploymentScripts:
    SCRIPTS = sorted((ROOT / "deployment_scripts").glob("*.sh"))

    def test_every_script_parses(self):
        assert len(self.SCRIPTS) >= 6
        for script in self.SCRIPTS:
            result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
            assert result.returncode == 0, f"{script.name}: {result.stderr}"

    def test_every_runnable_script_stops_at_the_first_failure(self):
        for script in self.SCRIPTS:
            if script.name != "config.sh":
                assert "set -euo pipefail" in script.read_text() or "set -u" in script.read_text()

    def test_no_script_needs_sudo(self):
        # Minimal Debian hosts have no sudo; the scripts run as root and use runuser.
        for script in self.SCRIPTS:
            assert "sudo " not in script.read_text(), script.name

    def test_the_units_run_the_web_the_worker_the_inbox_and_recovery(self):
        units = {
            path.name: path.read_text()
            for path in (ROOT / "deployment_scripts" / "systemd").iterdir()
        }

        assert "gunicorn config.wsgi:application" in units["d0010-web.service"]
        assert "celery -A config worker" in units["d0010-worker.service"]
        assert "import_d0010 --watch" in units["d0010-inbox.service"]
        assert "manage.py recover_imports" in units["d0010-recover.service"]
        assert "OnUnitActiveSec=1min" in units["d0010-recover.timer"]
        services = [text for name, text in units.items() if name.endswith(".service")]
        assert all("EnvironmentFile=@ENV_FILE@" in text for text in services)
        installer = (ROOT / "deployment_scripts" / "install_systemd_units.sh").read_text()
        assert "d0010-recover.timer" in installer


class TestWebProcessStartup:
    @pytest.mark.parametrize("entry_point", ["config.wsgi", "config.asgi"])
    def test_the_loaded_application_is_kept_from_the_garbage_collectors_passes(self, entry_point):
        # A web process's modules and their objects live as long as it does: walking
        # them in every full collection put tens of milliseconds into a request.
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import gc, sys, {entry_point}; "
                "print(gc.get_freeze_count(), 'meter_readings.api.views' in sys.modules)",
            ],
            cwd=ROOT,
            env={**os.environ, **PRODUCTION_ENVIRONMENT},
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert result.returncode == 0, result.stderr
        frozen, views_loaded = result.stdout.split()
        # Django, the admin, the API and their modules: tens of thousands of objects.
        assert int(frozen) > 20_000
        assert views_loaded == "True"
