import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meter_readings.d0010 import (
    FileHeader,
    FileRejected,
    FileTrailer,
    Finding,
    FindingCode,
    MeterPointRecord,
    MeterRecord,
    ParseSummary,
    RegisterReading,
    Severity,
    SiteVisitRecord,
    parse_d0010,
    parse_stream,
)
from meter_readings.d0010.parser import MAX_LINE_BYTES, iter_stream_lines
from meter_readings.tests.d0010_files import (
    MPAN_A,
    MPAN_B,
    d0010_bytes,
    reading_line,
    simple_groups,
    valid_mpan,
)


@dataclass
class Parsed:
    events: list

    def of(self, kind: type) -> list:
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def readings(self) -> list[RegisterReading]:
        return self.of(RegisterReading)

    @property
    def findings(self) -> list[Finding]:
        return self.of(Finding)

    @property
    def codes(self) -> list[str]:
        return [finding.code for finding in self.findings]

    @property
    def summary(self) -> ParseSummary:
        return self.events[-1]

    @property
    def rejected(self) -> bool:
        return bool(self.of(FileRejected))


def parse(data: bytes) -> Parsed:
    return Parsed(list(parse_stream(io.BytesIO(data))))


def parse_groups(groups: list[str], **options) -> Parsed:
    return parse(d0010_bytes(groups, **options))


class TestAWellFormedFile:
    def test_it_reads_the_reference_reading_with_every_item_typed(self):
        parsed = parse_groups(simple_groups(reading_type="D"))

        assert parsed.findings == []
        [reading] = parsed.readings
        assert reading.mpan_core == MPAN_A
        assert reading.serial_number == "F75A 00802"
        assert reading.reading_type == "D"
        assert reading.bsc_validation_status == "V"
        assert reading.register_id == "S"
        assert reading.read_at.astimezone(UTC) == datetime(2026, 2, 22, tzinfo=UTC)
        assert reading.value == Decimal("56311.0")
        assert (reading.md_reset_at, reading.md_reset_count) == (None, None)
        assert (reading.reading_flag, reading.reading_method) == (True, "N")

    def test_it_yields_header_records_and_trailer_in_file_order(self):
        parsed = parse_groups(simple_groups())

        kinds = [type(event) for event in parsed.events]

        assert kinds == [
            FileHeader,
            MeterPointRecord,
            MeterRecord,
            RegisterReading,
            FileTrailer,
            ParseSummary,
        ]

    def test_the_header_is_read_field_by_field(self):
        header = parse_groups(simple_groups(), file_id="0000475656").of(FileHeader)[0]

        assert (header.file_identifier, header.flow_reference, header.flow_version) == (
            "0000475656",
            "D0010",
            "002",
        )
        assert (header.from_role_code, header.from_participant_id) == ("D", "UDMS")
        assert (header.to_role_code, header.to_participant_id) == ("X", "MRCY")
        assert header.created_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        assert header.is_test is False

    def test_the_summary_counts_what_was_seen(self):
        parsed = parse_groups(
            [f"026|{MPAN_A}|V|", "028|M1|C|", reading_line("01"), reading_line("02")]
            + [f"026|{MPAN_B}|V|", "028|M2|C|", reading_line()]
        )

        summary = parsed.summary
        assert (summary.group_count, summary.meter_point_count, summary.meter_count) == (7, 2, 2)
        assert (summary.reading_lines, summary.readings_parsed, summary.error_count) == (3, 3, 0)
        assert summary.line_count == 9

    def test_the_last_mpans_readings_are_not_lost_at_the_trailer(self):
        parsed = parse_groups(simple_groups(MPAN_A) + simple_groups(MPAN_B))

        assert [reading.mpan_core for reading in parsed.readings] == [MPAN_A, MPAN_B]

    def test_crlf_and_a_missing_final_newline_are_accepted(self):
        data = d0010_bytes(simple_groups(), newline="\r\n").rstrip(b"\r\n")

        parsed = parse(data)

        assert parsed.findings == [] and len(parsed.readings) == 1

    def test_blank_lines_after_the_trailer_are_ignored(self):
        parsed = parse(d0010_bytes(simple_groups()) + b"\n\n  \n")

        assert parsed.findings == []


