"""Run the reading checks on the registers an import touched, and keep the queue true.

Set-wise per batch: the registers a batch of readings touched are read back in a few
queries (their current readings from ``look_back_days`` before the batch's earliest
read, and the latest valid one before that), checked in one pass each
(``meter_readings.validation``), and the outcome stored in bulk:

- an exception for each new failure (one per reading and rule);
- an unresolved exception whose reading no longer fails its rule after a late read is
  auto-resolved, as is every unresolved exception of a register before a later valid
  actual reading that passes every check;
- an exception whose reading is superseded moves to the new reading if that fails the
  same rule, and is auto-resolved otherwise; the history says which;
- each meter point's last valid actual read time, for the stale-read report.

Every exception change goes through django-simple-history's bulk helpers, so the audit
trail has every state an exception was in, with who (the checks: no user) and why.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from meter_readings.d0010 import FindingCode, RegisterReading
from meter_readings.d0010.findings import Finding, warning
from meter_readings.d0010.localtime import LONDON
from meter_readings.models import (
    UNRESOLVED_STATUSES,
    ExceptionStatus,
    FlowFile,
    Meter,
    MeterPointReadState,
    Reading,
    ReadingException,
)
from meter_readings.validation import (
    Advance,
    Failure,
    Rule,
    SeriesReading,
    Thresholds,
    Verdict,
    check_register,
    is_actual,
    may_fail_alone,
    reading_failures,
    register_dates,
)
from meter_readings.validation.rules import REASON_CODES, WITHDRAWN

# Rules the series pass decides (and so can undecide on a re-check); the other two are
# decided once, when the reading arrives.
SERIES_RULES = frozenset(Rule) - {Rule.REGISTER_DATES, Rule.CONFLICTING_SENDERS}
# Ids per IN list: well under every database's parameter limit.
IDS_PER_QUERY = 2000

type RegisterKey = tuple[int, str]  # (meter id, register id)

# SeriesReading.is_valid, in SQL (booleans as parameters: true, true).
_VALID = (
    "{table}.reading_type <> 'W' AND {table}.bsc_validation_status <> 'F' "
    "AND ({table}.reading_flag IS NULL OR {table}.reading_flag = %s "
    "OR {table}.validation_status = %s)"
)


def thresholds() -> Thresholds:
    """The thresholds in force (``D0010_VALIDATION`` over the defaults)."""
    return Thresholds.from_settings(settings.D0010_VALIDATION)


@dataclass(slots=True)
class HeldReading:
    """A stored reading, as the checks read it back."""

    series: SeriesReading
    meter_id: int
    register_id: str
    flow_file_id: int
    line_number: int
    supersedes_id: int | None
    sender: str


@dataclass(slots=True)
class HeldRegister:
    """A touched register's readings, and what the checks need of its meter."""

    key: RegisterKey
    since: datetime
    meter_point_id: int
    register_digits: int | None
    readings: list[HeldReading] = field(default_factory=list)


@dataclass
class CheckCounts:
    raised: int = 0
    auto_resolved: int = 0
    moved: int = 0
    registers: int = 0


def _local(moment: datetime) -> datetime:
    return moment.astimezone(LONDON)


def _chunks(items: list[Any], size: int = IDS_PER_QUERY) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _utc_from_text(text: str) -> datetime:
    # Django keeps SQLite's times as naive UTC text.
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _same(value: Any) -> Any:
    return value


