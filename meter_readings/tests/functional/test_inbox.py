import io
import os
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from meter_readings.inbox import Inbox
from meter_readings.models import FlowFile, FlowFileStatus, Reading
from meter_readings.services import import_flow_file
from meter_readings.tests.d0010_files import MPAN_B, d0010_bytes, simple_groups
from meter_readings.tests.factories import RECEIVED_AT

pytestmark = pytest.mark.django_db

LONG_AGO = time.time() - 3600


def arrive(folder, name: str, data: bytes, mtime: float = LONG_AGO):
    path = folder / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def poll(inbox: Inbox, at: float | None = None) -> list:
    outcomes = []
    inbox.poll(now=lambda: at or time.time(), on_outcome=outcomes.append)
    return outcomes


class TestInbox:
    def test_a_complete_file_is_imported_once_and_moved_with_its_report(self, tmp_path):
        arrive(tmp_path, "a.uff", d0010_bytes(simple_groups()))
        inbox = Inbox(directory=tmp_path, settle_seconds=5)

        [outcome] = poll(inbox)

        assert outcome.status == "imported"
        assert outcome.moved_to == tmp_path / "processed" / "a.uff"
        assert not (tmp_path / "a.uff").exists()
        report = (tmp_path / "processed" / "a.uff.report.txt").read_text()
        assert report.startswith("a.uff: imported: 1 of 1 readings stored")
        assert Reading.objects.get().flow_file.filename == "a.uff"
        assert poll(inbox) == []

    def test_rejected_files_go_to_rejected_with_their_reason(self, tmp_path):
        arrive(tmp_path, "junk.bin", b"\x00\x01\x02")

        [outcome] = poll(Inbox(directory=tmp_path, settle_seconds=5))

        assert outcome.moved_to == tmp_path / "rejected" / "junk.bin"
        assert "BINARY_CONTENT" in (tmp_path / "rejected" / "junk.bin.report.txt").read_text()

    def test_a_file_still_being_written_is_left_until_it_settles(self, tmp_path):
        now = time.time()
        path = arrive(tmp_path, "growing.uff", d0010_bytes(simple_groups())[:40], mtime=now)
        inbox = Inbox(directory=tmp_path, settle_seconds=5)

        assert poll(inbox, at=now + 1) == []
        arrive(tmp_path, "growing.uff", d0010_bytes(simple_groups()), mtime=now + 2)
        assert poll(inbox, at=now + 6) == []  # changed since the last look
        [outcome] = poll(inbox, at=now + 8)

        assert outcome.status == "imported"
        assert not path.exists() and FlowFile.objects.count() == 1

    def test_temporary_names_are_never_picked_up(self, tmp_path):
        for name in (".hidden.uff", "upload.uff.part", "x.tmp", "y.partial"):
            arrive(tmp_path, name, d0010_bytes(simple_groups()))

        assert poll(Inbox(directory=tmp_path, settle_seconds=0)) == []
        assert FlowFile.objects.count() == 0

    def test_a_restart_after_a_crash_before_the_move_repeats_nothing(self, tmp_path):
        data = d0010_bytes(simple_groups())
        path = arrive(tmp_path, "a.uff", data)
        # The import committed, then the watcher died before moving the file.
        import_flow_file(stream=io.BytesIO(data), filename="a.uff", received_at=RECEIVED_AT)

        [outcome] = poll(Inbox(directory=tmp_path, settle_seconds=5))

        assert outcome.status == "duplicate"
        assert outcome.moved_to.parent.name == "processed" and not path.exists()
        assert Reading.objects.count() == 1

    def test_a_name_already_processed_is_not_overwritten(self, tmp_path):
        arrive(tmp_path, "a.uff", d0010_bytes(simple_groups()))
        poll(Inbox(directory=tmp_path, settle_seconds=0))
        arrive(tmp_path, "a.uff", d0010_bytes(simple_groups(MPAN_B), file_id="0000000002"))

        [outcome] = poll(Inbox(directory=tmp_path, settle_seconds=0))

        assert outcome.moved_to.name.startswith("a.uff.")
        assert len(list((tmp_path / "processed").glob("a.uff*.report.txt"))) == 2


class TestWatchCommand:
    def test_watch_once_imports_the_inbox(self, tmp_path):
        arrive(tmp_path, "a.uff", d0010_bytes(simple_groups()))
        out = io.StringIO()

        call_command("import_d0010", "--watch", str(tmp_path), "--once", stdout=out)

        assert out.getvalue() == f"a.uff: imported -> {tmp_path / 'processed' / 'a.uff'}\n"
        assert FlowFile.objects.get().status == FlowFileStatus.IMPORTED

    def test_watch_needs_a_directory_and_no_paths(self, tmp_path):
        with pytest.raises(CommandError) as not_a_folder:
            call_command("import_d0010", "--watch", str(tmp_path / "missing"))
        with pytest.raises(CommandError) as both:
            call_command("import_d0010", "x.uff", "--watch", str(tmp_path))
        with pytest.raises(CommandError) as neither:
            call_command("import_d0010")

        assert not_a_folder.value.returncode == both.value.returncode == 2
        assert neither.value.returncode == 2


class TestTheWatcherProcess:
    def test_it_picks_up_a_dropped_file_and_stops_cleanly_on_sigterm(self, tmp_path):
        import signal
        import subprocess
        import sys

        from django.conf import settings

        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/watch.sqlite3"}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=settings.BASE_DIR,
            env=env,
            check=True,
        )
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        watcher = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "import_d0010",
                "--watch",
                str(inbox),
                "--interval",
                "0.2",
                "--settle",
                "0.5",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            (inbox / "a.uff.part").write_bytes(d0010_bytes(simple_groups()))
            (inbox / "a.uff.part").rename(inbox / "a.uff")
            deadline = time.monotonic() + 30
            while not (inbox / "processed" / "a.uff").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            watcher.send_signal(signal.SIGTERM)
            out, err = watcher.communicate(timeout=30)

        assert (inbox / "processed" / "a.uff").exists(), out + err
        assert watcher.returncode == 0
        assert "a.uff: imported ->" in out and "Traceback" not in err
