"""Update many rows of one model by primary key: one ``UPDATE ... FROM (VALUES ...)`` a
chunk of rows.

Django's ``bulk_update`` writes each field as a ``CASE WHEN pk = ... THEN ...`` over
every row of the batch. Building those expressions costs Python about half a
millisecond a row for eight fields: a file of next reads of 300,000 held registers,
which auto-resolves some 20,000 exceptions, spent most of its import there at 100M
readings (PERFORMANCE.md). And PostgreSQL compiles a CASE in time that grows with its
length. A ``VALUES`` list joined on the primary key costs neither.
"""

from collections.abc import Sequence

from django.db import connection, models

from meter_readings.services._checks_sql import chunks


def update_rows(
    objects: Sequence[models.Model], fields: list[str], *, rows_per_statement: int
) -> int:
    """Write ``fields`` of each of ``objects`` (one model's, saved before) to its row.

    Returns the rows updated. Values go through each field's own preparation, as
    ``save()`` would write them.
    """
    if not objects or not fields:
        return 0
    meta = type(objects[0])._meta
    columns = [_concrete(meta.get_field(name)) for name in fields]
    quote = connection.ops.quote_name
    # The VALUES list's columns: named on PostgreSQL; SQLite names them column1, ...
    # itself and takes no list of names.
    names = [f"column{position}" for position in range(1, len(columns) + 2)]
    named = f" ({', '.join(names)})" if connection.vendor == "postgresql" else ""
    assignments = ", ".join(
        f"{quote(_column(field))} = {_typed(f'v.{name}', field)}"
        for name, field in zip(names[1:], columns, strict=True)
    )
    assert meta.pk is not None
    table, key = quote(meta.db_table), quote(_column(_concrete(meta.pk)))
    updated = 0
    with connection.cursor() as cursor:
        for chunk in chunks(list(objects), rows_per_statement):
            row = f"({', '.join(['%s'] * len(names))})"
            cursor.execute(
                f"UPDATE {table} SET {assignments} "
                f"FROM (VALUES {', '.join([row] * len(chunk))}) AS v{named} "
                f"WHERE {table}.{key} = v.{names[0]}",
                [
                    value
                    for obj in chunk
                    for value in [obj.pk]
                    + [
                        field.get_db_prep_save(getattr(obj, field.attname), connection)
                        for field in columns
                    ]
                ],
            )
            updated += cursor.rowcount
    return updated


def _concrete(field: models.Field | models.ForeignObjectRel) -> models.Field:
    assert isinstance(field, models.Field), f"{field} is not a field of the model's own"
    return field


def _column(field: models.Field) -> str:
    assert field.column, f"{field} has no column"
    return field.column


def _typed(expression: str, field: models.Field) -> str:
    # PostgreSQL gives a VALUES column the type of its literals (text for a string, or
    # for a column of NULLs): cast to the field's. SQLite's columns take any value.
    if connection.vendor != "postgresql":
        return expression
    return f"CAST({expression} AS {field.cast_db_type(connection)})"
