"""Plain-Python reader for D0010 "Meter Readings" flows (no Django here).

Use ``parse_stream(binary_stream)`` or ``parse_d0010(lines)``; both yield the records
in ``records`` and the findings in ``findings``.
"""

from meter_readings.d0010.findings import Finding, FindingCode, Severity
from meter_readings.d0010.parser import parse_d0010, parse_stream
from meter_readings.d0010.records import (
    FileHeader,
    FileRejected,
    FileTrailer,
    MeterPointRecord,
    MeterRecord,
    ParseEvent,
    ParseSummary,
    RegisterReading,
    SiteVisitRecord,
)

__all__ = [
    "FileHeader",
    "FileRejected",
    "FileTrailer",
    "Finding",
    "FindingCode",
    "MeterPointRecord",
    "MeterRecord",
    "ParseEvent",
    "ParseSummary",
    "RegisterReading",
    "Severity",
    "SiteVisitRecord",
    "parse_d0010",
    "parse_stream",
]
