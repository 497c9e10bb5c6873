import io
import logging
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from meter_readings.models import FlowFile, FlowFileStatus, Reading
from meter_readings.services import ImportProgress
from meter_readings.tests.d0010_files import MPAN_B, d0010_bytes, simple_groups

pytestmark = pytest.mark.django_db

SAMPLE_DATA = Path(settings.BASE_DIR) / "sample_data"


def run_command(*args: str) -> tuple[str, int]:
    """Run import_d0010 in-process; returns its output and exit status."""
    out = io.StringIO()
    try:
        call_command("import_d0010", *args, "--no-progress", stdout=out)
    except CommandError as error:
        return out.getvalue(), error.returncode
    return out.getvalue(), 0


@pytest.fixture
def flow(tmp_path):
    def write(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return write


class TestImportD0010:
    def test_a_clean_file_prints_one_line_and_exits_zero(self, flow):
        path = flow("good.uff", d0010_bytes(simple_groups()))

        output, status = run_command(path)

        assert status == 0
        assert output == (
            f"{path}: imported: 1 of 1 readings stored (0 already held, 0 superseding "
            "earlier values); 0 error(s), 0 warning(s)\n"
        )
        assert Reading.objects.get().flow_file.filename == "good.uff"

    def test_problems_are_listed_as_file_line_code_message_and_exit_one(self, flow):
        path = flow("bad.uff", d0010_bytes(simple_groups(value="abc")))

        output, status = run_command(path)

        assert status == 1
        assert f"{path}:4: INVALID_VALUE Register Reading 'abc' is not a number" in output
        assert output.splitlines()[0].startswith(f"{path}: imported with errors: 0 of 1")

    def test_several_files_and_directories_import_in_name_order(self, flow, tmp_path):
        flow("b.uff", d0010_bytes(simple_groups(MPAN_B), file_id="0000000002"))
        first = flow("a.uff", d0010_bytes(simple_groups(), file_id="0000000001"))

        output, status = run_command(first, str(tmp_path))

        assert status == 0
        assert [line.split(": ")[1] for line in output.splitlines()] == [
            "imported",
            "duplicate",
            "imported",
        ]
        assert Reading.objects.count() == 2

    def test_a_resend_exits_zero_and_names_the_original(self, flow):
        path = flow("a.uff", d0010_bytes(simple_groups()))
        run_command(path)
        again = flow("a copy.uff", d0010_bytes(simple_groups()) + b"\n")

        output, status = run_command(again)

        original = FlowFile.objects.get(status=FlowFileStatus.IMPORTED)
        assert status == 0
        assert f"resend of flow file #{original.pk} 'a.uff'" in output
        assert Reading.objects.count() == 1

    def test_dry_run_reports_and_writes_nothing(self, flow):
        path = flow("good.uff", d0010_bytes(simple_groups()))

        output, status = run_command(path, "--dry-run")

        assert (status, FlowFile.objects.count(), Reading.objects.count()) == (0, 0, 0)
        assert "would be imported: 1 of 1 readings would be stored" in output

    def test_strict_refuses_a_file_with_errors(self, flow):
        path = flow("bad.uff", d0010_bytes(simple_groups() + simple_groups(MPAN_B, value="x")))

        output, status = run_command(path, "--strict")

        assert status == 1
        assert "rejected: Register Reading 'x' is not a number; no readings stored" in output
        assert Reading.objects.count() == 0

    def test_json_prints_one_object_per_file(self, flow):
        good = flow("good.uff", d0010_bytes(simple_groups("1234567890123")))
        bad = flow("bad.uff", b"")

        output, status = run_command(good, bad, "--format", "json")

        first, second = (json.loads(line) for line in output.splitlines())
        assert status == 1
        assert (first["file"], first["status"], first["readings_imported"]) == (
            good,
            "imported",
            1,
        )
        assert first["errors"] == []
        assert first["warnings"] == [
            {
                "line": 2,
                "code": "MPAN_CHECK_DIGIT",
                "field": "J0003 MPAN Core",
                "message": "MPAN core 1234567890123 fails its check digit",
            }
        ]
        assert (second["status"], second["errors"][0]["code"]) == ("rejected", "EMPTY_FILE")

    def test_json_names_the_original_of_a_duplicate(self, flow):
        path = flow("a.uff", d0010_bytes(simple_groups()))
        run_command(path)

        output, _ = run_command(flow("b.uff", d0010_bytes(simple_groups())), "--format", "json")

        result = json.loads(output)
        assert result["status"] == "duplicate"
        assert result["duplicate_of"]["filename"] == "a.uff"

    @pytest.mark.parametrize(
        "content, reason",
        [
            (b"", "EMPTY_FILE the file is empty"),
            (b"\x00\x01\x02binary\n", "BINARY_CONTENT line holds NUL bytes"),
            (b"\x89PNG\r\n\x1a\n\x00\x00", "NOT_A_D0010_FILE the first line must be a ZHV"),
            (b"\xff\xfe\xfd not a flow\n", "NOT_A_D0010_FILE the first line must be a ZHV"),
            (d0010_bytes([]), "EMPTY_FLOW the file holds no 026 MPAN group"),
            (d0010_bytes([], trailer=False), "EMPTY_FLOW the file holds no 026 MPAN group"),
            (b"ZHV|0000000001|D0010002|D|\n", "ZHV has 3 of its 11 data items"),
            (b"ZHV|0000000001|D0010|D|UDMS|X|MRCY|\n", "(the ZHV has 6 of its 11 data items)"),
        ],
    )
    def test_unusable_files_get_a_one_line_reason(self, flow, content, reason):
        path = flow("odd.uff", content)

        output, status = run_command(path)

        assert status == 1
        assert f"{path}: rejected:" in output.splitlines()[0]
        assert reason in output

    def test_a_trailer_count_of_twenty_digits_is_a_finding_not_a_failure(self, flow):
        data = d0010_bytes(simple_groups()).replace(b"|3||1|", b"|" + b"9" * 20 + b"||1|")

        output, status = run_command(flow("long.uff", data))

        assert status == 1
        assert "imported with errors: 1 of 1 readings stored" in output
        assert "MALFORMED_TRAILER ZPT Total Group Count" in output
        assert FlowFile.objects.get().trailer_group_count is None

    def test_an_mpan_without_a_meter_is_an_error(self, flow):
        data = d0010_bytes(simple_groups() + [f"026|{MPAN_B}|V|"])

        output, status = run_command(flow("no-meter.uff", data))

        assert status == 1
        assert f"MPAN_WITHOUT_METER 026 MPAN {MPAN_B} has no 028 meter line" in output

    def test_the_complete_resend_of_a_cut_file_stores_what_was_missing(self, flow, tmp_path):
        full = tmp_path / "full.uff"
        subprocess.run(
            [sys.executable, "bench/generate.py", "1000", str(full), "--file-id", "7700000001"],
            cwd=settings.BASE_DIR,
            check=True,
        )
        cut = flow("trunc.uff", full.read_bytes()[:20000])

        first, first_status = run_command(cut)
        second, second_status = run_command(str(full))

        assert (first_status, second_status) == (1, 1)
        assert Reading.objects.count() == 1000
        assert "IDENTIFIER_REUSED file identifier '7700000001' from D/UDMS" in second
        assert "'trunc.uff'" in second

    def test_files_sharing_an_identifier_in_one_batch_are_each_imported(self, flow):
        first = flow("1-official.uff", d0010_bytes(simple_groups(), file_id="0000475656"))
        other = flow("2-other.uff", d0010_bytes(simple_groups(MPAN_B), file_id="0000475656"))
        again = flow("3-again.uff", d0010_bytes(simple_groups(), file_id="0000475656") + b"\n")

        output, status = run_command(first, other, again)

        assert status == 1
        assert "2-other.uff: imported with errors: 1 of 1 readings stored" in output
        assert "3-again.uff: duplicate: resend of flow file" in output
        assert Reading.objects.count() == 2

    def test_a_truncated_file_is_imported_and_reported(self, flow):
        data = d0010_bytes(simple_groups() + simple_groups(MPAN_B))
        path = flow("cut.uff", data[: data.rindex(b"026|")])

        output, status = run_command(path)

        assert status == 1
        assert "MISSING_TRAILER no ZPT trailer: the file may be truncated after line 4" in output

    def test_a_directory_reached_through_dot_dot_or_a_hidden_folder_is_read(
        self, tmp_path, monkeypatch
    ):
        inbox = tmp_path / ".d0010" / "inbox"
        (inbox / ".partial").mkdir(parents=True)
        (inbox / "one.uff").write_bytes(d0010_bytes(simple_groups(), file_id="0000000001"))
        (inbox / ".partial" / "two.uff").write_bytes(d0010_bytes(simple_groups(MPAN_B)))
        (tmp_path / "work").mkdir()
        monkeypatch.chdir(tmp_path / "work")

        output, status = run_command("../.d0010/inbox")

        assert status == 0
        assert "one.uff: imported" in output
        # Still no dotfiles below it: ".partial" is how a sender stages a file.
        assert "two.uff" not in output
        assert FlowFile.objects.count() == 1

    def test_missing_paths_are_a_usage_error_and_nothing_is_imported(self, flow, tmp_path):
        good = flow("good.uff", d0010_bytes(simple_groups()))
        empty_dir = tmp_path / "empty"
        empty_dir.mkdir()

        with pytest.raises(CommandError) as raised:
            call_command("import_d0010", good, "/no/such/file", str(empty_dir))

        assert raised.value.returncode == 2
        assert "/no/such/file: no such file or directory" in str(raised.value)
        assert "empty: directory holds no files" in str(raised.value)
        assert FlowFile.objects.count() == 0

    def test_an_unreadable_file_gets_a_reason(self, flow, monkeypatch):
        path = flow("locked.uff", b"x")

        def refuse(self, *args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(Path, "open", refuse)

        output, status = run_command(path)

        assert status == 1
        assert output == f"{path}: failed: cannot read the file (Permission denied)\n"

    def test_an_unexpected_failure_is_one_line_not_a_traceback(self, flow, monkeypatch):
        from meter_readings.services.batch import writer as batch_writer

        monkeypatch.setattr(batch_writer.BatchWriter, "flush", lambda self: 1 / 0)
        path = flow("good.uff", d0010_bytes(simple_groups()))

        output, status = run_command(path, "--format", "json")

        result = json.loads(output)
        assert status == 1
        assert result["status"] == "failed"
        assert result["errors"][0]["message"] == "ZeroDivisionError: division by zero"

    @pytest.mark.parametrize("verbosity, traceback_shown", [(1, False), (2, True)])
    def test_a_failure_logs_its_traceback_only_when_asked(
        self, flow, monkeypatch, verbosity, traceback_shown
    ):
        from meter_readings.services.batch import writer as batch_writer

        monkeypatch.setattr(batch_writer.BatchWriter, "flush", lambda self: 1 / 0)
        path = flow("good.uff", d0010_bytes(simple_groups()))
        console = io.StringIO()
        handler = logging.StreamHandler(console)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logging.getLogger().addHandler(handler)
        try:
            output, status = run_command(path, "-v", str(verbosity))
        finally:
            logging.getLogger().removeHandler(handler)

        errors = console.getvalue()
        assert status == 1
        assert "failed: ZeroDivisionError: division by zero" in output
        assert "Import of good.uff failed" in errors
        assert ("Traceback" in errors) is traceback_shown


class TestTheRealCommandLine:
    """The command as an operator runs it: exit statuses and no traceback."""

    @pytest.fixture(autouse=True)
    def own_database(self, tmp_path):
        # The subprocess must not touch the developer's database.
        self.env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3"}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=settings.BASE_DIR,
            env=self.env,
            check=True,
            timeout=120,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "import_d0010", *args],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )

    def test_usage_errors_exit_two_without_a_traceback(self):
        missing = self.run("/no/such/file.uff")
        no_arguments = self.run()

        assert missing.returncode == 2 and no_arguments.returncode == 2
        assert "no such file or directory" in missing.stderr
        assert "Traceback" not in missing.stderr + no_arguments.stderr

    def test_a_database_that_is_not_set_up_gets_the_fix_not_a_traceback(self, tmp_path):
        self.env["DATABASE_URL"] = f"sqlite:///{tmp_path}/never_migrated.sqlite3"

        result = self.run(str(SAMPLE_DATA))

        assert result.returncode == 2
        assert "run 'python manage.py migrate' first" in result.stderr
        assert "Traceback" not in result.stderr

    def test_a_dry_run_of_the_sample_data_exits_zero(self):
        result = self.run(str(SAMPLE_DATA), "--dry-run")

        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        # One summary line per file (a finding adds a line of its own under it).
        summaries = [line for line in result.stdout.splitlines() if ": would be " in line]
        assert len(summaries) == len(list(SAMPLE_DATA.glob("*.uff")))


