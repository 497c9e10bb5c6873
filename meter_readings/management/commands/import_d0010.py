"""``manage.py import_d0010 PATH...``: import D0010 files through the import service."""

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from config.logging import JsonFormatter
from meter_readings.inbox import Inbox, summarise
from meter_readings.models import FlowFileStatus
from meter_readings.reporting import report_as_dict, report_as_text
from meter_readings.services import ImportProgress, ImportReport, UnableToImportFlowFile
from meter_readings.services.receiving import (
    DryRunCannotBeQueued,
    FileRefused,
    ImportOptions,
    receive_path,
)

CLEAN_STATUSES = (FlowFileStatus.IMPORTED, FlowFileStatus.DUPLICATE)
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def _require_migrated_database() -> None:
    """Refuse to start, with the fix, on a database that is unreachable or not set up."""
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as problem:
        reason = " ".join(str(problem).split())
        raise CommandError(f"cannot use the database: {reason}", returncode=EXIT_USAGE)
    if pending:
        raise CommandError(
            f"the database is not set up ({len(pending)} migration(s) not applied): "
            "run 'python manage.py migrate' first",
            returncode=EXIT_USAGE,
        )


class _WithoutTraceback(logging.Filter):
    """Passes a copy of each record without its traceback (Python 3.12+ filters)."""

    def filter(self, record: logging.LogRecord) -> logging.LogRecord | bool:
        if record.exc_info is None and record.exc_text is None:
            return True
        concise = logging.makeLogRecord(record.__dict__)
        concise.exc_info = concise.exc_text = None
        return concise


@contextmanager
def _tracebacks_on_console(*, shown: bool) -> Iterator[None]:
    """Keep tracebacks off a person's terminal unless asked for (-v 2).

    A failed file is reported on its own line with the reason; the traceback is for
    whoever debugs it. Structured (JSON) logs, which go to a collector, keep it.
    """
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler.formatter, JsonFormatter)
    ]
    concise = _WithoutTraceback()
    if not shown:
        for handler in handlers:
            handler.addFilter(concise)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(concise)