class TestHierarchy:
    def test_several_meters_under_one_mpan_keep_their_own_readings(self):
        parsed = parse_groups(
            [f"026|{MPAN_A}|V|", "028|OLD1|F|", reading_line("01"), "028|NEW1|I|"]
            + [reading_line("01", value="0.0")]
        )

        assert [(r.serial_number, r.reading_type, r.value) for r in parsed.readings] == [
            ("OLD1", "F", Decimal("56311.0")),
            ("NEW1", "I", Decimal("0.0")),
        ]

    def test_a_meter_without_readings_is_legal(self):
        parsed = parse_groups([f"026|{MPAN_A}|V|", "028|M1|C|", "028|M2|C|", reading_line()])

        assert parsed.findings == []
        assert [meter.serial_number for meter in parsed.of(MeterRecord)] == ["M1", "M2"]

    def test_an_mpan_without_a_meter_is_an_error(self):
        parsed = parse_groups([f"026|{MPAN_A}|V|"] + simple_groups(MPAN_B))

        [finding] = parsed.findings
        assert (finding.code, finding.line_number, finding.severity) == (
            FindingCode.MPAN_WITHOUT_METER,
            2,
            Severity.ERROR,
        )
        assert not parsed.rejected and len(parsed.readings) == 1

    def test_an_mpan_without_a_meter_closed_on_the_fast_path_counts_as_an_error(self):
        # The next 026 is conformant, so the fast path closes the MPAN before it: the
        # summary (which strict mode reads) must count the finding as the error it is.
        parsed = parse_groups([f"026|{MPAN_A}|V|"] + simple_groups(MPAN_B))

        assert parsed.codes == [FindingCode.MPAN_WITHOUT_METER]
        assert (parsed.summary.error_count, parsed.summary.warning_count) == (1, 0)

    def test_the_last_mpan_without_a_meter_is_an_error_before_the_trailer(self):
        parsed = parse_groups(simple_groups() + [f"026|{MPAN_B}|V|"])

        assert parsed.codes == [FindingCode.MPAN_WITHOUT_METER]
        assert parsed.findings[0].line_number == 5

    def test_a_validation_result_and_site_visit_belong_to_their_reading(self):
        parsed = parse_groups(
            [f"026|{MPAN_A}|F|", "028|M1|R|", reading_line(flag="F", method="P")]
            + ["032|05|F|", "033|15|Meter stopped|", reading_line("02")]
        )

        first, second = parsed.readings
        assert (first.validation_reason_code, first.validation_status) == ("05", False)
        assert [(v.group_code, v.check_code, v.reading_line_number) for v in first.site_visits] == [
            ("033", "15", 4)
        ]
        assert second.validation_reason_code == "" and not second.site_visits

    def test_a_validation_result_after_a_site_visit_still_attaches(self):
        parsed = parse_groups(
            [f"026|{MPAN_A}|V|", "028|M1|R|", reading_line(flag="F"), "033|15||", "032|05|T|"]
        )

        assert parsed.readings[0].validation_status is True

    def test_a_second_validation_result_is_an_error(self):
        parsed = parse_groups(
            [f"026|{MPAN_A}|V|", "028|M1|R|", reading_line(flag="F"), "032|05|F|", "032|06|F|"]
        )

        assert parsed.codes == [FindingCode.DUPLICATE_VALIDATION_RESULT]
        assert parsed.readings[0].validation_reason_code == "05"

    def test_mpan_and_meter_site_visits_carry_their_parents(self):
        parsed = parse_groups(
            [f"026|{MPAN_A}|V|", "027|01|occupied|", "028|M1|R|", "029|03|energised|"]
            + [reading_line()]
        )

        visits = parsed.of(SiteVisitRecord)
        assert [(v.group_code, v.mpan_core, v.serial_number) for v in visits] == [
            ("027", MPAN_A, ""),
            ("029", MPAN_A, "M1"),
        ]
        assert visits[0].additional_information == "occupied"

    def test_a_meter_before_any_mpan_is_an_orphan(self):
        parsed = parse_groups(["028|M1|C|", reading_line()] + simple_groups())

        assert parsed.codes[:2] == [FindingCode.ORPHAN_GROUP, FindingCode.PARENT_REJECTED]
        assert "line 2" in parsed.findings[1].message
        assert len(parsed.readings) == 1

    def test_a_reading_straight_under_an_mpan_is_an_orphan(self):
        parsed = parse_groups([f"026|{MPAN_A}|V|", reading_line(), "028|M1|C|"])

        assert parsed.codes == [FindingCode.ORPHAN_GROUP]
        assert parsed.findings[0].line_number == 3

    def test_children_of_a_rejected_mpan_are_each_reported(self):
        parsed = parse_groups(["026|12345|V|", "028|M1|C|", reading_line(), "032|05|F|"])

        assert parsed.codes == [
            FindingCode.INVALID_MPAN_CORE,
            FindingCode.PARENT_REJECTED,
            FindingCode.PARENT_REJECTED,
            FindingCode.PARENT_REJECTED,
        ]
        assert parsed.readings == []

    def test_site_visits_without_their_parent_are_orphans(self):
        parsed = parse_groups(["027|01||", "029|01||", "033|01||"] + simple_groups())

        assert parsed.codes == [FindingCode.ORPHAN_GROUP] * 3


