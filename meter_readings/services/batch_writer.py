"""Persist parsed records in batches, set-wise against the natural keys.

Meter points and meters are resolved a batch at a time (select what exists, insert what
does not); readings are compared with the current reading for the same meter, register
and reading time: identical content is a duplicate and is not stored again, different
content is stored and supersedes the earlier reading.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from meter_readings.d0010 import FindingCode, MeterPointRecord, MeterRecord, RegisterReading
from meter_readings.d0010 import SiteVisitRecord
from meter_readings.d0010.findings import Finding, warning
from meter_readings.models import FlowFile, Meter, MeterPoint, Reading, SiteVisit

DEFAULT_BATCH_SIZE = 2000

# The columns whose equality makes a second copy of a reading a duplicate.
CONTENT_FIELDS = (
    "value",
    "reading_type",
    "bsc_validation_status",
    "reading_flag",
    "reading_method",
    "md_reset_at",
    "md_reset_count",
    "validation_reason_code",
    "validation_status",
)

type ReadingKey = tuple[str, str, str, datetime]


@dataclass
class WriteCounts:
    readings_imported: int = 0
    readings_duplicate: int = 0
    readings_superseding: int = 0


class BatchWriter:
    """Collects records for one flow file and writes them a batch at a time."""

    def __init__(
        self,
        *,
        flow_file: FlowFile,
        on_finding: Callable[[Finding], None],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.flow_file = flow_file
        self.on_finding = on_finding
        self.batch_size = batch_size
        self.counts = WriteCounts()
        self._meter_points: dict[str, MeterPointRecord] = {}
        self._meters: dict[tuple[str, str], MeterRecord] = {}
        self._readings: dict[ReadingKey, RegisterReading] = {}
        self._site_visits: list[SiteVisitRecord] = []

    # -- collecting ----------------------------------------------------------------

    def add_meter_point(self, record: MeterPointRecord) -> None:
        self._meter_points[record.mpan_core] = record

    def add_meter(self, record: MeterRecord) -> None:
        self._meters[(record.mpan_core, record.serial_number)] = record

    def add_site_visit(self, record: SiteVisitRecord) -> None:
        self._site_visits.append(record)

    def add_reading(self, record: RegisterReading) -> None:
        key = (record.mpan_core, record.serial_number, record.register_id, record.read_at)
        if key in self._readings:
            # The same register and time twice in one batch: write the first so the
            # second can be compared with it like any other earlier reading.
            self.flush()
        self._readings[key] = record
        # A reading's 033s go in its batch, so they can be linked to its row.
        self._site_visits.extend(record.site_visits)
        if len(self._readings) >= self.batch_size:
            self.flush()

    # -- writing -------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything collected so far."""
        if not (self._meter_points or self._meters or self._readings or self._site_visits):
            return
        meter_point_ids = self._resolve_meter_points()
        meter_ids = self._resolve_meters(meter_point_ids)
        reading_ids = self._write_readings(meter_ids)
        self._write_site_visits(meter_point_ids, meter_ids, reading_ids)
        self._meter_points.clear()
        self._meters.clear()
        self._readings.clear()
        self._site_visits.clear()

    def _resolve_meter_points(self) -> dict[str, int]:
        cores = set(self._meter_points)
        cores.update(mpan for mpan, _ in self._meters)
        cores.update(key[0] for key in self._readings)
        cores.update(visit.mpan_core for visit in self._site_visits)
        found = dict(MeterPoint.objects.filter(mpan_core__in=cores).values_list("mpan_core", "id"))
        missing = [self._meter_points[core] for core in cores - found.keys()]
        if missing:
            MeterPoint.objects.bulk_create(
                [
                    MeterPoint(
                        mpan_core=record.mpan_core,
                        distributor_id=record.distributor_id,
                        check_digit_valid=record.check_digit_valid,
                        is_amsid=record.is_amsid,
                    )
                    for record in missing
                ],
                ignore_conflicts=True,
            )
            found.update(
                MeterPoint.objects.filter(
                    mpan_core__in=[record.mpan_core for record in missing]
                ).values_list("mpan_core", "id")
            )
        return found

    def _resolve_meters(self, meter_point_ids: dict[str, int]) -> dict[tuple[str, str], int]:
        keys = set(self._meters)
        keys.update((key[0], key[1]) for key in self._readings)
        keys.update(
            (visit.mpan_core, visit.serial_number)
            for visit in self._site_visits
            if visit.serial_number
        )
        core_by_id = {meter_point_ids[mpan]: mpan for mpan, _ in keys}
        found = self._select_meters(keys, meter_point_ids, core_by_id)
        missing = keys - found.keys()
        if missing:
            Meter.objects.bulk_create(
                [
                    Meter(meter_point_id=meter_point_ids[mpan], serial_number=serial)
                    for mpan, serial in missing
                ],
                ignore_conflicts=True,
            )
            found.update(self._select_meters(missing, meter_point_ids, core_by_id))
        return found

    @staticmethod
    def _select_meters(
        keys: Iterable[tuple[str, str]],
        meter_point_ids: dict[str, int],
        core_by_id: dict[int, str],
    ) -> dict[tuple[str, str], int]:
        keys = set(keys)
        rows = Meter.objects.filter(
            meter_point_id__in={meter_point_ids[mpan] for mpan, _ in keys},
            serial_number__in={serial for _, serial in keys},
        ).values_list("meter_point_id", "serial_number", "id")
        found = {}
        for meter_point_id, serial, meter_id in rows:
            key = (core_by_id[meter_point_id], serial)
            if key in keys:
                found[key] = meter_id
        return found

    def _write_readings(self, meter_ids: dict[tuple[str, str], int]) -> dict[int, int]:
        """Store new readings; returns reading id by source line number."""
        if not self._readings:
            return {}
        current = self._current_readings(meter_ids)
        to_insert: list[Reading] = []
        superseded_ids: list[int] = []
        reading_ids: dict[int, int] = {}
        for key, record in self._readings.items():
            meter_id = meter_ids[(key[0], key[1])]
            earlier = current.get((meter_id, record.register_id, record.read_at))
            if earlier is not None and _same_content(earlier, record):
                self.counts.readings_duplicate += 1
                reading_ids[record.line_number] = earlier["id"]
                if earlier["flow_file_id"] == self.flow_file.pk:
                    self._repeated_in_file(record, earlier, same_value=True)
                continue
            reading = Reading(
                meter_id=meter_id,
                flow_file_id=self.flow_file.pk,
                line_number=record.line_number,
                register_id=record.register_id,
                read_at=record.read_at,
                value=record.value,
                reading_type=record.reading_type,
                bsc_validation_status=record.bsc_validation_status,
                reading_flag=record.reading_flag,
                reading_method=record.reading_method,
                md_reset_at=record.md_reset_at,
                md_reset_count=record.md_reset_count,
                validation_reason_code=record.validation_reason_code,
                validation_status=record.validation_status,
            )
            if earlier is not None:
                reading.supersedes_id = earlier["id"]
                superseded_ids.append(earlier["id"])
                self.counts.readings_superseding += 1
                if earlier["flow_file_id"] == self.flow_file.pk:
                    self._repeated_in_file(record, earlier, same_value=False)
            to_insert.append(reading)
        if superseded_ids:
            # Before the insert: at most one current reading per register and time.
            Reading.objects.filter(id__in=superseded_ids).update(is_superseded=True)
        Reading.objects.bulk_create(to_insert)
        self.counts.readings_imported += len(to_insert)
        for reading in to_insert:
            reading_ids[reading.line_number] = reading.pk
        return reading_ids

    def _current_readings(self, meter_ids: dict[tuple[str, str], int]) -> dict[tuple, dict]:
        wanted = {(meter_ids[(key[0], key[1])], key[2], key[3]) for key in self._readings}
        rows = Reading.objects.filter(
            Q(meter_id__in={key[0] for key in wanted})
            & Q(read_at__in={key[2] for key in wanted})
            & Q(is_superseded=False)
        ).values(
            "id",
            "meter_id",
            "register_id",
            "read_at",
            "flow_file_id",
            "line_number",
            *CONTENT_FIELDS,
        )
        current = {}
        for row in rows:
            key = (row["meter_id"], row["register_id"], row["read_at"])
            if key in wanted:
                current[key] = row
        return current

    def _repeated_in_file(
        self, record: RegisterReading, earlier: dict, *, same_value: bool
    ) -> None:
        what = "repeats" if same_value else "gives a different value from"
        self.on_finding(
            warning(
                record.line_number,
                FindingCode.READING_REPEATED_IN_FILE,
                f"reading for MPAN {record.mpan_core} meter {record.serial_number!r} register "
                f"{record.register_id!r} at {record.read_at:%Y-%m-%d %H:%M:%S} {what} the "
                f"one at line {earlier['line_number']}"
                + ("" if same_value else "; the later line supersedes it"),
                "030",
            )
        )

    def _write_site_visits(
        self,
        meter_point_ids: dict[str, int],
        meter_ids: dict[tuple[str, str], int],
        reading_ids: dict[int, int],
    ) -> None:
        if not self._site_visits:
            return
        SiteVisit.objects.bulk_create(
            [
                SiteVisit(
                    flow_file_id=self.flow_file.pk,
                    line_number=visit.line_number,
                    level=visit.group_code,
                    check_code=visit.check_code,
                    additional_information=visit.additional_information,
                    meter_point_id=meter_point_ids[visit.mpan_core],
                    meter_id=(
                        meter_ids[(visit.mpan_core, visit.serial_number)]
                        if visit.serial_number
                        else None
                    ),
                    reading_id=(
                        reading_ids.get(visit.reading_line_number)
                        if visit.reading_line_number
                        else None
                    ),
                )
                for visit in self._site_visits
            ]
        )


def _same_content(earlier: dict, record: RegisterReading) -> bool:
    return all(earlier[name] == getattr(record, name) for name in CONTENT_FIELDS)
