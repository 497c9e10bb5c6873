"""One reader per group: a line's data items to a record, under the open hierarchy.

Each reader moves through the hierarchy with its transitions (``hierarchy``) and yields
its findings and the records that close. Conformant 026, 028 and 030 lines are usually
read by ``fast_path`` instead, through the same transitions; these readers give every
finding.
"""

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Final

from meter_readings.d0010 import codes
from meter_readings.d0010.findings import FindingCode, error, warning
from meter_readings.d0010.hierarchy import Hierarchy, parent_missing
from meter_readings.d0010.items import (
    J0003,
    J0004,
    J0010,
    J0012,
    J0016,
    J0022,
    J0024,
    J0040,
    J0044,
    J0045,
    J0047,
    J0171,
    J0332,
    J1013,
    J1888,
    read_boolean,
    read_code,
    read_datetime,
)
from meter_readings.d0010.localtime import ClockChangeIssue, InvalidDtcDateTime
from meter_readings.d0010.mpan import check_mpan_core, is_well_formed_core
from meter_readings.d0010.records import (
    MeterPointRecord,
    MeterRecord,
    ParseEvent,
    RegisterReading,
    SiteVisitRecord,
)
from meter_readings.d0010.values import (
    InvalidRegisterReading,
    NegativeRegisterReading,
    parse_register_reading,
)

MAX_SITE_VISITS_PER_READING: Final = 100


def meter_point(h: Hierarchy, number: int, data: list[str]) -> Iterator[ParseEvent]:
    """026: an MPAN core and its BSC validation status."""
    yield from h.close_meter_point()
    h.summary.meter_point_count += 1
    # Rejected or not, it is not an MPAN without a meter.
    h.meter_point_has_meter = True
    core, status = data[0], data[1]
    if not is_well_formed_core(core):
        h.reject_meter_point(number)
        yield error(
            number,
            FindingCode.INVALID_MPAN_CORE,
            f"MPAN core {core!r} is not 13 digits; the MPAN and its readings were skipped",
            J0003,
        )
        return
    check = check_mpan_core(core)
    if check.check_digit_valid is False:
        yield warning(
            number,
            FindingCode.MPAN_CHECK_DIGIT,
            f"MPAN core {core} fails its check digit",
            J0003,
        )
    if not check.known_distributor:
        yield warning(
            number,
            FindingCode.UNKNOWN_DISTRIBUTOR,
            f"MPAN core {core} has distributor id {check.distributor_id}, "
            "which is not a known DNO, IDNO or AMSID prefix",
            J0003,
        )
    status = yield from read_code(number, status, codes.BSC_VALIDATION_STATUSES, J0022, 1)
    record = MeterPointRecord(
        line_number=number,
        mpan_core=core,
        bsc_validation_status=status,
        distributor_id=check.distributor_id,
        check_digit_valid=check.check_digit_valid,
        is_amsid=check.is_amsid,
    )
    h.open_meter_point(record)
    yield record


def meter(h: Hierarchy, number: int, data: list[str]) -> Iterator[ParseEvent]:
    """028: a meter serial and the reading type of the readings under it."""
    yield from h.close_reading()
    meter_point = h.meter_point
    if meter_point is None:
        h.meter = None
        h.meter_rejected_at = number
        yield parent_missing(number, "028", "026", h.meter_point_rejected_at)
        return
    h.summary.meter_count += 1
    serial, reading_type = data[0], data[1]
    if not serial or len(serial) > 10:
        h.reject_meter(number)
        yield error(
            number,
            FindingCode.INVALID_VALUE,
            f"Meter Id {serial!r} must be 1 to 10 characters; the meter and its "
            "readings were skipped",
            J0004,
        )
        return
    reading_type = yield from read_code(number, reading_type, codes.READING_TYPES, J0171, 1)
    if reading_type in codes.READING_TYPES_NOT_IN_D0010:
        yield warning(
            number,
            FindingCode.UNKNOWN_CODE,
            f"Reading Type {reading_type!r} is only allowed in D0071 and D0300, not in D0010",
            J0171,
        )
    record = MeterRecord(
        line_number=number,
        mpan_core=meter_point.mpan_core,
        serial_number=serial,
        reading_type=reading_type,
    )
    h.open_meter(record)
    yield record


