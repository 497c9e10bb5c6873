import gc
import io
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from django.db import IntegrityError, transaction

from meter_readings.d0010 import FindingCode, RegisterReading, parse_d0010
from meter_readings.models import (
    FlowFile,
    FlowFileStatus,
    ImportFinding,
    Meter,
    MeterPoint,
    Reading,
    SiteVisit,
)
from meter_readings.services import UnableToImportFlowFile, import_flow_file
from meter_readings.services import _import_run, flow_file_import, import_types
from meter_readings.services.batch import BatchWriter, ReadingsWithoutMeter
from meter_readings.tests.d0010_files import (
    MPAN_A,
    MPAN_B,
    MPAN_C,
    d0010_bytes,
    reading_line,
    simple_groups,
    valid_mpan,
)
from meter_readings.tests.factories import make_flow_file, make_reading
from meter_readings.tests.postgres import only_postgresql, other_session

pytestmark = pytest.mark.django_db

RECEIVED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FINISHED_AT = datetime(2026, 3, 2, 9, 1, tzinfo=UTC)


def run_import(data: bytes, filename: str = "flow.uff", **options):
    options.setdefault("now", lambda: FINISHED_AT)
    return import_flow_file(
        stream=io.BytesIO(data), filename=filename, received_at=RECEIVED_AT, **options
    )


RICH_GROUPS = [
    f"026|{MPAN_A}|V|",
    "027|01|site occupied|",
    "028|F75A 00802|D|",
    "029|03|energised|",
    reading_line("S"),
    f"026|{MPAN_B}|F|",
    "028|S95105287|R|",
    reading_line("01", value="123.4", flag="F", method="P"),
    "032|05|F|",
    "033|15|meter stopped|",
    reading_line("MD", value="41.2", md_at="20260201000000", md_count="3"),
    "028|SPARE1|C|",
]


class TestImportingAFile:
    def test_it_stores_readings_with_every_item_and_their_source(self):
        report = run_import(d0010_bytes(RICH_GROUPS), filename="rich.uff")

        assert report.status == FlowFileStatus.IMPORTED
        assert (report.readings_in_file, report.readings_imported) == (3, 3)
        suspect = Reading.objects.select_related("meter__meter_point", "flow_file").get(
            register_id="01"
        )
        assert suspect.meter.meter_point.mpan_core == MPAN_B
        assert suspect.meter.serial_number == "S95105287"
        assert suspect.flow_file.filename == "rich.uff"
        assert suspect.line_number == 9
        assert suspect.value == Decimal("123.4")
        assert (suspect.reading_type, suspect.bsc_validation_status) == ("R", "F")
        assert (suspect.reading_flag, suspect.reading_method) == (False, "P")
        assert (suspect.validation_reason_code, suspect.validation_status) == ("05", False)
        maximum_demand = Reading.objects.get(register_id="MD")
        assert maximum_demand.md_reset_count == 3
        assert maximum_demand.md_reset_at == datetime(2026, 2, 1, tzinfo=UTC)

    def test_values_at_the_edges_are_stored_exactly(self):
        # Readings are written in bulk (binary COPY on PostgreSQL): the largest value,
        # three decimal places, zero, and a summer-time reading time all come back as
        # parsed, with no float or time-zone slip.
        groups = [
            f"026|{MPAN_A}|V|",
            "028|F75A 00802|C|",
            reading_line("01", when="20260701003000", value="9999999999.999"),
            reading_line("02", when="20260701003000", value="0.001"),
            reading_line("03", when="20261101000000", value="0", md_at="20260401120000"),
        ]

        run_import(d0010_bytes(groups))

        stored = {r.register_id: r for r in Reading.objects.all()}
        assert stored["01"].value == Decimal("9999999999.999")
        assert stored["02"].value == Decimal("0.001")
        assert stored["03"].value == Decimal("0")
        # 00:30 BST on 1 July is 23:30 UTC the day before.
        assert stored["01"].read_at == datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
        assert stored["03"].read_at == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
        assert stored["03"].md_reset_at == datetime(2026, 4, 1, 11, 0, tzinfo=UTC)
        assert stored["02"].md_reset_at is None and stored["02"].md_reset_count is None

    def test_it_records_the_file_with_its_envelope_and_counts(self):
        report = run_import(d0010_bytes(RICH_GROUPS, file_id="0000475656"), filename="rich.uff")

        flow_file = FlowFile.objects.get(pk=report.flow_file_id)
        assert (flow_file.status, flow_file.filename) == (FlowFileStatus.IMPORTED, "rich.uff")
        assert (flow_file.file_identifier, flow_file.sender) == ("0000475656", "D/UDMS")
        assert (flow_file.to_role_code, flow_file.to_participant_id) == ("X", "MRCY")
        assert flow_file.file_created_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        assert (flow_file.trailer_group_count, flow_file.trailer_flow_count) == (12, 2)
        assert (flow_file.group_count, flow_file.meter_point_count) == (12, 2)
        assert (flow_file.reading_count, flow_file.readings_imported) == (3, 3)
        assert (flow_file.received_at, flow_file.finished_at) == (RECEIVED_AT, FINISHED_AT)
        assert len(flow_file.sha256) == 64
        assert flow_file.size_bytes == len(d0010_bytes(RICH_GROUPS, file_id="0000475656"))

    def test_it_keeps_meters_without_readings_and_every_site_visit(self):
        run_import(d0010_bytes(RICH_GROUPS))

        assert set(Meter.objects.values_list("serial_number", flat=True)) == {
            "F75A 00802",
            "S95105287",
            "SPARE1",
        }
        visits = {
            visit.level: visit
            for visit in SiteVisit.objects.select_related("meter_point", "meter", "reading")
        }
        assert visits["027"].meter_point.mpan_core == MPAN_A and visits["027"].meter is None
        assert visits["029"].meter.serial_number == "F75A 00802"
        assert visits["033"].reading.register_id == "01"
        assert visits["033"].additional_information == "meter stopped"

    def test_free_text_is_stored_exactly_whatever_characters_it_holds(self):
        # Staged through COPY on PostgreSQL: backslashes and tabs in a field must arrive
        # as they were, not as escapes or split fields.
        text = "gate\\code 4\tthen \\N left"
        groups = [f"026|{MPAN_A}|V|", f"027|01|{text}|", "028|F75A\\1|D|", reading_line("S")]

        run_import(d0010_bytes(groups))

        assert SiteVisit.objects.get().additional_information == text
        assert Meter.objects.get().serial_number == "F75A\\1"

    def test_small_batches_store_exactly_what_one_batch_stores(self):
        run_import(d0010_bytes(RICH_GROUPS), batch_size=1)

        assert Reading.objects.count() == 3
        assert SiteVisit.objects.get(level="033").reading.register_id == "01"

    def test_meter_points_record_their_check(self):
        run_import(d0010_bytes(simple_groups("1234567890123") + simple_groups("7812345678901")))

        assert MeterPoint.objects.get(mpan_core="1234567890123").check_digit_valid is False
        amsid = MeterPoint.objects.get(mpan_core="7812345678901")
        assert (amsid.is_amsid, amsid.check_digit_valid) == (True, None)

    def test_a_test_file_is_marked(self):
        report = run_import(d0010_bytes(simple_groups(), test_flag="TR01"))

        assert report.is_test
        assert FlowFile.objects.get().is_test


