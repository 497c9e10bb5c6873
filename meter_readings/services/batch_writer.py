"""Persist parsed records in batches, set-wise against the natural keys.

Per batch, whatever its size: meter points and meters are inserted with ``ON CONFLICT DO
NOTHING`` and read back in one query each; the current readings for the batch's
(meter, register, reading time) keys are fetched in one row-value query; readings with
identical content are counted as already held, changed ones supersede the earlier
reading, and the new rows go in with one ``executemany`` (SQLite) or one ``COPY``
(PostgreSQL). Nothing here issues a statement per reading.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from meter_readings.d0010 import FindingCode, MeterPointRecord, MeterRecord, RegisterReading
from meter_readings.d0010 import SiteVisitRecord
from meter_readings.d0010.findings import Finding, warning
from meter_readings.d0010.values import STORED_DECIMAL_PLACES
from meter_readings.models import (
    READING_ITEMS,
    FlowFile,
    Meter,
    MeterPoint,
    Reading,
    SiteVisit,
)

DEFAULT_BATCH_SIZE = 5000
# SQLite allows 32766 bound parameters in a statement, PostgreSQL 65535; a power of
# two so that padded chunks stay within it.
MAX_PARAMETERS = 16384
DECIMAL_QUANTUM = Decimal(1).scaleb(-STORED_DECIMAL_PLACES)
ADAPTED_DATETIME_CACHE = 10000

# The columns whose equality makes a second copy of a reading a duplicate, in the order
# of ``RegisterReading`` attributes and of the SELECT below.
CONTENT_FIELDS = READING_ITEMS
INSERT_FIELDS = (
    "meter_id",
    "flow_file_id",
    "line_number",
    "register_id",
    "read_at",
    *CONTENT_FIELDS,
    "is_superseded",
    "supersedes_id",
)

type ReadingKey = tuple[str, str, str, datetime]


@dataclass
class WriteCounts:
    readings_imported: int = 0
    readings_duplicate: int = 0
    readings_superseding: int = 0


@dataclass
class _Current:
    """The current stored reading for a key, as far as a comparison needs it."""

    id: int
    flow_file_id: int
    line_number: int
    content: tuple


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
        self._meter_points: dict[str, MeterPointRecord] = {}
        self._meters: dict[tuple[str, str], MeterRecord] = {}
        self._readings: dict[ReadingKey, RegisterReading] = {}
        self._site_visits: list[SiteVisitRecord] = []

    # -- collecting ----------------------------------------------------------------

    def add_meter_point(self, record: MeterPointRecord) -> None:
        self._meter_points[record.mpan_core] = record

    def add_meter(self, record: MeterRecord) -> None:
        self._meters[(record.mpan_core, record.serial_number)] = record

    def add_site_visit(self, record: SiteVisitRecord) -> None:
        self._site_visits.append(record)

    def add_reading(self, record: RegisterReading) -> None:
        key = (record.mpan_core, record.serial_number, record.register_id, record.read_at)
        if key in self._readings:
            # The same register and time twice in one batch: write the first so the
            # second can be compared with it like any other earlier reading.
            self.flush()
        self._readings[key] = record
        # A reading's 033s go in its batch, so they can be linked to its row.
        self._site_visits.extend(record.site_visits)
        if len(self._readings) >= self.batch_size:
            self.flush()

    # -- writing -------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything collected so far."""
        if not (self._meter_points or self._meters or self._readings or self._site_visits):
            return
        meter_point_ids = self._resolve_meter_points()
        meter_ids = self._resolve_meters(meter_point_ids)
        reading_ids = self._write_readings(meter_ids)
        self._write_site_visits(meter_point_ids, meter_ids, reading_ids)
        self._meter_points.clear()
        self._meters.clear()
        self._readings.clear()
        self._site_visits.clear()

    def _resolve_meter_points(self) -> dict[str, int]:
        cores = set(self._meter_points)
        cores.update(mpan for mpan, _ in self._meters)
        cores.update(key[0] for key in self._readings)
        cores.update(visit.mpan_core for visit in self._site_visits)
        with connection.cursor() as cursor:
            self._sql.upsert_meter_points(
                cursor,
                [
                    (r.mpan_core, r.distributor_id, r.check_digit_valid, r.is_amsid)
                    for r in self._meter_points.values()
                ],
            )
            found = dict(self._sql.select_meter_points(cursor, sorted(cores)))
        return found

    def _resolve_meters(self, meter_point_ids: dict[str, int]) -> dict[tuple[str, str], int]:
        keys = set(self._meters)
        keys.update((key[0], key[1]) for key in self._readings)
        keys.update(
            (visit.mpan_core, visit.serial_number)
            for visit in self._site_visits
            if visit.serial_number
        )
        core_by_id = {meter_point_ids[mpan]: mpan for mpan, _ in keys}
        found: dict[tuple[str, str], int] = {}
        with connection.cursor() as cursor:
            self._sql.upsert_meters(
                cursor, [(meter_point_ids[mpan], serial) for mpan, serial in keys]
            )
            # Meters are looked up by meter point (the leading column of their unique
            # index): a handful of rows each, whatever the table's size.
            for meter_point_id, serial, meter_id in self._sql.select_meters(
                cursor, sorted(core_by_id)
            ):
                key = (core_by_id[meter_point_id], serial)
                if key in keys:
                    found[key] = meter_id
        return found

    def _write_readings(self, meter_ids: dict[tuple[str, str], int]) -> dict[int, int]:
        """Store new readings; returns reading id by source line number (for 033s)."""
        if not self._readings:
            return {}
        sql = self._sql
        keyed = [
            (
                (meter_ids[(key[0], key[1])], record.register_id, sql.key_datetime(record.read_at)),
                record,
            )
            for key, record in self._readings.items()
        ]
        current = self._current_readings([db_key for db_key, _ in keyed])
        rows: list[tuple] = []
        superseded_ids: list[int] = []
        reading_ids: dict[int, int] = {}
        for db_key, record in keyed:
            content = sql.content(record)
            earlier = current.get(db_key)
            if earlier is not None and earlier.content == content:
                self.counts.readings_duplicate += 1
                reading_ids[record.line_number] = earlier.id
                if earlier.flow_file_id == self.flow_file.pk:
                    self._repeated_in_file(record, earlier, same_value=True)
                continue
            if earlier is not None:
                superseded_ids.append(earlier.id)
                self.counts.readings_superseding += 1
                if earlier.flow_file_id == self.flow_file.pk:
                    self._repeated_in_file(record, earlier, same_value=False)
            rows.append(
                (
                    db_key[0],
                    self.flow_file.pk,
                    record.line_number,
                    record.register_id,
                    sql.param_datetime(record.read_at),
                    *content,
                    False,
                    earlier.id if earlier is not None else None,
                )
            )
        with connection.cursor() as cursor:
            # Before the insert: at most one current reading per register and time.
            sql.mark_superseded(cursor, superseded_ids)
            if rows:
                sql.insert_readings(cursor, rows)
            self.counts.readings_imported += len(rows)
            wanted = [r.line_number for r in self._readings.values() if r.site_visits]
            wanted = [line for line in wanted if line not in reading_ids]
            if wanted:
                reading_ids.update(sql.select_reading_ids(cursor, self.flow_file.pk, wanted))
        return reading_ids

    def _current_readings(self, keys: list[tuple[int, str, Any]]) -> dict[tuple, _Current]:
        current: dict[tuple, _Current] = {}
        sql = self._sql
        with connection.cursor() as cursor:
            for row in sql.select_current(cursor, keys):
                reading_id, meter_id, register_id, read_at, flow_file_id, line = row[:6]
                current[(meter_id, register_id, sql.stored_datetime(read_at))] = _Current(
                    id=reading_id,
                    flow_file_id=flow_file_id,
                    line_number=line,
                    content=sql.stored_content(row[6:]),
                )
        return current

    def _repeated_in_file(
        self, record: RegisterReading, earlier: _Current, *, same_value: bool
    ) -> None:
        what = "repeats" if same_value else "gives a different value from"
        self.on_finding(
            warning(
                record.line_number,
                FindingCode.READING_REPEATED_IN_FILE,
                f"reading for MPAN {record.mpan_core} meter {record.serial_number!r} register "
                f"{record.register_id!r} at {record.read_at:%Y-%m-%d %H:%M:%S} {what} the "
                f"one at line {earlier.line_number}"
                + ("" if same_value else "; the later line supersedes it"),
                "030",
            )
        )

    def _write_site_visits(
        self,
        meter_point_ids: dict[str, int],
        meter_ids: dict[tuple[str, str], int],
        reading_ids: dict[int, int],
    ) -> None:
        if not self._site_visits:
            return
        SiteVisit.objects.bulk_create(
            [
                SiteVisit(
                    flow_file_id=self.flow_file.pk,
                    line_number=visit.line_number,
                    level=visit.group_code,
                    check_code=visit.check_code,
                    additional_information=visit.additional_information,
                    meter_point_id=meter_point_ids[visit.mpan_core],
                    meter_id=(
                        meter_ids[(visit.mpan_core, visit.serial_number)]
                        if visit.serial_number
                        else None
                    ),
                    reading_id=(
                        reading_ids.get(visit.reading_line_number)
                        if visit.reading_line_number
                        else None
                    ),
                )
                for visit in self._site_visits
            ]
        )


