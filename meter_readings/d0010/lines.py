"""Line reading and field splitting: bytes to a line's text, and a line to its data items.

Nothing here knows the 026 > 028 > 030 hierarchy: ``decode`` turns one raw line into text
(or says why it cannot be read), and ``ItemSplitter`` splits a group's line into its data
items, counting the lines whose shape departs from the spec so that the end of the file
can say so once.
"""

from collections.abc import Generator, Iterator
from typing import Final, Protocol

from meter_readings.d0010.findings import Finding, FindingCode, error, warning
from meter_readings.d0010.records import READING_ITEMS

# The longest legal line is a site visit with 200 characters of free text; anything
# far beyond that is not D0010 and must not be held in memory whole.
MAX_LINE_BYTES: Final = 4096
UTF8_BOM: Final = b"\xef\xbb\xbf"

# Data items per group, after the group code (DFC, spec §1-§3).
FIELD_COUNTS: Final[dict[str, int]] = {
    "ZHV": 11,
    "026": 2,
    "027": 2,
    "028": 2,
    "029": 2,
    # Its key (register, reading date and time), then the reading items it carries.
    "030": 2 + sum(1 for item in READING_ITEMS if item.group == "030"),
    "032": 2,
    "033": 2,
    "ZPT": 5,
}
# J0280 and the four fields after it are optional or of uncertain order (spec §1.2).
HEADER_MINIMUM_FIELDS: Final = 6


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


def decode(number: int, raw: bytes) -> tuple[str | None, list[Finding], Finding | None]:
    """A raw line as text, the warnings its bytes give, and why it cannot be read.

    Returns ``(None, [], cause)`` for a line too long or holding NUL bytes (binary);
    otherwise the text (without its line ending) and any warning about its encoding.
    """
    if len(raw) > MAX_LINE_BYTES:
        cause = error(
            number,
            FindingCode.LINE_TOO_LONG,
            f"line is longer than {MAX_LINE_BYTES} bytes; it was skipped",
        )
        return None, [], cause
    raw = raw.rstrip(b"\r\n")
    if b"\x00" in raw:
        return (
            None,
            [],
            error(number, FindingCode.BINARY_CONTENT, "line holds NUL bytes (binary data)"),
        )
    notes = []
    if number == 1 and raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM) :]
        notes.append(warning(number, FindingCode.NON_ASCII_TEXT, "UTF-8 byte order mark removed"))
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        try:
            text = raw.decode("utf-8")
            how = "decoded as UTF-8"
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
            how = "not valid UTF-8; decoded as Latin-1"
        notes.append(
            warning(
                number,
                FindingCode.NON_ASCII_TEXT,
                f"line holds characters outside ASCII ({how})",
            )
        )
    return text, notes, None


class ItemSplitter:
    """Splits group lines into data items; remembers the lines of a departing shape."""

    def __init__(self) -> None:
        self.extra_fields_lines = 0
        self.extra_fields_first_line = 0
        self.no_trailing_delimiter_lines = 0
        self.no_trailing_delimiter_first_line = 0

    def items(
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

    def closing_findings(self) -> Iterator[Finding]:
        """Once, at the end of the file: the lines of a departing shape, counted."""
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
