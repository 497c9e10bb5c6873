"""Each meter point's last valid actual read time (``MeterPointReadState``), kept by the
checks for the stale-read report: raised to the latest seen, recomputed where a reading
was withdrawn or replaced."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import connection, models

from meter_readings.models import MeterPointReadState
from meter_readings.services._checks_sql import VALID_READING_SQL, chunks
from meter_readings.services.batch import sql as dialects
from meter_readings.services.batch.sql.base import BulkTable

# The summary table itself, for rows COPYed straight in.
READ_STATES = BulkTable(
    MeterPointReadState._meta.db_table,
    (
        ("meter_point_id", models.BigIntegerField()),
        ("last_actual_read_at", models.DateTimeField(null=True)),
    ),
)
# A batch's meter points and their last valid actual read (PostgreSQL), by id when the
# batch looked the ids up, else by MPAN.
STAGED_READ_STATES_BY_ID = BulkTable(
    "d0010_staged_read_states_by_id",
    (
        ("meter_point_id", models.BigIntegerField()),
        ("read_at", models.DateTimeField(null=True)),
    ),
)
STAGED_READ_STATES = BulkTable(
    "d0010_staged_read_states",
    (
        ("mpan_core", models.CharField(max_length=13)),
        ("read_at", models.DateTimeField(null=True)),
    ),
)

# The later of the held and the new time (a NULL, no valid actual reading, replaces
# nothing but a NULL).
_RAISE_ON_CONFLICT = (
    "ON CONFLICT (meter_point_id) DO UPDATE SET last_actual_read_at = CASE "
    "WHEN {table}.last_actual_read_at IS NULL "
    "OR excluded.last_actual_read_at > {table}.last_actual_read_at "
    "THEN excluded.last_actual_read_at ELSE {table}.last_actual_read_at END"
)
# Rows per multi-row INSERT: two parameters each, well under SQLite's limit.
READ_STATE_ROWS_PER_STATEMENT = 2000


def raise_read_state(latest: list[tuple[int, datetime | None]]) -> None:
    """Set each meter point's last valid actual read time to the later of the held and
    the given one.

    Multi-row statements, not executemany: on SQLite that hands the GIL over per row.
    """
    table = connection.ops.quote_name(MeterPointReadState._meta.db_table)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            _stage(cursor, STAGED_READ_STATES_BY_ID, latest)
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) "
                f"SELECT v.meter_point_id, v.read_at FROM {STAGED_READ_STATES_BY_ID.name} v "
                f"{_RAISE_ON_CONFLICT.format(table=table)}"
            )
        return
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for chunk in chunks(latest, READ_STATE_ROWS_PER_STATEMENT):
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) VALUES "
                + ", ".join(["(%s, %s)"] * len(chunk))
                + " "
                + _RAISE_ON_CONFLICT.format(table=table),
                [value for pk, at in chunk for value in (pk, adapt(at))],
            )


def _stage(cursor: Any, table: BulkTable, rows: list[tuple]) -> None:
    """Binary COPY into a temporary table (PostgreSQL): as parameters, the times alone
    cost more than their rows."""
    columns = ", ".join(f"{name} {field.db_type(connection)}" for name, field in table.columns)
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table.name} ({columns})")
    cursor.execute(f"TRUNCATE {table.name}")
    dialects.for_connection().stage(cursor, table, rows)


def raise_read_state_by_mpan(
    latest: dict[str, datetime | None],
    *,
    meter_point_ids: dict[str, int] | None = None,
    created: frozenset[str] = frozenset(),
) -> None:
    """``raise_read_state`` for meter points named by MPAN core (a batch's new ones):
    joined to their ids in the same statement."""
    if meter_point_ids and all(mpan in meter_point_ids for mpan in latest):
        if created and connection.vendor == "postgresql":
            # Meter points this batch created have no row yet: COPY theirs straight
            # in (half the cost of staging and upserting them, measured).
            with connection.cursor() as cursor:
                dialects.for_connection().stage(
                    cursor,
                    READ_STATES,
                    [(meter_point_ids[m], at) for m, at in latest.items() if m in created],
                )
            latest = {m: at for m, at in latest.items() if m not in created}
        raise_read_state([(meter_point_ids[mpan], at) for mpan, at in latest.items()])
        return
    table = connection.ops.quote_name(MeterPointReadState._meta.db_table)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            _stage(cursor, STAGED_READ_STATES, list(latest.items()))
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) "
                f"SELECT mp.id, v.read_at FROM {STAGED_READ_STATES.name} v "
                # A probe of the MPAN index per row: as a plain join, the planner can
                # choose to scan every meter point for each batch.
                "JOIN LATERAL (SELECT id FROM meter_readings_meterpoint "
                "WHERE mpan_core = v.mpan_core LIMIT 1) mp ON true "
                f"{_RAISE_ON_CONFLICT.format(table=table)}"
            )
        return
    adapt = _cached_adapter()
    read = [(mpan, at) for mpan, at in latest.items() if at is not None]
    never = [mpan for mpan, at in latest.items() if at is None]
    with connection.cursor() as cursor:
        for chunk in chunks(read, READ_STATE_ROWS_PER_STATEMENT):
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) "
                "SELECT mp.id, v.column2 FROM (VALUES "
                + ", ".join(["(%s, %s)"] * len(chunk))
                + ") v JOIN meter_readings_meterpoint mp ON mp.mpan_core = v.column1 "
                f"WHERE 1 = 1 {_RAISE_ON_CONFLICT.format(table=table)}",
                [value for mpan, at in chunk for value in (mpan, adapt(at))],
            )
        for chunk in chunks(never, READ_STATE_ROWS_PER_STATEMENT):
            # Read, but never validly and actually: a row, so the report can say so.
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) "
                "SELECT mp.id, NULL FROM meter_readings_meterpoint mp "
                f"WHERE mp.mpan_core IN ({', '.join(['%s'] * len(chunk))}) "
                "ON CONFLICT (meter_point_id) DO NOTHING",
                chunk,
            )


def _cached_adapter() -> Callable[[datetime], Any]:
    """The connection's datetime adaptation, once per distinct time (reads share days)."""
    adapt = connection.ops.adapt_datetimefield_value
    cache: dict[datetime, Any] = {}

    def adapted(moment: datetime) -> Any:
        value = cache.get(moment)
        if value is None:
            value = cache[moment] = adapt(moment)
        return value

    return adapted


def recompute_read_state(meter_point_ids: list[int]) -> None:
    """Set each meter point's last valid actual read time from its readings."""
    table = connection.ops.quote_name(MeterPointReadState._meta.db_table)
    actual = f"r.reading_type NOT IN ('D', 'O') AND {VALID_READING_SQL.format(table='r')}"
    for chunk in chunks(meter_point_ids):
        marks = ", ".join(["%s"] * len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE meter_point_id IN ({marks})", chunk)
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) "
                f"SELECT m.meter_point_id, MAX(CASE WHEN {actual} THEN r.read_at END) "
                "FROM meter_readings_meter m JOIN meter_readings_reading r "
                "ON r.meter_id = m.id AND r.is_superseded = %s "
                f"WHERE m.meter_point_id IN ({marks}) GROUP BY m.meter_point_id",
                [True, True, False, *chunk],
            )
