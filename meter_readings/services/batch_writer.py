"""Persist parsed records in batches, set-wise, one statement per step.

Per batch, whatever its size:

1. the batch's 026s, 028s, 030s and site visits go into temporary staging tables, the
   fastest way each database takes rows (multi-row INSERTs on SQLite, ``COPY`` on
   PostgreSQL);
2. everything else is one set-based statement per step, run by the database: meter
   points and meters inserted with ``ON CONFLICT DO NOTHING``; each staged reading
   matched with its meter and, through the partial unique index, with the current
   reading for its (meter, register, reading time): no match is a new reading, the same
   content is one already held, a different content supersedes the earlier one;
   superseded readings marked; new readings inserted; one row back with the counts and
   any same-file repeats to report.

No statement is issued per record, and every statement runs inside the database
driver with Python's GIL released, so the import can parse the next batch meanwhile
(``read_ahead``). On SQLite that is why staging sends many rows per INSERT rather than
using ``executemany``, which releases and retakes the GIL once per row.
"""

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from operator import itemgetter
from typing import Any

from django.db import connection
from django.db.models import Field

from meter_readings.d0010 import FindingCode, MeterPointRecord, MeterRecord, RegisterReading
from meter_readings.d0010 import SiteVisitRecord
from meter_readings.d0010.findings import Finding, warning
from meter_readings.models import (
    READING_ITEMS,
    FlowFile,
    Meter,
    MeterPoint,
    Reading,
    SiteVisit,
)

DEFAULT_BATCH_SIZE = 10000
# Bound parameters per staging statement (SQLite allows 32,766); a power of two, so
# that limit // columns rows stay within it.
MAX_STAGED_PARAMETERS = 16384
ADAPTED_DATETIME_CACHE = 10000

# The columns whose equality makes a second copy of a reading a duplicate.
CONTENT_FIELDS = READING_ITEMS


@dataclass(frozen=True)
class StagingTable:
    """A temporary table holding one batch; columns typed like the model fields."""

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


def _fields(model: type, *names: str) -> tuple[tuple[str, Field], ...]:
    return tuple((name, model._meta.get_field(name)) for name in names)


_LINE = Reading._meta.get_field("line_number")
_ID = Reading._meta.get_field("id")
_FLAG = Reading._meta.get_field("is_superseded")
_MPAN = MeterPoint._meta.get_field("mpan_core")
_SERIAL = Meter._meta.get_field("serial_number")

