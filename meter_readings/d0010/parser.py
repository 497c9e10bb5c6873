"""Streaming parser for D0010 version 002 user files.

``parse_d0010(lines)`` takes an iterable of raw lines (bytes, with or without their line
ending) and yields typed records and findings as it goes, so memory does not depend on
the size of the file. It never raises for anything in the input: every problem becomes
a ``Finding``, and a file that cannot be imported at all ends with ``FileRejected``.
The last event is always a ``ParseSummary``.
"""

import re
from collections.abc import Generator, Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from decimal import Decimal
from typing import Final, Literal, Protocol

from meter_readings.d0010 import codes
from meter_readings.d0010.findings import Finding, FindingCode, error, warning
from meter_readings.d0010.localtime import (
    ClockChangeIssue,
    DtcDateTime,
    InvalidDtcDateTime,
    parse_dtc_datetime,
)
from meter_readings.d0010.mpan import (
    DISTRIBUTORS,
    check_mpan_core,
    has_valid_check_digit,
    is_well_formed_core,
)
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
from meter_readings.d0010.values import (
    InvalidRegisterReading,
    NegativeRegisterReading,
    parse_boolean,
    parse_register_reading,
)

# The longest legal line is a site visit with 200 characters of free text; anything
# far beyond that is not D0010 and must not be held in memory whole.
MAX_LINE_BYTES: Final = 4096
MAX_SITE_VISITS_PER_READING: Final = 100
UTF8_BOM: Final = b"\xef\xbb\xbf"

# Data items per group, after the group code (DFC, spec §1-§3).
FIELD_COUNTS: Final[dict[str, int]] = {
    "ZHV": 11,
    "026": 2,
    "027": 2,
    "028": 2,
    "029": 2,
    "030": 7,
    "032": 2,
    "033": 2,
    "ZPT": 5,
}
# J0280 and the four fields after it are optional or of uncertain order (spec §1.2).
HEADER_MINIMUM_FIELDS: Final = 6
# J1067 is NUM(10) and J1066 NUM(8): a longer "count" is a malformed trailer, not a
# number to store (the database holds 64-bit integers). J1066 is read as liberally.
MAX_TRAILER_COUNT_DIGITS: Final = 10

J0003 = "J0003 MPAN Core"
J0022 = "J0022 BSC Validation Status"
J0004 = "J0004 Meter Id"
J0171 = "J0171 Reading Type"
J0010 = "J0010 Meter Register Id"
J0016 = "J0016 Reading Date & Time"
J0040 = "J0040 Register Reading"
J0044 = "J0044 MD Reset Date & Time"
J1013 = "J1013 Number of MD Resets"
J0045 = "J0045 Meter Reading Flag"
J1888 = "J1888 Reading Method"
J0332 = "J0332 Meter Reading Reason Code"
J0047 = "J0047 Meter Reading Status"
J0024 = "J0024 Site Visit Check Code"
J0012 = "J0012 Additional Information"


class LineReadable(Protocol):
    """What the parser reads from: an open binary file, an upload, a stored original."""

    def readline(self, size: int = -1, /) -> bytes: ...


