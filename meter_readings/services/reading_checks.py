"""The reading checks' public entry points: checking readings already held, and the
meter register digits that change what they find.

Imports run the checks themselves (``_import_checks``, from the import run); the rules
are in ``meter_readings.validation``; documentation/VALIDATION.md describes both.
"""

from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from meter_readings.models import Meter
from meter_readings.report_cache import drop_reports_on_commit
from meter_readings.services._checks_sql import chunks
from meter_readings.services._read_state import recompute_read_state
from meter_readings.services._register_checks import (
    CheckCounts,
    RegisterChecker,
    Touched,
    thresholds,
)

__all__ = [
    "CheckCounts",
    "check_held_readings",
    "check_meters",
    "set_register_digits",
    "thresholds",
]


def check_held_readings(
    *,
    mpan_core: str | None = None,
    meters_per_transaction: int = 2000,
    on_progress: Callable[[int], None] | None = None,
) -> CheckCounts:
    """Check every register of every meter held (or of ``mpan_core``'s), from its first
    reading, a transaction per ``meters_per_transaction`` meters; and recompute their
    meter points' last read. For ``manage.py check_readings``."""
    meters = Meter.objects.order_by("pk")
    if mpan_core is not None:
        meters = meters.filter(meter_point__mpan_core=mpan_core)
    total = CheckCounts()
    done = 0
    last_id = 0
    while True:
        chunk = list(
            meters.filter(pk__gt=last_id).values_list("pk", flat=True)[:meters_per_transaction]
        )
        if not chunk:
            return total
        with transaction.atomic():
            counts = check_meters(meter_ids=chunk, now=timezone.now())
        for name in ("raised", "auto_resolved", "moved", "registers"):
            setattr(total, name, getattr(total, name) + getattr(counts, name))
        done += len(chunk)
        last_id = chunk[-1]
        if on_progress is not None:
            on_progress(done)


def check_meters(*, meter_ids: list[int], now: datetime) -> CheckCounts:
    """Check every register of ``meter_ids`` from its first reading, and recompute
    their meter points' last read, in the caller's transaction."""
    checker = RegisterChecker(now=now)
    drop_reports_on_commit()
    for chunk in chunks(sorted(set(meter_ids))):
        checker.check(Touched.meters(chunk))
        recompute_read_state(
            sorted(set(Meter.objects.filter(pk__in=chunk).values_list("meter_point_id", flat=True)))
        )
    return checker.counts


def set_register_digits(*, meter: Meter, digits: int | None, now: datetime) -> CheckCounts:
    """Record how many integer digits ``meter``'s registers have, and re-check them.

    Raises ``ValueError`` for digits outside 1 to 10 (the model's constraint).
    """
    if digits is not None and not 1 <= digits <= 10:
        raise ValueError("register digits must be from 1 to 10")
    with transaction.atomic():
        Meter.objects.filter(pk=meter.pk).update(register_digits=digits)
        meter.register_digits = digits
        return check_meters(meter_ids=[meter.pk], now=now)
