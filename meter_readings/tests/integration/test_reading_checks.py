"""The reading checks as imports run them: exceptions raised, moved and auto-resolved,
withdrawals, the last read of each meter point (services/reading_checks.py)."""

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from meter_readings.d0010 import FindingCode
from meter_readings.models import (
    ExceptionStatus,
    Meter,
    MeterPoint,
    MeterPointReadState,
    Reading,
    ReadingException,
)
from meter_readings.selectors import meter_point_consumption
from meter_readings.services import import_flow_file
from meter_readings.services._register_checks import RegisterChecker, Touched
from meter_readings.services.reading_checks import check_held_readings, set_register_digits
from meter_readings.tests.d0010_files import MPAN_A, MPAN_B, d0010_stream, reading_line
from meter_readings.tests.postgres import only_postgresql

pytestmark = pytest.mark.django_db(transaction=False)
_file_ids = itertools.count(1)
SERIAL = "F75A 00802"


def reads(*readings: tuple[str, str], reading_type: str = "R", serial: str = SERIAL, **line):
    """One MPAN and meter with ``readings`` as (YYYYMMDD, value) of register S."""
    return [f"026|{MPAN_A}|V|", f"028|{serial}|{reading_type}|"] + [
        reading_line("S", f"{day}000000", value, **line) for day, value in readings
    ]


def send(groups: list[str], *, sender: tuple[str, str] = ("D", "UDMS"), dry_run=False):
    number = next(_file_ids)
    return import_flow_file(
        stream=d0010_stream(groups, file_id=f"{number:010d}", sender=sender),
        filename=f"file_{number}.uff",
        received_at=datetime(2026, 3, 2, tzinfo=UTC),
        dry_run=dry_run,
    )


def exceptions(**filters) -> list[tuple[str, str, Decimal, str]]:
    """(rule, reason code, reading value, status) of each exception, oldest first."""
    return [
        (exception.rule, exception.reason_code, exception.reading.value, exception.status)
        for exception in ReadingException.objects.filter(**filters)
        .select_related("reading")
        .order_by("pk")
    ]


class TestAdvanceRules:
    def test_a_fall_across_two_files_raises_a_negative_advance_with_its_sender(self):
        send(reads(("20260101", "500.0")))

        report = send(reads(("20260201", "400.0")), sender=("D", "ABCD"))

        assert exceptions() == [("NEGATIVE_ADVANCE", "03", Decimal("400"), "OPEN")]
        exception = ReadingException.objects.get()
        assert exception.sender == "D/ABCD" and exception.meter_point.mpan_core == MPAN_A
        assert report.exceptions_raised == 1

    def test_99999_then_12_on_a_5_digit_register_rolls_over_without_an_exception(self):
        send(reads(("20260101", "99999.0"), ("20260201", "12.0")))

        assert exceptions() == []
        [register] = meter_point_consumption(meter_point=MeterPoint.objects.get())
        last = register["advances"][-1]
        assert last.rolled_over and last.advance == Decimal("13.0")

    # 30 days apart in GB time, clear of clock changes: 10 a day expected.
    HISTORY = [("20241030", "1000"), ("20241129", "1300"), ("20241229", "1600")]

    def test_exactly_twice_the_expected_advance_is_not_high(self):
        send(reads(*self.HISTORY, ("20250128", "2200")))  # 600 in 30 days: 20 a day

        assert exceptions() == []

    def test_just_over_twice_the_expected_advance_is_high(self):
        send(reads(*self.HISTORY, ("20250128", "2200.1")))

        assert exceptions() == [("HIGH_ADVANCE", "05", Decimal("2200.1"), "OPEN")]

    def test_a_deemed_read_then_an_actual_one_at_least_the_last_actual_is_allowed(self):
        send(reads(("20260101", "500.0")))
        send(reads(("20260115", "700.0"), reading_type="D"))

        send(reads(("20260201", "600.0")))

        assert exceptions() == []

    def test_a_meter_exchange_starts_a_new_chain(self):
        send(reads(("20260101", "50000.0")))

        send(reads(("20260201", "5.0"), serial="NEW 1"))

        assert exceptions() == []
        chains = meter_point_consumption(meter_point=MeterPoint.objects.get())
        assert [chain["advances"][-1].advance for chain in chains] == [None, None]

    def test_a_register_with_one_reading_raises_nothing(self):
        send(reads(("20260101", "500.0")))

        assert exceptions() == []
        assert MeterPointReadState.objects.get().last_actual_read_at == datetime(
            2026, 1, 1, tzinfo=UTC
        )


