from pathlib import Path

import pytest

from config.database_url import UnsupportedDatabaseUrl, database_from_url

BASE = Path("/srv/app")


class TestDatabaseFromUrl:
    def test_a_relative_sqlite_path_is_under_the_project(self):
        assert database_from_url("sqlite:///db.sqlite3", base_dir=BASE) == {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": "/srv/app/db.sqlite3",
        }

    def test_an_absolute_sqlite_path_is_kept(self):
        assert database_from_url("sqlite:////var/lib/d0010.sqlite3", base_dir=BASE)["NAME"] == (
            "/var/lib/d0010.sqlite3"
        )

    def test_a_postgres_url_gives_every_part(self):
        database = database_from_url(
            "postgres://d0010:p%40ss@db.internal:6543/readings?sslmode=require", base_dir=BASE
        )

        assert database["ENGINE"] == "django.db.backends.postgresql"
        assert (database["NAME"], database["USER"], database["PASSWORD"]) == (
            "readings",
            "d0010",
            "p@ss",
        )
        assert (database["HOST"], database["PORT"]) == ("db.internal", "6543")
        assert database["OPTIONS"] == {"sslmode": "require"}

    def test_a_trust_auth_url_needs_no_password_or_port(self):
        database = database_from_url("postgresql://postgres@127.0.0.1/d0010", base_dir=BASE)

        assert (database["USER"], database["PASSWORD"], database["PORT"]) == ("postgres", "", "")

    def test_other_engines_are_refused_clearly(self):
        with pytest.raises(UnsupportedDatabaseUrl, match="'mysql' is not supported"):
            database_from_url("mysql://root@localhost/db", base_dir=BASE)
