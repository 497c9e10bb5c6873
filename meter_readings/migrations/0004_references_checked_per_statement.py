"""PostgreSQL: the bulk-written tables' references checked per statement, not per row.

A foreign key checks each inserted row on its own (a trigger call and a query per row,
at commit): a third of a large import. On PostgreSQL this migration replaces the four
foreign keys of the bulk-written tables with triggers that check the same things once
per statement, through the rows the statement inserted, and lock each referenced row
(FOR KEY SHARE) as a foreign key does, so a concurrent delete waits and then fails.
Changing a reference, and removing or renumbering a referenced row, are checked per row.
SQLite keeps its foreign keys: they cost it little. Decision record 0007 says why.

Django's migration state still describes these fields as foreign keys (they are, on
SQLite). A later migration that alters one of them on PostgreSQL may add a foreign key
back: correct, only slower; ``tests/integration/test_references.py`` checks both the
refusals and that PostgreSQL has triggers here, not foreign keys.
"""

from django.db import migrations

# (table, column, referenced table): each column holds an id of the referenced table.
REFERENCES = (
    ("meter_readings_meter", "meter_point_id", "meter_readings_meterpoint"),
    ("meter_readings_reading", "meter_id", "meter_readings_meter"),
    ("meter_readings_reading", "flow_file_id", "meter_readings_flowfile"),
    ("meter_readings_reading", "supersedes_id", "meter_readings_reading"),
)

POSTGRES_FUNCTIONS = r"""
CREATE FUNCTION d0010_refuse_missing_reference(
    child_table text, reference text, child_column text, missing bigint, parent_table text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING
        MESSAGE = format('insert or update on table "%s" violates reference "%s"',
                         child_table, reference),
        DETAIL = format('Key (%s)=(%s) is not present in table "%s".',
                        child_column, missing, parent_table);
END $$;

CREATE FUNCTION d0010_check_inserted_references() RETURNS trigger LANGUAGE plpgsql AS $$
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
    EXECUTE format('SELECT count(*) FROM (SELECT FROM %I p WHERE p.id = ANY($1) '
                   'FOR KEY SHARE OF p) locked', parent_table) INTO locked USING wanted;
    IF locked < cardinality(wanted) THEN
        EXECUTE format('SELECT k FROM unnest($1) k WHERE NOT EXISTS '
                       '(SELECT FROM %I p WHERE p.id = k) LIMIT 1', parent_table)
            INTO missing USING wanted;
        PERFORM d0010_refuse_missing_reference(
            TG_TABLE_NAME, TG_NAME, child_column, missing, parent_table);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION d0010_check_updated_reference() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    child_column text := TG_ARGV[0];
    parent_table text := TG_ARGV[1];
    referenced bigint;
    locked bigint;
BEGIN
    EXECUTE format('SELECT ($1).%I', child_column) INTO referenced USING NEW;
    IF referenced IS NOT NULL THEN
        -- (EXECUTE leaves FOUND alone: hence the counts.)
        EXECUTE format('SELECT count(*) FROM (SELECT FROM %I p WHERE p.id = $1 '
                       'FOR KEY SHARE OF p) locked', parent_table)
            INTO locked USING referenced;
        IF locked = 0 THEN
            PERFORM d0010_refuse_missing_reference(
                TG_TABLE_NAME, TG_NAME, child_column, referenced, parent_table);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION d0010_check_removed_referenced_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    child_table text := TG_ARGV[0];
    child_column text := TG_ARGV[1];
    still_referenced boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NULL;
    END IF;
    -- Run after the row is gone, with a fresh snapshot: a transaction that locked it
    -- to insert a reference has committed by now, and its rows are seen.
    EXECUTE format('SELECT EXISTS (SELECT FROM %I c WHERE c.%I = $1)', child_table, child_column)
        INTO still_referenced USING OLD.id;
    IF still_referenced THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('update or delete on table "%s" violates reference "%s"',
                             TG_TABLE_NAME, TG_NAME),
            DETAIL = format('Key (id)=(%s) is still referenced from table "%s".',
                            OLD.id, child_table);
    END IF;
    RETURN NULL;
END $$;
"""




def _trigger_name(table, column, suffix):
    return f"{table.removeprefix('meter_readings_')}_{column}_{suffix}"


def _foreign_keys(schema_editor, table, column):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, constraint in constraints.items()
        if constraint["foreign_key"] and constraint["columns"] == [column]
    ]


def check_references_per_statement(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(POSTGRES_FUNCTIONS, params=None)
    for table, column, parent in REFERENCES:
        for name in _foreign_keys(schema_editor, table, column):
            schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}", params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {_trigger_name(table, column, 'inserted')} AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
            f"EXECUTE FUNCTION d0010_check_inserted_references('{column}', '{parent}')",
            params=None,
        )
        schema_editor.execute(
            f"CREATE TRIGGER {_trigger_name(table, column, 'updated')} "
            f"AFTER UPDATE OF {column} ON {table} FOR EACH ROW "
            f"WHEN (NEW.{column} IS DISTINCT FROM OLD.{column}) "
            f"EXECUTE FUNCTION d0010_check_updated_reference('{column}', '{parent}')",
            params=None,
        )
        schema_editor.execute(
            f"CREATE TRIGGER {_trigger_name(table, column, 'referenced')} "
            f"AFTER DELETE OR UPDATE OF id ON {parent} FOR EACH ROW "
            f"EXECUTE FUNCTION d0010_check_removed_referenced_row('{table}', '{column}')",
            params=None,
        )


def check_references_per_row(apps, schema_editor):
    """Back to the foreign keys Django made (deferred, as Django makes them)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column, parent in REFERENCES:
        schema_editor.execute(
            f"DROP TRIGGER {_trigger_name(table, column, 'inserted')} ON {table}", params=None
        )
        schema_editor.execute(
            f"DROP TRIGGER {_trigger_name(table, column, 'updated')} ON {table}", params=None
        )
        schema_editor.execute(
            f"DROP TRIGGER {_trigger_name(table, column, 'referenced')} ON {parent}", params=None
        )
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk FOREIGN KEY ({column}) "
            f"REFERENCES {parent} (id) DEFERRABLE INITIALLY DEFERRED",
            params=None,
        )
    schema_editor.execute(
        "DROP FUNCTION d0010_check_inserted_references(), d0010_check_updated_reference(), "
        "d0010_check_removed_referenced_row(), "
        "d0010_refuse_missing_reference(text, text, text, bigint, text)",
        params=None,
    )


class Migration(migrations.Migration):

    dependencies = [
        ("meter_readings", "0003_exact_search_indexes"),
    ]

    operations = [
        migrations.RunPython(check_references_per_statement, check_references_per_row),
    ]
