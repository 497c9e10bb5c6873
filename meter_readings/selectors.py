"""Read queries shared by the admin, the API and the export command."""

import calendar
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.db import connection, models
from django.db.models import QuerySet

from meter_readings import report_cache
from meter_readings.models import (
    RULE_CHOICES,
    UNRESOLVED_STATUSES,
    FlowFile,
    FlowFileStatus,
    ImportFinding,
    Meter,
    MeterPoint,
    MeterPointReadState,
    Reading,
    ReadingException,
)
from meter_readings.validation import Thresholds, consumption


def readings() -> QuerySet[Reading]:
    """Readings with what every listing shows of them, in one query per page."""
    return Reading.objects.select_related("meter__meter_point", "flow_file")


def flow_files() -> QuerySet[FlowFile]:
    return FlowFile.objects.select_related("duplicate_of")


# Files named beside one flow file as sharing its identifier; more are rare (a sender
# that reuses identifiers), and the admin's file list filters by identifier.
SAME_IDENTIFIER_SHOWN = 50


def files_sharing_identifier(*, flow_file: FlowFile) -> list[FlowFile]:
    """Other files under the same sender and file identifier, oldest first.

    A truncated copy and its complete resend, or a sender reusing an identifier.
    """
    if not flow_file.file_identifier:
        return []
    others = FlowFile.objects.filter(
        from_participant_id=flow_file.from_participant_id,
        file_identifier=flow_file.file_identifier,
        from_role_code=flow_file.from_role_code,
    ).exclude(pk=flow_file.pk)
    return list(
        others.only("id", "filename", "status", "received_at").order_by("pk")[
            :SAME_IDENTIFIER_SHOWN
        ]
    )


def findings_of(*, flow_file: FlowFile) -> QuerySet[ImportFinding]:
    """A file's findings in file order (file-level findings last)."""
    return flow_file.findings.order_by("line_number", "pk")


def meter_points() -> QuerySet[MeterPoint]:
    return MeterPoint.objects.all()


def meters() -> QuerySet[Meter]:
    return Meter.objects.select_related("meter_point")


# Searches resolve a term to meter or file ids first (tiny, indexed queries) and then
# filter readings by those ids: a join from readings to the MPAN while walking the
# readings in id order lets a planner scan the whole table for a handful of rows.


def meter_ids_for_mpan(*, mpan_core: str) -> list[int]:
    return list(Meter.objects.filter(meter_point__mpan_core=mpan_core).values_list("pk", flat=True))


def meter_ids_for_serial(*, serial_number: str) -> list[int]:
    return list(Meter.objects.filter(serial_number=serial_number).values_list("pk", flat=True))


def flow_file_ids_named(*, filename: str) -> list[int]:
    return list(FlowFile.objects.filter(filename=filename).values_list("pk", flat=True))


def background_progress(*, flow_file: FlowFile) -> dict | None:
    """Bytes read and readings stored so far by a running background import, else None.

    Read from the Celery task's state (the import's own transaction is not visible
    until it commits).
    """
    if flow_file.status != FlowFileStatus.STARTED or not flow_file.task_id:
        return None
    from celery.result import AsyncResult

    info = AsyncResult(flow_file.task_id).info
    if not isinstance(info, dict):
        return None
    return {
        "bytes_read": info.get("bytes_read", 0),
        "bytes_total": info.get("bytes_total", flow_file.size_bytes),
        "readings_stored": info.get("readings_stored", 0),
    }


# Above this many rows (by PostgreSQL's own statistics) a table's size is shown as the
# planner's estimate: an exact count reads every row (2.7–8 s for 100M readings,
# PERFORMANCE.md), and the estimate is kept by ANALYZE and autovacuum.
EXACT_COUNT_UP_TO = 1_000_000