def register_reading(h: Hierarchy, number: int, data: list[str]) -> Iterator[ParseEvent]:
    """030: a register reading, under the open 028 (the general path, with findings)."""
    yield from h.reject_reading(number)
    h.summary.reading_lines += 1
    meter, meter_point = h.meter, h.meter_point
    if meter is None or meter_point is None:
        if meter_point is None and h.meter_rejected_at is None:
            yield parent_missing(number, "030", "026", h.meter_point_rejected_at)
        else:
            yield parent_missing(number, "030", "028", h.meter_rejected_at)
        return
    register_id, read_at_text, value_text, md_at_text, md_count_text, flag, method = data[:7]
    problems = []
    if not (1 <= len(register_id) <= 2 and register_id.isascii() and register_id.isalnum()):
        problems.append(
            error(
                number,
                FindingCode.INVALID_VALUE,
                f"Meter Register Id {register_id!r} must be 1 or 2 letters or digits",
                J0010,
            )
        )
    read_at = None
    try:
        read_at = read_datetime(read_at_text)
    except InvalidDtcDateTime as problem:
        problems.append(
            error(number, FindingCode.INVALID_VALUE, f"Reading Date & Time {problem}", J0016)
        )
    value = None
    try:
        value, note = parse_register_reading(value_text)
    except NegativeRegisterReading as problem:
        problems.append(
            error(number, FindingCode.NEGATIVE_READING, f"Register Reading {problem}", J0040)
        )
    except InvalidRegisterReading as problem:
        problems.append(
            error(number, FindingCode.INVALID_VALUE, f"Register Reading {problem}", J0040)
        )
    if problems or read_at is None or value is None:
        yield from problems
        yield error(
            number,
            FindingCode.INVALID_VALUE,
            f"reading for MPAN {meter_point.mpan_core} meter {meter.serial_number!r} "
            "register "
            f"{register_id!r} was not stored",
            "030",
        )
        return
    if note:
        yield warning(number, FindingCode.READING_FORMAT, f"Register Reading {note}", J0040)
    if read_at.clock_change_issue is ClockChangeIssue.AMBIGUOUS:
        yield warning(
            number,
            FindingCode.CLOCK_CHANGE_AMBIGUOUS,
            f"Reading Date & Time {read_at_text} falls in the hour the clocks go back; "
            "it was read as British Summer Time (the first occurrence)",
            J0016,
        )
    elif read_at.clock_change_issue is ClockChangeIssue.NON_EXISTENT:
        yield warning(
            number,
            FindingCode.CLOCK_CHANGE_NON_EXISTENT,
            f"Reading Date & Time {read_at_text} falls in the hour skipped when the clocks "
            "go forward; it was read as GMT",
            J0016,
        )
    md_reset_at = None
    if md_at_text:
        try:
            md_reset_at = read_datetime(md_at_text).value
        except InvalidDtcDateTime as problem:
            yield warning(
                number,
                FindingCode.VALUE_IGNORED,
                f"MD Reset Date & Time {problem}; it was not stored",
                J0044,
            )
    md_reset_count = None
    if md_count_text:
        if md_count_text.isascii() and md_count_text.isdigit() and len(md_count_text) <= 3:
            md_reset_count = int(md_count_text)
        else:
            yield warning(
                number,
                FindingCode.VALUE_IGNORED,
                f"Number of MD Resets {md_count_text!r} is not a number of up to 3 digits; "
                "it was not stored",
                J1013,
            )
    reading_flag = yield from read_boolean(number, flag, J0045)
    method = yield from read_code(number, method, codes.READING_METHODS, J1888, 1)
    h.replace_reading(
        reading_under(
            meter_point,
            meter,
            number,
            register_id,
            read_at.value,
            value,
            md_reset_at,
            md_reset_count,
            reading_flag,
            method,
        )
    )