class Touched:
    """Which registers to check, from when: a SQL query of (meter_id, register_id, since).

    ``since`` is the earliest read time to check; the readings before it (back to
    ``look_back_days``, and the latest valid one before that) are context.
    """

    def __init__(self, sql: str, params: list[Any]) -> None:
        self.sql = sql
        self.params = params

    @classmethod
    def lines_of_file(cls, *, flow_file_id: int, first_line: int, last_line: int) -> "Touched":
        """The registers of a file's readings on lines ``first_line``..``last_line``."""
        return cls(
            "SELECT meter_id, register_id, MIN(read_at) AS since FROM meter_readings_reading "
            "WHERE flow_file_id = %s AND line_number BETWEEN %s AND %s "
            "GROUP BY meter_id, register_id",
            [flow_file_id, first_line, last_line],
        )

    @classmethod
    def listed_lines(cls, *, flow_file_id: int, lines: list[int]) -> "Touched":
        """The registers of a file's readings on ``lines``."""
        return cls(
            "SELECT meter_id, register_id, MIN(read_at) AS since FROM meter_readings_reading "
            f"WHERE flow_file_id = %s AND line_number IN ({', '.join(['%s'] * len(lines))}) "
            "GROUP BY meter_id, register_id",
            [flow_file_id, *lines],
        )

    @classmethod
    def meters(cls, meter_ids: list[int]) -> "Touched":
        """Every register of ``meter_ids``, from its first reading."""
        return cls(
            "SELECT meter_id, register_id, MIN(read_at) AS since FROM meter_readings_reading "
            f"WHERE meter_id IN ({', '.join(['%s'] * len(meter_ids))}) "
            "GROUP BY meter_id, register_id",
            list(meter_ids),
        )


def _days_before(column: str) -> str:
    """SQL for ``column`` less %s days, in the connection's dialect."""
    if connection.vendor == "postgresql":
        return f"({column} - make_interval(days => %s))"
    return f"datetime({column}, '-' || %s || ' days')"


