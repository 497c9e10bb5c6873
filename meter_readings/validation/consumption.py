"""Consumption between a register's readings: advances, roll-over, withdrawn reads."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from meter_readings.validation.rules import DEEMED, Thresholds
from meter_readings.validation.series import SeriesReading, integer_digits

SECONDS_PER_DAY = 86400


@dataclass(slots=True)
class Advance:
    """A reading and the advance since the previous valid reading of its register.

    ``advance`` is None for the first valid reading of a chain and for a reading that is
    not valid (withdrawn, failed by the collector), which is shown but never counted.
    """

    reading: SeriesReading
    previous: SeriesReading | None = None
    advance: Decimal | None = None
    # Whole seconds between the two reads (exact, for comparisons; ``days`` to show).
    seconds: int | None = None
    # The register wrapped past 10^digits between the two reads: ``advance`` is the
    # wrapped advance.
    rolled_over: bool = False
    # Negative, but a correction of an estimate: the previous read was deemed and this
    # one is at least the last actual read.
    corrects_estimate: bool = False
    # The last valid actual reading before this one (for the deemed-correction rule).
    last_actual: SeriesReading | None = None

    @property
    def days(self) -> float | None:
        return None if self.seconds is None else self.seconds / SECONDS_PER_DAY

    @property
    def per_day(self) -> float | None:
        if self.advance is None or not self.seconds:
            return None
        return float(self.advance) * SECONDS_PER_DAY / self.seconds

    @property
    def is_negative(self) -> bool:
        """A negative advance that neither roll-over nor a deemed correction explains."""
        return (
            self.advance is not None
            and self.advance < 0
            and not self.rolled_over
            and not self.corrects_estimate
        )


def register_digits(
    readings: Sequence[SeriesReading], *, known: int | None, thresholds: Thresholds
) -> int:
    """The register's digits: the meter's when known, else inferred from its readings."""
    if known:
        return known
    widest = max((integer_digits(reading.value) for reading in readings), default=0)
    return max(thresholds.default_register_digits, widest)


def consumption(
    readings: Sequence[SeriesReading],
    *,
    thresholds: Thresholds,
    known_digits: int | None = None,
) -> list[Advance]:
    """One ``Advance`` per reading of one meter register, in time order.

    ``readings`` are the register's current readings sorted by read time; a meter
    exchange is another meter, so another series.
    """
    # Worked out at the first fall only: most registers never fall.
    wrap: Decimal | None = None
    advances: list[Advance] = []
    previous: SeriesReading | None = None
    last_actual: SeriesReading | None = None
    for reading in readings:
        entry = Advance(reading=reading, last_actual=last_actual)
        advances.append(entry)
        if not reading.is_valid:
            continue
        if previous is not None:
            entry.previous = previous
            entry.seconds = int((reading.read_at - previous.read_at).total_seconds())
            advance = reading.value - previous.value
            if advance < 0:
                if (
                    previous.reading_type == DEEMED
                    and last_actual is not None
                    and reading.value >= last_actual.value
                ):
                    entry.corrects_estimate = True
                else:
                    if wrap is None:
                        digits = register_digits(
                            readings, known=known_digits, thresholds=thresholds
                        )
                        wrap = Decimal(10) ** digits
                    wrapped = advance + wrap
                    if 0 <= wrapped <= wrap * thresholds.roll_over_max_share:
                        advance = wrapped
                        entry.rolled_over = True
            entry.advance = advance
        previous = reading
        if reading.is_actual:
            last_actual = reading
    return advances
