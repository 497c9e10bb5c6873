"""The fast path: conformant 026, 028 and 030 lines read without the per-item checks.

Most lines of a real file are fully conformant and need no finding. A regular
expression recognises them, and they move through the hierarchy by the same transitions
as the general path (``hierarchy``), so the rules of what closes what are not written
twice. Anything else (a code outside its set, an AMSID, a clock-change time, an MD item)
returns None or False, having changed nothing, and the general path reads the line with
every finding. Property tests prove both paths yield the same records
(``tests/unit/test_parser.py``).
"""

import re
from decimal import Decimal
from typing import Literal

from meter_readings.d0010 import codes
from meter_readings.d0010.hierarchy import Hierarchy
from meter_readings.d0010.groups import reading_under
from meter_readings.d0010.items import read_datetime
from meter_readings.d0010.localtime import ClockChangeIssue, InvalidDtcDateTime
from meter_readings.d0010.mpan import DISTRIBUTORS, has_valid_check_digit
from meter_readings.d0010.records import MeterPointRecord, MeterRecord, ParseEvent, RegisterReading

# A fully conformant 030 with no MD items.
CONFORMANT_READING = re.compile(
    r"030\|([A-Za-z0-9]{1,2})\|(\d{14})\|(\d{1,8}(?:\.\d)?)\|\|\|([TF]?)\|([NP])\|\r?\n?"
)
# Conformant 026 and 028 lines; their codes are checked against their sets as well.
CONFORMANT_METER_POINT = re.compile(r"026\|([0-9]{13})\|([A-Z])\|\r?\n?")
CONFORMANT_METER = re.compile(r"028\|([ -{}~]{1,10})\|([A-Z])\|\r?\n?")


def conformant_reading(
    h: Hierarchy, number: int, match: re.Match[str]
) -> RegisterReading | None | Literal[False]:
    """Take a conformant 030 under the open meter.

    Returns the reading it closes (to be yielded) or None, or False (having changed
    nothing) when the time needs a finding and the general path must run.
    """
    register_id, when, value_text, flag, method = match.groups()
    try:
        read_at = read_datetime(when)
    except InvalidDtcDateTime:
        return False
    if read_at.clock_change_issue is not ClockChangeIssue.NONE:
        return False
    meter, meter_point = h.meter, h.meter_point
    assert meter is not None and meter_point is not None
    summary = h.summary
    summary.group_count += 1
    summary.reading_lines += 1
    return h.replace_reading(
        reading_under(
            meter_point,
            meter,
            number,
            register_id,
            read_at.value,
            Decimal(value_text),
            None,
            None,
            True if flag == "T" else (False if flag == "F" else None),
            method,
        )
    )


def conformant_parent(h: Hierarchy, number: int, raw: bytes) -> list[ParseEvent] | None:
    """Take a conformant 026 or 028 that needs no finding of its own.

    Returns the events to yield (the records it closes, any finding that closing gives,
    then its own record), or None, having changed nothing, when the general path must
    read the line.
    """
    text = raw.decode("latin-1")
    summary = h.summary
    if raw[2] == 54:  # b"6": a 026
        match = CONFORMANT_METER_POINT.fullmatch(text)
        if match is None:
            return None
        core, status = match.groups()
        if status not in codes.BSC_VALIDATION_STATUSES:
            return None
        distributor_id = core[:2]
        # A licensed distributor's core with a valid check digit; anything else
        # (AMSIDs included) gets the general path's findings.
        if distributor_id not in DISTRIBUTORS or not has_valid_check_digit(core):
            return None
        events = h.close_meter_point()
        summary.group_count += 1
        summary.meter_point_count += 1
        record = MeterPointRecord(number, core, status, distributor_id, True, False)
        h.open_meter_point(record)
        events.append(record)
        return events
    meter_point = h.meter_point
    match = CONFORMANT_METER.fullmatch(text)
    if meter_point is None or match is None:
        return None
    serial, reading_type = match.groups()
    if reading_type not in codes.READING_TYPES or reading_type in codes.READING_TYPES_NOT_IN_D0010:
        return None
    events = h.close_reading()
    summary.group_count += 1
    summary.meter_count += 1
    meter = MeterRecord(number, meter_point.mpan_core, serial, reading_type)
    h.open_meter(meter)
    events.append(meter)
    return events
