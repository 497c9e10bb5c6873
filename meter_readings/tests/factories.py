"""Small factories for models: sensible defaults, override what the test is about."""

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from meter_readings.models import FlowFile, FlowFileStatus, Meter, MeterPoint, Reading
from meter_readings.tests.d0010_files import MPAN_A

_sequence = itertools.count(1)
RECEIVED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_flow_file(**overrides: Any) -> FlowFile:
    number = next(_sequence)
    values: dict[str, Any] = {
        "filename": f"file_{number}.uff",
        "size_bytes": 100,
        "sha256": f"{number:064x}",
        "status": FlowFileStatus.IMPORTED,
        "received_at": RECEIVED_AT,
        "file_identifier": f"{number:010d}",
        "from_role_code": "D",
        "from_participant_id": "UDMS",
    }
    values.update(overrides)
    return FlowFile.objects.create(**values)


def make_meter_point(mpan_core: str = MPAN_A, **overrides: Any) -> MeterPoint:
    values = {"mpan_core": mpan_core, "distributor_id": mpan_core[:2], "check_digit_valid": True}
    values.update(overrides)
    return MeterPoint.objects.create(**values)


def make_meter(meter_point: MeterPoint | None = None, **overrides: Any) -> Meter:
    values: dict[str, Any] = {
        "meter_point": meter_point or make_meter_point(),
        "serial_number": "F75A 00802",
    }
    values.update(overrides)
    return Meter.objects.create(**values)


def make_reading(meter: Meter | None = None, **overrides: Any) -> Reading:
    values: dict[str, Any] = {
        "meter": meter or make_meter(),
        "flow_file": overrides.pop("flow_file", None) or make_flow_file(),
        "line_number": 4,
        "register_id": "S",
        "read_at": datetime(2026, 2, 22, 0, 0, tzinfo=UTC),
        "value": Decimal("56311.0"),
        "reading_type": "C",
        "bsc_validation_status": "V",
        "reading_flag": True,
        "reading_method": "N",
    }
    values.update(overrides)
    return Reading.objects.create(**values)
