"""Readers for D0010 data items that need more than a lookup."""

import re
from decimal import Decimal
from typing import Final

# J0040 is NUM(9,1): at most 8 integer digits and one decimal place. Producers exceed
# both, so the importer stores up to these limits exactly and flags the excess.
SPEC_INTEGER_DIGITS: Final = 8
SPEC_DECIMAL_PLACES: Final = 1
STORED_INTEGER_DIGITS: Final = 10
STORED_DECIMAL_PLACES: Final = 3

_UNSIGNED_DECIMAL = re.compile(r"(\d*)(?:\.(\d*))?")


class InvalidRegisterReading(ValueError):
    """The text cannot be stored as a register reading; the message says why."""


class NegativeRegisterReading(InvalidRegisterReading):
    """J0040 is unsigned: a negative reading is refused."""


def parse_register_reading(text: str) -> tuple[Decimal, str]:
    """Read a J0040 Register Reading exactly.

    Returns the value and, when the text departs from NUM(9,1) but can still be stored
    exactly, a sentence saying how (otherwise an empty string). Leading zeros and a
    missing decimal part are accepted silently.

    Raises ``NegativeRegisterReading`` for a negative value and
    ``InvalidRegisterReading`` for anything that is not an unsigned decimal, or that has
    more than ``STORED_INTEGER_DIGITS`` integer digits or significant decimals beyond
    ``STORED_DECIMAL_PLACES``.
    """
    if text == "":
        raise InvalidRegisterReading("is empty")
    if text.startswith("-"):
        raise NegativeRegisterReading(f"{text!r} is negative; a register reading is unsigned")
    match = _UNSIGNED_DECIMAL.fullmatch(text)
    if not text.isascii() or match is None or not (match.group(1) or match.group(2)):
        raise InvalidRegisterReading(f"{text!r} is not a number")
    integer_digits = match.group(1).lstrip("0")
    decimals = match.group(2) or ""
    significant_decimals = decimals.rstrip("0")
    if len(integer_digits) > STORED_INTEGER_DIGITS:
        raise InvalidRegisterReading(
            f"{text!r} has {len(integer_digits)} integer digits; at most "
            f"{STORED_INTEGER_DIGITS} can be stored"
        )
    if len(significant_decimals) > STORED_DECIMAL_PLACES:
        raise InvalidRegisterReading(
            f"{text!r} has {len(significant_decimals)} decimal places; at most "
            f"{STORED_DECIMAL_PLACES} can be stored exactly"
        )
    departures = []
    if len(integer_digits) > SPEC_INTEGER_DIGITS:
        departures.append(f"{len(integer_digits)} integer digits (NUM(9,1) allows 8)")
    if len(decimals) > SPEC_DECIMAL_PLACES:
        departures.append(f"{len(decimals)} decimal places (NUM(9,1) allows 1)")
    note = f"{text!r} has " + " and ".join(departures) if departures else ""
    return Decimal(text), note


def parse_boolean(text: str) -> bool | None:
    """Read a DTC BOOLEAN (``T``/``F``); empty is None.

    Raises ``ValueError`` for anything else.
    """
    if text == "T":
        return True
    if text == "F":
        return False
    if text == "":
        return None
    raise ValueError(f"{text!r} is not T or F")
