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
