"""Read queries shared by the admin, the API and the export command."""

from datetime import timedelta

from django.db.models import QuerySet

from meter_readings.models import (
    FlowFile,
    FlowFileStatus,
    ImportFinding,
    Meter,
    MeterPoint,
    Reading,
)


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


def dashboard_summary(*, days: int = 90, latest: int = 10) -> dict:
    """Totals, latest imports, findings by code and readings imported per day.

    Every figure is one aggregate query; the per-day series comes from the flow files
    (a few thousand rows), not from the reading table.
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
        "meter_points": MeterPoint.objects.count(),
        "meters": Meter.objects.count(),
        "readings": Reading.objects.count(),
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
    """For each meter and register: its latest readings in time order, each with the
    consumption since the previous current reading, its flags and its source file."""
    from itertools import groupby

    meters = []
    for meter in meter_point.meters.order_by("serial_number", "pk"):
        rows = list(
            Reading.objects.filter(meter=meter)
            .select_related("flow_file")
            .order_by("register_id", "-read_at", "-pk")
        )
        registers = []
        for register_id, readings in groupby(rows, key=lambda reading: reading.register_id):
            latest = list(readings)[:per_register]
            latest.reverse()
            previous_value = None
            points = []
            for reading in latest:
                consumption = None
                if not reading.is_superseded:
                    if previous_value is not None:
                        consumption = reading.value - previous_value
                    previous_value = reading.value
                points.append({"reading": reading, "consumption": consumption})
            registers.append({"register_id": register_id, "points": points})
        meters.append({"meter": meter, "registers": registers})
    return meters
