"""The one entry point for a file offered for import: its rules and named refusals."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from meter_readings.models import FlowFile, FlowFileStatus, MeterPointReadState, Reading
from meter_readings.services.receiving import (
    MULTIPART_OVERHEAD_BYTES,
    DryRunCannotBeQueued,
    FileUnreadable,
    ImportOptions,
    UploadTooLarge,
    receive_path,
    receive_upload,
    refuse_oversized_request,
    stored_name,
)
from meter_readings.services.test_data import delete_everything
from meter_readings.tests.d0010_files import d0010_bytes, simple_groups

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


class TestOptions:
    def test_a_dry_run_cannot_be_queued(self):
        with pytest.raises(DryRunCannotBeQueued, match="answered at once"):
            ImportOptions(dry_run=True, background=True)

    def test_any_other_combination_is_taken(self):
        assert ImportOptions(strict=True, background=True).background


class TestNames:
    @pytest.mark.parametrize(
        "offered, kept",
        [
            ("flow.uff", "flow.uff"),
            ("/inbox/2026/flow.uff", "flow.uff"),
            ("C:\\Users\\ops\\flow.uff", "flow.uff"),
            ("x" * 300 + ".uff", ("x" * 300 + ".uff")[-255:]),
            ("", "unnamed"),
        ],
    )
    def test_a_file_is_recorded_under_its_own_name_at_most_255_characters(self, offered, kept):
        assert stored_name(offered) == kept


class TestSizeLimit:
    def test_a_request_declaring_more_than_its_files_allow_is_refused_unread(self, settings):
        settings.D0010_MAX_UPLOAD_BYTES = 1000

        refuse_oversized_request(declared_bytes=1000 + MULTIPART_OVERHEAD_BYTES)
        refuse_oversized_request(declared_bytes=3 * (1000 + MULTIPART_OVERHEAD_BYTES), files=3)
        with pytest.raises(UploadTooLarge, match="1,000 bytes"):
            refuse_oversized_request(declared_bytes=1001 + MULTIPART_OVERHEAD_BYTES)

    def test_an_upload_over_the_limit_is_refused_and_nothing_recorded(self, settings):
        settings.D0010_MAX_UPLOAD_BYTES = 10
        upload = SimpleUploadedFile("big.uff", d0010_bytes(simple_groups()))

        with pytest.raises(UploadTooLarge, match="big.uff"):
            receive_upload(upload=upload, options=ImportOptions())

        assert FlowFile.objects.count() == 0

    def test_a_file_read_from_a_path_has_no_upload_limit(self, settings, tmp_path):
        settings.D0010_MAX_UPLOAD_BYTES = 10
        path = tmp_path / "big.uff"
        path.write_bytes(d0010_bytes(simple_groups()))

        received = receive_path(path=path, options=ImportOptions())

        assert received.report.status == FlowFileStatus.IMPORTED


class TestReceiving:
    def test_an_upload_is_imported(self):
        upload = SimpleUploadedFile("a/b/flow.uff", d0010_bytes(simple_groups()))

        received = receive_upload(upload=upload, options=ImportOptions(strict=True))

        assert (received.filename, received.report.status) == ("flow.uff", "IMPORTED")
        assert FlowFile.objects.get().strict is True

    def test_in_the_background_the_file_is_stored_and_queued(self, tmp_path):
        path = tmp_path / "flow.uff"
        path.write_bytes(d0010_bytes(simple_groups()))

        received = receive_path(path=path, options=ImportOptions(background=True))

        # No broker: the worker's task ran in-process.
        assert received.report is None and received.queued is not None
        assert received.queued.status == FlowFileStatus.IMPORTED
        assert received.queued.stored_file.read() == path.read_bytes()

    def test_a_path_that_cannot_be_read_is_refused_with_the_reason(self, tmp_path):
        with pytest.raises(FileUnreadable, match="cannot read the file"):
            receive_path(path=Path(tmp_path / "missing.uff"), options=ImportOptions())

        assert FlowFile.objects.count() == 0


class TestDeletingEverything:
    def test_every_imported_row_goes_in_one_transaction(self, tmp_path):
        path = tmp_path / "flow.uff"
        path.write_bytes(d0010_bytes(simple_groups()))
        receive_path(path=path, options=ImportOptions())

        deleted = delete_everything()

        # A reading, a meter, a meter point, its last read, a flow file.
        assert deleted == 5
        assert FlowFile.objects.count() == Reading.objects.count() == 0
        assert MeterPointReadState.objects.count() == 0
