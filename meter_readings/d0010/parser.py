"""Streaming parser for D0010 version 002 user files: the driver.

``parse_d0010(lines)`` takes an iterable of raw lines (bytes, with or without their line
ending) and yields typed records and findings as it goes, so memory does not depend on
the size of the file. It never raises for anything in the input: every problem becomes
a ``Finding``, and a file that cannot be imported at all ends with ``FileRejected``.
The last event is always a ``ParseSummary``.

The driver reads each line and hands it on; the rest is by concern:

* ``lines``: reading lines and splitting them into data items;
* ``items``: reading one item (codes, booleans, DTC date-times, counts);
* ``envelope``: the ZHV header and the ZPT trailer, reconciled;
* ``groups``: one reader per group (026, 028, 030, 032, 027/029/033);
* ``hierarchy``: where the file is in 026 > 028 > 030, and the transitions between;
* ``fast_path``: conformant 026, 028 and 030 lines, through the same transitions.
"""

from collections.abc import Iterable, Iterator

from meter_readings.d0010 import groups
from meter_readings.d0010.envelope import read_header, read_trailer
from meter_readings.d0010.fast_path import (
    CONFORMANT_READING,
    conformant_parent,
    conformant_reading,
)
from meter_readings.d0010.findings import Finding, FindingCode, error, warning
from meter_readings.d0010.hierarchy import Hierarchy
from meter_readings.d0010.items import preview
from meter_readings.d0010.lines import (
    FIELD_COUNTS,
    MAX_LINE_BYTES,
    ItemSplitter,
    LineReadable,
    decode,
    iter_stream_lines,
)
from meter_readings.d0010.records import FileHeader, FileRejected, ParseEvent, ParseSummary

__all__ = ["MAX_LINE_BYTES", "LineReadable", "iter_stream_lines", "parse_d0010", "parse_stream"]


def parse_stream(stream: LineReadable) -> Iterator[ParseEvent]:
    """Parse a binary stream (an open file, an upload) line by line."""
    return parse_d0010(iter_stream_lines(stream))


def parse_d0010(lines: Iterable[bytes]) -> Iterator[ParseEvent]:
    """Parse D0010 lines, yielding records, findings and finally a ``ParseSummary``."""
    return _Parser().run(lines)


