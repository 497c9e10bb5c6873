from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_readings.d0010.localtime import (
    LONDON,
    ClockChangeIssue,
    InvalidDtcDateTime,
    parse_dtc_datetime,
)


class TestParseDtcDateTime:
    def test_winter_time_is_gmt(self):
        parsed = parse_dtc_datetime("20160222000000")

        assert parsed.value.astimezone(UTC) == datetime(2016, 2, 22, 0, 0, tzinfo=UTC)
        assert parsed.clock_change_issue is ClockChangeIssue.NONE

    def test_summer_time_is_bst(self):
        parsed = parse_dtc_datetime("20240701000000")

        assert parsed.value.astimezone(UTC) == datetime(2024, 6, 30, 23, 0, tzinfo=UTC)

    def test_the_hour_skipped_in_march_is_flagged_and_read_as_gmt(self):
        parsed = parse_dtc_datetime("20240331013000")

        assert parsed.clock_change_issue is ClockChangeIssue.NON_EXISTENT
        assert parsed.value.astimezone(UTC) == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)

    def test_the_hour_repeated_in_october_is_flagged_and_read_as_bst(self):
        parsed = parse_dtc_datetime("20241027013000")

        assert parsed.clock_change_issue is ClockChangeIssue.AMBIGUOUS
        assert parsed.value.astimezone(UTC) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)

    def test_an_hhdc_midnight_is_kept_as_written(self):
        parsed = parse_dtc_datetime("20261031235959")

        assert parsed.value.replace(tzinfo=None) == datetime(2026, 10, 31, 23, 59, 59)

    @pytest.mark.parametrize(
        "text, reason",
        [
            ("2016022200000", "not 14 digits"),
            ("201602220000000", "not 14 digits"),
            ("2016022200000a", "not 14 digits"),
            ("", "not 14 digits"),
            ("20240231000000", "not a real date"),
            ("20241301000000", "not a real date"),
            ("20240101250000", "not a real date"),
            ("19491231000000", "outside 1950-2199"),
            ("22000101000000", "outside 1950-2199"),
        ],
    )
    def test_it_refuses_what_is_not_a_dtc_datetime(self, text, reason):
        with pytest.raises(InvalidDtcDateTime, match=reason):
            parse_dtc_datetime(text)

    @given(
        st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2199, 12, 31, 23, 59, 59))
    )
    def test_the_wall_clock_time_survives_unless_it_does_not_exist(self, naive):
        naive = naive.replace(microsecond=0)

        parsed = parse_dtc_datetime(naive.strftime("%Y%m%d%H%M%S"))

        assert parsed.value.tzinfo is LONDON
        if parsed.clock_change_issue is ClockChangeIssue.NON_EXISTENT:
            shown = parsed.value.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None)
            assert shown - naive == timedelta(hours=1)
        else:
            assert parsed.value.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None) == naive
