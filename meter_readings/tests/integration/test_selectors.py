"""The dashboard's totals: exact while a table is small, PostgreSQL's estimate past it."""

import pytest
from django.db import connection

from meter_readings import selectors
from meter_readings.models import Reading
from meter_readings.tests.factories import make_reading
from meter_readings.tests.postgres import only_postgresql

pytestmark = pytest.mark.django_db


def test_a_small_table_is_counted_exactly():
    make_reading()
    assert selectors.table_size(Reading) == {"value": 1, "estimated": False}


@only_postgresql
def test_a_table_past_the_limit_shows_postgresqls_estimate(monkeypatch):
    meter = make_reading(register_id="01").meter
    for register in ("02", "03"):
        make_reading(meter, register_id=register)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Reading._meta.db_table}")
    monkeypatch.setattr(selectors, "EXACT_COUNT_UP_TO", 2)
    # The estimate ANALYZE left (3 rows), not a count: a row added since is not in it.
    make_reading(meter, register_id="04")
    size = selectors.table_size(Reading)
    assert size == {"value": 3, "estimated": True}
