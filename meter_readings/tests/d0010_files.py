"""Build D0010 files for tests: state the groups, get exact ZHV/ZPT envelopes."""

import io
from collections.abc import Iterable

from meter_readings.d0010.mpan import CHECK_DIGIT_WEIGHTS

HEADER_TIMESTAMP = "20260301120000"
TRAILER_TIMESTAMP = "20260301120500"


def expected_check_digit(first_twelve: str) -> int:
    """The check digit of 12 digits, as spec 5.1 states it (the tests' own oracle)."""
    weighted = sum(int(digit) * weight for digit, weight in zip(first_twelve, CHECK_DIGIT_WEIGHTS))
    return weighted % 11 % 10


def valid_mpan(first_twelve: str) -> str:
    """Complete 12 digits into a core with a valid check digit."""
    return first_twelve + str(expected_check_digit(first_twelve))


MPAN_A = valid_mpan("120002330596")  # 1200023305967, the DTC reference file's first MPAN
MPAN_B = valid_mpan("190000105981")
MPAN_C = valid_mpan("220003193079")


def d0010_text(
    groups: Iterable[str],
    *,
    file_id: str = "0000000001",
    sender: tuple[str, str] = ("D", "UDMS"),
    flow: str = "D0010002",
    test_flag: str = "OPER",
    group_count: int | None = None,
    flow_count: int | None = None,
    trailer_file_id: str | None = None,
    newline: str = "\n",
    trailer: bool = True,
) -> str:
    """A D0010 file around ``groups`` (lines without the envelope).

    Trailer counts are computed unless given, so a test can state a mismatch.
    """
    groups = list(groups)
    lines = [
        f"ZHV|{file_id}|{flow}|{sender[0]}|{sender[1]}|X|MRCY|{HEADER_TIMESTAMP}||||{test_flag}|"
    ]
    lines.extend(groups)
    if trailer:
        groups_declared = len(groups) if group_count is None else group_count
        flows_declared = (
            sum(1 for line in groups if line.startswith("026|"))
            if flow_count is None
            else flow_count
        )
        lines.append(
            f"ZPT|{trailer_file_id or file_id}|{groups_declared}||{flows_declared}|"
            f"{TRAILER_TIMESTAMP}|"
        )
    return newline.join(lines) + newline


def d0010_bytes(groups: Iterable[str], **options) -> bytes:
    return d0010_text(groups, **options).encode("latin-1")


def d0010_stream(groups: Iterable[str], **options) -> io.BytesIO:
    return io.BytesIO(d0010_bytes(groups, **options))


def reading_line(
    register: str = "S",
    when: str = "20260222000000",
    value: str = "56311.0",
    *,
    md_at: str = "",
    md_count: str = "",
    flag: str = "T",
    method: str = "N",
) -> str:
    return f"030|{register}|{when}|{value}|{md_at}|{md_count}|{flag}|{method}|"


def simple_groups(
    mpan: str = MPAN_A, serial: str = "F75A 00802", reading_type: str = "C", **reading
) -> list[str]:
    """One MPAN, one meter, one reading."""
    return [f"026|{mpan}|V|", f"028|{serial}|{reading_type}|", reading_line(**reading)]
