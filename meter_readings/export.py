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
