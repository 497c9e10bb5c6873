"""Typed records the parser yields, one kind per D0010 group (or group family).

Records carry their parents' keys (MPAN core, meter serial) so a consumer can persist
them in any batch size without tracking the hierarchy itself.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal

from meter_readings.d0010 import codes
from meter_readings.d0010.findings import Finding


@dataclass(slots=True)
class FileHeader:
    """ZHV: the file envelope's header."""

    line_number: int
    file_identifier: str
    flow_reference: str
    flow_version: str
    from_role_code: str
    from_participant_id: str
    to_role_code: str
    to_participant_id: str
    created_at: datetime | None
    sending_application_id: str
    receiving_application_id: str
    broadcast: str
    test_data_flag: str

    @property
    def is_test(self) -> bool:
        # An empty flag is read as live data: every real sample populates it, and the
        # parser flags the empty value.
        return self.test_data_flag not in ("", codes.LIVE_DATA_FLAG)


@dataclass(slots=True)
class FileTrailer:
    """ZPT: the file envelope's trailer, as written by the sender."""

    line_number: int
    file_identifier: str
    group_count: int | None
    checksum: str
    flow_count: int | None
    completed_at: datetime | None


@dataclass(slots=True)
class MeterPointRecord:
    """026: an MPAN core and the BSC validation status of its readings."""

    line_number: int
    mpan_core: str
    bsc_validation_status: str
    distributor_id: str
    check_digit_valid: bool | None
    is_amsid: bool


@dataclass(slots=True)
class MeterRecord:
    """028: a meter serial and the reading type of the readings under it."""

    line_number: int
    mpan_core: str
    serial_number: str
    reading_type: str


@dataclass(slots=True)
class SiteVisitRecord:
    """027, 029 or 033: site visit information at MPAN, meter or reading level."""

    line_number: int
    group_code: str
    check_code: str
    additional_information: str
    mpan_core: str
    serial_number: str = ""
    reading_line_number: int | None = None


@dataclass(frozen=True, slots=True)
class ReadingItem:
    """A data item a reading carries besides its key (meter point, meter, register, time)."""

    name: str  # the RegisterReading attribute and the Reading model field
    data_item: str  # its DTC reference and name
    group: Literal["026", "028", "030", "032"]  # the group that carries it
    # How a database row carries it: as is, or converted (exact decimals in plain
    # notation, aware date-times as the database stores them).
    kind: Literal["text", "boolean", "count", "decimal", "datetime"]


# A reading's items, declared once, in DTC order: what a resend must match to be
# "already held" (models.READING_ITEMS), the columns the import stages and the rows it
# makes (services/batch/sql), the number of items a 030 line has (lines.FIELD_COUNTS), and
# what the admin, the API and the CSV export show derive from it. A new item: here and on
# RegisterReading below, the parser's reading of it (groups.py), and the Reading model's
# field (models.py, then a migration).
READING_ITEMS: Final[tuple[ReadingItem, ...]] = (
    ReadingItem("value", "J0040 Register Reading", "030", "decimal"),
    ReadingItem("reading_type", "J0171 Reading Type", "028", "text"),
    ReadingItem("bsc_validation_status", "J0022 BSC Validation Status", "026", "text"),
    ReadingItem("reading_flag", "J0045 Meter Reading Flag", "030", "boolean"),
    ReadingItem("reading_method", "J1888 Reading Method", "030", "text"),
    ReadingItem("md_reset_at", "J0044 MD Reset Date & Time", "030", "datetime"),
    ReadingItem("md_reset_count", "J1013 Number of MD Resets", "030", "count"),
    ReadingItem("validation_reason_code", "J0332 Meter Reading Reason Code", "032", "text"),
    ReadingItem("validation_status", "J0047 Meter Reading Status", "032", "boolean"),
)


@dataclass(slots=True)
class RegisterReading:
    """030 with its optional 032 and any 033s, plus the context of its 026 and 028."""

    line_number: int
    mpan_core: str
    serial_number: str
    reading_type: str
    bsc_validation_status: str
    register_id: str
    read_at: datetime
    value: Decimal
    md_reset_at: datetime | None
    md_reset_count: int | None
    reading_flag: bool | None
    reading_method: str
    validation_reason_code: str = ""
    validation_status: bool | None = None
    # A shared empty tuple until the first 033: most readings have none.
    site_visits: list[SiteVisitRecord] | tuple[()] = ()


@dataclass(slots=True)
class FileRejected:
    """The file cannot be imported at all; nothing follows this event."""

    finding: Finding


@dataclass(slots=True)
class ParseSummary:
    """The last event: what the file held, counted as the parser saw it."""

    line_count: int = 0
    group_count: int = 0
    meter_point_count: int = 0
    meter_count: int = 0
    reading_lines: int = 0
    readings_parsed: int = 0
    error_count: int = 0
    warning_count: int = 0
    header: FileHeader | None = None
    trailer: FileTrailer | None = None
    rejected: bool = False


ParseEvent = (
    FileHeader
    | FileTrailer
    | MeterPointRecord
    | MeterRecord
    | SiteVisitRecord
    | RegisterReading
    | Finding
    | FileRejected
    | ParseSummary
)
