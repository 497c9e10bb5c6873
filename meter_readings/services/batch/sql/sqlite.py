"""SQLite's dialect of the batch statements: multi-row INSERTs, ids known without reading back."""

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import chain
from typing import Any

from django.db import connection

from meter_readings.d0010 import MeterPointRecord, MeterRecord, RegisterReading
from meter_readings.d0010.records import READING_ITEMS, ReadingItem
from meter_readings.services.batch.sql.base import (
    ADAPTED_DATETIME_CACHE,
    MATCHED_READINGS,
    MAX_STAGED_PARAMETERS,
    STAGING_TABLES,
    BatchSql,
    BulkTable,
    MeterIds,
    _statement_sizes,
)


def reading_row_function(items: tuple[ReadingItem, ...]) -> Callable[..., tuple]:
    """``row(sql, record)``: a reading as SQLite's staged row, written from ``items``.

    The row is the line number, register, time, then each item, as ``_READING_ITEMS``
    orders them. This runs for every reading, so the function is written out from the
    declaration once, as a hand-made tuple would be (as ``dataclasses`` writes
    ``__init__``): one attribute per item, the conversions inline, no loop per row.
    """
    conversions = {
        # Plain notation, exactly as parsed: never through a float.
        "decimal": "format(record.{name}, 'f')",
        "datetime": "(None if record.{name} is None else sql.param_datetime(record.{name}))",
    }
    values = [
        "record.line_number",
        "record.register_id",
        # The cached time looked up inline, not through a call.
        "(sql._adapted.get(record.read_at) or sql.param_datetime(record.read_at))",
        *(conversions.get(item.kind, "record.{name}").format(name=item.name) for item in items),
    ]
    source = f"def reading_row(sql, record):\n    return ({', '.join(values)},)\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<reading_row_function>", "exec"), {"format": format}, namespace)
    return namespace["reading_row"]


class SqliteBatchSql(BatchSql):

    def stage(self, cursor: Any, table: BulkTable, rows: Iterable[tuple]) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        # Many rows per INSERT, not executemany: executemany releases and retakes the
        # GIL for every row, which the parsing thread would turn into a wait of up to
        # 5 ms each; one statement releases it once, for all its rows.
        row = "(" + ", ".join(["?"] * len(table.columns)) + ")"
        columns = ", ".join(table.column_names)
        raw_cursor = cursor.cursor
        start = 0
        for count in _statement_sizes(len(rows), MAX_STAGED_PARAMETERS // len(table.columns)):
            chunk = rows[start : start + count]
            start += count
            # Straight to sqlite3: the SQL is already in its "?" style, and Django would
            # rewrite thousands of placeholders on every call.
            sqlite3.Cursor.execute(
                raw_cursor,
                f"INSERT INTO {table.name} ({columns}) VALUES {', '.join([row] * count)}",
                list(chain.from_iterable(chunk)),
            )

    def empty_staging_tables(self, cursor: Any) -> None:
        for table in STAGING_TABLES:
            cursor.execute(f"DELETE FROM {table.name}")

    def same(self, left: str, right: str) -> str:
        return f"{left} IS {right}"

    def select_rows(
        self, cursor: Any, columns: tuple[str, ...], source: str, params: list
    ) -> list[Sequence[Any]]:
        """Every row of ``SELECT columns FROM source``.

        As one JSON value: fetching rows one at a time would switch the GIL to the
        parsing thread and back for every row.
        """
        cursor.execute(
            f"SELECT json_group_array(json_array({', '.join(columns)})) FROM {source}", params
        )
        return json.loads(cursor.fetchone()[0])

    def store_meters(
        self,
        cursor: Any,
        meter_points: list[MeterPointRecord],
        meters: list[MeterRecord],
        readings: list[RegisterReading],
    ) -> MeterIds:
        # SQLite has one writer at a time, and the import's transaction is it from its
        # start (BEGIN IMMEDIATE, see settings; and it has written its flow file): the
        # meters this batch inserts are exactly those numbered above the highest id
        # before it. Only they come back to Python; the
        # readings of the others are matched in the database, by MPAN core and serial.
        before = self.last_id(cursor, self.meter_table)
        keys, inserted = self.upsert_meters(cursor, meter_points, meters)
        if not inserted:
            return MeterIds(created={}, held={})
        numbered = self.ids_numbered(cursor, self.meter_table, keys, inserted, before)
        if numbered:
            return MeterIds(created=numbered, held={})
        created = self.select_rows(
            cursor,
            ("mp.mpan_core", "m.serial_number", "m.id"),
            f"{self.meter_table} m JOIN {self.meter_point_table} mp "
            "ON mp.id = m.meter_point_id WHERE m.id > %s",
            [before],
        )
        return MeterIds(created={(mpan, serial): id_ for mpan, serial, id_ in created}, held={})

    def last_id(self, cursor: Any, table: str) -> int:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
        return int(cursor.fetchone()[0])

    def ids_numbered(
        self, cursor: Any, table: str, keys: list, inserted: int, before: int | None
    ) -> dict:
        if not inserted or inserted != len(keys) or before is None:
            return {}
        # Every row staged was new: inserted in the order staged, each numbered one above
        # the last (AUTOINCREMENT; and this transaction is the only writer), so their ids
        # are the run ending at the highest, all above the highest before.
        first_id = self.last_id(cursor, table) - inserted + 1
        if first_id <= before:
            return {}
        return dict(zip(keys, range(first_id, first_id + inserted)))

    def in_staged_order(self, alias: str) -> str:
        # A temporary table's rows are read back in rowid order, the order inserted:
        # no sort is needed.
        return f"ORDER BY {alias}.rowid"

    def matched_outcome(self, cursor: Any, flow_file_id: int) -> tuple[int, int, int, list]:
        # One row, the repeats as JSON (see select_rows).
        cursor.execute(
            "SELECT count(*), coalesce(sum(earlier_id IS NOT NULL AND same_content = 1), 0), "
            "coalesce(sum(earlier_id IS NOT NULL AND same_content = 0), 0), "
            "json_group_array(json_array(line_number, earlier_line_number, same_content)) "
            f"FILTER (WHERE earlier_flow_file_id = %s) FROM {MATCHED_READINGS.name}",
            [flow_file_id],
        )
        matched, duplicates, superseding, repeats = cursor.fetchone()
        return matched, duplicates, superseding, json.loads(repeats)

    # Line number, register, time and the declared items, as SQLite takes them.
    _reading_items = reading_row_function(READING_ITEMS)

    def param_datetime(self, value: datetime | None) -> Any:
        # Django stores SQLite datetimes as naive UTC text; readings in a file share
        # few distinct times, so each is adapted once.
        if value is None:
            return None
        adapted = self._adapted.get(value)
        if adapted is None:
            if len(self._adapted) >= ADAPTED_DATETIME_CACHE:
                self._adapted.clear()
            adapted = self._adapted[value] = connection.ops.adapt_datetimefield_value(value)
        return adapted
