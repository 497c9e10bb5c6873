"""Finding imports that a dead process left unfinished, and ending or re-running them.

An import is recorded (STARTED) before it begins and its process holds a lease on the
record until it ends (``import_guard``). A pass of ``recover_abandoned_imports``:

* a STARTED file whose lease it can take was abandoned. A background import (its
  original is stored) is queued and sent to a worker again, once: the claim counts its
  attempts, and a file abandoned twice is ended as INTERRUPTED. Any other (a command-
  line or upload import, whose bytes were never kept) is ended as INTERRUPTED;
* a QUEUED file sent to a worker longer ago than ``resend_after`` is sent again, in
  case the broker lost its message. A worker that receives a file twice imports it
  once: the second message finds it finished, or leased by the first.

It runs every minute from a systemd timer (``manage.py recover_imports``) and when a
Celery worker starts (see DEPLOYMENT_GUIDE).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from meter_readings.models import FlowFile, FlowFileStatus
from meter_readings.services import queueing
from meter_readings.services.background import MAX_IMPORT_ATTEMPTS, _end_as_interrupted
from meter_readings.services.import_guard import import_guard

logger = logging.getLogger(__name__)

RESEND_QUEUED_AFTER = timedelta(minutes=5)


@dataclass
class RecoveryReport:
    """The flow files a pass dealt with, by what it did."""

    requeued: list[int] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.requeued)} abandoned import(s) queued again, "
            f"{len(self.interrupted)} ended as interrupted, "
            f"{len(self.resent)} queued file(s) sent to a worker again"
        )


def recover_abandoned_imports(
    *,
    send_to_worker: Callable[..., None] = queueing.send_to_worker,
    now: Callable[[], datetime] = timezone.now,
    resend_after: timedelta = RESEND_QUEUED_AFTER,
) -> RecoveryReport:
    """One pass (see the module docstring); ``send_to_worker(flow_file_id=)`` queues a file.

    Safe to run from several processes at once: each file is dealt with under its lease.
    """
    guard = import_guard()
    report = RecoveryReport()
    # On SQLite this waits for any running import: then every STARTED file is abandoned.
    with guard.turn():
        for flow_file in FlowFile.objects.filter(status=FlowFileStatus.STARTED).order_by("pk"):
            if not guard.try_take_lease(flow_file.pk):
                continue  # still being imported
            try:
                if flow_file.stored_file and flow_file.attempts < MAX_IMPORT_ATTEMPTS:
                    requeued = FlowFile.objects.filter(
                        pk=flow_file.pk, status=FlowFileStatus.STARTED
                    ).update(status=FlowFileStatus.QUEUED, queued_at=now())
                    if requeued:
                        logger.warning(
                            "Flow file %s %r was abandoned by its worker; queued again",
                            flow_file.pk,
                            flow_file.filename,
                        )
                        report.requeued.append(flow_file.pk)
                else:
                    _end_as_interrupted(flow_file, now=now)
                    report.interrupted.append(flow_file.pk)
            finally:
                guard.release_lease(flow_file.pk)
        cutoff = now() - resend_after
        stale = FlowFile.objects.filter(status=FlowFileStatus.QUEUED).filter(
            Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, received_at__lt=cutoff)
        )
        for flow_file_id in stale.order_by("pk").values_list("pk", flat=True):
            report.resent.append(flow_file_id)
    # Outside the turn: with no broker, sending runs the import here and now.
    for flow_file_id in report.requeued + report.resent:
        send_to_worker(flow_file_id=flow_file_id)
    return report
