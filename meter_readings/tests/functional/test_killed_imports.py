"""Imports killed with SIGKILL leave a record that recovery ends or runs again.

Each test drives real processes: ``manage.py import_d0010`` and a Celery worker are
killed mid-import with ``kill -9``, then ``manage.py recover_imports`` (what the
deployment's timer runs every minute) or a restarted worker picks up what they left.
On SQLite the processes share a database file in a temporary folder; on PostgreSQL,
the test database.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from meter_readings.tests.functional.test_celery_worker import BROKER, redis_answers
from meter_readings.tests.processes import (
    ON_POSTGRESQL,
    Database,
    database,
    generated_file,
    manage,
    start_import,
)

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["database"]  # a fixture
# Enough readings that an import takes seconds: it is killed while it writes.
READINGS = 150_000


@pytest.fixture(scope="module")
def large_file(tmp_path_factory) -> Path:
    return generated_file(tmp_path_factory.mktemp("files") / "large.uff", READINGS, seed=7)


def kill_when_writing(process: subprocess.Popen, database: Database) -> None:
    """SIGKILL ``process`` (and its children) once its import is under way."""
    database.wait_for(lambda rows: any(row[2] == "STARTED" for row in rows))
    time.sleep(1.0)  # into the file's batches
    assert process.poll() is None, "the import finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)


class TestAKilledCommandLineImport:
    def test_it_is_recorded_and_ends_interrupted_then_imports_again(self, database, large_file):
        process = start_import(database, str(large_file))

        kill_when_writing(process, database)
        [(_, name, status, attempts, _)] = database.flow_files()
        assert (name, status, attempts) == ("large.uff", "STARTED", 1)
        assert database.readings() == 0

        recovered = manage(database.environment, "recover_imports")

        assert recovered.returncode == 0, recovered.stderr
        assert "1 ended as interrupted" in recovered.stdout
        [(_, _, status, _, reason)] = database.flow_files()
        assert status == "INTERRUPTED" and "killed or crashed" in reason
        assert database.readings() == 0
        again = manage(database.environment, "import_d0010", str(large_file), "--no-progress")
        assert again.returncode == 0, again.stdout + again.stderr
        assert database.readings() == READINGS

    def test_a_recovery_pass_leaves_a_running_import_alone(self, database, large_file):
        process = start_import(database, str(large_file))
        database.wait_for(lambda rows: any(row[2] == "STARTED" for row in rows))

        # On SQLite the pass waits for the import's turn to end; on PostgreSQL the lease
        # is held, so the pass goes by.
        recovered = manage(database.environment, "recover_imports")
        process.communicate(timeout=180)

        assert "0 ended as interrupted" in recovered.stdout
        [(_, _, status, _, _)] = database.flow_files()
        assert status == "IMPORTED"
        assert database.readings() == READINGS


@pytest.mark.skipif(not ON_POSTGRESQL, reason="a worker shares the PostgreSQL run's database")
@pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379")
class TestAKilledWorker:
    def start_worker(self, environment: dict) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
            + ["--loglevel=INFO", "--without-gossip", "--without-mingle"],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def test_its_file_is_imported_again_exactly_once_by_the_next_worker(self, database, large_file):
        import redis

        redis.Redis.from_url(BROKER).flushdb()
        environment = {**database.environment, "CELERY_BROKER_URL": BROKER}
        first = self.start_worker(environment)
        queued = manage(environment, "import_d0010", "--background", str(large_file))
        assert queued.returncode == 0, queued.stderr

        kill_when_writing(first, database)
        assert database.flow_files()[0][2] == "STARTED" and database.readings() == 0
        second = self.start_worker(environment)
        try:
            # The second worker's start runs a recovery pass: the file is queued again.
            rows = database.wait_for(lambda rows: rows[0][2] == "IMPORTED", seconds=180)
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=60)

        [(_, name, status, attempts, _)] = rows
        assert (name, status, attempts) == ("large.uff", "IMPORTED", 2)
        assert database.readings() == READINGS