def table_size(model: type[models.Model]) -> dict:
    """``{"value", "estimated"}``: the model's row count, or PostgreSQL's estimate of
    it for a table past ``EXACT_COUNT_UP_TO`` rows."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [model._meta.db_table],
            )
            row = cursor.fetchone()
        if row and row[0] > EXACT_COUNT_UP_TO:
            return {"value": row[0], "estimated": True}
    return {"value": model._default_manager.count(), "estimated": False}


def dashboard_summary(*, days: int = 90, latest: int = 10) -> dict:
    """Totals, latest imports, findings by code and readings imported per day.

    Every figure is one aggregate query, the largest tables' totals estimates
    (``table_size``); the per-day series comes from the flow files (a few thousand
    rows), not from the reading table.
    """
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    since = timezone.now() - timedelta(days=days)
    per_day = (
        FlowFile.objects.filter(received_at__gte=since, readings_imported__gt=0)
        .annotate(day=TruncDate("received_at"))
        .values("day")
        .annotate(readings=Sum("readings_imported"))
        .order_by("day")
    )
    return {
        "files_by_status": list(
            FlowFile.objects.values("status").annotate(count=Count("pk")).order_by("status")
        ),
        "meter_points": table_size(MeterPoint),
        "meters": table_size(Meter),
        "readings": table_size(Reading),
        "latest_files": list(FlowFile.objects.order_by("-pk")[:latest]),
        "findings_by_code": list(
            ImportFinding.objects.values("code", "severity")
            .annotate(count=Count("pk"))
            .order_by("-count", "code")[:15]
        ),
        "readings_per_day": [
            {"day": row["day"].isoformat(), "readings": row["readings"]} for row in per_day
        ],
    }


def meter_point_history(*, meter_point: MeterPoint, per_register: int = 400) -> list[dict]:
    """For each meter and register: its latest readings in time order, current and
    superseded, each with its advance since the previous valid reading (the checks'
    own consumption), its exceptions, its flags and its source file."""
    limits = Thresholds.from_settings(settings.D0010_VALIDATION)
    exceptions: dict[int, list[ReadingException]] = {}
    for exception in ReadingException.objects.filter(meter_point=meter_point).order_by("pk"):
        exceptions.setdefault(exception.reading_id, []).append(exception)
    meters = []
    for meter in meter_point.meters.order_by("serial_number", "pk"):
        rows = list(
            Reading.objects.filter(meter=meter)
            .select_related("flow_file")
            .order_by("register_id", "-read_at", "-pk")
        )
        withdrawn = {reading.supersedes_id for reading in rows if reading.reading_type == "W"}
        registers = []
        for register_id, readings in groupby(rows, key=lambda reading: reading.register_id):
            latest = list(readings)[:per_register]
            latest.reverse()
            current = [reading for reading in latest if not reading.is_superseded]
            advances = {
                advance.reading.reading_id: advance
                for advance in consumption(
                    [
                        reading.as_series(file_created_at=reading.flow_file.file_created_at)
                        for reading in current
                    ],
                    thresholds=limits,
                    known_digits=meter.register_digits,
                )
            }
            points = [
                {
                    "reading": reading,
                    "advance": advances.get(reading.pk),
                    "withdrawn": reading.pk in withdrawn,
                    "exceptions": exceptions.get(reading.pk, []),
                    "open_exceptions": [
                        exception
                        for exception in exceptions.get(reading.pk, [])
                        if exception.status in UNRESOLVED_STATUSES
                    ],
                }
                for reading in latest
            ]
            registers.append({"register_id": register_id, "points": points})
        meters.append({"meter": meter, "registers": registers})
    return meters


# -- reading checks: the exceptions queue, consumption, reports ------------------------

# The queue's age bands (from when an exception was raised), youngest first: a label,
# and the band's bounds in days (from, to), the last open-ended.
AGE_BANDS: tuple[tuple[str, str, int, int | None], ...] = (
    ("lt1w", "under 1 week", 0, 7),
    ("1to4w", "1-4 weeks", 7, 28),
    ("1to3m", "1-3 months", 28, 91),
    ("3to6m", "3-6 months", 91, 182),
    ("6mplus", "6 months or more", 182, None),
)


def age_band_bounds(*, band: str, now: datetime) -> tuple[datetime | None, datetime]:
    """The raised-at interval (after, up to) of an age band, or KeyError."""
    for key, _, start, end in AGE_BANDS:
        if key == band:
            return (now - timedelta(days=end) if end is not None else None), (
                now - timedelta(days=start)
            )
    raise KeyError(band)


def senders() -> list[str]:
    """Every sender a flow file came from, as exceptions name them ("role/participant"):
    from the files (thousands of rows), not the exceptions (millions)."""
    pairs = (
        FlowFile.objects.exclude(from_participant_id="")
        .values_list("from_role_code", "from_participant_id")
        .distinct()
        .order_by("from_role_code", "from_participant_id")
    )
    return [f"{role}/{participant}" for role, participant in pairs]


def reading_exceptions() -> QuerySet[ReadingException]:
    """The exceptions queue, with what each row shows, newest first by id."""
    return ReadingException.objects.select_related("meter_point", "meter")


def open_exceptions_by_rule_and_age(*, now: datetime, fresh: bool = False) -> list[dict]:
    """Unresolved exceptions counted by rule and age band (one aggregate per band),
    as counted since the last import or change (at most ``REPORT_CACHE_SECONDS``
    ago) unless ``fresh``."""
    if not fresh:
        return report_cache.cached(
            report_cache.OPEN_EXCEPTIONS_KEY,
            lambda: open_exceptions_by_rule_and_age(now=now, fresh=True),
        )
    from django.db.models import Count

    counts: dict[str, dict[str, int]] = {}
    for key, _, _, _ in AGE_BANDS:
        after, up_to = age_band_bounds(band=key, now=now)
        rows = ReadingException.objects.filter(status__in=UNRESOLVED_STATUSES, raised_at__lte=up_to)
        if after is not None:
            rows = rows.filter(raised_at__gt=after)
        for row in rows.values("rule").annotate(count=Count("pk")).order_by():
            counts.setdefault(row["rule"], {})[key] = row["count"]
    labels = dict(RULE_CHOICES)
    return [
        {
            "rule": rule,
            "label": labels.get(rule, rule),
            "bands": [by_band.get(key, 0) for key, _, _, _ in AGE_BANDS],
            "total": sum(by_band.values()),
        }
        for rule, by_band in sorted(counts.items())
    ]


# The stale-read report's buckets: months since the last valid actual reading.
STALE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("6-12 months", 6, 12),
    ("12-14 months", 12, 14),
    ("14 months or more", 14, None),
)


def _months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.month - 1 - months, 12)
    target_year = moment.year + year
    target_month = month + 1
    day = min(moment.day, calendar.monthrange(target_year, target_month)[1])
    return moment.replace(year=target_year, month=target_month, day=day)


def stale_read_summary(*, now: datetime, fresh: bool = False) -> dict:
    """Meter points by months since their last valid actual reading (indexed counts),
    as counted in the last ``REPORT_CACHE_SECONDS`` unless ``fresh``."""
    if not fresh:
        return report_cache.cached(
            report_cache.STALE_READS_KEY, lambda: stale_read_summary(now=now, fresh=True)
        )
    states = MeterPointReadState.objects
    buckets = []
    for label, start, end in STALE_BUCKETS:
        rows = states.filter(last_actual_read_at__lt=_months_before(now, start))
        if end is not None:
            rows = rows.filter(last_actual_read_at__gte=_months_before(now, end))
        buckets.append(
            {"label": label, "from_months": start, "to_months": end, "count": rows.count()}
        )
    return {
        "buckets": buckets,
        "never_read": states.filter(last_actual_read_at__isnull=True).count(),
    }


def stale_meter_points(
    *, now: datetime, months: int, never_read: bool = False
) -> QuerySet[MeterPointReadState]:
    """Meter points whose last valid actual reading is older than ``months``, oldest
    first (in the index's order); or, with ``never_read``, those that never had one."""
    states = MeterPointReadState.objects.select_related("meter_point")
    if never_read:
        return states.filter(last_actual_read_at__isnull=True).order_by("meter_point_id")
    return states.filter(last_actual_read_at__lt=_months_before(now, months)).order_by(
        "last_actual_read_at", "meter_point_id"
    )


def meter_point_consumption(*, meter_point: MeterPoint) -> list[dict]:
    """Every current reading of the meter point with its advance, per meter and register,
    in one query: the consumption the checks use (``validation.consumption``)."""
    limits = Thresholds.from_settings(settings.D0010_VALIDATION)
    rows = list(
        Reading.objects.filter(meter__meter_point=meter_point, is_superseded=False)
        .select_related("meter", "flow_file")
        .order_by("meter__serial_number", "meter_id", "register_id", "read_at")
    )
    result = []
    for (meter, register_id), group in groupby(rows, key=lambda r: (r.meter, r.register_id)):
        readings = list(group)
        result.append(
            {
                "meter": meter,
                "register_id": register_id,
                "advances": consumption(
                    [
                        reading.as_series(file_created_at=reading.flow_file.file_created_at)
                        for reading in readings
                    ],
                    thresholds=limits,
                    known_digits=meter.register_digits,
                ),
            }
        )
    return result
