"""Where a file is in the 026 > 028 > 030 hierarchy: each level's open record, or the
line where it was rejected, and the transitions between them.

Both the general path (``groups``) and the fast path (``fast_path``) move through the
hierarchy with these transitions only, so the rules of what closes what are written once:
a 026 closes the MPAN before it (and its meter and reading), a 028 closes the reading
before it, a 030 the reading before it. A record is yielded when it closes, once any
032 or 033 under it has been added.
"""

from meter_readings.d0010.findings import Finding, FindingCode, error
from meter_readings.d0010.items import J0003
from meter_readings.d0010.records import (
    MeterPointRecord,
    MeterRecord,
    ParseEvent,
    ParseSummary,
    RegisterReading,
)


class Hierarchy:
    """One file's open 026, 028 and 030, and the lines where any was rejected."""

    __slots__ = (
        "summary",
        "meter_point",
        "meter_point_rejected_at",
        "meter_point_has_meter",
        "meter",
        "meter_rejected_at",
        "reading",
        "reading_rejected_at",
        "reading_has_validation",
    )

    def __init__(self, summary: ParseSummary) -> None:
        self.summary = summary
        self.meter_point: MeterPointRecord | None = None
        self.meter_point_rejected_at: int | None = None
        self.meter_point_has_meter = True
        self.meter: MeterRecord | None = None
        self.meter_rejected_at: int | None = None
        self.reading: RegisterReading | None = None
        self.reading_rejected_at: int | None = None
        self.reading_has_validation = False

    # -- readings ------------------------------------------------------------------

    def replace_reading(self, record: RegisterReading | None) -> RegisterReading | None:
        """Close the open reading (returned, for the caller to yield); open ``record``."""
        previous = self.reading
        if previous is not None:
            self.summary.readings_parsed += 1
        self.reading_rejected_at = None
        self.reading_has_validation = False
        self.reading = record
        return previous

    def close_reading(self) -> list[ParseEvent]:
        # replace_reading(None), written out: this runs for every 026 and 028. Lists,
        # not generators, for the same reason.
        previous = self.reading
        self.reading_rejected_at = None
        self.reading_has_validation = False
        if previous is None:
            return []
        self.summary.readings_parsed += 1
        self.reading = None
        return [previous]

    def reject_reading(self, number: int) -> list[ParseEvent]:
        """A 030 that cannot be read: it closes the reading before it all the same."""
        closed = self.close_reading()
        self.reading_rejected_at = number
        return closed

    # -- meters --------------------------------------------------------------------

    def open_meter(self, record: MeterRecord) -> None:
        self.meter_point_has_meter = True
        self.meter_rejected_at = None
        self.meter = record

    def reject_meter(self, number: int) -> None:
        """A 028 that cannot be read: its 030s are skipped, naming it."""
        self.meter_point_has_meter = True
        self.meter = None
        self.meter_rejected_at = number

    # -- meter points --------------------------------------------------------------

    def close_meter_point(self) -> list[ParseEvent]:
        closed = self.close_reading()
        if self.meter_point is not None and not self.meter_point_has_meter:
            # The DTC's range for 028 under a 026 is 1-*.
            closed.append(
                error(
                    self.meter_point.line_number,
                    FindingCode.MPAN_WITHOUT_METER,
                    f"026 MPAN {self.meter_point.mpan_core} has no 028 meter line "
                    "(a D0010 026 carries at least one)",
                    J0003,
                )
            )
        self.meter_point = None
        self.meter_point_rejected_at = None
        self.meter = None
        self.meter_rejected_at = None
        return closed

    def open_meter_point(self, record: MeterPointRecord) -> None:
        self.meter_point = record
        self.meter_point_has_meter = False

    def reject_meter_point(self, number: int) -> None:
        """A 026 that cannot be read: its meters and readings are skipped, naming it."""
        self.meter_point_rejected_at = number


def parent_missing(number: int, group: str, parent: str, rejected_at: int | None) -> Finding:
    """The finding for a line whose parent is absent, or was rejected at ``rejected_at``."""
    if rejected_at is not None:
        return error(
            number,
            FindingCode.PARENT_REJECTED,
            f"{group} skipped: its parent {parent} at line {rejected_at} was rejected",
            group,
        )
    return error(
        number,
        FindingCode.ORPHAN_GROUP,
        f"{group} has no parent {parent} line before it; the line was skipped",
        group,
    )
