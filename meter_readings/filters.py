"""django-filter FilterSets: every filter appears in the OpenAPI schema, and a bad value
is a 400 that names the parameter."""

from datetime import UTC
from typing import Any

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.utils import timezone

from meter_readings import selectors
from meter_readings.d0010 import codes
from meter_readings.models import (
    RULE_CHOICES,
    ExceptionStatus,
    FlowFile,
    FlowFileStatus,
    Meter,
    MeterPoint,
    Reading,
    ReadingException,
)

mpan_validator = RegexValidator(r"^[0-9]{13}$", "An MPAN core is exactly 13 digits.")
sender_validator = RegexValidator(
    r"^([A-Z0-9]/)?[A-Z0-9]{1,4}$",
    "A sender is a participant id (UDMS) or role/participant id (D/UDMS).",
)
STATUS_CHOICES = [(value.lower(), label) for value, label in FlowFileStatus.choices]


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time, compared in UTC.

    Python accepts offsets up to 24 hours; PostgreSQL refuses those beyond 15:59, so
    the value is converted to UTC before it reaches the database.
    """

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet that refuses ``?name=`` with no value instead of ignoring it."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        empty = [name for name in self.filters if self.data.get(name, None) == ""]
        for name in empty:
            self.form.add_error(name, "This parameter may not be empty.")
        return valid and not empty


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """true or false, and anything else a 400 (BooleanFilter silently ignores it)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(**kwargs)


def strict_boolean(field_name: str, help_text: str) -> StrictBooleanFilter:
    return StrictBooleanFilter(field_name=field_name, help_text=help_text)


class ReadingFilter(StrictFilterSet):
    mpan = django_filters.CharFilter(
        method="filter_mpan",
        validators=[mpan_validator],
        help_text="MPAN core, 13 digits (exact, indexed).",
    )
    serial = django_filters.CharFilter(
        method="filter_serial", help_text="Meter serial number, exact (J0004)."
    )
    filename = django_filters.CharFilter(
        method="filter_filename", help_text="Source file name, exact."
    )
    flow_file = django_filters.NumberFilter(
        field_name="flow_file_id", min_value=1, help_text="Source flow file id."
    )
    register = django_filters.CharFilter(
        field_name="register_id", max_length=2, help_text="Meter register id (J0010)."
    )
    reading_type = django_filters.ChoiceFilter(
        choices=list(codes.READING_TYPES.items()), help_text="Reading type (J0171)."
    )
    bsc_validation_status = django_filters.ChoiceFilter(
        choices=list(codes.BSC_VALIDATION_STATUSES.items()), help_text="J0022."
    )
    read_after = UtcIsoDateTimeFilter(
        field_name="read_at",
        lookup_expr="gte",
        help_text="Readings at or after this ISO 8601 date-time.",
    )
    read_before = UtcIsoDateTimeFilter(
        field_name="read_at", lookup_expr="lt", help_text="Readings before this date-time."
    )
    superseded = strict_boolean("is_superseded", "true: only superseded; false: only current.")

    class Meta:
        model = Reading
        fields: list[str] = []

    # Through ids (see selectors): every planner then uses the readings' own indexes.
    def filter_mpan(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(meter_id__in=selectors.meter_ids_for_mpan(mpan_core=value))

    def filter_serial(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(meter_id__in=selectors.meter_ids_for_serial(serial_number=value))

    def filter_filename(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(flow_file_id__in=selectors.flow_file_ids_named(filename=value))


class FlowFileFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, method="filter_status", help_text="Import status."
    )
    sender = django_filters.CharFilter(
        method="filter_sender",
        validators=[sender_validator],
        help_text="Sending participant: UDMS or D/UDMS.",
    )
    filename = django_filters.CharFilter(help_text="File name, exact.")
    received_after = UtcIsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte", help_text="Received at or after."
    )
    received_before = UtcIsoDateTimeFilter(
        field_name="received_at", lookup_expr="lt", help_text="Received before."
    )
    test_data = strict_boolean("is_test", "true: only test files; false: only live files.")

    class Meta:
        model = FlowFile
        fields: list[str] = []

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(status=value.upper())

    def filter_sender(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if "/" in value:
            role, participant = value.split("/", 1)
            return queryset.filter(from_role_code=role, from_participant_id=participant)
        return queryset.filter(from_participant_id=value)


class MeterPointFilter(StrictFilterSet):
    mpan = django_filters.CharFilter(field_name="mpan_core", validators=[mpan_validator])
    distributor_id = django_filters.CharFilter(max_length=2)

    class Meta:
        model = MeterPoint
        fields: list[str] = []


class MeterFilter(StrictFilterSet):
    serial = django_filters.CharFilter(field_name="serial_number")
    mpan = django_filters.CharFilter(
        field_name="meter_point__mpan_core", validators=[mpan_validator]
    )

    class Meta:
        model = Meter
        fields: list[str] = []


EXCEPTION_STATUS_CHOICES = [(value.lower(), label) for value, label in ExceptionStatus.choices]
AGE_CHOICES = [(key, label) for key, label, _, _ in selectors.AGE_BANDS]


class ReadingExceptionFilter(StrictFilterSet):
    rule = django_filters.ChoiceFilter(choices=RULE_CHOICES, help_text="The rule failed.")
    reason_code = django_filters.ChoiceFilter(
        choices=list(codes.VALIDATION_REASON_CODES.items()), help_text="J0332 reason code."
    )
    sender = django_filters.CharFilter(
        method="filter_sender",
        validators=[sender_validator],
        help_text="The sender of the reading's file: UDMS or D/UDMS.",
    )
    status = django_filters.MultipleChoiceFilter(
        choices=EXCEPTION_STATUS_CHOICES,
        method="filter_status",
        help_text="One or more of open, acknowledged, resolved, auto_resolved.",
    )
    age = django_filters.ChoiceFilter(
        choices=AGE_CHOICES, method="filter_age", help_text="How long ago it was raised."
    )
    mpan = django_filters.CharFilter(
        field_name="meter_point__mpan_core", validators=[mpan_validator], help_text="MPAN core."
    )

    class Meta:
        model = ReadingException
        fields: list[str] = []

    def filter_sender(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if "/" in value:
            return queryset.filter(sender=value)
        return queryset.filter(sender__endswith=f"/{value}")

    def filter_status(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return (
            queryset.filter(status__in=[status.upper() for status in value]) if value else queryset
        )

    def filter_age(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        after, up_to = selectors.age_band_bounds(band=value, now=timezone.now())
        queryset = queryset.filter(raised_at__lte=up_to)
        return queryset if after is None else queryset.filter(raised_at__gt=after)