class TestEnvelope:
    def test_an_empty_file_is_rejected(self):
        parsed = parse(b"")

        assert parsed.rejected and parsed.codes == [FindingCode.EMPTY_FILE]

    def test_a_file_of_blank_lines_is_rejected(self):
        assert parse(b"\n \r\n\n").codes == [FindingCode.EMPTY_FILE]

    def test_a_file_not_starting_with_zhv_is_rejected_at_line_one(self):
        parsed = parse(b"hello|world|\n" + d0010_bytes(simple_groups()))

        assert parsed.rejected
        assert parsed.findings[0].code == FindingCode.NOT_A_D0010_FILE
        assert parsed.readings == []

    def test_another_flow_is_rejected(self):
        parsed = parse_groups(simple_groups(), flow="D0150001")

        assert parsed.rejected and parsed.codes == [FindingCode.UNSUPPORTED_FLOW]

    def test_version_001_is_rejected_with_the_version_named(self):
        parsed = parse_groups(simple_groups(), flow="D0010001")

        assert parsed.codes == [FindingCode.UNSUPPORTED_FLOW_VERSION]
        assert "'001'" in parsed.findings[0].message

    def test_a_header_without_a_file_identifier_is_rejected(self):
        parsed = parse_groups(simple_groups(), file_id="")

        assert parsed.rejected and parsed.codes == [FindingCode.MALFORMED_HEADER]

    def test_a_header_without_a_sender_is_rejected(self):
        parsed = parse(b"ZHV|0000000001|D0010002|||X|MRCY|20260301120000||||OPER|\n")

        assert parsed.rejected and parsed.codes == [FindingCode.MALFORMED_HEADER]

    def test_a_truncated_header_is_rejected(self):
        parsed = parse(b"ZHV|0000000001|D0010002|D|\n")

        assert parsed.rejected
        assert parsed.codes == [FindingCode.TOO_FEW_FIELDS, FindingCode.NOT_A_D0010_FILE]
        assert "3 of its 11 data items" in parsed.findings[0].message
        assert "too few data items" in parsed.findings[1].message

    def test_a_short_header_is_reported_with_its_count_of_items(self):
        parsed = parse(b"ZHV|0000000001|D0010|D|UDMS|X|MRCY|\n" + b"026|1|V|\n")

        assert parsed.rejected and parsed.codes == [FindingCode.UNSUPPORTED_FLOW_VERSION]
        message = parsed.findings[0].message
        assert "no version" in message and "6 of its 11 data items" in message

    def test_a_header_only_file_is_an_empty_flow_and_rejected(self):
        parsed = parse_groups([])

        assert parsed.rejected and parsed.codes == [FindingCode.EMPTY_FLOW]
        assert parsed.summary.rejected

    def test_a_header_cut_off_before_any_mpan_is_rejected(self):
        parsed = parse_groups([], trailer=False)

        assert parsed.rejected
        assert parsed.codes == [FindingCode.EMPTY_FLOW, FindingCode.MISSING_TRAILER]

    def test_a_test_file_is_marked_and_flagged(self):
        parsed = parse_groups(simple_groups(), test_flag="TR01")

        assert parsed.of(FileHeader)[0].is_test
        assert parsed.codes == [FindingCode.TEST_FILE]
        assert len(parsed.readings) == 1

    def test_an_empty_test_flag_is_read_as_live_and_flagged(self):
        parsed = parse_groups(simple_groups(), test_flag="")

        assert not parsed.of(FileHeader)[0].is_test
        assert parsed.codes == [FindingCode.MISSING_VALUE]

    def test_bad_header_timestamps_are_flagged_not_fatal(self):
        data = d0010_bytes(simple_groups()).replace(b"20260301120000", b"20261340000000", 1)

        parsed = parse(data)

        assert parsed.codes == [FindingCode.VALUE_IGNORED]
        assert parsed.of(FileHeader)[0].created_at is None

    def test_a_missing_trailer_is_an_error_naming_the_last_line(self):
        parsed = parse_groups(simple_groups(), trailer=False)

        assert parsed.codes == [FindingCode.MISSING_TRAILER]
        assert "after line 4" in parsed.findings[0].message
        assert len(parsed.readings) == 1

    def test_trailer_counts_that_disagree_are_errors_but_readings_are_kept(self):
        parsed = parse_groups(simple_groups(), group_count=35, flow_count=11)

        assert parsed.codes == [FindingCode.GROUP_COUNT_MISMATCH, FindingCode.FLOW_COUNT_MISMATCH]
        assert "declares 35 group lines but the file has 3" in parsed.findings[0].message
        assert len(parsed.readings) == 1

    def test_a_trailer_for_another_file_is_an_error(self):
        parsed = parse_groups(simple_groups(), trailer_file_id="0000000999")

        assert parsed.codes == [FindingCode.TRAILER_FILE_ID_MISMATCH]

    def test_unreadable_trailer_counts_are_errors(self):
        data = d0010_bytes(simple_groups()).replace(b"|3||1|", b"|x||y|")

        assert parse(data).codes == [FindingCode.MALFORMED_TRAILER] * 2

    def test_a_trailer_count_too_long_for_its_item_is_malformed_and_not_kept(self):
        twenty_digits = b"3" * 20
        data = d0010_bytes(simple_groups()).replace(b"|3||1|", b"|" + twenty_digits + b"||1|")

        parsed = parse(data)

        assert parsed.codes == [FindingCode.MALFORMED_TRAILER]
        assert "at most 10 digits" in parsed.findings[0].message
        assert parsed.of(FileTrailer)[0].group_count is None
        assert len(parsed.readings) == 1

    def test_a_ten_digit_count_is_read(self):
        data = d0010_bytes(simple_groups()).replace(b"|3||1|", b"|0000000003||0000000001|")

        parsed = parse(data)

        assert parsed.codes == []
        assert parsed.of(FileTrailer)[0].group_count == 3

    def test_a_short_trailer_is_reported_once_not_also_as_missing(self):
        data = d0010_bytes(simple_groups(), trailer=False) + b"ZPT|5|\n"

        parsed = parse(data)

        assert parsed.codes == [FindingCode.TOO_FEW_FIELDS]
        assert parsed.findings[0].field == "ZPT"
        assert len(parsed.readings) == 1

    def test_the_trailer_is_read(self):
        trailer = parse_groups(simple_groups()).of(FileTrailer)[0]

        assert (trailer.group_count, trailer.flow_count, trailer.checksum) == (3, 1, "")
        assert trailer.completed_at == datetime(2026, 3, 1, 12, 5, tzinfo=UTC)

    def test_lines_after_the_trailer_are_errors(self):
        parsed = parse(d0010_bytes(simple_groups()) + b"030|S|20260222000000|1.0|||T|N|\n")

        assert parsed.codes == [FindingCode.LINE_AFTER_TRAILER]
        assert parsed.findings[0].line_number == 6

    def test_a_second_header_is_an_error(self):
        groups = simple_groups() + ["ZHV|0000000002|D0010002|D|UDMS|X|MRCY|20260301120000||||OPER|"]

        parsed = parse_groups(groups, group_count=4)

        assert parsed.codes == [FindingCode.UNEXPECTED_HEADER]


