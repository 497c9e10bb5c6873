"""Imports of stored files, run by a background worker (see ``meter_readings.tasks``)."""

import logging
from collections.abc import Callable

from meter_readings.models import FlowFile, FlowFileStatus
from meter_readings.services.flow_file_import import (
    ImportProgress,
    ImportReport,
    import_flow_file,
)

logger = logging.getLogger(__name__)

# A queued file may be picked up (again) in these states; any other is finished.
RUNNABLE_STATUSES = (FlowFileStatus.QUEUED, FlowFileStatus.STARTED, FlowFileStatus.FAILED)


class FlowFileNotRunnable(Exception):
    """The flow file has no stored original to import (it was not queued)."""


def run_queued_import(
    *, flow_file_id: int, on_progress: Callable[[ImportProgress], None] | None = None
) -> ImportReport | None:
    """Import a queued flow file from its stored original; safe to run again.

    Returns None when the file was already imported (a redelivered task): nothing is
    done twice. Raises ``UnableToImportFlowFile`` as ``import_flow_file`` does (the
    record is then FAILED and may be run again), and ``FlowFileNotRunnable`` for a file
    with no stored original.
    """
    flow_file = FlowFile.objects.get(pk=flow_file_id)
    if flow_file.status not in RUNNABLE_STATUSES:
        logger.info("Flow file %s is already %s; nothing to do", flow_file_id, flow_file.status)
        return None
    if not flow_file.stored_file:
        raise FlowFileNotRunnable(f"flow file {flow_file_id} has no stored original")
    # Committed at once, so the status shows the file is being worked on.
    FlowFile.objects.filter(pk=flow_file_id).update(status=FlowFileStatus.STARTED)
    flow_file.status = FlowFileStatus.STARTED
    with flow_file.stored_file.open("rb") as stream:
        return import_flow_file(
            stream=stream,
            filename=flow_file.filename,
            received_at=flow_file.received_at,
            strict=flow_file.strict,
            on_progress=on_progress,
            flow_file=flow_file,
        )
