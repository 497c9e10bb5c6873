"""Statement-level reference checks look each referenced key up in its index.

Migration 0004's check locked the referenced rows with ``p.id = ANY($1)``. For a batch's
thousands of ids the planner chose a scan of the whole referenced table filtered by a
hash of the ids: each batch of an import then cost more as the table grew (at 1M
readings, every batch read all the meters and meter points stored before it), so the
import's time grew faster than its file. Each key is now probed in the primary key
index (``LATERAL``, which the planner cannot turn into a scan), in key order: a
statement's check costs what its own rows cost, whatever the table's size. The
guarantees are the same: every referenced row is locked ``FOR KEY SHARE``, and a
missing one refused. PostgreSQL only; decision record 0007.
"""

from django.db import migrations

CHECK = r"""
CREATE OR REPLACE FUNCTION d0010_check_inserted_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    child_column text := TG_ARGV[0];
    parent_table text := TG_ARGV[1];
    wanted bigint[];
    locked bigint;
    missing bigint;
BEGIN
    EXECUTE format('SELECT array_agg(DISTINCT %1$I) FROM inserted WHERE %1$I IS NOT NULL',
                   child_column) INTO wanted;
    IF wanted IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format(LOCK_STATEMENT, parent_table) INTO locked USING wanted;
    IF locked < cardinality(wanted) THEN
        EXECUTE format('SELECT k FROM unnest($1) k WHERE NOT EXISTS '
                       '(SELECT FROM %I p WHERE p.id = k) LIMIT 1', parent_table)
            INTO missing USING wanted;
        PERFORM d0010_refuse_missing_reference(
            TG_TABLE_NAME, TG_NAME, child_column, missing, parent_table);
    END IF;
    RETURN NULL;
END $$;
"""

# array_agg(DISTINCT ...) gives the ids sorted: the probes walk the index in order.
PROBE_EACH_KEY = (
    "'SELECT count(*) FROM unnest($1) k (id) CROSS JOIN LATERAL '\n"
    "                   '(SELECT FROM %I p WHERE p.id = k.id FOR KEY SHARE OF p) locked'"
)
ANY_OF_THE_KEYS = (
    "'SELECT count(*) FROM (SELECT FROM %I p WHERE p.id = ANY($1) '\n"
    "                   'FOR KEY SHARE OF p) locked'"
)


def _replace_check(lock: str):
    def replace(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(CHECK.replace("LOCK_STATEMENT", lock), params=None)

    return replace


class Migration(migrations.Migration):

    dependencies = [
        ("meter_readings", "0004_references_checked_per_statement"),
    ]

    operations = [
        migrations.RunPython(_replace_check(PROBE_EACH_KEY), _replace_check(ANY_OF_THE_KEYS)),
    ]
