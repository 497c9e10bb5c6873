"""Leases on running imports, and turns for imports on SQLite.

Every import is recorded (committed) as STARTED before its own transaction begins, and
the process importing it holds a *lease* on that record which the operating system or
the database server gives up when the process dies, however it dies:

* PostgreSQL: a session-level advisory lock keyed by the flow file's id. The server
  releases it when the session ends, and a killed process's connection is closed by
  its kernel. Imports run in parallel.
* SQLite: one writer at a time. Imports take *turns* through an exclusive ``flock`` on a
  file beside the database, which the kernel releases when its holder dies; a waiting
  import waits as long as it takes instead of failing after SQLite's busy timeout.
  Whoever holds the turn knows that no other import is running, so the turn is every
  import's lease at once.

A STARTED record whose lease can be taken was therefore abandoned: ``recovery`` ends it
or runs it again. On PostgreSQL ``turn`` does nothing.
"""

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

# The first key of PostgreSQL's two-key advisory locks: this project's leases, so that
# they never meet another application's locks on the same database.
ADVISORY_LOCK_NAMESPACE = 0x0D0010
IDENTITY_LOCK_NAMESPACE = 0x0D0011
LOCK_FILE_SUFFIX = ".import-lock"


class TurnNotHeld(Exception):
    """A SQLite lease was asked about outside the import turn, where it means nothing."""


class ImportGuard:
    """Turns and leases for the default database (see the module docstring)."""

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait until this import may write; held until the block ends."""
        yield

    def serialise_identity(self, key: str) -> None:
        """Wait for other imports of files under ``key``; held to the end of the transaction."""

    def take_lease(self, flow_file_id: int) -> None:
        """Hold the lease on a record this process just made or claimed."""

    def try_take_lease(self, flow_file_id: int) -> bool:
        """Take the lease if nobody holds it: True means its import was abandoned."""
        raise NotImplementedError

    def release_lease(self, flow_file_id: int) -> None:
        """Give the lease up (the import is finished, or recovery has dealt with it)."""


class PostgresImportGuard(ImportGuard):
    def serialise_identity(self, key: str) -> None:
        # A transaction-level lock on a hash of the key: a rare collision only makes two
        # unrelated files wait for each other. (SQLite has one writer anyway.)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                [IDENTITY_LOCK_NAMESPACE, key],
            )

    def take_lease(self, flow_file_id: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, flow_file_id]
            )

    def try_take_lease(self, flow_file_id: int) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, flow_file_id]
            )
            return bool(cursor.fetchone()[0])

    def release_lease(self, flow_file_id: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, flow_file_id]
            )


# Turns held by this thread, by lock file: a turn is reentrant (a recovery pass that
# runs a queued import in-process takes it again), and each thread waits for its own.
_held_turns = threading.local()
# In-memory databases (the tests) live in one process: a thread lock is their turn.
_in_memory_turn = threading.Lock()


class SqliteImportGuard(ImportGuard):
    def __init__(self, database_name: str) -> None:
        in_memory = database_name in ("", ":memory:") or "mode=memory" in database_name
        self.lock_path = None if in_memory else Path(f"{database_name}{LOCK_FILE_SUFFIX}")

    @contextmanager
    def turn(self) -> Iterator[None]:
        key = str(self.lock_path)
        depth: dict[str, int] = getattr(_held_turns, "depth", None) or {}
        _held_turns.depth = depth
        if depth.get(key):
            depth[key] += 1
            try:
                yield
            finally:
                depth[key] -= 1
            return
        with self._exclusive():
            depth[key] = 1
            try:
                yield
            finally:
                depth[key] = 0

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self.lock_path is None:
            with _in_memory_turn:
                yield
            return
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Blocks (without the GIL) until the import before this one ends or dies.
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def try_take_lease(self, flow_file_id: int) -> bool:
        held = getattr(_held_turns, "depth", {}).get(str(self.lock_path))
        if not held:
            raise TurnNotHeld("SQLite leases are only known while holding the import turn")
        return True


def import_guard() -> ImportGuard:
    """The guard for Django's default database."""
    if connection.vendor == "postgresql":
        return PostgresImportGuard()
    return SqliteImportGuard(str(connection.settings_dict["NAME"]))
