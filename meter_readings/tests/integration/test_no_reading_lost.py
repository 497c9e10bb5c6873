"""Property: files under one sender and identifier end holding the union of their readings.

A set of readings is split into files under one file identifier (overlapping or not),
any of them cut short as a transfer would cut it, and imported in any order (and, on
PostgreSQL, at the same moment in threads). Whatever the split, order or interleaving,
the database holds each reading the files carried in full exactly once: none lost, none
doubled, no file failed.
"""

import io
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meter_readings.models import FlowFile, FlowFileStatus, Reading
from meter_readings.services import import_flow_file
from meter_readings.tests.d0010_files import d0010_bytes, valid_mpan
from meter_readings.tests.postgres import only_postgresql

FILE_ID = "7700000001"
RECEIVED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def reading_groups(index: int) -> list[str]:
    """Reading ``index``: its own MPAN and meter, a value that tells it apart."""
    mpan = valid_mpan(f"{150000000000 + index}")
    day = 1 + index % 28
    return [
        f"026|{mpan}|V|",
        f"028|S{index:04d}|C|",
        f"030|01|202602{day:02d}000000|{index * 10}.5|||T|N|",
    ]


def file_of(indexes: list[int], cut_at: float | None) -> tuple[bytes, set[int]]:
    """A file of the readings ``indexes``, cut after ``cut_at`` of its bytes if given.

    Returns its bytes and the readings whose lines it carries whole.
    """
    groups = [line for index in indexes for line in reading_groups(index)]
    data = d0010_bytes(groups, file_id=FILE_ID)
    if cut_at is None:
        return data, set(indexes)
    size = int(len(data) * cut_at)
    kept = set()
    # A reading survives the cut if its 030 line does up to its last item: a last line
    # without its trailing delimiter is read (spec 1.1), one missing an item is not.
    text = data[:size].decode("ascii")
    for index in indexes:
        if reading_groups(index)[2].removesuffix("|") in text:
            kept.add(index)
    return data[:size], kept


def held_readings() -> list[tuple[str, Decimal]]:
    return sorted(
        Reading.objects.filter(is_superseded=False).values_list("meter__serial_number", "value")
    )


def expected_readings(indexes: set[int]) -> list[tuple[str, Decimal]]:
    return sorted((f"S{index:04d}", Decimal(f"{index * 10}.5")) for index in indexes)


def import_bytes(data: bytes, name: str) -> FlowFileStatus:
    report = import_flow_file(stream=io.BytesIO(data), filename=name, received_at=RECEIVED_AT)
    return report.status


readings = st.integers(min_value=0, max_value=11)
files = st.lists(
    st.tuples(
        st.lists(readings, min_size=1, max_size=8, unique=True),
        st.one_of(st.none(), st.floats(min_value=0.05, max_value=0.99)),
    ),
    min_size=1,
    max_size=4,
)


@pytest.mark.django_db
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(split=files, order=st.randoms(use_true_random=False))
def test_files_imported_one_after_another_end_holding_their_union(split, order):
    made = [file_of(indexes, cut_at) for indexes, cut_at in split]
    order.shuffle(made)

    with transaction.atomic():
        statuses = [import_bytes(data, f"f{number}.uff") for number, (data, _) in enumerate(made)]

        union = set().union(*(kept for _, kept in made))
        assert held_readings() == expected_readings(union)
        assert Reading.objects.count() == len(union)
        assert FlowFileStatus.FAILED not in statuses
        transaction.set_rollback(True)


@only_postgresql
@pytest.mark.django_db(transaction=True)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split=files)
def test_files_imported_at_the_same_moment_end_holding_their_union(split):
    # Each example starts empty (a transactional test is only emptied after the last).
    with connection.cursor() as cursor:
        tables = ", ".join(model._meta.db_table for model in (Reading, FlowFile))
        cursor.execute(f"TRUNCATE {tables} CASCADE")
    made = [file_of(indexes, cut_at) for indexes, cut_at in split]
    start = threading.Barrier(len(made))
    statuses: list[FlowFileStatus] = []

    def run(number: int, data: bytes) -> None:
        try:
            start.wait()
            statuses.append(import_bytes(data, f"f{number}.uff"))
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(number, data)) for number, (data, _) in enumerate(made)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    union = set().union(*(kept for _, kept in made))
    assert len(statuses) == len(made)
    assert FlowFileStatus.FAILED not in statuses
    assert held_readings() == expected_readings(union)
    assert Reading.objects.count() == len(union)
