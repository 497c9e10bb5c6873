"""A flow file's record: every field an import writes on it, in one place.

The record is made and leased before the import's transaction (``record_start``),
filled from the ZHV once the header is read (``fill_from_header``) and from the outcome
when the file ends (``fill_from_outcome``), or marked FAILED after a rollback
(``record_failure``).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from meter_readings.d0010 import FileHeader, ParseSummary
from meter_readings.models import FlowFile, FlowFileStatus
from meter_readings.services.batch import WritingStrategy
from meter_readings.services.import_guard import ImportGuard
from meter_readings.services.import_types import ImportReport

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileContext:
    """What an import knows of its file before reading it, and how it was asked to run."""

    filename: str
    size_bytes: int
    sha256: str
    received_at: datetime
    strict: bool
    dry_run: bool
    now: Callable[[], datetime]
    existing: FlowFile | None = None
    # How batches store their meters (None: the default, batch.NewMetersStraightIn).
    strategy: WritingStrategy | None = None


def record_start(context: FileContext, guard: ImportGuard) -> FlowFile:
    """Record the file as STARTED, committed at once, under this process's lease."""
    with transaction.atomic():
        flow_file = FlowFile.objects.create(
            filename=context.filename,
            size_bytes=context.size_bytes,
            sha256=context.sha256,
            status=FlowFileStatus.STARTED,
            received_at=context.received_at,
            strict=context.strict,
            attempts=1,
        )
        # In the same transaction: the record is never seen without its lease.
        guard.take_lease(flow_file.pk)
    return flow_file


def release_quietly(guard: ImportGuard, flow_file: FlowFile) -> None:
    """Give the lease up; a session already gone took it with it."""
    try:
        guard.release_lease(flow_file.pk)
    except Exception:
        logger.warning("Could not release the lease on flow file %s", flow_file.pk)


def fill_identity(
    flow_file: FlowFile,
    context: FileContext,
    status: FlowFileStatus,
    *,
    duplicate_of: FlowFile | None = None,
) -> None:
    """The file as offered: name, size, content hash, arrival, how it is imported."""
    flow_file.filename = context.filename
    flow_file.size_bytes = context.size_bytes
    flow_file.sha256 = context.sha256
    flow_file.status = status
    flow_file.received_at = context.received_at
    flow_file.strict = context.strict
    flow_file.duplicate_of = duplicate_of
    if status is FlowFileStatus.DUPLICATE:
        flow_file.finished_at = context.now()


def fill_from_header(flow_file: FlowFile, header: FileHeader) -> None:
    """The ZHV's items."""
    flow_file.file_identifier = header.file_identifier
    flow_file.flow_version = header.flow_version
    flow_file.from_role_code = header.from_role_code
    flow_file.from_participant_id = header.from_participant_id
    flow_file.to_role_code = header.to_role_code
    flow_file.to_participant_id = header.to_participant_id
    flow_file.file_created_at = header.created_at
    flow_file.test_data_flag = header.test_data_flag
    flow_file.is_test = header.is_test


def fill_from_outcome(
    flow_file: FlowFile, report: ImportReport, summary: ParseSummary, finished_at: datetime
) -> None:
    """What the import found and stored, and the ZPT as the sender declared it."""
    flow_file.status = report.status
    flow_file.finished_at = finished_at
    flow_file.line_count = summary.line_count
    flow_file.group_count = summary.group_count
    flow_file.meter_point_count = summary.meter_point_count
    flow_file.reading_count = summary.reading_lines
    flow_file.readings_imported = report.readings_imported
    flow_file.readings_duplicate = report.readings_duplicate
    flow_file.readings_superseding = report.readings_superseding
    flow_file.error_count = report.error_count
    flow_file.warning_count = report.warning_count
    if summary.trailer is not None:
        flow_file.trailer_group_count = summary.trailer.group_count
        flow_file.trailer_flow_count = summary.trailer.flow_count
        flow_file.trailer_checksum = summary.trailer.checksum
        flow_file.file_completed_at = summary.trailer.completed_at


def record_failure(context: FileContext, reason: str) -> int | None:
    """Record a FAILED flow file after the import's transaction was rolled back."""
    try:
        if context.existing is not None:
            FlowFile.objects.filter(pk=context.existing.pk).update(
                status=FlowFileStatus.FAILED, finished_at=context.now(), failure_reason=reason
            )
            return context.existing.pk
        return FlowFile.objects.create(
            filename=context.filename,
            size_bytes=context.size_bytes,
            sha256=context.sha256,
            status=FlowFileStatus.FAILED,
            received_at=context.received_at,
            finished_at=context.now(),
            strict=context.strict,
            failure_reason=reason,
        ).pk
    except Exception:
        logger.exception("Could not record the failed import of %s", context.filename)
        return None
