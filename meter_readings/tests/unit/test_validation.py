"""The reading checks and consumption, as plain Python (meter_readings.validation)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_readings.validation import (
    Rule,
    SeriesReading,
    Thresholds,
    check_register,
    consumption,
    integer_digits,
    register_dates,
)

LIMITS = Thresholds()
START = datetime(2025, 1, 1, tzinfo=UTC)
_ids = count(1)


def read(
    day: int,
    value: str,
    reading_type: str = "R",
    *,
    flag: bool | None = True,
    bsc: str = "V",
    status: bool | None = None,
    reason: str = "",
    created: datetime | None = None,
) -> SeriesReading:
    """A reading ``day`` days after START."""
    return SeriesReading(
        reading_id=next(_ids),
        read_at=START + timedelta(days=day),
        value=Decimal(value),
        reading_type=reading_type,
        bsc_validation_status=bsc,
        reading_flag=flag,
        validation_reason_code=reason,
        validation_status=status,
        file_created_at=created,
    )


def rules_of(readings: list[SeriesReading], **options) -> list[set[str]]:
    return [
        {failure.rule for failure in verdict.failures}
        for verdict in check_register(readings, thresholds=LIMITS, **options)
    ]


class TestConsumption:
    def test_a_register_with_one_reading_has_no_advance(self):
        [only] = consumption([read(0, "100")], thresholds=LIMITS)

        assert only.advance is None and only.per_day is None

    def test_the_advance_is_from_the_previous_valid_reading(self):
        entries = consumption(
            [read(0, "100"), read(10, "150", flag=False), read(30, "160")], thresholds=LIMITS
        )

        assert entries[1].advance is None  # failed by the collector: not counted
        assert entries[2].advance == Decimal("60") and entries[2].days == 30
        assert entries[2].per_day == pytest.approx(2.0)

    def test_a_withdrawn_read_leaves_the_chain(self):
        entries = consumption(
            [read(0, "100"), read(30, "0", "W"), read(60, "160")], thresholds=LIMITS
        )

        assert entries[1].advance is None
        assert entries[2].previous is not None and entries[2].previous.value == Decimal("100")

    def test_99999_then_12_on_a_5_digit_register_rolls_over(self):
        entries = consumption([read(0, "99999.0"), read(30, "12.0")], thresholds=LIMITS)

        assert entries[1].rolled_over
        assert entries[1].advance == Decimal("13.0")

    def test_a_large_fall_is_not_a_roll_over(self):
        entries = consumption([read(0, "50000"), read(30, "12")], thresholds=LIMITS)

        assert not entries[1].rolled_over and entries[1].is_negative

    def test_the_meter_s_known_digits_decide_the_wrap(self):
        entries = consumption([read(0, "999990"), read(30, "5")], thresholds=LIMITS, known_digits=6)

        assert entries[1].rolled_over and entries[1].advance == Decimal("15")

    def test_digits_are_inferred_from_the_readings_when_unknown(self):
        entries = consumption([read(0, "999990"), read(30, "5")], thresholds=LIMITS)

        assert entries[1].rolled_over and entries[1].advance == Decimal("15")


class TestNegativeAdvance:
    def test_a_fall_is_an_exception(self):
        assert rules_of([read(0, "500"), read(30, "400")]) == [set(), {Rule.NEGATIVE_ADVANCE}]

    def test_after_a_deemed_read_a_read_at_least_the_last_actual_is_allowed(self):
        readings = [read(0, "500"), read(30, "700", "D"), read(60, "600")]

        assert rules_of(readings)[2] == set()

    def test_after_a_deemed_read_a_read_below_the_last_actual_is_not(self):
        readings = [read(0, "500"), read(30, "700", "D"), read(60, "450")]

        assert rules_of(readings)[2] == {Rule.NEGATIVE_ADVANCE}

    def test_the_reason_code_is_j0332_03(self):
        verdicts = check_register([read(0, "500"), read(30, "400")], thresholds=LIMITS)

        assert verdicts[1].failures[0].reason_code == "03"


class TestHighAdvance:
    def baseline(self) -> list[SeriesReading]:
        # 10 a day for three months: the expected daily advance is 10.
        return [read(0, "1000"), read(30, "1300"), read(60, "1600"), read(90, "1900")]

    def test_exactly_twice_the_expected_is_not_high(self):
        assert rules_of([*self.baseline(), read(120, "2500")])[-1] == set()

    def test_just_over_twice_the_expected_is_high(self):
        assert rules_of([*self.baseline(), read(120, "2500.1")])[-1] == {Rule.HIGH_ADVANCE}

    def test_not_checked_with_fewer_than_two_expected_advances(self):
        readings = [read(0, "1000"), read(30, "1300"), read(60, "9999")]

        assert rules_of(readings)[-1] == set()

    def test_deemed_advances_do_not_make_the_expectation(self):
        readings = [read(0, "1000"), read(30, "1030", "D"), read(60, "1060", "D")]

        assert rules_of([*readings, read(90, "5000")])[-1] == set()

    def test_advances_older_than_twelve_months_do_not_count(self):
        readings = [read(0, "1000"), read(30, "1300"), read(60, "1600"), read(500, "9000")]

        assert rules_of(readings)[-1] == set()


class TestZeroAdvance:
    def test_no_advance_over_90_days_on_a_register_that_advanced(self):
        readings = [read(0, "100"), read(30, "200"), read(120, "200")]

        assert rules_of(readings)[-1] == {Rule.ZERO_ADVANCE}

    def test_89_days_is_not_enough(self):
        readings = [read(0, "100"), read(30, "200"), read(119, "200")]

        assert rules_of(readings)[-1] == set()

    def test_a_register_that_never_advanced_is_not_flagged(self):
        assert rules_of([read(0, "100"), read(200, "100")])[-1] == set()


class TestReadingRules:
    def test_a_read_after_its_file_was_created(self):
        created = START + timedelta(days=10)

        assert rules_of([read(11, "1", created=created)]) == [{Rule.READ_DATE}]
        assert rules_of([read(10, "1", created=created)]) == [set()]

    def test_a_read_implausibly_old_for_its_file(self):
        created = START + timedelta(days=LIMITS.oldest_read_days + 1)

        assert rules_of([read(0, "1", created=created)]) == [{Rule.READ_DATE}]
        assert rules_of([read(1, "1", created=created)]) == [set()]

    def test_register_digits_only_where_the_meter_s_digits_are_known(self):
        assert rules_of([read(0, "123456.0")], known_digits=5) == [{Rule.REGISTER_DIGITS}]
        assert rules_of([read(0, "12345.9")], known_digits=5) == [set()]
        assert rules_of([read(0, "123456.0")]) == [set()]

    def test_collector_failure_carries_the_032_reason_and_status(self):
        verdicts = check_register(
            [read(0, "1", flag=False, reason="05", status=False)], thresholds=LIMITS
        )

        [failure] = verdicts[0].failures
        assert failure.rule == Rule.COLLECTOR_FAILED and failure.reason_code == "05"
        assert "J0047 status F" in failure.detail

    def test_j0022_f_is_a_collector_failure(self):
        assert rules_of([read(0, "1", bsc="F")]) == [{Rule.COLLECTOR_FAILED}]


class TestCheckFrom:
    def test_a_late_read_re_checks_the_reading_after_it(self):
        readings = [read(0, "100"), read(30, "400"), read(60, "300")]

        verdicts = check_register(readings, thresholds=LIMITS, check_from=readings[1].read_at)

        assert [verdict.reading.value for verdict in verdicts] == [Decimal(400), Decimal(300)]
        assert {failure.rule for failure in verdicts[1].failures} == {Rule.NEGATIVE_ADVANCE}

    def test_a_passing_actual_read_passes(self):
        [verdict] = check_register([read(0, "1")], thresholds=LIMITS)

        assert verdict.passes

    def test_a_deemed_read_never_passes(self):
        [verdict] = check_register([read(0, "1", "D")], thresholds=LIMITS)

        assert not verdict.passes


class TestRegisterDates:
    def test_registers_read_at_one_time(self):
        assert register_dates([("01", START), ("02", START)]) == []

    def test_a_register_read_at_another_time(self):
        later = START + timedelta(days=1)

        assert register_dates([("01", START), ("02", later), ("03", START)]) == [1]

    def test_a_history_of_each_register_read_together(self):
        later = START + timedelta(days=30)

        assert register_dates([("01", START), ("01", later), ("02", START), ("02", later)]) == []


class TestThresholds:
    def test_settings_override_defaults(self):
        limits = Thresholds.from_settings({"high_advance_factor": "2.5", "zero_advance_days": 120})

        assert limits.high_advance_factor == Decimal("2.5") and limits.zero_advance_days == 120

    def test_an_unknown_setting_is_refused_by_name(self):
        with pytest.raises(ValueError, match="high_factor"):
            Thresholds.from_settings({"high_factor": 3})


values = st.decimals(min_value=0, max_value=Decimal("99999999.9"), places=1)


class TestProperties:
    @given(st.lists(st.tuples(st.integers(1, 400), values, st.sampled_from("ARDWC")), max_size=30))
    def test_every_reading_gets_one_verdict_and_nothing_raises(self, rows):
        day = 0
        readings = []
        for gap, value, reading_type in rows:
            day += gap
            readings.append(read(day, str(value), reading_type))

        verdicts = check_register(readings, thresholds=LIMITS)

        assert [verdict.reading for verdict in verdicts] == readings
        for verdict in verdicts:
            advance = verdict.advance
            if not verdict.reading.is_valid:
                assert advance.advance is None
            if advance.rolled_over:
                assert advance.advance is not None and advance.advance >= 0

    @given(values)
    def test_integer_digits(self, value):
        assert integer_digits(value) == (len(str(int(value))) if value >= 1 else 0)
