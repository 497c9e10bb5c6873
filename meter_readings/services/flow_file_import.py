"""Import one D0010 file: the only code path that writes readings.

The management command, the admin upload, the API and background tasks all reach
``import_flow_file`` through ``receiving`` or ``background``, and translate its
``ImportReport`` (or ``UnableToImportFlowFile``) into an exit status, an HTTP response or
a message. This module is the front: the file's record and lease, the attempts (a rerun
after a concurrent write, a rerun that stores nothing) and the failure. One pass over
the file is ``_import_run``; the record's fields ``_flow_file_records``; the speed
tricks ``_envelope``.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from django.db import IntegrityError, OperationalError, connection
from django.utils import timezone
from psycopg import errors as psycopg_errors

from meter_readings.models import (
    CURRENT_READING_KEY,
    EXCEPTION_KEY,
    FlowFile,
    Meter,
    MeterPoint,
    Reading,
)
from meter_readings.services._envelope import collector_paused
from meter_readings.services._flow_file_records import (
    FileContext,
    record_failure,
    record_start,
    release_quietly,
)
from meter_readings.services._import_run import StoreNothing, import_in_transaction
from meter_readings.services.batch import DEFAULT_BATCH_SIZE, MetersStoredConcurrently, StagedUpsert
from meter_readings.services.import_guard import import_guard
from meter_readings.services.import_types import (
    MAX_REPORTED_FINDINGS,
    ByteStream,
    FlowFileRef,
    ImportProgress,
    ImportReport,
)

__all__ = [
    "MAX_REPORTED_FINDINGS",
    "ByteStream",
    "FlowFileRef",
    "ImportProgress",
    "ImportReport",
    "UnableToImportFlowFile",
    "import_flow_file",
]

logger = logging.getLogger(__name__)

# After a bulk load this large, PostgreSQL's planner needs fresh statistics at once:
# before autovacuum gets to it, a lookup by meter can be planned as a scan of the table.
# Not when the load is a small share of what the table held (autovacuum's own threshold,
# 10%): at 100M readings, ANALYZE costs a 300k file 3 s and changes no plan.
ANALYZE_AFTER_READINGS = 50_000
ANALYZE_AFTER_SHARE = 0.1
HASH_CHUNK_BYTES = 1024 * 1024


class UnableToImportFlowFile(Exception):
    """An unexpected failure stopped the import: nothing from the file was stored.

    The failure is recorded as a FAILED flow file (except in a dry run) and logged with
    its traceback; ``reason`` is a one-line explanation for the user.
    """

    def __init__(self, *, filename: str, reason: str, flow_file_id: int | None) -> None:
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason
        self.flow_file_id = flow_file_id


def import_flow_file(
    *,
    stream: ByteStream,
    filename: str,
    received_at: datetime,
    strict: bool = False,
    dry_run: bool = False,
    on_progress: Callable[[ImportProgress], None] | None = None,
    now: Callable[[], datetime] = timezone.now,
    batch_size: int = DEFAULT_BATCH_SIZE,
    flow_file: FlowFile | None = None,
) -> ImportReport:
    """Import one D0010 file from a seekable binary stream, in one transaction.

    Lenient by default: a line that cannot be stored becomes an error finding and the
    rest of the file is imported. With ``strict`` a file with any error is recorded as
    REJECTED and none of its readings are stored. With ``dry_run`` everything is done
    and reported, then rolled back: nothing is recorded.

    A file is a DUPLICATE (nothing stored, the original named) only when it adds
    nothing: the same bytes as an accepted file, or, under the sender and file
    identifier of an accepted file, readings that are all held already. Any other file
    under a used identifier is imported reading by reading (what it adds is stored; in
    strict mode it is refused whole) with an IDENTIFIER_REUSED error naming the earlier
    files. ``on_progress`` is called now and then with an ``ImportProgress``.

    The file is recorded (STARTED) before the import's transaction begins, under a
    lease that the process holds until it ends (see ``import_guard``), so an import
    killed at any moment leaves a record that recovery finds. ``flow_file`` is a record
    the caller made and claimed earlier, holding its lease (a queued background
    import): it is filled in instead.

    Raises ``UnableToImportFlowFile`` if an unexpected failure stops the import; the
    failure is logged, recorded as a FAILED flow file (not in a dry run), and nothing
    else from the file is stored.
    """
    guard = import_guard()
    # On SQLite imports take turns, waiting as long as it takes (see import_guard).
    with collector_paused(), guard.turn():
        size_bytes, sha256 = _fingerprint(stream)
        context = FileContext(
            filename=filename,
            size_bytes=size_bytes,
            sha256=sha256,
            received_at=received_at,
            strict=strict,
            dry_run=dry_run,
            now=now,
            existing=flow_file,
        )
        leased = None
        if flow_file is None and not dry_run:
            context = replace(context, existing=record_start(context, guard))
            leased = context.existing
        try:
            return _import(context, stream, on_progress, batch_size)
        finally:
            if leased is not None:
                release_quietly(guard, leased)


def _import(
    context: FileContext,
    stream: ByteStream,
    on_progress: Callable[[ImportProgress], None] | None,
    batch_size: int,
) -> ImportReport:
    try:
        try:
            report = import_in_transaction(context, stream, on_progress, batch_size)
        except (MetersStoredConcurrently, IntegrityError, OperationalError) as conflict:
            if not _written_concurrently(conflict):
                raise
            # Another import stored some of the same meters or readings first (or the two
            # deadlocked); nothing of this attempt was kept. Again, on the path that waits
            # for such rows and matches every reading with what is now held.
            logger.info(
                "Importing %s again: another import wrote the same rows (%s)",
                context.filename,
                type(conflict).__name__,
            )
            report = import_in_transaction(
                replace(context, strategy=StagedUpsert()), stream, on_progress, batch_size
            )
        except StoreNothing as verdict:
            # The file adds nothing, or strict mode refuses what it adds: its writes were
            # rolled back; record it with its findings and store nothing.
            report = import_in_transaction(context, stream, None, batch_size, verdict=verdict)
        if not context.dry_run and report.readings_imported >= ANALYZE_AFTER_READINGS:
            _refresh_planner_statistics(report.readings_imported)
        return report
    except Exception as failure:
        logger.exception("Import of %s failed", context.filename)
        reason = _one_line(failure)
        flow_file_id = None if context.dry_run else record_failure(context, reason)
        raise UnableToImportFlowFile(
            filename=context.filename, reason=reason, flow_file_id=flow_file_id
        ) from failure


def _written_concurrently(conflict: Exception) -> bool:
    """Did another transaction's rows make this one fail, so that a rerun will succeed?"""
    if isinstance(conflict, MetersStoredConcurrently):
        return True
    cause = conflict.__cause__
    if isinstance(conflict, OperationalError):
        return isinstance(cause, psycopg_errors.DeadlockDetected)
    constraint = getattr(getattr(cause, "diag", None), "constraint_name", "")
    return constraint in (CURRENT_READING_KEY, EXCEPTION_KEY)


def _refresh_planner_statistics(readings_imported: int) -> None:
    """ANALYZE the tables a large import grew by a notable share (PostgreSQL; a sampled
    pass)."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in (Reading, Meter, MeterPoint)
    )
    with connection.cursor() as cursor:
        # The rows the planner knows of, from the last ANALYZE: -1 if there was none.
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Reading._meta.db_table]
        )
        known = cursor.fetchone()[0]
        if known < 0 or readings_imported >= ANALYZE_AFTER_SHARE * known:
            cursor.execute(f"ANALYZE {tables}")


def _fingerprint(stream: ByteStream) -> tuple[int, str]:
    """Size and SHA-256 of the whole stream, leaving it rewound."""
    digest = hashlib.sha256()
    size = 0
    stream.seek(0)
    while chunk := stream.read(HASH_CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return size, digest.hexdigest()


def _one_line(failure: BaseException) -> str:
    text = " ".join(str(failure).split()) or type(failure).__name__
    return f"{type(failure).__name__}: {text}"[:500]