class TestFindings:
    def test_a_bad_line_is_an_error_and_the_rest_imports(self):
        groups = simple_groups(MPAN_A) + simple_groups(MPAN_B, value="abc")
        groups += simple_groups(MPAN_C)

        report = run_import(d0010_bytes(groups))

        assert report.status == FlowFileStatus.IMPORTED_WITH_ERRORS
        assert (report.readings_in_file, report.readings_imported) == (3, 2)
        assert [(f.line_number, f.code) for f in report.errors] == [
            (7, FindingCode.INVALID_VALUE),
            (7, FindingCode.INVALID_VALUE),
        ]

    def test_findings_are_stored_with_line_code_field_and_severity(self):
        report = run_import(d0010_bytes(simple_groups("1234567890123", value="-1")))

        stored = list(
            ImportFinding.objects.filter(flow_file_id=report.flow_file_id)
            .order_by("pk")
            .values_list("line_number", "severity", "code", "field")
        )
        assert stored == [
            (2, "WARNING", "MPAN_CHECK_DIGIT", "J0003 MPAN Core"),
            (4, "ERROR", "NEGATIVE_READING", "J0040 Register Reading"),
            (4, "ERROR", "INVALID_VALUE", "030"),
        ]
        flow_file = FlowFile.objects.get()
        assert (flow_file.error_count, flow_file.warning_count) == (2, 1)

    def test_all_findings_are_stored_but_the_report_is_capped(self, monkeypatch):
        monkeypatch.setattr(import_types, "MAX_REPORTED_FINDINGS", 5)
        monkeypatch.setattr(_import_run, "FINDING_BATCH_SIZE", 3)
        groups = [f"026|{MPAN_A}|V|", "028|M1|C|"]
        groups += [reading_line("01", value="x") for _ in range(10)]

        report = run_import(d0010_bytes(groups))

        assert len(report.findings) == 5
        assert report.error_count == 20 and report.findings_not_shown == 15
        assert ImportFinding.objects.count() == 20

    def test_warnings_never_crowd_errors_out_of_the_report(self, monkeypatch):
        monkeypatch.setattr(import_types, "MAX_REPORTED_FINDINGS", 5)
        bad_check_digit = MPAN_A[:-1] + str((int(MPAN_A[-1]) + 1) % 10)
        groups = []
        for index in range(8):
            groups += [f"026|{bad_check_digit}|V|", f"028|M{index}|C|", reading_line("01")]
        groups += [reading_line("02", value="x")]

        report = run_import(d0010_bytes(groups))

        assert (report.error_count, report.warning_count) == (2, 8)
        assert [f.severity for f in report.findings] == ["error"] * 2 + ["warning"] * 3
        assert [f.line_number for f in report.errors] == [26, 26]
        assert report.findings_not_shown == 5

    def test_strict_refuses_an_mpan_without_a_meter_before_a_conformant_one(self):
        groups = [f"026|{MPAN_A}|V|"] + simple_groups(MPAN_B)

        report = run_import(d0010_bytes(groups), strict=True)

        assert report.status == FlowFileStatus.REJECTED
        assert [f.code for f in report.errors] == [FindingCode.MPAN_WITHOUT_METER]
        assert Reading.objects.count() == 0

    def test_a_rejected_file_is_recorded_with_its_reason(self):
        report = run_import(d0010_bytes(simple_groups(), flow="D0010001"), filename="old.uff")

        assert report.status == FlowFileStatus.REJECTED
        flow_file = FlowFile.objects.get()
        assert (flow_file.filename, flow_file.status) == ("old.uff", FlowFileStatus.REJECTED)
        assert list(flow_file.findings.values_list("code", flat=True)) == [
            "UNSUPPORTED_FLOW_VERSION"
        ]
        assert Reading.objects.count() == 0

    def test_an_unreadable_file_is_recorded_as_rejected(self):
        report = run_import(b"\x00\xff" * 100, filename="blob.bin")

        assert report.status == FlowFileStatus.REJECTED
        assert FlowFile.objects.get().findings.filter(code="BINARY_CONTENT").exists()