STAGED_METER_POINTS = StagingTable(
    "d0010_staged_meter_point",
    _fields(MeterPoint, "mpan_core", "distributor_id", "check_digit_valid", "is_amsid"),
)
STAGED_METERS = StagingTable(
    "d0010_staged_meter", (("mpan_core", _MPAN), ("serial_number", _SERIAL))
)
# In the order of ``_Sql.reading_row``.
STAGED_READINGS = StagingTable(
    "d0010_staged_reading",
    (
        ("line_number", _LINE),
        ("mpan_core", _MPAN),
        ("serial_number", _SERIAL),
        *_fields(Reading, "register_id", "read_at", *CONTENT_FIELDS),
    ),
)
STAGED_SITE_VISITS = StagingTable(
    "d0010_staged_site_visit",
    (
        *_fields(SiteVisit, "line_number", "level", "check_code", "additional_information"),
        ("mpan_core", _MPAN),
        ("serial_number", _SERIAL),
        ("reading_line_number", _LINE),
    ),
)
# Staged readings matched with their meter and current reading, ready to insert.
MATCHED_READINGS = StagingTable(
    "d0010_matched_reading",
    (
        ("meter_id", _ID),
        *_fields(Reading, "line_number", "register_id", "read_at", *CONTENT_FIELDS),
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
    STAGED_SITE_VISITS,
    MATCHED_READINGS,
)

type ReadingKey = tuple[str, str, str, datetime]


@dataclass
class WriteCounts:
    readings_imported: int = 0
    readings_duplicate: int = 0
    readings_superseding: int = 0


class BatchWriter:
    """Collects records for one flow file and writes them a batch at a time."""

    def __init__(
        self,
        *,
        flow_file: FlowFile,
        on_finding: Callable[[Finding], None],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.flow_file = flow_file
        self.on_finding = on_finding
        self.batch_size = batch_size
        self.counts = WriteCounts()
        self._sql = _Sql.for_connection()
        self._staging_ready = False
        self._meter_points: list[MeterPointRecord] = []
        self._meters: list[MeterRecord] = []
        self._readings: dict[ReadingKey, RegisterReading] = {}
        self._site_visits: list[SiteVisitRecord] = []

    # -- collecting ----------------------------------------------------------------

    # Every kind of record counts towards a full batch: a file of MPANs without readings
    # must not grow memory either.

    def add_meter_point(self, record: MeterPointRecord) -> None:
        self._meter_points.append(record)
        if len(self._meter_points) >= self.batch_size:
            self.flush()

    def add_meter(self, record: MeterRecord) -> None:
        self._meters.append(record)
        if len(self._meters) >= self.batch_size:
            self.flush()

    def add_site_visit(self, record: SiteVisitRecord) -> None:
        self._site_visits.append(record)
        if len(self._site_visits) >= self.batch_size:
            self.flush()

    def add_reading(self, record: RegisterReading) -> None:
        key = (record.mpan_core, record.serial_number, record.register_id, record.read_at)
        if key in self._readings:
            # The same register and time twice in one batch: write the first so the
            # second can be compared with it like any other earlier reading.
            self.flush()
        self._readings[key] = record
        # A reading's 033s go in its batch, so they can be linked to its row.
        if record.site_visits:
            self._site_visits.extend(record.site_visits)
        if len(self._readings) >= self.batch_size or len(self._site_visits) >= self.batch_size:
            self.flush()

    # -- writing -------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything collected so far."""
        if not (self._meter_points or self._meters or self._readings or self._site_visits):
            return
        sql = self._sql
        flow_file_id = self.flow_file.pk
        with connection.cursor() as cursor:
            if not self._staging_ready:
                sql.create_staging_tables(cursor)
                self._staging_ready = True
            sql.empty_staging_tables(cursor)
            # Staged in MPAN order, so each statement probes the MPAN index key by key,
            # a page at a time, instead of at random: once the index outgrows the
            # database's page cache, random probes each cost a read.
            by_mpan = itemgetter(0)
            sql.stage(
                cursor,
                STAGED_METER_POINTS,
                sorted(
                    (
                        (r.mpan_core, r.distributor_id, r.check_digit_valid, r.is_amsid)
                        for r in self._meter_points
                    ),
                    key=by_mpan,
                ),
            )
            sql.stage(
                cursor,
                STAGED_METERS,
                sorted(((r.mpan_core, r.serial_number) for r in self._meters), key=by_mpan),
            )
            row = sql.reading_row
            sql.stage(
                cursor,
                STAGED_READINGS,
                sorted((row(r) for r in self._readings.values()), key=itemgetter(1)),
            )
            sql.stage(
                cursor,
                STAGED_SITE_VISITS,
                [
                    (
                        visit.line_number,
                        visit.group_code,
                        visit.check_code,
                        visit.additional_information,
                        visit.mpan_core,
                        visit.serial_number or None,
                        visit.reading_line_number,
                    )
                    for visit in self._site_visits
                ],
            )
            if self._meter_points:
                sql.insert_meter_points(cursor)
            if self._meters:
                sql.insert_meters(cursor)
            if self._readings:
                self._write_readings(cursor, flow_file_id)
            if self._site_visits:
                sql.insert_site_visits(cursor, flow_file_id)
        self._meter_points.clear()
        self._meters.clear()
        self._readings.clear()
        self._site_visits.clear()

    def _write_readings(self, cursor: Any, flow_file_id: int) -> None:
        sql = self._sql
        sql.match_staged_readings(cursor)
        # Before the insert: at most one current reading per register and time.
        sql.mark_superseded(cursor)
        sql.insert_matched_readings(cursor, flow_file_id)
        matched, duplicates, superseding, repeats = sql.matched_outcome(cursor, flow_file_id)
        if matched != len(self._readings):
            # Matching joins each reading to its meter: a reading without one would
            # vanish here. Fail the file (rolling it back) rather than lose it.
            raise RuntimeError(
                f"{len(self._readings) - matched} reading(s) of a batch found no meter"
            )
        self.counts.readings_imported += matched - duplicates
        self.counts.readings_duplicate += duplicates
        self.counts.readings_superseding += superseding
        if repeats:
            by_line = {record.line_number: record for record in self._readings.values()}
            for line_number, earlier_line_number, same_content in sorted(repeats):
                self._repeated_in_file(
                    by_line[line_number], earlier_line_number, same_value=bool(same_content)
                )

    def _repeated_in_file(
        self, record: RegisterReading, earlier_line_number: int, *, same_value: bool
    ) -> None:
        what = "repeats" if same_value else "gives a different value from"
        self.on_finding(
            warning(
                record.line_number,
                FindingCode.READING_REPEATED_IN_FILE,
                f"reading for MPAN {record.mpan_core} meter {record.serial_number!r} register "
                f"{record.register_id!r} at {record.read_at:%Y-%m-%d %H:%M:%S} {what} the "
                f"one at line {earlier_line_number}"
                + ("" if same_value else "; the later line supersedes it"),
                "030",
            )
        )


class _Sql:
    """The statements, written once; subclasses supply each database's dialect."""

    vendor = ""
    true, false = "1", "0"

    def __init__(self) -> None:
        quote = connection.ops.quote_name
        self.meter_point_table = quote(MeterPoint._meta.db_table)
        self.meter_table = quote(Meter._meta.db_table)
        self.reading_table = quote(Reading._meta.db_table)
        self.site_visit_table = quote(SiteVisit._meta.db_table)
        self._adapted: dict[datetime, Any] = {}

    @staticmethod
    def for_connection() -> "_Sql":
        return _PostgresSql() if connection.vendor == "postgresql" else _SqliteSql()

    # -- dialect -------------------------------------------------------------------

    def stage(self, cursor: Any, table: StagingTable, rows: list) -> None:
        """Hand ``rows`` (tuples in the table's column order) to the database."""
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

    def param_datetime(self, value: datetime | None) -> Any:
        """A datetime as staging takes it."""
        return value

    def id_in(self, column: str, subquery: str) -> str:
        """``column`` is one of the ids ``subquery`` selects (looked up by index)."""
        return f"{column} IN ({subquery})"

    # -- statements ----------------------------------------------------------------

    def create_staging_tables(self, cursor: Any) -> None:
        for table in STAGING_TABLES:
            columns = ", ".join(
                f"{name} {field.db_type(connection)}" for name, field in table.columns
            )
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table.name} ({columns})")

    def insert_meter_points(self, cursor: Any) -> None:
        columns = ", ".join(STAGED_METER_POINTS.column_names)
        cursor.execute(
            f"INSERT INTO {self.meter_point_table} ({columns}) "
            f"SELECT {columns} FROM {STAGED_METER_POINTS.name} "
            # "WHERE true" tells SQLite's parser the ON CONFLICT is the upsert's.
            f"WHERE {self.true} = {self.true} ON CONFLICT (mpan_core) DO NOTHING"
        )

    def insert_meters(self, cursor: Any) -> None:
        cursor.execute(
            f"INSERT INTO {self.meter_table} (meter_point_id, serial_number) "
            f"SELECT mp.id, s.serial_number FROM {STAGED_METERS.name} s "
            + self.probe("JOIN", self.meter_point_table, "mp", "id", "mp.mpan_core = s.mpan_core")
            + f" WHERE {self.true} = {self.true} "
            "ON CONFLICT (meter_point_id, serial_number) DO NOTHING"
        )

    def match_staged_readings(self, cursor: Any) -> None:
        same_content = " AND ".join(self.same(f"r.{name}", f"s.{name}") for name in CONTENT_FIELDS)
        copied = ", ".join(
            f"s.{name}" for name in ("line_number", "register_id", "read_at", *CONTENT_FIELDS)
        )
        key = "r.meter_id = m.id AND r.register_id = s.register_id AND r.read_at = s.read_at"
        content = ", ".join(f"r.{name}" for name in CONTENT_FIELDS)
        cursor.execute(
            f"INSERT INTO {MATCHED_READINGS.name} ({', '.join(MATCHED_READINGS.column_names)}) "
            f"SELECT m.id, {copied}, r.id, r.flow_file_id, r.line_number, "
            f"CASE WHEN r.id IS NOT NULL AND {same_content} THEN {self.true} "
            f"ELSE {self.false} END "
            f"FROM {STAGED_READINGS.name} s "
            + self.probe("JOIN", self.meter_point_table, "mp", "id", "mp.mpan_core = s.mpan_core")
            + " "
            + self.probe(
                "JOIN",
                self.meter_table,
                "m",
                "id",
                "m.meter_point_id = mp.id AND m.serial_number = s.serial_number",
            )
            + " "
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
        copied = ", ".join(("line_number", "register_id", "read_at", *CONTENT_FIELDS))
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

    def reading_row(self, record: RegisterReading) -> tuple:
        """A reading as a ``STAGED_READINGS`` row."""
        param_datetime = self.param_datetime
        return (
            record.line_number,
            record.mpan_core,
            record.serial_number,
            record.register_id,
            param_datetime(record.read_at),
            # Plain notation, exactly as parsed: never through a float.
            format(record.value, "f"),
            record.reading_type,
            record.bsc_validation_status,
            record.reading_flag,
            record.reading_method,
            param_datetime(record.md_reset_at),
            record.md_reset_count,
            record.validation_reason_code,
            record.validation_status,
        )


class _SqliteSql(_Sql):
    vendor = "sqlite"

    def stage(self, cursor: Any, table: StagingTable, rows: list) -> None:
        # Many rows per INSERT, not executemany: executemany releases and retakes the
        # GIL for every row, which the parsing thread would turn into a wait of up to
        # 5 ms each; one statement releases it once, for all its rows.
        row = "(" + ", ".join(["?"] * len(table.columns)) + ")"
        raw_cursor = cursor.cursor
        start = 0
        for count in _statement_sizes(len(rows), MAX_STAGED_PARAMETERS // len(table.columns)):
            chunk = rows[start : start + count]
            start += count
            # Straight to sqlite3: the SQL is already in its "?" style, and Django would
            # rewrite thousands of placeholders on every call.
            sqlite3.Cursor.execute(
                raw_cursor,
                f"INSERT INTO {table.name} VALUES {', '.join([row] * count)}",
                list(chain.from_iterable(chunk)),
            )

    def empty_staging_tables(self, cursor: Any) -> None:
        for table in STAGING_TABLES:
            cursor.execute(f"DELETE FROM {table.name}")

    def same(self, left: str, right: str) -> str:
        return f"{left} IS {right}"

    def matched_outcome(self, cursor: Any, flow_file_id: int) -> tuple[int, int, int, list]:
        # One row, the repeats as JSON: fetching rows one at a time would switch
        # Python's GIL to the parsing thread and back for every row.
        cursor.execute(
            "SELECT count(*), coalesce(sum(earlier_id IS NOT NULL AND same_content = 1), 0), "
            "coalesce(sum(earlier_id IS NOT NULL AND same_content = 0), 0), "
            "json_group_array(json_array(line_number, earlier_line_number, same_content)) "
            f"FILTER (WHERE earlier_flow_file_id = %s) FROM {MATCHED_READINGS.name}",
            [flow_file_id],
        )
        matched, duplicates, superseding, repeats = cursor.fetchone()
        return matched, duplicates, superseding, json.loads(repeats)

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


class _PostgresSql(_Sql):
    vendor = "postgresql"
    true, false = "true", "false"

    def stage(self, cursor: Any, table: StagingTable, rows: list) -> None:
        if rows:
            with cursor.cursor.copy(
                f"COPY {table.name} ({', '.join(table.column_names)}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)

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
