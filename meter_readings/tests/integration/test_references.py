"""The references of the bulk-written tables are enforced by the database.

On PostgreSQL by the per-statement triggers of migration 0004, on SQLite by its foreign
keys (checked at commit, or when Django checks constraints): either way a reading, meter
or superseding reading naming a row that does not exist is refused, however it is
written, and so is removing or renumbering a row still referenced.
"""

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from meter_readings.models import Meter, MeterPoint, Reading
from meter_readings.tests.postgres import only_postgresql, other_session
from meter_readings.tests.factories import (
    make_flow_file,
    make_meter,
    make_meter_point,
    make_reading,
)

MISSING_ID = 987_654_321

pytestmark = pytest.mark.django_db


def _refused(write: Callable[[], Any]) -> str:
    """Run ``write`` in a savepoint; return the database's message for refusing it."""
    with pytest.raises(IntegrityError) as refusal, transaction.atomic():
        write()
        # SQLite's foreign keys are deferred: this is the check its commit would make.
        connection.check_constraints()
    return str(refusal.value)


class TestInsertedReferences:
    def test_a_reading_of_a_missing_meter_is_refused(self) -> None:
        message = _refused(lambda: make_reading(meter=Meter(id=MISSING_ID)))
        assert "meter_id" in message
        assert not Reading.objects.exists()

    def test_a_reading_from_a_missing_file_is_refused(self) -> None:
        meter = make_meter()
        message = _refused(lambda: make_reading(meter=meter, flow_file_id=MISSING_ID))
        assert "flow_file_id" in message

    def test_a_reading_superseding_a_missing_reading_is_refused(self) -> None:
        meter = make_meter()
        message = _refused(lambda: make_reading(meter=meter, supersedes_id=MISSING_ID))
        assert "supersedes_id" in message

    def test_a_meter_at_a_missing_meter_point_is_refused(self) -> None:
        message = _refused(lambda: Meter.objects.create(meter_point_id=MISSING_ID))
        assert "meter_point_id" in message
        assert not Meter.objects.exists()

    def test_one_bad_row_refuses_the_whole_statement(self) -> None:
        meter, flow_file = make_meter(), make_flow_file()
        rows = [
            Reading(
                meter_id=meter_id,
                flow_file=flow_file,
                line_number=line,
                register_id="S",
                read_at=f"2026-02-{line:02d}T00:00:00Z",
                value=1,
            )
            for line, meter_id in ((1, meter.id), (2, MISSING_ID), (3, meter.id))
        ]
        _refused(lambda: Reading.objects.bulk_create(rows))
        assert not Reading.objects.exists()

    def test_rows_naming_existing_rows_are_stored(self) -> None:
        earlier = make_reading(is_superseded=True)
        later = make_reading(
            meter=earlier.meter, flow_file=make_flow_file(), supersedes=earlier, line_number=9
        )
        assert Reading.objects.get(pk=later.pk).supersedes_id == earlier.pk

    def test_a_null_supersedes_is_not_a_reference(self) -> None:
        assert make_reading(supersedes=None).supersedes_id is None


class TestUpdatedReferences:
    def test_pointing_a_reading_at_a_missing_meter_is_refused(self) -> None:
        reading = make_reading()
        _refused(lambda: Reading.objects.filter(pk=reading.pk).update(meter_id=MISSING_ID))
        assert Reading.objects.get(pk=reading.pk).meter_id == reading.meter_id

    def test_pointing_a_reading_at_another_meter_is_allowed(self) -> None:
        reading = make_reading()
        other = make_meter(reading.meter.meter_point, serial_number="OTHER")
        Reading.objects.filter(pk=reading.pk).update(meter_id=other.pk)
        assert Reading.objects.get(pk=reading.pk).meter_id == other.pk


