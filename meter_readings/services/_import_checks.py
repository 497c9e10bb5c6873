"""The checks of one import, fed each batch the writer stored.

A register of a meter the batch created, read once in it, is checked from its record
alone (it has no other reading); every other register is read back and checked with its
history (``_register_checks``). The 028 groups' read times are compared as the batches
pass, and their exceptions raised when the file ends.
"""

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from itertools import groupby
from operator import attrgetter


from meter_readings.d0010 import FindingCode, RegisterReading
from meter_readings.d0010.findings import Finding, warning
from meter_readings.models import FlowFile
from meter_readings.services._checks_sql import chunks, in_gb_time
from meter_readings.services._read_state import raise_read_state_by_mpan
from meter_readings.services._register_checks import (
    CheckCounts,
    RegisterChecker,
    Touched,
)
from meter_readings.validation import (
    AloneScreen,
    Failure,
    Rule,
    SeriesReading,
    is_actual,
    reading_failures,
    register_dates,
)
from meter_readings.validation.rules import REASON_CODES, WITHDRAWN

# The readings of one 028 group: consecutive, with one MPAN, serial and reading type.
_GROUP_OF_028 = attrgetter("mpan_core", "serial_number", "reading_type")


class ImportChecks:
    """The checks of one import: fed each batch the writer stored, finished at the end."""

    def __init__(
        self,
        *,
        flow_file: FlowFile,
        on_finding: Callable[[Finding], None],
        now: datetime,
    ) -> None:
        self.flow_file = flow_file
        self.on_finding = on_finding
        self.checker = RegisterChecker(now=now)
        self._group: tuple[tuple[str, str, str], list[RegisterReading]] | None = None
        self._register_dates: list[tuple[int, str]] = []

    def after_batch(
        self,
        readings: list[RegisterReading],
        new_meter_runs: list[tuple[int, list[RegisterReading]]],
        *,
        meter_point_ids: dict[str, int] | None = None,
        created_meter_points: frozenset[str] = frozenset(),
    ) -> None:
        """Check the registers ``readings`` touched (they are stored by now).

        A register of a meter this batch created, read once in it, has no other
        reading: only the rules of a reading alone apply, checked from the record
        without reading anything back. Every other register is read back and checked
        with its history.
        """
        self._collect_register_dates(readings)
        alone = self._readings_alone(new_meter_runs)
        # Alone first: their new meter points' last reads are COPYed in, which the
        # registers checked with history then raise like any other.
        if alone:
            self._check_alone(alone, meter_point_ids, created_meter_points)
        if len(alone) < len(readings):
            lines_alone = {record.line_number for record in alone}
            lines = [r.line_number for r in readings if r.line_number not in lines_alone]
            if not alone:
                touched = Touched.lines_of_file(
                    flow_file_id=self.flow_file.pk, first_line=min(lines), last_line=max(lines)
                )
                self._check_with_history(touched)
            else:
                for chunk in chunks(lines):
                    self._check_with_history(
                        Touched.listed_lines(flow_file_id=self.flow_file.pk, lines=chunk)
                    )

    def _readings_alone(
        self, new_meter_runs: list[tuple[int, list[RegisterReading]]]
    ) -> list[RegisterReading]:
        alone = []
        for _, run in new_meter_runs:
            if len(run) == 1 or len({record.register_id for record in run}) == len(run):
                alone.extend(run)
                continue
            registers = Counter(record.register_id for record in run)
            alone.extend(record for record in run if registers[record.register_id] == 1)
        return alone

    def _check_with_history(self, touched: Touched) -> None:
        for held in self.checker.check(touched):
            if (
                held.series.reading_type == WITHDRAWN
                and held.supersedes_id is None
                and held.flow_file_id == self.flow_file.pk
            ):
                self.on_finding(
                    _withdrawal_of_nothing(held.line_number, held.series.read_at, held.register_id)
                )

    def _check_alone(
        self,
        records: list[RegisterReading],
        meter_point_ids: dict[str, int] | None,
        created_meter_points: frozenset[str],
    ) -> None:
        limits = self.checker.limits
        created = self.flow_file.file_created_at
        screen = AloneScreen(created=created, thresholds=limits)
        failing: dict[int, list[Failure]] = {}
        latest: dict[str, datetime | None] = {}
        for record in records:
            if record.reading_type == WITHDRAWN:
                # A new meter has no reading for a withdrawal to withdraw.
                self.on_finding(
                    _withdrawal_of_nothing(record.line_number, record.read_at, record.register_id)
                )
            if screen.may_fail(record.bsc_validation_status, record.reading_flag, record.read_at):
                failures = reading_failures(_series_of(record, created), limits)
                if failures:
                    failing[record.line_number] = failures
            mpan = record.mpan_core
            if is_actual(
                record.reading_type,
                record.bsc_validation_status,
                record.reading_flag,
                record.validation_status,
            ):
                best = latest.get(mpan)
                if best is None or record.read_at > best:
                    latest[mpan] = record.read_at
            elif mpan not in latest:
                latest[mpan] = None
        raise_read_state_by_mpan(
            latest, meter_point_ids=meter_point_ids, created=created_meter_points
        )
        if failing:
            self.checker.store_failures(self.flow_file, failing)

    def _collect_register_dates(self, readings: list[RegisterReading]) -> None:
        # An 028 group's readings arrive together, in file order; a group can straddle
        # two batches, so the last one is carried over.
        for key, run in groupby(readings, key=_GROUP_OF_028):
            members = list(run)
            group = self._group
            if group is not None:
                if group[0] == key and members[0].line_number > group[1][-1].line_number:
                    group[1].extend(members)
                    continue
                self._close_group()
            self._group = (key, members)

    def _close_group(self) -> None:
        group = self._group
        self._group = None
        if group is None:
            return
        members = group[1]
        # Most groups: one reading, or every register read at one time.
        if len(members) < 2 or all(r.read_at == members[0].read_at for r in members):
            return
        first = members[0]
        for index in register_dates([(r.register_id, r.read_at) for r in members]):
            self._register_dates.append(
                (
                    members[index].line_number,
                    f"read at {in_gb_time(members[index].read_at):%Y-%m-%d %H:%M}; register "
                    f"{first.register_id!r}, the first of its 028 group (line "
                    f"{first.line_number}), was read at {in_gb_time(first.read_at):%Y-%m-%d %H:%M}",
                )
            )

    def finish(self) -> CheckCounts:
        """Raise the file-level exceptions (registers read at different times)."""
        self._close_group()
        if self._register_dates:
            self.checker.store_failures(
                self.flow_file,
                {
                    line: [Failure(Rule.REGISTER_DATES, REASON_CODES[Rule.REGISTER_DATES], detail)]
                    for line, detail in self._register_dates
                },
            )
        return self.checker.counts


def _series_of(record: RegisterReading, created: datetime | None) -> SeriesReading:
    return SeriesReading(
        0,
        record.read_at,
        record.value,
        record.reading_type,
        record.bsc_validation_status,
        record.reading_flag,
        record.validation_reason_code,
        record.validation_status,
        created,
    )


def _withdrawal_of_nothing(line_number: int, read_at: datetime, register_id: str) -> Finding:
    return warning(
        line_number,
        FindingCode.WITHDRAWAL_OF_UNKNOWN_READING,
        f"reading type W withdraws register {register_id!r} at "
        f"{in_gb_time(read_at):%Y-%m-%d %H:%M:%S}, but no reading is held for it: nothing was "
        "withdrawn (the W is kept)",
        "J0171 Reading Type",
    )