class TestStrict:
    def test_a_file_with_any_error_is_refused_whole_with_its_findings(self):
        groups = simple_groups(MPAN_A) + simple_groups(MPAN_B, value="abc")

        report = run_import(d0010_bytes(groups), strict=True)

        assert report.status == FlowFileStatus.REJECTED
        assert report.readings_imported == 0
        assert Reading.objects.count() == 0 and MeterPoint.objects.count() == 0
        flow_file = FlowFile.objects.get()
        assert flow_file.strict and flow_file.error_count == 2
        assert flow_file.findings.filter(code="INVALID_VALUE", line_number=7).count() == 2

    def test_a_file_with_only_warnings_imports(self):
        report = run_import(d0010_bytes(simple_groups("1234567890123")), strict=True)

        assert report.status == FlowFileStatus.IMPORTED
        assert Reading.objects.count() == 1

    def test_a_refused_file_can_be_sent_again_corrected(self):
        run_import(d0010_bytes(simple_groups(value="abc")), strict=True)

        report = run_import(d0010_bytes(simple_groups()), strict=True)

        assert report.status == FlowFileStatus.IMPORTED
        assert FlowFile.objects.filter(status=FlowFileStatus.REJECTED).count() == 1


class TestDryRun:
    def test_it_reports_what_would_be_stored_and_stores_nothing(self):
        report = run_import(d0010_bytes(RICH_GROUPS), dry_run=True)

        assert report.dry_run and report.status == FlowFileStatus.IMPORTED
        assert report.readings_imported == 3 and report.flow_file_id is None
        assert FlowFile.objects.count() == 0
        assert Reading.objects.count() == 0 and MeterPoint.objects.count() == 0

    def test_it_sees_resends_without_recording_them(self):
        run_import(d0010_bytes(simple_groups()))

        report = run_import(d0010_bytes(simple_groups()), dry_run=True)

        assert report.status == FlowFileStatus.DUPLICATE
        assert FlowFile.objects.count() == 1


class TestResends:
    def test_the_same_sender_and_identifier_is_a_duplicate_naming_the_original(self):
        first = run_import(d0010_bytes(simple_groups(), file_id="0000475656"), filename="a.uff")
        resend = d0010_bytes(simple_groups(), file_id="0000475656").replace(b"|\n", b"| |\n")

        report = run_import(resend, filename="a copy.uff")

        assert report.status == FlowFileStatus.DUPLICATE
        assert report.duplicate_of.id == first.flow_file_id
        assert report.duplicate_of.filename == "a.uff"
        assert Reading.objects.count() == 1
        duplicate = FlowFile.objects.get(pk=report.flow_file_id)
        assert duplicate.duplicate_of_id == first.flow_file_id
        assert (duplicate.filename, duplicate.file_identifier) == ("a copy.uff", "0000475656")

    def test_the_same_bytes_are_a_duplicate(self):
        data = d0010_bytes(simple_groups())
        first = run_import(data, filename="a.uff")

        report = run_import(data, filename="b.uff")

        assert report.duplicate_of.id == first.flow_file_id

    def test_another_sender_may_reuse_an_identifier(self):
        run_import(d0010_bytes(simple_groups(), sender=("D", "UDMS")))

        report = run_import(d0010_bytes(simple_groups(MPAN_B), sender=("D", "OTHR")))

        assert report.status == FlowFileStatus.IMPORTED

    def test_the_database_refuses_a_second_accepted_copy_of_the_same_bytes(self):
        run_import(d0010_bytes(simple_groups()))
        original = FlowFile.objects.get()

        with pytest.raises(IntegrityError), transaction.atomic():
            FlowFile.objects.create(
                filename="again.uff",
                size_bytes=1,
                sha256=original.sha256,
                status=FlowFileStatus.IMPORTED,
                received_at=RECEIVED_AT,
            )

    def test_the_database_allows_other_bytes_under_a_used_identifier(self):
        run_import(d0010_bytes(simple_groups()))
        original = FlowFile.objects.get()

        FlowFile.objects.create(
            filename="again.uff",
            size_bytes=1,
            sha256="f" * 64,
            status=FlowFileStatus.IMPORTED,
            received_at=RECEIVED_AT,
            file_identifier=original.file_identifier,
            from_role_code="D",
            from_participant_id="UDMS",
        )

        assert FlowFile.objects.count() == 2


