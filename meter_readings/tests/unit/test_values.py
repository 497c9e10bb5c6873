from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_readings.d0010.values import (
    InvalidRegisterReading,
    NegativeRegisterReading,
    parse_boolean,
    parse_register_reading,
)


class TestParseRegisterReading:
    @pytest.mark.parametrize(
        "text, value",
        [
            ("56311.0", Decimal("56311.0")),
            ("7242", Decimal("7242")),
            ("0007242.5", Decimal("7242.5")),
            ("0.0", Decimal("0")),
            ("99999999.9", Decimal("99999999.9")),
            (".5", Decimal("0.5")),
        ],
    )
    def test_it_reads_conforming_values_exactly_and_silently(self, text, value):
        assert parse_register_reading(text) == (value, "")

    def test_three_decimal_places_are_kept_exactly_and_noted(self):
        value, note = parse_register_reading("123456.789")

        assert value == Decimal("123456.789")
        assert "3 decimal places" in note

    def test_nine_or_ten_integer_digits_are_kept_and_noted(self):
        value, note = parse_register_reading("1234567890.1")

        assert value == Decimal("1234567890.1")
        assert "10 integer digits" in note

    def test_trailing_zeros_beyond_three_places_are_still_exact(self):
        value, note = parse_register_reading("12.50000")

        assert value == Decimal("12.5") and "5 decimal places" in note

    def test_a_negative_reading_is_refused(self):
        with pytest.raises(NegativeRegisterReading, match="negative"):
            parse_register_reading("-5.0")

    @pytest.mark.parametrize(
        "text, reason",
        [
            ("", "is empty"),
            ("abc", "not a number"),
            ("1e5", "not a number"),
            ("+5.0", "not a number"),
            ("5.0.0", "not a number"),
            (".", "not a number"),
            ("1 000", "not a number"),
            ("１２", "not a number"),
            ("12345678901.0", "11 integer digits"),
            ("1.2345", "4 decimal places"),
        ],
    )
    def test_it_refuses_what_it_cannot_store_exactly(self, text, reason):
        with pytest.raises(InvalidRegisterReading, match=reason):
            parse_register_reading(text)

    @given(st.decimals(min_value=0, max_value=Decimal("9999999999.999"), places=3, allow_nan=False))
    def test_any_storable_value_reads_back_equal(self, value):
        parsed, _ = parse_register_reading(f"{value:f}")

        assert parsed == value


class TestParseBoolean:
    def test_it_reads_t_f_and_empty(self):
        assert (parse_boolean("T"), parse_boolean("F"), parse_boolean("")) == (True, False, None)

    def test_it_refuses_anything_else(self):
        with pytest.raises(ValueError, match="not T or F"):
            parse_boolean("Y")
