"""Explicit output serializers: what the API promises, field by field."""

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from meter_readings.selectors import background_progress, files_sharing_identifier
from meter_readings.models import (
    READING_ITEMS,
    FlowFile,
    ImportFinding,
    Meter,
    MeterPoint,
    Reading,
    ReadingException,
)


class FlowFileRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = FlowFile
        fields = ("id", "filename")


class FlowFileSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    sender = serializers.CharField(read_only=True, help_text="role/participant, e.g. D/UDMS")
    duplicate_of = FlowFileRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = FlowFile
        fields = (
            "id",
            "filename",
            "status",
            "progress",
            "received_at",
            "finished_at",
            "strict",
            "size_bytes",
            "sha256",
            "failure_reason",
            "duplicate_of",
            "file_identifier",
            "flow_version",
            "sender",
            "from_role_code",
            "from_participant_id",
            "to_role_code",
            "to_participant_id",
            "file_created_at",
            "test_data_flag",
            "is_test",
            "trailer_group_count",
            "trailer_flow_count",
            "file_completed_at",
            "line_count",
            "group_count",
            "meter_point_count",
            "reading_count",
            "readings_imported",
            "readings_duplicate",
            "readings_superseding",
            "error_count",
            "warning_count",
        )

    def get_status(self, obj: FlowFile) -> str:
        return obj.status.lower()

    @extend_schema_field(
        inline_serializer(
            "ImportProgress",
            {
                "bytes_read": serializers.IntegerField(),
                "bytes_total": serializers.IntegerField(),
                "readings_stored": serializers.IntegerField(),
            },
            allow_null=True,
        )
    )
    def get_progress(self, obj: FlowFile) -> dict | None:
        """How far a background import has got, while it runs (else null)."""
        return background_progress(flow_file=obj)


class SameIdentifierFileSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = FlowFile
        fields = ("id", "filename", "status", "received_at")

    def get_status(self, obj: FlowFile) -> str:
        return obj.status.lower()


class FlowFileDetailSerializer(FlowFileSerializer):
    """One flow file, with the other files under its sender and file identifier."""

    same_identifier_files = serializers.SerializerMethodField(
        help_text="Other files under the same sender and file identifier (a truncated copy "
        "and its complete resend, for example), oldest first; at most 50."
    )

    class Meta(FlowFileSerializer.Meta):
        fields = (*FlowFileSerializer.Meta.fields, "same_identifier_files")

    @extend_schema_field(SameIdentifierFileSerializer(many=True))
    def get_same_identifier_files(self, obj: FlowFile) -> list[dict]:
        others = files_sharing_identifier(flow_file=obj)
        return SameIdentifierFileSerializer(others, many=True).data


class FindingSerializer(serializers.ModelSerializer):
    line = serializers.IntegerField(source="line_number", allow_null=True)
    severity = serializers.SerializerMethodField()

    class Meta:
        model = ImportFinding
        fields = ("id", "line", "severity", "code", "field", "message")

    def get_severity(self, obj: ImportFinding) -> str:
        return obj.severity.lower()


class MeterPointSerializer(serializers.ModelSerializer):
    class Meta:
        model = MeterPoint
        fields = ("id", "mpan_core", "distributor_id", "check_digit_valid", "is_amsid")


class MeterSerializer(serializers.ModelSerializer):
    mpan_core = serializers.CharField(source="meter_point.mpan_core")

    class Meta:
        model = Meter
        fields = ("id", "serial_number", "mpan_core", "meter_point")


class ReadingSerializer(serializers.ModelSerializer):
    mpan_core = serializers.CharField(source="meter.meter_point.mpan_core")
    meter_serial = serializers.CharField(source="meter.serial_number")
    value = serializers.DecimalField(
        max_digits=13, decimal_places=3, coerce_to_string=True, help_text="Exact, as a string."
    )
    superseded = serializers.BooleanField(source="is_superseded")
    flow_file = FlowFileRefSerializer()

    class Meta:
        model = Reading
        fields = (
            "id",
            "mpan_core",
            "meter_serial",
            "register_id",
            "read_at",
            *READING_ITEMS,
            "superseded",
            "supersedes",
            "flow_file",
            "line_number",
        )


class FlowFileUploadSerializer(serializers.Serializer):
    # An empty file is the import service's to judge: it is recorded as rejected, like
    # every other file offered, rather than refused here unrecorded.
    file = serializers.FileField(help_text="A D0010 flow file.", allow_empty_file=True)


class ImportedFileRefSerializer(serializers.Serializer):
    flow_file_id = serializers.IntegerField()
    filename = serializers.CharField()


class ImportFindingSummarySerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True)
    code = serializers.CharField()
    field = serializers.CharField()
    message = serializers.CharField()


class ImportSummarySerializer(serializers.Serializer):
    """The import service's report, as the command prints it with --format json."""

    filename = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["imported", "imported_with_errors", "rejected", "duplicate"]
    )
    dry_run = serializers.BooleanField()
    flow_file_id = serializers.IntegerField(allow_null=True)
    test_data = serializers.BooleanField()
    readings_in_file = serializers.IntegerField()
    readings_imported = serializers.IntegerField()
    readings_duplicate = serializers.IntegerField()
    readings_superseding = serializers.IntegerField()
    exceptions_raised = serializers.IntegerField()
    error_count = serializers.IntegerField()
    warning_count = serializers.IntegerField()
    duplicate_of = ImportedFileRefSerializer(allow_null=True)
    same_identifier_as = ImportedFileRefSerializer(
        many=True, help_text="Accepted files received earlier under the same sender and identifier."
    )
    errors = ImportFindingSummarySerializer(many=True)
    warnings = ImportFindingSummarySerializer(many=True)
    findings_not_shown = serializers.IntegerField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class FailureSerializer(serializers.Serializer):
    """An unexpected failure: words for a person and a reference the log carries too."""

    detail = serializers.CharField()
    reference = serializers.CharField()
    flow_file_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="The failed upload's record, if any."
    )


class ReadingExceptionSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    mpan_core = serializers.CharField(source="meter_point.mpan_core", read_only=True)
    serial_number = serializers.CharField(source="meter.serial_number", read_only=True)
    reason_code = serializers.CharField(
        read_only=True, help_text="The J0332 reason code of the rule, or empty (no J0332 code)."
    )
    reason = serializers.CharField(source="get_reason_code_display", read_only=True)

    class Meta:
        model = ReadingException
        fields = (
            "id",
            "rule",
            "reason_code",
            "reason",
            "detail",
            "status",
            "note",
            "reading",
            "meter_point",
            "mpan_core",
            "serial_number",
            "register_id",
            "read_at",
            "sender",
            "raised_at",
            "status_changed_at",
        )

    @extend_schema_field(
        serializers.ChoiceField(choices=["open", "acknowledged", "resolved", "auto_resolved"])
    )
    def get_status(self, obj: ReadingException) -> str:
        return obj.status.lower()


class ReadingExceptionChangeSerializer(serializers.Serializer):
    """A user's change: the status it moves to, and why."""

    status = serializers.ChoiceField(
        choices=["acknowledged", "resolved", "open"],
        help_text="acknowledged, resolved (needs a note) or open (reopen).",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="history_date")
    status = serializers.SerializerMethodField()
    note = serializers.CharField()
    user = serializers.SerializerMethodField()
    change = serializers.CharField(source="history_change_reason", allow_null=True)

    def get_status(self, obj) -> str:
        return obj.status.lower()

    def get_user(self, obj) -> str | None:
        return obj.history_user.get_username() if obj.history_user_id else None


class AdvanceSerializer(serializers.Serializer):
    reading = serializers.IntegerField(source="reading.reading_id")
    read_at = serializers.DateTimeField(source="reading.read_at")
    value = serializers.DecimalField(max_digits=14, decimal_places=3, source="reading.value")
    reading_type = serializers.CharField(source="reading.reading_type")
    counted = serializers.BooleanField(
        source="reading.is_valid",
        help_text="False for a withdrawn reading or one the collector failed: not counted.",
    )
    previous_read_at = serializers.DateTimeField(
        source="previous.read_at", allow_null=True, default=None
    )
    advance = serializers.DecimalField(max_digits=14, decimal_places=3, allow_null=True)
    days = serializers.FloatField(allow_null=True)
    per_day = serializers.FloatField(allow_null=True)
    rolled_over = serializers.BooleanField(help_text="The register wrapped past 10^digits.")
    corrects_estimate = serializers.BooleanField(
        help_text="Negative, but after a deemed read and at least the last actual read."
    )


class RegisterConsumptionSerializer(serializers.Serializer):
    meter = serializers.IntegerField(source="meter.pk")
    serial_number = serializers.CharField(source="meter.serial_number")
    register_id = serializers.CharField()
    advances = AdvanceSerializer(many=True)


class StaleBucketSerializer(serializers.Serializer):
    label = serializers.CharField()
    from_months = serializers.IntegerField()
    to_months = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField()


class StaleMeterPointSerializer(serializers.Serializer):
    meter_point = serializers.IntegerField(source="meter_point_id")
    mpan_core = serializers.CharField(source="meter_point.mpan_core")
    last_actual_read_at = serializers.DateTimeField(allow_null=True)
