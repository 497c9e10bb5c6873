"""A real Celery worker, on the real Redis, importing from the real PostgreSQL."""

import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from config.celery import app as celery_app
from meter_readings.models import FlowFile, FlowFileStatus, Reading
from meter_readings.tasks import queue_flow_file_import
from meter_readings.tests.d0010_files import MPAN_B, MPAN_C, d0010_bytes, simple_groups

BROKER = "redis://127.0.0.1:6379/15"
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
def worker(tmp_path, settings):
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    settings.MEDIA_ROOT = tmp_path
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": BROKER,
        "DJANGO_MEDIA_ROOT": str(tmp_path),
    }
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
    previous = {
        key: celery_app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager")
    }
    celery_app.conf.update(broker_url=BROKER, result_backend=BROKER, task_always_eager=False)
    try:
        yield process
    finally:
        celery_app.conf.update(
            broker_url=previous["broker_url"],
            result_backend=previous["result_backend"],
            task_always_eager=previous["task_always_eager"],
        )
        process.terminate()
        output, _ = process.communicate(timeout=30)
        print(output[-3000:])


def wait_until_finished(flow_file: FlowFile, seconds: float = 90) -> FlowFile:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        flow_file.refresh_from_db()
        if flow_file.status in FINISHED:
            return flow_file
        time.sleep(0.25)
    raise AssertionError(f"still {flow_file.status} after {seconds} s")


def test_a_worker_imports_queued_files_and_reports_progress_states(worker):
    first = queue_flow_file_import(
        upload=SimpleUploadedFile("one.uff", d0010_bytes(simple_groups(), file_id="0000000001")),
        filename="one.uff",
    )
    second = queue_flow_file_import(
        upload=SimpleUploadedFile(
            "two.uff",
            d0010_bytes(simple_groups(MPAN_B) + simple_groups(MPAN_C), file_id="0000000002"),
        ),
        filename="two.uff",
    )
    assert FlowFile.objects.get(pk=first.pk).status in (
        FlowFileStatus.QUEUED,
        FlowFileStatus.STARTED,
        FlowFileStatus.IMPORTED,
    )

    first, second = wait_until_finished(first), wait_until_finished(second)

    assert (first.status, second.status) == (FlowFileStatus.IMPORTED, FlowFileStatus.IMPORTED)
    assert (first.readings_imported, second.readings_imported) == (1, 2)
    assert first.task_id and second.task_id
    assert Reading.objects.count() == 3