class RegisterChecker:
    """Checks registers and keeps the exceptions, within the caller's transaction.

    One per import (``ImportChecks`` below) or per re-check (``check_readings``);
    ``now`` is when its exceptions were raised or changed.
    """

    def __init__(self, *, now: datetime, limits: Thresholds | None = None) -> None:
        self.now = now
        self.limits = limits or thresholds()
        self.counts = CheckCounts()

    # -- reading back --------------------------------------------------------------

    def held_readings(self, touched: Touched) -> list[HeldRegister]:
        """Each touched register's current readings in time order, in one query: from
        ``look_back_days`` before ``since``, and the latest valid one before that."""
        valid_w = _VALID.format(table="w")
        sqlite = connection.vendor == "sqlite"
        # On SQLite, times and values as text: Django's converters for the declared
        # types parse each with a regular expression, several times slower.
        as_text = "CAST({} AS TEXT)" if sqlite else "{}"
        sql = (
            f"SELECT r.id, r.meter_id, r.register_id, {as_text.format('r.read_at')}, "
            f"{as_text.format('r.value')}, r.reading_type, "
            "r.bsc_validation_status, r.reading_flag, r.validation_reason_code, "
            "r.validation_status, r.flow_file_id, r.line_number, r.supersedes_id, "
            f"{as_text.format('t.since')}, m.meter_point_id, m.register_digits "
            "FROM (SELECT t0.meter_id, t0.register_id, t0.since, "
            f"{_days_before('t0.since')} AS window_start FROM ({touched.sql}) t0) t "
            "JOIN meter_readings_reading r ON r.meter_id = t.meter_id "
            "AND r.register_id = t.register_id AND r.is_superseded = %s "
            "AND r.read_at >= COALESCE((SELECT MAX(w.read_at) FROM meter_readings_reading w "
            "WHERE w.meter_id = t.meter_id AND w.register_id = t.register_id "
            f"AND w.read_at < t.window_start AND w.is_superseded = %s AND {valid_w}), "
            "t.window_start) "
            "JOIN meter_readings_meter m ON m.id = r.meter_id "
            "ORDER BY r.meter_id, r.register_id, r.read_at"
        )
        params = [self.limits.look_back_days, *touched.params, False, False, True, True]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        files = self._files({row[10] for row in rows})
        time = _utc_from_text if sqlite else _same
        value = Decimal if sqlite else _same
        registers: list[HeldRegister] = []
        current: HeldRegister | None = None
        for row in rows:
            key = (row[1], row[2])
            if current is None or current.key != key:
                current = HeldRegister(
                    key=key, since=time(row[13]), meter_point_id=row[14], register_digits=row[15]
                )
                registers.append(current)
            created, sender = files[row[10]]
            current.readings.append(
                HeldReading(
                    SeriesReading(
                        row[0],
                        time(row[3]),
                        value(row[4]),
                        row[5],
                        row[6],
                        row[7],
                        row[8],
                        row[9],
                        created,
                    ),
                    row[1],
                    row[2],
                    row[10],
                    row[11],
                    row[12],
                    sender,
                )
            )
        return registers

    def _files(self, ids: set[int]) -> dict[int, tuple[datetime | None, str]]:
        """Each flow file's creation time (J0280) and sender."""
        files = {}
        for chunk in _chunks(sorted(ids)):
            for pk, created, participant, role in FlowFile.objects.filter(pk__in=chunk).values_list(
                "pk", "file_created_at", "from_participant_id", "from_role_code"
            ):
                files[pk] = (created, f"{role}/{participant}" if participant else "")
        return files

    def held_exceptions(self, touched: Touched) -> list[ReadingException]:
        """The touched registers' unresolved exceptions, and every exception of a
        reading to be checked (a rule failing again must not raise a second)."""
        ids_sql = (
            "SELECT e.id FROM meter_readings_readingexception e "
            f"JOIN ({touched.sql}) t ON e.meter_id = t.meter_id "
            "AND e.register_id = t.register_id "
            "WHERE e.status IN (%s, %s) OR e.read_at >= t.since"
        )
        with connection.cursor() as cursor:
            cursor.execute(ids_sql, [*touched.params, *UNRESOLVED_STATUSES])
            ids = [row[0] for row in cursor.fetchall()]
        found: list[ReadingException] = []
        for chunk in _chunks(ids):
            found.extend(ReadingException.objects.filter(pk__in=chunk).order_by("pk"))
        return found

    # -- checking ------------------------------------------------------------------

    def check(self, touched: Touched) -> list[HeldReading]:
        """Check every reading of each touched register read at or after its ``since``.

        Returns the readings checked.
        """
        registers = self.held_readings(touched)
        if not registers:
            return []
        verdicts: list[tuple[HeldReading, Verdict]] = []
        for register in registers:
            readings = register.readings
            checked = check_register(
                [held.series for held in readings],
                thresholds=self.limits,
                known_digits=register.register_digits,
                check_from=register.since,
            )
            # The verdicts are on the last readings (from ``since``), in time order.
            verdicts.extend(zip(readings[len(readings) - len(checked) :], checked, strict=True))
        self.counts.registers += len(registers)
        conflicts = self._conflicting_senders([held for held, _ in verdicts])
        meter_points = {register.key[0]: register.meter_point_id for register in registers}
        self._store(verdicts, conflicts, meter_points, self.held_exceptions(touched))
        self._update_read_state(registers)
        return [held for held, _ in verdicts]

    def _update_read_state(self, registers: list[HeldRegister]) -> None:
        """Raise each meter point's last valid actual read time to the latest seen.

        Where a checked reading superseded another (a withdrawal, a correction), the
        latest may have been taken away: those meter points are recomputed.
        """
        latest: dict[int, datetime | None] = {}
        recompute: set[int] = set()
        for register in registers:
            meter_point_id = register.meter_point_id
            best = latest.get(meter_point_id)
            for held in register.readings:
                reading = held.series
                if held.supersedes_id is not None and reading.read_at >= register.since:
                    recompute.add(meter_point_id)
                if reading.is_actual and (best is None or reading.read_at > best):
                    best = reading.read_at
            latest[meter_point_id] = best
        raise_read_state([(pk, at) for pk, at in latest.items() if pk not in recompute])
        if recompute:
            recompute_read_state(sorted(recompute))

    def _conflicting_senders(self, checked: list[HeldReading]) -> dict[int, Failure]:
        """Readings that replaced another sender's different value for the same read."""
        superseding = [held for held in checked if held.supersedes_id is not None]
        if not superseding:
            return {}
        earlier: dict[int, tuple[Decimal, str, str]] = {}
        for chunk in _chunks([held.supersedes_id for held in superseding]):
            for pk, value, role, participant, filename in Reading.objects.filter(
                pk__in=chunk
            ).values_list(
                "pk",
                "value",
                "flow_file__from_role_code",
                "flow_file__from_participant_id",
                "flow_file__filename",
            ):
                sender = f"{role}/{participant}" if participant else ""
                earlier[pk] = (value, sender, filename)
        conflicts = {}
        for held in superseding:
            assert held.supersedes_id is not None
            value, sender, filename = earlier[held.supersedes_id]
            if (
                sender
                and held.sender
                and sender != held.sender
                and value != held.series.value
                and not held.series.is_withdrawal
            ):
                conflicts[held.series.reading_id] = Failure(
                    Rule.CONFLICTING_SENDERS,
                    REASON_CODES[Rule.CONFLICTING_SENDERS],
                    f"{held.sender} sends {held.series.value}; {sender} sent "
                    f"{value} in {filename!r}",
                )
        return conflicts

    def store_failures(self, flow_file: FlowFile, failing: dict[int, list[Failure]]) -> None:
        """Raise the exceptions of readings checked alone, by line of ``flow_file``."""
        verdicts: list[tuple[HeldReading, Verdict]] = []
        meter_points: dict[int, int] = {}
        for chunk in _chunks(sorted(failing)):
            for reading in Reading.objects.filter(
                flow_file=flow_file, line_number__in=chunk
            ).select_related("meter"):
                series = reading.as_series(file_created_at=flow_file.file_created_at)
                held = HeldReading(
                    series,
                    reading.meter_id,
                    reading.register_id,
                    flow_file.pk,
                    reading.line_number,
                    reading.supersedes_id,
                    flow_file.sender,
                )
                verdicts.append(
                    (held, Verdict(Advance(series), list(failing[reading.line_number])))
                )
                meter_points[reading.meter_id] = reading.meter.meter_point_id
        self._store(verdicts, {}, meter_points, [])

    # -- storing -------------------------------------------------------------------

    def _store(
        self,
        verdicts: list[tuple[HeldReading, Verdict]],
        conflicts: dict[int, Failure],
        meter_points: dict[int, int],
        held: list[ReadingException],
    ) -> None:
        failing: dict[tuple[int, str], tuple[HeldReading, Failure]] = {}
        for reading, verdict in verdicts:
            for failure in verdict.failures:
                failing[(reading.series.reading_id, failure.rule)] = (reading, failure)
            conflict = conflicts.get(reading.series.reading_id)
            if conflict is not None:
                failing[(reading.series.reading_id, conflict.rule)] = (reading, conflict)
        existing = {(exception.reading_id, exception.rule): exception for exception in held}
        changed: dict[int, ReadingException] = {}
        # Exceptions of superseded readings: moved to the new reading, or resolved.
        new_by_old = {
            reading.supersedes_id: reading
            for reading, _ in verdicts
            if reading.supersedes_id is not None
        }
        for exception in held:
            new = new_by_old.get(exception.reading_id)
            if new is None or exception.status not in UNRESOLVED_STATUSES:
                continue
            key = (new.series.reading_id, exception.rule)
            if key in failing and key not in existing:
                self._move(exception, new, failing.pop(key)[1])
                existing[key] = exception
                self.counts.moved += 1
            else:
                self._auto_resolve(
                    exception,
                    f"its reading was superseded by reading #{new.series.reading_id} "
                    f"(line {new.line_number} of flow file #{new.flow_file_id}), which "
                    + (
                        "has its own exception for this rule"
                        if key in existing or key in failing
                        else "does not fail this rule"
                    ),
                )
            changed[exception.pk] = exception
        # Re-checked: unresolved exceptions of a series rule that no longer fails.
        checked_ids = {reading.series.reading_id for reading, _ in verdicts}
        for (reading_id, rule), exception in existing.items():
            if (
                reading_id in checked_ids
                and rule in SERIES_RULES
                and (reading_id, rule) not in failing
                and exception.status in UNRESOLVED_STATUSES
                and exception.pk not in changed
            ):
                self._auto_resolve(exception, "re-checked after a late or corrected reading")
                changed[exception.pk] = exception
        # Resolved by a later valid actual reading of the register that passes every check.
        failing_ids = {reading_id for reading_id, _ in failing}
        passing: dict[RegisterKey, HeldReading] = {}
        for reading, verdict in verdicts:  # in time order per register
            if verdict.passes and reading.series.reading_id not in failing_ids:
                passing[(reading.meter_id, reading.register_id)] = reading
        for exception in held:
            later = passing.get((exception.meter_id, exception.register_id))
            if (
                later is not None
                and exception.pk not in changed
                and exception.status in UNRESOLVED_STATUSES
                and exception.read_at < later.series.read_at
            ):
                self._resolved_by(exception, later)
                changed[exception.pk] = exception
        new_exceptions = []
        for key, (reading, failure) in failing.items():
            if key in existing:
                continue
            exception = self._new_exception(reading, failure, meter_points)
            later = passing.get((reading.meter_id, reading.register_id))
            new_exceptions.append(exception)
            if later is not None and reading.series.read_at < later.series.read_at:
                # Raised and resolved at once (a file carrying a register's history):
                # both states are kept.
                exception._resolve_after_create = later  # type: ignore[attr-defined]
        if new_exceptions:
            bulk_create_with_history(
                new_exceptions, ReadingException, default_change_reason="raised by the checks"
            )
            self.counts.raised += len(new_exceptions)
            for exception in new_exceptions:
                later = getattr(exception, "_resolve_after_create", None)
                if later is not None:
                    self._resolved_by(exception, later)
                    changed[exception.pk] = exception
        self._save_changes(list(changed.values()))

    def _save_changes(self, changed: list[ReadingException]) -> None:
        if not changed:
            return
        self.counts.auto_resolved += sum(
            1 for exception in changed if exception.status == ExceptionStatus.AUTO_RESOLVED
        )
        bulk_update_with_history(
            changed,
            ReadingException,
            ["status", "note", "status_changed_at", "reading", "read_at", "detail"]
            + ["reason_code", "sender"],
        )

    def _new_exception(
        self, held: HeldReading, failure: Failure, meter_points: dict[int, int]
    ) -> ReadingException:
        return ReadingException(
            reading_id=held.series.reading_id,
            rule=failure.rule,
            reason_code=failure.reason_code,
            detail=failure.detail,
            status=ExceptionStatus.OPEN,
            raised_at=self.now,
            status_changed_at=self.now,
            meter_point_id=meter_points[held.meter_id],
            meter_id=held.meter_id,
            register_id=held.register_id,
            read_at=held.series.read_at,
            sender=held.sender,
        )

    def _resolved_by(self, exception: ReadingException, later: HeldReading) -> None:
        self._auto_resolve(
            exception,
            f"a later valid actual reading passed every check: {later.series.value} at "
            f"{_local(later.series.read_at):%Y-%m-%d %H:%M} (reading "
            f"#{later.series.reading_id}, line {later.line_number} of flow file "
            f"#{later.flow_file_id})",
        )

    def _auto_resolve(self, exception: ReadingException, why: str) -> None:
        exception.status = ExceptionStatus.AUTO_RESOLVED
        exception.note = f"Auto-resolved: {why}."
        exception.status_changed_at = self.now
        exception._change_reason = exception.note  # type: ignore[attr-defined]

    def _move(self, exception: ReadingException, new: HeldReading, failure: Failure) -> None:
        old_reading = exception.reading_id
        exception.reading_id = new.series.reading_id
        exception.read_at = new.series.read_at
        exception.detail = failure.detail
        exception.reason_code = failure.reason_code
        exception.sender = new.sender
        exception.status_changed_at = self.now
        exception.note = (
            f"Moved from reading #{old_reading}, superseded by reading "
            f"#{new.series.reading_id} (line {new.line_number} of flow file "
            f"#{new.flow_file_id}), which fails the same rule."
        )
        exception._change_reason = exception.note  # type: ignore[attr-defined]


