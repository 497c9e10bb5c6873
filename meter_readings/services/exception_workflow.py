"""Work the exceptions queue: acknowledge, resolve with a note, reopen.

The one write path for a user's change to an exception (the admin's actions and the
API's PATCH both call it). Only the workflow fields change; each change is a history
entry naming the user, the time and the note (django-simple-history).
"""

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from simple_history.utils import bulk_update_with_history

from meter_readings.models import ExceptionStatus, ReadingException
from meter_readings.services._bulk_update import update_rows
from meter_readings.report_cache import drop_reports_on_commit


class ExceptionAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    REOPEN = "reopen"


# What each action moves an exception to, and from which states it may.
TARGET_STATUS = {
    ExceptionAction.ACKNOWLEDGE: ExceptionStatus.ACKNOWLEDGED,
    ExceptionAction.RESOLVE: ExceptionStatus.RESOLVED,
    ExceptionAction.REOPEN: ExceptionStatus.OPEN,
}
ALLOWED_FROM = {
    ExceptionAction.ACKNOWLEDGE: {ExceptionStatus.OPEN},
    ExceptionAction.RESOLVE: {ExceptionStatus.OPEN, ExceptionStatus.ACKNOWLEDGED},
    ExceptionAction.REOPEN: {
        ExceptionStatus.ACKNOWLEDGED,
        ExceptionStatus.RESOLVED,
        ExceptionStatus.AUTO_RESOLVED,
    },
}
MAX_NOTE_LENGTH = 2000
# Exceptions changed by one UPDATE (here and by the checks' auto-resolution): a
# statement's parameters stay well under SQLite's limit, and no one statement holds
# its rows' locks for long (PERFORMANCE.md).
EXCEPTIONS_PER_UPDATE = 1000


class ExceptionChangeRefused(Exception):
    """The change cannot be made: ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def change_exceptions(
    *,
    exceptions: Iterable[ReadingException],
    action: ExceptionAction,
    note: str,
    user: Any,
    now: datetime,
) -> tuple[int, int]:
    """Apply ``action`` to each exception it applies to; returns (changed, skipped).

    An exception already in the target state, or in a state the action does not leave
    (resolving a resolved one), is skipped, not an error: bulk actions cover mixed
    selections. Raises ``ExceptionChangeRefused`` when resolving without a note or
    with a note over ``MAX_NOTE_LENGTH`` characters.
    """
    note = note.strip()
    if action == ExceptionAction.RESOLVE and not note:
        raise ExceptionChangeRefused("note", "Resolving needs a note saying why.")
    if len(note) > MAX_NOTE_LENGTH:
        raise ExceptionChangeRefused("note", f"A note is at most {MAX_NOTE_LENGTH} characters.")
    target = TARGET_STATUS[action]
    changed: list[ReadingException] = []
    skipped = 0
    with transaction.atomic():
        if isinstance(exceptions, QuerySet):
            # Two users working the same exceptions: the second waits, then sees the first's.
            exceptions = exceptions.select_for_update().order_by("pk")
        for exception in exceptions:
            if exception.status not in ALLOWED_FROM[action]:
                skipped += 1
                continue
            exception.status = target
            exception.note = note
            exception.status_changed_at = now
            # Read by django-simple-history for the history entry.
            setattr(exception, "_history_user", user)
            setattr(
                exception, "_change_reason", f"{action.value}: {note}" if note else action.value
            )
            changed.append(exception)
        if changed:
            save_changes(changed, ["status", "note", "status_changed_at"])
            drop_reports_on_commit()
    return len(changed), skipped


def save_changes(changed: list[ReadingException], fields: list[str]) -> None:
    """Write ``fields`` of exceptions already stored, and a history entry for each (its
    ``_history_user`` and ``_change_reason`` say who and why)."""
    with transaction.atomic(savepoint=False):
        update_rows(changed, fields, rows_per_statement=EXCEPTIONS_PER_UPDATE)
        # No fields: django-simple-history writes the history entries alone.
        bulk_update_with_history(changed, ReadingException, [], batch_size=EXCEPTIONS_PER_UPDATE)