def readings_of(count: int) -> list[str]:
    """``count`` readings, one MPAN and meter each."""
    groups = []
    for index in range(count):
        groups += [f"026|{valid_mpan(f'{130000000000 + index}')}|V|", f"028|T{index}|C|"]
        groups.append(reading_line("01", value=f"{index}.0"))
    return groups


def cut(data: bytes, size: int) -> bytes:
    """The first ``size`` bytes: a file cut off in transfer, mid-line."""
    return data[:size]


class TestACompleteResendAfterATruncatedCopy:
    FILE_ID = "7700000001"

    def full(self) -> bytes:
        return d0010_bytes(readings_of(30), file_id=self.FILE_ID)

    def test_the_resend_stores_what_the_truncated_copy_lacked(self):
        truncated = run_import(cut(self.full(), 700), filename="trunc.uff")

        complete = run_import(self.full(), filename="full.uff")

        assert truncated.status == FlowFileStatus.IMPORTED_WITH_ERRORS
        assert 0 < truncated.readings_imported < 30
        assert complete.status == FlowFileStatus.IMPORTED_WITH_ERRORS
        assert complete.readings_imported == 30 - truncated.readings_imported
        assert complete.readings_duplicate == truncated.readings_imported
        assert Reading.objects.count() == 30
        assert [f.code for f in complete.errors] == [FindingCode.IDENTIFIER_REUSED]
        reuse = complete.errors[0]
        assert f"#{truncated.flow_file_id} 'trunc.uff'" in reuse.message
        assert (reuse.line_number, reuse.field) == (1, "J1064 File Identifier")
        assert [ref.id for ref in complete.same_identifier_as] == [truncated.flow_file_id]

    def test_a_header_only_copy_is_rejected_and_owns_nothing(self):
        header = self.full().split(b"\n")[0] + b"\n"
        header_only = run_import(header, filename="header.uff")

        complete = run_import(self.full(), filename="full.uff")

        assert header_only.status == FlowFileStatus.REJECTED
        assert complete.status == FlowFileStatus.IMPORTED and complete.errors == []
        assert Reading.objects.count() == 30

    def test_a_truncated_copy_after_the_complete_file_is_a_duplicate(self):
        complete = run_import(self.full(), filename="full.uff")

        truncated = run_import(cut(self.full(), 700), filename="trunc.uff")

        assert truncated.status == FlowFileStatus.DUPLICATE
        assert truncated.duplicate_of.id == complete.flow_file_id
        assert truncated.readings_duplicate > 0 and truncated.readings_imported == 0
        stored = FlowFile.objects.get(pk=truncated.flow_file_id)
        assert stored.duplicate_of_id == complete.flow_file_id
        # Its own problems are still on record.
        assert FindingCode.MISSING_TRAILER in {f.code for f in truncated.errors}
        assert stored.findings.filter(code="MISSING_TRAILER").exists()
        assert Reading.objects.count() == 30
        assert Reading.objects.filter(flow_file_id=truncated.flow_file_id).count() == 0

    def test_in_strict_mode_the_resend_is_refused_whole_with_its_reasons(self):
        truncated = run_import(cut(self.full(), 700), filename="trunc.uff")

        complete = run_import(self.full(), filename="full.uff", strict=True)

        assert complete.status == FlowFileStatus.REJECTED
        assert complete.readings_imported == 0
        assert [f.code for f in complete.errors] == [FindingCode.IDENTIFIER_REUSED]
        assert "strict mode the file is refused" in complete.errors[0].message
        assert Reading.objects.count() == truncated.readings_imported
        record = FlowFile.objects.get(pk=complete.flow_file_id)
        assert record.status == FlowFileStatus.REJECTED
        assert list(record.findings.values_list("code", flat=True)) == ["IDENTIFIER_REUSED"]

    def test_in_strict_mode_a_copy_adding_nothing_is_a_duplicate(self):
        run_import(self.full(), filename="full.uff")

        again = run_import(self.full().replace(b"\n", b"\r\n"), filename="crlf.uff", strict=True)

        assert again.status == FlowFileStatus.DUPLICATE
        assert again.errors == []

    def test_a_dry_run_reports_the_same_verdicts_and_stores_nothing(self):
        run_import(cut(self.full(), 700), filename="trunc.uff")
        held = Reading.objects.count()

        report = run_import(self.full(), filename="full.uff", dry_run=True)

        assert report.status == FlowFileStatus.IMPORTED_WITH_ERRORS
        assert report.readings_imported == 30 - held
        assert Reading.objects.count() == held and FlowFile.objects.count() == 1


