"""Import one D0010 file: the only code path that writes readings.

The management command, the admin upload, the API and background tasks all call
``import_flow_file`` and translate its ``ImportReport`` (or ``UnableToImportFlowFile``)
into an exit status, an HTTP response or a message.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from meter_readings.d0010 import (
    FileHeader,
    Finding,
    ParseEvent,
    ParseSummary,
    parse_stream,
)
from meter_readings.models import (
    ACCEPTED_STATUSES,
    FlowFile,
    FlowFileStatus,
    ImportFinding,
    Meter,
    MeterPoint,
    Reading,
)
from meter_readings.services.batch_sql import MetersStoredConcurrently
from meter_readings.services.batch_writer import DEFAULT_BATCH_SIZE, BatchWriter
from meter_readings.services.collector_pause import automatic_collection_paused
from meter_readings.services.read_ahead import ReadAhead

logger = logging.getLogger(__name__)

# A report carries at most this many findings; all of them are stored.
MAX_REPORTED_FINDINGS = 1000
FINDING_BATCH_SIZE = 1000
PROGRESS_EVERY_EVENTS = 5000
# After a bulk load this large, PostgreSQL's planner needs fresh statistics at once:
# before autovacuum gets to it, a lookup by meter can be planned as a scan of the table.
ANALYZE_AFTER_READINGS = 50_000
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


@dataclass(frozen=True)
class ImportProgress:
    """How far an import has got: bytes read of the file, readings stored so far."""

    bytes_read: int
    bytes_total: int
    readings_stored: int


@dataclass(frozen=True)
class FlowFileRef:
    """Enough to name an earlier flow file in a message."""

    id: int
    filename: str
    received_at: datetime


@dataclass
class ImportReport:
    """What happened to one file, for any interface to show."""

    filename: str
    status: FlowFileStatus
    dry_run: bool
    flow_file_id: int | None = None
    duplicate_of: FlowFileRef | None = None
    is_test: bool = False
    readings_in_file: int = 0
    readings_imported: int = 0
    readings_duplicate: int = 0
    readings_superseding: int = 0
    error_count: int = 0
    warning_count: int = 0
    # The first findings of each severity, each list capped: warnings never crowd out
    # errors (see ``findings``).
    kept_errors: list[Finding] = field(default_factory=list)
    kept_warnings: list[Finding] = field(default_factory=list)

    def add_finding(self, finding: Finding) -> None:
        """Count ``finding`` and keep it if the report has room for it."""
        if finding.is_error:
            self.error_count += 1
            if len(self.kept_errors) < MAX_REPORTED_FINDINGS:
                self.kept_errors.append(finding)
        else:
            self.warning_count += 1
            if len(self.kept_warnings) < MAX_REPORTED_FINDINGS:
                self.kept_warnings.append(finding)

    @property
    def errors(self) -> list[Finding]:
        return self.kept_errors[:MAX_REPORTED_FINDINGS]

    @property
    def warnings(self) -> list[Finding]:
        return self.kept_warnings[: max(MAX_REPORTED_FINDINGS - len(self.errors), 0)]

    @property
    def findings(self) -> list[Finding]:
        """At most ``MAX_REPORTED_FINDINGS``: every error first, then warnings."""
        return self.errors + self.warnings

    @property
    def findings_not_shown(self) -> int:
        return self.error_count + self.warning_count - len(self.findings)


def import_flow_file(
    *,
    stream: BinaryIO,
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
    and reported, then rolled back: nothing is recorded. A resend (same sender and file
    identifier, or the same bytes as an accepted file) is recorded as DUPLICATE and
    names the original. ``on_progress`` is called now and then with an
    ``ImportProgress`` (bytes read, readings stored so far).
    ``flow_file`` is a record made earlier for this file (a queued background import):
    it is filled in instead of creating a new one.

    Raises ``UnableToImportFlowFile`` if an unexpected failure stops the import; the
    failure is logged, recorded as a FAILED flow file (not in a dry run), and nothing
    else from the file is stored.
    """
    # Nothing an import makes needs the cyclic collector (see collector_pause).
    with automatic_collection_paused():
        size_bytes, sha256 = _fingerprint(stream)
        context = _FileContext(
            filename=filename,
            size_bytes=size_bytes,
            sha256=sha256,
            received_at=received_at,
            strict=strict,
            dry_run=dry_run,
            now=now,
            existing=flow_file,
        )
        try:
            try:
                report = _import_in_transaction(context, stream, on_progress, batch_size)
            except MetersStoredConcurrently:
                # Another import stored some of the same new meters first; nothing of this
                # attempt was kept. Again, on the path that waits for such rows instead.
                logger.info("Importing %s again: another import stored the same meters", filename)
                report = _import_in_transaction(
                    context, stream, on_progress, batch_size, copy_new_meters=False
                )
            if not dry_run and report.readings_imported >= ANALYZE_AFTER_READINGS:
                _refresh_planner_statistics()
            return report
        except Exception as failure:
            logger.exception("Import of %s failed", filename)
            reason = _one_line(failure)
            flow_file_id = None if dry_run else _record_failure(context, reason)
            raise UnableToImportFlowFile(
                filename=filename, reason=reason, flow_file_id=flow_file_id
            ) from failure


