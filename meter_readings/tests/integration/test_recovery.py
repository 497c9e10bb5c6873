"""Recovery passes over imports a dead process left, and the claim of a queued file."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.base import ContentFile

from meter_readings.models import FlowFile, FlowFileStatus, Reading
from meter_readings.services.background import run_queued_import
from meter_readings.services.import_guard import ADVISORY_LOCK_NAMESPACE, import_guard
from meter_readings.services.recovery import recover_abandoned_imports
from meter_readings.tests.d0010_files import d0010_bytes, simple_groups
from meter_readings.tests.factories import make_flow_file
from meter_readings.tests.postgres import only_postgresql, other_session

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def abandoned(*, stored: bool, attempts: int = 1, status=FlowFileStatus.STARTED) -> FlowFile:
    """A record left as a killed import leaves it: nobody holds its lease."""
    flow_file = make_flow_file(
        status=status, attempts=attempts, file_identifier="", from_participant_id=""
    )
    if stored:
        flow_file.stored_file.save("left.uff", ContentFile(d0010_bytes(simple_groups())))
    return flow_file


class Sent(list):
    """Stands in for the broker: remembers which files were sent to a worker."""

    def __call__(self, *, flow_file_id: int) -> None:
        self.append(flow_file_id)


def recover(**options):
    sent = Sent()
    report = recover_abandoned_imports(send_to_worker=sent, now=lambda: NOW, **options)
    return report, sent


class TestRecoveryPasses:
    def test_an_abandoned_import_without_a_stored_file_ends_interrupted(self):
        flow_file = abandoned(stored=False)

        report, sent = recover()

        flow_file.refresh_from_db()
        assert report.interrupted == [flow_file.pk] and sent == []
        assert flow_file.status == FlowFileStatus.INTERRUPTED
        assert flow_file.finished_at == NOW
        assert "killed or crashed" in flow_file.failure_reason

    def test_an_abandoned_background_import_is_queued_again_once(self):
        flow_file = abandoned(stored=True, attempts=1)

        report, sent = recover()

        flow_file.refresh_from_db()
        assert report.requeued == [flow_file.pk] and sent == [flow_file.pk]
        assert (flow_file.status, flow_file.queued_at) == (FlowFileStatus.QUEUED, NOW)

    def test_a_background_import_abandoned_twice_ends_interrupted(self):
        flow_file = abandoned(stored=True, attempts=2)

        report, sent = recover()

        flow_file.refresh_from_db()
        assert report.interrupted == [flow_file.pk] and sent == []
        assert flow_file.status == FlowFileStatus.INTERRUPTED
        assert "started 2 time(s)" in flow_file.failure_reason

    def test_a_queued_file_not_picked_up_for_five_minutes_is_sent_again(self):
        stale = abandoned(stored=True, attempts=0, status=FlowFileStatus.QUEUED)
        FlowFile.objects.filter(pk=stale.pk).update(queued_at=NOW - timedelta(minutes=6))
        fresh = abandoned(stored=True, attempts=0, status=FlowFileStatus.QUEUED)
        FlowFile.objects.filter(pk=fresh.pk).update(queued_at=NOW - timedelta(minutes=4))

        report, sent = recover()

        assert report.resent == [stale.pk] and sent == [stale.pk]

    def test_finished_files_are_left_alone(self):
        for status in (FlowFileStatus.IMPORTED, FlowFileStatus.FAILED, FlowFileStatus.REJECTED):
            abandoned(stored=False, status=status)

        report, sent = recover()

        assert (report.requeued, report.interrupted, report.resent, sent) == ([], [], [], [])

    @only_postgresql
    def test_an_import_whose_lease_is_held_is_still_running_and_left_alone(self):
        flow_file = abandoned(stored=False)
        with other_session() as importer:
            importer.execute(
                "SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, flow_file.pk]
            )

            report, _ = recover()

            flow_file.refresh_from_db()
            assert report.interrupted == [] and flow_file.status == FlowFileStatus.STARTED
        # The importer's session ended (as a killed process's does): the lease is free.
        report, _ = recover()
        assert report.interrupted == [flow_file.pk]

    def test_on_sqlite_a_pass_waits_for_the_running_import_to_end(self):
        if import_guard().__class__.__name__ != "SqliteImportGuard":
            pytest.skip("SQLite's turns")
        flow_file = abandoned(stored=False)
        guard = import_guard()
        holding, release = threading.Event(), threading.Event()

        def import_in_progress():
            with guard.turn():
                holding.set()
                release.wait(10)

        importer = threading.Thread(target=import_in_progress)
        importer.start()
        holding.wait(10)
        outcome = {}
        recovery = threading.Thread(target=lambda: outcome.update(report=recover()[0]))
        recovery.start()
        recovery.join(0.5)

        assert recovery.is_alive()  # waiting its turn
        release.set()
        importer.join()
        recovery.join(10)
        assert outcome["report"].interrupted == [flow_file.pk]


class TestClaimingAQueuedFile:
    def test_a_claim_counts_the_attempt_and_imports(self):
        flow_file = abandoned(stored=True, attempts=0, status=FlowFileStatus.QUEUED)

        report = run_queued_import(flow_file_id=flow_file.pk)

        flow_file.refresh_from_db()
        assert report.status == FlowFileStatus.IMPORTED
        assert (flow_file.status, flow_file.attempts) == (FlowFileStatus.IMPORTED, 1)
        assert Reading.objects.count() == 1

    def test_an_abandoned_import_is_run_again_by_a_redelivered_task(self):
        flow_file = abandoned(stored=True, attempts=1)

        run_queued_import(flow_file_id=flow_file.pk)

        flow_file.refresh_from_db()
        assert (flow_file.status, flow_file.attempts) == (FlowFileStatus.IMPORTED, 2)

    def test_a_file_abandoned_twice_is_not_run_a_third_time(self):
        flow_file = abandoned(stored=True, attempts=2)

        assert run_queued_import(flow_file_id=flow_file.pk) is None

        flow_file.refresh_from_db()
        assert flow_file.status == FlowFileStatus.INTERRUPTED
        assert Reading.objects.count() == 0

    @only_postgresql
    def test_a_file_another_process_is_importing_is_not_run_twice(self):
        flow_file = abandoned(stored=True, attempts=1)
        with other_session() as importer:
            importer.execute(
                "SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, flow_file.pk]
            )

            assert run_queued_import(flow_file_id=flow_file.pk) is None

        flow_file.refresh_from_db()
        assert (flow_file.status, flow_file.attempts) == (FlowFileStatus.STARTED, 1)
