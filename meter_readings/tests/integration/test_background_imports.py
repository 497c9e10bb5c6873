import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from meter_readings.models import FlowFile, FlowFileStatus, Reading
from meter_readings.services.background import FlowFileNotRunnable, run_queued_import
from meter_readings.services.batch import BatchWriter
from meter_readings.services.queueing import queue_import
from meter_readings.tasks import import_queued_flow_file
from meter_readings.tests.d0010_files import MPAN_B, d0010_bytes, simple_groups
from meter_readings.tests.factories import make_flow_file

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def queue(data: bytes, name: str = "queued.uff", **options) -> FlowFile:
    return queue_import(upload=SimpleUploadedFile(name, data), filename=name, **options)


class TestQueuedImports:
    def test_with_no_broker_the_queued_import_runs_in_process(self):
        flow_file = queue(d0010_bytes(simple_groups()))

        flow_file.refresh_from_db()
        assert flow_file.status == FlowFileStatus.IMPORTED
        assert flow_file.readings_imported == 1 and flow_file.file_identifier == "0000000001"
        assert flow_file.stored_file.read() == d0010_bytes(simple_groups())
        assert Reading.objects.get().flow_file == flow_file

    def test_the_record_keeps_its_identity_size_and_hash(self):
        data = d0010_bytes(simple_groups())

        flow_file = queue(data, strict=True)

        flow_file.refresh_from_db()
        assert (flow_file.size_bytes, flow_file.strict) == (len(data), True)
        assert len(flow_file.sha256) == 64
        assert FlowFile.objects.count() == 1

    def test_a_queued_resend_is_recorded_as_a_duplicate(self):
        first = queue(d0010_bytes(simple_groups()), "a.uff")

        second = queue(d0010_bytes(simple_groups()) + b"\n", "b.uff")

        second.refresh_from_db()
        assert second.status == FlowFileStatus.DUPLICATE and second.duplicate_of_id == first.pk
        assert Reading.objects.count() == 1

    def test_a_redelivered_task_does_nothing_twice(self):
        flow_file = queue(d0010_bytes(simple_groups()))

        outcome = import_queued_flow_file.apply(kwargs={"flow_file_id": flow_file.pk}).get()

        assert outcome == "already done"
        assert Reading.objects.count() == 1

    def test_a_crash_mid_file_leaves_nothing_and_the_retry_imports(self, monkeypatch):
        data = d0010_bytes(simple_groups() + simple_groups(MPAN_B))
        with monkeypatch.context() as crash:
            crash.setattr(BatchWriter, "flush", lambda self: 1 / 0)
            flow_file = queue(data)
        flow_file.refresh_from_db()
        assert flow_file.status == FlowFileStatus.FAILED
        assert "ZeroDivisionError" in flow_file.failure_reason
        assert Reading.objects.count() == 0

        outcome = import_queued_flow_file.apply(kwargs={"flow_file_id": flow_file.pk}).get()

        flow_file.refresh_from_db()
        assert outcome == "imported" and flow_file.status == FlowFileStatus.IMPORTED
        assert Reading.objects.count() == 2

    def test_a_file_without_a_stored_original_cannot_run(self):
        flow_file = make_flow_file(status=FlowFileStatus.QUEUED)

        with pytest.raises(FlowFileNotRunnable):
            run_queued_import(flow_file_id=flow_file.pk)
