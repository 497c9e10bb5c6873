import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import env_flag


class TestEnvFlag:
    @pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "on"])
    def test_true_words_are_true(self, monkeypatch, value):
        monkeypatch.setenv("D0010_SOME_FLAG", value)

        assert env_flag("D0010_SOME_FLAG") is True

    @pytest.mark.parametrize("value", ["0", "false", "No", "off", ""])
    def test_false_words_are_false(self, monkeypatch, value):
        monkeypatch.setenv("D0010_SOME_FLAG", value)

        assert env_flag("D0010_SOME_FLAG", default=True) is False

    def test_an_unset_flag_takes_its_default(self, monkeypatch):
        monkeypatch.delenv("D0010_SOME_FLAG", raising=False)

        assert env_flag("D0010_SOME_FLAG", default=True) is True

    @pytest.mark.parametrize("value", ["ture", "enabled", "2"])
    def test_anything_else_is_refused_naming_the_variable(self, monkeypatch, value):
        monkeypatch.setenv("D0010_SOME_FLAG", value)

        with pytest.raises(ImproperlyConfigured, match=f"D0010_SOME_FLAG='{value}'"):
            env_flag("D0010_SOME_FLAG")


class TestValidationThresholds:
    """D0010_VALIDATION is read when Django starts: a mistake stops it, naming the key."""

    def run_check(self, value: str):
        import os

        from meter_readings.tests.processes import manage

        return manage({**os.environ, "D0010_VALIDATION": value}, "check")

    def test_a_known_threshold_is_accepted(self):
        assert self.run_check('{"zero_advance_days": 120}').returncode == 0

    @pytest.mark.parametrize(
        "value, said",
        [
            ('{"high_factor": 3}', "unknown D0010_VALIDATION setting(s): high_factor"),
            ('{"high_advance_factor": "x"}', "high_advance_factor: 'x' is not a decimal"),
            ('{"zero', "D0010_VALIDATION is not a JSON object"),
            ("[1]", "D0010_VALIDATION is not a JSON object of thresholds"),
        ],
    )
    def test_a_mistake_stops_start_up_naming_it(self, value, said):
        result = self.run_check(value)

        assert result.returncode != 0 and said in result.stderr
