from hypothesis import given
from hypothesis import strategies as st

from meter_readings.d0010.mpan import check_mpan_core, has_valid_check_digit, is_well_formed_core
from meter_readings.tests.d0010_files import expected_check_digit

twelve_digits = st.text(alphabet="0123456789", min_size=12, max_size=12)


class TestCheckDigit:
    def test_the_worked_example_of_the_spec_is_valid(self):
        assert has_valid_check_digit("1200023305967")

    def test_the_common_hand_typed_test_value_is_not(self):
        # Its check digit would be 6.
        assert not has_valid_check_digit("1234567890123")
        assert has_valid_check_digit("1234567890126")

    @given(twelve_digits)
    def test_a_core_completed_with_its_check_digit_is_valid(self, first_twelve):
        core = first_twelve + str(expected_check_digit(first_twelve))

        assert check_mpan_core(core).check_digit_valid or core.startswith("78")

    @given(twelve_digits, st.integers(min_value=1, max_value=9))
    def test_any_other_last_digit_fails(self, first_twelve, offset):
        wrong = (expected_check_digit(first_twelve) + offset) % 10
        core = first_twelve + str(wrong)

        assert check_mpan_core(core).check_digit_valid in (False, None)


class TestCheckMpanCore:
    def test_it_names_the_distributor_of_a_dno_core(self):
        check = check_mpan_core("1200023305967")

        assert (check.distributor_id, check.known_distributor, check.is_amsid) == (
            "12",
            True,
            False,
        )

    def test_it_flags_an_unknown_distributor(self):
        assert check_mpan_core("9900000000000").known_distributor is False

    def test_an_amvlp_amsid_has_no_check_digit_to_fail(self):
        check = check_mpan_core("7812345678901")

        assert (check.is_amsid, check.check_digit_valid, check.known_distributor) == (
            True,
            None,
            True,
        )

    def test_an_svaa_amsid_still_has_a_check_digit(self):
        assert check_mpan_core("7700000000001").check_digit_valid is True
        assert check_mpan_core("7700000000002").check_digit_valid is False


class TestIsWellFormedCore:
    def test_it_wants_exactly_thirteen_ascii_digits(self):
        assert is_well_formed_core("1200023305967")
        assert not is_well_formed_core("120002330596")
        assert not is_well_formed_core("12000233059671")
        assert not is_well_formed_core("12000233059a7")
        assert not is_well_formed_core("１２00023305967")
