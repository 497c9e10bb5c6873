"""DTC DATETIME values: GB clock time without an offset (spec §2)."""

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

LONDON: Final = ZoneInfo("Europe/London")
EARLIEST_YEAR: Final = 1950
LATEST_YEAR: Final = 2199


class InvalidDtcDateTime(ValueError):
    """The text is not a DTC DATETIME (``ccyymmddhhmmss``, 1950 to 2199)."""


class ClockChangeIssue(enum.Enum):
    """Local times that a clock change makes doubtful."""

    NONE = "none"
    # 01:00-01:59 on the last Sunday in March does not exist in GB.
    NON_EXISTENT = "non_existent"
    # 01:00-01:59 on the last Sunday in October happens twice.
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True)
class DtcDateTime:
    """An aware datetime in Europe/London and what the clock change did to it."""

    value: datetime
    clock_change_issue: ClockChangeIssue


def parse_dtc_datetime(text: str) -> DtcDateTime:
    """Read ``ccyymmddhhmmss`` as GB local time.

    Ambiguous times (the repeated hour in October) take the first occurrence (BST);
    non-existent times (the skipped hour in March) are read with the offset in force
    before the change (GMT), so 01:30 becomes 01:30 UTC. Both are reported through
    ``clock_change_issue`` so the caller can flag them.

    Raises ``InvalidDtcDateTime`` with a reason if the text is not a valid DATETIME.
    """
    if len(text) != 14 or not text.isascii() or not text.isdigit():
        raise InvalidDtcDateTime(f"{text!r} is not 14 digits (ccyymmddhhmmss)")
    year = int(text[0:4])
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise InvalidDtcDateTime(f"year {year} is outside {EARLIEST_YEAR}-{LATEST_YEAR}")
    try:
        naive = datetime(
            year,
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
        )
    except ValueError as error:
        raise InvalidDtcDateTime(f"{text!r} is not a real date and time ({error})") from None
    return _localise(naive)


def _localise(naive: datetime) -> DtcDateTime:
    first = naive.replace(tzinfo=LONDON, fold=0)
    second = naive.replace(tzinfo=LONDON, fold=1)
    if first.utcoffset() == second.utcoffset():
        return DtcDateTime(first, ClockChangeIssue.NONE)
    round_trip = first.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None)
    if round_trip != naive:
        return DtcDateTime(first, ClockChangeIssue.NON_EXISTENT)
    return DtcDateTime(first, ClockChangeIssue.AMBIGUOUS)