@dataclass
class _GroupOf028:
    key: tuple[str, str, str]  # MPAN, serial, reading type
    lines: list[int] = field(default_factory=list)
    readings: list[tuple[str, datetime]] = field(default_factory=list)


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
        self._group: _GroupOf028 | None = None
        self._register_dates: list[tuple[int, str]] = []

    def after_batch(
        self,
        readings: list[RegisterReading],
        new_meter_runs: list[tuple[int, list[RegisterReading]]],
    ) -> None:
        """Check the registers ``readings`` touched (they are stored by now).

        A register of a meter this batch created, read once in it, has no other
        reading: only the rules of a reading alone apply, checked from the record
        without reading anything back. Every other register is read back and checked
        with its history.
        """
        self._collect_register_dates(readings)
        alone = self._readings_alone(new_meter_runs)
        if len(alone) < len(readings):
            lines_alone = {record.line_number for record in alone}
            lines = [r.line_number for r in readings if r.line_number not in lines_alone]
            if not alone:
                touched = Touched.lines_of_file(
                    flow_file_id=self.flow_file.pk, first_line=min(lines), last_line=max(lines)
                )
                self._check_with_history(touched)
            else:
                for chunk in _chunks(lines):
                    self._check_with_history(
                        Touched.listed_lines(flow_file_id=self.flow_file.pk, lines=chunk)
                    )
        if alone:
            self._check_alone(alone)

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

    def _check_alone(self, records: list[RegisterReading]) -> None:
        limits = self.checker.limits
        created = self.flow_file.file_created_at
        failing: dict[int, list[Failure]] = {}
        latest: dict[str, datetime | None] = {}
        for record in records:
            if may_fail_alone(
                record.bsc_validation_status,
                record.reading_flag,
                record.read_at,
                created=created,
                thresholds=limits,
            ):
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
        raise_read_state_by_mpan(latest)
        if failing:
            self.checker.store_failures(self.flow_file, failing)

    def _collect_register_dates(self, readings: list[RegisterReading]) -> None:
        # An 028 group's readings arrive together, in file order; a group can straddle
        # two batches, so the last one is carried over.
        for record in readings:
            key = (record.mpan_core, record.serial_number, record.reading_type)
            group = self._group
            if group is None or group.key != key or record.line_number < group.lines[-1]:
                self._close_group()
                group = self._group = _GroupOf028(key)
            group.lines.append(record.line_number)
            group.readings.append((record.register_id, record.read_at))

    def _close_group(self) -> None:
        group = self._group
        self._group = None
        if group is None or len(group.readings) < 2:
            return
        first_register, first_read_at = group.readings[0]
        for index in register_dates(group.readings):
            self._register_dates.append(
                (
                    group.lines[index],
                    f"read at {_local(group.readings[index][1]):%Y-%m-%d %H:%M}; register "
                    f"{first_register!r}, the first of its 028 group (line {group.lines[0]}), "
                    f"was read at {_local(first_read_at):%Y-%m-%d %H:%M}",
                )
            )

    def finish(self) -> CheckCounts:
        """Raise the file-level exceptions (registers read at different times)."""
        self._close_group()
        if self._register_dates:
            details = dict(self._register_dates)
            held = set(
                ReadingException.objects.filter(
                    reading__flow_file=self.flow_file, rule=Rule.REGISTER_DATES
                ).values_list("reading_id", flat=True)
            )
            new = [
                ReadingException(
                    reading=reading,
                    rule=Rule.REGISTER_DATES,
                    reason_code=REASON_CODES[Rule.REGISTER_DATES],
                    detail=details[reading.line_number],
                    status=ExceptionStatus.OPEN,
                    raised_at=self.checker.now,
                    status_changed_at=self.checker.now,
                    meter_point_id=reading.meter.meter_point_id,
                    meter_id=reading.meter_id,
                    register_id=reading.register_id,
                    read_at=reading.read_at,
                    sender=self.flow_file.sender,
                )
                for reading in Reading.objects.filter(
                    flow_file=self.flow_file, line_number__in=list(details)
                ).select_related("meter")
                if reading.pk not in held
            ]
            bulk_create_with_history(
                new, ReadingException, default_change_reason="raised by the checks"
            )
            self.checker.counts.raised += len(new)
        return self.checker.counts


