"""Import one D0010 file: the only code path that writes readings.

The management command, the admin upload, the API and background tasks all call
``import_flow_file`` and translate its ``ImportReport`` (or ``UnableToImportFlowFile``)
into an exit status, an HTTP response or a message.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg import errors as psycopg_errors

from meter_readings.d0010 import (
    FileHeader,
    Finding,
    FindingCode,
    ParseEvent,
    ParseSummary,
    parse_stream,
)
from meter_readings.models import (
    ACCEPTED_STATUSES,
    CURRENT_READING_KEY,
    FlowFile,
    FlowFileStatus,
    ImportFinding,
    Meter,
    MeterPoint,
    Reading,
)
from meter_readings.d0010.findings import error
from meter_readings.services.batch import (
    DEFAULT_BATCH_SIZE,
    BatchWriter,
    MetersStoredConcurrently,
    StagedUpsert,
    WritingStrategy,
)
from meter_readings.services.collector_pause import automatic_collection_paused
from meter_readings.services.import_guard import ImportGuard, import_guard
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
# Earlier files named in an IDENTIFIER_REUSED finding.
NAMED_EARLIER_FILES = 5


class ByteStream(Protocol):
    """A seekable binary stream: an open file, an upload, a stored original."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


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

    @classmethod
    def of(cls, flow_file: FlowFile) -> "FlowFileRef":
        return cls(id=flow_file.pk, filename=flow_file.filename, received_at=flow_file.received_at)


@dataclass
class ImportReport:
    """What happened to one file, for any interface to show."""

    filename: str
    status: FlowFileStatus
    dry_run: bool
    flow_file_id: int | None = None
    duplicate_of: FlowFileRef | None = None
    # Accepted files received earlier under the same sender and file identifier.
    same_identifier_as: list[FlowFileRef] = field(default_factory=list)
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
    # Nothing an import makes needs the cyclic collector (see collector_pause). On
    # SQLite imports take turns, waiting as long as it takes (see import_guard).
    with automatic_collection_paused(), guard.turn():
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
        leased = None
        if flow_file is None and not dry_run:
            context = replace(context, existing=_record_start(context, guard))
            leased = context.existing
        try:
            return _import(context, stream, on_progress, batch_size)
        finally:
            if leased is not None:
                _release_quietly(guard, leased)


def _import(
    context: "_FileContext",
    stream: ByteStream,
    on_progress: Callable[[ImportProgress], None] | None,
    batch_size: int,
) -> ImportReport:
    try:
        try:
            report = _import_in_transaction(context, stream, on_progress, batch_size)
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
            report = _import_in_transaction(
                replace(context, strategy=StagedUpsert()), stream, on_progress, batch_size
            )
        except _StoreNothing as verdict:
            # The file adds nothing, or strict mode refuses what it adds: its writes were
            # rolled back; record it with its findings and store nothing.
            report = _import_in_transaction(context, stream, None, batch_size, verdict=verdict)
        if not context.dry_run and report.readings_imported >= ANALYZE_AFTER_READINGS:
            _refresh_planner_statistics()
        return report
    except Exception as failure:
        logger.exception("Import of %s failed", context.filename)
        reason = _one_line(failure)
        flow_file_id = None if context.dry_run else _record_failure(context, reason)
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
    return constraint == CURRENT_READING_KEY


def _record_start(context: "_FileContext", guard: ImportGuard) -> FlowFile:
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


def _release_quietly(guard: ImportGuard, flow_file: FlowFile) -> None:
    try:
        guard.release_lease(flow_file.pk)
    except Exception:
        # The session is gone (and with it the lease): nothing is left to release.
        logger.warning("Could not release the lease on flow file %s", flow_file.pk)


class _StoreNothing(Exception):
    """Roll the import's writes back; record the file as ``status`` with its findings."""

    def __init__(
        self, *, status: FlowFileStatus, original: FlowFile | None, counts: "ImportReport"
    ) -> None:
        super().__init__(status)
        self.status = status
        self.original = original
        self.counts = counts


