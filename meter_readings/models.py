"""What is stored: every flow file offered, its findings, and the readings it carried.

Integrity lives in database constraints: one accepted file per sender and file
identifier, one current reading per meter register and reading time.
"""

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from simple_history.models import HistoricalRecords

from meter_readings.d0010 import codes, records
from meter_readings.d0010.values import STORED_DECIMAL_PLACES, STORED_INTEGER_DIGITS
from meter_readings.validation import SeriesReading, rules


class FlowFileStatus(models.TextChoices):
    # Stored and waiting for a worker (background imports only).
    QUEUED = "QUEUED", "Queued"
    # Being imported: committed before the import's own transaction begins, so that an
    # import killed at any moment leaves a record. The importing process holds a lease
    # on it (services.import_guard); a STARTED file whose lease is free was abandoned,
    # and recovery ends it (INTERRUPTED) or, for a background import, runs it again.
    STARTED = "STARTED", "Started"
    # Inside the import's transaction, holding the file's content: never seen outside
    # it, except as the claim that makes a concurrent copy of the same bytes a resend.
    RUNNING = "RUNNING", "Importing"
    IMPORTED = "IMPORTED", "Imported"
    IMPORTED_WITH_ERRORS = "IMPORTED_WITH_ERRORS", "Imported with errors"
    REJECTED = "REJECTED", "Rejected"
    DUPLICATE = "DUPLICATE", "Duplicate (resend)"
    FAILED = "FAILED", "Failed"
    # The process importing it stopped (killed, crashed) before the import finished;
    # nothing from the file was stored.
    INTERRUPTED = "INTERRUPTED", "Interrupted"


# A file in one of these states owns its bytes: a second copy of the same bytes is a
# resend. A file under the same sender and identifier with other bytes is compared
# reading by reading instead (decision record 2). Rejected, failed and interrupted files
# own nothing, so the same file can be offered again.
ACCEPTED_STATUSES = (
    FlowFileStatus.RUNNING,
    FlowFileStatus.IMPORTED,
    FlowFileStatus.IMPORTED_WITH_ERRORS,
)


