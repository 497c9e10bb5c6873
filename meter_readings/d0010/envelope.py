"""The envelope: the ZHV header and the ZPT trailer, read and reconciled (spec §1.2, §1.3)."""

from collections.abc import Generator
from typing import Final

from meter_readings.d0010 import codes
from meter_readings.d0010.findings import Finding, FindingCode, error, warning
from meter_readings.d0010.items import preview, read_count, read_datetime
from meter_readings.d0010.lines import FIELD_COUNTS
from meter_readings.d0010.localtime import InvalidDtcDateTime
from meter_readings.d0010.records import (
    FileHeader,
    FileRejected,
    FileTrailer,
    ParseEvent,
    ParseSummary,
)

# J1067 is NUM(10) and J1066 NUM(8): a longer "count" is a malformed trailer, not a
# number to store (the database holds 64-bit integers). J1066 is read as liberally.
MAX_TRAILER_COUNT_DIGITS: Final = 10


def read_header(
    number: int, data: list[str], present: int
) -> Generator[ParseEvent, None, FileHeader | None]:
    """Read the ZHV: yields its findings (and ``FileRejected``), returns the header.

    ``present`` is how many data items the line really had; None when the file is
    rejected.
    """
    (
        file_id,
        flow,
        from_role,
        from_id,
        to_role,
        to_id,
        created,
        sending_app,
        receiving_app,
        broadcast,
        test_flag,
    ) = data[:11]
    reject = None
    if flow[:5] != codes.FLOW_REFERENCE:
        reject = error(
            number,
            FindingCode.UNSUPPORTED_FLOW,
            f"ZHV names flow {flow!r}; this importer reads D0010 only",
            "J0937 Data Flow Reference",
        )
    elif flow[5:] != codes.SUPPORTED_FLOW_VERSION:
        named = f"version {flow[5:]!r}" if flow[5:] else "no version"
        reject = error(
            number,
            FindingCode.UNSUPPORTED_FLOW_VERSION,
            f"ZHV names D0010 with {named} (J0937 is the flow reference and a 3-digit "
            f"version, e.g. D0010{codes.SUPPORTED_FLOW_VERSION}); only version "
            f"{codes.SUPPORTED_FLOW_VERSION} is supported",
            "J0937 Data Flow Reference",
        )
    elif not file_id or len(file_id) > 10:
        reject = error(
            number,
            FindingCode.MALFORMED_HEADER,
            f"ZHV File Identifier {file_id!r} must be 1 to 10 characters",
            "J1064 File Identifier",
        )
    elif len(from_role) != 1 or not from_id or len(from_id) > 4:
        reject = error(
            number,
            FindingCode.MALFORMED_HEADER,
            f"ZHV sender {from_role!r}/{from_id!r} must be a one-character role code "
            "and a participant id of up to 4 characters",
            "J0934/J0938 From Market Participant",
        )
    if reject is not None:
        expected = FIELD_COUNTS["ZHV"]
        if present < expected:
            # A short header's items may have shifted: say so beside the symptom.
            reject = error(
                number,
                reject.code,
                f"{reject.message} (the ZHV has {present} of its {expected} data items)",
                reject.field,
            )
        yield reject
        yield FileRejected(reject)
        return None
    created_at = None
    if created:
        try:
            created_at = read_datetime(created).value
        except InvalidDtcDateTime as problem:
            yield warning(
                number,
                FindingCode.VALUE_IGNORED,
                f"ZHV File Creation Timestamp {problem}; it was not stored",
                "J0280 File Creation Timestamp",
            )
    else:
        yield warning(
            number,
            FindingCode.MISSING_VALUE,
            "ZHV File Creation Timestamp is empty",
            "J0280 File Creation Timestamp",
        )
    if test_flag == "":
        yield warning(
            number,
            FindingCode.MISSING_VALUE,
            "ZHV Test Data Flag is empty; the file is treated as live (OPER) data",
            "J1063 Test Data Flag",
        )
    header = FileHeader(
        line_number=number,
        file_identifier=file_id,
        flow_reference=flow[:5],
        flow_version=flow[5:],
        from_role_code=from_role,
        from_participant_id=from_id,
        to_role_code=to_role[:1],
        to_participant_id=to_id[:4],
        created_at=created_at,
        sending_application_id=sending_app[:5],
        receiving_application_id=receiving_app[:5],
        broadcast=broadcast[:1],
        test_data_flag=test_flag[:4],
    )
    if header.is_test:
        yield warning(
            number,
            FindingCode.TEST_FILE,
            f"Test Data Flag is {test_flag!r}, not OPER: the file is marked as test data",
            "J1063 Test Data Flag",
        )
    return header


def read_trailer(
    number: int, data: list[str], header: FileHeader, summary: ParseSummary
) -> Generator[Finding, None, FileTrailer]:
    """Read the ZPT and reconcile it with the file (``summary``'s counts so far)."""
    file_id, group_count_text, checksum, flow_count_text, completed = data[:5]
    group_count = read_count(group_count_text, MAX_TRAILER_COUNT_DIGITS)
    flow_count = read_count(flow_count_text, MAX_TRAILER_COUNT_DIGITS)
    completed_at = None
    if completed:
        try:
            completed_at = read_datetime(completed).value
        except InvalidDtcDateTime as problem:
            yield warning(
                number,
                FindingCode.VALUE_IGNORED,
                f"ZPT File Completion Timestamp {problem}; it was not stored",
                "J1065 File Completion Timestamp",
            )
    if file_id != header.file_identifier:
        yield error(
            number,
            FindingCode.TRAILER_FILE_ID_MISMATCH,
            f"ZPT File Identifier {file_id!r} differs from the ZHV's "
            f"{header.file_identifier!r}",
            "J1064 File Identifier",
        )
    actual_groups = summary.group_count
    if group_count is None:
        yield error(
            number,
            FindingCode.MALFORMED_TRAILER,
            f"ZPT Total Group Count {preview(group_count_text)} is not a number of at "
            f"most {MAX_TRAILER_COUNT_DIGITS} digits",
            "J1067 Total Group Count",
        )
    elif group_count != actual_groups % 10**10:
        yield error(
            number,
            FindingCode.GROUP_COUNT_MISMATCH,
            f"ZPT declares {group_count} group lines but the file has {actual_groups}",
            "J1067 Total Group Count",
        )
    actual_flows = summary.meter_point_count
    if flow_count is None:
        yield error(
            number,
            FindingCode.MALFORMED_TRAILER,
            f"ZPT Flow Count {preview(flow_count_text)} is not a number of at most "
            f"{MAX_TRAILER_COUNT_DIGITS} digits",
            "J1066 Flow Count",
        )
    elif flow_count != actual_flows:
        yield error(
            number,
            FindingCode.FLOW_COUNT_MISMATCH,
            f"ZPT declares {flow_count} flows (026 groups) but the file has {actual_flows}",
            "J1066 Flow Count",
        )
    trailer = FileTrailer(
        line_number=number,
        file_identifier=file_id[:10],
        group_count=group_count,
        checksum=checksum[:10],
        flow_count=flow_count,
        completed_at=completed_at,
    )
    return trailer
