"""How a batch stores its meters and finds which readings to match: two named paths.

``BatchWriter.flush`` asks its strategy to store the batch's meter points and meters and
the readings that need no match, and to stage the rest for matching; everything after
that (superseding, inserting, site visits) is the same on both paths.

* ``NewMetersStraightIn`` (the default, decision record 8): new meter points and meters
  are stored first (on PostgreSQL numbered from their sequences and ``COPY``-ed); the
  readings of meters the batch created go straight into the reading table; only the
  others are matched with what is held (each database stages them its fastest way).
  ``COPY`` has no conflict handling: if another import stores one of the same meters
  first, it raises ``MetersStoredConcurrently`` and the import runs the file again with:
* ``StagedUpsert``: meter points and meters staged and inserted with
  ``ON CONFLICT DO NOTHING`` (which waits for another transaction's rows, then skips
  them), and every reading matched by MPAN core and serial.
"""

from typing import Any, Protocol

from meter_readings.d0010 import MeterPointRecord, MeterRecord, RegisterReading
from meter_readings.services.batch.sql.base import BatchSql, MeterIds


class StoresNewReadings(Protocol):
    """What a strategy needs of the writer: where the readings of new meters go."""

    def store_new_readings(
        self, cursor: Any, readings: list[RegisterReading], meter_ids: MeterIds
    ) -> list[RegisterReading]: ...


class WritingStrategy:
    """Stores a batch's meters; returns the readings left to match (already staged)."""

    def write_meters_and_stage_readings(
        self,
        sql: BatchSql,
        cursor: Any,
        writer: StoresNewReadings,
        meter_points: list[MeterPointRecord],
        meters: list[MeterRecord],
        readings: list[RegisterReading],
    ) -> tuple[list[RegisterReading], int]:
        """The readings staged for matching, and how many meters the batch created."""
        raise NotImplementedError


class NewMetersStraightIn(WritingStrategy):
    def write_meters_and_stage_readings(
        self,
        sql: BatchSql,
        cursor: Any,
        writer: StoresNewReadings,
        meter_points: list[MeterPointRecord],
        meters: list[MeterRecord],
        readings: list[RegisterReading],
    ) -> tuple[list[RegisterReading], int]:
        meter_ids = sql.store_meters(cursor, meter_points, meters, readings)
        held = writer.store_new_readings(cursor, readings, meter_ids)
        if held:
            sql.match_readings_of_held_meters(cursor, held, meter_ids)
        return held, len(meter_ids.created)


class StagedUpsert(WritingStrategy):
    def write_meters_and_stage_readings(
        self,
        sql: BatchSql,
        cursor: Any,
        writer: StoresNewReadings,
        meter_points: list[MeterPointRecord],
        meters: list[MeterRecord],
        readings: list[RegisterReading],
    ) -> tuple[list[RegisterReading], int]:
        _, created = sql.upsert_meters(cursor, meter_points, meters)
        if readings:
            sql.match_by_key(cursor, readings)
        return readings, created
