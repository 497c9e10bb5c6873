"""Rows updated by primary key from a VALUES list (services/_bulk_update.py)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meter_readings.models import Reading
from meter_readings.services._bulk_update import update_rows
from meter_readings.tests.factories import make_flow_file, make_meter, make_reading

pytestmark = pytest.mark.django_db

FIELDS = ["value", "read_at", "reading_flag", "validation_reason_code", "md_reset_at", "flow_file"]


def readings(count: int) -> list[Reading]:
    meter, flow_file = make_meter(), make_flow_file()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        make_reading(meter, flow_file=flow_file, line_number=line, read_at=start + timedelta(line))
        for line in range(count)
    ]


def stored(reading: Reading) -> tuple:
    reading.refresh_from_db()
    return tuple(getattr(reading, Reading._meta.get_field(name).attname) for name in FIELDS)


def test_every_row_gets_its_own_values_over_several_statements():
    *changed, untouched = readings(6)
    before, other_file = stored(untouched), make_flow_file()
    for number, reading in enumerate(changed):
        reading.value = Decimal(f"{number}.5")
        reading.read_at = datetime(2025, 6, 1 + number, 12, 30, tzinfo=UTC)
        # The first row's NULLs, and values after them, of each kind of column.
        reading.reading_flag = None if number == 0 else number % 2 == 0
        reading.validation_reason_code = f"{number:02d}"
        reading.md_reset_at = None if number == 0 else datetime(2025, 7, number, tzinfo=UTC)
        reading.flow_file_id = other_file.pk

    updated = update_rows(changed, FIELDS, rows_per_statement=2)

    assert updated == 5
    assert [stored(reading) for reading in changed] == [
        (
            Decimal(f"{number}.5"),
            datetime(2025, 6, 1 + number, 12, 30, tzinfo=UTC),
            None if number == 0 else number % 2 == 0,
            f"{number:02d}",
            None if number == 0 else datetime(2025, 7, number, tzinfo=UTC),
            other_file.pk,
        )
        for number in range(5)
    ]
    assert stored(untouched) == before


def test_nothing_to_write_writes_nothing():
    reading = readings(1)[0]
    reading.value = Decimal("1.0")

    assert update_rows([], FIELDS, rows_per_statement=10) == 0
    assert update_rows([reading], [], rows_per_statement=10) == 0
    assert stored(reading)[0] == Decimal("56311.0")
