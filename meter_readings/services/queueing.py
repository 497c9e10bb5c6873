"""Background imports: a file stored, recorded QUEUED, and sent to a Celery worker.

The worker's task (``meter_readings.tasks.import_queued_flow_file``) runs
``background.run_queued_import``. It is sent by its registered name, so this layer
does not import the interface that defines it; ``MeterReadingsConfig.ready`` registers
the tasks in every process. With no broker configured Celery runs it in-process
(``CELERY_TASK_ALWAYS_EAGER``), so the same calls work in the demo.
"""

import hashlib

from celery import current_app
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from meter_readings.models import FlowFile, FlowFileStatus
from meter_readings.services.import_guard import import_guard

IMPORT_TASK = "meter_readings.tasks.import_queued_flow_file"


def queue_import(*, upload: File, filename: str, strict: bool = False) -> FlowFile:
    """Store ``upload``, record it as QUEUED and send it to a worker once committed.

    Returns the flow file; with no broker the import has already run when this returns
    (refresh it to see the outcome).
    """
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    received_at = timezone.now()
    flow_file = FlowFile(
        filename=filename,
        size_bytes=upload.size,
        sha256=digest.hexdigest(),
        status=FlowFileStatus.QUEUED,
        received_at=received_at,
        queued_at=received_at,
        strict=strict,
    )
    flow_file.stored_file.save(filename, upload, save=False)
    # On SQLite, after any running import (one writer at a time, see import_guard).
    with import_guard().turn():
        flow_file.save()
    transaction.on_commit(lambda: send_to_worker(flow_file_id=flow_file.pk))
    return flow_file


def send_to_worker(*, flow_file_id: int) -> None:
    """Send a queued flow file's import to a worker (in-process with no broker)."""
    result = current_app.tasks[IMPORT_TASK].delay(flow_file_id=flow_file_id)
    FlowFile.objects.filter(pk=flow_file_id).update(task_id=result.id or "")