class _Parser:
    """One file's worth of state: its envelope, its hierarchy, its line shapes."""

    def __init__(self) -> None:
        self.summary = ParseSummary()
        self.header: FileHeader | None = None
        self.trailer_seen = False
        self.hierarchy = Hierarchy(self.summary)
        self.splitter = ItemSplitter()

    # -- driving -------------------------------------------------------------------

    def run(self, lines: Iterable[bytes]) -> Iterator[ParseEvent]:
        summary = self.summary
        hierarchy = self.hierarchy
        line_number = 0
        conformant_030 = CONFORMANT_READING.fullmatch
        for raw in lines:
            line_number += 1
            head = raw[:4]
            # The fast path first: most lines are conformant 030s under an open meter.
            if head == b"030|":
                if hierarchy.meter is not None:
                    match = conformant_030(raw.decode("latin-1"))
                    if match is not None:
                        previous = conformant_reading(hierarchy, line_number, match)
                        if previous is not False:
                            if previous is not None:
                                yield previous
                            continue
            elif (head == b"026|" or head == b"028|") and (
                self.header is not None and not self.trailer_seen
            ):
                taken = conformant_parent(hierarchy, line_number, raw)
                if taken is not None:
                    for event in taken:
                        if isinstance(event, Finding):
                            self._count(event)
                        yield event
                    continue
            for event in self._line(line_number, raw):
                if isinstance(event, Finding):
                    self._count(event)
                yield event
                if isinstance(event, FileRejected):
                    summary.line_count = line_number
                    summary.rejected = True
                    yield summary
                    return
        summary.line_count = line_number
        for event in self._end_of_file(line_number):
            if isinstance(event, Finding):
                self._count(event)
            yield event
        yield summary

    def _count(self, finding: Finding) -> None:
        if finding.is_error:
            self.summary.error_count += 1
        else:
            self.summary.warning_count += 1

    def _end_of_file(self, last_line: int) -> Iterator[ParseEvent]:
        if self.header is None:
            finding = error(None, FindingCode.EMPTY_FILE, "the file is empty")
            if last_line:
                finding = error(None, FindingCode.EMPTY_FILE, "the file holds only blank lines")
            yield finding
            yield FileRejected(finding)
            self.summary.rejected = True
            return
        yield from self.hierarchy.close_meter_point()
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
        yield from self.splitter.closing_findings()

    # -- one line ------------------------------------------------------------------

    def _line(self, number: int, raw: bytes) -> Iterator[ParseEvent]:
        text, notes, cause = decode(number, raw)
        if text is None:
            assert cause is not None
            yield cause
            yield from self._skipped(number, "", cause)
            return
        yield from notes
        if text.strip() == "":
            if self.header is not None and not self.trailer_seen:
                yield warning(number, FindingCode.BLANK_LINE, "blank line ignored")
            return
        fields = text.split("|")
        group = fields[0]
        if self.header is None:
            yield from self._first_line(number, text, fields, group)
            return
        if self.trailer_seen:
            yield error(
                number,
                FindingCode.LINE_AFTER_TRAILER,
                f"line after the ZPT trailer was ignored: {preview(text)}",
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
                f"{preview(group)} is not a D0010 group; the line was skipped",
            )
            return
        data = yield from self.splitter.items(number, fields, group)
        hierarchy = self.hierarchy
        if data is None:
            yield from self._skipped(number, group, None)
        elif group == "030":
            yield from groups.register_reading(hierarchy, number, data)
        elif group == "026":
            yield from groups.meter_point(hierarchy, number, data)
        elif group == "028":
            yield from groups.meter(hierarchy, number, data)
        elif group == "032":
            yield from groups.validation_result(hierarchy, number, data)
        elif group == "ZPT":
            yield from self._trailer(number, data)
        else:
            yield from groups.site_visit(hierarchy, number, group, data)

    def _first_line(
        self, number: int, text: str, fields: list[str], group: str
    ) -> Iterator[ParseEvent]:
        if group != "ZHV":
            finding = error(
                number,
                FindingCode.NOT_A_D0010_FILE,
                f"the first line must be a ZHV header, not {preview(text)}",
            )
            yield finding
            yield FileRejected(finding)
            return
        data = yield from self.splitter.items(number, fields, group)
        if data is None:
            yield from self._skipped(number, group, None)
            return
        present = len(fields) - (2 if fields[-1] == "" else 1)
        header = yield from read_header(number, data, present)
        if header is not None:
            self.header = self.summary.header = header
            yield header

    def _trailer(self, number: int, data: list[str]) -> Iterator[ParseEvent]:
        yield from self.hierarchy.close_meter_point()
        self.trailer_seen = True
        # The trailer itself is not a group.
        self.summary.group_count -= 1
        assert self.header is not None
        trailer = yield from read_trailer(number, data, self.header, self.summary)
        self.summary.trailer = trailer
        yield trailer

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
        hierarchy = self.hierarchy
        if group == "":
            # Unreadable (binary, overlong): still one of the sender's group lines.
            self.summary.group_count += 1
        elif group == "026":
            yield from hierarchy.close_meter_point()
            self.summary.meter_point_count += 1
            hierarchy.reject_meter_point(number)
        elif group == "028":
            yield from hierarchy.close_reading()
            hierarchy.reject_meter(number)
        elif group == "ZPT":
            # Unreadable, but the sender's trailer all the same: reported once (too few
            # items), not again as missing.
            yield from hierarchy.close_meter_point()
            self.trailer_seen = True
            self.summary.group_count -= 1
        elif group == "030":
            yield from hierarchy.reject_reading(number)
            self.summary.reading_lines += 1
