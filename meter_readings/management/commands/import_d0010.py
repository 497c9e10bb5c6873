"""``manage.py import_d0010 PATH...``: import D0010 files through the import service."""

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from meter_readings.d0010 import Finding
from meter_readings.models import FlowFileStatus
from meter_readings.reporting import report_as_dict
from meter_readings.services import ImportReport, UnableToImportFlowFile, import_flow_file

CLEAN_STATUSES = (FlowFileStatus.IMPORTED, FlowFileStatus.DUPLICATE)
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class Command(BaseCommand):
    help = (
        "Import D0010 flow files (files, or directories of files). Exit status: 0 when "
        "every file imported cleanly or was a resend, 1 when any file was rejected or had "
        "errors, 2 for usage errors."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
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

    def handle(self, *args: Any, **options: Any) -> None:
        files = expand_paths(options["paths"])
        as_json = options["format"] == "json"
        show_progress = not as_json and not options["no_progress"] and sys.stderr.isatty()
        all_clean = True
        for path in files:
            outcome = self._import_one(
                path,
                strict=options["strict"],
                dry_run=options["dry_run"],
                show_progress=show_progress,
            )
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

    def _import_one(
        self, path: Path, *, strict: bool, dry_run: bool, show_progress: bool
    ) -> ImportReport | str:
        """Import one file; returns its report, or a one-line reason it could not be."""
        try:
            stream = path.open("rb")
        except OSError as problem:
            return f"cannot read the file ({problem.strerror or problem})"
        with stream:
            progress = _progress_bar(path, show_progress)
            try:
                return import_flow_file(
                    stream=stream,
                    filename=path.name,
                    received_at=timezone.now(),
                    strict=strict,
                    dry_run=dry_run,
                    on_progress=progress.update_to if progress else None,
                )
            except UnableToImportFlowFile as failure:
                return failure.reason
            except OSError as problem:
                return f"cannot read the file ({problem.strerror or problem})"
            finally:
                if progress:
                    progress.close()


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
                if child.is_file() and not any(part.startswith(".") for part in child.parts)
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


def report_as_text(path: str, report: ImportReport) -> str:
    """One summary line for the file, then each finding as ``FILE:LINE: CODE message``."""
    would = "would be " if report.dry_run else ""
    counts = f"{report.error_count} error(s), {report.warning_count} warning(s)"
    if report.status == FlowFileStatus.DUPLICATE:
        original = report.duplicate_of
        assert original is not None
        summary = (
            f"{path}: duplicate: resend of flow file #{original.id} {original.filename!r} "
            f"received {timezone.localtime(original.received_at):%Y-%m-%d %H:%M}; "
            f"nothing {would}stored"
        )
    elif report.status == FlowFileStatus.REJECTED:
        reason = f": {report.errors[0].message}" if report.errors else ""
        summary = f"{path}: {would}rejected{reason}; no readings {would}stored; {counts}"
    else:
        label = "imported" if report.status == FlowFileStatus.IMPORTED else "imported with errors"
        summary = (
            f"{path}: {would}{label}: {report.readings_imported} of "
            f"{report.readings_in_file} readings {would}stored "
            f"({report.readings_duplicate} already held, {report.readings_superseding} "
            f"superseding earlier values); {counts}"
        )
    if report.is_test:
        summary += "; TEST DATA"
    lines = [summary]
    lines.extend(finding_as_text(path, finding) for finding in report.findings)
    if report.findings_not_shown:
        lines.append(f"{path}: ... {report.findings_not_shown} more finding(s) stored")
    return "\n".join(lines)


def finding_as_text(path: str, finding: Finding) -> str:
    line = finding.line_number if finding.line_number is not None else "-"
    field = f" [{finding.field}]" if finding.field else ""
    return f"{path}:{line}: {finding.code} {finding.message}{field}"


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
        def update_to(self, done: int) -> None:
            self.update(done - self.n)

    return _Bar(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        desc=path.name[:30],
        leave=False,
        file=sys.stderr,
    )