class TestProgressBar:
    def test_it_counts_the_files_bytes(self, flow):
        from meter_readings.management.commands.import_d0010 import _progress_bar

        path = Path(flow("good.uff", d0010_bytes(simple_groups())))
        bar = _progress_bar(path, enabled=True)
        size = path.stat().st_size
        bar.update_to(ImportProgress(bytes_read=10, bytes_total=size, readings_stored=0))
        bar.update_to(ImportProgress(bytes_read=size, bytes_total=size, readings_stored=1))

        assert (bar.n, bar.total) == (path.stat().st_size, path.stat().st_size)
        bar.close()

    def test_there_is_none_when_output_is_not_a_terminal(self, flow):
        from meter_readings.management.commands.import_d0010 import _progress_bar

        assert _progress_bar(Path(flow("good.uff", b"")), enabled=False) is None


class TestBackground:
    def test_background_queues_each_file_and_says_where_to_follow_it(
        self, flow, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        settings.MEDIA_ROOT = tmp_path / "media"
        path = flow("a.uff", d0010_bytes(simple_groups()))

        with django_capture_on_commit_callbacks(execute=True):
            output, status = run_command(path, "--background")

        flow_file = FlowFile.objects.get()
        assert status == 0
        assert output == f"{path}: queued as flow file #{flow_file.pk}\n"
        assert flow_file.status == FlowFileStatus.IMPORTED  # no broker: ran in-process

    def test_a_dry_run_cannot_be_queued(self, flow):
        with pytest.raises(CommandError) as raised:
            call_command("import_d0010", flow("a.uff", b""), "--background", "--dry-run")

        assert raised.value.returncode == 2
