"""The SQL a batch of parsed records is written with, and each database's dialect of it.

``BatchWriter`` decides what to write; this module says how, in as few statements as
possible, none of them per record. Every statement runs inside the database driver with
Python's GIL released, so the import can parse the next batch meanwhile (``read_ahead``):
on SQLite that is why rows go many to an INSERT rather than through ``executemany``
(which releases and retakes the GIL for every row), and why rows come back as one JSON
value rather than one row at a time.
"""

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, groupby
from operator import attrgetter, itemgetter
from typing import Any, cast

from django.db import IntegrityError, connection
from django.db.models import Field, Model

from meter_readings.d0010 import MeterPointRecord, MeterRecord, RegisterReading
from meter_readings.models import READING_ITEMS, Meter, MeterPoint, Reading, SiteVisit

# Bound parameters per staging statement (SQLite allows 32,766); a power of two, so
# that limit // columns rows stay within it.
MAX_STAGED_PARAMETERS = 16384
ADAPTED_DATETIME_CACHE = 10000

# The columns whose equality makes a second copy of a reading a duplicate.
CONTENT_FIELDS = READING_ITEMS

type MeterKey = tuple[str, str]
# A record's meter: (MPAN core, serial number).
METER_OF = attrgetter("mpan_core", "serial_number")
# The unique keys another transaction's new meter point or meter can break.
METER_KEYS = frozenset({"one_meter_point_per_mpan_core", "one_meter_per_serial_per_mpan"})


class MetersStoredConcurrently(Exception):
    """Another transaction stored a meter point or meter this batch was creating.

    Raised (on PostgreSQL) instead of the ``IntegrityError`` the ``COPY`` of new meters
    got: the transaction can only be rolled back, and the file imported again on the
    staged path, whose ``INSERT ... ON CONFLICT DO NOTHING`` waits for such rows.
    """


@dataclass(frozen=True)
class MeterIds:
    """A batch's meters by (MPAN core, serial): those it created, and those held before.

    ``held`` may be empty: only a dialect that ``matches_by_meter_id`` fills it.
    """

    created: dict[MeterKey, int]
    held: dict[MeterKey, int]