class TestLateAndCorrectedReads:
    def test_a_late_read_between_two_others_re_checks_the_reading_after_it(self):
        send(reads(("20260101", "100.0"), ("20260201", "300.0")))

        send(reads(("20260115", "350.0")))

        assert exceptions() == [("NEGATIVE_ADVANCE", "03", Decimal("300"), "OPEN")]

    def test_a_correction_of_the_late_read_auto_resolves_the_exception_it_caused(self):
        send(reads(("20260101", "100.0"), ("20260201", "300.0")))
        send(reads(("20260115", "350.0")))

        send(reads(("20260115", "150.0")))  # the same read, corrected: supersedes it

        [exception] = ReadingException.objects.all()
        assert exception.status == ExceptionStatus.AUTO_RESOLVED
        assert "re-checked" in exception.note

    def test_an_exception_moves_to_a_superseding_reading_that_fails_the_same_rule(self):
        send(reads(("20260101", "500.0")))
        send(reads(("20260201", "400.0")))
        original = ReadingException.objects.get().reading_id

        send(reads(("20260201", "390.0")))

        [exception] = ReadingException.objects.all()
        assert exception.reading.value == Decimal("390") and exception.status == "OPEN"
        assert exception.reading_id != original
        changes = [entry.history_change_reason for entry in exception.history.order_by("pk")]
        assert changes[0] == "raised by the checks"
        assert changes[-1].startswith(f"Moved from reading #{original}, superseded by")

    def test_two_readings_at_one_time_from_two_senders_conflict(self):
        send(reads(("20260101", "500.0")))

        send(reads(("20260101", "510.0")), sender=("D", "ABCD"))

        assert exceptions(rule="CONFLICTING_SENDERS") == [
            ("CONFLICTING_SENDERS", "", Decimal("510"), "OPEN")
        ]
        assert "D/UDMS sent 500" in ReadingException.objects.get().detail

    def test_a_correction_from_the_same_sender_is_no_conflict(self):
        send(reads(("20260101", "500.0")))

        send(reads(("20260101", "510.0")))

        assert exceptions() == []


class TestWithdrawals:
    def test_a_withdrawal_takes_the_reading_out_of_consumption(self):
        send(reads(("20260101", "100.0"), ("20260201", "900.0"), ("20260301", "200.0")))
        assert exceptions() == [("NEGATIVE_ADVANCE", "03", Decimal("200"), "OPEN")]

        send(reads(("20260201", "900.0"), reading_type="W"))

        [register] = meter_point_consumption(meter_point=MeterPoint.objects.get())
        advances = [(a.reading.value, a.advance) for a in register["advances"]]
        assert advances == [
            (Decimal("100"), None),
            (Decimal("900"), None),  # the W: listed, never counted
            (Decimal("200"), Decimal("100")),
        ]
        assert Reading.objects.get(value=900, reading_type="R").is_superseded
        assert exceptions()[0][3] == "AUTO_RESOLVED"

    def test_a_resend_after_the_withdrawal_reinstates_the_reading(self):
        send(reads(("20260101", "100.0"), ("20260201", "150.0"), ("20260301", "200.0")))
        send(reads(("20260201", "150.0"), reading_type="W"))

        send(reads(("20260201", "150.0")))

        [register] = meter_point_consumption(meter_point=MeterPoint.objects.get())
        advances = [
            (a.reading.value, a.reading.reading_type, a.advance) for a in register["advances"]
        ]
        assert advances == [
            (Decimal("100"), "R", None),
            (Decimal("150"), "R", Decimal("50")),
            (Decimal("200"), "R", Decimal("50")),
        ]

    def test_a_withdrawal_at_a_new_meter_is_a_finding(self):
        report = send(reads(("20260115", "120.0"), reading_type="W"))

        [finding] = report.warnings
        assert finding.code == FindingCode.WITHDRAWAL_OF_UNKNOWN_READING
        assert "nothing was withdrawn" in finding.message

    def test_a_withdrawal_of_a_reading_never_held_is_a_finding_and_withdraws_nothing(self):
        send(reads(("20260101", "100.0")))

        report = send(reads(("20260115", "120.0"), reading_type="W"))

        [finding] = report.warnings
        assert finding.code == FindingCode.WITHDRAWAL_OF_UNKNOWN_READING
        assert finding.line_number == 4
        assert not Reading.objects.filter(is_superseded=True).exists()


class TestAutoResolution:
    def test_a_later_valid_actual_reading_that_passes_resolves_earlier_exceptions(self):
        send(reads(("20260101", "500.0")))
        send(reads(("20260201", "400.0")))

        send(reads(("20260301", "450.0")))

        [exception] = ReadingException.objects.all()
        assert exception.status == ExceptionStatus.AUTO_RESOLVED
        assert "a later valid actual reading passed every check" in exception.note
        statuses = [entry.status for entry in exception.history.order_by("pk")]
        assert statuses == ["OPEN", "AUTO_RESOLVED"]
        assert all(entry.history_user is None for entry in exception.history.all())

    def test_a_later_deemed_reading_resolves_nothing(self):
        send(reads(("20260101", "500.0")))
        send(reads(("20260201", "400.0")))

        send(reads(("20260301", "450.0"), reading_type="D"))

        assert exceptions()[0][3] == "OPEN"


