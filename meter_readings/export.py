"""Readings as CSV rows, streamed: a million rows need no more memory than ten."""

import csv
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from meter_readings.models import READING_ITEMS

CSV_COLUMNS = (
    "mpan_core",
    "meter_serial",
    "register_id",
    "read_at",
    *READING_ITEMS,
    "superseded",
    "flow_file_id",
    "filename",
    "line_number",
    "reading_id",
)
_FIELDS = (
    "meter__meter_point__mpan_core",
    "meter__serial_number",
    "register_id",
    "read_at",
    *READING_ITEMS,
    "is_superseded",
    "flow_file_id",
    "flow_file__filename",
    "line_number",
    "id",
)
CHUNK_ROWS = 2000


class _Echo:
    """A file-like object whose write returns the line, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "T" if value else "F"
    if hasattr(value, "tzinfo"):
        return timezone.localtime(value).isoformat()
    return value


def csv_lines(readings: QuerySet) -> Iterator[str]:
    """The header and one CSV line per reading, fetched in chunks from the database."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    rows = readings.values_list(*_FIELDS).iterator(chunk_size=CHUNK_ROWS)
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


CONSUMPTION_COLUMNS = (
    "mpan_core",
    "meter_serial",
    "register_id",
    "reading_id",
    "read_at",
    "value",
    "reading_type",
    "counted",
    "previous_read_at",
    "advance",
    "days",
    "advance_per_day",
    "rolled_over",
    "corrects_estimate",
)


def consumption_csv_lines(*, mpan_core: str, registers: list[dict]) -> Iterator[str]:
    """A meter point's consumption (``selectors.meter_point_consumption``) as CSV."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CONSUMPTION_COLUMNS)
    for register in registers:
        for advance in register["advances"]:
            reading = advance.reading
            yield writer.writerow(
                [
                    _cell(value)
                    for value in (
                        mpan_core,
                        register["meter"].serial_number,
                        register["register_id"],
                        reading.reading_id,
                        reading.read_at,
                        reading.value,
                        reading.reading_type,
                        reading.is_valid,
                        advance.previous.read_at if advance.previous else None,
                        advance.advance,
                        None if advance.days is None else round(advance.days, 4),
                        None if advance.per_day is None else round(advance.per_day, 4),
                        advance.rolled_over,
                        advance.corrects_estimate,
                    )
                ]
            )


def open_exceptions_csv_lines(*, rows: list[dict], bands: list[str]) -> Iterator[str]:
    """Unresolved exceptions by rule and age band (``selectors``' report) as CSV."""
    writer = csv.writer(_Echo())
    yield writer.writerow(["rule", "description", *bands, "total"])
    for row in rows:
        yield writer.writerow([row["rule"], row["label"], *row["bands"], row["total"]])


def stale_reads_csv_lines(states: QuerySet) -> Iterator[str]:
    """Meter points and their last valid actual read, streamed."""
    writer = csv.writer(_Echo())
    yield writer.writerow(["mpan_core", "meter_point_id", "last_actual_read_at"])
    rows = states.values_list(
        "meter_point__mpan_core", "meter_point_id", "last_actual_read_at"
    ).iterator(chunk_size=CHUNK_ROWS)
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])
