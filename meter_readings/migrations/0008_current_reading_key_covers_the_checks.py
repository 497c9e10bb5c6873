"""The current-reading key's index carries the columns the reading checks read back.

The checks read each touched register's current readings of the year before the
earliest read they check (``RegisterChecker.held_readings``). A meter's reads arrive a
month or a quarter apart, so each lies in its own heap page: at 100M readings, a file of
next reads of held meter points imported at 14x its time into an empty database, nearly
all of it those page reads. Its index keeps a register's readings together, in time
order; with the columns the checks need stored in it (``INCLUDE``), PostgreSQL answers
the look-back from the index alone (an index-only scan) in a page or two a register.

The uniqueness it enforces, its name and its condition are unchanged, so Django's model
state (a plain ``UniqueConstraint``) stays true. PostgreSQL only (SQLite has no
covering indexes). Built ``CONCURRENTLY`` beside the old one and swapped in, so that
imports and pages go on while a large book migrates. Decision record 0015.
"""

from django.db import migrations

# models.CURRENT_READING_KEY, as it was when this was written.
CURRENT_READING_KEY = "one_current_reading_per_register_time"
# Every column of the checks' look-back that is not in the key (meter, register, read
# time) or the condition (is_superseded).
CHECKED_COLUMNS = (
    "id, value, reading_type, bsc_validation_status, reading_flag, "
    "validation_reason_code, validation_status, flow_file_id, line_number, supersedes_id"
)
BUILDING = f"{CURRENT_READING_KEY}_building"


def _swap_in(include: str):
    def swap(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = apps.get_model("meter_readings", "Reading")._meta.db_table
        # A build interrupted before the swap leaves an invalid index: start it again.
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {BUILDING}")
        schema_editor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY {BUILDING} ON {table} "
            f"(meter_id, register_id, read_at) {include} WHERE NOT is_superseded"
        )
        schema_editor.execute(f"DROP INDEX CONCURRENTLY {CURRENT_READING_KEY}")
        schema_editor.execute(f"ALTER INDEX {BUILDING} RENAME TO {CURRENT_READING_KEY}")

    return swap


class Migration(migrations.Migration):

    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("meter_readings", "0007_reading_checks"),
    ]

    operations = [
        migrations.RunPython(_swap_in(f"INCLUDE ({CHECKED_COLUMNS})"), _swap_in("")),
    ]
