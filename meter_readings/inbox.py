"""An inbox folder where D0010 flows arrive (sFTP drop, DTS gateway) and are imported.

Each complete file is imported once through the import service and then moved, with a
report beside it, to ``processed/`` (imported, imported with errors, a resend) or
``rejected/`` (rejected, failed). A file counts as complete when it has not changed for
``settle_seconds`` and between two looks; names starting with a dot or ending in
``.part``, ``.partial`` or ``.tmp`` are never picked up, so a sender that writes under a
temporary name and renames is never read half-way.

Restarting loses and repeats nothing: a file leaves the inbox only after its import has
committed, and a file imported just before a crash, still in the inbox, is recognised on
the next pass as a resend of itself and moved without storing anything twice.
"""

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


from meter_readings.models import FlowFileStatus
from meter_readings.reporting import report_as_text
from meter_readings.services import UnableToImportFlowFile
from meter_readings.services.receiving import FileUnreadable, ImportOptions, receive_path

logger = logging.getLogger(__name__)

PROCESSED = "processed"
REJECTED = "rejected"
INCOMPLETE_SUFFIXES = (".part", ".partial", ".tmp")
MOVED_TO_PROCESSED = (
    FlowFileStatus.IMPORTED,
    FlowFileStatus.IMPORTED_WITH_ERRORS,
    FlowFileStatus.DUPLICATE,
)


@dataclass(frozen=True)
class InboxOutcome:
    """What happened to one arrived file."""

    source: Path
    moved_to: Path
    status: str
    summary: str


class Inbox:
    """One inbox folder; ``poll`` imports whatever has arrived complete since last time."""

    def __init__(self, *, directory: Path, settle_seconds: float = 5.0) -> None:
        self.directory = directory
        self.settle_seconds = settle_seconds
        self.processed = directory / PROCESSED
        self.rejected = directory / REJECTED
        self._last_seen: dict[Path, tuple[int, float]] = {}

    def poll(self, *, now: Callable[[], float], on_outcome: Callable[[InboxOutcome], None]) -> int:
        """Import every complete file once; returns how many were handled.

        ``now`` gives the current time in seconds since the epoch (as ``time.time``).
        """
        self.processed.mkdir(parents=True, exist_ok=True)
        self.rejected.mkdir(parents=True, exist_ok=True)
        handled = 0
        for path in self._complete_files(now()):
            on_outcome(self._import(path))
            handled += 1
        return handled

    def _complete_files(self, now: float) -> list[Path]:
        seen: dict[Path, tuple[int, float]] = {}
        complete = []
        for path in sorted(self.directory.iterdir()):
            if (
                not path.is_file()
                or path.name.startswith(".")
                or path.suffix in INCOMPLETE_SUFFIXES
            ):
                continue
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime)
            seen[path] = signature
            unchanged = self._last_seen.get(path, signature) == signature
            if unchanged and now - stat.st_mtime >= self.settle_seconds:
                complete.append(path)
        self._last_seen = seen
        return complete

    def _import(self, path: Path) -> InboxOutcome:
        try:
            report = receive_path(path=path, options=ImportOptions()).report
        except UnableToImportFlowFile as failure:
            return self._move(
                path, self.rejected, "failed", f"{path.name}: failed: {failure.reason}"
            )
        except FileUnreadable as problem:
            # Vanished or unreadable: leave it for the next pass and say so.
            logger.warning("Inbox could not read %s: %s", path, problem)
            return InboxOutcome(path, path, "unreadable", f"{path.name}: {problem}")
        assert report is not None
        target = self.processed if report.status in MOVED_TO_PROCESSED else self.rejected
        return self._move(path, target, report.status.lower(), report_as_text(path.name, report))

    def _move(self, path: Path, folder: Path, status: str, summary: str) -> InboxOutcome:
        target = folder / path.name
        if target.exists():
            stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
            target = folder / f"{path.name}.{stamp}"
        # The report first: if the move fails the file stays and is simply seen again.
        Path(f"{target}.report.txt").write_text(summary + "\n", encoding="utf-8")
        shutil.move(path, target)
        self._last_seen.pop(path, None)
        logger.info("Inbox: %s %s -> %s", path.name, status, target)
        return InboxOutcome(path, target, status, summary)


def summarise(outcome: InboxOutcome) -> str:
    """One line for a terminal or a log."""
    return f"{outcome.source.name}: {outcome.status} -> {outcome.moved_to}"