class FlowFile(models.Model):
    """One file offered for import, whatever became of it."""

    filename = models.CharField(max_length=255, db_index=True)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField("SHA-256", max_length=64, db_index=True)
    status = models.CharField(max_length=24, choices=FlowFileStatus.choices)
    received_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    strict = models.BooleanField(default=False)
    failure_reason = models.TextField(blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="resends"
    )
    # The original bytes of a file imported in the background (kept as evidence).
    stored_file = models.FileField(upload_to="flow-files/%Y/%m/%d/", blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    # How many times an import of it started (background imports run again at most once
    # after their worker died), and when it was last sent to a worker.
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)

    # ZHV header.
    file_identifier = models.CharField("file identifier (J1064)", max_length=10, blank=True)
    flow_version = models.CharField(max_length=3, blank=True)
    from_role_code = models.CharField("from role (J0934)", max_length=1, blank=True)
    from_participant_id = models.CharField("from participant (J0938)", max_length=4, blank=True)
    to_role_code = models.CharField("to role (J0935)", max_length=1, blank=True)
    to_participant_id = models.CharField("to participant (J0939)", max_length=4, blank=True)
    file_created_at = models.DateTimeField("file created (J0280)", null=True, blank=True)
    test_data_flag = models.CharField("test data flag (J1063)", max_length=4, blank=True)
    is_test = models.BooleanField(default=False)

    # ZPT trailer, as declared by the sender.
    trailer_group_count = models.PositiveBigIntegerField(null=True, blank=True)
    trailer_flow_count = models.PositiveBigIntegerField(null=True, blank=True)
    trailer_checksum = models.CharField(max_length=10, blank=True)
    file_completed_at = models.DateTimeField("file completed (J1065)", null=True, blank=True)

    # What the importer found.
    line_count = models.PositiveBigIntegerField(default=0)
    group_count = models.PositiveBigIntegerField(default=0)
    meter_point_count = models.PositiveBigIntegerField("026 groups", default=0)
    reading_count = models.PositiveBigIntegerField("030 groups", default=0)
    readings_imported = models.PositiveBigIntegerField(default=0)
    readings_duplicate = models.PositiveBigIntegerField(default=0)
    readings_superseding = models.PositiveBigIntegerField(default=0)
    error_count = models.PositiveBigIntegerField(default=0)
    warning_count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sha256"],
                condition=Q(status__in=ACCEPTED_STATUSES),
                name="one_accepted_file_per_content",
            ),
            models.CheckConstraint(
                condition=Q(status=FlowFileStatus.DUPLICATE, duplicate_of__isnull=False)
                | (~Q(status=FlowFileStatus.DUPLICATE) & Q(duplicate_of__isnull=True)),
                name="duplicate_names_its_original",
            ),
        ]
        indexes = [
            models.Index(fields=["received_at"], name="flow_file_received_idx"),
            # The files under one sender and identifier (a truncated copy and its resend).
            models.Index(
                fields=["from_participant_id", "file_identifier", "from_role_code"],
                name="flow_file_identity_idx",
            ),
            # Recovery looks for imports in these states only.
            models.Index(
                fields=["status"],
                condition=Q(status__in=["QUEUED", "STARTED"]),
                name="flow_file_unfinished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename} (#{self.pk})"

    @property
    def sender(self) -> str:
        if not self.from_participant_id:
            return ""
        return f"{self.from_role_code}/{self.from_participant_id}"


class FindingSeverity(models.TextChoices):
    ERROR = "ERROR", "Error"
    WARNING = "WARNING", "Warning"


class ImportFinding(models.Model):
    """A problem found in a flow file, at a line where it has one."""

    flow_file = models.ForeignKey(FlowFile, on_delete=models.CASCADE, related_name="findings")
    line_number = models.PositiveIntegerField(null=True, blank=True)
    severity = models.CharField(max_length=7, choices=FindingSeverity.choices)
    code = models.CharField(max_length=40, db_index=True)
    field = models.CharField(max_length=60, blank=True)
    message = models.TextField()

    def __str__(self) -> str:
        return f"{self.code} at line {self.line_number}"


class MeterPoint(models.Model):
    """An MPAN core (or AMSID) as it appears in J0003."""

    # Unique through the constraint below rather than unique=True, which on PostgreSQL
    # adds a second, pattern-matching index: every search is exact, and each index
    # costs every insert.
    mpan_core = models.CharField("MPAN core", max_length=13)
    distributor_id = models.CharField(max_length=2)
    check_digit_valid = models.BooleanField(null=True)
    is_amsid = models.BooleanField("AMSID", default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mpan_core"], name="one_meter_point_per_mpan_core"),
            # Length only: a REGEXP check runs a Python callback per insert on SQLite, and
            # the parser admits 13 ASCII digits and nothing else.
            models.CheckConstraint(
                condition=Exact(Length("mpan_core"), 13), name="mpan_core_is_13_characters"
            ),
        ]

    def __str__(self) -> str:
        return self.mpan_core


class Meter(models.Model):
    """A meter serial (J0004) at one meter point."""

    # Indexed as the leading column of the unique constraint below.
    # On PostgreSQL this reference is checked by statement-level triggers, not a foreign
    # key (migration 0004, decision record 7); SQLite keeps the foreign key.
    meter_point = models.ForeignKey(
        MeterPoint, on_delete=models.PROTECT, related_name="meters", db_index=False
    )
    serial_number = models.CharField(max_length=10)
    # The supplier's standing data, not the D0010's: how many integer digits the
    # meter's registers show. Empty: inferred from the readings for roll-over, and the
    # register-digits rule is not checked (documentation/VALIDATION.md).
    register_digits = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Integer digits on the meter's registers, where known (1 to 10).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["meter_point", "serial_number"], name="one_meter_per_serial_per_mpan"
            ),
            models.CheckConstraint(
                condition=Q(register_digits__isnull=True)
                | Q(register_digits__gte=1, register_digits__lte=10),
                name="register_digits_from_1_to_10",
            ),
        ]
        # A plain index, not db_index=True (see MeterPoint.mpan_core): serial
        # searches are exact.
        indexes = [models.Index(fields=["serial_number"], name="meter_serial_number_idx")]

    def __str__(self) -> str:
        return self.serial_number


# The items a reading carries besides its key (meter, register, time), in DTC order:
# what a resend must match to be "already held", and what every listing shows. Declared
# once, with the parser's record (d0010/records.py); each is a field of Reading below.
READING_ITEMS = tuple(item.name for item in records.READING_ITEMS)


