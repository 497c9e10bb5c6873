"""What an import takes and gives: the stream it reads, its progress and its report."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from meter_readings.d0010 import Finding
from meter_readings.models import FlowFile, FlowFileStatus

# A report keeps at most this many findings (all of them are stored).
MAX_REPORTED_FINDINGS = 1000


class ByteStream(Protocol):
    """A seekable binary stream: an open file, an upload, a stored original."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


@dataclass(frozen=True)
class ImportProgress:
    """How far an import has got: bytes read of the file, readings stored so far."""

    bytes_read: int
    bytes_total: int
    readings_stored: int


@dataclass(frozen=True)
class FlowFileRef:
    """Enough to name an earlier flow file in a message."""

    id: int
    filename: str
    received_at: datetime

    @classmethod
    def of(cls, flow_file: FlowFile) -> "FlowFileRef":
        return cls(id=flow_file.pk, filename=flow_file.filename, received_at=flow_file.received_at)


@dataclass
class ImportReport:
    """What happened to one file, for any interface to show."""

    filename: str
    status: FlowFileStatus
    dry_run: bool
    flow_file_id: int | None = None
    duplicate_of: FlowFileRef | None = None
    # Accepted files received earlier under the same sender and file identifier.
    same_identifier_as: list[FlowFileRef] = field(default_factory=list)
    is_test: bool = False
    readings_in_file: int = 0
    readings_imported: int = 0
    readings_duplicate: int = 0
    readings_superseding: int = 0
    # Exceptions the reading checks raised (meter_readings.services.reading_checks).
    exceptions_raised: int = 0
    error_count: int = 0
    warning_count: int = 0
    # The first findings of each severity, each list capped: warnings never crowd out
    # errors (see ``findings``).
    kept_errors: list[Finding] = field(default_factory=list)
    kept_warnings: list[Finding] = field(default_factory=list)

    def add_finding(self, finding: Finding) -> None:
        """Count ``finding`` and keep it if the report has room for it."""
        if finding.is_error:
            self.error_count += 1
            if len(self.kept_errors) < MAX_REPORTED_FINDINGS:
                self.kept_errors.append(finding)
        else:
            self.warning_count += 1
            if len(self.kept_warnings) < MAX_REPORTED_FINDINGS:
                self.kept_warnings.append(finding)

    @property
    def errors(self) -> list[Finding]:
        return self.kept_errors[:MAX_REPORTED_FINDINGS]

    @property
    def warnings(self) -> list[Finding]:
        return self.kept_warnings[: max(MAX_REPORTED_FINDINGS - len(self.errors), 0)]

    @property
    def findings(self) -> list[Finding]:
        """At most ``MAX_REPORTED_FINDINGS``: every error first, then warnings."""
        return self.errors + self.warnings

    @property
    def findings_not_shown(self) -> int:
        return self.error_count + self.warning_count - len(self.findings)