# The later of the held and the new time (a NULL, no valid actual reading, replaces
# nothing but a NULL).
_RAISE_ON_CONFLICT = (
    "ON CONFLICT (meter_point_id) DO UPDATE SET last_actual_read_at = CASE "
    "WHEN {table}.last_actual_read_at IS NULL "
    "OR excluded.last_actual_read_at > {table}.last_actual_read_at "
    "THEN excluded.last_actual_read_at ELSE {table}.last_actual_read_at END"
)
# Rows per multi-row INSERT: two parameters each, well under SQLite's limit.
READ_STATE_ROWS_PER_STATEMENT = 2000


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


def raise_read_state_by_mpan(latest: dict[str, datetime | None]) -> None:
    """``raise_read_state`` for meter points named by MPAN core (a batch's new ones):
    joined to their ids in the same statement."""
    table = connection.ops.quote_name(MeterPointReadState._meta.db_table)
    if connection.vendor == "postgresql":
        # Two array parameters, not thousands of scalars: PostgreSQL plans a
        # statement's every parameter.
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) "
                "SELECT mp.id, v.read_at FROM unnest(%s::varchar[], %s::timestamptz[]) "
                "AS v(mpan_core, read_at) "
                "JOIN meter_readings_meterpoint mp ON mp.mpan_core = v.mpan_core "
                f"{_RAISE_ON_CONFLICT.format(table=table)}",
                [list(latest), list(latest.values())],
            )
        return
    adapt = _cached_adapter()
    read = [(mpan, at) for mpan, at in latest.items() if at is not None]
    never = [mpan for mpan, at in latest.items() if at is None]
    with connection.cursor() as cursor:
        for chunk in _chunks(read, READ_STATE_ROWS_PER_STATEMENT):
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) "
                "SELECT mp.id, v.column2 FROM (VALUES "
                + ", ".join(["(%s, %s)"] * len(chunk))
                + ") v JOIN meter_readings_meterpoint mp ON mp.mpan_core = v.column1 "
                f"WHERE 1 = 1 {_RAISE_ON_CONFLICT.format(table=table)}",
                [value for mpan, at in chunk for value in (mpan, adapt(at))],
            )
        for chunk in _chunks(never, READ_STATE_ROWS_PER_STATEMENT):
            # Read, but never validly and actually: a row, so the report can say so.
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) "
                "SELECT mp.id, NULL FROM meter_readings_meterpoint mp "
                f"WHERE mp.mpan_core IN ({', '.join(['%s'] * len(chunk))}) "
                "ON CONFLICT (meter_point_id) DO NOTHING",
                chunk,
            )