def iter_stream_lines(
    stream: LineReadable, *, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[bytes]:
    """Yield the lines of a binary stream without holding an overlong line in memory.

    A line longer than ``max_line_bytes`` is yielded cut to ``max_line_bytes + 1`` bytes
    (so the parser can tell it was too long) and the rest of it is skipped.
    """
    while True:
        line = stream.readline(max_line_bytes + 1)
        if not line:
            return
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(max_line_bytes)
                if not rest or rest.endswith(b"\n"):
                    break
        yield line


# A fully conformant 030 with no MD items: the common case, read without the general
# path's per-item checks. Anything else (or a clock-change time) takes the general path,
# which gives the same record plus whatever findings apply.
_CONFORMANT_READING = re.compile(
    r"030\|([A-Za-z0-9]{1,2})\|(\d{14})\|(\d{1,8}(?:\.\d)?)\|\|\|([TF]?)\|([NP])\|\r?\n?"
)
# Conformant 026 and 028 lines, likewise: the code items are checked against their valid
# sets before the fast path takes them.
_CONFORMANT_METER_POINT = re.compile(r"026\|([0-9]{13})\|([A-Z])\|\r?\n?")
_CONFORMANT_METER = re.compile(r"028\|([ -{}~]{1,10})\|([A-Z])\|\r?\n?")


def parse_stream(stream: LineReadable) -> Iterator[ParseEvent]:
    """Parse a binary stream (an open file, an upload) line by line."""
    return parse_d0010(iter_stream_lines(stream))


def parse_d0010(lines: Iterable[bytes]) -> Iterator[ParseEvent]:
    """Parse D0010 lines, yielding records, findings and finally a ``ParseSummary``."""
    return _Parser().run(lines)


@lru_cache(maxsize=8192)
def _read_datetime(text: str) -> DtcDateTime:
    """Parse a DATETIME item; raises ``InvalidDtcDateTime`` (never cached)."""
    # Most readings in a file share a handful of reading dates.
    return parse_dtc_datetime(text)


class _Parser:
    """One file's worth of state: where we are in the 026 > 028 > 030 hierarchy."""

    def __init__(self) -> None:
        self.summary = ParseSummary()
        self.header: FileHeader | None = None
        self.trailer_seen = False
        self.meter_point: MeterPointRecord | None = None
        self.meter_point_rejected_at: int | None = None
        self.meter_point_has_meter = True
        self.meter: MeterRecord | None = None
        self.meter_rejected_at: int | None = None
        self.reading: RegisterReading | None = None
        self.reading_rejected_at: int | None = None
        self.reading_has_validation = False
        self.extra_fields_lines = 0
        self.extra_fields_first_line = 0
        self.no_trailing_delimiter_lines = 0
        self.no_trailing_delimiter_first_line = 0

    # -- driving -------------------------------------------------------------------

    def run(self, lines: Iterable[bytes]) -> Iterator[ParseEvent]:
        summary = self.summary
        line_number = 0
        conformant_reading = _CONFORMANT_READING.fullmatch
        for raw in lines:
            line_number += 1
            head = raw[:4]
            if head == b"030|":
                if self.meter is not None:
                    match = conformant_reading(raw.decode("latin-1"))
                    if match is not None:
                        previous = self._conformant_reading(line_number, match)
                        if previous is not False:
                            if previous is not None:
                                yield previous
                            continue
            elif head == b"026|" or head == b"028|":
                taken = self._conformant_parent(line_number, raw)
                if taken is not None:
                    for event in taken:
                        if isinstance(event, Finding):
                            summary.warning_count += 1
                        yield event
                    continue
            for event in self._line(line_number, raw):
                if isinstance(event, Finding):
                    if event.is_error:
                        summary.error_count += 1
                    else:
                        summary.warning_count += 1
                yield event
                if isinstance(event, FileRejected):
                    summary.line_count = line_number
                    summary.rejected = True
                    yield summary
                    return
        summary.line_count = line_number
        for event in self._end_of_file(line_number):
            if isinstance(event, Finding):
                if event.is_error:
                    summary.error_count += 1
                else:
                    summary.warning_count += 1
            yield event
        yield summary

    def _end_of_file(self, last_line: int) -> Iterator[ParseEvent]:
        if self.header is None:
            finding = error(None, FindingCode.EMPTY_FILE, "the file is empty")
            if last_line:
                finding = error(None, FindingCode.EMPTY_FILE, "the file holds only blank lines")
            yield finding
            yield FileRejected(finding)
            self.summary.rejected = True
            return
        yield from self._close_meter_point()
        if self.summary.meter_point_count == 0:
            # The DTC's range for 026 is 1-*: a flow with no MPAN carries no readings, and
            # is most often a file cut short after its header.
            rejection = error(
                None,
                FindingCode.EMPTY_FLOW,
                "the file holds no 026 MPAN group (a D0010 flow carries at least one)",
                "026",
            )
            yield rejection
            yield FileRejected(rejection)
            self.summary.rejected = True
        if not self.trailer_seen:
            yield error(
                None,
                FindingCode.MISSING_TRAILER,
                f"no ZPT trailer: the file may be truncated after line {last_line}",
                "ZPT",
            )
        if self.extra_fields_lines:
            yield warning(
                self.extra_fields_first_line,
                FindingCode.EXTRA_FIELDS,
                f"{self.extra_fields_lines} line(s) carry empty fields after the last data "
                f"item (first at line {self.extra_fields_first_line}); they were ignored",
            )
        if self.no_trailing_delimiter_lines:
            yield warning(
                self.no_trailing_delimiter_first_line,
                FindingCode.MISSING_TRAILING_DELIMITER,
                f"{self.no_trailing_delimiter_lines} line(s) do not end with '|' (first at "
                f"line {self.no_trailing_delimiter_first_line})",
            )

    # -- one line ------------------------------------------------------------------

    def _line(self, number: int, raw: bytes) -> Iterator[ParseEvent]:
        if len(raw) > MAX_LINE_BYTES:
            cause = error(
                number,
                FindingCode.LINE_TOO_LONG,
                f"line is longer than {MAX_LINE_BYTES} bytes; it was skipped",
            )
            yield cause
            yield from self._skipped(number, "", cause)
            return
        raw = raw.rstrip(b"\r\n")
        if b"\x00" in raw:
            cause = error(number, FindingCode.BINARY_CONTENT, "line holds NUL bytes (binary data)")
            yield cause
            yield from self._skipped(number, "", cause)
            return
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]
            yield warning(number, FindingCode.NON_ASCII_TEXT, "UTF-8 byte order mark removed")
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            try:
                text = raw.decode("utf-8")
                how = "decoded as UTF-8"
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
                how = "not valid UTF-8; decoded as Latin-1"
            yield warning(
                number,
                FindingCode.NON_ASCII_TEXT,
                f"line holds characters outside ASCII ({how})",
            )
        if text.strip() == "":
            if self.header is not None and not self.trailer_seen:
                yield warning(number, FindingCode.BLANK_LINE, "blank line ignored")
            return
        fields = text.split("|")
        group = fields[0]
        if self.header is None:
            if group == "ZHV":
                data = yield from self._data_items(number, fields, group)
                if data is None:
                    yield from self._skipped(number, group, None)
                else:
                    present = len(fields) - (2 if fields[-1] == "" else 1)
                    yield from self._header(number, data, present)
            else:
                finding = error(
                    number,
                    FindingCode.NOT_A_D0010_FILE,
                    f"the first line must be a ZHV header, not {_preview(text)}",
                )
                yield finding
                yield FileRejected(finding)
            return
        if self.trailer_seen:
            yield error(
                number,
                FindingCode.LINE_AFTER_TRAILER,
                f"line after the ZPT trailer was ignored: {_preview(text)}",
            )
            return
        self.summary.group_count += 1
        if group == "ZHV":
            yield error(
                number,
                FindingCode.UNEXPECTED_HEADER,
                "a second ZHV header inside the file was ignored",
                "ZHV",
            )
            return
        if group not in FIELD_COUNTS:
            yield error(
                number,
                FindingCode.UNKNOWN_GROUP,
                f"{_preview(group)} is not a D0010 group; the line was skipped",
            )
            return
        data = yield from self._data_items(number, fields, group)
        if data is None:
            yield from self._skipped(number, group, None)
        elif group == "030":
            yield from self._register_reading(number, data)
        elif group == "026":
            yield from self._meter_point(number, data)
        elif group == "028":
            yield from self._meter(number, data)
        elif group == "032":
            yield from self._validation_result(number, data)
        elif group == "ZPT":
            yield from self._trailer(number, data)
        else:
            yield from self._site_visit(number, group, data)

    def _data_items(
        self, number: int, fields: list[str], group: str
    ) -> Generator[Finding, None, list[str] | None]:
        """Split off the group code and trailing delimiter; check the item count.

        Returns the data items padded to the group's count, or None (after an error
        finding) when too few are present to read the line.
        """
        if fields[-1] == "" and len(fields) > 1:
            data = fields[1:-1]
        else:
            data = fields[1:]
            self.no_trailing_delimiter_lines += 1
            if self.no_trailing_delimiter_lines == 1:
                self.no_trailing_delimiter_first_line = number
        expected = FIELD_COUNTS[group]
        minimum = HEADER_MINIMUM_FIELDS if group == "ZHV" else expected
        if len(data) < minimum:
            yield error(
                number,
                FindingCode.TOO_FEW_FIELDS,
                f"{group} has {len(data)} of its {expected} data items"
                + (f" (at least {minimum} are needed to read it)" if minimum < expected else "")
                + "; the line was skipped",
                group,
            )
            return None
        if len(data) > expected:
            extras = data[expected:]
            if all(extra.strip() == "" for extra in extras):
                self.extra_fields_lines += 1
                if self.extra_fields_lines == 1:
                    self.extra_fields_first_line = number
            else:
                yield warning(
                    number,
                    FindingCode.EXTRA_FIELDS,
                    f"{group} has {len(data)} data items, expected {expected}; the extra "
                    f"values {'|'.join(extras)!r} were ignored",
                    group,
                )
            return data[:expected]
        return data + [""] * (expected - len(data))

    def _skipped(self, number: int, group: str, cause: Finding | None) -> Iterator[ParseEvent]:
        """Keep the hierarchy right after a line that could not be read at all.

        Before the header this rejects the file; a skipped parent makes its children
        report ``PARENT_REJECTED`` instead of being attached to the wrong parent.
        """
        if self.header is None:
            if cause is not None:
                reason = f" ({cause.message})"
            elif group == "ZHV":
                reason = " (too few data items)"
            else:
                reason = ""
            rejection = error(
                number,
                FindingCode.NOT_A_D0010_FILE,
                f"the first line is not a readable ZHV header{reason}",
            )
            yield rejection
            yield FileRejected(rejection)
            return
        if self.trailer_seen:
            return
        if group == "":
            # Unreadable (binary, overlong): still one of the sender's group lines.
            self.summary.group_count += 1
        elif group == "026":
            yield from self._close_meter_point()
            self.summary.meter_point_count += 1
            self.meter_point_rejected_at = number
        elif group == "028":
            yield from self._close_reading()
            self.meter_point_has_meter = True
            self.meter = None
            self.meter_rejected_at = number
        elif group == "ZPT":
            # Unreadable, but the sender's trailer all the same: reported once (too few
            # items), not again as missing.
            yield from self._close_meter_point()
            self.trailer_seen = True
            self.summary.group_count -= 1
        elif group == "030":
            yield from self._close_reading()
            self.summary.reading_lines += 1
            self.reading_rejected_at = number

    # -- header and trailer --------------------------------------------------------

    def _header(self, number: int, data: list[str], present: int) -> Iterator[ParseEvent]:
        """Read the ZHV; ``present`` is how many data items the line really had."""
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
            return
        created_at = None
        if created:
            try:
                created_at = _read_datetime(created).value
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
        self.header = FileHeader(
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
        self.summary.header = self.header
        if self.header.is_test:
            yield warning(
                number,
                FindingCode.TEST_FILE,
                f"Test Data Flag is {test_flag!r}, not OPER: the file is marked as test data",
                "J1063 Test Data Flag",
            )
        yield self.header

    def _trailer(self, number: int, data: list[str]) -> Iterator[ParseEvent]:
        yield from self._close_meter_point()
        self.trailer_seen = True
        # The trailer itself is not a group.
        self.summary.group_count -= 1
        file_id, group_count_text, checksum, flow_count_text, completed = data[:5]
        group_count = _read_count(group_count_text, MAX_TRAILER_COUNT_DIGITS)
        flow_count = _read_count(flow_count_text, MAX_TRAILER_COUNT_DIGITS)
        completed_at = None
        if completed:
            try:
                completed_at = _read_datetime(completed).value
            except InvalidDtcDateTime as problem:
                yield warning(
                    number,
                    FindingCode.VALUE_IGNORED,
                    f"ZPT File Completion Timestamp {problem}; it was not stored",
                    "J1065 File Completion Timestamp",
                )
        assert self.header is not None
        if file_id != self.header.file_identifier:
            yield error(
                number,
                FindingCode.TRAILER_FILE_ID_MISMATCH,
                f"ZPT File Identifier {file_id!r} differs from the ZHV's "
                f"{self.header.file_identifier!r}",
                "J1064 File Identifier",
            )
        actual_groups = self.summary.group_count
        if group_count is None:
            yield error(
                number,
                FindingCode.MALFORMED_TRAILER,
                f"ZPT Total Group Count {_preview(group_count_text)} is not a number of at "
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
        actual_flows = self.summary.meter_point_count
        if flow_count is None:
            yield error(
                number,
                FindingCode.MALFORMED_TRAILER,
                f"ZPT Flow Count {_preview(flow_count_text)} is not a number of at most "
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
        self.summary.trailer = trailer
        yield trailer

    # -- hierarchy -----------------------------------------------------------------

    def _close_reading(self) -> list[ParseEvent]:
        # Lists, not generators: these run for every 026 and 028.
        closed: list[ParseEvent] = []
        if self.reading is not None:
            self.summary.readings_parsed += 1
            closed.append(self.reading)
            self.reading = None
        self.reading_rejected_at = None
        self.reading_has_validation = False
        return closed

    def _close_meter_point(self) -> list[ParseEvent]:
        closed = self._close_reading()
        if self.meter_point is not None and not self.meter_point_has_meter:
            # The DTC's range for 028 under a 026 is 1-*.
            closed.append(
                error(
                    self.meter_point.line_number,
                    FindingCode.MPAN_WITHOUT_METER,
                    f"026 MPAN {self.meter_point.mpan_core} has no 028 meter line "
                    "(a D0010 026 carries at least one)",
                    J0003,
                )
            )
        self.meter_point = None
        self.meter_point_rejected_at = None
        self.meter = None
        self.meter_rejected_at = None
        return closed

    def _parent_missing(
        self, number: int, group: str, parent: str, rejected_at: int | None
    ) -> Finding:
        if rejected_at is not None:
            return error(
                number,
                FindingCode.PARENT_REJECTED,
                f"{group} skipped: its parent {parent} at line {rejected_at} was rejected",
                group,
            )
        return error(
            number,
            FindingCode.ORPHAN_GROUP,
            f"{group} has no parent {parent} line before it; the line was skipped",
            group,
        )

    def _meter_point(self, number: int, data: list[str]) -> Iterator[ParseEvent]:
        yield from self._close_meter_point()
        self.summary.meter_point_count += 1
        self.meter_point_has_meter = True
        core, status = data[0], data[1]
        if not is_well_formed_core(core):
            self.meter_point_rejected_at = number
            yield error(
                number,
                FindingCode.INVALID_MPAN_CORE,
                f"MPAN core {core!r} is not 13 digits; the MPAN and its readings were skipped",
                J0003,
            )
            return
        check = check_mpan_core(core)
        if check.check_digit_valid is False:
            yield warning(
                number,
                FindingCode.MPAN_CHECK_DIGIT,
                f"MPAN core {core} fails its check digit",
                J0003,
            )
        if not check.known_distributor:
            yield warning(
                number,
                FindingCode.UNKNOWN_DISTRIBUTOR,
                f"MPAN core {core} has distributor id {check.distributor_id}, "
                "which is not a known DNO, IDNO or AMSID prefix",
                J0003,
            )
        status = yield from _code(number, status, codes.BSC_VALIDATION_STATUSES, J0022, 1)
        self.meter_point = MeterPointRecord(
            line_number=number,
            mpan_core=core,
            bsc_validation_status=status,
            distributor_id=check.distributor_id,
            check_digit_valid=check.check_digit_valid,
            is_amsid=check.is_amsid,
        )
        self.meter_point_has_meter = False
        yield self.meter_point

    def _meter(self, number: int, data: list[str]) -> Iterator[ParseEvent]:
        yield from self._close_reading()
        self.meter = None
        self.meter_rejected_at = None
        if self.meter_point is None:
            self.meter_rejected_at = number
            yield self._parent_missing(number, "028", "026", self.meter_point_rejected_at)
            return
        self.meter_point_has_meter = True
        self.summary.meter_count += 1
        serial, reading_type = data[0], data[1]
        if not serial or len(serial) > 10:
            self.meter_rejected_at = number
            yield error(
                number,
                FindingCode.INVALID_VALUE,
                f"Meter Id {serial!r} must be 1 to 10 characters; the meter and its "
                "readings were skipped",
                J0004,
            )
            return
        reading_type = yield from _code(number, reading_type, codes.READING_TYPES, J0171, 1)
        if reading_type in codes.READING_TYPES_NOT_IN_D0010:
            yield warning(
                number,
                FindingCode.UNKNOWN_CODE,
                f"Reading Type {reading_type!r} is only allowed in D0071 and D0300, "
                "not in D0010",
                J0171,
            )
        self.meter = MeterRecord(
            line_number=number,
            mpan_core=self.meter_point.mpan_core,
            serial_number=serial,
            reading_type=reading_type,
        )
        yield self.meter

    def _register_reading(self, number: int, data: list[str]) -> Iterator[ParseEvent]:
        yield from self._close_reading()
        self.summary.reading_lines += 1
        meter, meter_point = self.meter, self.meter_point
        if meter is None or meter_point is None:
            self.reading_rejected_at = number
            if self.meter_point is None and self.meter_rejected_at is None:
                yield self._parent_missing(number, "030", "026", self.meter_point_rejected_at)
            else:
                yield self._parent_missing(number, "030", "028", self.meter_rejected_at)
            return
        register_id, read_at_text, value_text, md_at_text, md_count_text, flag, method = data[:7]
        problems = []
        if not (1 <= len(register_id) <= 2 and register_id.isascii() and register_id.isalnum()):
            problems.append(
                error(
                    number,
                    FindingCode.INVALID_VALUE,
                    f"Meter Register Id {register_id!r} must be 1 or 2 letters or digits",
                    J0010,
                )
            )
        read_at = None
        try:
            read_at = _read_datetime(read_at_text)
        except InvalidDtcDateTime as problem:
            problems.append(
                error(number, FindingCode.INVALID_VALUE, f"Reading Date & Time {problem}", J0016)
            )
        value = None
        try:
            value, note = parse_register_reading(value_text)
        except NegativeRegisterReading as problem:
            problems.append(
                error(number, FindingCode.NEGATIVE_READING, f"Register Reading {problem}", J0040)
            )
        except InvalidRegisterReading as problem:
            problems.append(
                error(number, FindingCode.INVALID_VALUE, f"Register Reading {problem}", J0040)
            )
        if problems or read_at is None or value is None:
            self.reading_rejected_at = number
            yield from problems
            yield error(
                number,
                FindingCode.INVALID_VALUE,
                f"reading for MPAN {meter_point.mpan_core} meter {meter.serial_number!r} "
                "register "
                f"{register_id!r} was not stored",
                "030",
            )
            return
        if note:
            yield warning(number, FindingCode.READING_FORMAT, f"Register Reading {note}", J0040)
        if read_at.clock_change_issue is ClockChangeIssue.AMBIGUOUS:
            yield warning(
                number,
                FindingCode.CLOCK_CHANGE_AMBIGUOUS,
                f"Reading Date & Time {read_at_text} falls in the hour the clocks go back; "
                "it was read as British Summer Time (the first occurrence)",
                J0016,
            )
        elif read_at.clock_change_issue is ClockChangeIssue.NON_EXISTENT:
            yield warning(
                number,
                FindingCode.CLOCK_CHANGE_NON_EXISTENT,
                f"Reading Date & Time {read_at_text} falls in the hour skipped when the clocks "
                "go forward; it was read as GMT",
                J0016,
            )
        md_reset_at = None
        if md_at_text:
            try:
                md_reset_at = _read_datetime(md_at_text).value
            except InvalidDtcDateTime as problem:
                yield warning(
                    number,
                    FindingCode.VALUE_IGNORED,
                    f"MD Reset Date & Time {problem}; it was not stored",
                    J0044,
                )
        md_reset_count = None
        if md_count_text:
            if md_count_text.isascii() and md_count_text.isdigit() and len(md_count_text) <= 3:
                md_reset_count = int(md_count_text)
            else:
                yield warning(
                    number,
                    FindingCode.VALUE_IGNORED,
                    f"Number of MD Resets {md_count_text!r} is not a number of up to 3 digits; "
                    "it was not stored",
                    J1013,
                )
        reading_flag = yield from _boolean(number, flag, J0045)
        method = yield from _code(number, method, codes.READING_METHODS, J1888, 1)
        self.reading = _reading_under(
            meter_point,
            meter,
            number,
            register_id,
            read_at.value,
            value,
            md_reset_at,
            md_reset_count,
            reading_flag,
            method,
        )

    def _conformant_reading(
        self, number: int, match: re.Match[str]
    ) -> RegisterReading | None | Literal[False]:
        """Take a conformant 030 under the current meter.

        Returns the previous pending reading (to be yielded) or None, or False (having
        changed nothing) when the time needs a finding and the general path must run.
        """
        register_id, when, value_text, flag, method = match.groups()
        try:
            read_at = _read_datetime(when)
        except InvalidDtcDateTime:
            return False
        if read_at.clock_change_issue is not ClockChangeIssue.NONE:
            return False
        meter, meter_point = self.meter, self.meter_point
        assert meter is not None and meter_point is not None
        previous = self.reading
        if previous is not None:
            self.summary.readings_parsed += 1
        self.reading_rejected_at = None
        self.reading_has_validation = False
        self.summary.group_count += 1
        self.summary.reading_lines += 1
        self.reading = _reading_under(
            meter_point,
            meter,
            number,
            register_id,
            read_at.value,
            Decimal(value_text),
            None,
            None,
            True if flag == "T" else (False if flag == "F" else None),
            method,
        )
        return previous

    def _conformant_parent(self, number: int, raw: bytes) -> list[ParseEvent] | None:
        """Take a conformant 026 or 028 that needs no finding of its own.

        Returns the events to yield (the records it closes, any warning that closing
        gives, then its own record), or None, having changed nothing, when the general
        path must read the line.
        """
        if self.header is None or self.trailer_seen:
            return None
        text = raw.decode("latin-1")
        if raw[2] == 54:  # b"6": a 026
            match = _CONFORMANT_METER_POINT.fullmatch(text)
            if match is None:
                return None
            core, status = match.groups()
            if status not in codes.BSC_VALIDATION_STATUSES:
                return None
            distributor_id = core[:2]
            # A licensed distributor's core with a valid check digit; anything else
            # (AMSIDs included) gets the general path's findings.
            if distributor_id not in DISTRIBUTORS or not has_valid_check_digit(core):
                return None
            events = self._close_meter_point()
            self.summary.group_count += 1
            self.summary.meter_point_count += 1
            self.meter_point = MeterPointRecord(number, core, status, distributor_id, True, False)
            self.meter_point_has_meter = False
            events.append(self.meter_point)
            return events
        meter_point = self.meter_point
        match = _CONFORMANT_METER.fullmatch(text)
        if meter_point is None or match is None:
            return None
        serial, reading_type = match.groups()
        if (
            reading_type not in codes.READING_TYPES
            or reading_type in codes.READING_TYPES_NOT_IN_D0010
        ):
            return None
        events = self._close_reading()
        self.summary.group_count += 1
        self.summary.meter_count += 1
        self.meter_point_has_meter = True
        self.meter_rejected_at = None
        self.meter = MeterRecord(number, meter_point.mpan_core, serial, reading_type)
        events.append(self.meter)
        return events

    def _validation_result(self, number: int, data: list[str]) -> Iterator[ParseEvent]:
        reading = self.reading
        if reading is None:
            if self.reading_rejected_at is not None:
                yield self._parent_missing(number, "032", "030", self.reading_rejected_at)
            else:
                yield self._parent_missing(number, "032", "030", None)
            return
        if self.reading_has_validation:
            yield error(
                number,
                FindingCode.DUPLICATE_VALIDATION_RESULT,
                f"a second 032 for the 030 at line {reading.line_number} was ignored",
                "032",
            )
            return
        self.reading_has_validation = True
        reason, status = data[0], data[1]
        reading.validation_reason_code = yield from _code(
            number, reason, codes.VALIDATION_REASON_CODES, J0332, 2
        )
        reading.validation_status = yield from _boolean(number, status, J0047)

    def _site_visit(self, number: int, group: str, data: list[str]) -> Iterator[ParseEvent]:
        check_code, information = data[0], data[1]
        if group != "033":
            # A 027 or 029 closes the reading before it: 032/033 cannot follow it.
            yield from self._close_reading()
        parent: MeterPointRecord | MeterRecord | RegisterReading | None
        if group == "027":
            parent, parent_group, rejected_at = (
                self.meter_point,
                "026",
                self.meter_point_rejected_at,
            )
        elif group == "029":
            parent, parent_group, rejected_at = self.meter, "028", self.meter_rejected_at
        else:
            parent, parent_group, rejected_at = self.reading, "030", self.reading_rejected_at
        if parent is None or self.meter_point is None:
            yield self._parent_missing(number, group, parent_group, rejected_at)
            return
        check_code = yield from _code(number, check_code, codes.SITE_VISIT_CHECK_CODES, J0024, 2)
        if len(information) > 200:
            yield warning(
                number,
                FindingCode.READING_FORMAT,
                f"Additional Information is {len(information)} characters; CHAR(200) allows "
                "200 (stored in full)",
                J0012,
            )
        visit = SiteVisitRecord(
            line_number=number,
            group_code=group,
            check_code=check_code,
            additional_information=information,
            mpan_core=self.meter_point.mpan_core,
        )
        if group == "027":
            yield visit
            return
        assert self.meter is not None
        visit.serial_number = self.meter.serial_number
        if group == "029":
            yield visit
            return
        assert self.reading is not None
        visit.reading_line_number = self.reading.line_number
        if len(self.reading.site_visits) >= MAX_SITE_VISITS_PER_READING:
            yield error(
                number,
                FindingCode.INVALID_VALUE,
                f"more than {MAX_SITE_VISITS_PER_READING} 033 lines under the 030 at line "
                f"{self.reading.line_number}; this one was skipped",
                "033",
            )
            return
        if not self.reading.site_visits:
            self.reading.site_visits = []
        self.reading.site_visits.append(visit)


def _reading_under(
    meter_point: MeterPointRecord,
    meter: MeterRecord,
    line_number: int,
    register_id: str,
    read_at: datetime,
    value: Decimal,
    md_reset_at: datetime | None,
    md_reset_count: int | None,
    reading_flag: bool | None,
    reading_method: str,
) -> RegisterReading:
    """A 030's record, carrying the context its 026 and 028 give every reading."""
    # Positional, in the record's field order: this runs for nearly every line.
    return RegisterReading(
        line_number,
        meter_point.mpan_core,
        meter.serial_number,
        meter.reading_type,
        meter_point.bsc_validation_status,
        register_id,
        read_at,
        value,
        md_reset_at,
        md_reset_count,
        reading_flag,
        reading_method,
    )


def _code(
    number: int, text: str, valid: dict[str, str], field: str, length: int
) -> Generator[Finding, None, str]:
    """Check a coded item; returns the value to store (a generator so it can warn).

    A code outside the valid set is stored as given and flagged; an empty or over-long
    value is flagged and stored empty, with the raw text in the message.
    """
    if text in valid:
        return text
    if text == "":
        yield warning(number, FindingCode.MISSING_VALUE, f"{field} is empty", field)
        return ""
    if len(text) > length:
        yield warning(
            number,
            FindingCode.VALUE_IGNORED,
            f"{field} {text!r} is longer than {length} character(s); it was not stored",
            field,
        )
        return ""
    yield warning(
        number,
        FindingCode.UNKNOWN_CODE,
        f"{field} {text!r} is not in the DTC valid set (stored as given)",
        field,
    )
    return text


def _boolean(number: int, text: str, field: str) -> Generator[Finding, None, bool | None]:
    try:
        return parse_boolean(text)
    except ValueError as problem:
        yield warning(
            number, FindingCode.VALUE_IGNORED, f"{field} {problem}; it was not stored", field
        )
        return None


def _read_count(text: str, max_digits: int) -> int | None:
    """A NUM(n) count, or None when it is not one (too long to be a count is not one)."""
    if text.isascii() and text.isdigit() and len(text) <= max_digits:
        return int(text)
    return None


def _preview(text: str, limit: int = 40) -> str:
    """A short, printable quotation of untrusted text for a message."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown)
