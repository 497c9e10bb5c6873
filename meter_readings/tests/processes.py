"""Processes sharing one database, for tests of what happens between them.

On SQLite the processes share a database file in the test's temporary folder (the test
database itself is in memory); on PostgreSQL, the test database. Tests using them are
marked ``django_db(transaction=True)``, so what they commit is visible here.
"""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ON_POSTGRESQL = connection.vendor == "postgresql"


def manage(environment: dict, *arguments: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Database:
    """The database the processes share, read as a person would, with plain SQL."""

    def __init__(self, environment: dict, sqlite_path: Path | None) -> None:
        self.environment = environment
        self.sqlite_path = sqlite_path

    def rows(self, sql: str, *params) -> list[tuple]:
        if self.sqlite_path is None:
            with connection.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), params)
                return cursor.fetchall()
        with sqlite3.connect(self.sqlite_path, timeout=30) as database:
            return database.execute(sql, params).fetchall()

    def flow_files(self) -> list[tuple]:
        return self.rows(
            "SELECT id, filename, status, attempts, failure_reason "
            "FROM meter_readings_flowfile ORDER BY id"
        )

    def readings(self) -> int:
        return self.rows("SELECT count(*) FROM meter_readings_reading")[0][0]

    def wait_for(self, condition, seconds: float = 120) -> list[tuple]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rows = self.flow_files()
            if condition(rows):
                return rows
            time.sleep(0.1)
        raise AssertionError(f"not reached in {seconds} s: {self.flow_files()}")


@pytest.fixture
def database(tmp_path, settings) -> Database:
    """A database that subprocesses share with the test (see the module docstring)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    environment = {**os.environ, "DJANGO_MEDIA_ROOT": str(tmp_path / "media")}
    environment.pop("CELERY_BROKER_URL", None)
    if ON_POSTGRESQL:
        name = connection.settings_dict["NAME"]
        environment["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
        return Database(environment, None)
    path = tmp_path / "shared.sqlite3"
    environment["DATABASE_URL"] = f"sqlite:///{path}"
    migrated = manage(environment, "migrate", "--no-input", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    return Database(environment, path)


def generated_file(path: Path, readings: int, *, seed: int = 1, file_id: str = "") -> Path:
    """A valid D0010 file of ``readings`` readings, written by the benchmark's generator."""
    command = [sys.executable, "bench/generate.py", str(readings), str(path), "--seed", str(seed)]
    if file_id:
        command += ["--file-id", file_id]
    subprocess.run(command, cwd=settings.BASE_DIR, check=True)
    return path


def start_import(database: Database, *arguments: str) -> subprocess.Popen:
    """``manage.py import_d0010 ARGUMENTS`` started in the background."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "import_d0010", "--no-progress", *arguments],
        cwd=settings.BASE_DIR,
        env=database.environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
