"""A reading's items are declared once; the record, the model and the rows agree with it."""

from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from meter_readings.d0010.records import READING_ITEMS, RegisterReading
from meter_readings.models import READING_ITEMS as MODEL_READING_ITEMS
from meter_readings.models import Reading
from meter_readings.services.batch.sql.base import _READING_ITEMS


def a_reading(**overrides) -> RegisterReading:
    values = dict(
        line_number=7,
        mpan_core="1200023305967",
        serial_number="F75A 00802",
        reading_type="C",
        bsc_validation_status="V",
        register_id="S",
        read_at=datetime(2026, 2, 22, tzinfo=UTC),
        value=Decimal("0.00000001"),
        md_reset_at=datetime(2026, 2, 1, 12, tzinfo=UTC),
        md_reset_count=3,
        reading_flag=False,
        reading_method="P",
        validation_reason_code="05",
        validation_status=True,
    )
    values.update(overrides)
    return RegisterReading(**values)


class TestTheDeclaration:
    def test_every_item_is_a_field_of_the_record_and_of_the_model(self):
        record_fields = {field.name for field in fields(RegisterReading)}
        model_fields = {field.name for field in Reading._meta.get_fields()}

        for item in READING_ITEMS:
            assert item.name in record_fields and item.name in model_fields, item.name

    def test_the_models_content_and_the_staged_columns_follow_it_in_order(self):
        names = tuple(item.name for item in READING_ITEMS)

        assert MODEL_READING_ITEMS == names
        assert tuple(name for name, _ in _READING_ITEMS) == (
            "line_number",
            "register_id",
            "read_at",
            *names,
        )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's row layout")
class TestSqliteRows:
    def test_a_row_carries_each_item_converted_as_declared(self):
        from meter_readings.services.batch.sql.sqlite import SqliteBatchSql

        sql = SqliteBatchSql()

        row = sql._reading_items(a_reading())

        adapt = connection.ops.adapt_datetimefield_value
        assert row == (
            7,
            "S",
            adapt(datetime(2026, 2, 22, tzinfo=UTC)),
            "0.00000001",  # plain notation, never 1E-8 or a float
            "C",
            "V",
            False,
            "P",
            adapt(datetime(2026, 2, 1, 12, tzinfo=UTC)),
            3,
            "05",
            True,
        )

    def test_an_absent_date_time_stays_absent(self):
        from meter_readings.services.batch.sql.sqlite import SqliteBatchSql

        row = SqliteBatchSql()._reading_items(a_reading(md_reset_at=None, md_reset_count=None))

        assert row[8] is None and row[9] is None
