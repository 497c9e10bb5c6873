"""The batch statements, one module per database (``base`` holds what they share)."""

from django.db import connection

from meter_readings.services.batch.sql.base import BatchSql


def for_connection() -> BatchSql:
    """The dialect of Django's default database."""
    if connection.vendor == "postgresql":
        from meter_readings.services.batch.sql.postgresql import PostgresBatchSql

        return PostgresBatchSql()
    from meter_readings.services.batch.sql.sqlite import SqliteBatchSql

    return SqliteBatchSql()
