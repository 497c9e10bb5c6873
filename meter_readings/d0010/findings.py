"""Findings: what the parser (and the import service) report about a file.

A finding names the line, the field where there is one, a stable code and a sentence a
person can act on. ``ERROR`` means data was not stored or the file's integrity is in
doubt; ``WARNING`` means the data was stored but departs from the specification.
"""

import enum
from dataclasses import dataclass


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class FindingCode(enum.StrEnum):
    # The file as a whole (the first seven reject it).
    EMPTY_FILE = "EMPTY_FILE"
    EMPTY_FLOW = "EMPTY_FLOW"
    NOT_A_D0010_FILE = "NOT_A_D0010_FILE"
    UNSUPPORTED_FLOW = "UNSUPPORTED_FLOW"
    UNSUPPORTED_FLOW_VERSION = "UNSUPPORTED_FLOW_VERSION"
    MALFORMED_HEADER = "MALFORMED_HEADER"
    TEST_FILE = "TEST_FILE"
    # Lines.
    BINARY_CONTENT = "BINARY_CONTENT"
    LINE_TOO_LONG = "LINE_TOO_LONG"
    NON_ASCII_TEXT = "NON_ASCII_TEXT"
    BLANK_LINE = "BLANK_LINE"
    UNKNOWN_GROUP = "UNKNOWN_GROUP"
    TOO_FEW_FIELDS = "TOO_FEW_FIELDS"
    EXTRA_FIELDS = "EXTRA_FIELDS"
    MISSING_TRAILING_DELIMITER = "MISSING_TRAILING_DELIMITER"
    UNEXPECTED_HEADER = "UNEXPECTED_HEADER"
    LINE_AFTER_TRAILER = "LINE_AFTER_TRAILER"
    # Trailer reconciliation.
    MISSING_TRAILER = "MISSING_TRAILER"
    MALFORMED_TRAILER = "MALFORMED_TRAILER"
    TRAILER_FILE_ID_MISMATCH = "TRAILER_FILE_ID_MISMATCH"
    GROUP_COUNT_MISMATCH = "GROUP_COUNT_MISMATCH"
    FLOW_COUNT_MISMATCH = "FLOW_COUNT_MISMATCH"
    # Hierarchy.
    ORPHAN_GROUP = "ORPHAN_GROUP"
    PARENT_REJECTED = "PARENT_REJECTED"
    MPAN_WITHOUT_METER = "MPAN_WITHOUT_METER"
    DUPLICATE_VALIDATION_RESULT = "DUPLICATE_VALIDATION_RESULT"
    # Values.
    INVALID_MPAN_CORE = "INVALID_MPAN_CORE"
    MPAN_CHECK_DIGIT = "MPAN_CHECK_DIGIT"
    UNKNOWN_DISTRIBUTOR = "UNKNOWN_DISTRIBUTOR"
    INVALID_VALUE = "INVALID_VALUE"
    NEGATIVE_READING = "NEGATIVE_READING"
    READING_FORMAT = "READING_FORMAT"
    MISSING_VALUE = "MISSING_VALUE"
    UNKNOWN_CODE = "UNKNOWN_CODE"
    VALUE_IGNORED = "VALUE_IGNORED"
    CLOCK_CHANGE_AMBIGUOUS = "CLOCK_CHANGE_AMBIGUOUS"
    CLOCK_CHANGE_NON_EXISTENT = "CLOCK_CHANGE_NON_EXISTENT"
    # Raised by the import service, not the parser.
    READING_REPEATED_IN_FILE = "READING_REPEATED_IN_FILE"
    IDENTIFIER_REUSED = "IDENTIFIER_REUSED"
    # A W (withdrawn) reading with no reading held for it to withdraw.
    WITHDRAWAL_OF_UNKNOWN_READING = "WITHDRAWAL_OF_UNKNOWN_READING"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, located as precisely as the input allows."""

    line_number: int | None
    code: FindingCode
    severity: Severity
    message: str
    field: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def error(line_number: int | None, code: FindingCode, message: str, field: str = "") -> Finding:
    """Shorthand for an ERROR finding."""
    return Finding(line_number, code, Severity.ERROR, message, field)


def warning(line_number: int | None, code: FindingCode, message: str, field: str = "") -> Finding:
    """Shorthand for a WARNING finding."""
    return Finding(line_number, code, Severity.WARNING, message, field)