class TestAnotherFileUnderAUsedIdentifier:
    def test_its_own_readings_are_stored_and_its_errors_reported(self):
        first = run_import(d0010_bytes(simple_groups(MPAN_A), file_id="0000000001"))
        other_groups = simple_groups(MPAN_B) + [reading_line("02", value="x")]

        other = run_import(d0010_bytes(other_groups, file_id="0000000001"), filename="other.uff")

        assert other.status == FlowFileStatus.IMPORTED_WITH_ERRORS
        assert other.readings_imported == 1
        assert FindingCode.IDENTIFIER_REUSED in {f.code for f in other.errors}
        assert FindingCode.INVALID_VALUE in {f.code for f in other.errors}
        assert [ref.id for ref in other.same_identifier_as] == [first.flow_file_id]
        assert Reading.objects.count() == 2

    def test_a_changed_value_supersedes_as_in_any_later_file(self):
        run_import(d0010_bytes(simple_groups(value="100.0")))

        changed = run_import(d0010_bytes(simple_groups(value="110.0")), filename="b.uff")

        assert (changed.readings_imported, changed.readings_superseding) == (1, 1)
        assert changed.status == FlowFileStatus.IMPORTED_WITH_ERRORS

    def test_every_earlier_file_is_named(self):
        for index in range(3):
            run_import(
                d0010_bytes(simple_groups(valid_mpan(f"14000000000{index}"))),
                filename=f"f{index}.uff",
            )

        report = run_import(d0010_bytes(simple_groups(MPAN_C)), filename="last.uff")

        message = report.errors[0].message
        assert all(f"'f{index}.uff'" in message for index in range(3))
        assert len(report.same_identifier_as) == 3


