import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from meter_readings.services import import_flow_file
from meter_readings.tests.d0010_files import MPAN_A, MPAN_B, d0010_bytes, simple_groups
from meter_readings.tests.factories import RECEIVED_AT

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported():
    import_flow_file(
        stream=io.BytesIO(d0010_bytes(simple_groups(MPAN_A) + simple_groups(MPAN_B, value="7.5"))),
        filename="two.uff",
        received_at=RECEIVED_AT,
    )


class TestExportReadings:
    def test_it_writes_the_filtered_readings_to_a_file(self, imported, tmp_path):
        target = tmp_path / "out.csv"
        err = io.StringIO()

        call_command("export_readings", "--mpan", MPAN_B, "--output", str(target), stderr=err)

        rows = list(csv.DictReader(target.open()))
        assert [(row["mpan_core"], row["value"], row["filename"]) for row in rows] == [
            (MPAN_B, "7.500", "two.uff")
        ]
        assert "1 readings written" in err.getvalue()

    def test_it_writes_everything_to_standard_output_by_default(self, imported, capsys):
        call_command("export_readings")

        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert {row["mpan_core"] for row in rows} == {MPAN_A, MPAN_B}

    def test_a_bad_filter_is_a_usage_error_naming_the_option(self, imported):
        with pytest.raises(CommandError) as raised:
            call_command("export_readings", "--mpan", "123", "--read-after", "later")

        assert raised.value.returncode == 2
        assert "--mpan: An MPAN core is exactly 13 digits." in str(raised.value)
        assert "--read-after:" in str(raised.value)

    def test_an_unwritable_output_is_a_clear_error(self, imported, tmp_path):
        with pytest.raises(CommandError, match="cannot write"):
            call_command("export_readings", "--output", str(tmp_path / "missing" / "x.csv"))