class _Sql:
    """Statements and value conversions shared by both databases.

    Subclasses say how a batch is sent: SQLite takes ``executemany`` and literal IN
    lists; PostgreSQL takes arrays through ``unnest`` and ``COPY``, one statement per
    batch instead of one round trip per row.
    """

    vendor = ""

    def __init__(self) -> None:
        quote = connection.ops.quote_name
        self.meter_point_table = quote(MeterPoint._meta.db_table)
        self.meter_table = quote(Meter._meta.db_table)
        self.reading_table = quote(Reading._meta.db_table)
        self.columns = ", ".join(quote(name) for name in INSERT_FIELDS)
        self.content_columns = ", ".join(f"r.{quote(name)}" for name in CONTENT_FIELDS)
        self._adapted: dict[datetime, Any] = {}

    @staticmethod
    def for_connection() -> "_Sql":
        return _PostgresSql() if connection.vendor == "postgresql" else _SqliteSql()

    def current_select(self, wanted: str, false: str) -> str:
        return (
            f"SELECT r.id, r.meter_id, r.register_id, r.read_at, r.flow_file_id, "
            f"r.line_number, {self.content_columns} "
            f"FROM {wanted} JOIN {self.reading_table} r ON r.meter_id = wanted.meter_id "
            "AND r.register_id = wanted.register_id AND r.read_at = wanted.read_at "
            # Literal, not a parameter: the planner must see the partial index's predicate.
            f"AND r.is_superseded = {false}"
        )

    # -- values --------------------------------------------------------------------

    def param_datetime(self, value: datetime | None) -> Any:
        """A datetime as this database takes it as a parameter."""
        return value

    def key_datetime(self, value: datetime) -> Any:
        """A datetime as a key that equals what ``stored_datetime`` gives back."""
        return self.param_datetime(value)

    def stored_datetime(self, value: Any) -> Any:
        return value

    def content(self, record: RegisterReading) -> tuple:
        return (
            record.value.quantize(DECIMAL_QUANTUM),
            record.reading_type,
            record.bsc_validation_status,
            record.reading_flag,
            record.reading_method,
            self.param_datetime(record.md_reset_at),
            record.md_reset_count,
            record.validation_reason_code,
            record.validation_status,
        )

    def stored_content(self, row: Sequence[Any]) -> tuple:
        value, reading_type, status, flag, method, md_at, md_count, reason, valid = row
        # SQLite hands decimals back as int or float: str() gives the shortest exact form.
        value = Decimal(str(value)).quantize(DECIMAL_QUANTUM)
        return (
            value,
            reading_type,
            status,
            None if flag is None else bool(flag),
            method,
            self.stored_datetime(md_at),
            md_count,
            reason,
            None if valid is None else bool(valid),
        )