class TestSupersededReadings:
    def test_a_later_file_with_another_value_supersedes_and_keeps_both(self):
        run_import(d0010_bytes(simple_groups(value="100.0"), file_id="0000000001"))

        report = run_import(d0010_bytes(simple_groups(value="110.0"), file_id="0000000002"))

        assert (report.readings_imported, report.readings_superseding) == (1, 1)
        earlier, later = Reading.objects.order_by("pk")
        assert (earlier.value, earlier.is_superseded) == (Decimal("100.0"), True)
        assert (later.value, later.is_superseded) == (Decimal("110.0"), False)
        assert later.supersedes_id == earlier.pk

    def test_a_change_of_reading_type_alone_supersedes(self):
        run_import(d0010_bytes(simple_groups(reading_type="C"), file_id="0000000001"))

        run_import(d0010_bytes(simple_groups(reading_type="W"), file_id="0000000002"))

        assert list(
            Reading.objects.order_by("pk").values_list("reading_type", "is_superseded")
        ) == [
            ("C", True),
            ("W", False),
        ]

    def test_the_same_reading_in_a_later_file_is_not_stored_twice(self):
        run_import(d0010_bytes(simple_groups(), file_id="0000000001"))

        report = run_import(d0010_bytes(simple_groups(), file_id="0000000002"))

        assert (report.readings_imported, report.readings_duplicate) == (0, 1)
        assert report.status == FlowFileStatus.IMPORTED
        assert Reading.objects.count() == 1

    def test_a_reading_repeated_in_one_file_is_flagged(self):
        groups = simple_groups(value="1.0") + ["028|F75A 00802|C|", reading_line(value="2.0")]
        groups += [reading_line(value="2.0")]

        report = run_import(d0010_bytes(groups))

        assert [f.code for f in report.warnings] == [FindingCode.READING_REPEATED_IN_FILE] * 2
        assert "supersedes" in report.warnings[0].message
        assert (report.readings_imported, report.readings_duplicate) == (2, 1)
        assert Reading.objects.filter(is_superseded=False).get().value == Decimal("2.0")

    def test_the_database_allows_one_current_reading_per_register_and_time(self):
        reading = make_reading()

        with pytest.raises(IntegrityError), transaction.atomic():
            make_reading(meter=reading.meter, flow_file=reading.flow_file)

    def test_the_database_refuses_a_negative_reading(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            make_reading(value=Decimal("-1"))


def many_readings(count: int, *, value_of=lambda index: f"{index}.5") -> list[str]:
    """``count`` readings, two registers per meter, one meter per MPAN."""
    groups = []
    for index in range(0, count, 2):
        groups += [f"026|{valid_mpan(f'{120000000000 + index}')}|V|", f"028|M{index}|C|"]
        groups += [reading_line(register, value=value_of(index)) for register in ("01", "02")]
    return groups


class TestLargeBatches:
    # More rows than one staging statement takes (16,384 parameters), in one batch.
    COUNT = 2_600

    def test_every_reading_of_a_large_batch_is_stored_once(self):
        report = run_import(d0010_bytes(many_readings(self.COUNT)))

        assert report.readings_imported == self.COUNT
        assert Reading.objects.count() == self.COUNT
        assert MeterPoint.objects.count() == Meter.objects.count() == self.COUNT // 2
        last = Reading.objects.get(meter__serial_number=f"M{self.COUNT - 2}", register_id="02")
        assert last.value == Decimal(f"{self.COUNT - 2}.5")

    def test_a_resend_under_a_new_identifier_is_held_and_a_changed_one_supersedes(self):
        run_import(d0010_bytes(many_readings(self.COUNT), file_id="0000000001"))

        held = run_import(d0010_bytes(many_readings(self.COUNT), file_id="0000000002"))
        changed = run_import(
            d0010_bytes(
                many_readings(self.COUNT, value_of=lambda index: f"{index + (index == 42)}.5"),
                file_id="0000000003",
            )
        )

        assert (held.readings_imported, held.readings_duplicate) == (0, self.COUNT)
        assert (changed.readings_imported, changed.readings_superseding) == (2, 2)
        assert Reading.objects.count() == self.COUNT + 2
        assert Reading.objects.filter(is_superseded=True).count() == 2


class TestNewMetersOfABatch:
    """Each reading is stored against its own meter however the file orders them."""

    # MPANs and serials in descending order, a meter given twice: the batch stores its
    # meters in key order, not the file's.
    GROUPS = [
        f"026|{MPAN_C}|V|",
        "028|Z9|C|",
        reading_line("S", value="1.0"),
        "028|A1|C|",
        reading_line("S", value="2.0"),
        f"026|{MPAN_B}|V|",
        "028|Z9|C|",
        reading_line("S", value="3.0"),
        f"026|{MPAN_A}|V|",
        "028|M5|C|",
        reading_line("S", value="4.0"),
        f"026|{MPAN_C}|V|",
        "028|Z9|C|",
        reading_line("01", value="5.0"),
    ]
    EXPECTED = [
        (MPAN_A, "M5", "S", Decimal("4.000")),
        (MPAN_B, "Z9", "S", Decimal("3.000")),
        (MPAN_C, "A1", "S", Decimal("2.000")),
        (MPAN_C, "Z9", "01", Decimal("5.000")),
        (MPAN_C, "Z9", "S", Decimal("1.000")),
    ]

    @staticmethod
    def stored() -> list[tuple]:
        return sorted(
            Reading.objects.values_list(
                "meter__meter_point__mpan_core", "meter__serial_number", "register_id", "value"
            )
        )

    def test_each_reading_is_stored_against_its_meter(self):
        report = run_import(d0010_bytes(self.GROUPS))

        assert report.readings_imported == 5
        assert Meter.objects.count() == 4
        assert self.stored() == self.EXPECTED

    def test_meters_numbered_after_a_gap_are_matched_too(self):
        # The highest meter deleted: new meters are numbered above it, not above the
        # highest left (AUTOINCREMENT on SQLite, a sequence on PostgreSQL).
        run_import(d0010_bytes(simple_groups(serial="GONE"), file_id="0000000001"))
        Reading.objects.all().delete()
        Meter.objects.filter(serial_number="GONE").delete()

        run_import(d0010_bytes(self.GROUPS, file_id="0000000002"))

        assert self.stored() == self.EXPECTED

    def test_a_batch_of_held_and_new_meters_is_matched(self):
        run_import(d0010_bytes(self.GROUPS[5:8], file_id="0000000001"))

        report = run_import(d0010_bytes(self.GROUPS, file_id="0000000002"))

        assert (report.readings_imported, report.readings_duplicate) == (4, 1)
        assert self.stored() == self.EXPECTED


class TestBatchesOfNewAndHeldMeters:
    """One batch with readings of meters held before it and of meters it creates.

    The second go straight into the reading table (COPY on PostgreSQL, multi-row
    INSERTs on SQLite); the first are matched with what is held, by meter id on
    PostgreSQL and by MPAN core and serial on SQLite. Either way, the same outcome.
    """

    HELD = [
        f"026|{MPAN_A}|V|",
        "028|F75A 00802|C|",
        reading_line("S", value="100.0"),
        reading_line("01", value="5.0"),
    ]
    MIXED = [
        f"026|{MPAN_A}|V|",
        "028|F75A 00802|C|",
        reading_line("S", value="100.0"),
        "033|15|held reading|",
        reading_line("01", value="6.0"),
        reading_line("S", when="20260301000000", value="110.0"),
        "028|NEW1|C|",
        reading_line("S", value="1.0"),
        "033|15|new meter's reading|",
        f"026|{MPAN_B}|V|",
        "028|X1|C|",
        reading_line("S", value="2.0"),
    ]

    @pytest.mark.parametrize("batch_size", [10_000, 2])
    def test_each_reading_is_held_superseding_or_new(self, batch_size):
        run_import(d0010_bytes(self.HELD, file_id="0000000001"))

        report = run_import(d0010_bytes(self.MIXED, file_id="0000000002"), batch_size=batch_size)

        assert (
            report.readings_imported,
            report.readings_duplicate,
            report.readings_superseding,
        ) == (4, 1, 1)
        second = FlowFile.objects.get(file_identifier="0000000002")
        assert sorted(
            Reading.objects.filter(flow_file=second).values_list(
                "meter__meter_point__mpan_core", "meter__serial_number", "register_id", "value"
            )
        ) == [
            (MPAN_A, "F75A 00802", "01", Decimal("6.000")),
            (MPAN_A, "F75A 00802", "S", Decimal("110.000")),
            (MPAN_A, "NEW1", "S", Decimal("1.000")),
            (MPAN_B, "X1", "S", Decimal("2.000")),
        ]
        superseded = Reading.objects.get(is_superseded=True)
        assert (superseded.register_id, superseded.value) == ("01", Decimal("5.000"))
        assert Reading.objects.get(supersedes=superseded).value == Decimal("6.000")
        assert Meter.objects.count() == 3 and MeterPoint.objects.count() == 2
        visits = {v.additional_information: v.reading for v in SiteVisit.objects.all()}
        # The held reading's 033 names the reading already held; the new one's, its own.
        assert visits["held reading"].flow_file.file_identifier == "0000000001"
        assert visits["new meter's reading"].meter.serial_number == "NEW1"
        assert visits["new meter's reading"].flow_file == second


@only_postgresql
@pytest.mark.django_db(transaction=True)
class TestImportsCreatingTheSameMeters:
    """Another import stores a new meter point or meter while this one is creating it."""

    def _commit_once_blocked(self, other: psycopg.Connection) -> threading.Thread:
        """Commit ``other`` as soon as a session waits for one of its row locks."""

        def commit_when_waited_for() -> None:
            with other_session() as watcher:
                for _ in range(500):
                    waiting = watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ).fetchone()[0]
                    if waiting:
                        break
                    time.sleep(0.02)
            other.commit()

        thread = threading.Thread(target=commit_when_waited_for)
        thread.start()
        return thread

    @pytest.mark.parametrize("stored_by_other", ["meter point", "meter"])
    def test_the_import_runs_again_and_stores_everything_once(self, stored_by_other, caplog):
        point_table, meter_table = MeterPoint._meta.db_table, Meter._meta.db_table
        with other_session(autocommit=False) as other:
            if stored_by_other == "meter":
                other.execute(
                    f"INSERT INTO {point_table} (mpan_core, distributor_id, "
                    "check_digit_valid, is_amsid) VALUES (%s, '12', true, false)",
                    [MPAN_A],
                )
                other.commit()
            # Not yet committed: this import's lookup cannot see it; its COPY waits.
            other.execute(
                f"INSERT INTO {point_table} (mpan_core, distributor_id, check_digit_valid, "
                "is_amsid) VALUES (%s, '12', true, false) ON CONFLICT DO NOTHING",
                [MPAN_A],
            )
            if stored_by_other == "meter":
                other.execute(
                    f"INSERT INTO {meter_table} (meter_point_id, serial_number) "
                    f"SELECT id, 'F75A 00802' FROM {point_table} WHERE mpan_core = %s",
                    [MPAN_A],
                )
            committer = self._commit_once_blocked(other)
            with caplog.at_level("INFO", logger=flow_file_import.__name__):
                report = run_import(d0010_bytes(simple_groups() + simple_groups(MPAN_B)))
            committer.join()

        assert report.status == FlowFileStatus.IMPORTED
        assert report.readings_imported == 2
        assert "again: another import wrote the same rows" in caplog.text
        assert MeterPoint.objects.count() == 2 and Meter.objects.count() == 2
        assert Reading.objects.count() == 2 and FlowFile.objects.count() == 1
        reading = Reading.objects.get(meter__meter_point__mpan_core=MPAN_A)
        assert reading.meter.serial_number == "F75A 00802"


