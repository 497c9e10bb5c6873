"""Item readers: one D0010 data item's text to a value, and the finding it may give.

Coded items, booleans and counts are read by generators that yield a finding and return
the value to store (so a reader writes ``value = yield from read_code(...)``).
"""

from collections.abc import Generator
from functools import lru_cache
from typing import Final

from meter_readings.d0010.findings import Finding, FindingCode, warning
from meter_readings.d0010.localtime import DtcDateTime, parse_dtc_datetime
from meter_readings.d0010.values import parse_boolean

# The data items, as findings name them (field).
J0003: Final = "J0003 MPAN Core"
J0022: Final = "J0022 BSC Validation Status"
J0004: Final = "J0004 Meter Id"
J0171: Final = "J0171 Reading Type"
J0010: Final = "J0010 Meter Register Id"
J0016: Final = "J0016 Reading Date & Time"
J0040: Final = "J0040 Register Reading"
J0044: Final = "J0044 MD Reset Date & Time"
J1013: Final = "J1013 Number of MD Resets"
J0045: Final = "J0045 Meter Reading Flag"
J1888: Final = "J1888 Reading Method"
J0332: Final = "J0332 Meter Reading Reason Code"
J0047: Final = "J0047 Meter Reading Status"
J0024: Final = "J0024 Site Visit Check Code"
J0012: Final = "J0012 Additional Information"


@lru_cache(maxsize=8192)
def read_datetime(text: str) -> DtcDateTime:
    """Parse a DATETIME item; raises ``InvalidDtcDateTime`` (never cached)."""
    # Most readings in a file share a handful of reading dates.
    return parse_dtc_datetime(text)


def read_code(
    number: int, text: str, valid: dict[str, str], field: str, length: int
) -> Generator[Finding, None, str]:
    """Check a coded item; returns the value to store.

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


def read_boolean(number: int, text: str, field: str) -> Generator[Finding, None, bool | None]:
    """A BOOLEAN item (``T`` or ``F``); anything else is flagged and not stored."""
    try:
        return parse_boolean(text)
    except ValueError as problem:
        yield warning(
            number, FindingCode.VALUE_IGNORED, f"{field} {problem}; it was not stored", field
        )
        return None


def read_count(text: str, max_digits: int) -> int | None:
    """A NUM(n) count, or None when it is not one (too long to be a count is not one)."""
    if text.isascii() and text.isdigit() and len(text) <= max_digits:
        return int(text)
    return None


def preview(text: str, limit: int = 40) -> str:
    """A short, printable quotation of untrusted text for a message."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown)