class TestReadingRules:
    def test_a_collector_failure_carries_its_032_reason_and_status(self):
        groups = reads(("20260101", "500.0"), flag="F") + ["032|05|F|"]

        send(groups)

        [exception] = ReadingException.objects.all()
        assert (exception.rule, exception.reason_code) == ("COLLECTOR_FAILED", "05")
        assert "J0047 status F" in exception.detail

    def test_a_read_after_the_file_was_created(self):
        send(reads(("20260302", "500.0")))  # the header says 2026-03-01 12:00

        assert exceptions() == [("READ_DATE", "02", Decimal("500"), "OPEN")]

    def test_registers_of_one_028_group_read_at_different_times(self):
        groups = [f"026|{MPAN_A}|V|", f"028|{SERIAL}|R|"]
        groups += [reading_line("01", "20260101000000", "10.0")]
        groups += [reading_line("02", "20260102000000", "20.0")]

        send(groups)

        assert exceptions() == [("REGISTER_DATES", "12", Decimal("20"), "OPEN")]

    def test_register_digits_once_recorded_re_check_the_meter(self):
        send(reads(("20260101", "123456.0")))
        assert exceptions() == []

        set_register_digits(meter=Meter.objects.get(), digits=5, now=datetime.now(UTC))

        assert exceptions() == [("REGISTER_DIGITS", "11", Decimal("123456"), "OPEN")]


class TestEdgeValues:
    def test_zero_and_the_largest_value_a_register_can_hold_raise_no_error(self):
        send(reads(("20251001", "0.0"), ("20251101", "99999999.9"), ("20251201", "0.5")))

        rules = {rule for rule, *_ in exceptions()}

        # From 99999999.9 to 0.5 wraps an 8-digit register by 0.6: a roll-over.
        assert rules == set()
        [register] = meter_point_consumption(meter_point=MeterPoint.objects.get())
        assert register["advances"][2].rolled_over
        assert register["advances"][2].advance == Decimal("0.6")


class TestImportOutcome:
    def test_with_the_checks_off_an_import_raises_nothing_until_check_readings(self, settings):
        settings.D0010_CHECK_READINGS = False
        send(reads(("20260101", "500.0"), ("20260201", "400.0")))
        assert exceptions() == [] and not MeterPointReadState.objects.exists()

        check_held_readings()

        assert exceptions() == [("NEGATIVE_ADVANCE", "03", Decimal("400"), "OPEN")]
        assert MeterPointReadState.objects.get().last_actual_read_at == datetime(
            2026, 2, 1, tzinfo=UTC
        )

    def test_a_dry_run_stores_no_exception(self):
        send(reads(("20260101", "500.0")))

        report = send(reads(("20260201", "400.0")), dry_run=True)

        assert report.exceptions_raised == 1
        assert ReadingException.objects.count() == 0

    def test_the_last_read_of_each_meter_point_ignores_deemed_and_withdrawn_reads(self):
        send(reads(("20260101", "100.0")))
        send(reads(("20260201", "150.0"), reading_type="D"))
        send([f"026|{MPAN_B}|V|", "028|B1|D|", reading_line("S", "20260101000000", "1.0")])

        states = dict(
            MeterPointReadState.objects.values_list("meter_point__mpan_core", "last_actual_read_at")
        )

        assert states == {MPAN_A: datetime(2026, 1, 1, tzinfo=UTC), MPAN_B: None}

    def test_check_readings_raises_what_an_import_would_have(self):
        send(reads(("20260101", "500.0"), ("20260201", "400.0")))
        ReadingException.history.model.objects.all().delete()
        ReadingException.objects.all().delete()

        counts = check_held_readings()

        assert counts.raised == 1
        assert exceptions() == [("NEGATIVE_ADVANCE", "03", Decimal("400"), "OPEN")]


@only_postgresql
def test_postgresql_reads_a_registers_history_back_from_the_index_alone():
    # At 100M readings the look-back read a heap page a reading (migration 0008).
    send(reads(("20250101", "100.0"), ("20250201", "150.0"), ("20260101", "500.0")))
    sql, params = RegisterChecker(now=datetime(2026, 3, 2, tzinfo=UTC)).look_back(
        Touched.meters(list(Meter.objects.values_list("pk", flat=True)))
    )

    with connection.cursor() as cursor:
        # Only an index-only scan may read the reading table for the look-back.
        for method in ("seqscan", "bitmapscan", "indexscan"):
            cursor.execute(f"SET LOCAL enable_{method} = off")
        cursor.execute(f"EXPLAIN (COSTS OFF) {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    scans = [line.strip() for line in plan.splitlines() if "on meter_readings_reading" in line]
    look_back = [line for line in scans if line.endswith((" r", " w"))]
    assert sorted(line.split()[-1] for line in look_back) == ["r", "w"], plan
    for line in look_back:
        assert "Index Only Scan" in line, plan
        assert "using one_current_reading_per_register_time" in line, plan
