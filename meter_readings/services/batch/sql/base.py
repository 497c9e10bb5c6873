"""The SQL a batch of parsed records is written with: what both databases share.

``BatchWriter`` decides what to write; this package says how, in as few statements as
possible, none of them per record. As Django's ``db/backends`` does, the statements are
written once here and each database overrides only what differs (``sqlite``,
``postgresql``); ``for_connection()`` in the package picks one.

Every statement runs inside the database driver with Python's GIL released, so the
import can parse the next batch meanwhile (``read_ahead``): on SQLite that is why rows go
many to an INSERT rather than through ``executemany`` (which releases and retakes the GIL
for every row), and why rows come back as one JSON value rather than one row at a time.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any, cast

from django.db import connection
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


class ReadingsWithoutMeter(Exception):
    """Readings of a batch found no stored meter: the file is failed, never thinned.

    Cannot happen while the parser yields no reading before its 026 and 028 (which a
    batch stores first); raised so that a broken invariant rolls the file back rather
    than silently dropping readings.
    """


class MetersStoredConcurrently(Exception):
    """Another transaction stored a meter point or meter this batch was creating.

    Raised (on PostgreSQL) instead of the ``IntegrityError`` the ``COPY`` of new meters
    got: the transaction can only be rolled back, and the file imported again on the
    staged path, whose ``INSERT ... ON CONFLICT DO NOTHING`` waits for such rows.
    """


@dataclass(frozen=True)
class MeterIds:
    """A batch's meters by (MPAN core, serial): those it created, and those held before.

    ``held`` may be empty: only a dialect whose ``match_readings_of_held_meters`` stages
    readings by meter id (PostgreSQL) fills it. ``meter_points`` (MPAN core to meter
    point id) likewise: a dialect that looked them up says so, for the reading checks.
    """

    created: dict[MeterKey, int]
    held: dict[MeterKey, int]
    meter_points: dict[str, int] = field(default_factory=dict)
    # Of those, the ones this batch created (no row anywhere refers to them yet).
    created_meter_points: frozenset[str] = frozenset()


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

    def match_readings_of_held_meters(
        self, cursor: Any, readings: list[RegisterReading], meter_ids: MeterIds
    ) -> None:
        """Match ``readings`` (of meters held before the batch) with what is held.

        Into ``MATCHED_READINGS``; each database stages them the way it finds them
        fastest (by default, by MPAN core and serial).
        """
        self.match_by_key(cursor, readings)

    def match_by_key(self, cursor: Any, readings: list[RegisterReading]) -> None:
        """Stage ``readings`` by MPAN core and serial; match them with what is held."""
        row = self.reading_row
        # In MPAN order: the indexes are probed key by key, not at random.
        self.stage(cursor, STAGED_READINGS, sorted(map(row, readings), key=itemgetter(0)))
        self.match_staged_readings(cursor)

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


def runs_by_meter(
    readings: list[RegisterReading], meter_ids: dict[MeterKey, int]
) -> tuple[list[tuple[int, list[RegisterReading]]], list[RegisterReading]]:
    """The readings of ``meter_ids``' meters, as (meter id, its run of readings); the others."""
    runs: list[tuple[int, list[RegisterReading]]] = []
    others: list[RegisterReading] = []
    # Readings come meter by meter: one lookup per run of them.
    for key, run in groupby(readings, key=METER_OF):
        meter_id = meter_ids.get(key)
        if meter_id is None:
            others.extend(run)
        else:
            runs.append((meter_id, list(run)))
    return runs, others