class TestBatchWriterGuards:
    def test_meter_points_without_readings_are_written_in_batches_too(self, monkeypatch):
        flushes = []
        real_flush = BatchWriter.flush

        def counting_flush(writer):
            flushes.append(len(writer._meter_points))
            real_flush(writer)

        monkeypatch.setattr(BatchWriter, "flush", counting_flush)
        groups = []
        for index in range(10):
            groups += [f"026|{valid_mpan(f'{130000000000 + index}')}|V|", f"028|M{index}|C|"]

        run_import(d0010_bytes(groups), batch_size=3)

        assert MeterPoint.objects.count() == Meter.objects.count() == 10
        # Held at most a batch of them at a time, not all ten until the end.
        assert max(flushes) <= 3 and len(flushes) >= 4

    def test_a_reading_whose_meter_was_never_written_fails_the_batch(self):
        # The parser always gives a reading's 026 and 028 first; if a caller did not,
        # the staging join would drop the reading: the writer refuses instead.
        writer = BatchWriter(flow_file=make_flow_file(), on_finding=lambda finding: None)
        reading = next(
            event
            for event in parse_d0010(d0010_bytes(simple_groups()).splitlines())
            if isinstance(event, RegisterReading)
        )
        writer.add_reading(reading)

        with pytest.raises(
            ReadingsWithoutMeter, match="^1 reading\\(s\\) of a batch found no meter"
        ):
            writer.flush()
        assert not Reading.objects.exists()


