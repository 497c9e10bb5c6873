"""A real Celery worker, on the real Redis, importing from the real PostgreSQL."""

import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from meter_readings.models import FlowFile, FlowFileStatus, Reading
from meter_readings.tests.d0010_files import MPAN_B, MPAN_C, d0010_bytes, simple_groups

BROKER = "redis://127.0.0.1:6379/13"
FINISHED = (FlowFileStatus.IMPORTED, FlowFileStatus.IMPORTED_WITH_ERRORS, FlowFileStatus.FAILED)


def redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
        return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="a worker process needs a database it can share (the PostgreSQL run)",
    ),
    pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379"),
]


@pytest.fixture
def environment(tmp_path, settings):
    """What a worker and an operator's shell share: the test database and the broker."""
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    settings.MEDIA_ROOT = tmp_path
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": BROKER,
        "DJANGO_MEDIA_ROOT": str(tmp_path),
    }


@pytest.fixture
def worker(environment):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=settings.BASE_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        print(output[-3000:])


def queue_from_the_command_line(environment: dict, *paths) -> str:
    # A fresh process, as an operator would: queue the files through the broker.
    result = subprocess.run(
        [sys.executable, "manage.py", "import_d0010", "--background", *map(str, paths)],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_until_finished(flow_file: FlowFile, seconds: float = 90) -> FlowFile:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        flow_file.refresh_from_db()
        if flow_file.status in FINISHED:
            return flow_file
        time.sleep(0.25)
    raise AssertionError(f"still {flow_file.status} after {seconds} s")


def test_a_worker_imports_files_queued_from_another_process(worker, environment, tmp_path):
    one, two = tmp_path / "one.uff", tmp_path / "two.uff"
    one.write_bytes(d0010_bytes(simple_groups(), file_id="0000000001"))
    two.write_bytes(
        d0010_bytes(simple_groups(MPAN_B) + simple_groups(MPAN_C), file_id="0000000002")
    )

    output = queue_from_the_command_line(environment, one, two)

    assert "one.uff: queued as flow file #" in output
    first = wait_until_finished(FlowFile.objects.get(filename="one.uff"))
    second = wait_until_finished(FlowFile.objects.get(filename="two.uff"))
    assert (first.status, second.status) == (FlowFileStatus.IMPORTED, FlowFileStatus.IMPORTED)
    assert (first.readings_imported, second.readings_imported) == (1, 2)
    assert first.task_id and second.task_id
    assert Reading.objects.count() == 3
