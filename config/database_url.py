"""Turn a ``DATABASE_URL`` into a Django ``DATABASES`` entry.

Only the two databases this project supports are understood: SQLite (the embedded
default) and PostgreSQL (production, through psycopg 3).
"""

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit


class UnsupportedDatabaseUrl(ValueError):
    """The URL names a database engine this project does not support."""


def database_from_url(url: str, *, base_dir: Path) -> dict:
    """Return a Django database settings dict for ``url``.

    ``sqlite:///relative/path`` is relative to ``base_dir``; ``sqlite:////abs/path`` is
    absolute. ``postgres://`` and ``postgresql://`` URLs take user, password, host,
    port, database name and query options (for example ``?sslmode=require``).

    Raises ``UnsupportedDatabaseUrl`` for any other scheme.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        raw_path = unquote(parts.path)
        if raw_path.startswith("//"):
            path = Path(raw_path[1:])
        else:
            path = base_dir / raw_path.lstrip("/")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise UnsupportedDatabaseUrl(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported: use sqlite:/// or postgres://"
    )
