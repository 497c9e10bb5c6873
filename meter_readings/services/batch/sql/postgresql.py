"""PostgreSQL's dialect of the batch statements: binary COPY, index probes, sequences."""

from collections.abc import Iterable
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.db import IntegrityError, connection
from django.db.models import Model

from meter_readings.d0010 import MeterPointRecord, MeterRecord, RegisterReading
from meter_readings.models import Meter, MeterPoint
from meter_readings.services.batch.sql.base import (
    MATCHED_READINGS,
    METER_KEYS,
    METER_OF,
    STAGED_METER_READINGS,
    STAGING_TABLES,
    BatchSql,
    BulkTable,
    MeterIds,
    MeterKey,
    MetersStoredConcurrently,
    ReadingsWithoutMeter,
    _fields,
    first_of_each_mpan,
    runs_by_meter,
)


class PostgresBatchSql(BatchSql):
    true, false = "true", "false"

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
        return MeterIds(
            created=created,
            held=held,
            meter_points=point_ids,
            created_meter_points=frozenset(new_points),
        )

    def match_readings_of_held_meters(
        self, cursor: Any, readings: list[RegisterReading], meter_ids: MeterIds
    ) -> None:
        # By the held meters' ids, which store_meters looked up anyway: the match then
        # joins no meter point or meter.
        row = self.meter_reading_row
        runs, lost = runs_by_meter(readings, meter_ids.held)
        if lost:
            # The parser yields no reading before its 026 and 028, which a batch stores
            # first: fail the file (rolling it back) rather than lose a reading.
            raise ReadingsWithoutMeter(
                f"{len(lost)} reading(s) of a batch found no meter "
                f"(first at line {lost[0].line_number})"
            )
        # In meter order: the reading index is probed key by key, not at random.
        rows = [row(meter_id, record) for meter_id, run in runs for record in run]
        self.stage(cursor, STAGED_METER_READINGS, sorted(rows, key=itemgetter(0)))
        self.match_staged_meter_readings(cursor)

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