class TestLines:
    def test_empty_extra_fields_are_summarised_in_one_warning(self):
        data = d0010_bytes(simple_groups()).replace(b"|\n", b"| | |\n")

        parsed = parse(data)

        [finding] = parsed.findings
        assert finding.code == FindingCode.EXTRA_FIELDS
        assert finding.message.startswith("5 line(s)")
        assert len(parsed.readings) == 1

    def test_extra_fields_with_content_are_flagged_on_their_line(self):
        groups = simple_groups()
        groups[2] += "surprise|"

        parsed = parse_groups(groups)

        assert parsed.codes == [FindingCode.EXTRA_FIELDS]
        assert "'surprise'" in parsed.findings[0].message
        assert len(parsed.readings) == 1

    def test_missing_trailing_delimiters_are_summarised(self):
        data = d0010_bytes(simple_groups()).replace(b"|\n", b"\n")

        parsed = parse(data)

        assert parsed.codes == [FindingCode.MISSING_TRAILING_DELIMITER]
        assert len(parsed.readings) == 1

    def test_a_line_with_too_few_fields_is_skipped_with_its_children(self):
        parsed = parse_groups([f"026|{MPAN_A}|V|", "028|M1|", reading_line()])

        assert parsed.codes == [FindingCode.TOO_FEW_FIELDS, FindingCode.PARENT_REJECTED]

    def test_a_short_reading_line_is_counted_and_its_children_skipped(self):
        parsed = parse_groups([f"026|{MPAN_A}|V|", "028|M1|C|", "030|S|", "032|05|F|"])

        assert parsed.codes == [FindingCode.TOO_FEW_FIELDS, FindingCode.PARENT_REJECTED]
        assert parsed.summary.reading_lines == 1

    def test_an_unknown_group_is_an_error(self):
        parsed = parse_groups(simple_groups() + ["031|x|"])

        assert parsed.codes == [FindingCode.UNKNOWN_GROUP]
        assert parsed.findings[0].line_number == 5

    def test_a_blank_line_inside_the_file_is_flagged(self):
        parsed = parse_groups(simple_groups()[:2] + [""] + simple_groups()[2:], group_count=3)

        assert parsed.codes == [FindingCode.BLANK_LINE]
        assert len(parsed.readings) == 1

    def test_binary_data_is_rejected_at_the_first_line(self):
        parsed = parse(b"\x00\x01\x02\xff\n\x00")

        assert parsed.rejected
        assert parsed.codes[0] == FindingCode.BINARY_CONTENT

    def test_a_nul_byte_inside_the_file_loses_only_its_line(self):
        groups = simple_groups() + simple_groups(MPAN_B)
        groups[5] = "030|S|20260222\x00000000|1.0|||T|N|"

        parsed = parse_groups(groups)

        assert parsed.codes == [FindingCode.BINARY_CONTENT]
        assert len(parsed.readings) == 1

    def test_latin1_text_is_decoded_and_flagged(self):
        groups = simple_groups() + ["033|01|caf\xe9 closed|"]

        parsed = parse_groups(groups)

        assert parsed.codes == [FindingCode.NON_ASCII_TEXT]
        assert "Latin-1" in parsed.findings[0].message
        assert parsed.readings[0].site_visits[0].additional_information == "café closed"

    def test_utf8_text_is_decoded_and_flagged(self):
        data = d0010_bytes(simple_groups() + ["033|01|X|"]).replace(b"|X|", "|café|".encode())

        parsed = parse(data)

        assert "UTF-8" in parsed.findings[0].message
        assert parsed.readings[0].site_visits[0].additional_information == "café"

    def test_a_byte_order_mark_is_removed(self):
        parsed = parse(b"\xef\xbb\xbf" + d0010_bytes(simple_groups()))

        assert parsed.codes == [FindingCode.NON_ASCII_TEXT]
        assert len(parsed.readings) == 1

    def test_an_overlong_line_is_skipped_without_being_held_whole(self):
        huge = "033|01|" + "x" * (10 * MAX_LINE_BYTES) + "|"

        parsed = parse_groups(simple_groups() + [huge] + simple_groups(MPAN_B))

        assert parsed.codes == [FindingCode.LINE_TOO_LONG]
        assert [reading.mpan_core for reading in parsed.readings] == [MPAN_A, MPAN_B]

    def test_the_stream_reader_cuts_overlong_lines(self):
        stream = io.BytesIO(b"a" * 50 + b"\nshort\n" + b"b" * 30)

        lines = list(iter_stream_lines(stream, max_line_bytes=20))

        assert [len(line) for line in lines] == [21, 6, 21]
        assert lines[1] == b"short\n"