def _import_in_transaction(
    context: "_FileContext",
    stream: ByteStream,
    on_progress: Callable[[ImportProgress], None] | None,
    batch_size: int,
    *,
    verdict: _StoreNothing | None = None,
) -> ImportReport:
    """One attempt at the whole file, in one transaction (rolled back in a dry run)."""
    with transaction.atomic():
        original = _accepted_flow_file(Q(sha256=context.sha256))
        if original is not None:
            report = _ImportRun(context, stream).record_duplicate(None, original)
        else:
            keep_readings = verdict is None and not (context.strict and _has_errors(stream))
            stream.seek(0)
            report = _ImportRun(
                context,
                stream,
                keep_readings=keep_readings,
                batch_size=batch_size,
                verdict=verdict,
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
    # How batches store their meters (None: the default, batch.NewMetersStraightIn).
    strategy: WritingStrategy | None = None


class _ImportRun:
    """One pass over the file, inside the caller's transaction."""

    def __init__(
        self,
        context: _FileContext,
        stream: ByteStream,
        *,
        keep_readings: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        verdict: _StoreNothing | None = None,
    ) -> None:
        self.context = context
        self.stream = stream
        self.keep_readings = keep_readings
        self.batch_size = batch_size
        self.verdict = verdict
        # Accepted files under the same sender and file identifier, oldest first.
        self.earlier: list[FlowFile] = []
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
        """Claim the file's bytes and find the earlier files under its identifier.

        Returns the original if a copy of the same bytes was accepted meanwhile.
        """
        # Files under one identifier are imported one after the other, so that each is
        # compared with everything the others stored (a truncated copy and its resend
        # arriving together).
        import_guard().serialise_identity(
            f"{header.from_role_code}/{header.from_participant_id}/{header.file_identifier}"
        )
        earlier = FlowFile.objects.filter(
            from_role_code=header.from_role_code,
            from_participant_id=header.from_participant_id,
            file_identifier=header.file_identifier,
            status__in=ACCEPTED_STATUSES,
        )
        if self.context.existing is not None:
            earlier = earlier.exclude(pk=self.context.existing.pk)
        self.earlier = list(earlier.order_by("pk"))
        try:
            with transaction.atomic():
                self.flow_file = self._create_flow_file(FlowFileStatus.RUNNING, header)
        except IntegrityError:
            return _accepted_flow_file(Q(sha256=self.context.sha256))
        self.report.same_identifier_as = [FlowFileRef.of(other) for other in self.earlier]
        if self.earlier and not self._verdict_is(FlowFileStatus.DUPLICATE):
            self.add_finding(self._identifier_reused(header))
        if self.keep_readings:
            self.writer = BatchWriter(
                flow_file=self.flow_file,
                on_finding=self.add_finding,
                batch_size=self.batch_size,
                strategy=self.context.strategy,
            )
        return None

    def _verdict_is(self, status: FlowFileStatus) -> bool:
        return self.verdict is not None and self.verdict.status == status

    def _identifier_reused(self, header: FileHeader) -> Finding:
        named = ", ".join(
            f"#{other.pk} {other.filename!r} (received "
            f"{timezone.localtime(other.received_at):%Y-%m-%d %H:%M}, "
            f"{other.get_status_display().lower()})"
            for other in self.earlier[:NAMED_EARLIER_FILES]
        )
        more = len(self.earlier) - NAMED_EARLIER_FILES
        if more > 0:
            named += f" and {more} more"
        outcome = (
            "in strict mode the file is refused"
            if self.context.strict
            else "its readings were compared with those held and what it adds was stored"
        )
        return error(
            header.line_number,
            FindingCode.IDENTIFIER_REUSED,
            f"file identifier {header.file_identifier!r} from {header.from_role_code}/"
            f"{header.from_participant_id} was used before, with other content, by flow "
            f"file {named}; {outcome}",
            "J1064 File Identifier",
        )

    def _adds_nothing(self, summary: ParseSummary) -> bool:
        """Every reading already held, and no meter or site visit new either."""
        if self.writer is None or summary.rejected:
            return False
        counts = self.writer.counts
        return not (counts.readings_imported or counts.meters_created or counts.site_visits)

    def record_duplicate(self, header: FileHeader | None, original: FlowFile) -> ImportReport:
        """Record this file as a resend of ``original``; nothing else is stored."""
        self.flow_file = self._create_flow_file(
            FlowFileStatus.DUPLICATE, header, duplicate_of=original
        )
        self._save_findings()
        self.report.status = FlowFileStatus.DUPLICATE
        self.report.flow_file_id = self.flow_file.pk
        self.report.duplicate_of = FlowFileRef.of(original)
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
        report.readings_in_file = summary.reading_lines
        if self.writer is not None:
            report.readings_imported = self.writer.counts.readings_imported
            report.readings_duplicate = self.writer.counts.readings_duplicate
            report.readings_superseding = self.writer.counts.readings_superseding
        if self.earlier and self.verdict is None and self.writer is not None:
            if self._adds_nothing(summary):
                raise _StoreNothing(
                    status=FlowFileStatus.DUPLICATE, original=self.earlier[0], counts=report
                )
            if self.context.strict:
                raise _StoreNothing(status=FlowFileStatus.REJECTED, original=None, counts=report)
        if self.verdict is not None:
            report.status = self.verdict.status
            report.readings_duplicate = self.verdict.counts.readings_duplicate
            if self.verdict.original is not None:
                report.duplicate_of = FlowFileRef.of(self.verdict.original)
        elif summary.rejected or not self.keep_readings:
            report.status = FlowFileStatus.REJECTED
        elif report.error_count:
            report.status = FlowFileStatus.IMPORTED_WITH_ERRORS
        else:
            report.status = FlowFileStatus.IMPORTED
        if self.flow_file is None:
            self.flow_file = self._create_flow_file(report.status, None)
        self._save_findings()
        flow_file = self.flow_file
        if self.verdict is not None and self.verdict.original is not None:
            flow_file.duplicate_of = self.verdict.original
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


def _has_errors(stream: ByteStream) -> bool:
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
