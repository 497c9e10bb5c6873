"""Check registers read back from the database, and keep their exceptions true.

Set-wise: the registers to check (``Touched``: a batch's lines, or a list of meters) are
read back in one query (their current readings from ``look_back_days`` before the
earliest read to check, and the latest valid one before that), checked in one pass each
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

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from simple_history.utils import bulk_create_with_history

from meter_readings.services.exception_workflow import save_changes

from meter_readings.models import (
    UNRESOLVED_STATUSES,
    ExceptionStatus,
    FlowFile,
    Reading,
    ReadingException,
)
from meter_readings.services._checks_sql import (
    VALID_READING_SQL,
    chunks,
    days_before,
    in_gb_time,
    unchanged,
    utc_from_text,
)
from meter_readings.services._read_state import raise_read_state, recompute_read_state
from meter_readings.validation import (
    Advance,
    Failure,
    Rule,
    SeriesReading,
    Thresholds,
    Verdict,
    check_register,
)
from meter_readings.validation.rules import REASON_CODES

# Rules the series pass decides (and so can undecide on a re-check); the other two are
# decided once, when the reading arrives.
SERIES_RULES = frozenset(Rule) - {Rule.REGISTER_DATES, Rule.CONFLICTING_SENDERS}


type RegisterKey = tuple[int, str]  # (meter id, register id)


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

    def look_back(self, touched: Touched) -> tuple[str, list[Any]]:
        """The query of ``held_readings``, and its parameters.

        On PostgreSQL, the current-reading key's index carries every column it reads of
        the reading table (migration 0008): the look-back is an index-only scan, a page
        or two a register, where reading the table would cost a page a reading.
        """
        valid_w = VALID_READING_SQL.format(table="w")
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
            f"{days_before('t0.since')} AS window_start FROM ({touched.sql}) t0) t "
            "JOIN meter_readings_reading r ON r.meter_id = t.meter_id "
            "AND r.register_id = t.register_id AND r.is_superseded = %s "
            "AND r.read_at >= COALESCE((SELECT MAX(w.read_at) FROM meter_readings_reading w "
            "WHERE w.meter_id = t.meter_id AND w.register_id = t.register_id "
            f"AND w.read_at < t.window_start AND w.is_superseded = %s AND {valid_w}), "
            "t.window_start) "
            "JOIN meter_readings_meter m ON m.id = r.meter_id "
            "ORDER BY r.meter_id, r.register_id, r.read_at"
        )
        return sql, [self.limits.look_back_days, *touched.params, False, False, True, True]

    def held_readings(self, touched: Touched) -> list[HeldRegister]:
        """Each touched register's current readings in time order, in one query: from
        ``look_back_days`` before ``since``, and the latest valid one before that."""
        sql, params = self.look_back(touched)
        sqlite = connection.vendor == "sqlite"
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        files = self._files({row[10] for row in rows})
        time = utc_from_text if sqlite else unchanged
        value = Decimal if sqlite else unchanged
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
        for chunk in chunks(sorted(ids)):
            for pk, created, participant, role in FlowFile.objects.filter(pk__in=chunk).values_list(
                "pk", "file_created_at", "from_participant_id", "from_role_code"
            ):
                files[pk] = (created, f"{role}/{participant}" if participant else "")
        return files

    def held_exceptions(self, touched: Touched) -> list[ReadingException]:
        """The touched registers' unresolved exceptions, and every exception of a
        reading to be checked (a rule failing again must not raise a second)."""
        # Each touched register probes the (meter, register, read time) index.
        ids_sql = (
            f"SELECT e.id FROM ({touched.sql}) t "
            "JOIN meter_readings_readingexception e ON e.meter_id = t.meter_id "
            "AND e.register_id = t.register_id "
            "AND (e.status IN (%s, %s) OR e.read_at >= t.since)"
        )
        with connection.cursor() as cursor:
            cursor.execute(ids_sql, [*touched.params, *UNRESOLVED_STATUSES])
            ids = [row[0] for row in cursor.fetchall()]
        found: list[ReadingException] = []
        for chunk in chunks(ids):
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
        for chunk in chunks([held.supersedes_id for held in superseding]):
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
        for chunk in chunks(sorted(failing)):
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
        save_changes(
            changed,
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
            f"{in_gb_time(later.series.read_at):%Y-%m-%d %H:%M} (reading "
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