class TestValues:
    def test_an_mpan_failing_its_check_digit_is_a_warning(self):
        parsed = parse_groups(simple_groups("1234567890123"))

        assert parsed.codes == [FindingCode.MPAN_CHECK_DIGIT]
        assert parsed.findings[0].field == "J0003 MPAN Core"
        assert len(parsed.readings) == 1

    def test_an_amvlp_amsid_is_not_checked(self):
        parsed = parse_groups(simple_groups("7812345678901"))

        assert parsed.findings == []
        assert parsed.of(MeterPointRecord)[0].is_amsid

    def test_an_unknown_distributor_is_a_warning(self):
        assert parse_groups(simple_groups(valid_mpan("990000000000"))).codes == [
            FindingCode.UNKNOWN_DISTRIBUTOR
        ]

    def test_reading_type_o_does_not_belong_in_d0010(self):
        parsed = parse_groups(simple_groups(reading_type="O"))

        assert parsed.codes == [FindingCode.UNKNOWN_CODE]
        assert parsed.readings[0].reading_type == "O"

    def test_unknown_codes_are_stored_as_given_and_flagged(self):
        parsed = parse_groups([f"026|{MPAN_A}|Q|", "028|M1|B|", reading_line(method="Z")])

        assert parsed.codes == [FindingCode.UNKNOWN_CODE] * 3
        reading = parsed.readings[0]
        assert (reading.bsc_validation_status, reading.reading_type, reading.reading_method) == (
            "Q",
            "B",
            "Z",
        )

    def test_empty_or_overlong_codes_are_flagged_and_stored_empty(self):
        parsed = parse_groups([f"026|{MPAN_A}||", "028|M1|CC|", reading_line(method="")])

        assert parsed.codes == [
            FindingCode.MISSING_VALUE,
            FindingCode.VALUE_IGNORED,
            FindingCode.MISSING_VALUE,
        ]
        assert "'CC'" in parsed.findings[1].message

    def test_a_bad_mpan_core_skips_the_mpan(self):
        parsed = parse_groups(["026|12000233059A7|V|", "028|M1|C|", reading_line()])

        assert parsed.codes[0] == FindingCode.INVALID_MPAN_CORE
        assert "'12000233059A7'" in parsed.findings[0].message

    def test_a_meter_id_over_ten_characters_skips_the_meter(self):
        parsed = parse_groups([f"026|{MPAN_A}|V|", "028|ABCDEFGHIJK|C|", reading_line()])

        assert parsed.codes == [FindingCode.INVALID_VALUE, FindingCode.PARENT_REJECTED]
        assert parsed.findings[0].field == "J0004 Meter Id"

    def test_a_bad_date_skips_only_that_reading(self):
        groups = [f"026|{MPAN_A}|V|", "028|M1|C|"]
        groups += [reading_line("01", when="20240231000000"), reading_line("02")]

        parsed = parse_groups(groups)

        assert [finding.field for finding in parsed.findings] == [
            "J0016 Reading Date & Time",
            "030",
        ]
        assert "not a real date" in parsed.findings[0].message
        assert [reading.register_id for reading in parsed.readings] == ["02"]

    def test_a_negative_reading_is_an_error(self):
        parsed = parse_groups(simple_groups(value="-5.0"))

        assert parsed.codes == [FindingCode.NEGATIVE_READING, FindingCode.INVALID_VALUE]
        assert parsed.readings == []

    def test_a_non_numeric_reading_is_an_error_naming_the_value(self):
        parsed = parse_groups(simple_groups(value="abc"))

        assert parsed.findings[0].message == "Register Reading 'abc' is not a number"
        assert parsed.findings[0].line_number == 4

    def test_a_bad_register_id_is_an_error(self):
        parsed = parse_groups(simple_groups(register="ABC"))

        assert parsed.findings[0].field == "J0010 Meter Register Id"

    def test_a_three_decimal_reading_is_kept_exactly_with_a_warning(self):
        parsed = parse_groups(simple_groups(value="123456.789"))

        assert parsed.codes == [FindingCode.READING_FORMAT]
        assert parsed.readings[0].value == Decimal("123456.789")

    def test_md_items_are_read(self):
        parsed = parse_groups(
            simple_groups(register="MD", value="412.8", md_at="20261101000000", md_count="17")
        )

        reading = parsed.readings[0]
        assert reading.md_reset_at == datetime(2026, 11, 1, tzinfo=UTC)
        assert reading.md_reset_count == 17

    def test_unreadable_optional_items_are_flagged_and_dropped(self):
        parsed = parse_groups(simple_groups(md_at="yesterday", md_count="1000", flag="Y"))

        assert parsed.codes == [FindingCode.VALUE_IGNORED] * 3
        reading = parsed.readings[0]
        assert (reading.md_reset_at, reading.md_reset_count, reading.reading_flag) == (
            None,
            None,
            None,
        )

    def test_clock_change_readings_are_kept_and_flagged(self):
        groups = [f"026|{MPAN_A}|V|", "028|M1|S|"]
        groups += [reading_line("01", when="20261025013000"), reading_line("01", "20260329013000")]

        parsed = parse_groups(groups)

        assert parsed.codes == [
            FindingCode.CLOCK_CHANGE_AMBIGUOUS,
            FindingCode.CLOCK_CHANGE_NON_EXISTENT,
        ]
        assert len(parsed.readings) == 2

    def test_unknown_site_visit_codes_and_long_text_are_flagged(self):
        parsed = parse_groups(simple_groups() + ["033|12|" + "x" * 201 + "|"])

        assert parsed.codes == [FindingCode.UNKNOWN_CODE, FindingCode.READING_FORMAT]
        assert len(parsed.readings[0].site_visits[0].additional_information) == 201


