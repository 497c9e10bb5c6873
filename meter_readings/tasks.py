"""Celery tasks: the background import, and recovery when a worker starts.

Queueing lives in ``services.queueing``, which sends the task by its name;
``MeterReadingsConfig.ready`` imports this module so the task is registered in every
process. With no broker configured Celery runs tasks in-process
(``CELERY_TASK_ALWAYS_EAGER``), so the same calls work in the demo with nothing else
running.
"""

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.db import OperationalError, close_old_connections, connections

from meter_readings.services import ImportProgress
from meter_readings.services.background import run_queued_import
from meter_readings.services.flow_file_import import UnableToImportFlowFile
from meter_readings.services.recovery import recover_abandoned_imports

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


@worker_ready.connect
def _recover_when_a_worker_starts(**_: Any) -> None:
    """A worker (re)started, perhaps after a crash: pick up what the dead one left."""
    try:
        report = recover_abandoned_imports()
        logger.info("Recovery at worker start: %s", report)
    except Exception:
        logger.exception("Recovery at worker start failed; the next timed pass will retry")
    finally:
        # The worker's pool processes must not share this process's connections.
        close_old_connections()
        connections.close_all()
