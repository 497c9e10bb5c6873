"""The PostgreSQL dialect's own statements, against the real database."""

import pytest
from django.db import connection

from meter_readings.models import Meter
from meter_readings.services.batch.sql.postgresql import PostgresBatchSql
from meter_readings.tests.postgres import only_postgresql

pytestmark = [pytest.mark.django_db, only_postgresql]


def _last_number(cursor, sequence: str) -> int:
    cursor.execute(f"SELECT last_value FROM {sequence}")
    return cursor.fetchone()[0]


class TestReservedIds:
    def test_a_run_of_numbers_is_every_number_from_the_first_to_the_last(self) -> None:
        sql = PostgresBatchSql()
        with connection.cursor() as cursor:
            first = sql._reserve_ids(cursor, Meter, 5)
            second = sql._reserve_ids(cursor, Meter, 3)
            last = _last_number(cursor, sql._sequence(Meter))

        assert first == list(range(first[0], first[0] + 5))
        assert second == list(range(first[-1] + 1, first[-1] + 4))
        assert last == second[-1]

    def test_numbers_that_are_not_one_run_come_back_one_by_one(self) -> None:
        # As when another import takes numbers from the sequence meanwhile: here the
        # sequence steps by 3, so the numbers taken are not consecutive.
        sql = PostgresBatchSql()
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER SEQUENCE {sql._sequence(Meter)} INCREMENT BY 3")
            reserved = sql._reserve_ids(cursor, Meter, 4)
            last = _last_number(cursor, sql._sequence(Meter))

        assert sorted(reserved) == [last - 9, last - 6, last - 3, last]