class TestConformantFastPath:
    @given(
        register=st.sampled_from(["S", "01", "A1", "z9"]),
        day=st.integers(min_value=1, max_value=28),
        hour=st.sampled_from(["000000", "235959", "013000", "120000"]),
        month=st.sampled_from(["01", "03", "06", "10", "12"]),
        value=st.decimals(min_value=0, max_value=Decimal("99999999.9"), places=1),
        flag=st.sampled_from(["T", "F", ""]),
        method=st.sampled_from(["N", "P"]),
    )
    def test_it_gives_exactly_what_the_general_path_gives(
        self, register, day, hour, month, value, flag, method
    ):
        line = reading_line(
            register, f"2026{month}{day:02d}{hour}", f"{value:f}", flag=flag, method=method
        )
        fast = parse_groups([f"026|{MPAN_A}|V|", "028|M1|C|", line])
        # Without its trailing delimiter the same line can only take the general path.
        general = parse_groups([f"026|{MPAN_A}|V|", "028|M1|C|", line[:-1]])

        assert fast.readings == general.readings
        assert fast.codes == [
            code for code in general.codes if code != FindingCode.MISSING_TRAILING_DELIMITER
        ]
        assert fast.summary.group_count == general.summary.group_count


_PARENT_LINES = st.one_of(
    st.builds(
        "026|{}|{}|".format,
        st.one_of(
            st.sampled_from([MPAN_A, MPAN_B, "7712345678901", "7812345678901", "9912345678901"]),
            st.from_regex(r"[0-9]{13}", fullmatch=True),
        ),
        st.sampled_from(["V", "U", "F", "X", ""]),
    ),
    st.builds(
        "028|{}|{}|".format,
        st.one_of(
            st.sampled_from(["M1", "S57B 87130", "", "ABCDEFGHIJK", "caf\u00e9", "a\tb"]),
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=11),
        ).filter(lambda serial: "|" not in serial),
        st.sampled_from(["C", "S", "O", "Q", ""]),
    ),
    st.just(reading_line("01", "20260222000000", "123.4")),
)


