"""Read queries shared by the admin, the API and the export command."""

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


def findings_of(flow_file: FlowFile) -> QuerySet[ImportFinding]:
    """A file's findings in file order (file-level findings last)."""
    return flow_file.findings.order_by("line_number", "pk")


def meter_points() -> QuerySet[MeterPoint]:
    return MeterPoint.objects.all()


def meters() -> QuerySet[Meter]:
    return Meter.objects.select_related("meter_point")


# Searches resolve a term to meter or file ids first (tiny, indexed queries) and then
# filter readings by those ids: a join from readings to the MPAN while walking the
# readings in id order lets a planner scan the whole table for a handful of rows.


def meter_ids_for_mpan(mpan_core: str) -> list[int]:
    return list(Meter.objects.filter(meter_point__mpan_core=mpan_core).values_list("pk", flat=True))


def meter_ids_for_serial(serial_number: str) -> list[int]:
    return list(Meter.objects.filter(serial_number=serial_number).values_list("pk", flat=True))


def flow_file_ids_named(filename: str) -> list[int]:
    return list(FlowFile.objects.filter(filename=filename).values_list("pk", flat=True))


def background_progress(flow_file: FlowFile) -> dict | None:
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