@dataclass(frozen=True)
class BulkTable:
    """A table a batch's rows are written to in bulk (``BatchSql.stage``).

    Columns are typed like the model fields; the temporary ones, holding one batch at a
    time, are ``STAGING_TABLES``.
    """

    name: str
    columns: tuple[tuple[str, Field], ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


def _statement_sizes(total: int, limit: int) -> Iterator[int]:
    """Split ``total`` rows into statements of ``limit`` rows, then powers of two.

    Each distinct row count is a distinct SQL text for the driver's statement cache:
    powers of two keep that to a handful whatever the batch sizes.
    """
    full, rest = divmod(total, limit)
    yield from [limit] * full
    size = 1 << max(rest.bit_length() - 1, 0)
    while rest:
        if size <= rest:
            yield size
            rest -= size
        size >>= 1


def _fields(model: type[Model], *names: str) -> tuple[tuple[str, Field], ...]:
    return tuple((name, cast(Field, model._meta.get_field(name))) for name in names)


_LINE = Reading._meta.get_field("line_number")
_ID = Reading._meta.get_field("id")
_FLAG = Reading._meta.get_field("is_superseded")
_MPAN = MeterPoint._meta.get_field("mpan_core")
_SERIAL = Meter._meta.get_field("serial_number")
# A reading's line, register, time and content, in the order of ``_reading_items``.
_READING_ITEMS = _fields(Reading, "line_number", "register_id", "read_at", *CONTENT_FIELDS)
# Those values of a parsed reading (its attributes have the fields' names), in one call.
_READING_VALUES = attrgetter(*(name for name, _ in _READING_ITEMS))

STAGED_METER_POINTS = BulkTable(
    "d0010_staged_meter_point",
    _fields(MeterPoint, "mpan_core", "distributor_id", "check_digit_valid", "is_amsid"),
)
# A meter by its MPAN core and serial, and its meter point's id when the batch knows it.
STAGED_METERS = BulkTable(
    "d0010_staged_meter",
    (("mpan_core", _MPAN), ("serial_number", _SERIAL), ("meter_point_id", _ID)),
)
# Readings by their meter's key (``reading_row``).
STAGED_READINGS = BulkTable(
    "d0010_staged_reading", (("mpan_core", _MPAN), ("serial_number", _SERIAL), *_READING_ITEMS)
)
# Readings by their meter's id (``meter_reading_row``).
STAGED_METER_READINGS = BulkTable(
    "d0010_staged_meter_reading", (("meter_id", _ID), *_READING_ITEMS)
)
STAGED_SITE_VISITS = BulkTable(
    "d0010_staged_site_visit",
    (
        *_fields(SiteVisit, "line_number", "level", "check_code", "additional_information"),
        ("mpan_core", _MPAN),
        ("serial_number", _SERIAL),
        ("reading_line_number", _LINE),
    ),
)
# Staged readings matched with their meter and current reading, ready to insert.
MATCHED_READINGS = BulkTable(
    "d0010_matched_reading",
    (
        ("meter_id", _ID),
        *_READING_ITEMS,
        ("earlier_id", _ID),
        ("earlier_flow_file_id", _ID),
        ("earlier_line_number", _LINE),
        ("same_content", _FLAG),
    ),
)
STAGING_TABLES = (
    STAGED_METER_POINTS,
    STAGED_METERS,
    STAGED_READINGS,
    STAGED_METER_READINGS,
    STAGED_SITE_VISITS,
    MATCHED_READINGS,
)


def first_of_each_mpan(meter_points: Iterable[MeterPointRecord]) -> dict[str, MeterPointRecord]:
    """The first 026 of each MPAN core: the one stored, as ON CONFLICT DO NOTHING would."""
    first: dict[str, MeterPointRecord] = {}
    for point in meter_points:
        first.setdefault(point.mpan_core, point)
    return first


class BatchSql:
    """The statements, written once; subclasses supply each database's dialect."""

    true, false = "1", "0"
    # Readings of held meters are staged by meter id (else by MPAN core and serial).
    matches_by_meter_id = False

    def __init__(self) -> None:
        quote = connection.ops.quote_name
        self.meter_point_table = quote(MeterPoint._meta.db_table)
        self.meter_table = quote(Meter._meta.db_table)
        self.reading_table = quote(Reading._meta.db_table)
        self.site_visit_table = quote(SiteVisit._meta.db_table)
        # Where the readings of a meter created by their batch go: straight in.
        self.new_readings = BulkTable(
            self.reading_table,
            (("meter_id", _ID), ("flow_file_id", _ID), ("is_superseded", _FLAG), *_READING_ITEMS),
        )
        self._adapted: dict[datetime, Any] = {}

    @staticmethod
    def for_connection() -> "BatchSql":
        """The dialect of Django's default database."""
        if connection.vendor == "postgresql":
            return PostgresBatchSql()
        return SqliteBatchSql()

    # -- dialect -------------------------------------------------------------------

    def stage(self, cursor: Any, table: BulkTable, rows: Iterable[tuple]) -> None:
        """Hand ``rows`` (tuples in the table's column order) to the database.

        An empty list writes nothing; an iterator may be consumed as rows are sent.
        """
        raise NotImplementedError

    def empty_staging_tables(self, cursor: Any) -> None:
        raise NotImplementedError

    def same(self, left: str, right: str) -> str:
        """Equality that holds between two NULLs."""
        raise NotImplementedError

    def probe(self, join: str, table: str, alias: str, columns: str, condition: str) -> str:
        """``join`` (JOIN or LEFT JOIN) the row of ``table`` matching ``condition``.

        ``condition`` picks at most one row through a unique index; ``columns`` are the
        ones the statement reads from it.
        """
        return f"{join} {table} {alias} ON {condition}"

    def matched_outcome(self, cursor: Any, flow_file_id: int) -> tuple[int, int, int, list]:
        """Matched, already held and superseding counts, and same-file repeats.

        Repeats are (line, earlier line, same content) for matched readings whose
        current reading came from this same file.
        """
        raise NotImplementedError

    def id_in(self, column: str, subquery: str) -> str:
        """``column`` is one of the ids ``subquery`` selects (looked up by index)."""
        return f"{column} IN ({subquery})"

    def in_staged_order(self, alias: str) -> str:
        """Clause to take the rows of staging table ``alias`` in the order they were staged."""
        return ""

    def store_meters(
        self,
        cursor: Any,
        meter_points: list[MeterPointRecord],
        meters: list[MeterRecord],
        readings: list[RegisterReading],
    ) -> MeterIds:
        """Store the batch's new meter points and meters; the ids of its meters.

        Covers the meters of ``meters`` and (for ``held``) of ``readings``. May raise
        ``MetersStoredConcurrently``.
        """
        raise NotImplementedError

    # -- statements ----------------------------------------------------------------

    def create_staging_tables(self, cursor: Any) -> None:
        for table in STAGING_TABLES:
            columns = ", ".join(
                f"{name} {field.db_type(connection)}" for name, field in table.columns
            )
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table.name} ({columns})")

    def upsert_meters(
        self, cursor: Any, meter_points: list[MeterPointRecord], meters: list[MeterRecord]
    ) -> tuple[list[MeterKey], int]:
        """Stage meter points and meters; insert the new ones.

        Returns the meters' keys, each once, in the order the new ones were inserted,
        and how many were. ``ON CONFLICT DO NOTHING``: a row another transaction is
        inserting is waited for, then skipped.
        """
        # In MPAN order, so each statement probes the MPAN index key by key, a page at
        # a time, instead of at random: once the index outgrows the database's page
        # cache, random probes each cost a read.
        point_ids = self._upsert_meter_points(cursor, meter_points)
        if not meters:
            return [], 0
        keys = list(dict.fromkeys(map(METER_OF, meters)))
        # In serial order when every meter point's id is known: the serial index is then
        # the only one written out of order. Else in MPAN order, for the probes.
        by_serial = all(mpan in point_ids for mpan, _ in keys)
        keys.sort(key=itemgetter(1 if by_serial else 0))
        # A meter point this batch numbered is given by id; any other is looked up by
        # its MPAN core, one probe of that index per meter.
        self.stage(
            cursor, STAGED_METERS, [(mpan, serial, point_ids.get(mpan)) for mpan, serial in keys]
        )
        cursor.execute(
            f"INSERT INTO {self.meter_table} (meter_point_id, serial_number) "
            "SELECT coalesce(s.meter_point_id, "
            f"(SELECT mp.id FROM {self.meter_point_table} mp WHERE mp.mpan_core = s.mpan_core)), "
            f"s.serial_number FROM {STAGED_METERS.name} s "
            f"WHERE {self.true} = {self.true} {self.in_staged_order('s')} "
            "ON CONFLICT (meter_point_id, serial_number) DO NOTHING"
        )
        return keys, cursor.rowcount

    def _upsert_meter_points(
        self, cursor: Any, meter_points: list[MeterPointRecord]
    ) -> dict[str, int]:
        """Stage and insert the new meter points; the ids of those numbered, if known."""
        if not meter_points:
            return {}
        first = first_of_each_mpan(meter_points)
        mpans = sorted(first)
        self.stage(
            cursor,
            STAGED_METER_POINTS,
            [
                (p.mpan_core, p.distributor_id, p.check_digit_valid, p.is_amsid)
                for p in map(first.__getitem__, mpans)
            ],
        )
        before = self.last_id(cursor, self.meter_point_table)
        columns = ", ".join(STAGED_METER_POINTS.column_names)
        cursor.execute(
            f"INSERT INTO {self.meter_point_table} ({columns}) "
            f"SELECT {columns} FROM {STAGED_METER_POINTS.name} "
            # "WHERE true" tells SQLite's parser the ON CONFLICT is the upsert's.
            f"WHERE {self.true} = {self.true} {self.in_staged_order(STAGED_METER_POINTS.name)} "
            "ON CONFLICT (mpan_core) DO NOTHING"
        )
        return self.ids_numbered(cursor, self.meter_point_table, mpans, cursor.rowcount, before)

    def last_id(self, cursor: Any, table: str) -> int | None:
        """The highest id in ``table``, where ``ids_numbered`` needs it."""
        return None

    def ids_numbered(
        self, cursor: Any, table: str, keys: list, inserted: int, before: int | None
    ) -> dict:
        """The ids an insert of the rows ``keys`` (staged in that order) gave them.

        Empty unless they are known without reading them back: ``inserted`` is how many
        rows the insert made, ``before`` what ``last_id`` said before it.
        """
        return {}

    def match_staged_readings(self, cursor: Any) -> None:
        """Match ``STAGED_READINGS`` (by MPAN core and serial) into ``MATCHED_READINGS``."""
        meter = (
            self.probe("JOIN", self.meter_point_table, "mp", "id", "mp.mpan_core = s.mpan_core")
            + " "
            + self.probe(
                "JOIN",
                self.meter_table,
                "m",
                "id",
                "m.meter_point_id = mp.id AND m.serial_number = s.serial_number",
            )
        )
        self._match(cursor, STAGED_READINGS, "m.id", meter)

    def match_staged_meter_readings(self, cursor: Any) -> None:
        """Match ``STAGED_METER_READINGS`` (by meter id) into ``MATCHED_READINGS``."""
        self._match(cursor, STAGED_METER_READINGS, "s.meter_id", "")

    def _match(self, cursor: Any, staged: BulkTable, meter_id: str, meter_joins: str) -> None:
        """Pair each staged reading with the current reading for its register and time.

        No match is a new reading; the same content, one already held; another content
        supersedes the earlier reading. Found through the partial unique index.
        """
        same_content = " AND ".join(self.same(f"r.{name}", f"s.{name}") for name in CONTENT_FIELDS)
        copied = ", ".join(f"s.{name}" for name, _ in _READING_ITEMS)
        key = (
            f"r.meter_id = {meter_id} AND r.register_id = s.register_id "
            "AND r.read_at = s.read_at"
        )
        content = ", ".join(f"r.{name}" for name in CONTENT_FIELDS)
        cursor.execute(
            f"INSERT INTO {MATCHED_READINGS.name} ({', '.join(MATCHED_READINGS.column_names)}) "
            f"SELECT {meter_id}, {copied}, r.id, r.flow_file_id, r.line_number, "
            f"CASE WHEN r.id IS NOT NULL AND {same_content} THEN {self.true} "
            f"ELSE {self.false} END "
            f"FROM {staged.name} s {meter_joins} "
            + self.probe(
                "LEFT JOIN",
                self.reading_table,
                "r",
                f"r.id, r.flow_file_id, r.line_number, {content}",
                f"{key} AND r.is_superseded = {self.false}",
            )
        )

    def mark_superseded(self, cursor: Any) -> None:
        superseded = (
            f"SELECT earlier_id FROM {MATCHED_READINGS.name} "
            f"WHERE earlier_id IS NOT NULL AND same_content = {self.false}"
        )
        cursor.execute(
            f"UPDATE {self.reading_table} SET is_superseded = {self.true} "
            f"WHERE {self.id_in('id', superseded)}"
        )

    def insert_matched_readings(self, cursor: Any, flow_file_id: int) -> None:
        copied = ", ".join(name for name, _ in _READING_ITEMS)
        cursor.execute(
            f"INSERT INTO {self.reading_table} "
            f"(meter_id, flow_file_id, {copied}, is_superseded, supersedes_id) "
            f"SELECT meter_id, %s, {copied}, {self.false}, earlier_id "
            f"FROM {MATCHED_READINGS.name} "
            f"WHERE earlier_id IS NULL OR same_content = {self.false} ORDER BY line_number",
            [flow_file_id],
        )

    def insert_site_visits(self, cursor: Any, flow_file_id: int) -> None:
        # A 033's reading is the row this file stored for its line or, when that line
        # was already held, the earlier reading it matched.
        cursor.execute(
            f"INSERT INTO {self.site_visit_table} (flow_file_id, line_number, level, "
            "check_code, additional_information, meter_point_id, meter_id, reading_id) "
            "SELECT %s, v.line_number, v.level, v.check_code, v.additional_information, "
            "mp.id, m.id, COALESCE(own.id, held.earlier_id) "
            f"FROM {STAGED_SITE_VISITS.name} v "
            + self.probe("JOIN", self.meter_point_table, "mp", "id", "mp.mpan_core = v.mpan_core")
            + " "
            + self.probe(
                "LEFT JOIN",
                self.meter_table,
                "m",
                "id",
                "m.meter_point_id = mp.id AND m.serial_number = v.serial_number",
            )
            + " "
            + self.probe(
                "LEFT JOIN",
                self.reading_table,
                "own",
                "id",
                "own.flow_file_id = %s AND own.line_number = v.reading_line_number",
            )
            + f" LEFT JOIN {MATCHED_READINGS.name} held "
            f"ON held.line_number = v.reading_line_number AND held.same_content = {self.true} "
            "ORDER BY v.line_number",
            [flow_file_id, flow_file_id],
        )

    # -- values --------------------------------------------------------------------

    def new_reading_rows(
        self, flow_file_id: int, runs: list[tuple[int, list[RegisterReading]]]
    ) -> Iterator[tuple]:
        """Readings of meters created by their batch, as ``new_readings`` rows.

        ``runs`` are (meter id, its readings). Made as they are consumed.
        """
        items = self._reading_items
        return (
            (meter_id, flow_file_id, False, *items(record))
            for meter_id, run in runs
            for record in run
        )

    def meter_reading_row(self, meter_id: int, record: RegisterReading) -> tuple:
        """A reading as a ``STAGED_METER_READINGS`` row."""
        return (meter_id, *self._reading_items(record))

    def reading_row(self, record: RegisterReading) -> tuple:
        """A reading as a ``STAGED_READINGS`` row."""
        return (record.mpan_core, record.serial_number, *self._reading_items(record))

    def _reading_items(self, record: RegisterReading) -> tuple:
        """Line number, register, time and content, in ``_READING_ITEMS`` order."""
        return _READING_VALUES(record)


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

    def _reading_items(self, record: RegisterReading) -> tuple:
        # Runs for every reading: the cached time looked up here, not through a call.
        read_at = self._adapted.get(record.read_at) or self.param_datetime(record.read_at)
        md_reset_at = record.md_reset_at
        return (
            record.line_number,
            record.register_id,
            read_at,
            # Plain notation, exactly as parsed: never through a float.
            format(record.value, "f"),
            record.reading_type,
            record.bsc_validation_status,
            record.reading_flag,
            record.reading_method,
            None if md_reset_at is None else self.param_datetime(md_reset_at),
            record.md_reset_count,
            record.validation_reason_code,
            record.validation_status,
        )

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


