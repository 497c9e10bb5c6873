"""Imports of stored files, run by a background worker (see ``meter_readings.tasks``)."""

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from meter_readings.models import FlowFile, FlowFileStatus
from meter_readings.services.flow_file_import import (
    ImportProgress,
    ImportReport,
    import_flow_file,
)
from meter_readings.services.import_guard import import_guard

logger = logging.getLogger(__name__)

# A queued file may be picked up (again) in these states; any other is finished. A
# STARTED one only when its lease is free: the import that started it died.
RUNNABLE_STATUSES = (FlowFileStatus.QUEUED, FlowFileStatus.STARTED, FlowFileStatus.FAILED)
# The first run and one more after a worker died: a file that kills its worker twice is
# ended as INTERRUPTED rather than taking workers down for ever.
MAX_IMPORT_ATTEMPTS = 2


class FlowFileNotRunnable(Exception):
    """The flow file has no stored original to import (it was not queued)."""


def run_queued_import(
    *,
    flow_file_id: int,
    on_progress: Callable[[ImportProgress], None] | None = None,
    now: Callable[[], datetime] = timezone.now,
) -> ImportReport | None:
    """Import a queued flow file from its stored original; safe to run again.

    Returns None when there is nothing to do: the file was already imported (a
    redelivered task), another process is importing it now, or it was abandoned too
    often and is ended as INTERRUPTED. Nothing is ever imported twice at once. Raises
    ``UnableToImportFlowFile`` as ``import_flow_file`` does (the record is then FAILED
    and may be run again), and ``FlowFileNotRunnable`` for a file with no stored
    original.
    """
    guard = import_guard()
    with guard.turn():
        flow_file = FlowFile.objects.get(pk=flow_file_id)
        if flow_file.status not in RUNNABLE_STATUSES:
            logger.info("Flow file %s is already %s; nothing to do", flow_file_id, flow_file.status)
            return None
        if not flow_file.stored_file:
            raise FlowFileNotRunnable(f"flow file {flow_file_id} has no stored original")
        if not guard.try_take_lease(flow_file_id):
            logger.info("Flow file %s is being imported by another process", flow_file_id)
            return None
        try:
            if not _claim(flow_file, now=now):
                return None
            with flow_file.stored_file.open("rb") as stream:
                return import_flow_file(
                    stream=stream,
                    filename=flow_file.filename,
                    received_at=flow_file.received_at,
                    strict=flow_file.strict,
                    on_progress=on_progress,
                    flow_file=flow_file,
                    now=now,
                )
        finally:
            guard.release_lease(flow_file_id)


def _claim(flow_file: FlowFile, *, now: Callable[[], datetime]) -> bool:
    """Mark the file STARTED for this run (committed), holding its lease; False if not run."""
    if flow_file.status == FlowFileStatus.STARTED and flow_file.attempts >= MAX_IMPORT_ATTEMPTS:
        _end_as_interrupted(flow_file, now=now)
        return False
    with transaction.atomic():
        claimed = FlowFile.objects.filter(
            pk=flow_file.pk, status=flow_file.status, attempts=flow_file.attempts
        ).update(status=FlowFileStatus.STARTED, attempts=F("attempts") + 1)
    if not claimed:
        logger.info("Flow file %s changed meanwhile; not run here", flow_file.pk)
        return False
    flow_file.refresh_from_db()
    return True


def _end_as_interrupted(flow_file: FlowFile, *, now: Callable[[], datetime]) -> None:
    attempts = flow_file.attempts
    if flow_file.stored_file:
        reason = (
            f"its import was started {attempts} time(s) and the process stopped (killed or "
            "crashed) before it finished each time; nothing from the file was stored. "
            "The original is kept: queue it again once the cause is known"
        )
    else:
        reason = (
            "the process importing it stopped (killed or crashed) before the import "
            "finished; nothing from the file was stored. Offer the file again"
        )
    ended = FlowFile.objects.filter(pk=flow_file.pk, status=flow_file.status).update(
        status=FlowFileStatus.INTERRUPTED, finished_at=now(), failure_reason=reason
    )
    if ended:
        logger.warning("Flow file %s %r ended as interrupted", flow_file.pk, flow_file.filename)