class TestConformantParentFastPath:
    @settings(max_examples=200)
    @given(st.lists(_PARENT_LINES, max_size=12))
    def test_026_and_028_lines_give_exactly_what_the_general_path_gives(self, lines):
        fast = parse_groups(lines)
        # Without its trailing delimiter a 026 or 028 can only take the general path
        # (one whose last item is empty already does: the fast path needs it filled).
        general = parse_groups(
            [
                line[:-1] if line[:4] in ("026|", "028|") and not line.endswith("||") else line
                for line in lines
            ]
        )

        records = (MeterPointRecord, MeterRecord, RegisterReading)
        assert [e for e in fast.events if isinstance(e, records)] == [
            e for e in general.events if isinstance(e, records)
        ]
        assert fast.findings == [
            finding
            for finding in general.findings
            if finding.code != FindingCode.MISSING_TRAILING_DELIMITER
        ]
        for count in ("group_count", "meter_point_count", "meter_count", "readings_parsed"):
            assert getattr(fast.summary, count) == getattr(general.summary, count)
        # The summary counts every finding by its severity, whichever path yielded it.
        for parsed in (fast, general):
            assert parsed.summary.error_count == sum(f.is_error for f in parsed.findings)
            assert parsed.summary.warning_count == sum(not f.is_error for f in parsed.findings)