class TestFailures:
    def test_an_unexpected_failure_stores_nothing_and_is_recorded(self, monkeypatch):
        def explode(self):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(BatchWriter, "flush", explode)

        with pytest.raises(UnableToImportFlowFile) as raised:
            run_import(d0010_bytes(simple_groups()), filename="f.uff")

        assert raised.value.reason == "RuntimeError: disk on fire"
        assert Reading.objects.count() == 0 and MeterPoint.objects.count() == 0
        failed = FlowFile.objects.get()
        assert (failed.status, failed.failure_reason) == (
            FlowFileStatus.FAILED,
            "RuntimeError: disk on fire",
        )
        assert raised.value.flow_file_id == failed.pk

    def test_a_failed_file_can_be_imported_again(self, monkeypatch):
        with monkeypatch.context() as patched:
            patched.setattr(BatchWriter, "flush", lambda self: 1 / 0)
            with pytest.raises(UnableToImportFlowFile):
                run_import(d0010_bytes(simple_groups()))

        report = run_import(d0010_bytes(simple_groups()))

        assert report.status == FlowFileStatus.IMPORTED

    def test_a_failure_in_a_dry_run_records_nothing(self, monkeypatch):
        monkeypatch.setattr(BatchWriter, "flush", lambda self: 1 / 0)

        with pytest.raises(UnableToImportFlowFile) as raised:
            run_import(d0010_bytes(simple_groups()), dry_run=True)

        assert raised.value.flow_file_id is None
        assert FlowFile.objects.count() == 0


class TestPlannerStatistics:
    def test_a_large_import_refreshes_postgresql_statistics(self, monkeypatch):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        monkeypatch.setattr(flow_file_import, "ANALYZE_AFTER_READINGS", 1)

        with CaptureQueriesContext(connection) as queries:
            run_import(d0010_bytes(simple_groups()))

        analyzed = [q["sql"] for q in queries if q["sql"].startswith("ANALYZE")]
        assert len(analyzed) == (1 if connection.vendor == "postgresql" else 0)

    @only_postgresql
    def test_an_import_small_beside_what_the_table_held_does_not(self, monkeypatch):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        monkeypatch.setattr(flow_file_import, "ANALYZE_AFTER_READINGS", 1)
        run_import(d0010_bytes(simple_groups(), file_id="0000000001"), filename="one.uff")
        # The planner now knows of 1 reading: a second is not 2x that.
        monkeypatch.setattr(flow_file_import, "ANALYZE_AFTER_SHARE", 2)

        with CaptureQueriesContext(connection) as queries:
            report = run_import(
                d0010_bytes(simple_groups(serial="OTHER"), file_id="0000000002"),
                filename="two.uff",
            )

        assert report.readings_imported == 1
        assert not any(q["sql"].startswith("ANALYZE") for q in queries)

    def test_a_small_import_does_not(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            run_import(d0010_bytes(simple_groups()))

        assert not any(q["sql"].startswith("ANALYZE") for q in queries)


class TestProgress:
    def test_it_reports_bytes_and_readings_so_far_up_to_the_end(self, monkeypatch):
        monkeypatch.setattr(_import_run, "PROGRESS_EVERY_EVENTS", 10)
        groups = [f"026|{MPAN_A}|V|", "028|M1|C|"]
        groups += [reading_line("01", when=f"202602{day:02d}000000") for day in range(1, 29)]
        data = d0010_bytes(groups)
        seen = []

        run_import(data, on_progress=seen.append, batch_size=5)

        assert len(seen) > 2
        assert [p.bytes_read for p in seen] == sorted(p.bytes_read for p in seen)
        assert 0 < seen[1].readings_stored < 28
        assert (seen[-1].bytes_read, seen[-1].bytes_total, seen[-1].readings_stored) == (
            len(data),
            len(data),
            28,
        )


class TestCollectorPause:
    def test_an_import_runs_with_the_collector_paused_and_resumes_it(self):
        seen = []

        run_import(
            d0010_bytes(many_readings(40)), on_progress=lambda _: seen.append(gc.isenabled())
        )

        assert seen and not any(seen)
        assert gc.isenabled()

    def test_an_import_makes_no_cyclic_garbage_for_the_paused_collector(self, monkeypatch):
        # Reference counting alone frees what an import makes: with the collector
        # paused, memory stays flat. Collected by hand as the import goes, the garbage
        # found does not grow with the readings.
        monkeypatch.setattr(_import_run, "PROGRESS_EVERY_EVENTS", 400)
        found = []

        run_import(
            d0010_bytes(many_readings(4000)),
            batch_size=100,
            on_progress=lambda _: found.append(gc.collect()),
        )

        assert len(found) > 10
        assert sum(found[1:]) < 50
