"""Test systems only: empty the database of everything imported."""

import logging

from django.db import connection, transaction

from meter_readings.models import (
    FlowFile,
    ImportFinding,
    Meter,
    MeterPoint,
    MeterPointReadState,
    Reading,
    ReadingException,
    SiteVisit,
)

logger = logging.getLogger(__name__)

# Children before parents: every reference is PROTECT, so nothing cascades.
IMPORTED_MODELS = (
    ReadingException.history.model,
    ReadingException,
    MeterPointReadState,
    SiteVisit,
    Reading,
    ImportFinding,
    Meter,
    MeterPoint,
    FlowFile,
)


def delete_everything() -> int:
    """Delete every imported row, children first, in one transaction; returns how many.

    One DELETE per table: the ORM's delete would load millions of rows to collect them.
    """
    deleted = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for model in IMPORTED_MODELS:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
            deleted += max(cursor.rowcount, 0)
    logger.warning("All imported data was deleted (%s rows)", deleted)
    return deleted
