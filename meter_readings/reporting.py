"""One description of an import's outcome, for every interface that shows it."""

from typing import Any

from meter_readings.d0010 import Finding
from meter_readings.services import ImportReport


def finding_as_dict(finding: Finding) -> dict[str, Any]:
    return {
        "line": finding.line_number,
        "code": str(finding.code),
        "field": finding.field,
        "message": finding.message,
    }


def report_as_dict(report: ImportReport) -> dict[str, Any]:
    """The machine-readable summary of an import (command JSON and API responses)."""
    original = report.duplicate_of
    return {
        "filename": report.filename,
        "status": report.status.lower(),
        "dry_run": report.dry_run,
        "flow_file_id": report.flow_file_id,
        "test_data": report.is_test,
        "readings_in_file": report.readings_in_file,
        "readings_imported": report.readings_imported,
        "readings_duplicate": report.readings_duplicate,
        "readings_superseding": report.readings_superseding,
        "error_count": report.error_count,
        "warning_count": report.warning_count,
        "duplicate_of": (
            {"flow_file_id": original.id, "filename": original.filename} if original else None
        ),
        "errors": [finding_as_dict(finding) for finding in report.errors],
        "warnings": [finding_as_dict(finding) for finding in report.warnings],
        "findings_not_shown": report.findings_not_shown,
    }
