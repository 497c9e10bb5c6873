"""Compatibility: the twelve files of the system we replace all import, never fatally."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from meter_readings.models import FlowFile, FlowFileStatus, ImportFinding, Reading

SEED_SAMPLES = Path(settings.BASE_DIR).parent / "shared" / "seed_samples"
REFERENCE = "DTC5259515123502080915D0010.uff"
RESEND = "example_d0010 copy.uff"

# From the seed samples' README: the 030 readings each file holds.
READINGS_PER_FILE = {
    "commercial_properties.uff": 5,
    REFERENCE: 13,
    "economy7_meters.uff": 8,
    RESEND: 13,
    "industrial_meters.uff": 6,
    "march_readings.uff": 7,
    "mixed_recent_readings.uff": 6,
    "multiple_daily_readings.uff": 8,
    "prepayment_meters.uff": 5,
    "register_showcase.uff": 10,
    "residential_smart_meters.uff": 5,
    "small_business.uff": 5,
}
HAND_WRITTEN = sorted(set(READINGS_PER_FILE) - {REFERENCE, RESEND})

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not SEED_SAMPLES.is_dir(), reason="../shared/seed_samples is absent"),
]


@pytest.fixture
def imported():
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_d0010", str(SEED_SAMPLES), "--no-progress", stdout=out)
    assert raised.value.returncode == 1  # the hand-written files carry errors
    return {flow_file.filename: flow_file for flow_file in FlowFile.objects.all()}


def codes(flow_file: FlowFile) -> set[str]:
    return set(ImportFinding.objects.filter(flow_file=flow_file).values_list("code", flat=True))


class TestSeedSamples:
    def test_every_file_is_recorded_and_none_failed_or_was_refused(self, imported):
        assert set(imported) == set(READINGS_PER_FILE) | {"README.md"}
        statuses = {name: flow_file.status for name, flow_file in imported.items()}
        assert FlowFileStatus.FAILED not in statuses.values()
        assert [name for name, status in statuses.items() if status == "REJECTED"] == ["README.md"]

    def test_the_reference_file_imports_cleanly(self, imported):
        reference = imported[REFERENCE]

        assert reference.status == FlowFileStatus.IMPORTED
        assert (reference.error_count, reference.warning_count) == (0, 0)
        assert reference.readings_imported == 13
        assert (reference.trailer_group_count, reference.trailer_flow_count) == (35, 11)

    def test_the_renamed_copy_is_a_resend_of_the_reference(self, imported):
        resend = imported[RESEND]

        assert resend.status == FlowFileStatus.DUPLICATE
        assert resend.duplicate_of == imported[REFERENCE]
        assert Reading.objects.filter(flow_file=resend).count() == 0

    @pytest.mark.parametrize("name", HAND_WRITTEN)
    def test_each_hand_written_file_keeps_every_reading(self, imported, name):
        flow_file = imported[name]

        assert flow_file.status == FlowFileStatus.IMPORTED_WITH_ERRORS
        assert flow_file.reading_count == READINGS_PER_FILE[name]
        assert Reading.objects.filter(flow_file=flow_file).count() == READINGS_PER_FILE[name]

    @pytest.mark.parametrize("name", HAND_WRITTEN)
    def test_each_hand_written_file_has_its_defects_reported(self, imported, name):
        found = codes(imported[name])

        assert {"EXTRA_FIELDS", "READING_FORMAT", "GROUP_COUNT_MISMATCH"} <= found
        assert "MPAN_CHECK_DIGIT" in found

    def test_three_decimal_readings_are_stored_exactly(self, imported):
        values = Reading.objects.filter(flow_file=imported["register_showcase.uff"])

        assert "99999.999" in {str(value) for value in values.values_list("value", flat=True)}

    def test_all_distinct_readings_are_stored_once(self, imported):
        expected = sum(READINGS_PER_FILE.values()) - READINGS_PER_FILE[RESEND]

        assert Reading.objects.count() == expected