class PostgresBatchSql(BatchSql):
    true, false = "true", "false"
    matches_by_meter_id = True

    def __init__(self) -> None:
        super().__init__()
        self._sequences: dict[type[Model], str] = {}
        self._types: dict[str, list[str]] = {}
        # New meter points and meters, numbered from their sequences.
        self.new_meter_points = BulkTable(
            self.meter_point_table,
            _fields(
                MeterPoint, "id", "mpan_core", "distributor_id", "check_digit_valid", "is_amsid"
            ),
        )
        self.new_meters = BulkTable(
            self.meter_table, _fields(Meter, "id", "meter_point_id", "serial_number")
        )

    def stage(self, cursor: Any, table: BulkTable, rows: Iterable[tuple]) -> None:
        if isinstance(rows, list) and not rows:
            return
        # Binary COPY: values go as the database stores them (a timestamp as its
        # microseconds, a number as its digits), so neither side formats or parses
        # text. Straight to psycopg, its errors as Django's (an IntegrityError...).
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(
                f"COPY {table.name} ({', '.join(table.column_names)}) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(self._column_types(table))
            for row in rows:
                copy.write_row(row)

    def _column_types(self, table: BulkTable) -> list[str]:
        """The PostgreSQL type of each of ``table``'s columns, without modifiers."""
        types = self._types.get(table.name)
        if types is None:
            types = self._types[table.name] = [
                str(field.db_type(connection)).split("(")[0] for _, field in table.columns
            ]
        return types

    def create_staging_tables(self, cursor: Any) -> None:
        # Each batch's statements are estimated as costly enough to compile with JIT,
        # which takes longer (150 ms and more) than running them; for this
        # transaction only.
        cursor.execute("SET LOCAL jit = off")
        super().create_staging_tables(cursor)

    def empty_staging_tables(self, cursor: Any) -> None:
        # TRUNCATE, not DELETE: autovacuum never visits temporary tables, so deleted
        # rows would pile up for the rest of the file.
        cursor.execute(f"TRUNCATE {', '.join(table.name for table in STAGING_TABLES)}")

    def same(self, left: str, right: str) -> str:
        return f"{left} IS NOT DISTINCT FROM {right}"

    def probe(self, join: str, table: str, alias: str, columns: str, condition: str) -> str:
        # LATERAL ... LIMIT 1 cannot be flattened into a join, so each staged row is
        # one index probe: a plain join lets the planner hash-join against a scan of
        # the whole table, and every batch would cost more as the table grows.
        return (
            f"{join} LATERAL (SELECT {columns} FROM {table} {alias} WHERE {condition} "
            f"LIMIT 1) {alias} ON true"
        )

    def id_in(self, column: str, subquery: str) -> str:
        # An array is a list of keys to the planner; "IN (subquery)" may be planned as
        # a semi-join against a scan of the whole table.
        return f"{column} = ANY(ARRAY({subquery}))"

    def store_meters(
        self,
        cursor: Any,
        meter_points: list[MeterPointRecord],
        meters: list[MeterRecord],
        readings: list[RegisterReading],
    ) -> MeterIds:
        # Look up what is held, number the rest from their sequences and COPY them: a
        # COPY stores rows at a fraction of the cost of INSERT ... ON CONFLICT, but
        # fails (MetersStoredConcurrently) where that would wait and skip.
        mpans = {r.mpan_core for r in meter_points}
        mpans.update(r.mpan_core for r in meters)
        # Readings come meter by meter: one key per run of them.
        mpans.update(mpan for (mpan, _), _ in groupby(map(METER_OF, readings)))
        point_ids, held = self._held_meters(cursor, mpans)
        new_points = {
            mpan: point
            for mpan, point in first_of_each_mpan(meter_points).items()
            if mpan not in point_ids
        }
        new_meters = [
            key
            for key in dict.fromkeys(map(METER_OF, meters))
            if key not in held and (key[0] in point_ids or key[0] in new_points)
        ]
        new_point_ids = self._reserve_ids(cursor, MeterPoint, len(new_points))
        created = dict(zip(new_meters, self._reserve_ids(cursor, Meter, len(new_meters))))
        point_ids.update(zip(new_points, new_point_ids))
        try:
            self.stage(
                cursor,
                self.new_meter_points,
                [
                    (point_id, p.mpan_core, p.distributor_id, p.check_digit_valid, p.is_amsid)
                    for point_id, p in zip(new_point_ids, new_points.values())
                ],
            )
            if created:
                self.stage(
                    cursor,
                    self.new_meters,
                    ((id_, point_ids[mpan], serial) for (mpan, serial), id_ in created.items()),
                )
        except IntegrityError as error:
            constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", "")
            if constraint in METER_KEYS:
                raise MetersStoredConcurrently(str(error)) from error
            raise
        return MeterIds(created=created, held=held)

    def _held_meters(
        self, cursor: Any, mpans: set[str]
    ) -> tuple[dict[str, int], dict[MeterKey, int]]:
        """The meter points held for ``mpans`` and all their meters, by key."""
        point_ids: dict[str, int] = {}
        meters: dict[MeterKey, int] = {}
        # Each MPAN core probed in the index, in order, then each of its meters: a
        # plain "= ANY" may be planned as a scan of the whole table (the planner sees
        # a table an import is filling as larger than its statistics say), and OFFSET 0
        # keeps the meters' subquery from being flattened into a join (see probe).
        cursor.execute(
            "SELECT k.mpan_core, mp.id, m.serial_number, m.id "
            "FROM unnest(string_to_array(%s, ',')) k (mpan_core) "
            + self.probe("JOIN", self.meter_point_table, "mp", "id", "mp.mpan_core = k.mpan_core")
            + f" LEFT JOIN LATERAL (SELECT serial_number, id FROM {self.meter_table} m "
            "WHERE m.meter_point_id = mp.id OFFSET 0) m ON true",
            # One string, not a list: Django's driver quotes a list's every item in
            # Python. A core is 13 digits (the parser stores no other).
            [",".join(sorted(mpans))],
        )
        for mpan, point_id, serial, meter_id in cursor.fetchall():
            point_ids[mpan] = point_id
            if meter_id is not None:
                meters[mpan, serial] = meter_id
        return point_ids, meters

    def _reserve_ids(self, cursor: Any, model: type[Model], count: int) -> list[int]:
        """``count`` ids from ``model``'s sequence, which no other row will take."""
        if not count:
            return []
        cursor.execute(
            "SELECT min(id), max(id), "
            "CASE WHEN max(id) - min(id) + 1 > count(*) THEN array_agg(id) END "
            "FROM (SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s)) reserved",
            [self._sequence(model), count],
        )
        first, last, scattered = cursor.fetchone()
        # Usually one run of numbers (no other import took any meanwhile): only its ends
        # come back, not every number.
        return list(range(first, last + 1)) if scattered is None else scattered

    def _sequence(self, model: type[Model]) -> str:
        """The name of the sequence numbering ``model``'s rows (looked up once)."""
        if model not in self._sequences:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
                self._sequences[model] = cursor.fetchone()[0]
        return self._sequences[model]

    def matched_outcome(self, cursor: Any, flow_file_id: int) -> tuple[int, int, int, list]:
        cursor.execute(
            "SELECT count(*), "
            "count(*) FILTER (WHERE earlier_id IS NOT NULL AND same_content), "
            "count(*) FILTER (WHERE earlier_id IS NOT NULL AND NOT same_content), "
            "coalesce(json_agg(json_build_array(line_number, earlier_line_number, "
            "same_content)) FILTER (WHERE earlier_flow_file_id = %s), '[]') "
            f"FROM {MATCHED_READINGS.name}",
            [flow_file_id],
        )
        matched, duplicates, superseding, repeats = cursor.fetchone()
        return matched, duplicates, superseding, repeats