def _import_in_transaction(
    context: "_FileContext",
    stream: BinaryIO,
    on_progress: Callable[[ImportProgress], None] | None,
    batch_size: int,
    *,
    copy_new_meters: bool = True,
) -> ImportReport:
    """One attempt at the whole file, in one transaction (rolled back in a dry run)."""
    with transaction.atomic():
        original = _accepted_flow_file(Q(sha256=context.sha256))
        if original is not None:
            report = _ImportRun(context, stream).record_duplicate(None, original)
        else:
            keep_readings = not (context.strict and _has_errors(stream))
            stream.seek(0)
            report = _ImportRun(
                context,
                stream,
                keep_readings=keep_readings,
                batch_size=batch_size,
                copy_new_meters=copy_new_meters,
            ).execute(on_progress)
        if context.dry_run:
            transaction.set_rollback(True)
            report.flow_file_id = None
    return report


@dataclass(frozen=True)
class _FileContext:
    filename: str
    size_bytes: int
    sha256: str
    received_at: datetime
    strict: bool
    dry_run: bool
    now: Callable[[], datetime]
    existing: FlowFile | None = None


class _ImportRun:
    """One pass over the file, inside the caller's transaction."""

    def __init__(
        self,
        context: _FileContext,
        stream: BinaryIO,
        *,
        keep_readings: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        copy_new_meters: bool = True,
    ) -> None:
        self.context = context
        self.stream = stream
        self.keep_readings = keep_readings
        self.batch_size = batch_size
        self.copy_new_meters = copy_new_meters
        self.flow_file: FlowFile | None = None
        self.writer: BatchWriter | None = None
        self.report = ImportReport(
            filename=context.filename, status=FlowFileStatus.RUNNING, dry_run=context.dry_run
        )
        self._unsaved_findings: list[Finding] = []

    def execute(self, on_progress: Callable[[ImportProgress], None] | None) -> ImportReport:
        # Parsing runs a few thousand events ahead in its own thread, overlapping the
        # database's work on each batch (see read_ahead).
        with ReadAhead(parse_stream(self.stream), checkpoint=self.stream.tell) as events:
            return self._consume(events, on_progress)

    def _consume(
        self,
        events: ReadAhead[ParseEvent],
        on_progress: Callable[[ImportProgress], None] | None,
    ) -> ImportReport:
        summary = ParseSummary()
        # Records by their type (one lookup per event, most events being records); none
        # is stored until the header has made a writer.
        store: dict[type, Callable[[Any], None]] = {}
        for count, event in enumerate(events, start=1):
            add = store.get(type(event))
            if add is not None:
                add(event)
            elif isinstance(event, Finding):
                self.add_finding(event)
            elif isinstance(event, FileHeader):
                original = _accepted_flow_file(
                    Q(
                        from_role_code=event.from_role_code,
                        from_participant_id=event.from_participant_id,
                        file_identifier=event.file_identifier,
                    )
                )
                if original is None:
                    original = self._start(event)
                if original is not None:
                    return self.record_duplicate(event, original)
                if self.writer is not None:
                    store = self.writer.adders()
            elif isinstance(event, ParseSummary):
                summary = event
            if on_progress is not None and count % PROGRESS_EVERY_EVENTS == 0:
                on_progress(self._progress(events.position or 0))
        if self.writer is not None:
            self.writer.flush()
        if on_progress is not None:
            on_progress(self._progress(self.context.size_bytes))
        return self._finish(summary)

    def _progress(self, bytes_read: int) -> ImportProgress:
        stored = self.writer.counts.readings_imported if self.writer is not None else 0
        return ImportProgress(
            bytes_read=bytes_read, bytes_total=self.context.size_bytes, readings_stored=stored
        )

    def _start(self, header: FileHeader) -> FlowFile | None:
        """Claim the sender + file identifier; returns the original if we lost a race."""
        try:
            with transaction.atomic():
                self.flow_file = self._create_flow_file(FlowFileStatus.RUNNING, header)
        except IntegrityError:
            return _accepted_flow_file(
                Q(
                    from_role_code=header.from_role_code,
                    from_participant_id=header.from_participant_id,
                    file_identifier=header.file_identifier,
                )
            )
        if self.keep_readings:
            self.writer = BatchWriter(
                flow_file=self.flow_file,
                on_finding=self.add_finding,
                batch_size=self.batch_size,
                copy_new_meters=self.copy_new_meters,
            )
        return None

    def record_duplicate(self, header: FileHeader | None, original: FlowFile) -> ImportReport:
        """Record this file as a resend of ``original``; nothing else is stored."""
        self.flow_file = self._create_flow_file(
            FlowFileStatus.DUPLICATE, header, duplicate_of=original
        )
        self._save_findings()
        self.report.status = FlowFileStatus.DUPLICATE
        self.report.flow_file_id = self.flow_file.pk
        self.report.duplicate_of = FlowFileRef(
            id=original.pk, filename=original.filename, received_at=original.received_at
        )
        return self.report

    def add_finding(self, finding: Finding) -> None:
        """Count, report and (in batches) store a finding."""
        self.report.add_finding(finding)
        self._unsaved_findings.append(finding)
        if self.flow_file is not None and len(self._unsaved_findings) >= FINDING_BATCH_SIZE:
            self._save_findings()

    def _save_findings(self) -> None:
        assert self.flow_file is not None
        ImportFinding.objects.bulk_create(
            [
                ImportFinding(
                    flow_file=self.flow_file,
                    line_number=finding.line_number,
                    severity=finding.severity.upper(),
                    code=finding.code,
                    field=finding.field,
                    message=finding.message,
                )
                for finding in self._unsaved_findings
            ]
        )
        self._unsaved_findings.clear()

    def _finish(self, summary: ParseSummary) -> ImportReport:
        report = self.report
        if summary.rejected or not self.keep_readings:
            report.status = FlowFileStatus.REJECTED
        elif report.error_count:
            report.status = FlowFileStatus.IMPORTED_WITH_ERRORS
        else:
            report.status = FlowFileStatus.IMPORTED
        if self.flow_file is None:
            self.flow_file = self._create_flow_file(report.status, None)
        report.readings_in_file = summary.reading_lines
        if self.writer is not None:
            report.readings_imported = self.writer.counts.readings_imported
            report.readings_duplicate = self.writer.counts.readings_duplicate
            report.readings_superseding = self.writer.counts.readings_superseding
        self._save_findings()
        flow_file = self.flow_file
        flow_file.status = report.status
        flow_file.finished_at = self.context.now()
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
        flow_file.save()
        report.flow_file_id = flow_file.pk
        return report

    def _create_flow_file(
        self,
        status: FlowFileStatus,
        header: FileHeader | None,
        *,
        duplicate_of: FlowFile | None = None,
    ) -> FlowFile:
        context = self.context
        flow_file = context.existing or FlowFile()
        flow_file.filename = context.filename
        flow_file.size_bytes = context.size_bytes
        flow_file.sha256 = context.sha256
        flow_file.status = status
        flow_file.received_at = context.received_at
        flow_file.strict = context.strict
        flow_file.duplicate_of = duplicate_of
        if status is FlowFileStatus.DUPLICATE:
            flow_file.finished_at = context.now()
        if header is not None:
            flow_file.file_identifier = header.file_identifier
            flow_file.flow_version = header.flow_version
            flow_file.from_role_code = header.from_role_code
            flow_file.from_participant_id = header.from_participant_id
            flow_file.to_role_code = header.to_role_code
            flow_file.to_participant_id = header.to_participant_id
            flow_file.file_created_at = header.created_at
            flow_file.test_data_flag = header.test_data_flag
            flow_file.is_test = header.is_test
            self.report.is_test = header.is_test
        flow_file.save()
        return flow_file


def _refresh_planner_statistics() -> None:
    """ANALYZE the tables a large import grew (PostgreSQL; a sampled, quick pass)."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in (Reading, Meter, MeterPoint)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


def _fingerprint(stream: BinaryIO) -> tuple[int, str]:
    """Size and SHA-256 of the whole stream, leaving it rewound."""
    digest = hashlib.sha256()
    size = 0
    stream.seek(0)
    while chunk := stream.read(HASH_CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return size, digest.hexdigest()


def _has_errors(stream: BinaryIO) -> bool:
    """A parse-only pass for strict mode: does the file hold any error?"""
    stream.seek(0)
    for event in parse_stream(stream):
        if isinstance(event, ParseSummary):
            return event.error_count > 0
    return False  # pragma: no cover - the parser always ends with a summary


def _accepted_flow_file(condition: Q) -> FlowFile | None:
    return FlowFile.objects.filter(condition, status__in=ACCEPTED_STATUSES).order_by("pk").first()


def _record_failure(context: _FileContext, reason: str) -> int | None:
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


def _one_line(failure: BaseException) -> str:
    text = " ".join(str(failure).split()) or type(failure).__name__
    return f"{type(failure).__name__}: {text}"[:500]