# The key two concurrent imports of the same reading meet on (the second waits, then
# fails, and the import service runs it again).
CURRENT_READING_KEY = "one_current_reading_per_register_time"


class Reading(models.Model):
    """One register reading (030), with the context of its 026, 028 and 032."""

    # On PostgreSQL this reference is checked by statement-level triggers, not a foreign
    # key (migration 0004, decision record 7); SQLite keeps the foreign key.
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="readings")
    # Indexed by the (flow_file, line_number) constraint below.
    # On PostgreSQL this reference is checked by statement-level triggers, not a foreign
    # key (migration 0004, decision record 7); SQLite keeps the foreign key.
    flow_file = models.ForeignKey(
        FlowFile, on_delete=models.PROTECT, related_name="readings", db_index=False
    )
    line_number = models.PositiveIntegerField()
    register_id = models.CharField("register (J0010)", max_length=2)
    read_at = models.DateTimeField("read at (J0016)")
    value = models.DecimalField(
        "reading (J0040)",
        max_digits=STORED_INTEGER_DIGITS + STORED_DECIMAL_PLACES,
        decimal_places=STORED_DECIMAL_PLACES,
    )
    reading_type = models.CharField(
        "reading type (J0171)", max_length=1, choices=codes.READING_TYPES, blank=True
    )
    bsc_validation_status = models.CharField(
        "BSC validation (J0022)", max_length=1, choices=codes.BSC_VALIDATION_STATUSES, blank=True
    )
    reading_flag = models.BooleanField("reading flag (J0045)", null=True)
    reading_method = models.CharField(
        "method (J1888)", max_length=1, choices=codes.READING_METHODS, blank=True
    )
    md_reset_at = models.DateTimeField("MD reset at (J0044)", null=True, blank=True)
    md_reset_count = models.PositiveSmallIntegerField("MD resets (J1013)", null=True, blank=True)
    validation_reason_code = models.CharField(
        "032 reason (J0332)", max_length=2, choices=codes.VALIDATION_REASON_CODES, blank=True
    )
    validation_status = models.BooleanField("032 status (J0047)", null=True)
    is_superseded = models.BooleanField(default=False)
    # One-to-one through the partial unique constraint below, which indexes only the
    # few readings that supersede another instead of every row's NULL.
    # On PostgreSQL this reference is checked by statement-level triggers, not a foreign
    # key (migration 0004, decision record 7); SQLite keeps the foreign key.
    supersedes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "register_id", "read_at"],
                condition=Q(is_superseded=False),
                name=CURRENT_READING_KEY,
            ),
            models.UniqueConstraint(
                fields=["flow_file", "line_number"], name="one_reading_per_file_line"
            ),
            models.UniqueConstraint(
                fields=["supersedes"],
                condition=Q(supersedes__isnull=False),
                name="superseded_at_most_once",
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="reading_is_not_negative"),
        ]
        # Each index costs every insert: the meter foreign key, the two constraints above
        # and this one (date hierarchy, recent readings) are all the reading table has.
        indexes = [models.Index(fields=["read_at"], name="reading_read_at_idx")]

    def __str__(self) -> str:
        return f"{self.register_id} {self.read_at:%Y-%m-%d %H:%M} {self.value}"

    def as_series(self, *, file_created_at: datetime | None) -> SeriesReading:
        """This reading as the checks and consumption see it (J0280 of its file given)."""
        return SeriesReading(
            reading_id=self.pk,
            read_at=self.read_at,
            value=self.value,
            reading_type=self.reading_type,
            bsc_validation_status=self.bsc_validation_status,
            reading_flag=self.reading_flag,
            validation_reason_code=self.validation_reason_code,
            validation_status=self.validation_status,
            file_created_at=file_created_at,
        )


class SiteVisitLevel(models.TextChoices):
    MPAN = "027", "MPAN (027)"
    METER = "029", "Meter (029)"
    READING = "033", "Reading (033)"


