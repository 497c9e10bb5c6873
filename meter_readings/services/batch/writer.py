"""Persist parsed records in batches, set-wise, a few statements per batch.

Per batch, whatever its size (the statements are in ``batch.sql``, one module per
database):

1. meter points and meters: the new ones stored, in sets, and the readings that need no
   match written straight in, as the writing strategy says (``batch.strategies``);
2. the other readings are staged and matched, in one statement, with the current
   reading for their (meter, register, reading time) through the partial unique index:
   no match is a new reading, the same content is one already held, a different content
   supersedes the earlier one; superseded readings are marked, new ones inserted, and one
   row comes back with the counts and any same-file repeats to report;
3. site visits are staged and inserted, linked to their meter point, meter and reading.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from meter_readings.d0010 import FindingCode, MeterPointRecord, MeterRecord, RegisterReading
from meter_readings.d0010 import SiteVisitRecord
from meter_readings.d0010.findings import Finding, warning
from meter_readings.models import FlowFile
from meter_readings.services.batch import sql as dialects
from meter_readings.services.batch.sql.base import (
    STAGED_SITE_VISITS,
    MeterIds,
    ReadingsWithoutMeter,
    runs_by_meter,
)
from meter_readings.services.batch.strategies import NewMetersStraightIn, WritingStrategy

DEFAULT_BATCH_SIZE = 10000

type ReadingKey = tuple[str, str, str, datetime]


@dataclass
class WriteCounts:
    readings_imported: int = 0
    readings_duplicate: int = 0
    readings_superseding: int = 0
    meters_created: int = 0
    site_visits: int = 0


class BatchWriter:
    """Collects records for one flow file and writes them a batch at a time."""

    def __init__(
        self,
        *,
        flow_file: FlowFile,
        on_finding: Callable[[Finding], None],
        batch_size: int = DEFAULT_BATCH_SIZE,
        strategy: WritingStrategy | None = None,
        on_readings_stored: (
            Callable[[list[RegisterReading], list[tuple[int, list[RegisterReading]]]], None] | None
        ) = None,
    ) -> None:
        """``strategy`` is how meters are stored (``NewMetersStraightIn`` by default);
        ``on_readings_stored`` is called with each batch's readings once they are
        stored, and those of the meters the batch created as (meter id, readings)
        (the import's checks: a new meter has no history to read back)."""
        self.flow_file = flow_file
        self.on_finding = on_finding
        self.on_readings_stored = on_readings_stored
        self._new_meter_runs: list[tuple[int, list[RegisterReading]]] = []
        # The batch's meter point ids by MPAN, where the dialect looked them up.
        self.meter_point_ids: dict[str, int] = {}
        self.created_meter_points: frozenset[str] = frozenset()
        self.batch_size = batch_size
        self.strategy = strategy or NewMetersStraightIn()
        self.counts = WriteCounts()
        self._sql = dialects.for_connection()
        self._staging_ready = False
        self._meter_points: list[MeterPointRecord] = []
        self._meters: list[MeterRecord] = []
        self._readings: dict[ReadingKey, RegisterReading] = {}
        self._site_visits: list[SiteVisitRecord] = []

    # -- collecting ----------------------------------------------------------------

    def adders(self) -> dict[type, Callable[[Any], None]]:
        """The method that collects each kind of record, by the record's type."""
        return {
            RegisterReading: self.add_reading,
            MeterPointRecord: self.add_meter_point,
            MeterRecord: self.add_meter,
            SiteVisitRecord: self.add_site_visit,
        }

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
        readings = list(self._readings.values())
        with connection.cursor() as cursor:
            if not self._staging_ready:
                sql.create_staging_tables(cursor)
                self._staging_ready = True
            sql.empty_staging_tables(cursor)
            held, meters_created = self.strategy.write_meters_and_stage_readings(
                sql, cursor, self, self._meter_points, self._meters, readings
            )
            self.counts.meters_created += meters_created
            if held:
                self._store_matched(cursor, flow_file_id, held)
            if self._site_visits:
                self.counts.site_visits += len(self._site_visits)
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
                sql.insert_site_visits(cursor, flow_file_id)
        if readings and self.on_readings_stored is not None:
            self.on_readings_stored(readings, self._new_meter_runs)
        self._new_meter_runs = []
        self.meter_point_ids = {}
        self.created_meter_points = frozenset()
        self._meter_points.clear()
        self._meters.clear()
        self._readings.clear()
        self._site_visits.clear()

    def store_new_readings(
        self, cursor: Any, readings: list[RegisterReading], meter_ids: MeterIds
    ) -> list[RegisterReading]:
        """Insert the readings of the meters this batch created; returns the others."""
        created = meter_ids.created
        if not created:
            return readings
        sql = self._sql
        runs, held = runs_by_meter(readings, created)
        if runs:
            # Rows made as the COPY sends them: the database works on the rows sent while
            # Python makes the next ones.
            sql.stage(cursor, sql.new_readings, sql.new_reading_rows(self.flow_file.pk, runs))
            self.counts.readings_imported += sum(len(run) for _, run in runs)
            self._new_meter_runs = runs
            self.meter_point_ids = meter_ids.meter_points
            self.created_meter_points = meter_ids.created_meter_points
        return held

    def _store_matched(
        self, cursor: Any, flow_file_id: int, readings: list[RegisterReading]
    ) -> None:
        """Store the matched ``readings``: mark what they supersede, insert the new ones."""
        sql = self._sql
        # Before the insert: at most one current reading per register and time.
        sql.mark_superseded(cursor)
        sql.insert_matched_readings(cursor, flow_file_id)
        matched, duplicates, superseding, repeats = sql.matched_outcome(cursor, flow_file_id)
        if matched != len(readings):
            # Matching joins each reading to its meter: a reading without one would
            # vanish here. Fail the file (rolling it back) rather than lose it.
            raise ReadingsWithoutMeter(
                f"{len(readings) - matched} reading(s) of a batch found no meter"
            )
        self.counts.readings_imported += matched - duplicates
        self.counts.readings_duplicate += duplicates
        self.counts.readings_superseding += superseding
        if repeats:
            by_line = {record.line_number: record for record in readings}
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
