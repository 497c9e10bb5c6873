"""The supplier's checks on readings, and consumption between them: plain Python.

Knows nothing of Django or the database: a register's readings in, its advances and
each reading's rule failures out. ``services/_reading_checks.py`` feeds it the
readings an import touches and stores what it says; the meter point page and the API
call it for display. Every rule and threshold lives here (documentation/VALIDATION.md).
"""

from meter_readings.validation.checks import (
    AloneScreen,
    Failure,
    Verdict,
    check_register,
    may_fail_alone,
    reading_failures,
    register_dates,
)
from meter_readings.validation.consumption import Advance, consumption
from meter_readings.validation.rules import Rule, Thresholds
from meter_readings.validation.series import SeriesReading, integer_digits, is_actual

__all__ = [
    "AloneScreen",
    "Advance",
    "Failure",
    "Rule",
    "SeriesReading",
    "Thresholds",
    "Verdict",
    "check_register",
    "consumption",
    "integer_digits",
    "is_actual",
    "may_fail_alone",
    "reading_failures",
    "register_dates",
]