class _SqliteSql(_Sql):
    vendor = "sqlite"

    def upsert_meter_points(self, cursor: Any, rows: list[tuple]) -> None:
        cursor.executemany(
            f"INSERT INTO {self.meter_point_table} (mpan_core, distributor_id, "
            "check_digit_valid, is_amsid) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (mpan_core) DO NOTHING",
            rows,
        )

    def select_meter_points(self, cursor: Any, cores: list[str]) -> Iterator[tuple]:
        for chunk in _chunks(cores, MAX_PARAMETERS):
            cursor.execute(
                f"SELECT mpan_core, id FROM {self.meter_point_table} "
                f"WHERE mpan_core IN {_placeholders(len(chunk))}",
                chunk,
            )
            yield from cursor.fetchall()

    def upsert_meters(self, cursor: Any, rows: list[tuple]) -> None:
        cursor.executemany(
            f"INSERT INTO {self.meter_table} (meter_point_id, serial_number) VALUES (%s, %s) "
            "ON CONFLICT (meter_point_id, serial_number) DO NOTHING",
            rows,
        )

    def select_meters(self, cursor: Any, meter_point_ids: list[int]) -> Iterator[tuple]:
        for chunk in _chunks(meter_point_ids, MAX_PARAMETERS):
            cursor.execute(
                f"SELECT meter_point_id, serial_number, id FROM {self.meter_table} "
                f"WHERE meter_point_id IN {_placeholders(len(chunk))}",
                chunk,
            )
            yield from cursor.fetchall()

    def select_current(self, cursor: Any, keys: list[tuple]) -> Iterator[tuple]:
        # A join against the keys searches the partial unique index once per key; the
        # row-value "IN (VALUES ...)" form makes SQLite scan the whole index instead.
        for chunk in _chunks(keys, MAX_PARAMETERS // 4):
            values = ", ".join(["(%s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"WITH wanted (meter_id, register_id, read_at) AS (VALUES {values}) "
                + self.current_select("wanted", "0"),
                [value for key in chunk for value in key],
            )
            yield from cursor.fetchall()

    def mark_superseded(self, cursor: Any, ids: list[int]) -> None:
        for chunk in _chunks(ids, MAX_PARAMETERS):
            cursor.execute(
                f"UPDATE {self.reading_table} SET is_superseded = 1 "
                f"WHERE id IN {_placeholders(len(chunk))}",
                chunk,
            )

    def insert_readings(self, cursor: Any, rows: list[tuple]) -> None:
        cursor.executemany(
            f"INSERT INTO {self.reading_table} ({self.columns}) "
            f"VALUES {_placeholders(len(INSERT_FIELDS))}",
            rows,
        )

    def select_reading_ids(
        self, cursor: Any, flow_file_id: int, lines: list[int]
    ) -> Iterator[tuple]:
        for chunk in _chunks(lines, MAX_PARAMETERS // 2):
            cursor.execute(
                f"SELECT line_number, id FROM {self.reading_table} "
                f"WHERE flow_file_id = %s AND line_number IN {_placeholders(len(chunk))}",
                [flow_file_id, *chunk],
            )
            yield from cursor.fetchall()

    def param_datetime(self, value: datetime | None) -> Any:
        # Django stores SQLite datetimes as naive UTC text; readings in a file share few
        # distinct times, so each is adapted once.
        if value is None:
            return None
        adapted = self._adapted.get(value)
        if adapted is None:
            if len(self._adapted) >= ADAPTED_DATETIME_CACHE:
                self._adapted.clear()
            adapted = self._adapted[value] = connection.ops.adapt_datetimefield_value(value)
        return adapted

    def stored_datetime(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return self.param_datetime(value.replace(tzinfo=UTC))
        return value


class _PostgresSql(_Sql):
    vendor = "postgresql"

    def upsert_meter_points(self, cursor: Any, rows: list[tuple]) -> None:
        if rows:
            cursor.execute(
                f"INSERT INTO {self.meter_point_table} (mpan_core, distributor_id, "
                "check_digit_valid, is_amsid) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::boolean[], %s::boolean[]) "
                "ON CONFLICT (mpan_core) DO NOTHING",
                [list(column) for column in zip(*rows)],
            )

    def select_meter_points(self, cursor: Any, cores: list[str]) -> Iterator[tuple]:
        cursor.execute(
            f"SELECT mpan_core, id FROM {self.meter_point_table} "
            "WHERE mpan_core = ANY(%s::text[])",
            [cores],
        )
        return iter(cursor.fetchall())

    def upsert_meters(self, cursor: Any, rows: list[tuple]) -> None:
        if rows:
            cursor.execute(
                f"INSERT INTO {self.meter_table} (meter_point_id, serial_number) "
                "SELECT * FROM unnest(%s::bigint[], %s::text[]) "
                "ON CONFLICT (meter_point_id, serial_number) DO NOTHING",
                [list(column) for column in zip(*rows)],
            )

    def select_meters(self, cursor: Any, meter_point_ids: list[int]) -> Iterator[tuple]:
        cursor.execute(
            f"SELECT meter_point_id, serial_number, id FROM {self.meter_table} "
            "WHERE meter_point_id = ANY(%s::bigint[])",
            [meter_point_ids],
        )
        return iter(cursor.fetchall())

    def select_current(self, cursor: Any, keys: list[tuple]) -> Iterator[tuple]:
        if not keys:
            return iter(())
        # LATERAL ... LIMIT 1 cannot be flattened into a join, so each key is one index
        # probe: a plain join lets the planner hash-join against a scan of the whole
        # table, which makes every batch cost more as the table grows.
        cursor.execute(
            f"SELECT r.* FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[]) "
            "AS wanted (meter_id, register_id, read_at) CROSS JOIN LATERAL ("
            f"SELECT r.id, r.meter_id, r.register_id, r.read_at, r.flow_file_id, "
            f"r.line_number, {self.content_columns} FROM {self.reading_table} r "
            "WHERE r.meter_id = wanted.meter_id AND r.register_id = wanted.register_id "
            "AND r.read_at = wanted.read_at AND r.is_superseded = false LIMIT 1) r",
            [list(column) for column in zip(*keys)],
        )
        return iter(cursor.fetchall())

    def mark_superseded(self, cursor: Any, ids: list[int]) -> None:
        if ids:
            cursor.execute(
                f"UPDATE {self.reading_table} SET is_superseded = true "
                "WHERE id = ANY(%s::bigint[])",
                [ids],
            )

    def insert_readings(self, cursor: Any, rows: list[tuple]) -> None:
        with cursor.cursor.copy(f"COPY {self.reading_table} ({self.columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def select_reading_ids(
        self, cursor: Any, flow_file_id: int, lines: list[int]
    ) -> Iterator[tuple]:
        cursor.execute(
            f"SELECT line_number, id FROM {self.reading_table} "
            "WHERE flow_file_id = %s AND line_number = ANY(%s::integer[])",
            [flow_file_id, lines],
        )
        return iter(cursor.fetchall())


def _placeholders(count: int) -> str:
    return "(" + ", ".join(["%s"] * count) + ")"


def _chunks(items: Sequence[Any] | Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Split ``items`` into lists of at most ``size``, each padded to a power of two.

    The database driver caches a prepared statement per distinct SQL text; an IN list
    of a new length every batch would fill that cache with large, never-reused
    statements. Padding (repeating the last item, harmless in IN) keeps a handful.
    """
    items = list(items)
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        padded_length = min(size, 1 << (len(chunk) - 1).bit_length())
        chunk.extend([chunk[-1]] * (padded_length - len(chunk)))
        yield chunk