class TestNeverRaises:
    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(st.binary(max_size=2000))
    def test_any_bytes_end_in_a_summary(self, data):
        parsed = parse(data)

        assert isinstance(parsed.summary, ParseSummary)
        assert parsed.summary.rejected or parsed.summary.header is not None

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.lists(
            st.lists(
                st.sampled_from(
                    ["ZHV", "ZPT", "026", "027", "028", "029", "030", "032", "033", "031"]
                    + ["", "T", "F", "V", "S", "01", "-1", "1.5", MPAN_A, "20260222000000"]
                    + ["D0010002", "0000000001", "D", "UDMS", "x" * 20]
                ),
                max_size=12,
            ).map("|".join),
            max_size=40,
        )
    )
    def test_any_arrangement_of_d0010_tokens_is_handled(self, lines):
        header = "ZHV|0000000001|D0010002|D|UDMS|X|MRCY|20260301120000||||OPER|"
        events = list(parse_d0010(line.encode() for line in [header, *lines]))

        summary = events[-1]
        assert isinstance(summary, ParseSummary)
        readings = [event for event in events if isinstance(event, RegisterReading)]
        assert summary.readings_parsed == len(readings)
        assert summary.reading_lines >= len(readings)

    @settings(max_examples=100)
    @given(
        st.lists(
            st.tuples(
                st.text(alphabet="0123456789", min_size=12, max_size=12),
                st.lists(
                    st.tuples(
                        st.sampled_from(["S", "01", "02", "DY", "NT", "TO"]),
                        st.decimals(min_value=0, max_value=99999999, places=1),
                    ),
                    max_size=4,
                ),
            ),
            min_size=1,
            max_size=10,
        )
    )
    def test_every_reading_of_a_valid_file_comes_out(self, meter_points):
        groups = []
        expected = []
        for first_twelve, registers in meter_points:
            core = valid_mpan(first_twelve)
            groups += [f"026|{core}|V|", "028|M1|C|"]
            for register, value in registers:
                groups.append(reading_line(register, value=f"{value:f}"))
                expected.append((core, register, value))

        parsed = parse_groups(groups)

        errors = [finding for finding in parsed.findings if finding.is_error]
        assert errors == []
        assert [(r.mpan_core, r.register_id, r.value) for r in parsed.readings] == expected