class Command(BaseCommand):
    help = (
        "Import D0010 flow files (files, or directories of files). Exit status: 0 when "
        "every file imported cleanly or was a resend, 1 when any file was rejected or had "
        "errors, 2 for usage errors."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories")
        parser.add_argument(
            "--watch",
            metavar="DIR",
            help="watch an inbox folder: import each complete file once, then move it to "
            "DIR/processed or DIR/rejected with a report",
        )
        parser.add_argument(
            "--interval", type=float, default=5.0, help="seconds between looks (--watch)"
        )
        parser.add_argument(
            "--settle",
            type=float,
            default=5.0,
            help="a file unchanged this long is complete (--watch)",
        )
        parser.add_argument("--once", action="store_true", help="with --watch: one pass, then stop")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="parse, validate and report what would be stored; write nothing",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="refuse a file (store none of its readings) if it has any error",
        )
        parser.add_argument(
            "--format",
            choices=("text", "json"),
            default="text",
            help="text (default) or json: one JSON object per file, per line",
        )
        parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
        parser.add_argument(
            "--background",
            action="store_true",
            help="queue each file for a Celery worker instead of importing it here "
            "(runs here anyway when no broker is configured)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        _require_migrated_database()
        with _tracebacks_on_console(shown=options["verbosity"] >= 2):
            self._handle(options)

    def _handle(self, options: dict[str, Any]) -> None:
        if options["watch"]:
            if options["paths"]:
                raise CommandError("give PATHs or --watch DIR, not both", returncode=EXIT_USAGE)
            self._watch(options)
            return
        if not options["paths"]:
            raise CommandError("give at least one PATH (or --watch DIR)", returncode=EXIT_USAGE)
        try:
            import_options = ImportOptions(
                strict=options["strict"],
                dry_run=options["dry_run"],
                background=options["background"],
            )
        except DryRunCannotBeQueued as refusal:
            raise CommandError(str(refusal), returncode=EXIT_USAGE)
        files = expand_paths(options["paths"])
        if import_options.background:
            self._queue(files, options=import_options)
            return
        as_json = options["format"] == "json"
        show_progress = not as_json and not options["no_progress"] and sys.stderr.isatty()
        all_clean = True
        for path in files:
            outcome = self._import_one(path, options=import_options, show_progress=show_progress)
            if isinstance(outcome, ImportReport):
                all_clean &= outcome.status in CLEAN_STATUSES
                self.stdout.write(
                    json.dumps(report_as_json(str(path), outcome))
                    if as_json
                    else report_as_text(str(path), outcome)
                )
            else:
                all_clean = False
                self.stdout.write(
                    json.dumps(failure_as_json(str(path), outcome))
                    if as_json
                    else f"{path}: failed: {outcome}"
                )
        if not all_clean:
            raise CommandError(
                "some files were rejected or had errors (see above)", returncode=EXIT_PROBLEMS
            )

    def _queue(self, files: list[Path], *, options: ImportOptions) -> None:
        """Store each file and queue it; print where to follow it."""
        all_queued = True
        for path in files:
            try:
                flow_file = receive_path(path=path, options=options).queued
            except FileRefused as refusal:
                all_queued = False
                self.stdout.write(f"{path}: failed: {refusal}")
                continue
            assert flow_file is not None
            self.stdout.write(
                f"{path}: {flow_file.get_status_display().lower()} as flow file #{flow_file.pk}"
            )
        if not all_queued:
            raise CommandError(
                "some files could not be queued (see above)", returncode=EXIT_PROBLEMS
            )

    def _watch(self, options: dict[str, Any]) -> None:
        """Poll the inbox until stopped (SIGINT/SIGTERM end it after the current file)."""
        directory = Path(options["watch"])
        if not directory.is_dir():
            raise CommandError(f"{directory}: not a directory", returncode=EXIT_USAGE)
        inbox = Inbox(directory=directory, settle_seconds=options["settle"])
        stopping = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.set())
        if not options["once"]:
            self.stdout.write(f"Watching {directory} every {options['interval']:g} s")
        while True:
            inbox.poll(now=time.time, on_outcome=lambda o: self.stdout.write(summarise(o)))
            if options["once"] or stopping.wait(options["interval"]):
                break

    def _import_one(
        self, path: Path, *, options: ImportOptions, show_progress: bool
    ) -> ImportReport | str:
        """Import one file; returns its report, or a one-line reason it could not be."""
        progress = _progress_bar(path, show_progress)
        try:
            received = receive_path(
                path=path, options=options, on_progress=progress.update_to if progress else None
            )
        except UnableToImportFlowFile as failure:
            return failure.reason
        except FileRefused as refusal:
            return str(refusal)
        finally:
            if progress:
                progress.close()
        assert received.report is not None
        return received.report


def expand_paths(raw_paths: list[str]) -> list[Path]:
    """Files named, plus the regular files inside directories named (sorted, no dotfiles).

    Raises ``CommandError`` (exit status 2) naming every path that does not exist or
    is a directory with no files in it; nothing is imported then.
    """
    files: list[Path] = []
    problems: list[str] = []
    for raw in raw_paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                child
                for child in path.rglob("*")
                if child.is_file()
                # Dotfiles below the directory named, not the path to it: "../inbox"
                # and "/home/me/.d0010/inbox" hold files like any other directory.
                and not any(part.startswith(".") for part in child.relative_to(path).parts)
            )
            if not found:
                problems.append(f"{raw}: directory holds no files")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(f"{raw}: no such file or directory")
    if problems:
        raise CommandError("; ".join(problems), returncode=EXIT_USAGE)
    return files


def report_as_json(path: str, report: ImportReport) -> dict[str, Any]:
    """The machine-readable form of a report (one object per file)."""
    return {"file": path, **report_as_dict(report)}


def failure_as_json(path: str, reason: str) -> dict[str, Any]:
    return {
        "file": path,
        "status": "failed",
        "readings_imported": 0,
        "errors": [{"line": None, "code": "IMPORT_FAILED", "field": "", "message": reason}],
        "warnings": [],
    }


def _progress_bar(path: Path, enabled: bool) -> Any:
    """A tqdm bar over the file's bytes, or None when output is not a terminal."""
    if not enabled:
        return None
    from tqdm import tqdm

    class _Bar(tqdm):
        def update_to(self, done: ImportProgress) -> None:
            self.update(done.bytes_read - self.n)
            self.set_postfix(readings=done.readings_stored, refresh=False)

    return _Bar(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        desc=path.name[:30],
        leave=False,
        file=sys.stderr,
    )
