"""One pass over a file inside its transaction, and the rules it applies as it goes.

``import_in_transaction`` runs one attempt at the whole file: a duplicate of accepted
bytes is recorded at once; otherwise an ``ImportRun`` reads the parser's events, claims
the file's bytes, finds earlier files under its sender and identifier, hands records to
the batch writer and findings to the report, and decides at the end whether the file
adds anything (``StoreNothing`` rolls its writes back for a rerun that stores nothing).
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from meter_readings.d0010 import (
    FileHeader,
    Finding,
    FindingCode,
    ParseEvent,
    ParseSummary,
    parse_stream,
)
from meter_readings.d0010.findings import error
from meter_readings.models import ACCEPTED_STATUSES, FlowFile, FlowFileStatus, ImportFinding
from meter_readings.services._envelope import parsed_ahead
from meter_readings.services._flow_file_records import (
    FileContext,
    fill_from_header,
    fill_from_outcome,
    fill_identity,
)
from meter_readings.services.batch import DEFAULT_BATCH_SIZE, BatchWriter
from meter_readings.services.batch import sql as dialects
from meter_readings.services.batch.sql.base import BulkTable
from meter_readings.services.import_guard import import_guard
from meter_readings.services.import_types import (
    ByteStream,
    FlowFileRef,
    ImportProgress,
    ImportReport,
)
from meter_readings.services.read_ahead import ReadAhead
from meter_readings.report_cache import drop_reports_on_commit
from meter_readings.services._import_checks import ImportChecks

FINDING_BATCH_SIZE = 1000
# Findings are written straight into their table, as a batch's rows are staged.
FINDINGS_TABLE = BulkTable(
    ImportFinding._meta.db_table,
    (
        ("flow_file_id", models.BigIntegerField()),
        ("line_number", models.PositiveIntegerField(null=True)),
        ("severity", models.CharField(max_length=7)),
        ("code", models.CharField(max_length=40)),
        ("field", models.CharField(max_length=60)),
        ("message", models.TextField()),
    ),
)
PROGRESS_EVERY_EVENTS = 5000
# Earlier files named in an IDENTIFIER_REUSED finding.
NAMED_EARLIER_FILES = 5


class StoreNothing(Exception):
    """Roll the import's writes back; record the file as ``status`` with its findings."""

    def __init__(
        self, *, status: FlowFileStatus, original: FlowFile | None, counts: "ImportReport"
    ) -> None:
        super().__init__(status)
        self.status = status
        self.original = original
        self.counts = counts


def import_in_transaction(
    context: FileContext,
    stream: ByteStream,
    on_progress: Callable[[ImportProgress], None] | None,
    batch_size: int,
    *,
    verdict: StoreNothing | None = None,
) -> ImportReport:
    """One attempt at the whole file, in one transaction (rolled back in a dry run)."""
    with transaction.atomic():
        original = accepted_flow_file(Q(sha256=context.sha256))
        if original is not None:
            report = ImportRun(context, stream).record_duplicate(None, original)
        else:
            keep_readings = verdict is None and not (context.strict and has_errors(stream))
            stream.seek(0)
            report = ImportRun(
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


class ImportRun:
    """One pass over the file, inside the caller's transaction."""

    def __init__(
        self,
        context: FileContext,
        stream: ByteStream,
        *,
        keep_readings: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        verdict: StoreNothing | None = None,
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
        self.checks: ImportChecks | None = None
        self._events: ReadAhead[ParseEvent] | None = None
        self.report = ImportReport(
            filename=context.filename, status=FlowFileStatus.RUNNING, dry_run=context.dry_run
        )
        self._unsaved_findings: list[Finding] = []

    def execute(self, on_progress: Callable[[ImportProgress], None] | None) -> ImportReport:
        # Parsing runs a few thousand events ahead in its own thread, overlapping the
        # database's work on each batch (see read_ahead).
        with parsed_ahead(self.stream) as events:
            return self._consume(events, on_progress)

    def _consume(
        self,
        events: ReadAhead[ParseEvent],
        on_progress: Callable[[ImportProgress], None] | None,
    ) -> ImportReport:
        summary = ParseSummary()
        self._events = events
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
        if self.checks is not None:
            self.report.exceptions_raised = self.checks.finish().raised
            drop_reports_on_commit()
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
            return accepted_flow_file(Q(sha256=self.context.sha256))
        self.report.same_identifier_as = [FlowFileRef.of(other) for other in self.earlier]
        if self.earlier and not self._verdict_is(FlowFileStatus.DUPLICATE):
            self.add_finding(self._identifier_reused(header))
        if self.keep_readings:
            if settings.D0010_CHECK_READINGS:
                self.checks = ImportChecks(
                    flow_file=self.flow_file, on_finding=self.add_finding, now=self.context.now()
                )
            self.writer = BatchWriter(
                flow_file=self.flow_file,
                on_finding=self.add_finding,
                batch_size=self.batch_size,
                strategy=self.context.strategy,
                on_readings_stored=self._check_batch if self.checks is not None else None,
            )
        return None

    def _check_batch(self, readings: list, new_meter_runs: list) -> None:
        assert self.checks is not None and self._events is not None and self.writer is not None
        # The checks read rows back one by one (on SQLite each hands the GIL over):
        # parsing ahead meanwhile would make each wait for it.
        with self._events.paused():
            self.checks.after_batch(
                readings,
                new_meter_runs,
                meter_point_ids=self.writer.meter_point_ids,
                created_meter_points=self.writer.created_meter_points,
            )

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
        if not self._unsaved_findings:
            return
        # In bulk, as the batches write readings (a COPY on PostgreSQL, multi-row
        # INSERTs on SQLite): a file can carry a finding on most of its lines.
        flow_file_id = self.flow_file.pk
        with connection.cursor() as cursor:
            dialects.for_connection().stage(
                cursor,
                FINDINGS_TABLE,
                [
                    (
                        flow_file_id,
                        finding.line_number,
                        finding.severity.upper(),
                        str(finding.code),
                        finding.field,
                        finding.message,
                    )
                    for finding in self._unsaved_findings
                ],
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
                raise StoreNothing(
                    status=FlowFileStatus.DUPLICATE, original=self.earlier[0], counts=report
                )
            if self.context.strict:
                raise StoreNothing(status=FlowFileStatus.REJECTED, original=None, counts=report)
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
        fill_from_outcome(flow_file, report, summary, self.context.now())
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
        flow_file = self.context.existing or FlowFile()
        fill_identity(flow_file, self.context, status, duplicate_of=duplicate_of)
        if header is not None:
            fill_from_header(flow_file, header)
            self.report.is_test = header.is_test
        flow_file.save()
        return flow_file


def has_errors(stream: ByteStream) -> bool:
    """A parse-only pass for strict mode: does the file hold any error?"""
    stream.seek(0)
    for event in parse_stream(stream):
        if isinstance(event, ParseSummary):
            return event.error_count > 0
    return False  # pragma: no cover - the parser always ends with a summary


def accepted_flow_file(condition: Q) -> FlowFile | None:
    return FlowFile.objects.filter(condition, status__in=ACCEPTED_STATUSES).order_by("pk").first()
