"""Imports started at the same moment, in separate processes, all complete.

On SQLite they take turns (one writer at a time): each waits as long as the others
take, never failing on SQLite's busy timeout, which these tests shorten to a second so
that a wait on it would show. On PostgreSQL they run in parallel.
"""

import pytest

from meter_readings.tests.processes import database, generated_file, start_import

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["database"]  # a fixture

READINGS_EACH = 40_000


@pytest.fixture
def shared(database):
    database.environment["DJANGO_SQLITE_BUSY_TIMEOUT"] = "1"
    return database


def test_four_imports_at_once_all_succeed(shared, tmp_path):
    files = [
        generated_file(tmp_path / f"f{index}.uff", READINGS_EACH, seed=index + 1)
        for index in range(4)
    ]

    processes = [start_import(shared, str(path)) for path in files]
    outputs = [process.communicate(timeout=300)[0] for process in processes]

    assert [process.returncode for process in processes] == [0] * 4, outputs
    statuses = sorted(row[2] for row in shared.flow_files())
    assert statuses == ["IMPORTED"] * 4
    assert shared.readings() == 4 * READINGS_EACH


def test_a_truncated_copy_and_its_complete_resend_at_once_store_every_reading(shared, tmp_path):
    complete = generated_file(tmp_path / "full.uff", READINGS_EACH, file_id="7700000001")
    data = complete.read_bytes()
    truncated = tmp_path / "trunc.uff"
    truncated.write_bytes(data[: len(data) // 3])

    processes = [start_import(shared, str(path)) for path in (truncated, complete)]
    for process in processes:
        process.communicate(timeout=300)

    assert shared.readings() == READINGS_EACH
    rows = shared.flow_files()
    assert len(rows) == 2 and all(row[2] != "FAILED" for row in rows), rows