class SiteVisit(models.Model):
    """Site visit information (027, 029 or 033) and what it describes."""

    flow_file = models.ForeignKey(FlowFile, on_delete=models.PROTECT, related_name="site_visits")
    line_number = models.PositiveIntegerField()
    level = models.CharField(max_length=3, choices=SiteVisitLevel.choices)
    check_code = models.CharField(
        "check code (J0024)", max_length=2, choices=codes.SITE_VISIT_CHECK_CODES, blank=True
    )
    additional_information = models.TextField("additional information (J0012)", blank=True)
    meter_point = models.ForeignKey(
        MeterPoint, on_delete=models.PROTECT, related_name="site_visits"
    )
    meter = models.ForeignKey(
        Meter, null=True, blank=True, on_delete=models.PROTECT, related_name="site_visits"
    )
    reading = models.ForeignKey(
        Reading, null=True, blank=True, on_delete=models.PROTECT, related_name="site_visits"
    )

    def __str__(self) -> str:
        return f"{self.get_level_display()} {self.check_code}"


class MeterPointReadState(models.Model):
    """When a meter point was last read: kept by the checks, for the stale-read report.

    A summary of the readings (recomputed by ``manage.py check_readings``), so that the
    report reads one indexed row per meter point instead of its readings.
    """

    # No foreign key in the database: a summary rewritten for a batch's meter points
    # at once, which a per-row reference check would slow by half (decision record 7
    # gives the same reason for the readings'); rows are only ever written for meter
    # points just read back or just stored.
    meter_point = models.OneToOneField(
        MeterPoint,
        on_delete=models.DO_NOTHING,
        primary_key=True,
        related_name="read_state",
        db_constraint=False,
    )
    # The latest valid actual (not estimated, not withdrawn, not failed) reading's time;
    # empty if the meter point has none.
    last_actual_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["last_actual_read_at"], name="read_state_last_actual_idx")]

    def __str__(self) -> str:
        return f"{self.meter_point_id}: {self.last_actual_read_at}"


class ExceptionStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    ACKNOWLEDGED = "ACKNOWLEDGED", "Acknowledged"
    RESOLVED = "RESOLVED", "Resolved"
    AUTO_RESOLVED = "AUTO_RESOLVED", "Auto-resolved"


# Waiting for the team: what the queue shows by default and what auto-resolution ends.
UNRESOLVED_STATUSES = (ExceptionStatus.OPEN, ExceptionStatus.ACKNOWLEDGED)

RULE_CHOICES = [(str(rule), label) for rule, label in rules.RULE_LABELS.items()]

# The key two concurrent imports re-checking the same reading meet on (the second
# fails, and the import service runs it again, finding the first's exception).
EXCEPTION_KEY = "one_exception_per_reading_and_rule"


class ReadingException(models.Model):
    """A reading that failed a check: one per reading and rule, worked by the team.

    Only ``status`` and ``note`` change after it is raised (by a user, or by the
    checks when a later reading resolves it); every change is kept in ``history``.
    """

    reading = models.ForeignKey(Reading, on_delete=models.PROTECT, related_name="exceptions")
    rule = models.CharField(max_length=24, choices=RULE_CHOICES)
    reason_code = models.CharField(
        "reason (J0332)", max_length=2, choices=codes.VALIDATION_REASON_CODES, blank=True
    )
    detail = models.TextField()
    status = models.CharField(
        max_length=13, choices=ExceptionStatus.choices, default=ExceptionStatus.OPEN
    )
    note = models.TextField(blank=True)
    raised_at = models.DateTimeField()
    status_changed_at = models.DateTimeField()
    # Copied from the reading and its file when raised, so that the queue filters and
    # sorts on its own indexed rows instead of joining the reading table.
    meter_point = models.ForeignKey(
        MeterPoint, on_delete=models.PROTECT, related_name="exceptions", db_index=False
    )
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, related_name="exceptions", db_index=False
    )
    register_id = models.CharField("register (J0010)", max_length=2)
    read_at = models.DateTimeField("read at (J0016)")
    sender = models.CharField(max_length=6, blank=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["reading", "rule"], name=EXCEPTION_KEY)]
        indexes = [
            # The queue lists by status, and by rule, newest first.
            models.Index(fields=["status", "id"], name="exception_queue_idx"),
            models.Index(fields=["rule", "id"], name="exception_rule_idx"),
            models.Index(fields=["meter_point", "read_at"], name="exception_meter_point_idx"),
            # The checks probe the exceptions of each register they touch.
            models.Index(fields=["meter", "register_id", "read_at"], name="exception_register_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rule_display()} on reading #{self.reading_id}"
