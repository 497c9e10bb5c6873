"""Celery tasks and the queueing of background imports.

With no broker configured Celery runs tasks in-process (``CELERY_TASK_ALWAYS_EAGER``),
so the same calls work in the demo with nothing else running.
"""

import hashlib
import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.core.files import File
from django.db import OperationalError, close_old_connections, connections, transaction
from django.utils import timezone

from meter_readings.models import FlowFile, FlowFileStatus

from meter_readings.services import ImportProgress
from meter_readings.services.background import run_queued_import
from meter_readings.services.flow_file_import import UnableToImportFlowFile
from meter_readings.services.import_guard import import_guard
from meter_readings.services.recovery import RecoveryReport, recover_abandoned_imports

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def import_queued_flow_file(self, *, flow_file_id: int) -> str:
    """Import a queued flow file; returns its final status (lower case).

    A message of an older release (the id as a positional argument) fails here; the file
    stays queued, and the recovery pass sends it again within minutes.
    """

    def progress(done: ImportProgress) -> None:
        self.update_state(
            state="PROGRESS",
            meta={
                "bytes_read": done.bytes_read,
                "bytes_total": done.bytes_total,
                "readings_stored": done.readings_stored,
            },
        )

    try:
        report = run_queued_import(
            flow_file_id=flow_file_id,
            on_progress=None if self.request.is_eager else progress,
        )
    except UnableToImportFlowFile as failure:
        # Recorded on the flow file as FAILED with its reason; not retried blindly.
        return f"failed: {failure.reason}"
    return "already done" if report is None else report.status.lower()


def queue_flow_file_import(*, upload: File, filename: str, strict: bool = False) -> FlowFile:
    """Store ``upload``, record it as QUEUED and send it to a worker.

    Returns the flow file; with no broker the import has already run when this returns
    (refresh it to see the outcome). The task is sent only once the record is committed.
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
    transaction.on_commit(lambda: send_to_worker(flow_file.pk))
    return flow_file


def send_to_worker(flow_file_id: int) -> None:
    """Send a queued flow file's import to a worker (in-process with no broker)."""
    result = import_queued_flow_file.delay(flow_file_id=flow_file_id)
    FlowFile.objects.filter(pk=flow_file_id).update(task_id=result.id or "")


def recover_abandoned_imports_now() -> RecoveryReport:
    """One recovery pass (see ``services.recovery``), sending re-runs to the workers."""
    return recover_abandoned_imports(send_to_worker=send_to_worker)


@worker_ready.connect
def _recover_when_a_worker_starts(**_: Any) -> None:
    """A worker (re)started, perhaps after a crash: pick up what the dead one left."""
    try:
        report = recover_abandoned_imports_now()
        logger.info("Recovery at worker start: %s", report)
    except Exception:
        logger.exception("Recovery at worker start failed; the next timed pass will retry")
    finally:
        # The worker's pool processes must not share this process's connections.
        close_old_connections()
        connections.close_all()
