"""Writing a flow file's records in batches: the writer, its strategies, its SQL.

Private to the import service (an import-linter contract keeps it so); ``writer``
collects and flushes, ``strategies`` names the two ways a batch stores its meters, and
``sql`` holds the statements, one module per database.
"""

from meter_readings.services.batch.sql.base import MetersStoredConcurrently, ReadingsWithoutMeter
from meter_readings.services.batch.strategies import (
    NewMetersStraightIn,
    StagedUpsert,
    WritingStrategy,
)
from meter_readings.services.batch.writer import DEFAULT_BATCH_SIZE, BatchWriter, WriteCounts

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BatchWriter",
    "MetersStoredConcurrently",
    "NewMetersStraightIn",
    "ReadingsWithoutMeter",
    "StagedUpsert",
    "WriteCounts",
    "WritingStrategy",
]
