"""The rules, their J0332-style reason codes and their thresholds."""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final


class Rule(StrEnum):
    """A check a reading can fail; each failure is one exception in the queue."""

    COLLECTOR_FAILED = "COLLECTOR_FAILED"
    NEGATIVE_ADVANCE = "NEGATIVE_ADVANCE"
    HIGH_ADVANCE = "HIGH_ADVANCE"
    ZERO_ADVANCE = "ZERO_ADVANCE"
    READ_DATE = "READ_DATE"
    REGISTER_DIGITS = "REGISTER_DIGITS"
    REGISTER_DATES = "REGISTER_DATES"
    CONFLICTING_SENDERS = "CONFLICTING_SENDERS"


# The J0332 Meter Reading Reason Code each rule corresponds to (DTC valid set, the same
# codes a data collector reports in a 032 group). A collector's own failure carries the
# code it sent; two senders disagreeing has no J0332 equivalent.
REASON_CODES: Final[dict[Rule, str]] = {
    Rule.COLLECTOR_FAILED: "",
    Rule.NEGATIVE_ADVANCE: "03",
    Rule.HIGH_ADVANCE: "05",
    Rule.ZERO_ADVANCE: "27",
    Rule.READ_DATE: "02",
    Rule.REGISTER_DIGITS: "11",
    Rule.REGISTER_DATES: "12",
    Rule.CONFLICTING_SENDERS: "",
}

RULE_LABELS: Final[dict[Rule, str]] = {
    Rule.COLLECTOR_FAILED: "Failed by the data collector",
    Rule.NEGATIVE_ADVANCE: "Negative advance",
    Rule.HIGH_ADVANCE: "Advance over twice the expected",
    Rule.ZERO_ADVANCE: "Zero advance",
    Rule.READ_DATE: "Implausible read date",
    Rule.REGISTER_DIGITS: "Too many register digits",
    Rule.REGISTER_DATES: "Registers read at different times",
    Rule.CONFLICTING_SENDERS: "Senders disagree",
}

# Reading types (J0171) that are not a reading of the meter: estimates (D: deemed for a
# settlement register, estimated otherwise; O: the old supplier's estimate) and W.
ESTIMATED_TYPES: Final = frozenset({"D", "O"})
WITHDRAWN = "W"
DEEMED = "D"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The supplier's settings for the checks (``D0010_VALIDATION`` in settings)."""

    # HIGH_ADVANCE: an advance per day above this many times the expected.
    high_advance_factor: Decimal = Decimal(2)
    # The expected daily advance: valid actual advances read in this many days before.
    expected_advance_days: int = 365
    # ... and at least this many of them, or the rule is not checked.
    expected_advance_minimum: int = 2
    # ZERO_ADVANCE: no advance over at least this many days.
    zero_advance_days: int = 90
    # READ_DATE: a read more than this many days before its file was created.
    oldest_read_days: int = 1096
    # Roll-over: a register's digits when neither the meter nor its readings say more.
    default_register_digits: int = 5
    # Roll-over: a wrapped advance of at most this share of the register's range is a
    # clock-over; more, and the negative advance is an exception.
    roll_over_max_share: Decimal = Decimal("0.1")
    # How far before a file's earliest reading of a register its checks look (the
    # expected-advance window plus a quarter, so that its first advance has a start).
    look_back_days: int = 365 + 120

    @classmethod
    def from_settings(cls, values: dict[str, Any] | None) -> "Thresholds":
        """Thresholds from a settings dict (lower-case field names); unknown keys refused.

        Raises ``ValueError`` naming an unknown key.
        """
        values = dict(values or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown D0010_VALIDATION setting(s): {', '.join(unknown)}")
        defaults = cls()
        for name in cls.__dataclass_fields__:
            if name not in values:
                continue
            kind = type(getattr(defaults, name))
            raw = values[name]
            try:
                values[name] = Decimal(str(raw)) if kind is Decimal else int(str(raw))
            except (ArithmeticError, ValueError):
                raise ValueError(f"{name}: {raw!r} is not a {kind.__name__.lower()}") from None
        return cls(**values)