def _cached_adapter() -> Callable[[datetime], Any]:
    """The connection's datetime adaptation, once per distinct time (reads share days)."""
    adapt = connection.ops.adapt_datetimefield_value
    cache: dict[datetime, Any] = {}

    def adapted(moment: datetime) -> Any:
        value = cache.get(moment)
        if value is None:
            value = cache[moment] = adapt(moment)
        return value

    return adapted


def raise_read_state(latest: list[tuple[int, datetime | None]]) -> None:
    """Set each meter point's last valid actual read time to the later of the held and
    the given one.

    Multi-row statements, not executemany: on SQLite that hands the GIL over per row.
    """
    table = connection.ops.quote_name(MeterPointReadState._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for chunk in _chunks(latest, READ_STATE_ROWS_PER_STATEMENT):
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) VALUES "
                + ", ".join(["(%s, %s)"] * len(chunk))
                + " "
                + _RAISE_ON_CONFLICT.format(table=table),
                [value for pk, at in chunk for value in (pk, adapt(at))],
            )


def recompute_read_state(meter_point_ids: list[int]) -> None:
    """Set each meter point's last valid actual read time from its readings."""
    table = connection.ops.quote_name(MeterPointReadState._meta.db_table)
    actual = f"r.reading_type NOT IN ('D', 'O') AND {_VALID.format(table='r')}"
    for chunk in _chunks(meter_point_ids):
        marks = ", ".join(["%s"] * len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE meter_point_id IN ({marks})", chunk)
            cursor.execute(
                f"INSERT INTO {table} (meter_point_id, last_actual_read_at) "
                f"SELECT m.meter_point_id, MAX(CASE WHEN {actual} THEN r.read_at END) "
                "FROM meter_readings_meter m JOIN meter_readings_reading r "
                "ON r.meter_id = m.id AND r.is_superseded = %s "
                f"WHERE m.meter_point_id IN ({marks}) GROUP BY m.meter_point_id",
                [True, True, False, *chunk],
            )


def _withdrawal_of_nothing(line_number: int, read_at: datetime, register_id: str) -> Finding:
    return warning(
        line_number,
        FindingCode.WITHDRAWAL_OF_UNKNOWN_READING,
        f"reading type W withdraws register {register_id!r} at "
        f"{_local(read_at):%Y-%m-%d %H:%M:%S}, but no reading is held for it: nothing was "
        "withdrawn (the W is kept)",
        "J0171 Reading Type",
    )


def check_held_readings(
    *,
    mpan_core: str | None = None,
    meters_per_transaction: int = 2000,
    on_progress: Callable[[int], None] | None = None,
) -> CheckCounts:
    """Check every register of every meter held (or of ``mpan_core``'s), from its first
    reading, a transaction per ``meters_per_transaction`` meters; and recompute their
    meter points' last read. For ``manage.py check_readings``."""
    meters = Meter.objects.order_by("pk")
    if mpan_core is not None:
        meters = meters.filter(meter_point__mpan_core=mpan_core)
    total = CheckCounts()
    done = 0
    last_id = 0
    while True:
        chunk = list(
            meters.filter(pk__gt=last_id).values_list("pk", flat=True)[:meters_per_transaction]
        )
        if not chunk:
            return total
        with transaction.atomic():
            counts = check_meters(meter_ids=chunk, now=timezone.now())
        for name in ("raised", "auto_resolved", "moved", "registers"):
            setattr(total, name, getattr(total, name) + getattr(counts, name))
        done += len(chunk)
        last_id = chunk[-1]
        if on_progress is not None:
            on_progress(done)


def check_meters(*, meter_ids: list[int], now: datetime) -> CheckCounts:
    """Check every register of ``meter_ids`` from its first reading, and recompute
    their meter points' last read, in the caller's transaction."""
    checker = RegisterChecker(now=now)
    for chunk in _chunks(sorted(set(meter_ids))):
        checker.check(Touched.meters(chunk))
        recompute_read_state(
            sorted(set(Meter.objects.filter(pk__in=chunk).values_list("meter_point_id", flat=True)))
        )
    return checker.counts


def set_register_digits(*, meter: Meter, digits: int | None, now: datetime) -> CheckCounts:
    """Record how many integer digits ``meter``'s registers have, and re-check them.

    Raises ``ValueError`` for digits outside 1 to 10 (the model's constraint).
    """
    if digits is not None and not 1 <= digits <= 10:
        raise ValueError("register digits must be from 1 to 10")
    with transaction.atomic():
        Meter.objects.filter(pk=meter.pk).update(register_digits=digits)
        meter.register_digits = digits
        return check_meters(meter_ids=[meter.pk], now=now)
