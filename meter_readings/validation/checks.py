"""Each reading of a register against every rule, in one pass over its series."""

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from meter_readings.d0010.localtime import LONDON
from meter_readings.validation.consumption import SECONDS_PER_DAY, Advance, consumption
from meter_readings.validation.rules import REASON_CODES, Rule, Thresholds
from meter_readings.validation.series import SeriesReading, integer_digits


@dataclass(frozen=True, slots=True)
class Failure:
    """A reading fails ``rule``: ``reason_code`` is J0332's, ``detail`` says why."""

    rule: Rule
    reason_code: str
    detail: str


@dataclass(slots=True)
class Verdict:
    advance: Advance
    failures: list[Failure] = field(default_factory=list)

    @property
    def reading(self) -> SeriesReading:
        return self.advance.reading

    @property
    def passes(self) -> bool:
        """A valid actual reading that fails no rule: it resolves earlier exceptions."""
        return self.reading.is_actual and not self.failures


def _local(moment: datetime) -> datetime:
    """GB clock time, as D0010 and its users write it (decision record 1)."""
    return moment.astimezone(LONDON)


def _failure(rule: Rule, detail: str, reason_code: str | None = None) -> Failure:
    return Failure(rule, REASON_CODES[rule] if reason_code is None else reason_code, detail)


def check_register(
    readings: Sequence[SeriesReading],
    *,
    thresholds: Thresholds,
    known_digits: int | None = None,
    check_from: datetime | None = None,
) -> list[Verdict]:
    """The verdicts on the readings of one meter register read at or after ``check_from``.

    ``readings`` are the register's current readings in time order, from far enough
    back (``thresholds.look_back_days``) for the expected advance. Earlier readings
    only give context: a late read re-checks every reading after it.
    """
    advances = consumption(readings, thresholds=thresholds, known_digits=known_digits)
    # Valid actual advances (both ends actual, none negative) for the expected advance.
    window: deque[Advance] = deque()
    window_advance = Decimal(0)
    window_seconds = 0
    window_span = timedelta(days=thresholds.expected_advance_days)
    had_advance = False
    verdicts: list[Verdict] = []
    for entry in advances:
        reading = entry.reading
        while window and window[0].reading.read_at < reading.read_at - window_span:
            dropped = window.popleft()
            window_advance -= dropped.advance or 0
            window_seconds -= dropped.seconds or 0
        if check_from is None or reading.read_at >= check_from:
            verdict = Verdict(entry)
            verdict.failures.extend(reading_failures(reading, thresholds, known_digits))
            if entry.advance is not None:
                verdict.failures.extend(
                    _advance_failures(
                        entry,
                        thresholds,
                        expected=(
                            (window_advance, window_seconds)
                            if len(window) >= thresholds.expected_advance_minimum
                            and window_seconds > 0
                            else None
                        ),
                        had_advance=had_advance,
                    )
                )
            verdicts.append(verdict)
        if entry.advance is not None and entry.advance > 0:
            had_advance = True
        if (
            entry.advance is not None
            and entry.advance >= 0
            and entry.seconds
            and not entry.corrects_estimate
            and reading.is_actual
            and entry.previous is not None
            and entry.previous.is_actual
        ):
            window.append(entry)
            window_advance += entry.advance
            window_seconds += entry.seconds
    return verdicts


class AloneScreen:
    """Tells apart, in one test, the readings of one file that no rule of a reading alone
    can fail (most of them): ``reading_failures`` need not run for those. The read-date
    window is worked out once per file, as this runs for every reading imported."""

    def __init__(self, *, created: datetime | None, thresholds: Thresholds) -> None:
        self.created = created
        self.earliest = (
            None if created is None else created - timedelta(days=thresholds.oldest_read_days)
        )

    def may_fail(
        self, bsc_validation_status: str, reading_flag: bool | None, read_at: datetime
    ) -> bool:
        return (
            bsc_validation_status == "F"
            or reading_flag is False
            or (
                self.created is not None
                and not self.earliest <= read_at <= self.created  # type: ignore[operator]
            )
        )


def may_fail_alone(
    bsc_validation_status: str,
    reading_flag: bool | None,
    read_at: datetime,
    *,
    created: datetime | None,
    thresholds: Thresholds,
    known_digits: int | None = None,
) -> bool:
    """False when ``reading_failures`` is sure to find nothing."""
    return bool(known_digits) or AloneScreen(created=created, thresholds=thresholds).may_fail(
        bsc_validation_status, reading_flag, read_at
    )