def validation_result(h: Hierarchy, number: int, data: list[str]) -> Iterator[ParseEvent]:
    """032: the validation result of the open 030 (at most one)."""
    reading = h.reading
    if reading is None:
        if h.reading_rejected_at is not None:
            yield parent_missing(number, "032", "030", h.reading_rejected_at)
        else:
            yield parent_missing(number, "032", "030", None)
        return
    if h.reading_has_validation:
        yield error(
            number,
            FindingCode.DUPLICATE_VALIDATION_RESULT,
            f"a second 032 for the 030 at line {reading.line_number} was ignored",
            "032",
        )
        return
    h.reading_has_validation = True
    reason, status = data[0], data[1]
    reading.validation_reason_code = yield from read_code(
        number, reason, codes.VALIDATION_REASON_CODES, J0332, 2
    )
    reading.validation_status = yield from read_boolean(number, status, J0047)


def site_visit(h: Hierarchy, number: int, group: str, data: list[str]) -> Iterator[ParseEvent]:
    """027, 029 or 033: site visit information at MPAN, meter or reading level."""
    check_code, information = data[0], data[1]
    if group != "033":
        # A 027 or 029 closes the reading before it: 032/033 cannot follow it.
        yield from h.close_reading()
    parent: MeterPointRecord | MeterRecord | RegisterReading | None
    if group == "027":
        parent, parent_group, rejected_at = (
            h.meter_point,
            "026",
            h.meter_point_rejected_at,
        )
    elif group == "029":
        parent, parent_group, rejected_at = h.meter, "028", h.meter_rejected_at
    else:
        parent, parent_group, rejected_at = h.reading, "030", h.reading_rejected_at
    if parent is None or h.meter_point is None:
        yield parent_missing(number, group, parent_group, rejected_at)
        return
    check_code = yield from read_code(number, check_code, codes.SITE_VISIT_CHECK_CODES, J0024, 2)
    if len(information) > 200:
        yield warning(
            number,
            FindingCode.READING_FORMAT,
            f"Additional Information is {len(information)} characters; CHAR(200) allows "
            "200 (stored in full)",
            J0012,
        )
    visit = SiteVisitRecord(
        line_number=number,
        group_code=group,
        check_code=check_code,
        additional_information=information,
        mpan_core=h.meter_point.mpan_core,
    )
    if group == "027":
        yield visit
        return
    assert h.meter is not None
    visit.serial_number = h.meter.serial_number
    if group == "029":
        yield visit
        return
    assert h.reading is not None
    visit.reading_line_number = h.reading.line_number
    if len(h.reading.site_visits) >= MAX_SITE_VISITS_PER_READING:
        yield error(
            number,
            FindingCode.INVALID_VALUE,
            f"more than {MAX_SITE_VISITS_PER_READING} 033 lines under the 030 at line "
            f"{h.reading.line_number}; this one was skipped",
            "033",
        )
        return
    if not h.reading.site_visits:
        h.reading.site_visits = []
    h.reading.site_visits.append(visit)


def reading_under(
    meter_point: MeterPointRecord,
    meter: MeterRecord,
    line_number: int,
    register_id: str,
    read_at: datetime,
    value: Decimal,
    md_reset_at: datetime | None,
    md_reset_count: int | None,
    reading_flag: bool | None,
    reading_method: str,
) -> RegisterReading:
    """A 030's record, carrying the context its 026 and 028 give every reading."""
    # Positional, in the record's field order: this runs for nearly every line.
    return RegisterReading(
        line_number,
        meter_point.mpan_core,
        meter.serial_number,
        meter.reading_type,
        meter_point.bsc_validation_status,
        register_id,
        read_at,
        value,
        md_reset_at,
        md_reset_count,
        reading_flag,
        reading_method,
    )
