"""Helpers for the tests that need PostgreSQL itself (skipped on SQLite)."""

import psycopg
import pytest
from django.db import connection

only_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's own behaviour"
)


def other_session(*, autocommit: bool = True) -> psycopg.Connection:
    """A second connection to the test database, as another client would open it."""
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=settings["NAME"],
        autocommit=autocommit,
    )
