"""A register's readings as the checks see them."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from meter_readings.validation.rules import ESTIMATED_TYPES, WITHDRAWN


@dataclass(slots=True)
class SeriesReading:
    """One current reading of a register (superseded readings never count)."""

    reading_id: int
    read_at: datetime
    value: Decimal
    reading_type: str
    bsc_validation_status: str = ""
    reading_flag: bool | None = None
    validation_reason_code: str = ""
    validation_status: bool | None = None
    # J0280 of the file that carried it, for the read-date rule.
    file_created_at: datetime | None = None
    # Worked out once (``is_valid`` and ``is_actual`` below): a register's check asks
    # each of its readings several times, for a year of readings a register.
    is_valid: bool = field(init=False)
    is_actual: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_valid = is_valid(
            self.reading_type, self.bsc_validation_status, self.reading_flag, self.validation_status
        )
        self.is_actual = self.is_valid and self.reading_type not in ESTIMATED_TYPES

    @property
    def is_withdrawal(self) -> bool:
        return self.reading_type == WITHDRAWN

    @property
    def collector_failed(self) -> bool:
        """Failed by the data collector: J0022 ``F``, or J0045 ``F``."""
        return self.bsc_validation_status == "F" or self.reading_flag is False


def is_valid(
    reading_type: str,
    bsc_validation_status: str,
    reading_flag: bool | None,
    validation_status: bool | None,
) -> bool:
    """Counts for consumption: not a withdrawal, not failed by the collector.

    A J0045 ``F`` whose J0047 status the collector later set to ``T`` (checked and found
    valid, spec §3.7) counts; J0022 ``F`` never does.
    """
    if reading_type == WITHDRAWN or bsc_validation_status == "F":
        return False
    return reading_flag is not False or validation_status is True


def is_actual(
    reading_type: str,
    bsc_validation_status: str,
    reading_flag: bool | None,
    validation_status: bool | None,
) -> bool:
    """A valid reading of the meter itself, not an estimate."""
    return reading_type not in ESTIMATED_TYPES and is_valid(
        reading_type, bsc_validation_status, reading_flag, validation_status
    )


def integer_digits(value: Decimal) -> int:
    """How many digits ``value`` has before the point (0 for a value under 1)."""
    if value < 1:
        return 0
    return value.adjusted() + 1