class TestRemovedReferencedRows:
    # _raw_delete is a plain DELETE, without Django's PROTECT check in front of it: what
    # a script or a database console would do.

    def test_deleting_a_meter_with_readings_is_refused(self) -> None:
        reading = make_reading()
        meters = Meter.objects.filter(pk=reading.meter_id)
        message = _refused(lambda: meters._raw_delete(meters.db))
        assert "meter_id" in message or "still referenced" in message
        assert Meter.objects.filter(pk=reading.meter_id).exists()

    def test_deleting_a_meter_point_with_meters_is_refused(self) -> None:
        meter = make_meter()
        points = MeterPoint.objects.filter(pk=meter.meter_point_id)
        _refused(lambda: points._raw_delete(points.db))
        assert MeterPoint.objects.filter(pk=meter.meter_point_id).exists()

    def test_deleting_a_superseded_reading_is_refused(self) -> None:
        earlier = make_reading(is_superseded=True)
        make_reading(meter=earlier.meter, flow_file=make_flow_file(), supersedes=earlier)
        readings = Reading.objects.filter(pk=earlier.pk)
        _refused(lambda: readings._raw_delete(readings.db))

    def test_renumbering_a_referenced_flow_file_is_refused(self) -> None:
        reading = make_reading()
        _refused(
            lambda: type(reading.flow_file)
            .objects.filter(pk=reading.flow_file_id)
            .update(id=MISSING_ID)
        )

    def test_rows_no_longer_referenced_can_be_deleted(self) -> None:
        meter = make_meter()
        meters = Meter.objects.filter(pk=meter.pk)
        meters._raw_delete(meters.db)
        assert not Meter.objects.filter(pk=meter.pk).exists()


@only_postgresql
def test_postgresql_checks_these_references_per_statement_not_per_row() -> None:
    # A foreign key here would check every inserted row again (decision record 0007).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid::regclass::text IN (%s, %s)",
            [Meter._meta.db_table, Reading._meta.db_table],
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid::regclass::text IN (%s, %s) "
            "AND tgname LIKE '%%_inserted'",
            [Meter._meta.db_table, Reading._meta.db_table],
        )
        assert sorted(name for (name,) in cursor.fetchall()) == [
            "meter_meter_point_id_inserted",
            "reading_flow_file_id_inserted",
            "reading_meter_id_inserted",
            "reading_supersedes_id_inserted",
        ]


@only_postgresql
def test_a_statement_checks_its_references_without_reading_the_whole_table() -> None:
    # A batch names thousands of meters: each is looked up in the primary key index,
    # not found by scanning every meter held (which grows with the table; migration
    # 0005). Enough meters that an index lookup is the planner's choice for one key.
    point = make_meter_point()
    Meter.objects.bulk_create(
        Meter(meter_point=point, serial_number=f"M{index}") for index in range(3000)
    )
    named = list(Meter.objects.order_by("pk").values_list("pk", flat=True)[::2])
    flow_file = make_flow_file()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Meter._meta.db_table}")
        scans_before = _sequential_scans(cursor, Meter._meta.db_table)
        cursor.execute(
            f"INSERT INTO {Reading._meta.db_table} (meter_id, flow_file_id, line_number, "
            "register_id, read_at, value, reading_type, bsc_validation_status, "
            "reading_method, validation_reason_code, is_superseded) "
            "SELECT m, %s, n, 'S', now(), 1, 'C', 'V', 'N', '', false "
            "FROM unnest(%s::bigint[]) WITH ORDINALITY AS k (m, n)",
            [flow_file.pk, named],
        )

        assert _sequential_scans(cursor, Meter._meta.db_table) == scans_before
    assert Reading.objects.count() == len(named)


def _sequential_scans(cursor: Any, table: str) -> int:
    """Scans of the whole of ``table`` so far in this transaction."""
    cursor.execute(
        "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_xact_user_tables WHERE relname = %s",
        [table],
    )
    return cursor.fetchone()[0]


@only_postgresql
@pytest.mark.django_db(transaction=True)
class TestConcurrentDelete:
    """An insert locks the rows it names, as a foreign key does."""

    def test_a_meter_named_by_an_uncommitted_reading_cannot_be_deleted(self) -> None:
        meter, flow_file = make_meter(), make_flow_file()
        with other_session() as other:
            other.execute("SET lock_timeout = '300ms'")
            with transaction.atomic():
                make_reading(meter=meter, flow_file=flow_file)
                # While the reading is uncommitted, the delete waits for it.
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute(f"DELETE FROM {Meter._meta.db_table} WHERE id = %s", [meter.pk])
            # Once it is committed, the delete sees it and is refused.
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                other.execute(f"DELETE FROM {Meter._meta.db_table} WHERE id = %s", [meter.pk])
        assert Reading.objects.filter(meter=meter).count() == 1
