"""One description of an import's outcome, for every interface that shows it."""

from typing import Any

from django.utils import timezone

from meter_readings.d0010 import Finding
from meter_readings.models import FlowFileStatus
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
        "exceptions_raised": report.exceptions_raised,
        "error_count": report.error_count,
        "warning_count": report.warning_count,
        "duplicate_of": (
            {"flow_file_id": original.id, "filename": original.filename} if original else None
        ),
        "same_identifier_as": [
            {"flow_file_id": other.id, "filename": other.filename}
            for other in report.same_identifier_as
        ],
        "errors": [finding_as_dict(finding) for finding in report.errors],
        "warnings": [finding_as_dict(finding) for finding in report.warnings],
        "findings_not_shown": report.findings_not_shown,
    }


def report_as_text(path: str, report: ImportReport) -> str:
    """One summary line for the file, then each finding as ``FILE:LINE: CODE message``."""
    would = "would be " if report.dry_run else ""
    counts = f"{report.error_count} error(s), {report.warning_count} warning(s)"
    if report.status == FlowFileStatus.DUPLICATE:
        original = report.duplicate_of
        assert original is not None
        why = (
            f" (same sender and file identifier; all {report.readings_duplicate} "
            "readings already held)"
            if report.same_identifier_as
            else ""
        )
        summary = (
            f"{path}: duplicate: resend of flow file #{original.id} {original.filename!r} "
            f"received {timezone.localtime(original.received_at):%Y-%m-%d %H:%M}{why}; "
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
        if report.exceptions_raised:
            summary += f"; {report.exceptions_raised} reading exception(s) raised"
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