def reading_failures(
    reading: SeriesReading, thresholds: Thresholds, known_digits: int | None = None
) -> list[Failure]:
    """The rules a reading fails on its own, whatever its register's other readings."""
    created = reading.file_created_at
    if not may_fail_alone(
        reading.bsc_validation_status,
        reading.reading_flag,
        reading.read_at,
        created=created,
        thresholds=thresholds,
        known_digits=known_digits,
    ):
        return []
    failures = []
    if reading.collector_failed:
        failures.append(_collector_failure(reading))
    if created is not None and not reading.is_withdrawal:
        if reading.read_at > created:
            failures.append(
                _failure(
                    Rule.READ_DATE,
                    f"read at {_local(reading.read_at):%Y-%m-%d %H:%M}, after its file was created "
                    f"({_local(created):%Y-%m-%d %H:%M}, J0280)",
                )
            )
        elif reading.read_at < created - timedelta(days=thresholds.oldest_read_days):
            failures.append(
                _failure(
                    Rule.READ_DATE,
                    f"read at {_local(reading.read_at):%Y-%m-%d}, more than "
                    f"{thresholds.oldest_read_days} days before its file was created "
                    f"({_local(created):%Y-%m-%d})",
                )
            )
    if known_digits and not reading.is_withdrawal:
        digits = integer_digits(reading.value)
        if digits > known_digits:
            failures.append(
                _failure(
                    Rule.REGISTER_DIGITS,
                    f"value {reading.value} has {digits} integer digits; the register has "
                    f"{known_digits}",
                )
            )
    return failures


def _collector_failure(reading: SeriesReading) -> Failure:
    said = []
    if reading.bsc_validation_status == "F":
        said.append("J0022 BSC validation status F")
    if reading.reading_flag is False:
        said.append("J0045 meter reading flag F")
    if reading.validation_reason_code:
        said.append(f"032 reason {reading.validation_reason_code}")
    if reading.validation_status is not None:
        said.append(f"J0047 status {'T' if reading.validation_status else 'F'}")
    return _failure(
        Rule.COLLECTOR_FAILED, "; ".join(said), reason_code=reading.validation_reason_code
    )


def _advance_failures(
    entry: Advance,
    thresholds: Thresholds,
    *,
    expected: tuple[Decimal, int] | None,
    had_advance: bool,
) -> list[Failure]:
    """``expected`` is the expected advance as (advance, over so many seconds)."""
    assert entry.advance is not None and entry.previous is not None
    days = entry.days or 0.0
    if entry.is_negative:
        return [_failure(Rule.NEGATIVE_ADVANCE, f"advance {entry.advance} {_since(entry)}")]
    failures = []
    if expected is not None and entry.seconds:
        expected_advance, expected_seconds = expected
        # advance/seconds > factor * expected_advance/expected_seconds, in exact
        # arithmetic: exactly twice the expected is not over it.
        if (
            entry.advance * expected_seconds
            > thresholds.high_advance_factor * expected_advance * entry.seconds
        ):
            expected_per_day = float(expected_advance) * SECONDS_PER_DAY / expected_seconds
            failures.append(
                _failure(
                    Rule.HIGH_ADVANCE,
                    f"{entry.per_day:.2f} a day {_since(entry)}, over "
                    f"{thresholds.high_advance_factor}x the expected "
                    f"{expected_per_day:.2f} a day",
                )
            )
    if entry.advance == 0 and days >= thresholds.zero_advance_days and had_advance:
        failures.append(
            _failure(Rule.ZERO_ADVANCE, f"no advance in {days:.0f} days {_since(entry)}")
        )
    return failures


def _since(entry: Advance) -> str:
    # Formatted for a failure only: most checked readings pass.
    assert entry.previous is not None
    return f"since {_local(entry.previous.read_at):%Y-%m-%d} ({entry.previous.value})"


def register_dates(readings: Sequence[tuple[str, datetime]]) -> list[int]:
    """Which readings of one 028 group were read when its first register was not.

    ``readings`` are the group's (register id, read time) in file order. The registers of
    one meter are read together, so every register's times should be the first's; a
    group listing a register's history (several reads of each) is compared time by time.
    Returns the positions of the readings at another time.
    """
    if not readings:
        return []
    first_register = readings[0][0]
    times = {read_at for register, read_at in readings if register == first_register}
    return [
        index
        for index, (register, read_at) in enumerate(readings)
        if register != first_register and read_at not in times
    ]
