"""SQL and small helpers the reading checks share: chunked id lists, a reading's validity
in SQL, date arithmetic and row conversions per database, GB time for messages."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from meter_readings.d0010.localtime import LONDON

# Ids per IN list: well under every database's parameter limit.
IDS_PER_QUERY = 2000


# SeriesReading.is_valid, in SQL (booleans as parameters: true, true).
VALID_READING_SQL = (
    "{table}.reading_type <> 'W' AND {table}.bsc_validation_status <> 'F' "
    "AND ({table}.reading_flag IS NULL OR {table}.reading_flag = %s "
    "OR {table}.validation_status = %s)"
)


def chunks(items: list[Any], size: int = IDS_PER_QUERY) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def days_before(column: str) -> str:
    """SQL for ``column`` less %s days, in the connection's dialect."""
    if connection.vendor == "postgresql":
        return f"({column} - make_interval(days => %s))"
    return f"datetime({column}, '-' || %s || ' days')"


def utc_from_text(text: str) -> datetime:
    # Django keeps SQLite's times as naive UTC text.
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def unchanged(value: Any) -> Any:
    return value


def in_gb_time(moment: datetime) -> datetime:
    return moment.astimezone(LONDON)
